//! Logs, Prometheus metrics and the admin endpoints (`/metrics`, `/livez`, `/readyz`).

use crate::api::{HostedZoneMigrationStatus, Phase};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tracing_subscriber::{fmt, EnvFilter};

/// The log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Libraries whose debug and trace events print credentials: the AWS SDK prints the resolved
/// identity (the access key id, and a session token's presence) while resolving the endpoint,
/// signing and caching. Capped at `info` whatever `RUST_LOG` says, so no log level shows a
/// credential.
pub const CREDENTIAL_PRINTING_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "aws_credential_types",
];

/// Whether an event or span may be logged at all (see [`CREDENTIAL_PRINTING_TARGETS`]).
pub fn loggable(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() <= tracing::Level::INFO
        || !CREDENTIAL_PRINTING_TARGETS
            .iter()
            .any(|t| meta.target().starts_with(t))
}

/// Installs the global subscriber; `RUST_LOG` overrides the default level (`info`).
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::filter::filter_fn(loggable));
    let _ = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub category: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MigrationLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub namespace: String,
    pub name: String,
    /// The phase's name, as in `status.phase`.
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DnsQueryLabels {
    /// `authoritative` (a question to the old provider, Route 53's or the parent's servers),
    /// `recursive` (to the resolver), `transfer` (an AXFR), `update` (an RFC 2136 UPDATE).
    pub kind: &'static str,
}

/// DNS messages the process has sent, by kind: what observing the migrations costs the servers
/// asked. Counted where the messages are sent (`crate::dns`), whichever context asks, so it is
/// one family for the process, registered by every [`Metrics`].
static DNS_QUERIES: std::sync::LazyLock<Family<DnsQueryLabels, Counter>> =
    std::sync::LazyLock::new(Family::default);

/// Counts one DNS message sent (see [`DnsQueryLabels`]).
pub fn count_dns_query(kind: &'static str) {
    DNS_QUERIES.get_or_create(&DnsQueryLabels { kind }).inc();
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabels {
    pub probe: &'static str,
    pub outcome: &'static str,
}

/// Every metric zoneshift exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub route53_requests: Family<RequestLabels, Counter>,
    pub records_desired: Family<MigrationLabels, Gauge>,
    pub records_in_sync: Family<MigrationLabels, Gauge>,
    pub phase: Family<PhaseLabels, Gauge>,
    pub gate_opens_in: Family<MigrationLabels, Gauge<f64, AtomicU64>>,
    pub releasable_in: Family<MigrationLabels, Gauge<f64, AtomicU64>>,
    pub dns_probes: Family<ProbeLabels, Counter>,
    pub resync_rewrites: Family<MigrationLabels, Counter>,
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("zoneshift");
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            reconciles: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            reconcile_errors: Family::default(),
            route53_requests: Family::default(),
            records_desired: Family::default(),
            records_in_sync: Family::default(),
            phase: Family::default(),
            gate_opens_in: Family::default(),
            releasable_in: Family::default(),
            dns_probes: Family::default(),
            resync_rewrites: Family::default(),
            leader: Gauge::default(),
        };
        m.register(&mut r);
        Metrics {
            registry: Arc::new(r),
            ..m
        }
    }

    /// Registers every metric in `r`.
    fn register(&self, r: &mut Registry) {
        r.register(
            "reconciles",
            "Reconciles by result (ok, error)",
            self.reconciles.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            self.reconcile_duration.clone(),
        );
        r.register(
            "reconcile_errors",
            "Failed reconciles by error category",
            self.reconcile_errors.clone(),
        );
        r.register(
            "route53_requests",
            "Route 53 requests by operation and outcome (ok, throttled, retried, error)",
            self.route53_requests.clone(),
        );
        r.register(
            "records_desired",
            "Record sets a migration wants in its zone",
            self.records_desired.clone(),
        );
        r.register(
            "records_in_sync",
            "Desired record sets Route 53 holds as desired",
            self.records_in_sync.clone(),
        );
        r.register(
            "migration_phase",
            "1 for the phase each migration is in",
            self.phase.clone(),
        );
        r.register(
            "gate_opens_in_seconds",
            "Seconds until the time conditions of the cutover gate are met (0 once met)",
            self.gate_opens_in.clone(),
        );
        r.register(
            "old_provider_releasable_in_seconds",
            "Seconds until the old provider may be released (0 once it may)",
            self.releasable_in.clone(),
        );
        r.register(
            "dns_probes",
            "DNS observations by probe and outcome",
            self.dns_probes.clone(),
        );
        r.register(
            "dns_queries",
            "DNS messages sent by kind (authoritative, recursive, transfer, update)",
            DNS_QUERIES.clone(),
        );
        r.register(
            "resync_rewrites",
            "Full syncs that wrote again record sets the previous sync wrote, the desired records unchanged (Warning event WritesEveryResync)",
            self.resync_rewrites.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader lease",
            self.leader.clone(),
        );
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records what a status says about one migration.
    pub fn observe(
        &self,
        namespace: &str,
        name: &str,
        status: &HostedZoneMigrationStatus,
        now: jiff::Timestamp,
    ) {
        let who = MigrationLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        if let Some(r) = &status.records {
            self.records_desired.get_or_create(&who).set(r.desired);
            self.records_in_sync.get_or_create(&who).set(r.in_sync);
        }
        let current = status.phase.unwrap_or_default();
        for p in Phase::ALL {
            let l = PhaseLabels {
                namespace: namespace.into(),
                name: name.into(),
                phase: p.to_string(),
            };
            self.phase.get_or_create(&l).set(i64::from(p == current));
        }
        let until = |t: &Option<String>| {
            t.as_deref()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map(|at| at.duration_since(now).as_secs_f64().max(0.0))
        };
        if let Some(c) = &status.cutover {
            if let Some(s) = until(&c.gate_opens_at) {
                self.gate_opens_in.get_or_create(&who).set(s);
            }
            if let Some(s) = until(&c.old_provider_releasable_at) {
                self.releasable_in.get_or_create(&who).set(s);
            }
        }
    }

    /// Forgets a deleted migration's series.
    pub fn forget(&self, namespace: &str, name: &str) {
        let who = MigrationLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.records_desired.remove(&who);
        self.records_in_sync.remove(&who);
        self.gate_opens_in.remove(&who);
        self.releasable_in.remove(&who);
        self.resync_rewrites.remove(&who);
        for p in Phase::ALL {
            self.phase.remove(&PhaseLabels {
                namespace: namespace.into(),
                name: name.into(),
                phase: p.to_string(),
            });
        }
    }
}

/// What `/readyz` answers: ready once the CRD is established and the controller's cache has
/// synced.
#[derive(Clone, Default)]
pub struct Readiness {
    pub crd_established: Arc<AtomicBool>,
    pub cache_synced: Arc<AtomicBool>,
    /// A replica waiting for the leader lease has no cache to sync: it is ready to take over.
    pub standby: Arc<AtomicBool>,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.crd_established.load(Ordering::Relaxed)
            && (self.cache_synced.load(Ordering::Relaxed) || self.standby.load(Ordering::Relaxed))
    }
}

/// Serves `/metrics`, `/livez` and `/readyz` on `addr` until the process ends.
pub async fn serve_admin(
    addr: std::net::SocketAddr,
    metrics: Metrics,
    readiness: Readiness,
) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get({
                let m = metrics.clone();
                move || {
                    let body = m.encode();
                    async move { ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body) }
                }
            }),
        )
        .route("/livez", get(|| async { (StatusCode::OK, "ok\n") }))
        .route(
            "/readyz",
            get(move || {
                let ready = readiness.ready();
                async move {
                    if ready {
                        (StatusCode::OK, "ready\n")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready: waiting for the CRD to be established and the cache to sync\n")
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

impl Metrics {
    /// Counts one DNS observation of the cutover.
    pub fn count_probe(&self, probe: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.dns_probes
            .get_or_create(&ProbeLabels { probe, outcome })
            .inc();
    }

    /// Counts one sync that wrote again what the previous sync wrote.
    pub fn count_rewrite(&self, namespace: &str, name: &str) {
        let who = MigrationLabels {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.resync_rewrites.get_or_create(&who).inc();
    }
}
