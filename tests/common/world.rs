//! The world of the reconcile tests: a stateful fake Kubernetes API (kube-fake-client) and
//! the Route 53 stand-in, with helpers to drive `reconcile` as the controller would. These tests
//! are about what reconcile decides and writes to Route 53, not about the API server: the
//! in-process fake needs no server and keeps them fast. Everything only a real API server can
//! answer (the schema and CEL, server-side apply, RBAC, size limits) is tested against
//! kube-apiserver in tests/e2e/.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube_fake_client::ClientBuilder;
use std::sync::Arc;
use zoneshift::api::*;
use zoneshift::clock::ManualClock;
use zoneshift::controller::{reconcile, Context, FINALIZER};
use zoneshift::plan::Timing;
use zoneshift::route53::Route53;
use zoneshift::zone::{self, normalize_origin};

pub const NS: &str = "dns";

pub fn rec(name: &str, t: &str, values: &[&str]) -> RecordSpec {
    RecordSpec {
        name: name.into(),
        type_: t.into(),
        values: values.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

pub fn migration(name: &str, domain: &str, records: Vec<RecordSpec>) -> HostedZoneMigration {
    let mut m = HostedZoneMigration::new(
        name,
        HostedZoneMigrationSpec {
            domain: domain.into(),
            records,
            ..Default::default()
        },
    );
    m.metadata.namespace = Some(NS.into());
    // The finalizer is in place from the start: kube's finalizer helper adds the first one
    // with a JSON patch `test /metadata/finalizers == null`, which the fake refuses on a
    // missing path (a real API server accepts it). See tests/README.md.
    m.metadata.finalizers = Some(vec![FINALIZER.to_string()]);
    m
}

pub struct World {
    /// The operator's clock: tests move it to let TTLs and soaks run out.
    pub clock: ManualClock,
    pub api: Api<HostedZoneMigration>,
    pub events: Api<Event>,
    pub ctx: Arc<Context>,
    pub r53: Route53,
}

impl World {
    pub async fn new(objects: Vec<HostedZoneMigration>) -> World {
        World::with(objects, Vec::new(), Vec::new()).await
    }

    /// A world that also holds ConfigMaps and Secrets (zone files, TSIG keys).
    pub async fn with(
        objects: Vec<HostedZoneMigration>,
        config_maps: Vec<ConfigMap>,
        secrets: Vec<Secret>,
    ) -> World {
        World::with_route53(objects, config_maps, secrets, super::route53().await).await
    }

    /// A world whose operator reaches Route 53 through `r53` (a fault proxy, say).
    pub async fn with_route53(
        objects: Vec<HostedZoneMigration>,
        config_maps: Vec<ConfigMap>,
        secrets: Vec<Secret>,
        r53: Route53,
    ) -> World {
        let client = ClientBuilder::new()
            .with_resource::<HostedZoneMigration>()
            .with_status_subresource::<HostedZoneMigration>()
            .with_resource::<Event>()
            .with_objects(objects)
            .with_objects(config_maps)
            .with_objects(secrets)
            .build()
            .await
            .expect("fake client");
        let clock = ManualClock::new("2026-11-27T00:00:00Z".parse().expect("time"));
        let mut ctx = Context::new(
            client.clone(),
            r53.clone(),
            Arc::new(clock.clone()),
            Timing::default(),
            "test".into(),
        );
        // The parent zone is asked through the DNS world's resolver when it runs; otherwise
        // through a closed port, so the cutover gate says so at once instead of timing out.
        ctx.dns.resolver = Some(
            std::env::var("ZS_RESOLVER")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or_else(|| "127.0.0.1:9".parse().expect("addr")),
        );
        ctx.dns.timeout = std::time::Duration::from_secs(2);
        // The Cloudflare stand-in, when scripts/test-env started it.
        if let Ok(url) = std::env::var("ZS_CLOUDFLARE_API_URL") {
            ctx.cloudflare = zoneshift::source::cloudflare::CloudflareApi::new(&url, 50);
        }
        // Tests move the clock by seconds: probes are due every second.
        ctx.dns.probes = zoneshift::plan::cutover::Probes {
            poll: std::time::Duration::from_secs(1),
            source_probe: std::time::Duration::from_secs(1),
            max_verification_age: std::time::Duration::from_secs(300),
        };
        let ctx = Arc::new(ctx);
        World {
            clock,
            api: Api::namespaced(client.clone(), NS),
            events: Api::namespaced(client, NS),
            ctx,
            r53,
        }
    }

    pub async fn get(&self, name: &str) -> HostedZoneMigration {
        self.api.get(name).await.expect("get")
    }

    /// Reconciles the stored object once, as the controller would on a watch event.
    pub async fn reconcile(&self, name: &str) -> Result<Action, zoneshift::Error> {
        reconcile(Arc::new(self.get(name).await), self.ctx.clone()).await
    }

    /// Reconciles until the finalizer is in place and one sync has run.
    pub async fn settle(&self, name: &str) -> HostedZoneMigration {
        for _ in 0..2 {
            self.reconcile(name).await.expect("reconcile");
        }
        self.get(name).await
    }

    pub async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({ "spec": spec })),
            )
            .await
            .expect("patch spec");
    }

    /// The same world after `kubectl delete`: the object carries a deletionTimestamp and waits
    /// for its finalizer. (The fake deletes at once and refuses to set the timestamp on an
    /// update, so the object is carried into a new fake that starts with it marked.)
    pub async fn deleted(self, name: &str) -> World {
        let mut o = self.get(name).await;
        o.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        o.metadata.resource_version = None;
        o.metadata.managed_fields = None;
        World::new(vec![o]).await
    }

    pub async fn records(&self, zone_id: &str, domain: &str) -> zone::RecordMap {
        let origin = normalize_origin(domain).expect("origin");
        self.r53
            .list_records(zone_id)
            .await
            .expect("list")
            .sets
            .into_iter()
            .filter(|(k, _)| !zone::is_apex_protected(k, &origin))
            .collect()
    }

    pub async fn event_reasons(&self) -> Vec<String> {
        self.events
            .list(&ListParams::default())
            .await
            .expect("events")
            .items
            .into_iter()
            .filter_map(|e| e.reason)
            .collect()
    }
}

pub fn cond<'a>(m: &'a HostedZoneMigration, t: &str) -> &'a Condition {
    m.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == t))
        .unwrap_or_else(|| panic!("no {t} condition in {:?}", m.status))
}

pub fn zone_id(m: &HostedZoneMigration) -> String {
    m.status
        .as_ref()
        .and_then(|s| s.hosted_zone_id.clone())
        .expect("hostedZoneId")
}
