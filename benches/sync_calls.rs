//! Route 53 calls and wall time of a sync, against moto_server.
//!
//! For each zone size N it runs the real `reconcile` (through the stateful fake Kubernetes API):
//! the initial sync into an empty zone; the first unchanged pass, which lists the zone and
//! records the full comparison ("compare"); unchanged re-syncs within `--full-compare-interval`
//! ("re-sync", the mean of several), which trust it; and an unchanged re-sync with the interval
//! at zero ("re-sync, full"), which lists every page as every re-sync did before. It prints the
//! calls made by operation next to the minimum any client needs:
//!   initial: ceil(N/1000) ChangeResourceRecordSets (+ GetChange while a change is PENDING)
//!   listing: ceil((N+2)/300) ListResourceRecordSets pages (the zone also holds SOA and NS)
//!   re-sync: 0
//! the wall time against moto (the request budget is raised so that moto, not the rate
//! limiter, is measured; the time the default budget of 5 requests/s would take is computed),
//! and the CPU time of the bench process during the pass: the operator's reconcile with the
//! in-process fake Kubernetes API (moto is another process). CPU is the sum over the process's
//! threads of `/proc/self/task/*/schedstat`, in nanoseconds; other work on the machine does not
//! change it the way it changes wall time.
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
    cpu: Duration,
}

/// CPU time of this process so far: the sum over its live threads (tokio's workers live as
/// long as the runtime).
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("task").path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

async fn reconcile_once(api: &Api<HostedZoneMigration>, ctx: &Arc<Context>, r53: &Route53) -> Run {
    let before = r53.stats.snapshot();
    let cpu_before = process_cpu();
    let started = Instant::now();
    let obj = api.get("bench").await.expect("get");
    reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("reconcile");
    let wall = started.elapsed();
    let cpu = process_cpu() - cpu_before;
    // Requests made during this pass, by operation (every outcome counted).
    let mut calls = std::collections::BTreeMap::new();
    for ((op, outcome), n) in r53.stats.snapshot() {
        let made = n - before.get(&(op, outcome)).copied().unwrap_or(0);
        *calls.entry(op).or_insert(0) += made;
    }
    calls.retain(|_, n| *n > 0);
    let total = calls.values().sum();
    Run {
        calls,
        total,
        wall,
        cpu,
    }
}

fn print_row(n: usize, pass: &str, r: &Run, minimum: String) {
    println!(
        "{:>7} | {:<13} | {:>5} | {:>7} | {:>9.3} | {:>8.1} | {:>13.1} | {}",
        n,
        pass,
        r.total,
        minimum,
        r.wall.as_secs_f64(),
        r.cpu.as_secs_f64() * 1000.0,
        r.total as f64 / 5.0,
        fmt_calls(r)
    );
}

/// The mean of several runs (calls summed by operation, then divided).
fn mean(runs: &[Run]) -> Run {
    let k = runs.len().max(1) as u64;
    let mut calls = std::collections::BTreeMap::new();
    for r in runs {
        for (op, n) in &r.calls {
            *calls.entry(*op).or_insert(0) += n;
        }
    }
    calls.values_mut().for_each(|n| *n /= k);
    Run {
        total: runs.iter().map(|r| r.total).sum::<u64>() / k,
        calls,
        wall: runs.iter().map(|r| r.wall).sum::<Duration>() / k as u32,
        cpu: runs.iter().map(|r| r.cpu).sum::<Duration>() / k as u32,
    }
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
        "{:>7} | {:<13} | {:>5} | {:>7} | {:>9} | {:>8} | {:>13} | calls by operation",
        "N", "pass", "calls", "minimum", "wall (s)", "CPU (ms)", "at 5 req/s (s)"
    );
    let resyncs: usize = std::env::var("ZS_BENCH_RESYNCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
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
        let context = |timing: Timing| {
            Arc::new(Context::new(
                kube.clone(),
                r53.clone(),
                Arc::new(SystemClock),
                timing,
                "bench".into(),
            ))
        };
        let ctx = context(Timing::default());
        let api: Api<HostedZoneMigration> = Api::namespaced(kube.clone(), "bench");

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
        print_row(n, "initial", &initial, format!("{min_changes} chg"));
        let min_pages = (n + 2).div_ceil(300) as u64;
        let compare = reconcile_once(&api, &ctx, &r53).await;
        print_row(n, "compare", &compare, format!("{min_pages} pg"));
        let mut trusted = Vec::new();
        for _ in 0..resyncs {
            trusted.push(reconcile_once(&api, &ctx, &r53).await);
        }
        assert!(
            trusted.iter().all(|r| r.total == 0),
            "an unchanged re-sync within --full-compare-interval calls nothing"
        );
        print_row(n, "re-sync", &mean(&trusted), "0".into());
        let full_ctx = context(Timing {
            full_compare: Duration::ZERO,
            ..Timing::default()
        });
        let full = reconcile_once(&api, &full_ctx, &r53).await;
        print_row(n, "re-sync, full", &full, format!("{min_pages} pg"));
        print_row(n, "plan", &planning(n, resyncs), "-".into());
    }
}

/// The planning alone of an unchanged resync: the desired set built from the spec's records
/// and compared with the zone as listed (here the same set), no I/O. The mean of `k` rounds;
/// the bench runs on one thread here, so wall time is its CPU time.
fn planning(n: usize, k: usize) -> Run {
    let domain = "plan.example.com";
    let origin = zoneshift::zone::normalize_origin(domain).unwrap();
    let specs = records(n);
    let current = zoneshift::zone::desired_from_spec(domain, &specs).unwrap();
    let started = Instant::now();
    for _ in 0..k.max(1) {
        let desired = zoneshift::zone::desired_from_spec(domain, &specs).unwrap();
        let d = zoneshift::zone::diff(&desired, &current, &origin, Default::default());
        assert!(d.changes.is_empty(), "an unchanged zone plans no change");
    }
    let each = started.elapsed() / k.max(1) as u32;
    Run {
        total: 0,
        calls: Default::default(),
        wall: each,
        cpu: each,
    }
}
