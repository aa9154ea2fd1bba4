//! Builds the desired record sets from a spec's `records`, catching everything Route 53 would
//! reject before any call is made.

use super::name::{normalize_name, normalize_origin, normalize_target};
use super::value::normalize_value;
use super::{Alias, Failover, GeoLocation, RecordKey, RecordMap, RecordSet, RecordType, Routing};
use crate::api::RecordSpec;
use std::collections::BTreeMap;
use std::fmt;

/// The TTL Route 53 gives a record whose spec names none.
pub const DEFAULT_TTL: u32 = 300;
/// Route 53's largest TTL.
pub const MAX_TTL: i64 = 2_147_483_647;

/// Route 53's longest `Value` (characters).
pub const MAX_VALUE_CHARS: usize = 4000;
/// The most values a record set may have for zoneshift to keep it in sync: an UPSERT counts
/// each value twice against a change batch's 1000 `ResourceRecord` elements.
pub const MAX_SET_VALUES: usize = 500;
/// The most characters a record set's values may hold, for the same reason (32,000 a batch).
pub const MAX_SET_CHARS: usize = 16_000;

/// Whether Route 53 can hold `values` as one record set that zoneshift can update in one
/// change batch; what is wrong otherwise.
pub fn check_set_limits(values: &[String]) -> Result<(), String> {
    if let Some((j, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| v.chars().count() > MAX_VALUE_CHARS)
    {
        return Err(format!(
            "values[{j}] has {} characters, more than the {MAX_VALUE_CHARS} Route 53 allows in one value",
            v.chars().count()
        ));
    }
    if values.len() > MAX_SET_VALUES {
        return Err(format!(
            "{} values, more than the {MAX_SET_VALUES} one record set may have (an UPSERT counts each twice against a change batch's 1000)",
            values.len()
        ));
    }
    let chars: usize = values.iter().map(|v| v.chars().count()).sum();
    if chars > MAX_SET_CHARS {
        return Err(format!(
            "its values hold {chars} characters, more than the {MAX_SET_CHARS} one record set may hold (an UPSERT counts each twice against a change batch's 32000)"
        ));
    }
    Ok(())
}

/// What is wrong with one record of the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Where the record is: `records[3] (www CNAME)`.
    pub record: String,
    pub problem: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.record, self.problem)
    }
}

/// Builds the desired record sets of `domain` from `records`, or lists every record that is
/// wrong. Nothing partial is returned: one bad record rejects the whole set, so nothing of the
/// resource is written until it is fixed.
pub fn desired_from_spec(
    domain: &str,
    records: &[RecordSpec],
) -> Result<RecordMap, Vec<RecordError>> {
    desired_with_import(domain, records, &RecordMap::new())
}

/// Like [`desired_from_spec`], over the record sets imported from the source: a record in
/// `records` replaces every imported record set with the same name and type (so a weighted
/// pair in `records` can replace a plain imported record without leaving a mix Route 53
/// refuses), and CNAMEs replace or are replaced by whatever sits at their name.
pub fn desired_with_import(
    domain: &str,
    records: &[RecordSpec],
    imported: &RecordMap,
) -> Result<RecordMap, Vec<RecordError>> {
    desired_from_import(domain, records, imported.clone())
}

/// [`desired_with_import`] taking the imported sets: they are moved into the desired set, not
/// copied, so a large import is held once (at 50,000 record sets a copy was the largest
/// allocation of a pass after the sets themselves).
pub fn desired_from_import(
    domain: &str,
    records: &[RecordSpec],
    imported: RecordMap,
) -> Result<RecordMap, Vec<RecordError>> {
    let origin = normalize_origin(domain).map_err(|p| {
        vec![RecordError {
            record: "spec.domain".into(),
            problem: p,
        }]
    })?;
    let mut errors = Vec::new();
    let mut out: RecordMap = BTreeMap::new();
    let mut first_index: BTreeMap<RecordKey, usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let here = format!("records[{i}] ({} {})", r.name, r.type_);
        match record_from_spec(&origin, r) {
            Ok(set) => {
                if let Some(prev) = first_index.get(&set.key) {
                    errors.push(RecordError {
                        record: here,
                        problem: format!(
                            "duplicates records[{prev}]: name, type and setIdentifier must be unique"
                        ),
                    });
                } else {
                    first_index.insert(set.key.clone(), i);
                    out.insert(set.key.clone(), set);
                }
            }
            Err(problem) => errors.push(RecordError {
                record: here,
                problem,
            }),
        }
    }
    let overridden: std::collections::BTreeSet<(String, RecordType)> =
        out.keys().map(|k| (k.name.clone(), k.rtype)).collect();
    let spec_cname_names: std::collections::BTreeSet<&str> = out
        .keys()
        .filter(|k| k.rtype == RecordType::Cname)
        .map(|k| k.name.as_str())
        .collect();
    let spec_names: std::collections::BTreeSet<&str> =
        out.keys().map(|k| k.name.as_str()).collect();
    let mut kept = Vec::new();
    for (k, set) in imported.into_iter() {
        let replaced = overridden.contains(&(k.name.clone(), k.rtype))
            // A CNAME in the spec replaces everything imported at its name, and any record in
            // the spec replaces an imported CNAME at its name (the www CNAME that becomes an
            // alias): the two cannot coexist.
            || spec_cname_names.contains(k.name.as_str())
            || (k.rtype == RecordType::Cname && spec_names.contains(k.name.as_str()));
        if replaced {
            continue;
        }
        match check_set_limits(&set.values) {
            Ok(()) => kept.push((k, set)),
            Err(problem) => errors.push(RecordError {
                record: format!("the source's {} {}", k.name, k.rtype),
                problem,
            }),
        }
    }
    out.extend(kept);
    errors.extend(cname_conflicts(&out, &first_index, records));
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// A CNAME cannot share its name with any other data (RFC 1034 3.6.2); Route 53 refuses it.
fn cname_conflicts(
    sets: &RecordMap,
    index: &BTreeMap<RecordKey, usize>,
    records: &[RecordSpec],
) -> Vec<RecordError> {
    let mut by_name: BTreeMap<&str, Vec<&RecordKey>> = BTreeMap::new();
    for k in sets.keys() {
        by_name.entry(k.name.as_str()).or_default().push(k);
    }
    let mut errors = Vec::new();
    for (name, keys) in by_name {
        let Some(cname) = keys.iter().find(|k| k.rtype == RecordType::Cname) else {
            continue;
        };
        let others: Vec<String> = keys
            .iter()
            .filter(|k| k.rtype != RecordType::Cname)
            .map(|k| k.rtype.to_string())
            .collect();
        if others.is_empty() {
            continue;
        }
        // Name the record from the spec when there is one, else the imported one.
        let spec_key = keys
            .iter()
            .find(|k| index.contains_key(**k))
            .copied()
            .unwrap_or(*cname);
        let record = match index.get(spec_key) {
            Some(&i) => format!("records[{i}] ({} {})", records[i].name, records[i].type_),
            None => format!("the source's {} {}", spec_key.name, spec_key.rtype),
        };
        errors.push(RecordError {
            record,
            problem: format!(
                "a CNAME cannot sit beside other data at {name}, which also has {}",
                others.join(", ")
            ),
        });
    }
    errors
}

/// Validates and normalises one record.
pub(crate) fn record_from_spec(origin: &str, r: &RecordSpec) -> Result<RecordSet, String> {
    let rtype = RecordType::parse(&r.type_).ok_or_else(|| {
        format!(
            "unknown type {:?}; Route 53 serves {}",
            r.type_,
            crate::api::RECORD_TYPES.join(", ")
        )
    })?;
    let name = normalize_name(&r.name, origin)?;
    if rtype == RecordType::Soa {
        return Err("the SOA record belongs to Route 53 and cannot be set".into());
    }
    if name == origin && rtype == RecordType::Ns {
        return Err(
            "the apex NS records are the Route 53 delegation set; zoneshift manages only their TTL (spec.cutover)"
                .into(),
        );
    }
    if name == origin && rtype == RecordType::Cname {
        return Err("a CNAME cannot sit at the zone apex; use an alias record instead".into());
    }

    let routing = routing_from_spec(r)?;
    match (&r.set_identifier, routing.policies_set()) {
        (Some(_), 0) => {
            return Err("setIdentifier needs a routing policy (weight, region, failover, geoLocation or multiValueAnswer)".into())
        }
        (None, n) if n > 0 => return Err("a routing policy needs a setIdentifier".into()),
        (_, n) if n > 1 => return Err("a record set can have only one routing policy".into()),
        _ => {}
    }

    let (ttl, values, alias) = match (&r.alias, r.values.is_empty()) {
        (Some(_), false) => return Err("set either values or alias, not both".into()),
        (None, true) => return Err("a record needs values or an alias".into()),
        (Some(a), true) => (None, Vec::new(), Some(alias_from_spec(r, a)?)),
        (None, false) => {
            let (ttl, values) = values_from_spec(r, rtype)?;
            (Some(ttl), values, None)
        }
    };

    Ok(RecordSet {
        key: RecordKey::new(name, rtype, r.set_identifier.clone()),
        ttl,
        values,
        alias,
        routing,
    })
}

fn alias_from_spec(r: &RecordSpec, a: &crate::api::AliasSpec) -> Result<Alias, String> {
    if r.ttl.is_some() {
        return Err("an alias record has no TTL: Route 53 uses the target's".into());
    }
    let dns_name = normalize_target(&a.dns_name).map_err(|p| format!("alias.dnsName: {p}"))?;
    if a.hosted_zone_id.trim().is_empty() {
        return Err("alias.hostedZoneId is empty".into());
    }
    Ok(Alias {
        dns_name,
        hosted_zone_id: a
            .hosted_zone_id
            .trim()
            .trim_start_matches("/hostedzone/")
            .to_string(),
        evaluate_target_health: a.evaluate_target_health,
    })
}

/// The TTL and the normalised, sorted, distinct values of a record with values.
fn values_from_spec(r: &RecordSpec, rtype: RecordType) -> Result<(u32, Vec<String>), String> {
    let ttl = match r.ttl {
        None => DEFAULT_TTL,
        Some(t) if (0..=MAX_TTL).contains(&t) => t as u32,
        Some(t) => return Err(format!("TTL {t} is out of range 0..={MAX_TTL}")),
    };
    let mut values = Vec::with_capacity(r.values.len());
    for (j, v) in r.values.iter().enumerate() {
        values.push(normalize_value(rtype, v).map_err(|p| format!("values[{j}]: {p}"))?);
    }
    values.sort();
    values.dedup();
    if rtype == RecordType::Cname && values.len() > 1 {
        return Err("a CNAME has exactly one value".into());
    }
    check_set_limits(&values)?;
    Ok((ttl, values))
}

fn routing_from_spec(r: &RecordSpec) -> Result<Routing, String> {
    let weight = match r.weight {
        None => None,
        Some(w) => {
            Some(u8::try_from(w).map_err(|_| format!("weight {w} is out of range 0..=255"))?)
        }
    };
    let failover = match r.failover.as_deref() {
        None => None,
        Some(f) if f.eq_ignore_ascii_case("PRIMARY") => Some(Failover::Primary),
        Some(f) if f.eq_ignore_ascii_case("SECONDARY") => Some(Failover::Secondary),
        Some(f) => return Err(format!("failover {f:?} is neither PRIMARY nor SECONDARY")),
    };
    let geo_location = match &r.geo_location {
        None => None,
        Some(g) => {
            let geo = GeoLocation {
                continent_code: g.continent_code.clone(),
                country_code: g.country_code.clone(),
                subdivision_code: g.subdivision_code.clone(),
            };
            if geo == GeoLocation::default() {
                return Err(
                    "geoLocation needs a continentCode, countryCode or subdivisionCode".into(),
                );
            }
            check_geo(&geo)?;
            Some(geo)
        }
    };
    if let Some(region) = r.region.as_deref().filter(|r| !is_region(r)) {
        return Err(format!(
            "region {region:?} is not an AWS region name such as eu-west-1"
        ));
    }
    if let Some(id) = r.health_check_id.as_deref().filter(|i| !is_uuid(i)) {
        return Err(format!(
            "healthCheckId {id:?} is not a Route 53 health check id (a UUID)"
        ));
    }
    Ok(Routing {
        weight,
        region: r.region.clone(),
        failover,
        geo_location,
        multi_value_answer: r.multi_value_answer,
        health_check_id: r.health_check_id.clone(),
    })
}

/// `eu-west-1`, `us-gov-west-1`, `ap-southeast-3`: lowercase words and a number.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Route 53's geolocation codes: a continent of seven, a two-letter country (or `*`, the
/// default location), a subdivision of one to three letters or digits under a country.
fn check_geo(g: &GeoLocation) -> Result<(), String> {
    const CONTINENTS: [&str; 7] = ["AF", "AN", "AS", "EU", "NA", "OC", "SA"];
    if let Some(c) = g.continent_code.as_deref() {
        if !CONTINENTS.contains(&c) {
            return Err(format!(
                "geoLocation.continentCode {c:?} is not one of {}",
                CONTINENTS.join(", ")
            ));
        }
        if g.country_code.is_some() {
            return Err("geoLocation: give a continentCode or a countryCode, not both".into());
        }
    }
    if let Some(c) = g.country_code.as_deref() {
        if c != "*" && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase())) {
            return Err(format!(
                "geoLocation.countryCode {c:?} is not a two-letter ISO 3166 code (or *)"
            ));
        }
    }
    if let Some(sub) = g.subdivision_code.as_deref() {
        if g.country_code.is_none() {
            return Err("geoLocation.subdivisionCode needs a countryCode".into());
        }
        if sub.is_empty() || sub.len() > 3 || !sub.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "geoLocation.subdivisionCode {sub:?} is not one to three letters or digits"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AliasSpec;

    fn rec(name: &str, t: &str, values: &[&str]) -> RecordSpec {
        RecordSpec {
            name: name.into(),
            type_: t.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn problems(records: &[RecordSpec]) -> Vec<String> {
        desired_from_spec("example.com", records)
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn builds_normalised_sets() {
        let m = desired_from_spec(
            "example.com",
            &[rec("www", "a", &["192.0.2.2", "192.0.2.1", "192.0.2.1"])],
        )
        .unwrap();
        let s = m.values().next().unwrap();
        assert_eq!(s.key.name, "www.example.com.");
        assert_eq!(s.key.rtype, RecordType::A);
        assert_eq!(s.values, vec!["192.0.2.1", "192.0.2.2"]);
        assert_eq!(s.ttl, Some(DEFAULT_TTL));
    }

    #[test]
    fn each_kind_of_bad_record_is_named() {
        let p = problems(&[rec("www", "A", &["not-an-ip"])]);
        assert!(
            p[0].contains("records[0] (www A)") && p[0].contains("not an IPv4"),
            "{p:?}"
        );

        let p = problems(&[
            rec("www", "CNAME", &["a.example.net."]),
            rec("www", "TXT", &["x"]),
        ]);
        assert!(
            p[0].contains("records[0]") && p[0].contains("beside other data"),
            "{p:?}"
        );

        let p = problems(&[rec("www.example.org.", "A", &["192.0.2.1"])]);
        assert!(p[0].contains("outside the zone"), "{p:?}");

        let mut r = rec("www", "A", &["192.0.2.1"]);
        r.ttl = Some(-1);
        assert!(problems(&[r])[0].contains("TTL -1 is out of range"));

        let mut r = rec("@", "A", &[]);
        r.ttl = Some(60);
        r.alias = Some(AliasSpec {
            dns_name: "lb.example.net".into(),
            hosted_zone_id: "Z35SXDOTRQ7X7K".into(),
            evaluate_target_health: false,
        });
        assert!(problems(&[r])[0].contains("alias record has no TTL"));

        assert!(problems(&[rec("www", "A6", &["x"])])[0].contains("unknown type \"A6\""));
        assert!(problems(&[rec("@", "CNAME", &["x.example.net."])])[0].contains("apex"));
        assert!(problems(&[rec("@", "NS", &["ns1.example.net."])])[0].contains("delegation set"));
        assert!(
            problems(&[rec("x", "A", &["192.0.2.1"]), rec("X", "A", &["192.0.2.2"])])[0]
                .contains("duplicates records[0]")
        );
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let p = problems(&[
            rec("a", "A", &["x"]),
            rec("b", "A", &["192.0.2.1"]),
            rec("c", "MX", &["mail"]),
        ]);
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn routing_policies_need_a_set_identifier() {
        let mut r = rec("www", "A", &["192.0.2.1"]);
        r.weight = Some(10);
        assert!(problems(&[r.clone()])[0].contains("needs a setIdentifier"));
        r.set_identifier = Some("blue".into());
        assert!(desired_from_spec("example.com", &[r.clone()]).is_ok());
        r.region = Some("eu-west-1".into());
        assert!(problems(&[r])[0].contains("only one routing policy"));
    }
}
