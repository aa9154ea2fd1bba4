//! The cutover in the DNS world (`scripts/dns-world up`): a fake root and parents (Knot), the
//! old provider and "Route 53"'s nameservers (BIND, the latter serving moto's zone), and a
//! user's resolver (Unbound). The operator's clock is a test clock, moved to let the TTLs and
//! the soak run out; the DNS side (delegation changes, DS, emptied provider) is real.
//!
//! The tests share the world's example.com delegation, so they run one at a time.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::world::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;
use tokio::sync::Mutex;
use zoneshift::api::*;
use zoneshift::dns::TsigKey;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

const ROUTE53_NS: [&str; 4] = [
    "ns-2048.awsdns-64.com",
    "ns-2049.awsdns-65.net",
    "ns-2050.awsdns-66.org",
    "ns-2051.awsdns-67.co.uk",
];

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: run `scripts/dns-world up` and `eval \"$(scripts/dns-world env)\"`")
    })
}

/// Runs a harness verb of scripts/dns-world.
fn world(args: &[&str]) -> String {
    let out = Command::new(format!("{}/scripts/dns-world", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dns-world {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dig(server: &str, name: &str, t: &str) -> String {
    let (host, port) = server.rsplit_once(':').unwrap();
    let out = Command::new("dig")
        .args([
            "+short",
            "+norec",
            "+time=1",
            "+tries=1",
            "-p",
            port,
            &format!("@{host}"),
            name,
            t,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Puts the world's example.com back as `up` made it.
fn reset_world() {
    world(&[
        "set-delegation",
        "example.com",
        "ns1.old-provider.net",
        "ns2.old-provider.net",
    ]);
    world(&["clear-ds", "example.com"]);
    world(&["restore-old-provider", "example.com"]);
    // The resolver may hold a delegation a test switched: the next user of the world starts clean.
    world(&["flush-cache"]);
}

/// How long the operator's clock must move for the old TTLs to run out.
fn ttl_wait() -> Duration {
    let parent: u64 = env("ZS_WORLD_PARENT_NS_TTL").parse().unwrap();
    let child: u64 = env("ZS_WORLD_CHILD_NS_TTL").parse().unwrap();
    Duration::from_secs(parent.max(child) + 1)
}

fn tsig_secret() -> Secret {
    let key =
        TsigKey::from_bind_file(&std::fs::read_to_string(env("ZS_WORLD_TSIG_KEY_FILE")).unwrap())
            .unwrap();
    let mut s = Secret::default();
    s.metadata.name = Some("xfr".into());
    s.metadata.namespace = Some(NS.into());
    s.data = Some(BTreeMap::from([
        ("name".to_string(), ByteString(key.name.into_bytes())),
        (
            "algorithm".to_string(),
            ByteString(key.algorithm.into_bytes()),
        ),
        ("secret".to_string(), ByteString(key.secret.into_bytes())),
    ]));
    s
}

fn migration_of_example(mode: CutoverMode) -> HostedZoneMigration {
    let mut m = migration("m", "example.com", vec![]);
    m.spec.source = Some(SourceSpec {
        nameservers: vec![env("ZS_WORLD_OLD_PROVIDER")],
        axfr: Some(AxfrSource {
            tsig_secret_ref: Some(LocalObjectRef { name: "xfr".into() }),
        }),
        ..Default::default()
    });
    m.spec.cutover = CutoverSpec {
        mode,
        approved: false,
        lowered_nameserver_ttl: env("ZS_WORLD_CHILD_NS_TTL").parse().unwrap(),
        final_nameserver_ttl: 60,
        minimum_soak: "5s".into(),
        rollback: false,
        // The world's old provider serves its NS at the lowered TTL from the start: what it
        // served before zoneshift looked is said, as a user would.
        previous_nameserver_ttl: Some(env("ZS_WORLD_CHILD_NS_TTL").parse().unwrap()),
        // The world's old provider accepts updates with the transfer key (rule 12).
        old_provider_nameservers: OldProviderNameservers::Update,
        ..Default::default()
    };
    m
}

/// Syncs and verifies, then has "Route 53"'s nameservers serve this migration's zone and
/// reconciles until the gate waits only on time and approval.
async fn to_the_gate(w: &World) -> HostedZoneMigration {
    let m = w.settle("m").await;
    assert_eq!(
        cond(&m, "ShadowVerified").status,
        "True",
        "{:?}",
        cond(&m, "ShadowVerified")
    );
    let id = zone_id(&m);
    std::fs::write(
        format!(
            "{}/.test-env/dns-world/route53-zone-example.com",
            env!("CARGO_MANIFEST_DIR")
        ),
        &id,
    )
    .unwrap();
    for _ in 0..100 {
        if dig(&env("ZS_WORLD_ROUTE53_NS"), "example.com", "SOA").contains("awsdns") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dig(&env("ZS_WORLD_ROUTE53_NS"), "example.com", "SOA").contains("awsdns"),
        "Route 53's nameservers never served zone {id}"
    );
    // One pass lowers the Route 53 NS TTL, the next sees it.
    for _ in 0..3 {
        w.reconcile("m").await.unwrap();
    }
    w.get("m").await
}

async fn reason(w: &World, t: &str) -> (String, String) {
    let m = w.get("m").await;
    let c = cond(&m, t);
    (c.status.clone(), c.reason.clone())
}

async fn approve(w: &World) {
    w.patch_spec("m", serde_json::json!({ "cutover": { "approved": true } }))
        .await;
}

#[tokio::test]
async fn manual_cutover_gate_switch_soak_and_completion() {
    let _one = ONE_AT_A_TIME.lock().await;
    reset_world();
    let w = World::with(
        vec![migration_of_example(CutoverMode::Manual)],
        vec![],
        vec![tsig_secret()],
    )
    .await;
    let m = to_the_gate(&w).await;
    let s = m.status.clone().unwrap();
    assert_eq!(s.phase, Some(Phase::AwaitingCutover));
    assert_eq!(
        s.delegation.as_ref().unwrap().parent_nameservers,
        vec!["ns1.old-provider.net.", "ns2.old-provider.net."]
    );
    assert_eq!(
        s.observed_ttls.as_ref().unwrap().route53_ns,
        Some(env("ZS_WORLD_CHILD_NS_TTL").parse().unwrap()),
        "the Route 53 NS TTL was lowered"
    );
    let c = cond(&m, "CutoverReady");
    assert_eq!(c.reason, "WaitingForTtlExpiry", "{}", c.message);
    assert!(
        c.message.contains("Approve the switch"),
        "every missing item is named: {}",
        c.message
    );
    assert_eq!(cond(&m, "Ready").reason, "WaitingForTtlExpiry");

    // The old TTL runs out: only the approval is missing, which kstatus does not count as work.
    w.clock.advance(ttl_wait());
    w.reconcile("m").await.unwrap();
    assert_eq!(reason(&w, "CutoverReady").await.1, "AwaitingApproval");
    assert_eq!(reason(&w, "Reconciling").await.0, "False");

    // Approved: the gate opens and a person is told the nameservers.
    approve(&w).await;
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(m.status.as_ref().unwrap().phase, Some(Phase::CuttingOver));
    assert_eq!(cond(&m, "Delegated").reason, "AwaitingRegistrar");
    assert!(w
        .event_reasons()
        .await
        .contains(&"SwitchNameservers".to_string()));
    // Rule 12: the old provider's own apex NS set now names Route 53 (an RFC 2136 update
    // signed with the transfer key, accepted by BIND).
    let cut = m.status.as_ref().unwrap().cutover.clone().unwrap();
    assert!(
        cut.source_ns_updated_at.is_some(),
        "{:?}",
        cut.source_ns_update_error
    );
    assert!(w
        .event_reasons()
        .await
        .contains(&"OldProviderNsUpdated".to_string()));
    let served = dig(&env("ZS_WORLD_OLD_PROVIDER"), "example.com.", "NS");
    for ns in ROUTE53_NS {
        assert!(served.contains(ns), "the old provider serves {served}");
    }
    assert!(!served.contains("old-provider"), "{served}");

    // The registrar switches (an nsupdate of the parent): seen, soak starts.
    world(&[
        "set-delegation",
        "example.com",
        ROUTE53_NS[0],
        ROUTE53_NS[1],
        ROUTE53_NS[2],
        ROUTE53_NS[3],
    ]);
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    let s = m.status.clone().unwrap();
    assert_eq!(s.phase, Some(Phase::Propagating));
    let cut = s.cutover.clone().unwrap();
    let switched: jiff::Timestamp = cut.switched_at.clone().unwrap().parse().unwrap();
    let releasable: jiff::Timestamp = cut
        .old_provider_releasable_at
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    let parent_ttl: i64 = env("ZS_WORLD_PARENT_NS_TTL").parse().unwrap();
    let child_ttl: i64 = env("ZS_WORLD_CHILD_NS_TTL").parse().unwrap();
    assert_eq!(
        releasable.duration_since(switched).as_secs(),
        (parent_ttl + child_ttl).max(5),
        "until the old delegation expires at the parent a resolver may fetch the old NS set"
    );
    assert_eq!(
        cut.previous_nameservers,
        vec!["ns1.old-provider.net.", "ns2.old-provider.net."]
    );
    assert_eq!(cond(&m, "Delegated").status, "True");

    // During the soak the old provider still answers: healthy. The next look is the probe.
    w.clock.advance(Duration::from_secs(2));
    w.reconcile("m").await.unwrap();
    assert_eq!(
        reason(&w, "SourceHealthy").await,
        ("True".into(), "Answering".into())
    );
    assert_eq!(reason(&w, "Propagated").await.1, "Soaking");

    // Released: completed, the NS TTL raised, Ready.
    w.clock.set(releasable);
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(m.status.as_ref().unwrap().phase, Some(Phase::Completed));
    assert_eq!(cond(&m, "Propagated").status, "True");
    assert_eq!(cond(&m, "Ready").status, "True", "{:?}", cond(&m, "Ready"));
    w.reconcile("m").await.unwrap();
    let recs = w.r53.list_records(&zone_id(&m)).await.unwrap();
    let apex_ns = recs
        .sets
        .get(&zoneshift::zone::RecordKey::new(
            "example.com.",
            zoneshift::zone::RecordType::Ns,
            None,
        ))
        .unwrap();
    assert_eq!(apex_ns.ttl, Some(60), "finalNameserverTtl");
    // A restart after completion changes nothing.
    let before = w.get("m").await.status;
    w.reconcile("m").await.unwrap();
    assert_eq!(
        w.get("m").await.status.unwrap().phase,
        before.unwrap().phase
    );
    reset_world();
}

#[tokio::test]
async fn early_flush_is_caught_and_a_rollback_returns_the_delegation() {
    let _one = ONE_AT_A_TIME.lock().await;
    reset_world();
    let w = World::with(
        vec![migration_of_example(CutoverMode::Manual)],
        vec![],
        vec![tsig_secret()],
    )
    .await;
    to_the_gate(&w).await;
    w.clock.advance(ttl_wait());
    approve(&w).await;
    w.reconcile("m").await.unwrap();
    world(&[
        "set-delegation",
        "example.com",
        ROUTE53_NS[0],
        ROUTE53_NS[1],
        ROUTE53_NS[2],
        ROUTE53_NS[3],
    ]);
    w.reconcile("m").await.unwrap();
    assert_eq!(
        w.get("m").await.status.unwrap().phase,
        Some(Phase::Propagating)
    );

    // The old provider is emptied during the soak: SourceHealthy turns False at the next probe.
    world(&["flush-old-provider", "example.com"]);
    w.clock.advance(Duration::from_secs(1));
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    let c = cond(&m, "SourceHealthy");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "SourceUnhealthy"),
        "{}",
        c.message
    );
    assert!(
        c.message.contains("may still send users there"),
        "{}",
        c.message
    );
    assert!(w
        .event_reasons()
        .await
        .contains(&"SourceUnhealthy".to_string()));
    // Route 53 kept every record: the emptied provider was never imported from.
    assert!(w.records(&zone_id(&m), "example.com").await.len() > 3);

    // Roll back: zoneshift waits for the parent to serve the old nameservers again.
    world(&["restore-old-provider", "example.com"]);
    w.patch_spec("m", serde_json::json!({ "cutover": { "rollback": true } }))
        .await;
    w.reconcile("m").await.unwrap();
    assert_eq!(
        w.get("m").await.status.unwrap().phase,
        Some(Phase::RollingBack)
    );
    assert!(w.event_reasons().await.contains(&"RollingBack".to_string()));
    world(&[
        "set-delegation",
        "example.com",
        "ns1.old-provider.net",
        "ns2.old-provider.net",
    ]);
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(m.status.as_ref().unwrap().phase, Some(Phase::RolledBack));
    assert_eq!(cond(&m, "Delegated").reason, "RolledBack");
    reset_world();
}

#[tokio::test]
async fn a_ds_at_the_parent_keeps_the_gate_shut() {
    let _one = ONE_AT_A_TIME.lock().await;
    reset_world();
    world(&[
        "set-ds",
        "example.com",
        "12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE12345678ABCDEF0123456789",
    ]);
    let mut obj = migration_of_example(CutoverMode::Manual);
    obj.spec.cutover.approved = true;
    let w = World::with(vec![obj], vec![], vec![tsig_secret()]).await;
    to_the_gate(&w).await;
    w.clock.advance(ttl_wait());
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    let c = cond(&m, "CutoverReady");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "DSPresent"),
        "{}",
        c.message
    );
    assert_eq!(
        cond(&m, "Stalled").status,
        "True",
        "a person must remove the DS"
    );
    assert_eq!(
        m.status
            .as_ref()
            .unwrap()
            .delegation
            .as_ref()
            .unwrap()
            .ds
            .len(),
        1
    );
    // Without the DS the gate waits out the DS's TTL (validating resolvers may still hold
    // it), then the same approved migration goes through.
    world(&["clear-ds", "example.com"]);
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(cond(&m, "CutoverReady").reason, "WaitingForDsExpiry");
    assert!(m
        .status
        .as_ref()
        .unwrap()
        .cutover
        .as_ref()
        .unwrap()
        .ds_cached_until
        .is_some());
    let until: jiff::Timestamp = m
        .status
        .as_ref()
        .unwrap()
        .cutover
        .as_ref()
        .unwrap()
        .ds_cached_until
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    w.clock.set(until);
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(
        m.status.as_ref().unwrap().phase,
        Some(Phase::CuttingOver),
        "{:?}",
        cond(&m, "CutoverReady")
    );
    reset_world();
}

/// Route 53 Domains mode: zoneshift asks moto's route53domains for the switch; the registry
/// (a harness step) publishes what it holds into the parent.
#[tokio::test]
async fn route53_domains_mode_switches_through_the_registrar() {
    let _one = ONE_AT_A_TIME.lock().await;
    reset_world();
    let out = Command::new(format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
        .args([
            &format!("{}/scripts/r53.py", env!("CARGO_MANIFEST_DIR")),
            "register-domain",
            "example.com",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut obj = migration_of_example(CutoverMode::Route53Domains);
    obj.spec.cutover.approved = true;
    let w = World::with(vec![obj], vec![], vec![tsig_secret()]).await;
    to_the_gate(&w).await;
    w.clock.advance(ttl_wait());
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(m.status.as_ref().unwrap().phase, Some(Phase::CuttingOver));
    let delegated = cond(&m, "Delegated").clone();
    // A fresh registrar answers with an operation id; one that already holds these
    // nameservers from an earlier run (moto keeps operations for its lifetime and answers
    // DuplicateRequest) is recorded as held.
    let cut = m.status.as_ref().unwrap().cutover.clone().unwrap();
    assert!(
        cut.operation_id.is_some() || cut.registrar_held_at.is_some(),
        "the request is recorded: {delegated:?}"
    );
    assert!(w
        .event_reasons()
        .await
        .contains(&"RegistrarUpdated".to_string()));
    let held = w
        .r53
        .domains()
        .expect("domains")
        .registrar_nameservers("example.com")
        .await
        .unwrap();
    assert_eq!(held, ROUTE53_NS.to_vec());
    // The registry publishes the registrar's nameservers: the switch is seen.
    world(&["publish-registrar", "example.com"]);
    w.reconcile("m").await.unwrap();
    assert_eq!(
        w.get("m").await.status.unwrap().phase,
        Some(Phase::Propagating)
    );
    reset_world();
}

/// Without `spec.source.nameservers`, the old provider's servers are found through the
/// parent's delegation: the zone transfer, the verification and the NS TTL use them, and the
/// status shows them.
#[tokio::test]
async fn the_source_nameservers_come_from_the_parent_when_the_spec_names_none() {
    let _one = ONE_AT_A_TIME.lock().await;
    reset_world();
    let mut obj = migration_of_example(CutoverMode::Manual);
    obj.spec.source.as_mut().unwrap().nameservers.clear();
    let w = World::with(vec![obj], vec![], vec![tsig_secret()]).await;
    let m = w.settle("m").await;
    let s = m.status.as_ref().unwrap();
    let src = s.source.as_ref().unwrap();
    let old = env("ZS_WORLD_OLD_PROVIDER");
    assert_eq!(src.nameservers, vec![old.clone()], "{src:?}");
    assert_eq!(src.imported_from, format!("AXFR from {old}"));
    assert_eq!(
        cond(&m, "ShadowVerified").status,
        "True",
        "{:?}",
        cond(&m, "ShadowVerified")
    );
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    let ttls = m.status.as_ref().unwrap().observed_ttls.clone().unwrap();
    assert_eq!(
        ttls.source_ns,
        Some(env("ZS_WORLD_CHILD_NS_TTL").parse().unwrap()),
        "the NS TTL was asked of the delegated servers"
    );
    reset_world();
}
