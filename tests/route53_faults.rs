//! Route 53 faults through the fault proxy (tests/faults/r53proxy.py) in front of moto: lost
//! answers of applied changes, records deleted meanwhile, throttling and server errors, each
//! met by the real `reconcile`. moto alone never produces them; the proxy answers in Route 53's
//! own XML error format. The seeded schedules over a migration's whole life, with operator
//! kills and API-server restarts, are tests/faults/run.py (`make test-faults`).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::faults::FaultProxy;
use common::world::*;
use serde_json::json;

fn stalled(m: &zoneshift::api::HostedZoneMigration) -> (String, String) {
    let c = cond(m, "Stalled");
    (c.status.clone(), c.reason.clone())
}

/// A change batch that Route 53 applied but whose answer was lost is retried; the retry's
/// `InvalidChangeBatch ... already exists` is the zone having moved under the batch, not a
/// rejection: the zone is listed again in the same pass and the migration never says a person
/// is needed.
#[tokio::test]
async fn a_change_whose_answer_was_lost_is_not_a_rejection() {
    let proxy = FaultProxy::start();
    proxy
        .schedule(json!({"script": ["drop"], "operations": ["ChangeResourceRecordSets"]}))
        .await;
    let domain = common::unique_domain("lost-answer");
    let w = World::with_route53(
        vec![migration(
            "m",
            &domain,
            vec![
                rec("www", "A", &["192.0.2.1"]),
                rec("@", "TXT", &["v=spf1 -all"]),
            ],
        )],
        vec![],
        vec![],
        common::route53_at(&proxy.endpoint()).await,
    )
    .await;
    let m = w.settle("m").await;
    assert_eq!(proxy.counts().await["injected"]["drop"], 1);
    assert_eq!(
        stalled(&m),
        ("False".into(), "NotStalled".into()),
        "{:?}",
        m.status
    );
    let synced = cond(&m, "RecordsSynced");
    assert_eq!(synced.status, "True", "{synced:?}");
    let direct = common::route53().await;
    let held = direct.list_records(&zone_id(&m)).await.expect("list").sets;
    assert_eq!(held.len(), 4, "SOA, NS and the two records: {held:?}");
}

/// A record set deleted by someone else between the listing and the batch that deletes it:
/// Route 53 refuses the batch (`... but it was not found`); the zone is listed again and what
/// is left is applied, without a stall.
#[tokio::test]
async fn a_record_deleted_meanwhile_is_listed_again_not_a_stall() {
    let proxy = FaultProxy::start();
    let domain = common::unique_domain("deleted-meanwhile");
    let w = World::with_route53(
        vec![migration(
            "m",
            &domain,
            vec![
                rec("www", "A", &["192.0.2.1"]),
                rec("old", "A", &["192.0.2.2"]),
                rec("mail", "A", &["192.0.2.3"]),
                rec("@", "TXT", &["v=spf1 -all"]),
            ],
        )],
        vec![],
        vec![],
        common::route53_at(&proxy.endpoint()).await,
    )
    .await;
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "RecordsSynced").status, "True");
    proxy
        .schedule(json!({"script": ["invalid"], "operations": ["ChangeResourceRecordSets"]}))
        .await;
    w.patch_spec(
        "m",
        json!({"records": [
            {"name": "www", "type": "A", "values": ["192.0.2.1"]},
            {"name": "mail", "type": "A", "values": ["192.0.2.3"]},
            {"name": "@", "type": "TXT", "values": ["v=spf1 -all"]},
        ]}),
    )
    .await;
    w.reconcile("m").await.expect("reconcile");
    let m = w.get("m").await;
    assert_eq!(proxy.counts().await["injected"]["invalid"], 1);
    assert_eq!(
        stalled(&m),
        ("False".into(), "NotStalled".into()),
        "{:?}",
        m.status
    );
    assert_eq!(cond(&m, "RecordsSynced").status, "True");
    let held = w.records(&zone_id(&m), &domain).await;
    assert_eq!(held.len(), 3, "{held:?}");
}

/// Every other fault the proxy injects, on every request kind a sync makes, is retried within
/// the request budget: the pass ends synced and nothing stalls.
#[tokio::test]
async fn throttling_server_errors_resets_and_delays_are_retried() {
    let proxy = FaultProxy::start();
    let kinds = [
        "throttling",
        "prior",
        "unavailable",
        "internal",
        "reset",
        "delay",
    ];
    proxy
        .schedule(json!({"script": kinds.iter().flat_map(|k| [*k, "pass", *k, "pass"]).collect::<Vec<_>>()}))
        .await;
    let domain = common::unique_domain("retried");
    let w = World::with_route53(
        vec![migration(
            "m",
            &domain,
            vec![rec("www", "A", &["192.0.2.1"])],
        )],
        vec![],
        vec![],
        common::route53_at(&proxy.endpoint()).await,
    )
    .await;
    w.settle("m").await;
    // Each pass with something to write, until the schedule is spent.
    for n in 2..8 {
        let values: Vec<String> = (1..=n).map(|i| format!("192.0.2.{i}")).collect();
        w.patch_spec(
            "m",
            json!({"records": [{"name": "www", "type": "A", "values": values}]}),
        )
        .await;
        w.reconcile("m").await.expect("reconcile");
    }
    let m = w.get("m").await;
    let counts = proxy.counts().await;
    for k in kinds {
        assert_eq!(counts["injected"][k], 2, "{k}: {counts}");
    }
    assert_eq!(
        stalled(&m),
        ("False".into(), "NotStalled".into()),
        "{:?}",
        m.status
    );
    assert_eq!(cond(&m, "RecordsSynced").status, "True", "{:?}", m.status);
    let held = w.records(&zone_id(&m), &domain).await;
    assert_eq!(
        held.values().next().map(|s| s.values.len()),
        Some(7),
        "{held:?}"
    );
}
