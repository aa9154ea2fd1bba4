//! The minimal set of changes that makes the current record sets equal to the desired ones.

use super::{is_apex_protected, RecordKey, RecordMap, RecordSet, SyncMode};

/// One indivisible step of a sync. A `Replace` is a delete and a create of the same key that
/// must land in the same change batch, so the name never goes missing in between. It borrows
/// the record sets of the desired set and of the listed zone: a first sync of 50,000 record
/// sets plans 50,000 creates without a copy of any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeUnit<'a> {
    /// The key is absent from the zone.
    Create(&'a RecordSet),
    /// The key exists with other values or TTL; an UPSERT replaces it.
    Update {
        current: &'a RecordSet,
        desired: &'a RecordSet,
    },
    /// The key exists with another routing policy, which an UPSERT cannot change.
    Replace {
        current: &'a RecordSet,
        desired: &'a RecordSet,
    },
    /// The key is in the zone but not desired (only in `Sync` mode).
    Delete(&'a RecordSet),
}

impl<'a> ChangeUnit<'a> {
    pub fn key(&self) -> &'a RecordKey {
        match self {
            ChangeUnit::Create(s) | ChangeUnit::Delete(s) => &s.key,
            ChangeUnit::Update { desired, .. } | ChangeUnit::Replace { desired, .. } => {
                &desired.key
            }
        }
    }

    /// Order of application: deletes first (a CNAME may replace an A being deleted), then
    /// replacements, then updates and creates.
    fn rank(&self) -> u8 {
        match self {
            ChangeUnit::Delete(_) => 0,
            ChangeUnit::Replace { .. } => 1,
            ChangeUnit::Update { .. } => 2,
            ChangeUnit::Create(_) => 3,
        }
    }
}

/// The result of comparing desired with current.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff<'a> {
    /// Changes in the order they must be applied.
    pub changes: Vec<ChangeUnit<'a>>,
    /// Desired sets that the zone already holds as desired.
    pub in_sync: usize,
    /// Record sets in the zone that zoneshift may manage (the apex SOA and NS excluded).
    pub current_count: usize,
}

impl<'a> Diff<'a> {
    pub fn deletes(&self) -> impl Iterator<Item = &'a RecordSet> + '_ {
        self.changes.iter().filter_map(|c| match c {
            ChangeUnit::Delete(s) => Some(*s),
            _ => None,
        })
    }
}

/// Compares `desired` with `current` (both normalised). The apex SOA and NS are never
/// touched; in `UpsertOnly` mode nothing is deleted.
pub fn diff<'a>(
    desired: &'a RecordMap,
    current: &'a RecordMap,
    origin: &str,
    mode: SyncMode,
) -> Diff<'a> {
    let mut changes = Vec::new();
    let mut in_sync = 0;
    for (key, want) in desired {
        if is_apex_protected(key, origin) {
            continue;
        }
        match current.get(key) {
            None => changes.push(ChangeUnit::Create(want)),
            Some(have) if have == want => in_sync += 1,
            Some(have) if have.routing.kind() != want.routing.kind() => {
                changes.push(ChangeUnit::Replace {
                    current: have,
                    desired: want,
                })
            }
            Some(have) => changes.push(ChangeUnit::Update {
                current: have,
                desired: want,
            }),
        }
    }
    let mut current_count = 0;
    for (key, have) in current {
        if is_apex_protected(key, origin) {
            continue;
        }
        current_count += 1;
        if mode == SyncMode::Sync && !desired.contains_key(key) {
            changes.push(ChangeUnit::Delete(have));
        }
    }
    changes.sort_by(|a, b| a.rank().cmp(&b.rank()).then_with(|| a.key().cmp(b.key())));
    Diff {
        changes,
        in_sync,
        current_count,
    }
}

/// The `maxDeletePercent` guard: a sync that would delete more than that share of the zone's
/// record sets stops before changing anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteGuard {
    pub deletes: usize,
    pub current: usize,
    pub max_percent: i64,
    /// The first keys that would be deleted, for the condition message.
    pub examples: Vec<String>,
}

impl DeleteGuard {
    /// `Some` when `diff` deletes more than `max_percent` of the current record sets.
    pub fn check(diff: &Diff, max_percent: i64) -> Option<DeleteGuard> {
        let deletes = diff.deletes().count();
        if deletes == 0 {
            return None;
        }
        // deletes / current > max / 100, in integers.
        let over =
            (deletes as u128) * 100 > (max_percent.max(0) as u128) * (diff.current_count as u128);
        over.then(|| DeleteGuard {
            deletes,
            current: diff.current_count,
            max_percent,
            examples: diff.deletes().take(10).map(|s| s.key.to_string()).collect(),
        })
    }

    pub fn message(&self) -> String {
        let more = self.deletes.saturating_sub(self.examples.len());
        let mut m = format!(
            "This sync would delete {} of the zone's {} record sets ({}%), more than policy.maxDeletePercent={}; nothing was changed. It would delete: {}",
            self.deletes,
            self.current,
            self.deletes * 100 / self.current.max(1),
            self.max_percent,
            self.examples.join(", ")
        );
        if more > 0 {
            m.push_str(&format!(" and {more} more"));
        }
        m.push_str(". If this is intended, raise policy.maxDeletePercent; otherwise add the missing records or use policy.mode UpsertOnly.");
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{RecordType, Routing};

    fn set(name: &str, t: RecordType, v: &str) -> RecordSet {
        RecordSet {
            key: RecordKey::new(format!("{name}.example.com."), t, None),
            ttl: Some(300),
            values: vec![v.into()],
            alias: None,
            routing: Routing::default(),
        }
    }

    fn map(sets: &[RecordSet]) -> RecordMap {
        sets.iter().map(|s| (s.key.clone(), s.clone())).collect()
    }

    #[test]
    fn minimal_changes_in_order() {
        let o = "example.com.";
        let desired = map(&[
            set("a", RecordType::A, "192.0.2.1"),
            set("b", RecordType::A, "192.0.2.2"),
            set("c", RecordType::A, "192.0.2.3"),
        ]);
        let mut apex_ns = set("x", RecordType::Ns, "ns.example.net.");
        apex_ns.key.name = o.into();
        let current = map(&[
            set("a", RecordType::A, "192.0.2.1"),
            set("b", RecordType::A, "192.0.2.9"),
            set("d", RecordType::A, "192.0.2.4"),
            apex_ns,
        ]);
        let d = diff(&desired, &current, o, SyncMode::Sync);
        assert_eq!(d.in_sync, 1);
        assert_eq!(d.current_count, 3);
        let kinds: Vec<_> = d
            .changes
            .iter()
            .map(|c| (c.rank(), c.key().name.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, "d.example.com.".into()),
                (2, "b.example.com.".into()),
                (3, "c.example.com.".into())
            ]
        );

        let d = diff(&desired, &current, o, SyncMode::UpsertOnly);
        assert_eq!(d.deletes().count(), 0);
    }

    #[test]
    fn routing_kind_change_is_a_replace() {
        let o = "example.com.";
        let mut want = set("a", RecordType::A, "192.0.2.1");
        want.key.set_identifier = Some("x".into());
        want.routing.weight = Some(1);
        let mut have = want.clone();
        have.routing = Routing {
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let (want, have) = (map(&[want]), map(&[have]));
        let d = diff(&want, &have, o, SyncMode::Sync);
        assert!(matches!(d.changes[0], ChangeUnit::Replace { .. }));
    }

    #[test]
    fn delete_guard() {
        let o = "example.com.";
        let current = map(&[
            set("a", RecordType::A, "192.0.2.1"),
            set("b", RecordType::A, "192.0.2.1"),
            set("c", RecordType::A, "192.0.2.1"),
            set("d", RecordType::A, "192.0.2.1"),
        ]);
        let desired = map(&[
            set("a", RecordType::A, "192.0.2.1"),
            set("b", RecordType::A, "192.0.2.1"),
            set("c", RecordType::A, "192.0.2.1"),
        ]);
        let d = diff(&desired, &current, o, SyncMode::Sync);
        assert!(
            DeleteGuard::check(&d, 25).is_none(),
            "1 of 4 is 25%, allowed"
        );
        let only_a = map(&[set("a", RecordType::A, "192.0.2.1")]);
        let d = diff(&only_a, &current, o, SyncMode::Sync);
        let g = DeleteGuard::check(&d, 25).unwrap();
        assert_eq!(g.deletes, 3);
        assert!(g.message().contains("delete 3 of the zone's 4 record sets"));
        assert!(g.message().contains("b.example.com. A"));
    }
}
