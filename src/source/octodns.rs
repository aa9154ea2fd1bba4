//! octoDNS zone YAML (what `octodns-dump` writes) as a zone source: a map of names relative to
//! the zone (`''` is the apex) to one record or a list of records with `type`, `ttl` and
//! `value` or `values` in the per-type shapes octoDNS documents. Settings for one provider
//! (`octodns:`), dynamic and geo rules have no equivalent in a plain Route 53 record set: they
//! are listed as not carried, and the values are imported.

use crate::dns::import::DNSSEC_TYPES;
use crate::zone::{
    normalize_value, quote, Imported, RecordKey, RecordSet, RecordType, Routing, Skipped,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// octoDNS's default TTL where a record gives none.
const DEFAULT_TTL: u32 = 3600;

/// The only place that parses YAML: a swap of the YAML crate is one line here.
fn load_yaml(text: &str) -> Result<Value, String> {
    yaml_serde::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// Whether a text looks like an octoDNS zone YAML rather than a zone file: its first line
/// that is not a comment is a YAML document start or a map key (`www:`, `'':`).
pub fn looks_like(text: &str) -> bool {
    let Some(first) = text.lines().map(str::trim_end).find(|l| {
        !l.trim().is_empty() && !l.trim_start().starts_with('#') && !l.trim_start().starts_with(';')
    }) else {
        return false;
    };
    if first == "---" || first.starts_with("? ") {
        return true;
    }
    let key = first.split_whitespace().next().unwrap_or("");
    !first.starts_with(char::is_whitespace) && key.ends_with(':') && !key.starts_with('$')
}

/// Reads an octoDNS zone YAML for `origin`; an error names the record (name and type) or the
/// YAML line.
pub fn read(text: &str, origin: &str) -> Result<Imported, String> {
    let doc = load_yaml(text)?;
    let names = doc
        .as_object()
        .ok_or("an octoDNS zone file is a map of names to records")?;
    let mut out = Imported::default();
    let mut values: BTreeMap<RecordKey, (u32, Vec<String>)> = BTreeMap::new();
    for (rel, recs) in names {
        let name = if rel.is_empty() {
            origin.to_string()
        } else {
            crate::zone::normalize_name(rel, origin).map_err(|e| format!("name {rel:?}: {e}"))?
        };
        let list: Vec<&Value> = match recs {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for rec in list {
            let rec = rec
                .as_object()
                .ok_or_else(|| format!("name {rel:?}: a record is a map with type and value(s)"))?;
            record(&mut out, &mut values, &name, origin, rec)?;
        }
    }
    for (key, (ttl, mut vals)) in values {
        vals.sort();
        vals.dedup();
        let set = RecordSet {
            key: key.clone(),
            ttl: Some(ttl),
            values: vals,
            alias: None,
            routing: Routing::default(),
        };
        out.sets.insert(key, set);
    }
    out.apex_ns.sort();
    out.skipped.sort();
    out.skipped.dedup();
    Ok(out)
}

/// One record of a name: its values sorted into the import, its settings listed.
fn record(
    out: &mut Imported,
    values: &mut BTreeMap<RecordKey, (u32, Vec<String>)>,
    name: &str,
    origin: &str,
    rec: &Map<String, Value>,
) -> Result<(), String> {
    let type_name = rec
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{name}: a record without a type"))?
        .to_ascii_uppercase();
    let at = |m: String| format!("{name} {type_name}: {m}");
    let skip = |reason: String| Skipped {
        name: name.to_string(),
        rtype: type_name.clone(),
        reason,
    };
    let ttl = match rec.get("ttl") {
        None => DEFAULT_TTL,
        Some(v) => v
            .as_u64()
            .and_then(|t| u32::try_from(t).ok())
            .ok_or_else(|| at(format!("ttl {v} is not a number of seconds")))?,
    };
    let mut proxied = false;
    for extra in ["octodns", "dynamic", "geo"] {
        if let Some(v) = rec.get(extra) {
            proxied |= v.pointer("/cloudflare/proxied").and_then(Value::as_bool) == Some(true);
            out.skipped.push(skip(format!(
                "copied, but its octoDNS `{extra}` settings ({}) are not carried: a plain Route 53 record set has no equivalent",
                compact(v)
            )));
        }
    }
    let carried =
        RecordType::parse(&type_name).filter(|_| !DNSSEC_TYPES.contains(&type_name.as_str()));
    let Some(rtype) = carried else {
        out.skipped.push(skip(match type_name.as_str() {
            "ALIAS" => "an ALIAS (flattened apex CNAME) needs a decision: declare an alias record for it in spec.records".into(),
            _ => format!("Route 53 does not serve {type_name} records"),
        }));
        return Ok(());
    };
    let raw: Vec<&Value> = match (rec.get("values"), rec.get("value")) {
        (Some(Value::Array(a)), _) => a.iter().collect(),
        (Some(v), _) | (None, Some(v)) => vec![v],
        (None, None) => return Err(at("no value or values".into())),
    };
    let mut vals = Vec::with_capacity(raw.len());
    for v in raw {
        let text = presentation(rtype, v).map_err(&at)?;
        vals.push(normalize_value(rtype, &text).map_err(&at)?);
    }
    if proxied {
        let note = crate::zone::proxied_by_cloudflare(&vals.join(", "));
        out.needs_acknowledgement.push(skip(note));
    }
    if name == origin && rtype == RecordType::Soa {
        return Ok(());
    }
    if name == origin && rtype == RecordType::Ns {
        out.apex_ns.extend(vals);
        out.apex_ns_ttl = Some(ttl);
        return Ok(());
    }
    if name == origin && rtype == RecordType::Cname {
        out.skipped.push(skip("a CNAME at the apex needs a decision: Route 53 cannot serve it; declare an alias record for the apex in spec.records".into()));
        return Ok(());
    }
    let entry = values
        .entry(RecordKey::new(name, rtype, None))
        .or_insert((ttl, Vec::new()));
    entry.1.extend(vals);
    Ok(())
}

/// A value of octoDNS's shape for `rtype` in presentation format.
fn presentation(rtype: RecordType, v: &Value) -> Result<String, String> {
    let f = |k: &str| field(v, &[k]);
    Ok(match rtype {
        RecordType::Mx => format!(
            "{} {}",
            field(v, &["preference", "priority"])?,
            field(v, &["exchange", "value"])?
        ),
        RecordType::Srv => format!(
            "{} {} {} {}",
            f("priority")?,
            f("weight")?,
            f("port")?,
            f("target")?
        ),
        RecordType::Caa => format!(
            "{} {} {}",
            f("flags").unwrap_or_else(|_| "0".into()),
            f("tag")?,
            quote(f("value")?.as_bytes())
        ),
        RecordType::Naptr => format!(
            "{} {} {} {} {} {}",
            f("order")?,
            f("preference")?,
            quote(f("flags")?.as_bytes()),
            quote(f("service")?.as_bytes()),
            quote(f("regexp")?.as_bytes()),
            f("replacement")?
        ),
        RecordType::Sshfp => format!(
            "{} {} {}",
            f("algorithm")?,
            f("fingerprint_type")?,
            f("fingerprint")?
        ),
        RecordType::Ds => format!(
            "{} {} {} {}",
            f("key_tag")?,
            f("algorithm")?,
            f("digest_type")?,
            f("digest")?
        ),
        RecordType::Tlsa => format!(
            "{} {} {} {}",
            f("certificate_usage")?,
            f("selector")?,
            f("matching_type")?,
            f("certificate_association_data")?
        ),
        RecordType::Svcb | RecordType::Https => svcb(v)?,
        // octoDNS escapes `;` in TXT values (`\;`); the value is one string, split in 255-byte
        // pieces as DNS needs.
        RecordType::Txt | RecordType::Spf => {
            let s = scalar(v).ok_or("a TXT value is a string")?;
            quote_chunks(&s.replace("\\;", ";"))
        }
        _ => scalar(v).ok_or_else(|| format!("the value {} is not a string", compact(v)))?,
    })
}

fn quote_chunks(s: &str) -> String {
    s.as_bytes()
        .chunks(255)
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn svcb(v: &Value) -> Result<String, String> {
    let mut out = format!(
        "{} {}",
        field(v, &["svcpriority"])?,
        field(v, &["targetname"])?
    );
    if let Some(params) = v.get("svcparams").and_then(Value::as_object) {
        for (k, p) in params {
            let val = match p {
                Value::Array(a) => a.iter().filter_map(scalar).collect::<Vec<_>>().join(","),
                Value::Null => String::new(),
                other => scalar(other).unwrap_or_default(),
            };
            out.push(' ');
            out.push_str(k);
            if !val.is_empty() {
                out.push('=');
                out.push_str(&val);
            }
        }
    }
    Ok(out)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first of `keys` the value has, as text.
fn field(v: &Value, keys: &[&str]) -> Result<String, String> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(scalar))
        .ok_or_else(|| format!("the value {} has no {}", compact(v), keys[0]))
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection() {
        assert!(looks_like("---\n'':\n  type: A\n"));
        assert!(looks_like("# dumped\n'':\n  - type: A\n"));
        assert!(looks_like("www:\n  type: A\n"));
        assert!(!looks_like("$ORIGIN example.com.\n@ IN A 192.0.2.1\n"));
        assert!(!looks_like("; c\nwww 300 IN A 192.0.2.1\n"));
    }
}
