//! When a resync may trust the last full comparison of the zone instead of listing it again.
//!
//! zoneshift is the only writer of the records it manages, so once a listing has found Route 53
//! equal to the desired records, Route 53 can only differ from them again if the desired records
//! change (a new digest) or someone edits the zone by hand. The first is seen without any call;
//! the second is what the full comparison every `--full-compare-interval` is for.

use super::time;
use crate::api::{ConditionType, FullComparison, HostedZoneMigrationStatus};
use crate::zone::{RecordMap, SyncMode};
use jiff::Timestamp;
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// A digest of what a comparison compares the zone with. `generation` makes any edit of the
/// spec (a role, an adopted zone id, a policy) call for a new listing, even where the desired
/// records stay the same. The hasher is the standard library's: a different build may digest
/// differently, which costs one extra comparison after an upgrade and nothing else.
pub fn digest(
    desired: &RecordMap,
    mode: SyncMode,
    keep_current: bool,
    generation: Option<i64>,
) -> String {
    let mut h = std::hash::DefaultHasher::new();
    (mode == SyncMode::Sync).hash(&mut h);
    keep_current.hash(&mut h);
    generation.hash(&mut h);
    desired.len().hash(&mut h);
    for set in desired.values() {
        set.hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// True when this pass must list the zone: no comparison with this digest found the zone in
/// sync within `interval`, or the last pass left something unsettled.
pub fn listing_needed(
    prev: &HostedZoneMigrationStatus,
    digest: &str,
    now: Timestamp,
    interval: Duration,
) -> bool {
    let Some(last) = &prev.last_full_comparison else {
        return true;
    };
    let unsettled = prev.hosted_zone_id.is_none()
        || !prev.is_true(ConditionType::RecordsSynced)
        || prev
            .last_change
            .as_ref()
            .is_some_and(|c| c.state != "INSYNC")
        || prev.records.as_ref().is_none_or(|r| r.pending != 0);
    if unsettled || last.desired_digest != digest {
        return true;
    }
    let Some(at) = time::parse(&Some(last.at.clone())) else {
        return true;
    };
    let age = now.duration_since(at);
    // A comparison stamped in the future (a clock set back) is not trusted.
    age.is_negative() || age.unsigned_abs() >= interval
}

/// The comparison to record after a pass that listed the zone: this one when it found the zone
/// settled and equal to the desired records, none otherwise.
pub fn after_listing(settled: bool, digest: String, now: Timestamp) -> Option<FullComparison> {
    settled.then(|| FullComparison {
        at: time::stamp(now),
        desired_digest: digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ChangeInfo, Reason, RecordCounts};
    use crate::plan::set_condition;
    use crate::zone::{RecordKey, RecordSet, RecordType, Routing};

    fn set(name: &str, value: &str) -> (RecordKey, RecordSet) {
        let key = RecordKey::new(name, RecordType::A, None);
        let s = RecordSet {
            key: key.clone(),
            ttl: Some(300),
            values: vec![value.into()],
            alias: None,
            routing: Routing::default(),
        };
        (key, s)
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A status as a pass that found the zone in sync at 12:00 leaves it.
    fn in_sync(digest: &str) -> HostedZoneMigrationStatus {
        let now = t("2026-01-01T12:00:00Z");
        let mut s = HostedZoneMigrationStatus {
            hosted_zone_id: Some("Z1".into()),
            records: Some(RecordCounts {
                desired: 1,
                in_sync: 1,
                pending: 0,
            }),
            last_change: Some(ChangeInfo {
                id: "C1".into(),
                state: "INSYNC".into(),
                ..Default::default()
            }),
            last_full_comparison: after_listing(true, digest.into(), now),
            ..Default::default()
        };
        let (c, r) = (ConditionType::RecordsSynced, Reason::InSync);
        set_condition(&mut s.conditions, c, true, r, "in sync", Some(1), now);
        s
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_digest_follows_records_mode_and_generation() {
        let a: RecordMap = [set("a.example.com.", "192.0.2.1")].into();
        let b: RecordMap = [set("a.example.com.", "192.0.2.2")].into();
        let d = digest(&a, SyncMode::Sync, false, Some(1));
        assert_eq!(d, digest(&a.clone(), SyncMode::Sync, false, Some(1)));
        assert_ne!(d, digest(&b, SyncMode::Sync, false, Some(1)));
        assert_ne!(d, digest(&a, SyncMode::UpsertOnly, false, Some(1)));
        assert_ne!(d, digest(&a, SyncMode::Sync, true, Some(1)));
        assert_ne!(d, digest(&a, SyncMode::Sync, false, Some(2)));
        assert_ne!(d, digest(&RecordMap::new(), SyncMode::Sync, false, Some(1)));
    }

    #[test]
    fn a_recent_comparison_of_the_same_records_is_trusted_until_the_interval() {
        let s = in_sync("d1");
        assert!(!listing_needed(&s, "d1", t("2026-01-01T12:10:00Z"), HOUR));
        assert!(!listing_needed(&s, "d1", t("2026-01-01T12:59:59Z"), HOUR));
        assert!(listing_needed(&s, "d1", t("2026-01-01T13:00:00Z"), HOUR));
        // Other desired records, or a clock set back before the comparison.
        assert!(listing_needed(&s, "d2", t("2026-01-01T12:10:00Z"), HOUR));
        assert!(listing_needed(&s, "d1", t("2026-01-01T11:59:00Z"), HOUR));
        // An interval of zero lists on every pass.
        assert!(listing_needed(
            &s,
            "d1",
            t("2026-01-01T12:00:00Z"),
            Duration::ZERO
        ));
    }

    #[test]
    fn anything_unsettled_lists_again() {
        let now = t("2026-01-01T12:10:00Z");
        let mut s = in_sync("d1");
        s.last_change.as_mut().unwrap().state = "PENDING".into();
        assert!(listing_needed(&s, "d1", now, HOUR));
        let mut s = in_sync("d1");
        s.records.as_mut().unwrap().pending = 3;
        assert!(listing_needed(&s, "d1", now, HOUR));
        let mut s = in_sync("d1");
        let (c, r) = (ConditionType::RecordsSynced, Reason::Route53Error);
        set_condition(&mut s.conditions, c, false, r, "failed", Some(1), now);
        assert!(listing_needed(&s, "d1", now, HOUR));
        let mut s = in_sync("d1");
        s.hosted_zone_id = None;
        assert!(listing_needed(&s, "d1", now, HOUR));
        let mut s = in_sync("d1");
        s.last_full_comparison = None;
        assert!(listing_needed(&s, "d1", now, HOUR));
    }

    #[test]
    fn only_a_settled_listing_is_recorded() {
        let now = t("2026-01-01T12:00:00.700Z");
        let c = after_listing(true, "d1".into(), now).unwrap();
        // Stamped down: the comparison never looks younger than it is.
        assert_eq!(c.at, "2026-01-01T12:00:00Z");
        assert!(after_listing(false, "d1".into(), now).is_none());
    }
}
