//! What a resource's last DNS observations found, kept in memory so that looks whose inputs
//! did not change do not ask every record set again. Lost on a restart: the first look after
//! it asks everything.

use crate::plan::verify::Comparison;
use crate::zone::RecordMap;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

/// The SOA every address of the old provider served when the soak last asked each of them
/// every record set, per resource (by uid). While each still serves that SOA the zone there
/// has not changed, so the soak asks every record set again only after
/// `--full-compare-interval` (an edit made without a new serial is found then): one query per address per look
/// instead of one per record set per address. In memory only: after a restart, or a look
/// that could not read every SOA, every record set is asked again.
#[derive(Default)]
pub struct SoakMemo(Mutex<HashMap<String, Vec<(String, String)>>>);

impl SoakMemo {
    pub(super) fn get(&self, uid: &str) -> Option<Vec<(String, String)>> {
        let memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        memo.get(uid).cloned()
    }

    pub(super) fn remember(&self, uid: &str, soa: Option<Vec<(String, String)>>) {
        let mut memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match soa {
            Some(soa) => memo.insert(uid.to_string(), soa),
            None => memo.remove(uid),
        };
    }

    /// Forgets a resource (deleted).
    pub fn forget(&self, uid: &str) {
        let mut memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        memo.remove(uid);
    }
}

/// The key of a verification: the serial of the import (the zone at the old provider), the
/// servers asked, the record sets compared and Route 53's as listed. `None` without a serial
/// (a zone file, a provider's API): such a source is asked every time.
pub(super) fn verify_key(
    serial: Option<u32>,
    servers: &[String],
    compared: &RecordMap,
    route53: &RecordMap,
) -> Option<u64> {
    let serial = serial?;
    let mut h = std::hash::DefaultHasher::new();
    serial.hash(&mut h);
    servers.hash(&mut h);
    for map in [compared, route53] {
        map.len().hash(&mut h);
        for set in map.values() {
            set.hash(&mut h);
        }
    }
    Some(h.finish())
}

/// The last verification of each resource (by uid) before the switch, with its key
/// ([`verify_key`]). A full pass whose import brought the same serial, with the same record
/// sets on both sides, takes that comparison instead of asking every record set again, for
/// `--full-compare-interval` at most: the old provider's zone and Route 53's are what they
/// were, so its answers are too. Queries per full pass then follow changes (a new serial, a
/// change in Route 53), not the size of the zone.
#[derive(Default)]
pub struct VerifyMemo(Mutex<HashMap<String, (u64, jiff::Timestamp, Comparison)>>);

impl VerifyMemo {
    pub(super) fn get(
        &self,
        uid: &str,
        key: Option<u64>,
        now: jiff::Timestamp,
        max_age: Duration,
    ) -> Option<Comparison> {
        let key = key?;
        let memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (k, at, c) = memo.get(uid)?;
        let age = now.duration_since(*at);
        let fresh = !age.is_negative() && age.unsigned_abs() < max_age;
        (*k == key && fresh).then(|| c.clone())
    }

    pub(super) fn remember(
        &self,
        uid: &str,
        key: Option<u64>,
        now: jiff::Timestamp,
        c: &Comparison,
    ) {
        let mut memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match key {
            // Only a comparison worth standing for another pass: a failure is asked again.
            Some(k) if c.unanswered.is_empty() => memo.insert(uid.to_string(), (k, now, c.clone())),
            _ => memo.remove(uid),
        };
    }

    /// Forgets a resource (deleted).
    pub fn forget(&self, uid: &str) {
        let mut memo = self.0.lock().unwrap_or_else(|p| p.into_inner());
        memo.remove(uid);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_verification_stands_only_for_the_same_inputs_and_not_for_ever() {
        let memo = VerifyMemo::default();
        let t0: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let hour = Duration::from_secs(3600);
        let empty = RecordMap::new();
        let servers = vec!["192.0.2.53:53".to_string()];
        let key = verify_key(Some(7), &servers, &empty, &empty);
        let c = Comparison {
            checked: 3,
            matched: 3,
            ..Default::default()
        };
        memo.remember("u", key, t0, &c);
        assert_eq!(memo.get("u", key, t0, hour), Some(c.clone()));
        let later = t0 + jiff::SignedDuration::from_secs(1800);
        assert_eq!(memo.get("u", key, later, hour), Some(c.clone()));
        let new_serial = verify_key(Some(8), &servers, &empty, &empty);
        assert_eq!(memo.get("u", new_serial, later, hour), None);
        let too_late = t0 + jiff::SignedDuration::from_secs(3600);
        assert_eq!(memo.get("u", key, too_late, hour), None);
        // No serial (a zone file): never remembered.
        assert_eq!(verify_key(None, &servers, &empty, &empty), None);
        // A comparison with unanswered questions is asked again next time.
        let failed = Comparison {
            unanswered: vec!["www A: timed out".into()],
            ..c
        };
        memo.remember("u", key, t0, &failed);
        assert_eq!(memo.get("u", key, t0, hour), None);
    }
}
