//! The reconcile shell: the context every reconcile shares, the watch, the finalizer and the
//! error policy. Each concern has its file: `apply` (one full pass), `records`, `source`,
//! `cutover`, `cleanup`, `status`, `events`.

mod apply;
mod cleanup;
mod cutover;
mod events;
mod memo;
mod records;
mod resync;
mod source;
mod status;

use crate::api::HostedZoneMigration;
use crate::clock::Clock;
use crate::dns::observe::ResolverObserver;
use crate::dns::Settings;
use crate::plan::Timing;
use crate::ports::{DnsObserver, Registrar, Route53Api, Source};
use crate::route53::Route53;
use crate::source::KubeSource;
use crate::{Error, Result};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{predicates, reflector, Predicate, PredicateConfig, WatchStreamExt};
use kube::{Client, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

pub use crate::dns::Settings as DnsSettings;

/// The finalizer that keeps a resource until its Route 53 state is dealt with.
pub const FINALIZER: &str = "zoneshift.io/cleanup";
/// The annotation `kubectl apply` keeps the last applied manifest in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Full passes at once by default (`--parallel-passes`).
pub const DEFAULT_PARALLEL_PASSES: usize = 8;
/// The one field manager all of zoneshift's writes use.
pub const FIELD_MANAGER: &str = "zoneshift";

/// The AWS side of one resource: Route 53, and Route 53 Domains when it can be had.
#[derive(Clone)]
pub struct Aws {
    pub route53: Arc<dyn Route53Api>,
    pub registrar: Option<Arc<dyn Registrar>>,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    /// The operator's own AWS access (the ports over it), for resources that name no role.
    pub aws: Aws,
    pub recorder: Recorder,
    pub clock: Arc<dyn Clock>,
    pub timing: Timing,
    /// How DNS servers are asked.
    pub dns: Settings,
    /// How Cloudflare's API is asked (`--cloudflare-api-url`).
    pub cloudflare: crate::source::cloudflare::CloudflareApi,
    /// Prometheus metrics, built once per process.
    pub metrics: crate::telemetry::Metrics,
    /// The IAM roles (patterns, `*` for any run of characters) a resource may name in
    /// `spec.aws.roleArn`; none by default.
    pub allowed_roles: Vec<String>,
    /// The one namespace this instance serves (`--namespace`); `None`: all. The watch asks
    /// only this namespace; reconcile checks it again, so a resource of another namespace is
    /// never touched, whatever hands it over.
    pub namespace: Option<String>,
    /// The source and DNS ports when not the real ones (the hermetic tests' fakes).
    pub source_port: Option<Arc<dyn Source>>,
    pub dns_port: Option<Arc<dyn DnsObserver>>,
    /// The real Route 53 adapter roles are assumed from; `None` with fakes.
    base: Option<Route53>,
    /// Adapters per assumed role.
    roles: tokio::sync::Mutex<HashMap<String, Aws>>,
    /// Consecutive failures per resource, for the error backoff (not a timer: losing it on a
    /// restart only resets the backoff).
    failures: Mutex<HashMap<String, u32>>,
    /// What each resource's last full pass wrote, to notice a sync that writes on every pass.
    rewrites: resync::Rewrites,
    /// Turns for full passes (`--parallel-passes`), given in order of arrival.
    pub passes: tokio::sync::Semaphore,
    /// The old provider's SOA at each soak's last probe of every record set.
    soak: memo::SoakMemo,
    /// Each resource's last verification before the switch, and what it was made of.
    verified: memo::VerifyMemo,
}

impl Context {
    /// The operator's context over the real Route 53 adapter (its request counts are exported
    /// to this context's metrics).
    pub fn new(
        client: Client,
        route53: Route53,
        clock: Arc<dyn Clock>,
        timing: Timing,
        instance: String,
    ) -> Self {
        let aws = aws_of(&route53);
        let mut ctx = Self::with_ports(client, aws, clock, timing, instance);
        route53.export_to(&ctx.metrics);
        ctx.base = Some(route53);
        ctx
    }

    /// A context over any implementation of the ports (fakes in the hermetic tests).
    pub fn with_ports(
        client: Client,
        aws: Aws,
        clock: Arc<dyn Clock>,
        timing: Timing,
        instance: String,
    ) -> Self {
        let reporter = Reporter {
            controller: "zoneshift".into(),
            instance: Some(instance),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            aws,
            clock,
            timing,
            dns: Settings::default(),
            cloudflare: Default::default(),
            metrics: crate::telemetry::Metrics::new(),
            allowed_roles: Vec::new(),
            namespace: None,
            source_port: None,
            dns_port: None,
            base: None,
            roles: tokio::sync::Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            rewrites: resync::Rewrites::default(),
            passes: tokio::sync::Semaphore::new(DEFAULT_PARALLEL_PASSES),
            soak: memo::SoakMemo::default(),
            verified: memo::VerifyMemo::default(),
        }
    }

    /// The source port: the real one reads ConfigMaps, Secrets and DNS servers.
    pub fn source(&self) -> Arc<dyn Source> {
        match &self.source_port {
            Some(s) => s.clone(),
            None => Arc::new(KubeSource::new(
                self.client.clone(),
                self.dns,
                self.cloudflare.clone(),
            )),
        }
    }

    /// The DNS observation port: the real one asks through `--resolver`.
    pub fn observer(&self) -> Arc<dyn DnsObserver> {
        match &self.dns_port {
            Some(d) => d.clone(),
            None => Arc::new(ResolverObserver::new(self.dns.resolver, self.dns.timeout)),
        }
    }

    /// The AWS ports for a resource: the operator's own, or those of the role its
    /// `spec.aws.roleArn` names when the operator may assume it (`--allowed-role-arns`).
    pub async fn aws_for(&self, obj: &HostedZoneMigration) -> Result<Aws, Error> {
        let Some(role) = obj.spec.aws.as_ref().and_then(|a| a.role_arn.clone()) else {
            return Ok(self.aws.clone());
        };
        if !self.allowed_roles.iter().any(|p| glob_match(p, &role)) {
            return Err(Error::RoleNotAllowed(format!(
                "spec.aws.roleArn {role} is not among the roles this operator may assume (--allowed-role-arns); nothing was called"
            )));
        }
        let mut roles = self.roles.lock().await;
        if let Some(a) = roles.get(&role) {
            return Ok(a.clone());
        }
        let base = self.base.as_ref().ok_or_else(|| {
            Error::AssumeRoleFailed(format!("assuming {role}: no AWS configuration"))
        })?;
        let session = format!(
            "zoneshift-{}-{}",
            obj.namespace().unwrap_or_default(),
            obj.name_any()
        );
        let r = base
            .assuming(&role, &session)
            .await
            .map_err(|e| Error::AssumeRoleFailed(format!("assuming {role}: {e}")))?;
        let aws = aws_of(&r);
        roles.insert(role, aws.clone());
        Ok(aws)
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn aws_of(route53: &Route53) -> Aws {
    Aws {
        route53: Arc::new(route53.clone()),
        registrar: route53.domains().map(|d| Arc::new(d) as Arc<dyn Registrar>),
    }
}

/// Matches `*`-patterns such as `arn:aws:iam::123456789012:role/dns-*`.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Runs the controller until `shutdown` completes (a signal, or the loss of the leader lease).
/// `readiness.cache_synced` is set once the first list of resources is in.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    readiness: crate::telemetry::Readiness,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<HostedZoneMigration> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    // Only spec changes (generation, which deletion bumps too) and finalizer changes start a
    // reconcile: zoneshift's own status writes carry timestamps and must not wake it again.
    // Everything time-bound is driven by the requeue each reconcile returns.
    let (reader, writer) = reflector::store();
    let synced = readiness.cache_synced.clone();
    let changes = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        // The cache keeps what schedules a reconcile, not the records: a resource's records,
        // the field managers and the copy of the whole spec `kubectl apply` leaves in an
        // annotation are each as large as the zone, and held for every resource for the life
        // of the process. Each reconcile reads its resource whole (`reconcile`).
        .modify(|obj| {
            obj.managed_fields_mut().clear();
            obj.annotations_mut().remove(LAST_APPLIED);
            obj.spec.records = Vec::new();
        })
        .reflect(writer)
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone))
                && !synced.swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                tracing::info!("the cache of HostedZoneMigrations has synced");
            }
        })
        .applied_objects()
        .predicate_filter(
            predicates::generation.combine(predicates::finalizers),
            PredicateConfig::default(),
        );
    Controller::for_stream(changes, reader)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok((obj, _)) => {
                    tracing::debug!(name = %obj.name, namespace = ?obj.namespace, "reconciled")
                }
                Err(e) => tracing::warn!(error = %e, "reconcile failed"),
            }
        })
        .await;
}

/// Reconciles one resource: the finalizer is the only top-level action.
pub async fn reconcile(obj: Arc<HostedZoneMigration>, ctx: Arc<Context>) -> Result<Action> {
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    if ctx.namespace.as_ref().is_some_and(|watched| *watched != ns) {
        // Another instance (or none) owns it: no finalizer, no status, no event, no call.
        tracing::warn!(namespace = %ns, name = %obj.name_any(), watched = ?ctx.namespace, "left alone: not in the namespace this instance serves (--namespace)");
        return Ok(Action::await_change());
    }
    let api: Api<HostedZoneMigration> = Api::namespaced(ctx.client.clone(), &ns);
    let key = format!("{ns}/{}", obj.name_any());
    let name = obj.name_any();
    let deleting = obj.metadata.deletion_timestamp.is_some();
    let ours = obj.finalizers().iter().any(|f| f == FINALIZER);
    // A pass that holds a resource's records and spends the Route 53 budget waits for one of
    // --parallel-passes, in order of arrival: memory stays bounded, and a fleet is served a
    // few resources at a time instead of all of them a request at a time. A new resource
    // gets its first status before that wait; the DNS-only looks of a cutover never wait.
    let light = !ours || (!deleting && cutover::cutover_only(&obj, &ctx).is_some());
    // (The semaphore is never closed: `acquire` cannot fail.)
    let _turn = match light {
        true => None,
        false => ctx.passes.acquire().await.ok(),
    };
    let obj = if !ours && !deleting {
        // Its phase and why it waits, then the finalizer (the cache's copy is enough for both).
        apply::first_status(&obj, &api, &ctx).await?;
        obj
    } else {
        // The cache holds the resource without its records (`run`): it is read whole here,
        // so a pass also never acts on a status older than its own last write.
        match api.get_opt(&name).await {
            Ok(Some(o)) => Arc::new(o),
            Ok(None) => return Ok(Action::await_change()),
            Err(e) => return Err(e.into()),
        }
    };
    let span = tracing::info_span!("reconcile", name = %name, namespace = %ns);
    let started = std::time::Instant::now();
    let res = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(o) => apply::apply(&o, &api, &ctx).await,
            Finalizer::Cleanup(o) => {
                let done = cleanup::cleanup(&o, &ctx).await;
                if done.is_ok() {
                    ctx.metrics.forget(&ns, &name);
                    ctx.rewrites.forget(&o.uid().unwrap_or_default());
                    ctx.soak.forget(&o.uid().unwrap_or_default());
                    ctx.verified.forget(&o.uid().unwrap_or_default());
                }
                done
            }
        }
    })
    .instrument(span)
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(Box::new(other)),
    });
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    let result = if res.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .reconciles
        .get_or_create(&crate::telemetry::ResultLabels { result })
        .inc();
    if res.is_ok() {
        ctx.failures().remove(&key);
    }
    res
}

/// Transient errors back off exponentially per resource, up to five minutes.
pub fn error_policy(obj: Arc<HostedZoneMigration>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let n = {
        let mut f = ctx.failures();
        let n = f.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    tracing::warn!(error = %err, category = err.category(), attempt = n, "reconcile failed");
    ctx.metrics
        .reconcile_errors
        .get_or_create(&crate::telemetry::ErrorLabels {
            category: err.category(),
        })
        .inc();
    let secs = 5u64.saturating_mul(1 << n.min(6)).min(300);
    Action::requeue(Duration::from_secs(secs))
}
