//! From the lexer's entries to records: the directives (`$ORIGIN`, `$TTL`, `$GENERATE`;
//! `$INCLUDE` refused), the owner a blank starts with, the TTL and class fields, the type.

use super::flavour::{complete, Flavour};
use super::lexer::{logical_lines, Logical, Tok};
use super::rdata::absolute_name;
use super::ZoneFileError;

/// One record of a zone file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    /// Absolute, in zoneshift's form.
    pub owner: String,
    pub ttl: u32,
    /// The type's mnemonic, upper case (`TYPE65534` for one without).
    pub rtype: String,
    /// The record's data as written.
    pub data: Vec<Tok>,
    /// The `$ORIGIN` in force, against which names in the data are completed.
    pub origin: String,
    /// The comments on the record's lines.
    pub comment: String,
}

/// Reading state: what the directives and the previous records set.
struct State {
    origin: String,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    owner: Option<String>,
    /// Set in an export without `$ORIGIN`: names ending in the zone's name are absolute.
    complete_names: Option<String>,
    flavour: Flavour,
}

/// Every record of the file, in order, directives applied and `$GENERATE` expanded.
pub fn entries(text: &str, origin: &str, flavour: Flavour) -> Result<Vec<Entry>, ZoneFileError> {
    let lines = logical_lines(text)?;
    let has_origin = lines
        .iter()
        .any(|l| l.tokens[0].raw.eq_ignore_ascii_case("$ORIGIN"));
    let mut st = State {
        origin: origin.to_string(),
        default_ttl: None,
        last_ttl: None,
        owner: None,
        complete_names: (flavour != Flavour::Bind && !has_origin).then(|| origin.to_string()),
        flavour,
    };
    let mut out = Vec::new();
    for mut l in lines {
        if let Some(o) = &st.complete_names {
            complete_names(&mut l, o);
        }
        let err = |message: String| ZoneFileError {
            line: l.line,
            message,
        };
        let first = l.tokens[0].raw.to_ascii_uppercase();
        if !l.blank_owner && !l.tokens[0].quoted && first.starts_with('$') {
            directive(&mut st, &l, &first, &mut out).map_err(err)?;
        } else {
            out.push(record(&mut st, &l).map_err(err)?);
        }
    }
    Ok(out)
}

fn directive(st: &mut State, l: &Logical, name: &str, out: &mut Vec<Entry>) -> Result<(), String> {
    let arg = |i: usize| {
        l.tokens
            .get(i)
            .map(|t| t.raw.as_str())
            .ok_or_else(|| format!("{name} needs an argument"))
    };
    match name {
        "$ORIGIN" => st.origin = absolute_name(arg(1)?, &st.origin)?,
        "$TTL" => st.default_ttl = Some(ttl(arg(1)?).ok_or("$TTL needs a TTL such as 3600 or 1h")?),
        "$INCLUDE" => {
            return Err("$INCLUDE is not supported: put the whole zone in one file".into())
        }
        "$GENERATE" => {
            for line in super::generate::expand(&l.tokens[1..])? {
                let generated = Logical {
                    line: l.line,
                    blank_owner: false,
                    tokens: line,
                    comment: String::new(),
                };
                out.push(record(st, &generated)?);
            }
        }
        other => return Err(format!("unknown directive {other}")),
    }
    Ok(())
}

/// One record line: `[owner] [ttl] [class] type data...`, TTL and class in either order.
fn record(st: &mut State, l: &Logical) -> Result<Entry, String> {
    let mut rest = &l.tokens[..];
    if !l.blank_owner {
        st.owner = Some(absolute_name(&rest[0].raw, &st.origin)?);
        rest = &rest[1..];
    }
    let owner = st
        .owner
        .clone()
        .ok_or("the first record has no owner name")?;
    let (mut rttl, mut class) = (None, None);
    while let Some(t) = rest.first().filter(|t| !t.quoted) {
        if rttl.is_none() && t.raw.starts_with(|c: char| c.is_ascii_digit()) {
            rttl = Some(ttl(&t.raw).ok_or_else(|| format!("{:?} is not a TTL", t.raw))?);
        } else if class.is_none() && is_class(&t.raw) {
            class = Some(t.raw.to_ascii_uppercase());
        } else {
            break;
        }
        rest = &rest[1..];
    }
    if let Some(c) = class.filter(|c| c != "IN" && c != "CLASS1") {
        return Err(format!(
            "class {c}: zoneshift carries Internet (IN) records only"
        ));
    }
    if rest.len() > 2 && rest[0].raw == "AWS" && rest[1].raw == "ALIAS" {
        // cli53's Route 53 alias: `name TTL AWS ALIAS TYPE TARGET ZONE-ID EVALUATE`.
        return Ok(Entry {
            line: l.line,
            owner,
            ttl: rttl.unwrap_or(0),
            rtype: "ALIAS".into(),
            data: rest[2..].to_vec(),
            origin: st.origin.clone(),
            comment: l.comment.clone(),
        });
    }
    let type_tok = rest.first().ok_or("the record has no type")?;
    let rtype = type_name(&type_tok.raw)
        .ok_or_else(|| format!("unknown record type {:?}", type_tok.raw))?;
    let data = rest[1..].to_vec();
    let ttl = match rttl {
        Some(t) => {
            st.last_ttl = Some(t);
            t
        }
        None => match (st.default_ttl, st.last_ttl) {
            (Some(t), _) => t,
            // BIND: a SOA without a TTL and no $TTL before it gives its MINIMUM as the default.
            (None, None) if rtype == "SOA" => {
                let min = data
                    .get(6)
                    .and_then(|t| ttl(&t.raw))
                    .ok_or("the SOA has no MINIMUM field")?;
                st.default_ttl = Some(min);
                min
            }
            (None, Some(t)) => t,
            (None, None) => return Err("no TTL, and no $TTL before this record".into()),
        },
    };
    Ok(Entry {
        line: l.line,
        owner,
        ttl: st.flavour.ttl(ttl),
        rtype,
        data,
        origin: st.origin.clone(),
        comment: l.comment.clone(),
    })
}

/// Adds the trailing dot to the owner and the names in the data of an export's record that
/// end in the zone's name without one.
fn complete_names(l: &mut Logical, origin: &str) {
    if l.tokens[0].raw.starts_with('$') {
        return;
    }
    for t in l.tokens.iter_mut().filter(|t| !t.quoted) {
        if let Some(c) = complete(&t.raw, origin) {
            t.raw = c;
        }
    }
}

fn is_class(t: &str) -> bool {
    let u = t.to_ascii_uppercase();
    matches!(
        u.as_str(),
        "IN" | "CH" | "CHAOS" | "HS" | "HESIOD" | "CS" | "NONE" | "ANY"
    ) || u
        .strip_prefix("CLASS")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A TTL in seconds: `300`, or BIND's units `1w2d3h4m5s`; at most 2^31 - 1 (RFC 2181).
pub fn ttl(t: &str) -> Option<u32> {
    if let Ok(n) = t.parse::<u32>() {
        return (n <= i32::MAX as u32).then_some(n);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        total += num.parse::<u64>().ok()? * unit;
        num.clear();
    }
    if !num.is_empty() {
        return None;
    }
    u32::try_from(total).ok().filter(|&n| n <= i32::MAX as u32)
}

/// The mnemonic of a type token (`TYPE1` is `A`), or `None` if it is not a record type.
fn type_name(t: &str) -> Option<String> {
    let u = t.to_ascii_uppercase();
    if let Some(code) = u.strip_prefix("TYPE").and_then(|n| n.parse::<u16>().ok()) {
        return Some(
            KNOWN_TYPES
                .iter()
                .find(|(_, c)| *c == code)
                .map_or_else(|| format!("TYPE{code}"), |(m, _)| (*m).to_string()),
        );
    }
    KNOWN_TYPES.iter().any(|(m, _)| *m == u).then_some(u)
}

/// Registered record types with a presentation format (IANA's registry).
pub const KNOWN_TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP", 22),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", 25),
    ("PX", 26),
    ("GPOS", 27),
    ("AAAA", 28),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("A6", 38),
    ("DNAME", 39),
    ("SINK", 40),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("DSYNC", 66),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("DOA", 259),
    ("AMTRELAY", 260),
    ("RESINFO", 261),
    ("WALLET", 262),
    ("TA", 32768),
    ("DLV", 32769),
];
