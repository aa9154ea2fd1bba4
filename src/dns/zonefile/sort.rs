//! A zone file's records sorted into an import: what Route 53 will serve, the apex SOA and NS
//! kept as observations, what is not carried and why; and the zone's own rules checked (a
//! CNAME alone at its name, one SOA and only at the apex) with the line that breaks them.

use super::entries::Entry;
use super::flavour::{cloudflare_tags, Flavour};
use super::rdata;
use super::ZoneFileError;
use crate::dns::import::DNSSEC_TYPES;
use crate::zone::{Imported, RecordKey, RecordSet, RecordType, Routing, Skipped};
use std::collections::{BTreeMap, BTreeSet};

/// Sorts the records of a zone file for `origin`.
pub fn sort(origin: &str, entries: &[Entry], flavour: Flavour) -> Result<Imported, ZoneFileError> {
    check_cname_alone(origin, entries)?;
    let mut out = Imported::default();
    let mut values: BTreeMap<RecordKey, (usize, u32, Vec<String>)> = BTreeMap::new();
    let mut runs = Runs::default();
    let mut skipped = BTreeSet::new();
    let mut soa: Option<(usize, String)> = None;
    for e in entries {
        let run = runs.run(&e.owner);
        let err = |message: String| ZoneFileError {
            line: e.line,
            message: format!("{} {}: {message}", e.owner, e.rtype),
        };
        let skip = |reason: String| Skipped {
            name: e.owner.clone(),
            rtype: e.rtype.clone(),
            reason,
        };
        if let Some(s) = route53_only(e) {
            skipped.insert(s);
            continue;
        }
        let inside = e.owner == origin || e.owner.ends_with(&format!(".{origin}"));
        let carried =
            RecordType::parse(&e.rtype).filter(|_| !DNSSEC_TYPES.contains(&e.rtype.as_str()));
        if e.rtype == "SOA" && e.owner != origin {
            return Err(err(format!(
                "a SOA record below the apex {origin}: only the apex has one"
            )));
        }
        let Some(rtype) = carried.filter(|_| inside) else {
            skipped.insert(skip(not_carried_reason(&e.rtype, inside, origin)));
            continue;
        };
        let value = rdata::value(rtype, &e.data, &e.origin).map_err(err)?;
        if e.owner == origin {
            match rtype {
                RecordType::Soa => {
                    observe_soa(&mut out, &mut soa, e.line, &value).map_err(err)?;
                    continue;
                }
                RecordType::Ns => {
                    if !out.apex_ns.contains(&value) {
                        out.apex_ns.push(value);
                    }
                    out.apex_ns_ttl.get_or_insert(e.ttl);
                    continue;
                }
                RecordType::Cname => {
                    skipped.insert(skip("a CNAME at the apex needs a decision: Route 53 cannot serve it; declare an alias record for the apex in spec.records".into()));
                    continue;
                }
                _ => {}
            }
        }
        if flavour == Flavour::Cloudflare {
            cloudflare_notes(e, &value, &mut skipped, &mut out.needs_acknowledgement);
        }
        let key = RecordKey::new(e.owner.clone(), rtype, None);
        // An RRset has one TTL. BIND loads a file one run of lines with the same owner at a
        // time: in a run the first TTL given to a set holds, and a later run's replaces it.
        let entry = values.entry(key).or_insert((run, e.ttl, Vec::new()));
        if entry.0 != run {
            (entry.0, entry.1) = (run, e.ttl);
        }
        entry.2.push(value);
    }
    out.sets = into_sets(values);
    out.apex_ns.sort();
    out.skipped = skipped.into_iter().collect();
    Ok(out)
}

/// The record sets, values sorted and without duplicates.
fn into_sets(values: BTreeMap<RecordKey, (usize, u32, Vec<String>)>) -> crate::zone::RecordMap {
    values
        .into_iter()
        .map(|(key, (_, ttl, mut vals))| {
            vals.sort();
            vals.dedup();
            let set = RecordSet {
                key: key.clone(),
                ttl: Some(ttl),
                values: vals,
                alias: None,
                routing: Routing::default(),
            };
            (key, set)
        })
        .collect()
}

/// Counts the runs of consecutive records with the same owner.
#[derive(Default)]
struct Runs {
    owner: String,
    count: usize,
}

impl Runs {
    fn run(&mut self, owner: &str) -> usize {
        if self.owner != owner {
            owner.clone_into(&mut self.owner);
            self.count += 1;
        }
        self.count
    }
}

/// What a cli53 export writes of Route 53's own features: an alias, a routing policy.
fn route53_only(e: &Entry) -> Option<Skipped> {
    let (rtype, reason) = if e.rtype == "ALIAS" {
        let rtype = e
            .data
            .first()
            .map_or("A".into(), |t| t.raw.to_ascii_uppercase());
        let target = e.data.get(1).map_or("", |t| t.raw.as_str());
        (rtype, format!("a Route 53 alias to {target} (cli53's AWS ALIAS): declare it in spec.records with alias"))
    } else if e.comment.contains("AWS routing=") {
        (e.rtype.clone(), format!("a record with a Route 53 routing policy ({}): declare it in spec.records with its setIdentifier and routing", e.comment.trim()))
    } else {
        return None;
    };
    Some(Skipped {
        name: e.owner.clone(),
        rtype,
        reason,
    })
}

/// A Cloudflare export's `cf_tags=`: proxied records answer differently from Route 53 (as the
/// Cloudflare source reports them), other tags are not carried.
fn cloudflare_notes(
    e: &Entry,
    value: &str,
    skipped: &mut BTreeSet<Skipped>,
    acks: &mut Vec<Skipped>,
) {
    let tags = cloudflare_tags(&e.comment);
    let note = |reason: String| Skipped {
        name: e.owner.clone(),
        rtype: e.rtype.clone(),
        reason,
    };
    if tags.iter().any(|t| t == "cf-proxied:true") {
        acks.push(note(crate::zone::proxied_by_cloudflare(value)));
    }
    let own: Vec<&str> = tags
        .iter()
        .map(String::as_str)
        .filter(|t| !t.starts_with("cf-"))
        .collect();
    if !own.is_empty() {
        skipped.insert(note(format!(
            "copied, but its Cloudflare tags ({}) are not carried: Route 53 records have no tags",
            own.join(", ")
        )));
    }
}

fn not_carried_reason(rtype: &str, inside: bool, origin: &str) -> String {
    if !inside {
        format!("outside the zone {origin}")
    } else if DNSSEC_TYPES.contains(&rtype) {
        "a DNSSEC record of the old provider's signer; Route 53 signs with its own keys once signing is enabled after the move".into()
    } else {
        format!("Route 53 does not serve {rtype} records")
    }
}

/// Keeps the SOA's serial and negative TTL; a zone dump repeats the same SOA at its end, but
/// a second, different SOA is an error.
fn observe_soa(
    out: &mut Imported,
    seen: &mut Option<(usize, String)>,
    line: usize,
    value: &str,
) -> Result<(), String> {
    if let Some((first, v)) = seen {
        if v != value {
            return Err(format!(
                "a second SOA, different from the one on line {first}"
            ));
        }
        return Ok(());
    }
    let fields: Vec<&str> = value.split_whitespace().collect();
    out.serial = fields.get(2).and_then(|s| s.parse().ok());
    out.negative_ttl = fields.get(6).and_then(|s| s.parse().ok());
    *seen = Some((line, value.to_string()));
    Ok(())
}

/// A CNAME must be the only data at its name (RFC 1034 section 3.6.2; DNSSEC's RRSIG and NSEC
/// excepted), and there is one CNAME per name. The apex is left out, unlike BIND: providers
/// that flatten an apex CNAME export it beside the SOA, and it is listed as a decision.
fn check_cname_alone(origin: &str, entries: &[Entry]) -> Result<(), ZoneFileError> {
    let mut cname_at: BTreeMap<&str, &Entry> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e.rtype == "CNAME" && e.owner != origin)
    {
        if let Some(first) = cname_at.get(e.owner.as_str()) {
            if first.data != e.data {
                return Err(ZoneFileError {
                    line: e.line,
                    message: format!(
                        "{}: a second CNAME (the first is on line {}); a name has one CNAME",
                        e.owner, first.line
                    ),
                });
            }
        }
        cname_at.entry(&e.owner).or_insert(e);
    }
    for e in entries {
        let Some(c) = cname_at.get(e.owner.as_str()) else {
            continue;
        };
        if !matches!(
            e.rtype.as_str(),
            "CNAME" | "RRSIG" | "NSEC" | "NXT" | "SIG" | "KEY"
        ) {
            return Err(ZoneFileError {
                line: e.line.max(c.line),
                message: format!(
                    "{}: a CNAME (line {}) beside other data ({} on line {}); a CNAME must be alone at its name",
                    e.owner, c.line, e.rtype, e.line
                ),
            });
        }
    }
    Ok(())
}
