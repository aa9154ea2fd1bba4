//! A record's data as the zone file wrote it, turned into zoneshift's canonical value: names
//! made absolute against the `$ORIGIN` in force (`@` is the origin), character strings decoded
//! from the file's decimal escapes, algorithm mnemonics replaced by their numbers, and RFC 3597
//! generic data (`\# LENGTH HEX`) read as the type's wire format.

use super::lexer::{decode, labels, Tok};
use crate::zone::{normalize_value, quote, RecordType};

/// The canonical value of one record of a type Route 53 serves.
pub fn value(rtype: RecordType, tokens: &[Tok], origin: &str) -> Result<String, String> {
    if tokens.first().is_some_and(|t| !t.quoted && t.raw == "\\#") {
        return generic(rtype, &tokens[1..]);
    }
    let name_at: &[usize] = match rtype {
        RecordType::Cname | RecordType::Ns | RecordType::Ptr => &[0],
        RecordType::Mx | RecordType::Svcb | RecordType::Https => &[1],
        RecordType::Srv => &[3],
        RecordType::Naptr => &[5],
        RecordType::Soa => &[0, 1],
        _ => &[],
    };
    let mut parts = Vec::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        let part = if name_at.contains(&i) && !t.quoted {
            absolute_name(&t.raw, origin)?
        } else if t.quoted || matches!(rtype, RecordType::Txt | RecordType::Spf) {
            character_string(t)?
        } else if rtype == RecordType::Ds && i == 1 {
            algorithm(&t.raw)?
        } else if matches!(rtype, RecordType::Svcb | RecordType::Https) && i >= 2 {
            svc_param(&t.raw)?
        } else {
            t.raw.clone()
        };
        parts.push(part);
    }
    normalize_value(rtype, &parts.join(" "))
}

/// A character string, decoded and quoted the way zoneshift compares them; over 255 bytes is
/// an error, as DNS allows no longer.
fn character_string(t: &Tok) -> Result<String, String> {
    let bytes = decode(&t.raw)?;
    if bytes.len() > 255 {
        return Err(format!(
            "a character string of {} bytes (at most 255): split it into several quoted strings",
            bytes.len()
        ));
    }
    Ok(quote(&bytes))
}

/// A name in zoneshift's form (absolute, lowercase, odd bytes as `\ooo` octal).
pub fn absolute_name(raw: &str, origin: &str) -> Result<String, String> {
    if raw == "@" {
        return Ok(origin.to_string());
    }
    let (labels, absolute) = labels(raw)?;
    let mut out = String::new();
    for l in &labels {
        if l.as_slice() == b"*" {
            out.push('*');
        } else {
            crate::zone::push_label(&mut out, l);
        }
        out.push('.');
    }
    if !absolute {
        if origin != "." {
            out.push_str(origin);
        }
    } else if out.is_empty() {
        out.push('.');
    }
    crate::zone::normalize_target(&out)
}

/// A DNSSEC algorithm number from its number or mnemonic (RFC 8624's table).
fn algorithm(raw: &str) -> Result<String, String> {
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(raw.to_string());
    }
    const MNEMONICS: &[(&str, u8)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    MNEMONICS
        .iter()
        .find(|(m, _)| m.eq_ignore_ascii_case(raw))
        .map(|(_, n)| n.to_string())
        .ok_or_else(|| format!("{raw:?} is not a DNSSEC algorithm"))
}

/// An SVCB parameter: the key lowercased, a quoted value unquoted when it needs no quotes.
fn svc_param(raw: &str) -> Result<String, String> {
    let Some((key, val)) = raw.split_once('=') else {
        return Ok(raw.to_ascii_lowercase());
    };
    let inner = val
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(val);
    let bytes = decode(inner)?;
    let plain = bytes
        .iter()
        .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\' | b';' | b'(' | b')'));
    if !plain {
        return Err(format!(
            "the parameter {key} has blanks or special characters, which zoneshift cannot carry yet"
        ));
    }
    Ok(format!(
        "{}={}",
        key.to_ascii_lowercase(),
        String::from_utf8_lossy(&bytes)
    ))
}

/// RFC 3597 generic data of a type zoneshift knows: the wire format read by hickory and
/// written in presentation format.
fn generic(rtype: RecordType, tokens: &[Tok]) -> Result<String, String> {
    let wire = generic_bytes(tokens)?;
    let code = type_code(rtype);
    let htype = hickory_proto::rr::RecordType::from(code);
    let mut decoder = hickory_proto::serialize::binary::BinDecoder::new(&wire);
    let len = hickory_proto::serialize::binary::Restrict::new(
        u16::try_from(wire.len()).map_err(|_| "generic data over 65535 bytes".to_string())?,
    );
    let data = hickory_proto::rr::RData::read(&mut decoder, htype, len)
        .map_err(|e| format!("its generic data (\\#) is not a valid {rtype}: {e}"))?;
    crate::dns::import::presentation(rtype, &data)
}

/// The bytes of `\# LENGTH HEX...`, the length checked.
pub fn generic_bytes(tokens: &[Tok]) -> Result<Vec<u8>, String> {
    let len: usize = tokens
        .first()
        .and_then(|t| t.raw.parse().ok())
        .ok_or("generic data (\\#) needs a length")?;
    let hex: String = tokens[1..].iter().map(|t| t.raw.as_str()).collect();
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("generic data {hex:?} is not hexadecimal"));
    }
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect();
    if bytes.len() != len {
        return Err(format!(
            "generic data says {len} bytes but holds {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// The type code of a type zoneshift serves.
pub fn type_code(rtype: RecordType) -> u16 {
    match rtype {
        RecordType::A => 1,
        RecordType::Ns => 2,
        RecordType::Cname => 5,
        RecordType::Soa => 6,
        RecordType::Ptr => 12,
        RecordType::Mx => 15,
        RecordType::Txt => 16,
        RecordType::Aaaa => 28,
        RecordType::Srv => 33,
        RecordType::Naptr => 35,
        RecordType::Ds => 43,
        RecordType::Sshfp => 44,
        RecordType::Svcb => 64,
        RecordType::Https => 65,
        RecordType::Tlsa => 52,
        RecordType::Spf => 99,
        RecordType::Caa => 257,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        super::super::lexer::logical_lines(s).unwrap()[0]
            .tokens
            .clone()
    }

    #[test]
    fn at_and_relative_names_in_data() {
        let o = "example.com.";
        assert_eq!(value(RecordType::Cname, &toks("@"), o).unwrap(), o);
        assert_eq!(
            value(RecordType::Mx, &toks("0 @"), o).unwrap(),
            "0 example.com."
        );
        assert_eq!(
            value(RecordType::Srv, &toks("1 2 3 sip"), o).unwrap(),
            "1 2 3 sip.example.com."
        );
    }

    #[test]
    fn escapes_mnemonics_and_generic_data() {
        let o = "example.com.";
        assert_eq!(
            value(RecordType::Txt, &toks(r#""\065b""#), o).unwrap(),
            "\"Ab\""
        );
        assert_eq!(
            value(
                RecordType::Naptr,
                &toks(r#"1 2 "u" "E2U+sip" "!^(.*)$!\\1!" ."#),
                o
            )
            .unwrap(),
            r#"1 2 "U" "E2U+sip" "!^(.*)$!\\1!" ."#
        );
        assert_eq!(
            value(RecordType::Ds, &toks("1 ECDSAP256SHA256 2 ab"), o).unwrap(),
            "1 13 2 AB"
        );
        assert_eq!(
            value(RecordType::A, &toks(r"\# 4 c0000205"), o).unwrap(),
            "192.0.2.5"
        );
        assert!(value(RecordType::A, &toks(r"\# 3 c00002"), o).is_err());
        assert_eq!(
            value(RecordType::Https, &toks(r#"1 . alpn="h2,h3" port=443"#), o).unwrap(),
            "1 . alpn=h2,h3 port=443"
        );
    }
}
