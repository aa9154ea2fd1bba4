//! Cloudflare's records in the record model: what Route 53 will serve, what it cannot carry,
//! and what it carries but will answer differently from Cloudflare (for a person to
//! acknowledge). Pure.

use super::CfRecord;
use crate::dns::import::DNSSEC_TYPES;
use crate::zone::{
    normalize_target, normalize_value, quote, Imported, RecordKey, RecordSet, RecordType, Routing,
    Skipped,
};
use std::collections::{BTreeMap, BTreeSet};

/// What Cloudflare's "automatic" TTL (a TTL of 1) stands for: 300 seconds.
const AUTOMATIC_TTL: u32 = 300;

/// Sorts Cloudflare's records into what Route 53 will serve, what it cannot carry, and what
/// it carries but will answer differently (for a person to acknowledge).
pub fn convert(origin: &str, zone_nameservers: &[String], records: &[CfRecord]) -> Imported {
    let mut sorted = Sorted::default();
    for r in records {
        sorted.add(origin, r);
    }
    sorted.finish(zone_nameservers)
}

/// Records being sorted: values per record set, and the notes on what is not carried or
/// answers differently.
#[derive(Default)]
struct Sorted {
    values: BTreeMap<RecordKey, (u32, Vec<String>)>,
    apex_ns: Vec<String>,
    skipped: BTreeSet<Skipped>,
    acks: BTreeSet<Skipped>,
}

impl Sorted {
    fn add(&mut self, origin: &str, r: &CfRecord) {
        let name = normalize_target(&r.name).unwrap_or_else(|_| r.name.to_ascii_lowercase());
        let type_name = r.rtype.to_ascii_uppercase();
        let note = |reason: String| Skipped {
            name: name.clone(),
            rtype: type_name.clone(),
            reason,
        };
        if name != origin && !name.ends_with(&format!(".{origin}")) {
            self.skipped
                .insert(note(format!("outside the zone {origin}")));
            return;
        }
        if DNSSEC_TYPES.contains(&type_name.as_str()) {
            self.skipped.insert(note("a DNSSEC record of Cloudflare's signer; Route 53 signs with its own keys once signing is enabled after the move".into()));
            return;
        }
        let Some(rtype) = RecordType::parse(&type_name).filter(|t| *t != RecordType::Soa) else {
            self.skipped
                .insert(note(format!("Route 53 does not serve {type_name} records")));
            return;
        };
        let value = match cf_value(rtype, r) {
            Ok(v) => v,
            Err(e) => {
                self.skipped
                    .insert(note(format!("its value cannot be read: {e}")));
                return;
            }
        };
        let apex = name == origin;
        if apex && rtype == RecordType::Ns {
            self.apex_ns.push(value);
            return;
        }
        if apex && rtype == RecordType::Cname {
            let reason = format!("a CNAME at the apex to {value}, which Cloudflare flattens (it answers with the target's addresses); Route 53 cannot serve a CNAME at the apex: declare an alias or A/AAAA records for the apex in spec.records");
            // Not copied: listed once, as not carried (the gate asks about those too).
            self.skipped.insert(note(reason));
            return;
        }
        let (left_behind, differs) = notes(r, rtype, &value);
        self.skipped.extend(left_behind.into_iter().map(&note));
        self.acks.extend(differs.into_iter().map(&note));
        // TTL 1 is Cloudflare's "automatic" (300 s); proxied records always carry it.
        let ttl = if r.ttl <= 1 { AUTOMATIC_TTL } else { r.ttl };
        let entry = self
            .values
            .entry(RecordKey::new(name.clone(), rtype, None))
            .or_insert((ttl, Vec::new()));
        entry.0 = entry.0.min(ttl);
        entry.1.push(value);
    }

    fn finish(self, zone_nameservers: &[String]) -> Imported {
        let mut out = Imported::default();
        for (key, (ttl, mut vals)) in self.values {
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
        // Cloudflare lists no apex NS set for a zone it serves: its own nameservers are the
        // rollback target then.
        out.apex_ns = if self.apex_ns.is_empty() {
            zone_nameservers
                .iter()
                .filter_map(|n| normalize_target(n).ok())
                .collect()
        } else {
            self.apex_ns
        };
        out.apex_ns.sort();
        out.apex_ns.dedup();
        out.skipped = self.skipped.into_iter().collect();
        out.needs_acknowledgement = self.acks.into_iter().collect();
        out
    }
}

/// What a copied record leaves behind (its comment, its tags), and how it answers differently
/// from Route 53 (proxied, flattened).
fn notes(r: &CfRecord, rtype: RecordType, value: &str) -> (Vec<String>, Vec<String>) {
    let mut out = Vec::new();
    if let Some(c) = r.comment.as_deref().filter(|c| !c.trim().is_empty()) {
        out.push(format!(
            "copied, but its Cloudflare comment {} is not carried: Route 53 records have no comments",
            quote(c.as_bytes())
        ));
    }
    if !r.tags.is_empty() {
        out.push(format!(
            "copied, but its Cloudflare tags ({}) are not carried: Route 53 records have no tags",
            r.tags.join(", ")
        ));
    }
    let flattened = r
        .settings
        .as_ref()
        .and_then(|s| s.get("flatten_cname"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let mut differs = Vec::new();
    if r.proxied {
        differs.push(crate::zone::proxied_by_cloudflare(value));
    } else if flattened && rtype == RecordType::Cname {
        differs.push(format!("Cloudflare flattens this CNAME (it answers with the addresses of {value}); Route 53 answers with the CNAME itself"));
    }
    (out, differs)
}

/// A record's value in presentation format, from Cloudflare's `content`, `priority` and
/// structured `data`.
fn cf_value(rtype: RecordType, r: &CfRecord) -> Result<String, String> {
    let data = |k: &str| -> Option<String> {
        let v = r.data.as_ref()?.get(k)?;
        Some(match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let priority = || {
        r.priority
            .map(|p| p.to_string())
            .or_else(|| data("priority"))
            .ok_or_else(|| format!("{rtype} record without a priority"))
    };
    let raw = match rtype {
        RecordType::Mx => format!("{} {}", priority()?, r.content),
        RecordType::Srv => match (data("weight"), data("port"), data("target")) {
            (Some(w), Some(p), Some(t)) => format!("{} {w} {p} {t}", priority()?),
            _ if r.content.split_whitespace().count() == 4 => r.content.clone(),
            _ => format!("{} {}", priority()?, r.content),
        },
        RecordType::Caa => match (data("flags"), data("tag"), data("value")) {
            (Some(f), Some(t), Some(v)) => format!("{f} {t} {}", quote(v.as_bytes())),
            _ => r.content.clone(),
        },
        RecordType::Https | RecordType::Svcb => match (data("priority"), data("target")) {
            (Some(p), Some(t)) => format!("{p} {t} {}", data("value").unwrap_or_default()),
            _ => r.content.clone(),
        },
        _ => r.content.clone(),
    };
    normalize_value(rtype, &raw)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(name: &str, t: &str, content: &str) -> CfRecord {
        CfRecord {
            id: format!("{name}-{t}-{content}"),
            name: name.into(),
            rtype: t.into(),
            content: content.into(),
            ttl: 1,
            ..Default::default()
        }
    }

    #[test]
    fn carries_values_ttls_and_what_answers_differently() {
        let mut www = rec("www.example.com", "A", "192.0.2.10");
        www.proxied = true;
        let mut mx = rec("example.com", "MX", "mail.example.com");
        mx.priority = Some(10);
        mx.ttl = 3600;
        let mut srv = rec("_sip._tcp.example.com", "SRV", "5 5060 sip.example.com");
        srv.priority = Some(10);
        let mut caa = rec("example.com", "CAA", "");
        caa.data = Some(serde_json::json!({"flags": 0, "tag": "issue", "value": "ca.example.net"}));
        let mut https = rec("example.com", "HTTPS", "");
        https.data =
            Some(serde_json::json!({"priority": 1, "target": ".", "value": "alpn=\"h2\""}));
        let mut tagged = rec("txt.example.com", "TXT", &"k".repeat(600));
        tagged.comment = Some("owner: web team".into());
        tagged.tags = vec!["env:prod".into()];
        let records = vec![
            www,
            mx,
            srv,
            caa,
            https,
            tagged,
            rec("example.com", "CNAME", "lb.example.net"),
            rec("uri.example.com", "URI", "10 1 \"https://example.com/\""),
            rec("example.com", "NS", "ns1.example.net"),
            rec("*.dev.example.com", "A", "192.0.2.30"),
            rec("other.example.net", "A", "192.0.2.31"),
        ];
        let imp = convert("example.com.", &["a.ns.example.".into()], &records);
        let set = |n: &str, t| &imp.sets[&RecordKey::new(n, t, None)];
        assert_eq!(set("www.example.com.", RecordType::A).ttl, Some(300));
        assert_eq!(
            set("example.com.", RecordType::Mx).values,
            vec!["10 mail.example.com."]
        );
        assert_eq!(set("example.com.", RecordType::Mx).ttl, Some(3600));
        assert_eq!(
            set("_sip._tcp.example.com.", RecordType::Srv).values,
            vec!["10 5 5060 sip.example.com."]
        );
        assert_eq!(
            set("example.com.", RecordType::Caa).values,
            vec!["0 issue \"ca.example.net\""]
        );
        assert!(set("example.com.", RecordType::Https).values[0].starts_with("1 . alpn="));
        let txt = &set("txt.example.com.", RecordType::Txt).values[0];
        assert_eq!(
            txt.matches('"').count(),
            6,
            "600 bytes in three strings: {txt}"
        );
        assert_eq!(imp.apex_ns, vec!["ns1.example.net."]);
        assert_eq!(
            set("*.dev.example.com.", RecordType::A).values,
            vec!["192.0.2.30"]
        );
        let acks: Vec<String> = imp
            .needs_acknowledgement
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(acks.len(), 1, "{acks:?}");
        assert!(acks
            .iter()
            .any(|a| a.starts_with("www.example.com. A: proxied")));
        let skipped: Vec<String> = imp.skipped.iter().map(ToString::to_string).collect();
        assert!(
            skipped.iter().any(|s| s.contains("outside the zone")),
            "{skipped:?}"
        );
        assert!(
            skipped.iter().any(|s| s.contains("URI records")),
            "{skipped:?}"
        );
        assert!(skipped
            .iter()
            .any(|s| s.contains("comment \"owner: web team\"")));
        assert!(skipped.iter().any(|s| s.contains("tags (env:prod)")));
        assert!(!imp
            .sets
            .contains_key(&RecordKey::new("example.com.", RecordType::Cname, None)));
    }

    #[test]
    fn the_zone_nameservers_are_the_rollback_target_when_no_apex_ns_is_listed() {
        let imp = convert(
            "example.com.",
            &[
                "Ana.NS.Cloudflare.com".into(),
                "bob.ns.cloudflare.com".into(),
            ],
            &[rec("www.example.com", "A", "192.0.2.1")],
        );
        assert_eq!(
            imp.apex_ns,
            vec!["ana.ns.cloudflare.com.", "bob.ns.cloudflare.com."]
        );
    }
}
