//! What a live zone holds, in the record model: which records Route 53 will serve, the apex
//! SOA and NS kept as observations, and every record that cannot be carried, with the reason.

use crate::zone::{
    normalize_target, normalize_value, quote, RecordKey, RecordSet, RecordType, Routing,
};
use hickory_proto::rr::{RData, Record};

pub use crate::zone::{Imported, Skipped};
use std::collections::BTreeMap;

/// Record types that belong to the old provider's DNSSEC signer.
pub const DNSSEC_TYPES: &[&str] = &[
    "RRSIG",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "DNSKEY",
    "CDS",
    "CDNSKEY",
    "KEY",
    "SIG",
];

/// Sorts the records of a zone (from a transfer or a zone file) into what Route 53 will serve,
/// what is kept as an observation, and what cannot be carried.
pub fn import(origin: &str, records: &[Record]) -> Imported {
    let mut out = Imported::default();
    let mut values: BTreeMap<RecordKey, (u32, Vec<String>)> = BTreeMap::new();
    let mut skipped = std::collections::BTreeSet::new();
    for r in records {
        let name = normalize_target(&r.name().to_ascii())
            .unwrap_or_else(|_| r.name().to_ascii().to_ascii_lowercase());
        let type_name = type_mnemonic(r.record_type());
        let skip = |reason: String| Skipped {
            name: name.clone(),
            rtype: type_name.clone(),
            reason,
        };
        let rtype = match carried_type(&name, origin, &type_name) {
            Ok(t) => t,
            Err(reason) => {
                skipped.insert(skip(reason));
                continue;
            }
        };
        if name == origin && observe_apex(&mut out, rtype, r) {
            continue;
        }
        if rtype == RecordType::Soa {
            skipped.insert(skip(
                "an SOA below the apex: Route 53 keeps one SOA, its own, at the apex".into(),
            ));
            continue;
        }
        if name == origin && rtype == RecordType::Cname {
            skipped.insert(skip(
                "a CNAME at the apex needs a decision: Route 53 cannot serve it; declare an alias record for the apex in spec.records".into(),
            ));
            continue;
        }
        let value = match presentation(rtype, r.data()) {
            Ok(v) => v,
            Err(e) => {
                skipped.insert(skip(format!("its value cannot be read: {e}")));
                continue;
            }
        };
        let key = RecordKey::new(name.clone(), rtype, None);
        let ttl = carried_ttl(r.ttl());
        let entry = values.entry(key).or_insert((ttl, Vec::new()));
        // An RRset has one TTL; where a zone file gives several, resolvers see the lowest.
        entry.0 = entry.0.min(ttl);
        entry.1.push(value);
    }
    for (key, (ttl, mut vals)) in values {
        vals.sort();
        vals.dedup();
        if key.rtype == RecordType::Cname && vals.len() > 1 {
            skipped.insert(Skipped {
                name: key.name.clone(),
                rtype: "CNAME".into(),
                reason: format!(
                    "{} CNAME records at one name: a name has at most one (RFC 2181, section 10.1), and which one users get depends on the server; keep one in spec.records",
                    vals.len()
                ),
            });
            continue;
        }
        out.sets.insert(
            key.clone(),
            RecordSet {
                key,
                ttl: Some(ttl),
                values: vals,
                alias: None,
                routing: Routing::default(),
            },
        );
    }
    out.apex_ns.sort();
    out.skipped = skipped.into_iter().collect();
    out
}

/// The TTL to carry: a TTL with its top bit set is read as 0, as RFC 2181 (section 8) has
/// resolvers read it, so what users saw is kept and Route 53 (at most 2^31 - 1) accepts it.
fn carried_ttl(ttl: u32) -> u32 {
    if ttl > i32::MAX.unsigned_abs() {
        0
    } else {
        ttl
    }
}

/// The type Route 53 will serve the record as, or why it is not carried.
fn carried_type(name: &str, origin: &str, type_name: &str) -> Result<RecordType, String> {
    if name != origin && !name.ends_with(&format!(".{origin}")) {
        return Err(format!("outside the zone {origin}"));
    }
    if DNSSEC_TYPES.contains(&type_name) {
        return Err("a DNSSEC record of the old provider's signer; Route 53 signs with its own keys once signing is enabled after the move".into());
    }
    RecordType::parse(type_name)
        .ok_or_else(|| format!("Route 53 does not serve {type_name} records"))
}

/// Keeps the apex SOA and NS as observations (serial, negative TTL, the old delegation);
/// whether the record was one of them.
fn observe_apex(out: &mut Imported, rtype: RecordType, r: &Record) -> bool {
    match (rtype, r.data()) {
        (RecordType::Soa, RData::SOA(soa)) => {
            out.serial = Some(soa.serial());
            out.negative_ttl = Some(soa.minimum());
            true
        }
        (RecordType::Ns, RData::NS(ns)) => {
            let ns = normalize_target(&ns.0.to_ascii()).unwrap_or_default();
            if !out.apex_ns.contains(&ns) {
                out.apex_ns.push(ns);
            }
            out.apex_ns_ttl = Some(out.apex_ns_ttl.map_or(r.ttl(), |t| t.min(r.ttl())));
            true
        }
        (RecordType::Soa | RecordType::Ns, _) => true,
        _ => false,
    }
}

/// The mnemonic of a record type, also for types hickory only knows by number.
fn type_mnemonic(t: hickory_proto::rr::RecordType) -> String {
    match t {
        hickory_proto::rr::RecordType::Unknown(code) => match code {
            13 => "HINFO".into(),
            17 => "RP".into(),
            18 => "AFSDB".into(),
            29 => "LOC".into(),
            37 => "CERT".into(),
            39 => "DNAME".into(),
            42 => "APL".into(),
            44 => "SSHFP".into(),
            45 => "IPSECKEY".into(),
            256 => "URI".into(),
            other => format!("TYPE{other}"),
        },
        known => known.to_string(),
    }
}

/// A record's data in zoneshift's canonical presentation format.
pub fn presentation(rtype: RecordType, data: &RData) -> Result<String, String> {
    match data {
        // Character strings go byte for byte, so escapes and non-UTF-8 survive.
        // and through the normaliser, which cuts strings longer than DNS allows (a zone file
        // can hold them) into 255-byte pieces as a value written by a user is cut.
        RData::TXT(txt) => normalize_value(
            rtype,
            &txt.txt_data()
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        RData::CAA(caa) => {
            let text = caa.to_string();
            normalize_value(rtype, &text)
        }
        other => normalize_value(rtype, &other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hickory_proto::rr::rdata::CNAME;
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    fn cname(owner: &str, target: &str) -> Record {
        let n = |s: &str| Name::from_str(s).unwrap();
        Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
    }

    /// A server that hands out two CNAMEs for one name (found by the dns_message fuzz target):
    /// neither is carried, and the import says why, instead of a set the spec would refuse.
    #[test]
    fn two_cnames_at_one_name_are_not_carried() {
        let records = [
            cname("alias.example.com.", "a.example.net."),
            cname("alias.example.com.", "b.example.net."),
            cname("www.example.com.", "a.example.net."),
        ];
        let imported = import("example.com.", &records);
        assert_eq!(imported.sets.len(), 1);
        let skipped = &imported.skipped[0];
        assert_eq!(
            (skipped.name.as_str(), skipped.rtype.as_str()),
            ("alias.example.com.", "CNAME")
        );
        assert!(
            skipped.reason.contains("2 CNAME records"),
            "{}",
            skipped.reason
        );
    }
}
