//! Notices a sync that writes on every pass although the desired records did not change: a
//! Route 53 (or an endpoint in front of it) that stores or lists something other than what was
//! written, so the diff never comes out empty and every resync spends the request budget.
//!
//! The rule: a full pass that submitted changes without error, whose desired set is the one of
//! the previous full pass of the same resource, and which wrote again a record set that pass
//! wrote, is a repeated write. A first write, writes after the desired set changed, and the
//! rest of a sync cut short by an error are not. The memory is per process: a restart starts
//! counting afresh, so the first repeated write after a restart is noticed one pass later.

use super::events::{self, Action as EventAction};
use super::Context;
use crate::api::{HostedZoneMigration, Reason};
use crate::zone::RecordMap;
use kube::ResourceExt;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

/// What the last full pass of one resource wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// A digest of the desired set the pass wrote towards.
    pub desired: u64,
    /// The record sets it wrote, as `name type [setIdentifier]`.
    pub keys: BTreeSet<String>,
}

impl Written {
    pub fn new(desired: &RecordMap, keys: impl IntoIterator<Item = String>) -> Self {
        let mut h = DefaultHasher::new();
        // The whole desired set, values and routing included (`RecordSet`'s `Hash` covers every
        // field), hashed in place: no text of the set is built, which at 50,000 record sets
        // was a string of megabytes per pass.
        desired.len().hash(&mut h);
        for set in desired.values() {
            set.hash(&mut h);
        }
        Written {
            desired: h.finish(),
            keys: keys.into_iter().collect(),
        }
    }
}

/// The last write of each resource (by uid).
#[derive(Default)]
pub struct Rewrites(Mutex<HashMap<String, Written>>);

impl Rewrites {
    /// Records a full pass: `Some` when it wrote without error, `None` when it reached the diff
    /// and wrote nothing (or was cut short). Returns the record sets written again, when this
    /// pass repeats the last one's writes with the same desired set.
    pub fn pass(&self, uid: &str, wrote: Option<Written>) -> Vec<String> {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(now) = wrote else {
            last.remove(uid);
            return Vec::new();
        };
        let again = match last.get(uid) {
            Some(before) if before.desired == now.desired => {
                before.keys.intersection(&now.keys).cloned().collect()
            }
            _ => Vec::new(),
        };
        last.insert(uid.to_string(), now);
        again
    }

    pub fn forget(&self, uid: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(uid);
    }
}

/// After a full pass that reached the diff: counts and tells a repeated write.
pub(super) async fn after_pass(ctx: &Context, obj: &HostedZoneMigration, wrote: Option<Written>) {
    let Some(uid) = obj.uid() else { return };
    let again = ctx.rewrites.pass(&uid, wrote);
    if again.is_empty() {
        return;
    }
    let namespace = obj.namespace().unwrap_or_default();
    ctx.metrics.count_rewrite(&namespace, &obj.name_any());
    let shown: Vec<&str> = again.iter().take(5).map(String::as_str).collect();
    let more = match again.len() {
        n if n > 5 => format!(" and {} more", n - 5),
        _ => String::new(),
    };
    let note = format!(
        "This sync wrote {} record set(s) that the previous sync already wrote, with the desired records unchanged: {}{more}. Route 53 (or the endpoint in front of it, --route53-endpoint) lists something other than what was written, so every resync writes again. Compare `aws route53 list-resource-record-sets` with the spec.",
        again.len(),
        shown.join(", ")
    );
    tracing::warn!(
        namespace = %namespace,
        name = %obj.name_any(),
        rewritten = again.len(),
        "a sync wrote again what the previous sync wrote, the desired records unchanged"
    );
    events::warn(
        ctx,
        obj,
        Reason::WritesEveryResync,
        EventAction::ApplyChanges,
        note,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(desired: u64, keys: &[&str]) -> Option<Written> {
        Some(Written {
            desired,
            keys: keys.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn only_the_same_write_towards_the_same_desired_set_counts() {
        let r = Rewrites::default();
        assert!(
            r.pass("u", w(1, &["a A", "b A"])).is_empty(),
            "a first write"
        );
        assert_eq!(r.pass("u", w(1, &["b A", "c A"])), vec!["b A".to_string()]);
        assert!(
            r.pass("u", w(2, &["b A"])).is_empty(),
            "the desired set changed"
        );
        assert!(r.pass("u", None).is_empty(), "a pass that wrote nothing");
        assert!(r.pass("u", w(2, &["b A"])).is_empty(), "not consecutive");
        assert!(r.pass("v", w(2, &["b A"])).is_empty(), "another resource");
        assert_eq!(r.pass("u", w(2, &["b A"])), vec!["b A".to_string()]);
    }
}
