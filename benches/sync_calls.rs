//! Route 53 calls and wall time of a sync, against moto_server.
//!
//! For each zone size N it runs the real `reconcile` (through the stateful fake Kubernetes API)
//! twice: the initial sync into an empty zone, then an unchanged re-sync. It prints the calls
//! made by operation next to the minimum any client needs:
//!   initial: ceil(N/1000) ChangeResourceRecordSets (+ GetChange while a change is PENDING)
//!   re-sync: ceil((N+2)/300) ListResourceRecordSets pages (the zone also holds SOA and NS)
//! and the wall time against moto (the request budget is raised so that moto, not the rate
//! limiter, is measured; the time the default budget of 5 requests/s would take is computed).
//!
//! Run: `make bench` (or `scripts/test-env up; eval "$(scripts/test-env env)"; cargo bench
//! --bench sync_calls`). `ZS_BENCH_SIZES=100,10000` picks the sizes.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use k8s_openapi::api::events::v1::Event;
use kube::api::Api;
use kube_fake_client::ClientBuilder;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zoneshift::api::{HostedZoneMigration, HostedZoneMigrationSpec, RecordSpec};
use zoneshift::clock::SystemClock;
use zoneshift::controller::{reconcile, Context, FINALIZER};
use zoneshift::plan::Timing;
use zoneshift::route53::{RetryPolicy, Route53};

fn records(n: usize) -> Vec<RecordSpec> {
    (0..n)
        .map(|i| RecordSpec {
            name: format!("host-{i:06}"),
            type_: "A".into(),
            ttl: Some(300),
            values: vec![format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)],
            ..Default::default()
        })
        .collect()
}

struct Run {
    calls: std::collections::BTreeMap<&'static str, u64>,
    total: u64,
    wall: Duration,
}

async fn reconcile_once(api: &Api<HostedZoneMigration>, ctx: &Arc<Context>, r53: &Route53) -> Run {
    let before = r53.stats.snapshot();
    let started = Instant::now();
    let obj = api.get("bench").await.expect("get");
    reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("reconcile");
    let wall = started.elapsed();
    // Requests made during this pass, by operation (every outcome counted).
    let mut calls = std::collections::BTreeMap::new();
    for ((op, outcome), n) in r53.stats.snapshot() {
        let made = n - before.get(&(op, outcome)).copied().unwrap_or(0);
        *calls.entry(op).or_insert(0) += made;
    }
    calls.retain(|_, n| *n > 0);
    let total = calls.values().sum();
    Run { calls, total, wall }
}

fn fmt_calls(r: &Run) -> String {
    r.calls
        .iter()
        .map(|(op, n)| format!("{op}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main]
async fn main() {
    let endpoint = std::env::var("ZS_ROUTE53_ENDPOINT").expect(
        "ZS_ROUTE53_ENDPOINT: run `scripts/test-env up` and `eval \"$(scripts/test-env env)\"`",
    );
    let sizes: Vec<usize> = std::env::var("ZS_BENCH_SIZES")
        .unwrap_or_else(|_| "100,10000,50000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("zoneshift sync benchmark against moto_server at {endpoint}");
    println!(
        "{:>7} | {:<8} | {:>5} | {:>7} | {:>9} | {:>13} | calls by operation",
        "N", "pass", "calls", "minimum", "wall (s)", "at 5 req/s (s)"
    );
    for n in sizes {
        let r53 = Route53::from_env(Some(&endpoint), 10_000, RetryPolicy::default()).await;
        let domain = format!("bench-{n}-{}.example.com", std::process::id());
        let mut obj = HostedZoneMigration::new(
            "bench",
            HostedZoneMigrationSpec {
                domain,
                records: records(n),
                ..Default::default()
            },
        );
        obj.metadata.namespace = Some("bench".into());
        obj.metadata.finalizers = Some(vec![FINALIZER.into()]);
        let kube = ClientBuilder::new()
            .with_resource::<HostedZoneMigration>()
            .with_status_subresource::<HostedZoneMigration>()
            .with_resource::<Event>()
            .with_object(obj)
            .build()
            .await
            .expect("fake api");
        let ctx = Arc::new(Context::new(
            kube.clone(),
            r53.clone(),
            Arc::new(SystemClock),
            Timing::default(),
            "bench".into(),
        ));
        let api: Api<HostedZoneMigration> = Api::namespaced(kube, "bench");

        let initial = reconcile_once(&api, &ctx, &r53).await;
        let min_changes = n.div_ceil(1000) as u64;
        let changes = initial
            .calls
            .get("ChangeResourceRecordSets")
            .copied()
            .unwrap_or(0);
        assert_eq!(
            changes, min_changes,
            "initial sync must use the minimum number of change batches"
        );
        println!(
            "{:>7} | {:<8} | {:>5} | {:>7} | {:>9.2} | {:>13.1} | {}",
            n,
            "initial",
            initial.total,
            format!("{min_changes} chg"),
            initial.wall.as_secs_f64(),
            initial.total as f64 / 5.0,
            fmt_calls(&initial)
        );
        let resync = reconcile_once(&api, &ctx, &r53).await;
        let min_pages = (n + 2).div_ceil(300) as u64;
        println!(
            "{:>7} | {:<8} | {:>5} | {:>7} | {:>9.2} | {:>13.1} | {}",
            n,
            "re-sync",
            resync.total,
            format!("{min_pages} pg"),
            resync.wall.as_secs_f64(),
            resync.total as f64 / 5.0,
            fmt_calls(&resync)
        );
    }
}
