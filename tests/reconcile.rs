//! Reconcile tests: the real `reconcile` against a stateful fake Kubernetes API
//! (kube-fake-client: status subresource, server-side apply, generation, finalizers) and the
//! real Route 53 stand-in (moto_server). The fake has no watch, so each test calls
//! `reconcile` the way the controller would after each change.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::world::*;
use kube::ResourceExt;
use zoneshift::api::*;
use zoneshift::controller::FINALIZER;
use zoneshift::route53::caller_reference;
use zoneshift::zone::{self, normalize_origin};

#[tokio::test]
async fn creates_the_zone_syncs_records_and_reports_it() {
    let domain = common::unique_domain("rc-create");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![
            rec("www", "A", &["192.0.2.1"]),
            rec("@", "MX", &["10 mail.example.net."]),
            rec("@", "TXT", &["v=spf1 -all"]),
        ],
    )])
    .await;
    let m = w.settle("m").await;
    assert!(m.finalizers().iter().any(|f| f == FINALIZER));
    let s = m.status.as_ref().expect("status");
    assert_eq!(s.phase, Some(Phase::Syncing));
    assert_eq!(s.observed_generation, m.metadata.generation);
    assert_eq!(s.nameservers.len(), 4);
    assert_eq!(
        s.records,
        Some(RecordCounts {
            desired: 3,
            in_sync: 3,
            pending: 0
        })
    );
    for t in ["ZoneReady", "RecordsSynced", "Ready"] {
        assert_eq!(cond(&m, t).status, "True", "{t}: {:?}", cond(&m, t));
        assert_eq!(cond(&m, t).observed_generation, m.metadata.generation);
    }
    assert_eq!(
        s.last_change.as_ref().map(|c| c.state.as_str()),
        Some("INSYNC")
    );
    assert_eq!(w.records(&zone_id(&m), &domain).await.len(), 3);
    let reasons = w.event_reasons().await;
    assert!(reasons.contains(&"ZoneCreated".to_string()), "{reasons:?}");
    assert!(
        reasons.contains(&"ChangesApplied".to_string()),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn a_rerun_changes_nothing() {
    let domain = common::unique_domain("rc-idem");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![rec("www", "A", &["192.0.2.1"])],
    )])
    .await;
    let m1 = w.settle("m").await;
    let writes = w.r53.stats.writes();
    w.reconcile("m").await.expect("reconcile");
    let m2 = w.get("m").await;
    assert_eq!(
        w.r53.stats.writes(),
        writes,
        "no Route 53 write on an unchanged re-run"
    );
    assert_eq!(m1.status, m2.status);
    assert_eq!(
        m1.resource_version(),
        m2.resource_version(),
        "no status write either"
    );
}

#[tokio::test]
async fn spec_changes_update_and_prune() {
    let domain = common::unique_domain("rc-update");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![
            rec("a", "A", &["192.0.2.1"]),
            rec("b", "A", &["192.0.2.2"]),
            rec("c", "A", &["192.0.2.3"]),
            rec("d", "A", &["192.0.2.4"]),
        ],
    )])
    .await;
    let m = w.settle("m").await;
    w.patch_spec(
        "m",
        serde_json::json!({ "records": [
            {"name": "a", "type": "A", "values": ["192.0.2.9"]},
            {"name": "b", "type": "A", "values": ["192.0.2.2"]},
            {"name": "c", "type": "A", "values": ["192.0.2.3"]},
            {"name": "e", "type": "AAAA", "values": ["2001:db8::5"]},
        ]}),
    )
    .await;
    w.reconcile("m").await.expect("reconcile");
    let m2 = w.get("m").await;
    assert!(m2.metadata.generation > m.metadata.generation);
    assert_eq!(
        m2.status.as_ref().and_then(|s| s.observed_generation),
        m2.metadata.generation
    );
    assert_eq!(
        cond(&m2, "RecordsSynced").observed_generation,
        m2.metadata.generation
    );
    let names: Vec<String> = w
        .records(&zone_id(&m2), &domain)
        .await
        .values()
        .map(|s| format!("{} {}", s.key, s.values.join(",")))
        .collect();
    let origin = normalize_origin(&domain).expect("origin");
    assert_eq!(
        names,
        vec![
            format!("a.{origin} A 192.0.2.9"),
            format!("b.{origin} A 192.0.2.2"),
            format!("c.{origin} A 192.0.2.3"),
            format!("e.{origin} AAAA 2001:db8::5"),
        ]
    );
}

#[tokio::test]
async fn upsert_only_never_deletes() {
    let domain = common::unique_domain("rc-upsert");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![rec("a", "A", &["192.0.2.1"]), rec("b", "A", &["192.0.2.2"])],
    )])
    .await;
    let m = w.settle("m").await;
    w.patch_spec(
        "m",
        serde_json::json!({ "policy": {"mode": "UpsertOnly"}, "records": [
            {"name": "a", "type": "A", "values": ["192.0.2.7"]},
        ]}),
    )
    .await;
    w.reconcile("m").await.expect("reconcile");
    let recs = w.records(&zone_id(&m), &domain).await;
    assert_eq!(recs.len(), 2, "b stays in UpsertOnly mode");
    assert!(recs
        .values()
        .any(|s| s.values == vec!["192.0.2.7".to_string()]));
    assert_eq!(cond(&w.get("m").await, "Ready").status, "True");
}

#[tokio::test]
async fn the_delete_threshold_stops_and_changes_nothing() {
    let domain = common::unique_domain("rc-threshold");
    let w = World::new(vec![migration(
        "m",
        &domain,
        (0..4)
            .map(|i| rec(&format!("h{i}"), "A", &["192.0.2.1"]))
            .collect(),
    )])
    .await;
    let m = w.settle("m").await;
    let writes = w.r53.stats.writes();
    w.patch_spec(
        "m",
        serde_json::json!({ "records": [{"name": "h0", "type": "A", "values": ["192.0.2.1"]}] }),
    )
    .await;
    w.reconcile("m").await.expect("reconcile");
    let m2 = w.get("m").await;
    let c = cond(&m2, "RecordsSynced");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "DeleteThresholdExceeded")
    );
    assert!(
        c.message.contains("delete 3 of the zone's 4 record sets"),
        "{}",
        c.message
    );
    assert!(
        c.message.contains(&format!("h1.{domain}.")),
        "names the records: {}",
        c.message
    );
    assert_eq!(cond(&m2, "Ready").status, "False");
    assert_eq!(w.r53.stats.writes(), writes, "nothing written");
    assert_eq!(w.records(&zone_id(&m), &domain).await.len(), 4);
    assert!(w
        .event_reasons()
        .await
        .contains(&"DeleteThresholdExceeded".to_string()));

    // Raising the threshold lets the same sync through.
    w.patch_spec(
        "m",
        serde_json::json!({ "policy": {"maxDeletePercent": 75} }),
    )
    .await;
    w.reconcile("m").await.expect("reconcile");
    assert_eq!(w.records(&zone_id(&m), &domain).await.len(), 1);
}

#[tokio::test]
async fn an_invalid_record_writes_nothing_and_others_keep_working() {
    let bad_domain = common::unique_domain("rc-bad");
    let good_domain = common::unique_domain("rc-good");
    let w = World::new(vec![
        migration(
            "bad",
            &bad_domain,
            vec![
                rec("www", "A", &["192.0.2.1"]),
                rec("api", "A", &["not-an-ip"]),
            ],
        ),
        migration("good", &good_domain, vec![rec("www", "A", &["192.0.2.1"])]),
    ])
    .await;
    let before = w.r53.stats.total();
    let bad = w.settle("bad").await;
    assert_eq!(
        w.r53.stats.total(),
        before,
        "no Route 53 call at all for an invalid spec"
    );
    let c = cond(&bad, "RecordsSynced");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "InvalidRecord")
    );
    assert!(
        c.message.contains("records[1] (api A)") && c.message.contains("not-an-ip"),
        "{}",
        c.message
    );
    assert_eq!(cond(&bad, "Ready").status, "False");
    assert_eq!(
        bad.status.as_ref().and_then(|s| s.hosted_zone_id.clone()),
        None
    );

    let good = w.settle("good").await;
    assert_eq!(cond(&good, "Ready").status, "True");

    // Fixing the record lets it through.
    w.patch_spec(
        "bad",
        serde_json::json!({ "records": [{"name": "api", "type": "A", "values": ["192.0.2.2"]}] }),
    )
    .await;
    w.reconcile("bad").await.expect("reconcile");
    assert_eq!(cond(&w.get("bad").await, "Ready").status, "True");
}

#[tokio::test]
async fn drift_made_by_hand_is_corrected() {
    let domain = common::unique_domain("rc-drift");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![rec("www", "A", &["192.0.2.1"])],
    )])
    .await;
    let m = w.settle("m").await;
    let id = zone_id(&m);
    // Someone edits the record in the console.
    let hand =
        zone::desired_from_spec(&domain, &[rec("www", "A", &["203.0.113.66"])]).expect("valid");
    let current = w.r53.list_records(&id).await.expect("list");
    let origin = normalize_origin(&domain).expect("origin");
    let d = zone::diff(&hand, &current.sets, &origin, SyncMode::UpsertOnly);
    assert!(w.r53.apply(&id, &d.changes, &current).await.1.is_none());
    let value = |recs: zone::RecordMap| recs.values().next().map(|s| s.values.clone());
    // A resync within --full-compare-interval of the last listing trusts it: no call at all,
    // so the hand edit stands until the next full comparison.
    let before = w.r53.stats.total();
    w.clock.advance(w.ctx.timing.resync);
    w.reconcile("m").await.expect("reconcile");
    assert_eq!(w.r53.stats.total(), before, "no Route 53 call");
    let recs = w.records(&id, &domain).await;
    assert_eq!(value(recs), Some(vec!["203.0.113.66".to_string()]));
    w.clock.advance(w.ctx.timing.full_compare);
    w.reconcile("m").await.expect("reconcile");
    let recs = w.records(&id, &domain).await;
    assert_eq!(value(recs), Some(vec!["192.0.2.1".to_string()]));
}

/// The resync of an unchanged zone makes no Route 53 call once a listing has found it in sync;
/// a change of the desired records is written at once, whatever the last comparison.
#[tokio::test]
async fn an_unchanged_resync_calls_nothing_and_a_spec_change_is_synced_at_once() {
    let domain = common::unique_domain("rc-trust");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![rec("www", "A", &["192.0.2.1"])],
    )])
    .await;
    let m = w.settle("m").await;
    let id = zone_id(&m);
    let compared = m
        .status
        .as_ref()
        .and_then(|s| s.last_full_comparison.clone());
    assert!(
        compared.is_some(),
        "the second pass listed the zone in sync"
    );
    for _ in 0..3 {
        let before = w.r53.stats.total();
        w.clock.advance(w.ctx.timing.resync);
        w.reconcile("m").await.expect("reconcile");
        assert_eq!(w.r53.stats.total(), before, "no Route 53 call");
    }
    let m = w.get("m").await;
    assert_eq!(cond(&m, "RecordsSynced").status, "True");
    let s = m.status.as_ref().expect("status");
    assert_eq!(s.last_full_comparison, compared, "still the first listing");
    w.patch_spec(
        "m",
        serde_json::json!({"records": [rec("www", "A", &["192.0.2.9"])]}),
    )
    .await;
    let writes = w.r53.stats.writes();
    w.reconcile("m").await.expect("reconcile");
    assert!(w.r53.stats.writes() > writes, "the new record is written");
    let recs = w.records(&id, &domain).await;
    assert_eq!(
        recs.values().next().map(|s| s.values.clone()),
        Some(vec!["192.0.2.9".to_string()])
    );
    // Past the interval the zone is listed again, and the listing recorded.
    w.reconcile("m").await.expect("reconcile");
    w.clock.advance(w.ctx.timing.full_compare);
    let before = w.r53.stats.total();
    w.reconcile("m").await.expect("reconcile");
    assert!(w.r53.stats.total() > before, "listed again");
    let later = w.get("m").await.status.and_then(|s| s.last_full_comparison);
    assert_ne!(later, compared);
    assert!(later.is_some());
}

#[tokio::test]
async fn retain_leaves_the_zone_and_records() {
    let domain = common::unique_domain("rc-retain");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![rec("www", "A", &["192.0.2.1"])],
    )])
    .await;
    let m = w.settle("m").await;
    let w = w.deleted("m").await;
    w.reconcile("m").await.expect("cleanup");
    assert!(
        w.api.get_opt("m").await.expect("get").is_none(),
        "finalizer removed, object gone"
    );
    assert!(w
        .r53
        .get_zone(&zone_id(&m))
        .await
        .expect("get zone")
        .is_some());
    assert_eq!(w.records(&zone_id(&m), &domain).await.len(), 1);
}

#[tokio::test]
async fn delete_removes_records_and_the_zone_it_created() {
    let domain = common::unique_domain("rc-delete");
    let mut obj = migration(
        "m",
        &domain,
        vec![rec("www", "A", &["192.0.2.1"]), rec("@", "TXT", &["hello"])],
    );
    obj.spec.hosted_zone.deletion_policy = DeletionPolicy::Delete;
    let w = World::new(vec![obj]).await;
    let m = w.settle("m").await;
    let w = w.deleted("m").await;
    w.reconcile("m").await.expect("cleanup");
    assert!(w.api.get_opt("m").await.expect("get").is_none());
    assert!(
        w.r53
            .get_zone(&zone_id(&m))
            .await
            .expect("get zone")
            .is_none(),
        "zone deleted"
    );
}

#[tokio::test]
async fn delete_of_an_adopted_zone_keeps_the_zone_and_what_zoneshift_did_not_write() {
    let domain = common::unique_domain("rc-adopted");
    let origin = normalize_origin(&domain).expect("origin");
    let r53 = common::route53().await;
    let (z, _) = r53
        .ensure_zone(&origin, "made-by-hand", None, None)
        .await
        .expect("zone");
    let theirs =
        zone::desired_from_spec(&domain, &[rec("legacy", "A", &["192.0.2.50"])]).expect("valid");
    let cur = r53.list_records(&z.id).await.expect("list");
    let d = zone::diff(&theirs, &cur.sets, &origin, SyncMode::UpsertOnly);
    assert!(r53.apply(&z.id, &d.changes, &cur).await.1.is_none());

    let mut obj = migration("m", &domain, vec![rec("www", "A", &["192.0.2.1"])]);
    obj.spec.hosted_zone.id = Some(z.id.clone());
    obj.spec.hosted_zone.deletion_policy = DeletionPolicy::Delete;
    obj.spec.policy.mode = SyncMode::UpsertOnly;
    let w = World::new(vec![obj]).await;
    let m = w.settle("m").await;
    assert_eq!(zone_id(&m), z.id, "adopted, not created");
    assert_eq!(w.records(&z.id, &domain).await.len(), 2);
    let w = w.deleted("m").await;
    w.reconcile("m").await.expect("cleanup");
    assert!(w.api.get_opt("m").await.expect("get").is_none());
    let left: Vec<String> = w
        .records(&z.id, &domain)
        .await
        .keys()
        .map(|k| k.name.clone())
        .collect();
    assert_eq!(
        left,
        vec![format!("legacy.{origin}")],
        "only zoneshift's record was removed"
    );
}

#[tokio::test]
async fn delete_when_the_zone_is_already_gone_succeeds() {
    let domain = common::unique_domain("rc-gone");
    let mut obj = migration("m", &domain, vec![rec("www", "A", &["192.0.2.1"])]);
    obj.spec.hosted_zone.deletion_policy = DeletionPolicy::Delete;
    let w = World::new(vec![obj]).await;
    let m = w.settle("m").await;
    let id = zone_id(&m);
    // Someone removed the records and the zone by hand.
    let cur = w.r53.list_records(&id).await.expect("list");
    let origin = normalize_origin(&domain).expect("origin");
    let none = Default::default();
    let d = zone::diff(&none, &cur.sets, &origin, SyncMode::Sync);
    assert!(w.r53.apply(&id, &d.changes, &cur).await.1.is_none());
    assert!(w.r53.delete_zone(&id).await.expect("delete"));
    let w = w.deleted("m").await;
    w.reconcile("m").await.expect("cleanup");
    assert!(w.api.get_opt("m").await.expect("get").is_none());
}

#[tokio::test]
async fn a_lost_zone_is_reported_not_recreated() {
    let domain = common::unique_domain("rc-lost");
    let w = World::new(vec![migration(
        "m",
        &domain,
        vec![rec("www", "A", &["192.0.2.1"])],
    )])
    .await;
    let m = w.settle("m").await;
    let id = zone_id(&m);
    let cur = w.r53.list_records(&id).await.expect("list");
    let origin = normalize_origin(&domain).expect("origin");
    let none = Default::default();
    let d = zone::diff(&none, &cur.sets, &origin, SyncMode::Sync);
    assert!(w.r53.apply(&id, &d.changes, &cur).await.1.is_none());
    assert!(w.r53.delete_zone(&id).await.expect("delete"));
    // Seen at the next full comparison: until then resyncs trust the last listing.
    w.clock.advance(w.ctx.timing.full_compare);
    w.reconcile("m")
        .await
        .expect("a conflict waits for a person, it is not an error loop");
    let m2 = w.get("m").await;
    let c = cond(&m2, "ZoneReady");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "ZoneConflict")
    );
    assert!(c.message.contains("does not exist"), "{}", c.message);
    assert_eq!(cond(&m2, "Ready").status, "False");
    assert!(w
        .r53
        .find_zone(
            &origin,
            &caller_reference(&m2.uid().expect("uid")),
            None,
            None
        )
        .await
        .expect("find")
        .is_none());
}

#[tokio::test]
async fn a_role_is_assumed_only_when_the_operator_allows_it() {
    let domain = common::unique_domain("rc-role");
    let role = "arn:aws:iam::123456789012:role/dns-team-a";
    let mut obj = migration("m", &domain, vec![rec("www", "A", &["192.0.2.1"])]);
    obj.spec.aws = Some(AwsSpec {
        role_arn: Some(role.into()),
    });

    // Not allowed: a clear condition, and not one Route 53 call.
    let w = World::new(vec![obj.clone()]).await;
    let before = w.r53.stats.total();
    let m = w.settle("m").await;
    let c = cond(&m, "ZoneReady");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "RoleNotAllowed"),
        "{}",
        c.message
    );
    assert!(c.message.contains(role));
    assert_eq!(cond(&m, "Stalled").status, "True");
    assert_eq!(
        w.r53.stats.total(),
        before,
        "no call with the operator's credentials either"
    );

    // Allowed by a pattern: the role is assumed through STS (moto's) and the sync goes on.
    let mut w = World::new(vec![obj]).await;
    std::sync::Arc::get_mut(&mut w.ctx)
        .expect("sole owner")
        .allowed_roles = vec!["arn:aws:iam::123456789012:role/dns-*".into()];
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "Ready").status, "True", "{:?}", cond(&m, "Ready"));
    assert!(zoneshift::controller::glob_match(
        "arn:aws:iam::*:role/dns-*",
        role
    ));
    assert!(!zoneshift::controller::glob_match(
        "arn:aws:iam::*:role/dns-*",
        "arn:aws:iam::123456789012:role/admin"
    ));
}
