//! Domain names in one canonical form: absolute, lowercase ASCII (IDNs as punycode), a trailing
//! dot, `*` plain, and every other byte outside `[a-z0-9_-]` as a Route 53 style octal escape.

/// Normalises the migration's domain into the zone origin, e.g. `Example.COM` -> `example.com.`.
pub fn normalize_origin(domain: &str) -> Result<String, String> {
    let d = domain.trim();
    if d.is_empty() || d == "." {
        return Err("the domain is empty".into());
    }
    let abs = if d.ends_with('.') {
        d.to_string()
    } else {
        format!("{d}.")
    };
    // A top-level domain and an RFC 2317 classless reverse zone (`0/25.2.0.192.in-addr.arpa`,
    // its `/` kept as `\057`) are zones Route 53 hosts like any other.
    let name = canonical(&abs)?;
    if name.contains('*') {
        return Err(format!("the domain {domain:?} cannot be a wildcard"));
    }
    Ok(name)
}

/// Normalises a record name relative to `origin` (already normalised): `@` is the apex, a
/// name without a trailing dot is relative, one with a trailing dot must lie inside the zone.
pub fn normalize_name(name: &str, origin: &str) -> Result<String, String> {
    let n = name.trim();
    let abs = if n == "@" || n.is_empty() {
        origin.to_string()
    } else if n.ends_with('.') && !n.ends_with("\\.") {
        n.to_string()
    } else {
        format!("{n}.{origin}")
    };
    let canon = canonical(&abs)?;
    if canon != origin && !canon.ends_with(&format!(".{origin}")) {
        return Err(format!("the name {name:?} is outside the zone {origin}"));
    }
    Ok(canon)
}

/// Normalises a name that a record points at (CNAME, MX, NS, SRV targets, alias targets).
/// These are always absolute: a missing trailing dot is added, as Route 53 does.
pub fn normalize_target(name: &str) -> Result<String, String> {
    let n = name.trim();
    if n == "." {
        return Ok(".".into());
    }
    if n.is_empty() {
        return Err("an empty name".into());
    }
    let abs = if n.ends_with('.') && !n.ends_with("\\.") {
        n.to_string()
    } else {
        format!("{n}.")
    };
    canonical(&abs)
}

/// Appends a label in zoneshift's form: lowercase, letters, digits, `-` and `_` as they are,
/// every other byte as `\ooo` octal.
pub(crate) fn push_label(out: &mut String, label: &[u8]) {
    for &b in label {
        let b = b.to_ascii_lowercase();
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
}

/// Canonicalises an absolute name (ending in an unescaped dot).
fn canonical(abs: &str) -> Result<String, String> {
    let ascii = if abs.is_ascii() {
        abs.to_string()
    } else {
        let trimmed = abs.trim_end_matches('.');
        let puny = idna::domain_to_ascii(trimmed)
            .map_err(|_| format!("{abs:?} is not a valid internationalised name"))?;
        format!("{puny}.")
    };
    let labels = split_labels(&ascii)?;
    let mut out = String::with_capacity(ascii.len());
    let mut wire_len = 1usize;
    for (i, label) in labels.iter().enumerate() {
        if label.is_empty() {
            return Err(format!("{abs:?} has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("{abs:?} has a label longer than 63 bytes"));
        }
        wire_len += label.len() + 1;
        if label.as_slice() == b"*" {
            if i != 0 {
                return Err(format!("{abs:?} has `*` in a label that is not the first"));
            }
            out.push('*');
        } else {
            push_label(&mut out, label);
        }
        out.push('.');
    }
    if wire_len > 255 {
        return Err(format!("{abs:?} is longer than 255 bytes"));
    }
    Ok(out)
}

/// Splits an absolute presentation-format name into labels, decoding `\DDD` (decimal, as in
/// zone files), Route 53's `\ooo` octal, and `\X` escapes.
///
/// Route 53 writes octal (`\052` for `*`) while zone files write decimal (`\042`); names are
/// read as octal here because names from Route 53 are the ones that carry escapes in practice.
fn split_labels(abs: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = abs.as_bytes();
    let mut labels = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let rest = &bytes[i + 1..];
                if rest.len() >= 3 && rest[..3].iter().all(|c| (b'0'..=b'7').contains(c)) {
                    let v = (rest[0] - b'0') as u32 * 64
                        + (rest[1] - b'0') as u32 * 8
                        + (rest[2] - b'0') as u32;
                    let b =
                        u8::try_from(v).map_err(|_| format!("{abs:?} has an escape above 255"))?;
                    cur.push(b);
                    i += 4;
                } else if let Some(&c) = rest.first() {
                    cur.push(c);
                    i += 2;
                } else {
                    return Err(format!("{abs:?} ends in a lone backslash"));
                }
            }
            b'.' => {
                labels.push(std::mem::take(&mut cur));
                i += 1;
            }
            c => {
                cur.push(c);
                i += 1;
            }
        }
    }
    if !cur.is_empty() {
        return Err(format!("{abs:?} is not absolute"));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_apex_and_absolute_names() {
        let o = normalize_origin("Example.COM").unwrap();
        assert_eq!(o, "example.com.");
        assert_eq!(normalize_name("@", &o).unwrap(), "example.com.");
        assert_eq!(normalize_name("WWW", &o).unwrap(), "www.example.com.");
        assert_eq!(
            normalize_name("www.Example.com.", &o).unwrap(),
            "www.example.com."
        );
        assert_eq!(normalize_name("*.dev", &o).unwrap(), "*.dev.example.com.");
        assert_eq!(
            normalize_name("\\052.dev.example.com.", &o).unwrap(),
            "*.dev.example.com."
        );
    }

    #[test]
    fn outside_the_zone_is_an_error() {
        let o = normalize_origin("example.com").unwrap();
        assert!(normalize_name("www.example.org.", &o)
            .unwrap_err()
            .contains("outside the zone"));
        assert!(normalize_name("badexample.com.", &o).is_err());
    }

    #[test]
    fn idn_becomes_punycode() {
        let o = normalize_origin("example.com").unwrap();
        assert_eq!(
            normalize_name("bücher", &o).unwrap(),
            "xn--bcher-kva.example.com."
        );
    }

    #[test]
    fn odd_bytes_are_octal_escaped() {
        let o = normalize_origin("example.com").unwrap();
        assert_eq!(normalize_name("a\\/b", &o).unwrap(), "a\\057b.example.com.");
        assert!(normalize_name("a.*.b", &o).is_err());
        assert!(normalize_name("a..b", &o).is_err());
        assert!(normalize_name(&"x".repeat(64), &o).is_err());
    }

    #[test]
    fn top_level_and_classless_reverse_zones_are_domains() {
        assert_eq!(normalize_origin("example").unwrap(), "example.");
        assert_eq!(
            normalize_origin("0/25.2.0.192.in-addr.arpa").unwrap(),
            "0\\05725.2.0.192.in-addr.arpa."
        );
        assert!(normalize_origin(".").is_err());
        assert!(normalize_origin("*.example.com").is_err());
    }

    #[test]
    fn targets_are_absolute() {
        assert_eq!(
            normalize_target("App.Example.NET").unwrap(),
            "app.example.net."
        );
        assert_eq!(
            normalize_target("app.example.net.").unwrap(),
            "app.example.net."
        );
    }
}
