//! BIND-format zone files, read with hickory's zone-file parser.
//!
//! Three gaps of that parser are closed here rather than by writing another parser:
//! - its lexer does not honour quotes inside parentheses (a multi-line DKIM record whose key
//!   contains `;` is cut at the `;`), so every multi-line record is first joined onto its first
//!   line, comments and parentheses removed outside quotes, line numbers kept;
//! - it gives a record without a TTL the previous record's TTL, not `$TTL` as BIND does, so the
//!   `$TTL` in force is written into such records;
//! - its errors carry no line number, so on an error the first failing line is found by parsing
//!   ever longer prefixes of the file, cut only between records.

use super::import::Skipped;
use hickory_proto::rr::{Name, Record};
use hickory_proto::serialize::txt::Parser;
use std::str::FromStr;

/// A zone file that cannot be read: the line and the problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ZoneFileError {
    pub line: usize,
    pub message: String,
}

/// Parses a zone file for `origin` (used where the file has no `$ORIGIN`) into its records,
/// and the records of types the parser cannot read (LOC, DNSKEY, ...), which are set aside
/// with a reason instead of failing the whole file. `$INCLUDE` is refused: a zone file held in
/// a ConfigMap cannot reach other files.
pub fn parse(text: &str, origin: &str) -> Result<(Vec<Record>, Vec<Skipped>), ZoneFileError> {
    if let Some(line) = text
        .lines()
        .position(|l| l.trim_start().to_ascii_uppercase().starts_with("$INCLUDE"))
    {
        return Err(ZoneFileError {
            line: line + 1,
            message: "$INCLUDE is not supported: put the whole zone in one file".into(),
        });
    }
    let origin_name = Name::from_str(origin).map_err(|e| ZoneFileError {
        line: 0,
        message: format!("origin {origin}: {e}"),
    })?;
    let mut text = prepare(text);
    let mut skipped = Vec::new();
    loop {
        match Parser::new(text.as_str(), None, Some(origin_name.clone())).parse() {
            Ok((_, sets)) => {
                let records = sets
                    .into_values()
                    .flat_map(|rs| rs.records_without_rrsigs().cloned().collect::<Vec<_>>())
                    .collect();
                return Ok((records, skipped));
            }
            Err(e) => {
                let message = e.to_string();
                if let Some(rtype) = unreadable_type(&message) {
                    let (rest, set_aside) = set_aside_type(&text, &rtype, origin);
                    if !set_aside.is_empty() {
                        skipped.extend(set_aside);
                        text = rest;
                        continue;
                    }
                }
                let line = first_failing_line(&text, &origin_name).unwrap_or(0);
                return Err(ZoneFileError { line, message });
            }
        }
    }
}

/// The record type named by a parser error about a type it cannot read, if that is the error.
fn unreadable_type(message: &str) -> Option<String> {
    if let Some(t) = message.split("record type string unknown: ").nth(1) {
        let t = t.trim().to_ascii_uppercase();
        return KNOWN_TYPES.contains(&t.as_str()).then_some(t);
    }
    // DNSSEC records that belong to a signer: "DNSKEY should be dynamically generated".
    message
        .split_whitespace()
        .next()
        .filter(|_| message.contains("should be dynamically generated"))
        .map(str::to_ascii_uppercase)
}

/// Comments out every record of type `rtype` (keeping line numbers) and lists them.
fn set_aside_type(text: &str, rtype: &str, origin: &str) -> (String, Vec<Skipped>) {
    let mut out = String::with_capacity(text.len());
    let mut skipped = Vec::new();
    let mut zone_origin = origin.to_string();
    let mut owner = origin.to_string();
    let mut start = 0;
    for (end, _) in record_boundaries(text) {
        let record = &text[start..end];
        start = end;
        let first = record.lines().next().unwrap_or("");
        let code = first.split(';').next().unwrap_or("");
        let tokens: Vec<&str> = code.split_whitespace().collect();
        if tokens
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case("$ORIGIN"))
        {
            if let Some(o) = tokens.get(1) {
                zone_origin = absolute(o, &zone_origin);
            }
        } else if !first.starts_with(char::is_whitespace)
            && !tokens.is_empty()
            && !tokens[0].starts_with('$')
        {
            owner = absolute(tokens[0], &zone_origin);
        }
        let is_type = !tokens.first().is_some_and(|t| t.starts_with('$'))
            && tokens.iter().take(4).any(|t| t.eq_ignore_ascii_case(rtype));
        if is_type {
            skipped.push(Skipped {
                name: owner.to_ascii_lowercase(),
                rtype: rtype.to_string(),
                reason: if crate::dns::import::DNSSEC_TYPES.contains(&rtype) {
                    "a DNSSEC record of the old provider's signer; Route 53 signs with its own keys once signing is enabled after the move".into()
                } else {
                    format!("Route 53 does not serve {rtype} records")
                },
            });
            for l in record.split_inclusive('\n') {
                out.push(';');
                out.push_str(&l.replace('\r', ""));
            }
        } else {
            out.push_str(record);
        }
    }
    out.push_str(&text[start..]);
    (out, skipped)
}

fn absolute(name: &str, origin: &str) -> String {
    if name == "@" {
        origin.to_string()
    } else if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.{origin}")
    }
}

/// The 1-based line at which the file stops parsing: the end of the shortest prefix, cut at a
/// record boundary, that fails.
fn first_failing_line(text: &str, origin: &Name) -> Option<usize> {
    let cuts = record_boundaries(text);
    let fails = |end: usize| {
        Parser::new(&text[..end], None, Some(origin.clone()))
            .parse()
            .is_err()
    };
    // Binary search for the first cut whose prefix fails.
    let (mut lo, mut hi) = (0usize, cuts.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails(cuts[mid].0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    cuts.get(lo).map(|c| c.1)
}

/// Registered record types: a record of one of these that the parser cannot read is set
/// aside; any other type is an error in the file.
const KNOWN_TYPES: &[&str] = &[
    "A",
    "AAAA",
    "AFSDB",
    "APL",
    "CAA",
    "CDNSKEY",
    "CDS",
    "CERT",
    "CNAME",
    "CSYNC",
    "DHCID",
    "DLV",
    "DNAME",
    "DNSKEY",
    "DS",
    "EUI48",
    "EUI64",
    "HINFO",
    "HIP",
    "HTTPS",
    "IPSECKEY",
    "KEY",
    "KX",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "OPENPGPKEY",
    "PTR",
    "RP",
    "RRSIG",
    "SIG",
    "SMIMEA",
    "SOA",
    "SPF",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
    "ZONEMD",
];

const CLASSES: &[&str] = &["IN", "CH", "HS", "CS"];

/// A TTL as zone files write it: `300`, `1h`, `1h30m`.
fn looks_like_ttl(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_digit())
        && t.chars()
            .all(|c| c.is_ascii_digit() || "smhdwSMHDW".contains(c))
}

/// Joins each multi-line record onto its first line (comments and parentheses outside quotes
/// removed, blank lines left in its place so line numbers hold) and writes the `$TTL` in force
/// into records that give no TTL.
fn prepare(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut default_ttl: Option<String> = None;
    let mut start = 0;
    for (end, _) in record_boundaries(text) {
        let record = &text[start..end];
        start = end;
        let lines = record.matches('\n').count();
        let flat = flatten(record);
        let tokens = split_tokens(&flat);
        if tokens
            .first()
            .is_some_and(|t| t.eq_ignore_ascii_case("$TTL"))
        {
            default_ttl = tokens.get(1).map(|t| t.to_string());
            out.push_str(&flat);
        } else if tokens.is_empty() || tokens[0].starts_with('$') {
            out.push_str(&flat);
        } else {
            out.push_str(&with_ttl(&flat, &tokens, default_ttl.as_deref()));
        }
        out.push('\n');
        for _ in 1..lines.max(1) {
            out.push('\n');
        }
    }
    out.push_str(&text[start..]);
    out
}

/// Inserts `ttl` before the type of a record line that has none.
fn with_ttl(line: &str, tokens: &[&str], ttl: Option<&str>) -> String {
    let Some(ttl) = ttl else {
        return line.to_string();
    };
    let owner_given = !line.starts_with(char::is_whitespace);
    let prefix = &tokens[usize::from(owner_given)..];
    let mut has_ttl = false;
    for t in prefix.iter().take(2) {
        if looks_like_ttl(t) {
            has_ttl = true;
        } else if !CLASSES.contains(&t.to_ascii_uppercase().as_str()) {
            break;
        }
    }
    if has_ttl {
        return line.to_string();
    }
    match (owner_given, tokens.first()) {
        (true, Some(owner)) => {
            let at = line.find(owner).unwrap_or(0) + owner.len();
            format!("{} {ttl}{}", &line[..at], &line[at..])
        }
        _ => format!(" {ttl}{line}"),
    }
}

/// One record's text on one line: comments and parentheses outside quotes removed.
fn flatten(record: &str) -> String {
    let mut out = String::with_capacity(record.len());
    let (mut in_quote, mut escaped, mut in_comment) = (false, false, false);
    for c in record.chars() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
                out.push(' ');
            }
            continue;
        }
        match c {
            _ if escaped => {
                escaped = false;
                out.push(c);
            }
            '\\' => {
                escaped = true;
                out.push(c);
            }
            '"' => {
                in_quote = !in_quote;
                out.push(c);
            }
            ';' if !in_quote => in_comment = true,
            '(' | ')' if !in_quote => out.push(' '),
            '\n' | '\r' if !in_quote => out.push(' '),
            _ => out.push(c),
        }
    }
    out.trim_end().to_string()
}

/// Splits a flattened record line into tokens, a quoted string being one token.
fn split_tokens(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += 1;
            }
        }
        out.push(&line[start..i]);
    }
    out
}

/// Byte offsets just after each line that closes a record (parentheses balanced, outside
/// quotes and comments), with that line's number.
fn record_boundaries(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let mut in_quote = false;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_quote = !in_quote,
                ';' if !in_quote => break,
                '(' if !in_quote => depth += 1,
                ')' if !in_quote => depth -= 1,
                _ => {}
            }
        }
        offset += line.len();
        if depth <= 0 {
            depth = 0;
            out.push((offset, i + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_ttl_applies_and_multiline_quotes_survive() {
        let text = "$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 h 1 2 3 4 300\n@ 300 IN A 192.0.2.1\nwww IN A 192.0.2.2\ndkim IN TXT ( \"v=DKIM1; k=rsa; p=AB\" ; the key\n  \"CD\" )\nafter IN A 192.0.2.3\n";
        let (recs, _) = parse(text, "example.com.").unwrap();
        let get = |n: &str| recs.iter().find(|r| r.name().to_ascii() == n).unwrap();
        assert_eq!(
            get("www.example.com.").ttl(),
            3600,
            "$TTL, not the previous record's TTL"
        );
        assert_eq!(get("dkim.example.com.").ttl(), 3600);
        match get("dkim.example.com.").data() {
            hickory_proto::rr::RData::TXT(t) => {
                let strings: Vec<&[u8]> = t.txt_data().iter().map(|s| &s[..]).collect();
                assert_eq!(strings, vec![&b"v=DKIM1; k=rsa; p=AB"[..], &b"CD"[..]]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(get("after.example.com.").ttl(), 3600);
        // A bad record after a joined multi-line one is still named by its own line.
        let bad = format!("{text}x IN A 300.1.1.1\n");
        assert_eq!(parse(&bad, "example.com.").unwrap_err().line, 9);
    }

    const ZONE: &str = "$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster (\n  2026112701 ; serial\n  7200 900 1209600 300 )\n  IN NS ns1\n  IN NS ns2.example.net.\nns1 IN A 192.0.2.53\nwww 300 IN A 192.0.2.1\n";

    #[test]
    fn parses_origin_ttl_multiline_and_relative_names() {
        let (recs, _) = parse(ZONE, "example.com.").unwrap();
        assert_eq!(recs.len(), 5);
        let www = recs
            .iter()
            .find(|r| r.name().to_ascii() == "www.example.com.")
            .unwrap();
        assert_eq!(www.ttl(), 300);
    }

    #[test]
    fn an_error_names_its_line() {
        let bad = format!("{ZONE}mail IN MX ten mail.example.com.\nok IN A 192.0.2.2\n");
        let e = parse(&bad, "example.com.").unwrap_err();
        assert_eq!(e.line, 10, "{e}");
        let bad = format!("{ZONE}x IN A 300.1.1.1\n");
        assert_eq!(parse(&bad, "example.com.").unwrap_err().line, 10);
        let e = parse("$INCLUDE other.zone\n", "example.com.").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn unreadable_types_are_set_aside_not_fatal() {
        let text = format!("{ZONE}loc IN LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\n@ IN DNSKEY 257 3 13 (\n  mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== )\nafter IN A 192.0.2.9\n");
        let (recs, skipped) = parse(&text, "example.com.").unwrap();
        assert_eq!(recs.len(), 6);
        let names: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} {}", s.name, s.rtype))
            .collect();
        assert_eq!(names, vec!["loc.example.com. LOC", "example.com. DNSKEY"]);
        // Lines keep their numbers: an error after the set-aside records names the right line.
        let bad = format!("{text}x IN A 300.1.1.1\n");
        assert_eq!(parse(&bad, "example.com.").unwrap_err().line, 14);
    }
}
