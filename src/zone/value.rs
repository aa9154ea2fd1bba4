//! Record values in one canonical presentation format per type, so a value written by a user,
//! read from a zone file or returned by Route 53 compares equal when it means the same.

use super::name::normalize_target;
use super::RecordType;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Normalises one value of a record of type `rtype`, or says what is wrong with it.
pub fn normalize_value(rtype: RecordType, value: &str) -> Result<String, String> {
    let v = value.trim();
    match rtype {
        RecordType::A => v
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("{v:?} is not an IPv4 address")),
        RecordType::Aaaa => v
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("{v:?} is not an IPv6 address")),
        RecordType::Cname | RecordType::Ns | RecordType::Ptr => {
            let t = tokens(v)?;
            let [name] = exact::<1>(&t, v, "a domain name")?;
            normalize_target(&name.text)
        }
        RecordType::Mx => mx(v),
        RecordType::Srv => srv(v),
        RecordType::Caa => caa(v),
        RecordType::Ds => ds(v),
        RecordType::Sshfp => sshfp(v),
        RecordType::Tlsa => tlsa(v),
        RecordType::Naptr => naptr(v),
        RecordType::Svcb | RecordType::Https => svcb(v),
        RecordType::Txt | RecordType::Spf => {
            let strings = txt_strings(value)?;
            Ok(strings
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(" "))
        }
        RecordType::Soa => soa(v),
    }
}

fn mx(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    let [pref, exchange] = exact::<2>(&t, v, "PREFERENCE EXCHANGE")?;
    Ok(format!(
        "{} {}",
        number::<u16>(&pref.text, "preference")?,
        normalize_target(&exchange.text)?
    ))
}

fn srv(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    let [prio, weight, port, target] = exact::<4>(&t, v, "PRIORITY WEIGHT PORT TARGET")?;
    Ok(format!(
        "{} {} {} {}",
        number::<u16>(&prio.text, "priority")?,
        number::<u16>(&weight.text, "weight")?,
        number::<u16>(&port.text, "port")?,
        normalize_target(&target.text)?
    ))
}

fn caa(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    let [flags, tag, val] = exact::<3>(&t, v, "FLAGS TAG \"VALUE\"")?;
    let tag_text = tag.text.to_ascii_lowercase();
    if tag_text.is_empty() || !tag_text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("CAA tag {:?} must be letters and digits", tag.text));
    }
    Ok(format!(
        "{} {} {}",
        number::<u8>(&flags.text, "flags")?,
        tag_text,
        quote(val.text.as_bytes())
    ))
}

fn ds(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    if t.len() < 4 {
        return Err(format!("{v:?} is not KEYTAG ALGORITHM DIGESTTYPE DIGEST"));
    }
    Ok(format!(
        "{} {} {} {}",
        number::<u16>(&t[0].text, "key tag")?,
        number::<u8>(&t[1].text, "algorithm")?,
        number::<u8>(&t[2].text, "digest type")?,
        hex(&t[3..], "digest")?
    ))
}

fn sshfp(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    if t.len() < 3 {
        return Err(format!("{v:?} is not ALGORITHM TYPE FINGERPRINT"));
    }
    Ok(format!(
        "{} {} {}",
        number::<u8>(&t[0].text, "algorithm")?,
        number::<u8>(&t[1].text, "fingerprint type")?,
        hex(&t[2..], "fingerprint")?
    ))
}

fn tlsa(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    if t.len() < 4 {
        return Err(format!("{v:?} is not USAGE SELECTOR MATCHING-TYPE DATA"));
    }
    Ok(format!(
        "{} {} {} {}",
        number::<u8>(&t[0].text, "usage")?,
        number::<u8>(&t[1].text, "selector")?,
        number::<u8>(&t[2].text, "matching type")?,
        hex(&t[3..], "certificate data")?
    ))
}

fn naptr(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    let [order, pref, flags, service, regexp, replacement] = exact::<6>(
        &t,
        v,
        "ORDER PREFERENCE \"FLAGS\" \"SERVICE\" \"REGEXP\" REPLACEMENT",
    )?;
    Ok(format!(
        "{} {} {} {} {} {}",
        number::<u16>(&order.text, "order")?,
        number::<u16>(&pref.text, "preference")?,
        quote(flags.text.to_ascii_uppercase().as_bytes()),
        quote(service.text.as_bytes()),
        quote(regexp.text.as_bytes()),
        normalize_target(&replacement.text)?
    ))
}

fn svcb(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    if t.len() < 2 {
        return Err(format!("{v:?} is not PRIORITY TARGET [PARAMS...]"));
    }
    let mut out = format!(
        "{} {}",
        number::<u16>(&t[0].text, "priority")?,
        normalize_target(&t[1].text)?
    );
    // The parameters are read from the text itself: a value may be quoted (`alpn="h2,h3"`,
    // one parameter, spaces included), which the tokens above would split in two.
    let mut rest = v.trim_start();
    for _ in 0..2 {
        rest = rest.trim_start_matches(|c: char| !c.is_ascii_whitespace());
        rest = rest.trim_start();
    }
    let head = &v.trim_start()[..v.trim_start().len() - rest.len()];
    if head.contains('"') {
        return Err(format!(
            "{v:?}: the priority and target of an SVCB value are written without quotes"
        ));
    }
    for (key, value) in svc_params(rest).map_err(|p| format!("{v:?}: {p}"))? {
        out.push(' ');
        // Keys are case-insensitive; values are kept, quoted only where they must be.
        out.push_str(&key.to_ascii_lowercase());
        match value {
            None => {}
            Some(SvcValue::Bare(text)) => {
                out.push('=');
                out.push_str(&text);
            }
            Some(SvcValue::Quoted(bytes)) => {
                out.push('=');
                let plain = !bytes.is_empty()
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\'));
                if plain {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                } else {
                    out.push_str(&quote(&bytes));
                }
            }
        }
    }
    Ok(out)
}

/// An SVCB parameter's value: as written (escapes kept), or a quoted string, decoded.
enum SvcValue {
    Bare(String),
    Quoted(Vec<u8>),
}

/// The `key`, `key=value` and `key="quoted value"` parameters of an SVCB or HTTPS value.
fn svc_params(text: &str) -> Result<Vec<(String, Option<SvcValue>)>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let key = text[start..i].to_string();
        if b.get(i) != Some(&b'=') {
            out.push((key, None));
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'"') {
            i += 1;
            let mut bytes = Vec::new();
            loop {
                match b.get(i) {
                    None => {
                        return Err(format!(
                            "the value of {key} is an unterminated quoted string"
                        ))
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let (byte, used) = unescape(&b[i + 1..]).ok_or_else(|| {
                            format!("the value of {key} ends in a lone backslash")
                        })?;
                        bytes.push(byte);
                        i += 1 + used;
                    }
                    Some(&c) => {
                        bytes.push(c);
                        i += 1;
                    }
                }
            }
            out.push((key, Some(SvcValue::Quoted(bytes))));
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                // An escaped character (`\ `) belongs to the value.
                if b[i] == b'\\' {
                    i += 1;
                }
                i += text[i..].chars().next().map_or(1, char::len_utf8);
            }
            let end = i.min(b.len());
            i = end;
            out.push((key, Some(SvcValue::Bare(text[start..end].to_string()))));
        }
    }
    Ok(out)
}

fn soa(v: &str) -> Result<String, String> {
    let t = tokens(v)?;
    let [mname, rname, a, b, c, d, e] =
        exact::<7>(&t, v, "MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM")?;
    Ok(format!(
        "{} {} {} {} {} {} {}",
        normalize_target(&mname.text)?,
        normalize_target(&rname.text)?,
        number::<u32>(&a.text, "serial")?,
        number::<u32>(&b.text, "refresh")?,
        number::<u32>(&c.text, "retry")?,
        number::<u32>(&d.text, "expire")?,
        number::<u32>(&e.text, "minimum")?
    ))
}

/// The character strings of a TXT value, each at most 255 bytes.
///
/// A value that starts with `"` is a sequence of quoted strings (the split the author chose is
/// kept); any other value is one string, split into 255-byte pieces as DNS requires (long DKIM
/// keys are written this way).
pub fn txt_strings(value: &str) -> Result<Vec<Vec<u8>>, String> {
    let v = value.trim();
    let raw: Vec<Vec<u8>> = if v.starts_with('"') {
        tokens(v)?.into_iter().map(|t| t.bytes).collect()
    } else {
        vec![v.as_bytes().to_vec()]
    };
    let mut out = Vec::new();
    for s in raw {
        if s.is_empty() {
            out.push(s);
            continue;
        }
        for chunk in s.chunks(255) {
            out.push(chunk.to_vec());
        }
    }
    Ok(out)
}

/// A token of a presentation-format value: a bare word or a quoted string, escapes decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    /// The decoded bytes.
    bytes: Vec<u8>,
    /// The decoded text (lossy where the bytes are not UTF-8), for numbers and names. Bare
    /// words keep their escapes here, since names decode their own.
    text: String,
}

/// Splits a value on whitespace, honouring double quotes and backslash escapes (`\"`, `\\`,
/// and `\ooo` in octal, the escape Route 53 reads and writes).
fn tokens(v: &str) -> Result<Vec<Token>, String> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            i += 1;
            let mut bytes = Vec::new();
            loop {
                match b.get(i) {
                    None => return Err(format!("{v:?} has an unterminated quoted string")),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let (byte, used) = unescape(&b[i + 1..])
                            .ok_or_else(|| format!("{v:?} ends in a lone backslash"))?;
                        bytes.push(byte);
                        i += 1 + used;
                    }
                    Some(&c) => {
                        bytes.push(c);
                        i += 1;
                    }
                }
            }
            out.push(Token {
                text: String::from_utf8_lossy(&bytes).into_owned(),
                bytes,
            });
        } else {
            let start = i;
            let mut bytes = Vec::new();
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'"' {
                if b[i] == b'\\' {
                    let (byte, used) = unescape(&b[i + 1..])
                        .ok_or_else(|| format!("{v:?} ends in a lone backslash"))?;
                    bytes.push(byte);
                    i += 1 + used;
                } else {
                    bytes.push(b[i]);
                    i += 1;
                }
            }
            out.push(Token {
                bytes,
                text: v[start..i].to_string(),
            });
        }
    }
    Ok(out)
}

/// Decodes the escape after a backslash: `\ooo` (three octal digits) or `\X`.
fn unescape(rest: &[u8]) -> Option<(u8, usize)> {
    if rest.len() >= 3 && rest[..3].iter().all(|c| (b'0'..=b'7').contains(c)) {
        let v =
            (rest[0] - b'0') as u32 * 64 + (rest[1] - b'0') as u32 * 8 + (rest[2] - b'0') as u32;
        if let Ok(b) = u8::try_from(v) {
            return Some((b, 3));
        }
    }
    rest.first().map(|&c| (c, 1))
}

/// Quotes a character string the way Route 53 returns it: `"` and `\` escaped, bytes outside
/// printable ASCII as `\DDD` octal.
pub fn quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &b in s {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('"');
    out
}

fn exact<'a, const N: usize>(
    t: &'a [Token],
    v: &str,
    shape: &str,
) -> Result<[&'a Token; N], String> {
    if t.len() != N {
        return Err(format!("{v:?} is not {shape}"));
    }
    let mut it = t.iter();
    Ok(std::array::from_fn(|_| it.next().unwrap_or(&t[0])))
}

fn number<T: std::str::FromStr + std::fmt::Display>(s: &str, what: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| format!("{what} {s:?} is not a number in range"))
}

fn hex(parts: &[Token], what: &str) -> Result<String, String> {
    let joined: String = parts.iter().map(|p| p.text.as_str()).collect();
    if joined.is_empty() || !joined.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{what} {joined:?} is not hexadecimal"));
    }
    Ok(joined.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordType::*;

    #[test]
    fn addresses() {
        assert_eq!(normalize_value(A, " 192.0.2.1 ").unwrap(), "192.0.2.1");
        assert!(normalize_value(A, "not-an-ip")
            .unwrap_err()
            .contains("not an IPv4"));
        assert!(normalize_value(A, "192.0.2.300").is_err());
        assert_eq!(
            normalize_value(Aaaa, "2001:DB8:0:0::1").unwrap(),
            "2001:db8::1"
        );
    }

    #[test]
    fn names_in_values() {
        assert_eq!(
            normalize_value(Cname, "App.Example.net").unwrap(),
            "app.example.net."
        );
        assert_eq!(
            normalize_value(Mx, "10   Mail.example.com.").unwrap(),
            "10 mail.example.com."
        );
        assert_eq!(
            normalize_value(Srv, "0 5 5060 sip.example.com").unwrap(),
            "0 5 5060 sip.example.com."
        );
        assert!(normalize_value(Mx, "mail.example.com.").is_err());
        assert!(normalize_value(Srv, "0 5 70000 sip.example.com.").is_err());
    }

    #[test]
    fn txt_quoting_and_splitting() {
        assert_eq!(
            normalize_value(Txt, "v=spf1 -all").unwrap(),
            "\"v=spf1 -all\""
        );
        assert_eq!(
            normalize_value(Txt, "\"v=spf1 -all\"").unwrap(),
            "\"v=spf1 -all\""
        );
        assert_eq!(
            normalize_value(Txt, r#""a \"b\"" "c""#).unwrap(),
            r#""a \"b\"" "c""#
        );
        let long = "k".repeat(600);
        let n = normalize_value(Txt, &long).unwrap();
        assert_eq!(n.matches("\" \"").count(), 2, "600 bytes are three strings");
        let quoted = format!(
            "\"{}\" \"{}\" \"{}\"",
            "k".repeat(255),
            "k".repeat(255),
            "k".repeat(90)
        );
        assert_eq!(normalize_value(Txt, &quoted).unwrap(), n);
        // Non-ASCII bytes are octal, the way Route 53 returns them.
        assert_eq!(normalize_value(Txt, "é").unwrap(), "\"\\303\\251\"");
        assert!(normalize_value(Txt, "\"unterminated").is_err());
    }

    #[test]
    fn caa_ds_and_friends() {
        assert_eq!(
            normalize_value(Caa, "0 ISSUE letsencrypt.org").unwrap(),
            "0 issue \"letsencrypt.org\""
        );
        assert_eq!(
            normalize_value(Ds, "12345 13 2 abcd EF01").unwrap(),
            "12345 13 2 ABCDEF01"
        );
        assert!(normalize_value(Ds, "12345 13 2 xyz").is_err());
        assert_eq!(
            normalize_value(
                Naptr,
                r#"100 10 "u" "E2U+sip" "!^.*$!sip:info@example.com!" ."#
            )
            .unwrap(),
            r#"100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" ."#
        );
        assert_eq!(
            normalize_value(Https, "1 . ALPN=h2,h3").unwrap(),
            "1 . alpn=h2,h3"
        );
        // A quoted value is one parameter: quotes go where they are needed, and only there.
        assert_eq!(
            normalize_value(Https, "1 . alpn=\"h2,h3\" port=443").unwrap(),
            "1 . alpn=h2,h3 port=443"
        );
        assert_eq!(
            normalize_value(Svcb, "1 svc.example.com. key65000=\"a b\"").unwrap(),
            "1 svc.example.com. key65000=\"a b\""
        );
    }
}
