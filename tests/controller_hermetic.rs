//! The hermetic tier of the controller: `reconcile` driven step by step against in-memory
//! fakes of the ports (tests/common/fakes.rs), a stateful fake Kubernetes API and a clock the
//! test moves. No server of any kind: the real adapters have their own tests against moto,
//! BIND, Knot and Unbound.

mod common;

use common::fakes::*;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_fake_client::ClientBuilder;
use std::sync::Arc;
use std::time::Duration;
use zoneshift::api::*;
use zoneshift::clock::ManualClock;
use zoneshift::controller::{reconcile, Aws, Context, FINALIZER};
use zoneshift::plan::Timing;
use zoneshift::zone::{RecordKey, RecordMap, RecordSet, RecordType, Routing};

const OLD: [&str; 2] = ["ns1.old-provider.net.", "ns2.old-provider.net."];

struct Hermetic {
    clock: ManualClock,
    api: Api<HostedZoneMigration>,
    events: Api<Event>,
    ctx: Arc<Context>,
    route53: FakeRoute53,
    registrar: FakeRegistrar,
    source: FakeSource,
    parent: FakeDns,
}

fn set(name: &str, t: RecordType, values: &[&str]) -> RecordSet {
    RecordSet {
        key: RecordKey::new(name, t, None),
        ttl: Some(300),
        values: values.iter().map(|s| s.to_string()).collect(),
        alias: None,
        routing: Routing::default(),
    }
}

fn live_zone() -> RecordMap {
    [
        set("www.example.com.", RecordType::A, &["192.0.2.1"]),
        set("example.com.", RecordType::Mx, &["10 mail.example.com."]),
        set("mail.example.com.", RecordType::A, &["192.0.2.25"]),
    ]
    .into_iter()
    .map(|s| (s.key.clone(), s))
    .collect()
}

fn migration(mode: CutoverMode) -> HostedZoneMigration {
    let mut m = HostedZoneMigration::new(
        "example-com",
        HostedZoneMigrationSpec {
            domain: "example.com".into(),
            source: Some(SourceSpec {
                nameservers: vec!["192.0.2.53".into()],
                axfr: Some(AxfrSource::default()),
                ..Default::default()
            }),
            cutover: CutoverSpec {
                mode,
                approved: false,
                lowered_nameserver_ttl: 60,
                final_nameserver_ttl: 172_800,
                minimum_soak: "10m".into(),
                rollback: false,
                // What the old provider served before zoneshift looked, where it first sees
                // the NS TTL already lowered.
                previous_nameserver_ttl: Some(3600),
                ..Default::default()
            },
            ..Default::default()
        },
    );
    m.metadata.namespace = Some("dns".into());
    m.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
    m
}

/// The fake Kubernetes API holding `obj`, with Events.
async fn fake_api(obj: HostedZoneMigration) -> kube::Client {
    ClientBuilder::new()
        .with_resource::<HostedZoneMigration>()
        .with_status_subresource::<HostedZoneMigration>()
        .with_resource::<Event>()
        .with_object(obj)
        .build()
        .await
        .expect("fake client")
}

impl Hermetic {
    async fn new(obj: HostedZoneMigration, source_ns_ttl: u32) -> Hermetic {
        let client = fake_api(obj).await;
        let route53 = FakeRoute53::default();
        let parent = FakeDns::new(&OLD, 3600);
        let registrar = FakeRegistrar::default();
        registrar.0.lock().expect("lock").parent = Some(parent.clone());
        let source = FakeSource::new(live_zone(), source_ns_ttl);
        let clock = ManualClock::new("2026-12-01T00:00:00Z".parse().expect("t"));
        let aws = Aws {
            route53: Arc::new(route53.clone()),
            registrar: Some(Arc::new(registrar.clone())),
        };
        let mut ctx = Context::with_ports(
            client.clone(),
            aws,
            Arc::new(clock.clone()),
            Timing::default(),
            "hermetic".into(),
        );
        ctx.source_port = Some(Arc::new(source.clone()));
        ctx.dns_port = Some(Arc::new(parent.clone()));
        Hermetic {
            clock,
            api: Api::namespaced(client.clone(), "dns"),
            events: Api::namespaced(client, "dns"),
            ctx: Arc::new(ctx),
            route53,
            registrar,
            source,
            parent,
        }
    }

    async fn get(&self) -> HostedZoneMigration {
        self.api.get("example-com").await.expect("get")
    }

    /// The same world after `kubectl delete`: the object carries a deletionTimestamp and waits
    /// for its finalizer. The fake deletes at once and refuses to set the timestamp on an
    /// update, and a reconcile reads its resource from the API, so the object is carried into
    /// a new fake API that starts with it marked; Route 53, DNS and the clock are the same.
    async fn deleted(self) -> Hermetic {
        let mut o = self.get().await;
        o.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::now(),
        ));
        o.metadata.resource_version = None;
        o.metadata.managed_fields = None;
        let client = fake_api(o).await;
        let mut ctx = Context::with_ports(
            client.clone(),
            self.ctx.aws.clone(),
            Arc::new(self.clock.clone()),
            self.ctx.timing,
            "hermetic".into(),
        );
        ctx.source_port = self.ctx.source_port.clone();
        ctx.dns_port = self.ctx.dns_port.clone();
        Hermetic {
            api: Api::namespaced(client.clone(), "dns"),
            events: Api::namespaced(client, "dns"),
            ctx: Arc::new(ctx),
            ..self
        }
    }

    async fn reconcile(&self) -> kube::runtime::controller::Action {
        reconcile(Arc::new(self.get().await), self.ctx.clone())
            .await
            .expect("reconcile")
    }

    async fn status(&self) -> HostedZoneMigrationStatus {
        self.get().await.status.expect("status")
    }

    async fn patch_cutover(&self, cutover: serde_json::Value) {
        let patch = serde_json::json!({ "spec": { "cutover": cutover } });
        self.api
            .patch("example-com", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("patch");
    }

    /// The registrar's change reaches the parent, and zoneshift's next poll sees it.
    async fn switch_at_the_parent(&self) {
        let ns: Vec<String> = ROUTE53_NS.iter().map(|s| s.to_string()).collect();
        self.parent.delegate(&ns);
        self.clock.advance(Duration::from_secs(30));
        self.reconcile().await;
    }

    async fn events(&self) -> Vec<String> {
        let list = self
            .events
            .list(&ListParams::default())
            .await
            .expect("events");
        list.items.into_iter().filter_map(|e| e.reason).collect()
    }
}

fn reason(s: &HostedZoneMigrationStatus, t: ConditionType) -> String {
    s.condition(t).map(|c| c.reason.clone()).unwrap_or_default()
}

fn gate(s: &HostedZoneMigrationStatus) -> Vec<(String, String)> {
    let cut = s.cutover.as_ref().expect("cutover");
    cut.gate
        .iter()
        .map(|g| (g.name.clone(), g.state.clone()))
        .collect()
}

/// The whole migration in Manual mode: sync, verify, the gate with every check listed, the
/// wait for the old NS TTL, approval, the switch seen at the parent, the soak, completion.
#[tokio::test]
async fn a_whole_migration_through_the_ports() {
    let w = Hermetic::new(migration(CutoverMode::Manual), 60).await;
    // The source still serves its old NS TTL of 3600 s at the first look.
    w.source.0.lock().expect("lock").ns_ttl = 3600;
    // The first pass writes the records; the next finds nothing to change, verifies and
    // lowers the Route 53 NS TTL; the third sees it lowered.
    for _ in 0..3 {
        w.reconcile().await;
    }
    let s = w.status().await;
    assert_eq!(reason(&s, ConditionType::RecordsSynced), "InSync");
    let zone = s.hosted_zone_id.clone().expect("zone");
    assert_eq!(
        w.route53.records(&zone).len(),
        4,
        "3 imported sets and the apex NS"
    );
    assert_eq!(reason(&s, ConditionType::ShadowVerified), "Verified");
    assert_eq!(s.phase, Some(Phase::AwaitingCutover));
    assert_eq!(reason(&s, ConditionType::CutoverReady), "LoweringTtl");
    // Every check is listed, not only the first that holds.
    let g = gate(&s);
    assert_eq!(g.len(), 11, "{g:?}");
    assert!(
        g.contains(&("SourceNsTtlLowered".into(), "Block".into())),
        "{g:?}"
    );
    assert!(g.contains(&("Approved".into(), "Block".into())), "{g:?}");
    assert!(
        g.contains(&("RecordsSynced".into(), "Pass".into())),
        "{g:?}"
    );

    // The old provider lowers its NS TTL: the gate waits for the old 3600 s to pass.
    w.source.0.lock().expect("lock").ns_ttl = 60;
    w.clock.advance(Duration::from_secs(10));
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(
        reason(&s, ConditionType::CutoverReady),
        "WaitingForTtlExpiry"
    );
    let waiting = s
        .cutover
        .as_ref()
        .expect("cutover")
        .gate
        .iter()
        .find(|g| g.name == "OldNsTtlExpired")
        .cloned()
        .expect("check");
    assert_eq!(waiting.state, "Wait");
    assert_eq!(waiting.until.as_deref(), Some("2026-12-01T01:00:10Z"));

    w.clock.advance(Duration::from_secs(3600));
    w.reconcile().await;
    assert_eq!(
        reason(&w.status().await, ConditionType::CutoverReady),
        "AwaitingApproval"
    );
    assert_eq!(
        reason(&w.status().await, ConditionType::Ready),
        "AwaitingApproval"
    );

    w.patch_cutover(serde_json::json!({"approved": true})).await;
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(s.phase, Some(Phase::CuttingOver));
    assert!(w.events().await.contains(&"SwitchNameservers".to_string()));

    // A person switches the registrar; the parent serves Route 53.
    w.switch_at_the_parent().await;
    let s = w.status().await;
    assert_eq!(s.phase, Some(Phase::Propagating));
    let cut = s.cutover.clone().expect("cutover");
    let switched: jiff::Timestamp = cut.switched_at.expect("switchedAt").parse().expect("t");
    let releasable: jiff::Timestamp = cut
        .old_provider_releasable_at
        .expect("releasable")
        .parse()
        .expect("t");
    // Until the parent's 3600 s delegation expires, a resolver may fetch the old provider's NS
    // set (lowered to 60 s): the horizon, above the 10 m soak.
    assert_eq!(releasable.duration_since(switched).as_secs(), 3660);

    // Rule 12: the old provider's own apex NS set still names its servers, so the soak does
    // not end however long it lasts.
    w.clock.advance(Duration::from_secs(3660));
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(s.phase, Some(Phase::Propagating));
    assert_eq!(
        reason(&s, ConditionType::Propagated),
        "OldProviderNsUnchanged"
    );
    let cut = s.cutover.clone().expect("cutover");
    assert_eq!(cut.source_apex_ns, OLD.map(String::from).to_vec());
    // A person points them at Route 53: released one old NS TTL (60 s, lowered) later.
    w.source.0.lock().expect("lock").apex_ns = route53_set();
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(reason(&s, ConditionType::Propagated), "Soaking");
    assert!(s.cutover.expect("cutover").source_ns_switched_at.is_some());
    w.clock.advance(Duration::from_secs(61));
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(s.phase, Some(Phase::Completed));
    assert_eq!(reason(&s, ConditionType::Ready), "Completed");
    // The Route 53 NS TTL is raised to the final one.
    let apex = RecordKey::new("example.com.", RecordType::Ns, None);
    assert_eq!(w.route53.records(&zone)[&apex].ttl, Some(172_800));
}

fn route53_set() -> Vec<String> {
    let mut set: Vec<String> = ROUTE53_NS.iter().map(|n| n.to_string()).collect();
    set.sort();
    set
}

/// Rule 12 with `oldProviderNameservers: Update`: zoneshift points the old provider's apex NS
/// set at Route 53 when the gate opens; a refusal is said (and tried again), a rollback puts the
/// old set back.
#[tokio::test]
async fn the_old_providers_ns_set_is_updated_and_restored_on_rollback() {
    let mut m = migration(CutoverMode::Manual);
    m.spec.cutover.approved = true;
    m.spec.cutover.old_provider_nameservers = OldProviderNameservers::Update;
    let w = Hermetic::new(m, 60).await;
    w.source.0.lock().expect("lock").accepts_updates = false;
    for _ in 0..3 {
        w.reconcile().await;
    }
    w.clock.advance(Duration::from_secs(3700));
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(s.phase, Some(Phase::CuttingOver));
    let error = s.cutover.expect("cutover").source_ns_update_error;
    assert!(
        error.as_deref().is_some_and(|e| e.contains("REFUSED")),
        "{error:?}"
    );
    assert!(w
        .events()
        .await
        .contains(&"OldProviderNsUpdateFailed".to_string()));
    // The old provider now accepts it: the next pass sends it again.
    w.source.0.lock().expect("lock").accepts_updates = true;
    w.switch_at_the_parent().await;
    assert_eq!(
        w.source.0.lock().expect("lock").updates,
        vec![route53_set()]
    );
    assert!(w
        .events()
        .await
        .contains(&"OldProviderNsUpdated".to_string()));
    w.clock.advance(Duration::from_secs(30));
    w.reconcile().await;
    let cut = w.status().await.cutover.expect("cutover");
    assert!(cut.source_ns_switched_at.is_some(), "{cut:?}");
    assert!(cut.source_ns_updated_at.is_some(), "{cut:?}");
    let s = w.status().await;
    assert_eq!(reason(&s, ConditionType::Propagated), "Soaking");
    // Rolled back: the old set goes back at the old provider too.
    w.patch_cutover(serde_json::json!({"rollback": true})).await;
    w.reconcile().await;
    let updates = w.source.0.lock().expect("lock").updates.clone();
    assert_eq!(updates.last(), Some(&OLD.map(String::from).to_vec()));
}

/// During the soak every server of the old provider is probed on its own: one emptied server
/// is the outage, whatever the others answer.
#[tokio::test]
async fn one_emptied_old_server_is_caught_during_the_soak() {
    let mut m = migration(CutoverMode::Manual);
    m.spec.source.as_mut().expect("source").nameservers =
        vec!["192.0.2.53".into(), "192.0.2.54".into()];
    m.spec.cutover.approved = true;
    let w = Hermetic::new(m, 60).await;
    for _ in 0..3 {
        w.reconcile().await;
    }
    w.clock.advance(Duration::from_secs(3700));
    w.reconcile().await;
    assert_eq!(w.status().await.phase, Some(Phase::CuttingOver));
    w.switch_at_the_parent().await;
    assert_eq!(w.status().await.phase, Some(Phase::Propagating));
    // A full pass probes both servers: healthy.
    w.clock.advance(Duration::from_secs(120));
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(reason(&s, ConditionType::SourceHealthy), "Answering");
    // One of the two is emptied.
    w.source.0.lock().expect("lock").emptied = vec!["192.0.2.54".into()];
    w.clock.advance(Duration::from_secs(120));
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(reason(&s, ConditionType::SourceHealthy), "SourceUnhealthy");
    let msg = s
        .condition(ConditionType::SourceHealthy)
        .expect("c")
        .message
        .clone();
    assert!(msg.contains("192.0.2.54"), "{msg}");
    assert!(w.events().await.contains(&"SourceUnhealthy".to_string()));
}

/// Deleting the resource with deletionPolicy Delete while the domain is delegated to the zone
/// deletes nothing, and the status says a person must act (`Stalled=True DeletionBlocked`).
/// Once the delegation leaves, the deletion waits by itself (`Reconciling=True
/// DeletionWaiting`, no longer stalled) until the delegation's TTLs have passed, then empties
/// and deletes the zone.
#[tokio::test]
async fn deletion_waits_while_the_domain_is_delegated_to_the_zone() {
    let mut m = migration(CutoverMode::Manual);
    m.spec.hosted_zone.deletion_policy = DeletionPolicy::Delete;
    m.spec.cutover.approved = true;
    let w = Hermetic::new(m, 60).await;
    for _ in 0..3 {
        w.reconcile().await;
    }
    w.clock.advance(Duration::from_secs(3700));
    w.reconcile().await;
    w.switch_at_the_parent().await;
    let s = w.status().await;
    assert_eq!(s.phase, Some(Phase::Propagating));
    let zone = s.hosted_zone_id.clone().expect("zone");
    let before = w.route53.records(&zone).len();
    let w = w.deleted().await;
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(r.is_err(), "deletion is refused while delegated");
    assert_eq!(w.route53.records(&zone).len(), before, "nothing deleted");
    assert!(w.events().await.contains(&"DeletionBlocked".to_string()));
    let s = w.status().await;
    let cond = |s: &HostedZoneMigrationStatus, t| {
        let c = s.condition(t).expect("condition").clone();
        (c.status, c.reason)
    };
    let blocked = ("True".to_string(), "DeletionBlocked".to_string());
    assert_eq!(cond(&s, ConditionType::Stalled), blocked);
    assert_eq!(cond(&s, ConditionType::Ready).1, "DeletionBlocked");

    // Most servers of the parent serve the old provider again, one still serves the zone's
    // nameservers: the domain is still delegated to the zone there.
    let old: Vec<String> = OLD.iter().map(|s| s.to_string()).collect();
    let ours = w.parent.nameservers();
    w.parent.delegate(&old);
    w.parent.split(vec![ours.clone()], vec![]);
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(r.is_err(), "deletion is refused while one server delegates");
    assert_eq!(w.route53.records(&zone).len(), before, "nothing deleted");
    assert_eq!(cond(&w.status().await, ConditionType::Stalled), blocked);

    // That server no longer answers, the others serve the old provider: it may still
    // delegate to the zone, so the deletion waits, by itself (not stalled: no person is
    // needed, and the server's view is asked again next time).
    w.parent
        .split(vec![], vec!["192.0.2.251:53: timed out".to_string()]);
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(r.is_err(), "deletion waits for the unanswered server");
    assert_eq!(w.route53.records(&zone).len(), before, "nothing deleted");
    let s = w.status().await;
    let waiting = ("True".to_string(), "DeletionWaiting".to_string());
    assert_eq!(cond(&s, ConditionType::Reconciling), waiting);
    assert_eq!(cond(&s, ConditionType::Stalled).0, "False");
    let msg = s
        .condition(ConditionType::Ready)
        .expect("Ready")
        .message
        .clone();
    assert!(msg.contains("192.0.2.251:53"), "{msg}");

    // Every server serves the old provider: no person is needed any more, but resolvers may
    // hold the delegation to the zone for its TTLs.
    w.parent.split(vec![], vec![]);
    w.clock.advance(Duration::from_secs(30));
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(r.is_err(), "deletion waits for the delegation's TTLs");
    assert_eq!(
        w.route53.records(&zone).len(),
        before,
        "nothing deleted yet"
    );
    let s = w.status().await;
    assert_eq!(cond(&s, ConditionType::Reconciling), waiting);
    assert_eq!(cond(&s, ConditionType::Stalled).0, "False");
    let until = s
        .cutover
        .as_ref()
        .and_then(|c| c.route53_releasable_at.clone());
    assert!(until.is_some(), "until when Route 53 keeps serving is kept");

    // Past that time the delegation comes back to the zone, and leaves again: the caches'
    // count starts over from the second departure, not the first.
    w.clock.advance(Duration::from_secs(3 * 86_400));
    w.parent.delegate(&ours);
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(r.is_err(), "delegated again: refused");
    let s = w.status().await;
    assert_eq!(cond(&s, ConditionType::Stalled), blocked);
    let cleared = s
        .cutover
        .as_ref()
        .and_then(|c| c.route53_releasable_at.clone());
    assert_eq!(cleared, None, "the earlier release time no longer holds");
    w.parent.delegate(&old);
    w.clock.advance(Duration::from_secs(30));
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(r.is_err(), "deletion waits for the delegation's TTLs again");
    assert_eq!(w.route53.records(&zone).len(), before, "nothing deleted");
    assert_eq!(cond(&w.status().await, ConditionType::Reconciling), waiting);

    w.clock.advance(Duration::from_secs(3 * 86_400));
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(r.is_ok(), "deletion goes on after the TTLs: {r:?}");
    assert!(
        w.route53.records(&zone).is_empty(),
        "the zone is emptied and deleted"
    );
}

/// A resource shows its phase and why it waits before its first Route 53 call returns: the
/// request budget may keep it waiting long (a fleet applied at once).
#[tokio::test]
async fn the_first_status_comes_before_any_route53_call() {
    let w = Hermetic::new(migration(CutoverMode::Manual), 60).await;
    let budget = Arc::new(tokio::sync::Semaphore::new(0));
    w.route53.0.lock().expect("lock").hold = Some(budget.clone());
    let obj = Arc::new(w.get().await);
    let ctx = w.ctx.clone();
    let pass = tokio::spawn(async move { reconcile(obj, ctx).await });
    let mut status = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if let Some(s) = w.get().await.status {
            status = Some(s);
            break;
        }
    }
    let s = status.expect("a status while the first Route 53 call waits");
    assert_eq!(s.phase, Some(Phase::Pending));
    assert_eq!(reason(&s, ConditionType::Ready), "Reconciling");
    assert!(s
        .condition(ConditionType::Ready)
        .expect("Ready")
        .message
        .contains("request budget"));
    assert_eq!(w.route53.writes(), 0);
    budget.add_permits(1_000);
    pass.await.expect("join").expect("reconcile");
    assert_eq!(
        reason(&w.status().await, ConditionType::RecordsSynced),
        "InSync"
    );
}

/// A record Route 53 would refuse writes nothing at all, not even the zone.
#[tokio::test]
async fn an_invalid_record_writes_nothing() {
    let mut m = migration(CutoverMode::Manual);
    m.spec.records = vec![RecordSpec {
        name: "bad".into(),
        type_: "A".into(),
        values: vec!["not-an-address".into()],
        ..Default::default()
    }];
    let w = Hermetic::new(m, 60).await;
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(reason(&s, ConditionType::RecordsSynced), "InvalidRecord");
    assert!(s
        .condition(ConditionType::RecordsSynced)
        .expect("c")
        .message
        .contains("records[0]"));
    assert_eq!(w.route53.writes(), 0);
    assert!(s.is_true(ConditionType::Stalled));
}

/// A source that cannot be read changes nothing in Route 53: a partial import would delete
/// what it missed.
#[tokio::test]
async fn an_unreadable_source_changes_nothing() {
    let w = Hermetic::new(migration(CutoverMode::Manual), 60).await;
    w.reconcile().await;
    let writes = w.route53.writes();
    w.source.0.lock().expect("lock").import = None;
    w.clock.advance(Duration::from_secs(600));
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(reason(&s, ConditionType::RecordsSynced), "TransferFailed");
    assert_eq!(w.route53.writes(), writes);
}

/// Route 53 Domains: a request whose answer was lost (DuplicateRequest) while the registrar
/// already holds the new nameservers is done: recorded as such, not asked again.
#[tokio::test]
async fn a_lost_registrar_answer_is_a_state_not_a_loop() {
    let w = Hermetic::new(migration(CutoverMode::Route53Domains), 60).await;
    for _ in 0..3 {
        w.reconcile().await;
    }
    w.clock.advance(Duration::from_secs(3700));
    w.registrar.0.lock().expect("lock").lose_next_answer = true;
    // The parent does not follow at once this time: the registrar applies, the answer is lost.
    w.registrar.0.lock().expect("lock").parent = None;
    w.patch_cutover(serde_json::json!({"approved": true})).await;
    w.reconcile().await;
    let s = w.status().await;
    assert_eq!(
        s.phase,
        Some(Phase::CuttingOver),
        "{:?}",
        s.condition(ConditionType::CutoverReady)
    );
    let cut = s.cutover.clone().expect("cutover");
    assert!(cut.registrar_held_at.is_some(), "{cut:?}");
    assert_eq!(cut.operation_id, None);
    for _ in 0..3 {
        w.clock.advance(Duration::from_secs(30));
        w.reconcile().await;
    }
    assert_eq!(
        w.registrar.0.lock().expect("lock").requests,
        1,
        "asked once"
    );
    w.switch_at_the_parent().await;
    assert_eq!(w.status().await.phase, Some(Phase::Propagating));
}

/// A transient Route 53 failure backs off and the next pass completes the sync.
#[tokio::test]
async fn a_throttled_write_is_retried_by_the_next_pass() {
    let w = Hermetic::new(migration(CutoverMode::Manual), 60).await;
    w.route53
        .0
        .lock()
        .expect("lock")
        .fail_next
        .insert("ChangeResourceRecordSets", (1, "Throttling".into()));
    let r = reconcile(Arc::new(w.get().await), w.ctx.clone()).await;
    assert!(
        r.is_err(),
        "the failure is returned for the error policy's backoff"
    );
    let s = w.status().await;
    // Retries spent on throttling say nothing about the batch: no person is needed.
    assert_eq!(reason(&s, ConditionType::RecordsSynced), "Route53Error");
    assert_eq!(reason(&s, ConditionType::Stalled), "NotStalled");
    w.reconcile().await;
    assert_eq!(
        reason(&w.status().await, ConditionType::RecordsSynced),
        "InSync"
    );
}

fn with_two_addresses(mut m: HostedZoneMigration) -> HostedZoneMigration {
    m.spec.records = vec![RecordSpec {
        name: "api".into(),
        type_: "A".into(),
        values: vec!["192.0.2.7".into(), "192.0.2.8".into()],
        ..Default::default()
    }];
    m
}

fn rewrites_counted(w: &Hermetic) -> Option<String> {
    w.ctx
        .metrics
        .encode()
        .lines()
        .find(|l| l.starts_with("zoneshift_resync_rewrites_total{"))
        .map(str::to_string)
}

/// A Route 53 that lists something other than what was written (here: one value of two, as
/// an endpoint wrapping values in CDATA its reader drops would) makes every sync write the
/// same UPSERT again. The second such sync, the desired records unchanged, is told by a
/// Warning event naming the record set and counted in zoneshift_resync_rewrites_total.
#[tokio::test]
async fn a_sync_that_writes_on_every_resync_is_noticed() {
    let w = Hermetic::new(with_two_addresses(migration(CutoverMode::Manual)), 60).await;
    w.route53.0.lock().expect("lock").drops_values_on_read = true;
    w.reconcile().await;
    let first = w.route53.writes();
    assert!(!w.events().await.contains(&"WritesEveryResync".to_string()));
    w.reconcile().await;
    assert!(
        w.route53.writes() > first,
        "the lost value is written again"
    );
    let list = w.events.list(&ListParams::default()).await.expect("events");
    let warning = list
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("WritesEveryResync"))
        .expect("a WritesEveryResync event");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.clone().unwrap_or_default();
    assert!(note.contains("api.example.com. A"), "{note}");
    assert_eq!(
        warning.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("example-com")
    );
    let counted = rewrites_counted(&w).expect("the counter");
    assert!(
        counted.contains(r#"namespace="dns""#)
            && counted.contains(r#"name="example-com""#)
            && counted.ends_with(" 1"),
        "{counted}"
    );
    w.reconcile().await;
    assert!(rewrites_counted(&w).expect("counter").ends_with(" 2"));
}

/// The same migration against a Route 53 that reads back what it stored writes once and
/// then nothing; a changed desired set written twice in a row is not a repeated write.
#[tokio::test]
async fn writes_that_stick_or_follow_a_changed_spec_are_not_repeated_writes() {
    let w = Hermetic::new(with_two_addresses(migration(CutoverMode::Manual)), 60).await;
    for _ in 0..3 {
        w.reconcile().await;
    }
    let patch = serde_json::json!({ "spec": { "records": [
        { "name": "api", "type": "A", "values": ["192.0.2.9"] } ] } });
    w.api
        .patch("example-com", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("patch");
    let before = w.route53.writes();
    w.reconcile().await;
    assert!(w.route53.writes() > before, "the changed record is written");
    let patch = serde_json::json!({ "spec": { "records": [
        { "name": "api", "type": "A", "values": ["192.0.2.10"] } ] } });
    w.api
        .patch("example-com", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("patch");
    w.reconcile().await;
    w.reconcile().await;
    assert!(!w.events().await.contains(&"WritesEveryResync".to_string()));
    assert_eq!(rewrites_counted(&w), None);
}

/// An observation that could not be made never opens the gate: with the parent's servers
/// unreachable, or the old provider's NS TTL unanswered (timeouts, SERVFAIL), an approved
/// migration whose other checks would pass waits hours on, asks no registrar, and says why.
#[tokio::test]
async fn an_observation_that_could_not_be_made_never_opens_the_gate() {
    for fault in [
        "none (the control)",
        "parent unreachable",
        "source NS TTL unanswered",
    ] {
        let w = Hermetic::new(migration(CutoverMode::Route53Domains), 60).await;
        if fault == "parent unreachable" {
            *w.parent.0.lock().expect("lock") = Err("every parent server timed out".into());
        } else if fault == "source NS TTL unanswered" {
            w.source.0.lock().expect("lock").ns_ttl_unanswered = true;
        }
        w.patch_cutover(serde_json::json!({"approved": true})).await;
        for _ in 0..12 {
            w.reconcile().await;
            w.clock.advance(Duration::from_secs(3600));
        }
        let s = w.status().await;
        if fault.starts_with("none") {
            // Without the fault the same twelve hours open the gate and ask the registrar.
            assert!(
                s.phase.is_some_and(Phase::switch_requested),
                "{:?}",
                gate(&s)
            );
            continue;
        }
        assert_eq!(s.phase, Some(Phase::AwaitingCutover), "{fault}");
        assert_eq!(
            w.registrar.0.lock().expect("lock").requests,
            0,
            "{fault}: the registrar was asked"
        );
        let ready = s
            .conditions
            .iter()
            .find(|c| c.type_ == "CutoverReady")
            .expect("CutoverReady");
        assert_eq!(ready.status, "False", "{fault}: {ready:?}");
        let g = gate(&s);
        assert!(
            g.iter().any(|(_, state)| state != "Pass"),
            "{fault}: every check passes: {g:?}"
        );
    }
}
