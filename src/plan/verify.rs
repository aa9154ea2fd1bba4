//! Shadow verification, the pure half: which names and types to ask the old provider about,
//! and how its answers compare with what Route 53 holds. The DNS adapter gathers the answers.

use crate::zone::{is_apex_protected, RecordKey, RecordMap, RecordType};
use std::collections::BTreeMap;

/// What the source serves for one name and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceView {
    /// Values in canonical form, sorted, and the TTL.
    Records { ttl: u32, values: Vec<String> },
    /// NXDOMAIN or NODATA.
    Nothing,
    /// The source could not be asked (every server failed); the reason.
    Unanswered(String),
}

/// The outcome of a comparison.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Names and types compared.
    pub checked: usize,
    /// Names and types whose values agree.
    pub matched: usize,
    /// Value differences, as sentences; they block the cutover.
    pub mismatches: Vec<String>,
    /// TTL-only differences, as sentences; reported, not blocking.
    pub ttl_differences: Vec<String>,
    /// Names and types the source did not answer for.
    pub unanswered: Vec<String>,
    /// Desired sets that a single DNS answer cannot prove (alias, routing policies).
    pub not_comparable: usize,
    /// Those sets, as (name, type).
    pub not_comparable_sets: Vec<(String, RecordType)>,
}

impl Comparison {
    pub fn verified(&self) -> bool {
        self.mismatches.is_empty() && self.unanswered.is_empty()
    }
}

/// The (name, type) pairs worth asking the source about.
pub fn questions(desired: &RecordMap, origin: &str) -> Vec<(String, RecordType)> {
    let mut q: Vec<(String, RecordType)> = desired
        .values()
        .filter(|s| !is_apex_protected(&s.key, origin) && comparable(&s.key, s.alias.is_some()))
        .map(|s| (s.key.name.clone(), s.key.rtype))
        .collect();
    q.dedup();
    q
}

fn comparable(key: &RecordKey, alias: bool) -> bool {
    !alias && key.set_identifier.is_none()
}

/// Compares what Route 53 holds (`shadow`, as read from its API) with the source's answers,
/// for every desired set.
pub fn compare(
    origin: &str,
    desired: &RecordMap,
    shadow: &RecordMap,
    source: &BTreeMap<(String, RecordType), SourceView>,
) -> Comparison {
    let mut c = Comparison::default();
    for set in desired.values() {
        let key = &set.key;
        if is_apex_protected(key, origin) {
            continue;
        }
        if !comparable(key, set.alias.is_some()) {
            c.not_comparable += 1;
            c.not_comparable_sets.push((key.name.clone(), key.rtype));
            continue;
        }
        c.checked += 1;
        let what = format!("{} {}", key.name, key.rtype);
        let held = shadow.get(key);
        match source.get(&(key.name.clone(), key.rtype)) {
            None | Some(SourceView::Unanswered(_)) => {
                let why = match source.get(&(key.name.clone(), key.rtype)) {
                    Some(SourceView::Unanswered(why)) => why.clone(),
                    _ => "not asked".into(),
                };
                c.unanswered
                    .push(format!("{what}: the source did not answer ({why})"));
            }
            Some(SourceView::Nothing) => match held {
                Some(h) => c.mismatches.push(format!(
                    "{what}: source has nothing, Route 53 has {}",
                    h.values.join(", ")
                )),
                None => c.matched += 1,
            },
            Some(SourceView::Records { ttl, values }) => match held {
                None => c.mismatches.push(format!(
                    "{what}: source has {}, Route 53 has nothing",
                    values.join(", ")
                )),
                Some(h) if &h.values != values => c.mismatches.push(format!(
                    "{what}: source has {}, Route 53 has {}",
                    values.join(", "),
                    h.values.join(", ")
                )),
                Some(h) => {
                    c.matched += 1;
                    if h.ttl != Some(*ttl) {
                        c.ttl_differences.push(format!(
                            "{what}: TTL {ttl} at the source, {} in Route 53",
                            h.ttl.map_or("none".to_string(), |t| t.to_string())
                        ));
                    }
                }
            },
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{RecordSet, Routing};

    fn set(name: &str, t: RecordType, ttl: u32, values: &[&str]) -> RecordSet {
        RecordSet {
            key: RecordKey::new(name, t, None),
            ttl: Some(ttl),
            values: values.iter().map(|s| s.to_string()).collect(),
            alias: None,
            routing: Routing::default(),
        }
    }

    #[test]
    fn matches_value_and_ttl_differences() {
        let o = "example.com.";
        let www = set("www.example.com.", RecordType::A, 300, &["192.0.2.1"]);
        let api = set("api.example.com.", RecordType::A, 300, &["192.0.2.2"]);
        let mx = set(
            "example.com.",
            RecordType::Mx,
            300,
            &["10 mail.example.net."],
        );
        let desired: RecordMap = [&www, &api, &mx]
            .iter()
            .map(|s| (s.key.clone(), (*s).clone()))
            .collect();
        let mut shadow = desired.clone();
        shadow.get_mut(&api.key).unwrap().values = vec!["192.0.2.9".into()];
        shadow.remove(&mx.key);
        let source: BTreeMap<_, _> = [
            (
                ("www.example.com.".to_string(), RecordType::A),
                SourceView::Records {
                    ttl: 60,
                    values: vec!["192.0.2.1".into()],
                },
            ),
            (
                ("api.example.com.".to_string(), RecordType::A),
                SourceView::Records {
                    ttl: 300,
                    values: vec!["192.0.2.2".into()],
                },
            ),
            (
                ("example.com.".to_string(), RecordType::Mx),
                SourceView::Records {
                    ttl: 300,
                    values: vec!["10 mail.example.net.".into()],
                },
            ),
        ]
        .into_iter()
        .collect();
        let c = compare(o, &desired, &shadow, &source);
        assert_eq!((c.checked, c.matched), (3, 1));
        assert!(
            c.mismatches.contains(
                &"api.example.com. A: source has 192.0.2.2, Route 53 has 192.0.2.9".to_string()
            ),
            "{:?}",
            c.mismatches
        );
        assert!(c.mismatches.contains(
            &"example.com. MX: source has 10 mail.example.net., Route 53 has nothing".to_string()
        ));
        assert_eq!(
            c.ttl_differences,
            vec!["www.example.com. A: TTL 60 at the source, 300 in Route 53".to_string()]
        );
        assert!(!c.verified());
    }

    #[test]
    fn an_unanswered_source_is_not_a_mismatch() {
        let www = set("www.example.com.", RecordType::A, 300, &["192.0.2.1"]);
        let desired: RecordMap = [(www.key.clone(), www.clone())].into_iter().collect();
        let source: BTreeMap<_, _> = [(
            ("www.example.com.".to_string(), RecordType::A),
            SourceView::Unanswered("127.0.0.1:53: timed out".into()),
        )]
        .into_iter()
        .collect();
        let c = compare("example.com.", &desired, &desired, &source);
        assert!(c.mismatches.is_empty());
        assert_eq!(c.unanswered.len(), 1);
        assert!(!c.verified());
    }
}
