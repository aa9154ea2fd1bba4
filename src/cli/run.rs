//! `zoneshift run`: the controller with its admin endpoints and leader election.

use crate::clock::SystemClock;
use crate::controller::{self, Context};
use crate::dns::Settings;
use crate::leader::{Elector, LeaseConfig};
use crate::plan::Timing;
use crate::route53::{RetryPolicy, Route53};
use crate::telemetry::{serve_admin, LogFormat, Readiness};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Send Route 53 requests here instead of AWS (a local stand-in). Never settable by a
    /// resource: a resource must not be able to send the operator's credentials elsewhere.
    #[arg(long, env = "ZS_ROUTE53_ENDPOINT")]
    route53_endpoint: Option<String>,

    /// Cloudflare's API, for resources with spec.source.cloudflare (`http://` only on a loopback
    /// address, for a local stand-in). Never settable by a resource: a resource must not be
    /// able to send a token elsewhere.
    #[arg(long, env = "ZS_CLOUDFLARE_API_URL", default_value = crate::source::cloudflare::DEFAULT_API_URL)]
    cloudflare_api_url: String,

    /// Cloudflare API requests per second for the whole process (Cloudflare allows 1200 per
    /// five minutes per token).
    #[arg(long, env = "ZS_CLOUDFLARE_RPS", default_value_t = crate::source::cloudflare::DEFAULT_REQUESTS_PER_SECOND)]
    cloudflare_rps: u32,

    /// Route 53 requests per second for the whole process (the account's budget is shared).
    #[arg(long, env = "ZS_ROUTE53_RPS", default_value_t = 5)]
    route53_rps: u32,

    /// Route 53 requests the budget lets through at once after a quiet spell. 1 (the default)
    /// spaces every request evenly, so no one-second window holds more than --route53-rps:
    /// what AWS's per-account limit enforces.
    #[arg(long, env = "ZS_ROUTE53_BURST", default_value_t = 1)]
    route53_burst: u32,

    /// Full passes (import, sync, verification, deletion) running at once; the others wait
    /// their turn in order of arrival, after their first status. Bounds the memory the
    /// operator holds (each pass holds its zone's records) and serves a fleet a few
    /// resources at a time. The DNS-only looks of a cutover do not wait.
    #[arg(long, env = "ZS_PARALLEL_PASSES", default_value_t = crate::controller::DEFAULT_PARALLEL_PASSES as u32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    parallel_passes: u32,

    /// How often an in-sync zone is compared again, correcting drift made by hand.
    #[arg(long, env = "ZS_RESYNC_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration)]
    resync_interval: Duration,

    /// How long a listing that found a zone in sync stands for it: until then a resync of the
    /// same desired records (a migration without spec.source, or a completed one) makes no
    /// Route 53 call. After it the zone is listed again, catching changes made by hand.
    #[arg(long, env = "ZS_FULL_COMPARE_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    full_compare_interval: Duration,

    /// How soon a pending Route 53 change is asked about again.
    #[arg(long, env = "ZS_CHANGE_POLL_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    change_poll_interval: Duration,

    /// How often the source (zone transfer or zone file) is imported and verified again, so
    /// changes made at the old provider during the migration reach the shadow zone.
    #[arg(long, env = "ZS_IMPORT_INTERVAL", default_value = "5m", value_parser = humantime::parse_duration)]
    import_interval: Duration,

    /// Timeout of one DNS query or zone-transfer step to the old provider.
    #[arg(long, env = "ZS_DNS_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    dns_timeout: Duration,

    /// DNS queries in flight at once while verifying the shadow zone.
    #[arg(long, env = "ZS_VERIFY_CONCURRENCY", default_value_t = 32)]
    verify_concurrency: usize,

    /// The recursive resolver (ip[:port]) through which the parent zone of each domain is
    /// found. Default: the first nameserver of /etc/resolv.conf.
    #[arg(long, env = "ZS_RESOLVER")]
    resolver: Option<String>,

    /// How often the parent zone (and Route 53 Domains) is asked while a switch is awaited.
    #[arg(long, env = "ZS_DELEGATION_POLL_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    delegation_poll_interval: Duration,

    /// How often the old provider is looked at after the switch, until it may be released:
    /// each look asks every one of its addresses for the zone's SOA; every record set is asked
    /// again when that SOA changes, and at least every --full-compare-interval.
    #[arg(long, env = "ZS_SOURCE_PROBE_INTERVAL", default_value = "60s", value_parser = humantime::parse_duration)]
    source_probe_interval: Duration,

    /// The IAM roles a resource may name in spec.aws.roleArn, comma-separated, `*` matching any
    /// run of characters (e.g. `arn:aws:iam::123456789012:role/dns-*`). Empty: none, so a user
    /// who can create a HostedZoneMigration cannot borrow a role they were not given.
    #[arg(long, env = "ZS_ALLOWED_ROLE_ARNS", value_delimiter = ',')]
    allowed_role_arns: Vec<String>,

    /// The networks the old provider's servers may be in, comma-separated (`192.0.2.0/24`,
    /// `2001:db8::/32`, or one address): a server a resource names in spec.source.nameservers,
    /// or found as its domain's delegation, at an address outside them is never asked. Empty:
    /// anywhere (a user who can create a HostedZoneMigration can then make the operator send
    /// DNS queries to any address it reaches).
    #[arg(long, env = "ZS_ALLOWED_SOURCE_NETWORKS", value_delimiter = ',')]
    allowed_source_networks: Vec<String>,

    /// Where `/metrics`, `/livez` and `/readyz` are served.
    #[arg(long, env = "ZS_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: std::net::SocketAddr,

    /// Run only while holding a coordination.k8s.io Lease, so replicas never both act.
    #[arg(long, env = "ZS_LEADER_ELECTION", default_value_t = false)]
    leader_election: bool,

    /// The namespace of the leader Lease (default: the pod's namespace, POD_NAMESPACE).
    #[arg(long, env = "ZS_LEADER_ELECTION_NAMESPACE")]
    leader_election_namespace: Option<String>,

    /// The name of the leader Lease.
    #[arg(
        long,
        env = "ZS_LEADER_ELECTION_LEASE",
        default_value = "zoneshift-leader"
    )]
    leader_election_lease: String,

    /// How long the lease holds without renewal; a standby takes over after it.
    #[arg(long, env = "ZS_LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    leader_election_lease_duration: Duration,

    /// Watch only this namespace (default: all).
    #[arg(long, env = "ZS_NAMESPACE")]
    namespace: Option<String>,

    /// Log format.
    #[arg(long, env = "ZS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
}

/// The leader elector, when `--leader-election` is on.
fn elector(args: &Args, client: &kube::Client) -> Option<Arc<Elector>> {
    args.leader_election.then(|| {
        let namespace = args
            .leader_election_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into());
        let duration = args.leader_election_lease_duration;
        Arc::new(Elector::new(
            client.clone(),
            LeaseConfig {
                namespace,
                name: args.leader_election_lease.clone(),
                identity: ctx_instance(),
                duration,
                renew_every: (duration / 3).max(Duration::from_secs(1)),
            },
        ))
    })
}

/// Runs the controller until a signal; the exit code.
pub async fn main(args: Args) -> std::process::ExitCode {
    crate::telemetry::init(args.log_format);
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "zoneshift stopped");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The controller's context from the flags.
async fn context(args: &Args) -> Result<Context, Box<dyn std::error::Error>> {
    let client = kube::Client::try_default().await?;
    let route53 = Route53::from_env(
        args.route53_endpoint.as_deref(),
        args.route53_rps,
        RetryPolicy::default(),
    )
    .await
    .with_burst(args.route53_burst);
    let instance = ctx_instance();
    let timing = Timing {
        resync: args.resync_interval,
        pending_poll: args.change_poll_interval,
        import_interval: args.import_interval,
        full_compare: args.full_compare_interval,
    };
    let mut ctx = Context::new(client, route53, Arc::new(SystemClock), timing, instance);
    ctx.allowed_roles = args
        .allowed_role_arns
        .iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    crate::source::cloudflare::check_api_url(&args.cloudflare_api_url)
        .map_err(|e| format!("--cloudflare-api-url: {e}"))?;
    ctx.cloudflare = crate::source::cloudflare::CloudflareApi::new(
        &args.cloudflare_api_url,
        args.cloudflare_rps,
    );
    let resolver = match args.resolver.as_deref() {
        None => None,
        Some(r) => match crate::dns::resolve_server(r).await {
            Ok(addrs) => addrs.first().copied(),
            Err(e) => return Err(format!("--resolver: {e}").into()),
        },
    };
    let networks = crate::dns::networks::parse_all(&args.allowed_source_networks)
        .map_err(|e| format!("--allowed-source-networks: {e}"))?;
    ctx.namespace = args.namespace.clone();
    ctx.passes = tokio::sync::Semaphore::new(args.parallel_passes as usize);
    ctx.dns = Settings {
        timeout: args.dns_timeout,
        concurrency: args.verify_concurrency,
        resolver,
        probes: crate::plan::cutover::Probes {
            poll: args.delegation_poll_interval,
            source_probe: args.source_probe_interval,
            max_verification_age: args.import_interval,
        },
        // Set once for the life of the process.
        source_networks: Box::leak(networks.into_boxed_slice()),
    };
    Ok(ctx)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ctx = context(&args).await?;
    let ctx = Arc::new(ctx);
    tracing::info!(endpoint = ?args.route53_endpoint, rps = args.route53_rps, namespace = ?args.namespace, "zoneshift controller starting");

    // Admin endpoints first, so probes answer while the replica waits for the lease.
    let readiness = Readiness::default();
    let metrics = ctx.metrics.clone();
    let admin = tokio::spawn(serve_admin(
        args.admin_addr,
        metrics.clone(),
        readiness.clone(),
    ));
    tokio::spawn(crd_established(ctx.client.clone(), readiness.clone()));

    // One shutdown signal for everything: SIGTERM or Ctrl-C.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let elector = elector(&args, &ctx.client);
    if let Some(e) = &elector {
        readiness
            .standby
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tokio::select! {
            _ = e.acquire() => {}
            _ = stopped(stop_rx.clone()) => return Ok(()),
        }
        metrics.leader.set(1);
        readiness
            .standby
            .store(false, std::sync::atomic::Ordering::Relaxed);
        // Losing the lease stops this replica at once: another one may already act.
        let holder = e.clone();
        tokio::spawn(async move {
            holder.hold().await;
            tracing::error!("leadership lost: stopping now");
            std::process::exit(1);
        });
    }
    controller::run(ctx, args.namespace, readiness, stopped(stop_rx)).await;
    if let Some(e) = &elector {
        e.release().await;
        metrics.leader.set(0);
    }
    admin.abort();
    Ok(())
}

/// This replica's name (the pod's, in a cluster).
fn ctx_instance() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("zoneshift-{}", std::process::id()))
}

/// Waits for SIGTERM (how Kubernetes stops a pod) or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Marks the CRD established for `/readyz` once the API server says so.
async fn crd_established(client: kube::Client, readiness: Readiness) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::runtime::wait::{await_condition, conditions};
    let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client);
    let name = "hostedzonemigrations.zoneshift.io";
    loop {
        match await_condition(crds.clone(), name, conditions::is_crd_established()).await {
            Ok(_) => {
                tracing::info!("the CRD {name} is established");
                readiness
                    .crd_established
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "waiting for the CRD {name} to be established");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}
