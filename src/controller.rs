//! The reconcile loop: observe (Route 53), call the pure planner, act, write status. A
//! finalizer honours `deletionPolicy`.

use crate::api::{condition, Phase};
use crate::api::{ChangeInfo, HostedZoneMigration, HostedZoneMigrationStatus, RecordCounts};
use crate::clock::Clock;
use crate::dns::import::{import, Imported};
use crate::dns::query::Authorities;
use crate::dns::verify::{ask_source, compare, questions, SourceView};
use crate::dns::{observe, resolve_server, transfer, zonefile, TsigKey};
use crate::plan::cutover;
use crate::plan::{self, Requeue, SyncOutcome, Timing, ZoneInfo};
use crate::route53::{caller_reference, AppliedBatch, Route53};
use crate::zone::{self, ChangeUnit, DeleteGuard};
use crate::{Error, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{predicates, reflector, Predicate, PredicateConfig, WatchStreamExt};
use kube::{Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// The finalizer that keeps a resource until its Route 53 state is dealt with.
pub const FINALIZER: &str = "zoneshift.io/cleanup";
/// The one field manager all of zoneshift's writes use.
pub const FIELD_MANAGER: &str = "zoneshift";

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub route53: Route53,
    pub recorder: Recorder,
    pub clock: Arc<dyn Clock>,
    pub timing: Timing,
    /// How the source's nameservers are asked.
    pub dns: DnsSettings,
    /// Prometheus metrics.
    pub metrics: crate::telemetry::Metrics,
    /// The IAM roles (patterns, `*` for any run of characters) a resource may name in
    /// `spec.aws.roleArn`; none by default.
    pub allowed_roles: Vec<String>,
    /// Route 53 clients per assumed role.
    roles: tokio::sync::Mutex<HashMap<String, Route53>>,
    /// Consecutive failures per resource, for the error backoff (not a timer: losing it on a
    /// restart only resets the backoff).
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        route53: Route53,
        clock: Arc<dyn Clock>,
        timing: Timing,
        instance: String,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "zoneshift".into(),
                instance: Some(instance),
            },
        );
        Self {
            client,
            route53,
            recorder,
            clock,
            timing,
            dns: DnsSettings::default(),
            metrics: crate::telemetry::Metrics::new(),
            allowed_roles: Vec::new(),
            roles: tokio::sync::Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The Route 53 adapter for a resource: the operator's own credentials, or the role its
    /// `spec.aws.roleArn` names when the operator may assume it (`--allowed-role-arns`).
    pub async fn route53_for(
        &self,
        obj: &HostedZoneMigration,
    ) -> std::result::Result<Route53, (&'static str, String)> {
        let Some(role) = obj.spec.aws.as_ref().and_then(|a| a.role_arn.clone()) else {
            return Ok(self.route53.clone());
        };
        if !self.allowed_roles.iter().any(|p| glob_match(p, &role)) {
            return Err((
                "RoleNotAllowed",
                format!("spec.aws.roleArn {role} is not among the roles this operator may assume (--allowed-role-arns); nothing was called"),
            ));
        }
        let mut roles = self.roles.lock().await;
        if let Some(r) = roles.get(&role) {
            return Ok(r.clone());
        }
        let session = format!(
            "zoneshift-{}-{}",
            obj.namespace().unwrap_or_default(),
            obj.name_any()
        );
        let r = self
            .route53
            .assuming(&role, &session)
            .await
            .map_err(|e| ("AssumeRoleFailed", format!("assuming {role}: {e}")))?;
        roles.insert(role, r.clone());
        Ok(r)
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
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

/// How zoneshift talks to the old provider's nameservers.
#[derive(Clone, Copy, Debug)]
pub struct DnsSettings {
    /// Per query and per zone-transfer step.
    pub timeout: Duration,
    /// Queries in flight at once during verification.
    pub concurrency: usize,
    /// The recursive resolver through which the parent zone is found (default: the
    /// system's).
    pub resolver: Option<std::net::SocketAddr>,
    /// How often the parent and the old provider are asked during the cutover.
    pub probes: cutover::Probes,
}

impl Default for DnsSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            concurrency: 32,
            resolver: None,
            probes: cutover::Probes::default(),
        }
    }
}

/// Runs the controller until a shutdown signal.
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
    let api: Api<HostedZoneMigration> = Api::namespaced(ctx.client.clone(), &ns);
    let key = format!("{ns}/{}", obj.name_any());
    let name = obj.name_any();
    let span = tracing::info_span!("reconcile", name = %name, namespace = %ns);
    let started = std::time::Instant::now();
    let res = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(o) => apply(&o, &api, &ctx).await,
            Finalizer::Cleanup(o) => {
                ctx.metrics.forget(&ns, &name);
                cleanup(&o, &ctx).await
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

/// Reads the source, brings the zone's records to the desired state, verifies the shadow
/// zone against the source, and writes status.
async fn apply(
    obj: &HostedZoneMigration,
    api: &Api<HostedZoneMigration>,
    ctx: &Context,
) -> Result<Action> {
    let r53 = match ctx.route53_for(obj).await {
        Ok(r) => r,
        Err((reason, message)) => {
            let prev = obj.status.clone().unwrap_or_default();
            let now = ctx.clock.now();
            let outcome = SyncOutcome::ZoneFailed {
                reason,
                message: message.clone(),
            };
            let (status, _) = plan::after_sync(
                &prev,
                obj.metadata.generation,
                &outcome,
                None,
                now,
                ctx.timing,
            );
            publish(ctx, obj, EventType::Warning, reason, "Sync", message).await;
            write_status(ctx, api, obj, &prev, &status).await?;
            return Ok(Action::await_change());
        }
    };
    let r53 = &r53;
    if let Some(wait) = cutover_only(obj, ctx) {
        return cutover_pass(obj, api, ctx, r53, wait).await;
    }
    let phase = obj
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    // From the moment the switch is asked for, Route 53 is what users are sent to: the old
    // provider is no longer imported from (it may be emptied or gone), only probed, and what
    // was imported is never deleted for lack of an import.
    let switching = matches!(
        phase,
        Phase::CuttingOver | Phase::Propagating | Phase::Completed | Phase::RollingBack
    );
    let imports = obj
        .spec
        .source
        .as_ref()
        .is_some_and(|s| s.axfr.is_some() || s.zone_file.is_some());
    let mode = if switching && imports {
        zone::SyncMode::UpsertOnly
    } else {
        obj.spec.policy.mode
    };
    let read = if switching {
        Ok(None)
    } else {
        read_source(obj, ctx).await
    };
    let (pass, source) = match read {
        Err((reason, message)) => (
            SyncPass::only(SyncOutcome::SourceFailed { reason, message }),
            Some(plan::SourceObservation {
                import: None,
                verification: plan::Verification::AwaitingSync,
            }),
        ),
        Ok(read) => {
            let pass = sync(
                obj,
                ctx,
                r53,
                read.as_ref().map(|r| &r.imported.sets),
                mode,
                switching && imports,
            )
            .await;
            let source = match &obj.spec.source {
                None => None,
                Some(_) => Some(plan::SourceObservation {
                    import: read.map(|r| r.info()),
                    verification: verify(obj, ctx, &pass, phase).await,
                }),
            };
            (pass, source)
        }
    };
    let current = pass.current.clone();
    let SyncPass {
        outcome,
        batches,
        error,
        ..
    } = pass;
    let now = ctx.clock.now();
    let prev = obj.status.clone().unwrap_or_default();
    let (mut status, mut requeue) = plan::after_sync(
        &prev,
        obj.metadata.generation,
        &outcome,
        source.as_ref(),
        now,
        ctx.timing,
    );
    if let (Some(src), Some(zone_id)) = (&source, status.hosted_zone_id.clone()) {
        let wait = cutover_step(
            obj,
            ctx,
            r53,
            &zone_id,
            &mut status,
            current.as_ref(),
            src,
            now,
        )
        .await;
        if let Some(wait) = wait {
            requeue = match requeue {
                Requeue::After(r) => Requeue::After(r.min(wait)),
                Requeue::OnChange => Requeue::After(wait),
            };
        }
    }

    for (i, b) in batches.iter().enumerate() {
        publish(
            ctx,
            obj,
            EventType::Normal,
            "ChangesApplied",
            "ApplyChanges",
            format!(
            "Change batch {} submitted to Route 53 as {} ({}): {} created, {} updated, {} deleted.",
            i + 1, b.change_id, b.status, b.creates, b.updates, b.deletes
        ),
        )
        .await;
    }
    match &outcome {
        SyncOutcome::InvalidSpec { message } => {
            publish(
                ctx,
                obj,
                EventType::Warning,
                "InvalidRecord",
                "Validate",
                message.clone(),
            )
            .await
        }
        SyncOutcome::ZoneFailed { reason, message }
        | SyncOutcome::SourceFailed { reason, message }
        | SyncOutcome::Blocked {
            reason, message, ..
        } => {
            publish(
                ctx,
                obj,
                EventType::Warning,
                reason,
                "Sync",
                message.clone(),
            )
            .await
        }
        SyncOutcome::Synced { .. } => {}
    }
    if let Some(plan::SourceObservation {
        verification: plan::Verification::Compared(c),
        ..
    }) = &source
    {
        if !c.mismatches.is_empty() {
            let more = c.mismatches.len().saturating_sub(10);
            let mut note = c
                .mismatches
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ");
            if more > 0 {
                note.push_str(&format!("; and {more} more"));
            }
            publish(
                ctx,
                obj,
                EventType::Warning,
                "ShadowMismatch",
                "Verify",
                note,
            )
            .await;
        } else if !c.unanswered.is_empty() {
            let note = format!(
                "The source did not answer for {} names and types: {}",
                c.unanswered.len(),
                c.unanswered[0]
            );
            publish(
                ctx,
                obj,
                EventType::Warning,
                "SourceUnreachable",
                "Verify",
                note,
            )
            .await;
        }
    }
    write_status(ctx, api, obj, &prev, &status).await?;
    if let Some(e) = error {
        return Err(e);
    }
    Ok(match requeue {
        Requeue::OnChange => Action::await_change(),
        Requeue::After(d) => Action::requeue(d),
    })
}

/// How long until the next full pass (import, sync, verification) is due, when this pass need
/// not be one: a migration that is synced and verified waits at the gate or in the switch
/// with cheap DNS observations, and reads the old provider and lists Route 53 only every
/// `--import-interval` (every `--source-probe-interval` during the soak).
fn cutover_only(obj: &HostedZoneMigration, ctx: &Context) -> Option<Duration> {
    let s = obj.status.as_ref()?;
    obj.spec.source.as_ref()?;
    if s.observed_generation != obj.metadata.generation || s.hosted_zone_id.is_none() {
        return None;
    }
    let is_true = |t: &str| {
        s.conditions
            .iter()
            .any(|c| c.type_ == t && c.status == "True")
    };
    let phase = s.phase.unwrap_or_default();
    let interval = match phase {
        Phase::AwaitingCutover | Phase::CuttingOver => ctx.timing.import_interval,
        Phase::Propagating => ctx.dns.probes.source_probe,
        _ => return None,
    };
    // Still converging: a change to apply or wait for, or a verification to run after it.
    let unverified = phase != Phase::Propagating && !is_true(condition::SHADOW_VERIFIED);
    if !is_true(condition::RECORDS_SYNCED)
        || unverified
        || s.last_change.as_ref().is_some_and(|c| c.state != "INSYNC")
    {
        return None;
    }
    let last_full = [
        s.verification
            .as_ref()
            .and_then(|v| v.checked_at.as_deref()),
        s.source.as_ref().and_then(|v| v.imported_at.as_deref()),
    ]
    .into_iter()
    .flatten()
    .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
    .max()?;
    let due = last_full
        .checked_add(jiff::SignedDuration::try_from(interval).ok()?)
        .ok()?;
    let now = ctx.clock.now();
    (due > now).then(|| Duration::from_secs(due.duration_since(now).as_secs().max(1) as u64))
}

/// A pass that only observes the delegation and the TTLs and decides the cutover.
async fn cutover_pass(
    obj: &HostedZoneMigration,
    api: &Api<HostedZoneMigration>,
    ctx: &Context,
    r53: &Route53,
    full_pass_in: Duration,
) -> Result<Action> {
    let now = ctx.clock.now();
    let prev = obj.status.clone().unwrap_or_default();
    let mut status = prev.clone();
    let mut next = full_pass_in;
    if let Some(zone_id) = status.hosted_zone_id.clone() {
        let src = plan::SourceObservation {
            import: None,
            verification: plan::Verification::Skipped,
        };
        if let Some(wait) =
            cutover_step(obj, ctx, r53, &zone_id, &mut status, None, &src, now).await
        {
            next = next.min(wait);
        }
    }
    write_status(ctx, api, obj, &prev, &status).await?;
    Ok(Action::requeue(next))
}

/// What one sync pass did, and what verification needs from it.
struct SyncPass {
    outcome: SyncOutcome,
    batches: Vec<AppliedBatch>,
    error: Option<Error>,
    /// The desired sets and the zone as listed, when the pass got that far.
    desired: Option<zone::RecordMap>,
    current: Option<zone::RecordMap>,
}

impl SyncPass {
    fn only(outcome: SyncOutcome) -> Self {
        SyncPass {
            outcome,
            batches: Vec::new(),
            error: None,
            desired: None,
            current: None,
        }
    }

    /// True when nothing was changed in this pass and Route 53 has applied the last change:
    /// what was listed is what its nameservers serve.
    fn settled(&self) -> bool {
        self.batches.is_empty()
            && matches!(&self.outcome, SyncOutcome::Synced { change, .. } if change.as_ref().is_none_or(|c| c.state == "INSYNC"))
    }
}

/// The source as imported in this pass.
struct SourceRead {
    imported: Imported,
    from: String,
}

impl SourceRead {
    fn info(self) -> plan::ImportInfo {
        plan::ImportInfo {
            from: self.from,
            serial: self.imported.serial,
            imported: self.imported.sets.len(),
            skipped: self
                .imported
                .skipped
                .iter()
                .map(ToString::to_string)
                .collect(),
            apex_ns: self.imported.apex_ns,
            apex_ns_ttl: self.imported.apex_ns_ttl,
        }
    }
}

/// Imports `spec.source` (zone file or AXFR). `Ok(None)` when there is nothing to import; an
/// error is a condition reason and a message naming what to fix.
async fn read_source(
    obj: &HostedZoneMigration,
    ctx: &Context,
) -> Result<Option<SourceRead>, (&'static str, String)> {
    let Some(src) = &obj.spec.source else {
        return Ok(None);
    };
    let origin = zone::normalize_origin(&obj.spec.domain).map_err(|m| ("InvalidRecord", m))?;
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    if let Some(zf) = &src.zone_file {
        let r = &zf.config_map_key_ref;
        let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
        let cm = cms
            .get_opt(&r.name)
            .await
            .map_err(|e| {
                (
                    "SourceUnreachable",
                    format!("reading ConfigMap {ns}/{}: {e}", r.name),
                )
            })?
            .ok_or((
                "SourceNotFound",
                format!(
                    "spec.source.zoneFile: ConfigMap {ns}/{} does not exist",
                    r.name
                ),
            ))?;
        let text = cm.data.as_ref().and_then(|d| d.get(&r.key)).ok_or((
            "SourceNotFound",
            format!(
                "spec.source.zoneFile: ConfigMap {ns}/{} has no key {:?}",
                r.name, r.key
            ),
        ))?;
        let (records, set_aside) = zonefile::parse(text, &origin).map_err(|e| {
            (
                "InvalidZoneFile",
                format!(
                    "spec.source.zoneFile (ConfigMap {ns}/{}, key {}) {e}",
                    r.name, r.key
                ),
            )
        })?;
        let mut imported = import(&origin, &records);
        imported.skipped.extend(set_aside);
        imported.skipped.sort();
        return Ok(Some(SourceRead {
            imported,
            from: format!("zone file in ConfigMap {ns}/{} key {}", r.name, r.key),
        }));
    }
    let Some(axfr) = &src.axfr else {
        return Ok(None);
    };
    if src.nameservers.is_empty() {
        return Err((
            "NoSourceNameservers",
            "spec.source.axfr needs spec.source.nameservers: the servers to transfer the zone from"
                .into(),
        ));
    }
    let key = match &axfr.tsig_secret_ref {
        None => None,
        Some(r) => Some(read_tsig(ctx, &ns, &r.name).await?),
    };
    let mut failures = Vec::new();
    for server in &src.nameservers {
        let addrs = match resolve_server(server).await {
            Ok(a) => a,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        for addr in addrs {
            match transfer::axfr(addr, &origin, key.as_ref(), ctx.dns.timeout).await {
                Ok(records) => {
                    let imported = import(&origin, &records);
                    return Ok(Some(SourceRead {
                        imported,
                        from: format!("AXFR from {addr}"),
                    }));
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    Err((
        "TransferFailed",
        format!(
            "no source nameserver transferred the zone: {}",
            failures.join("; ")
        ),
    ))
}

/// Reads a TSIG key from a Secret with the keys `name`, `algorithm` and `secret`.
async fn read_tsig(ctx: &Context, ns: &str, name: &str) -> Result<TsigKey, (&'static str, String)> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|e| {
            (
                "SourceUnreachable",
                format!("reading Secret {ns}/{name}: {e}"),
            )
        })?
        .ok_or((
            "SourceNotFound",
            format!("spec.source.axfr.tsigSecretRef: Secret {ns}/{name} does not exist"),
        ))?;
    let field = |k: &str| -> Result<String, (&'static str, String)> {
        let from_data = secret
            .data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|b| String::from_utf8_lossy(&b.0).trim().to_string());
        let from_string = secret.string_data.as_ref().and_then(|d| d.get(k)).cloned();
        from_data.or(from_string).ok_or((
            "SourceNotFound",
            format!("Secret {ns}/{name} has no key {k:?} (it needs name, algorithm and secret)"),
        ))
    };
    Ok(TsigKey {
        name: field("name")?,
        algorithm: field("algorithm")?,
        secret: field("secret")?,
    })
}

/// Compares the shadow zone with the source, when this pass left the zone settled.
async fn verify(
    obj: &HostedZoneMigration,
    ctx: &Context,
    pass: &SyncPass,
    phase: Phase,
) -> plan::Verification {
    if matches!(phase, Phase::Completed) {
        // The old provider may be gone: nothing left to compare it with.
        return plan::Verification::Skipped;
    }
    let (Some(desired), Some(current)) = (&pass.desired, &pass.current) else {
        return plan::Verification::AwaitingSync;
    };
    // Once the switch is asked for, the old provider is probed for what Route 53 serves.
    let desired = if matches!(
        phase,
        Phase::CuttingOver | Phase::Propagating | Phase::RollingBack
    ) {
        current
    } else {
        desired
    };
    if !pass.settled() {
        return plan::Verification::AwaitingSync;
    }
    let Some(src) = &obj.spec.source else {
        return plan::Verification::AwaitingSync;
    };
    if src.nameservers.is_empty() {
        return plan::Verification::NoNameservers;
    }
    let Ok(origin) = zone::normalize_origin(&obj.spec.domain) else {
        return plan::Verification::AwaitingSync;
    };
    let asked = questions(desired, &origin);
    let answers = match source_authorities(&src.nameservers, ctx.dns.timeout).await {
        Ok(auth) => ask_source(&auth, &asked, ctx.dns.concurrency).await,
        Err(e) => asked
            .into_iter()
            .map(|q| (q, SourceView::Unanswered(e.clone())))
            .collect(),
    };
    plan::Verification::Compared(compare(&origin, desired, current, &answers))
}

/// Observes, decides and acts for the cutover, then summarises `Ready`; returns how soon
/// something can change.
#[allow(clippy::too_many_arguments)]
async fn cutover_step(
    obj: &HostedZoneMigration,
    ctx: &Context,
    r53: &Route53,
    zone_id: &str,
    status: &mut HostedZoneMigrationStatus,
    current: Option<&zone::RecordMap>,
    source: &plan::SourceObservation,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let observation = observe_cutover(obj, ctx, r53, status, current, source).await;
    let d = cutover::decide(
        &obj.spec,
        status,
        &observation,
        obj.metadata.generation,
        now,
        ctx.dns.probes,
    );
    *status = d.status;
    act_on_cutover(obj, ctx, r53, zone_id, d.actions, status).await;
    plan::summarize(status, true, obj.metadata.generation, now);
    d.next_look
        .map(|at| Duration::from_secs(at.duration_since(now).as_secs().max(1) as u64))
}

/// Connections to the source's nameservers; the error names every one that did not resolve.
async fn source_authorities(
    servers: &[String],
    timeout: Duration,
) -> std::result::Result<Authorities, String> {
    let mut addrs = Vec::new();
    let mut failures = Vec::new();
    for server in servers {
        match resolve_server(server).await {
            Ok(a) => addrs.extend(a),
            Err(e) => failures.push(e),
        }
    }
    if addrs.is_empty() {
        return Err(if failures.is_empty() {
            "spec.source.nameservers is empty".to_string()
        } else {
            failures.join("; ")
        });
    }
    Ok(Authorities::connect(&addrs, timeout).await)
}

/// Everything the cutover decides on in this pass.
async fn observe_cutover(
    obj: &HostedZoneMigration,
    ctx: &Context,
    r53: &Route53,
    status: &HostedZoneMigrationStatus,
    current: Option<&zone::RecordMap>,
    source: &plan::SourceObservation,
) -> cutover::Observation {
    let origin = zone::normalize_origin(&obj.spec.domain).unwrap_or_default();
    let is_true = |t: &str| {
        status
            .conditions
            .iter()
            .any(|c| c.type_ == t && c.status == "True")
    };
    let mut route53_nameservers: Vec<String> = status
        .nameservers
        .iter()
        .filter_map(|n| zone::normalize_target(n).ok())
        .collect();
    route53_nameservers.sort();
    let route53_ns_ttl = current
        .and_then(|c| {
            c.get(&zone::RecordKey::new(
                origin.clone(),
                zone::RecordType::Ns,
                None,
            ))
        })
        .and_then(|s| s.ttl)
        // A pass that did not list the zone goes by the last TTL observed.
        .or_else(|| {
            status
                .observed_ttls
                .as_ref()
                .and_then(|t| t.route53_ns)
                .and_then(|t| u32::try_from(t).ok())
        });
    let resolver = match ctx
        .dns
        .resolver
        .map(Ok)
        .unwrap_or_else(observe::system_resolver)
    {
        Ok(addr) => observe::Resolver::connect(addr, ctx.dns.timeout).await,
        Err(e) => Err(e),
    };
    let (parent, route53_answers) = match &resolver {
        Ok(r) => (
            observe::parent_delegation(r, &origin, ctx.dns.timeout).await,
            observe::answers_for(r, &route53_nameservers, &origin, ctx.dns.timeout).await,
        ),
        Err(e) => (Err(e.clone()), Err(e.clone())),
    };
    let source_ns_ttl = match obj
        .spec
        .source
        .as_ref()
        .map(|s| s.nameservers.clone())
        .unwrap_or_default()
    {
        servers if servers.is_empty() => Err("spec.source.nameservers is empty".to_string()),
        servers => match source_authorities(&servers, ctx.dns.timeout).await {
            Err(e) => Err(e),
            Ok(auth) => observe::apex_ns_ttl(&auth, &origin).await,
        },
    };
    let source_failures = match (&source.verification, status.phase) {
        (plan::Verification::Compared(c), Some(Phase::Propagating)) => Some(
            c.mismatches
                .iter()
                .chain(c.unanswered.iter())
                .cloned()
                .collect(),
        ),
        _ => None,
    };
    let operation = match status.cutover.as_ref().and_then(|c| c.operation_id.clone()) {
        Some(op)
            if op != "already-requested"
                && matches!(status.phase, Some(Phase::CuttingOver | Phase::RollingBack)) =>
        {
            match r53.operation_state(&op).await {
                Ok(s) => Some(s),
                Err(e) => Some(cutover::OperationState::Failed(e.to_string())),
            }
        }
        _ => None,
    };
    let count = |probe: &'static str, ok: bool| {
        ctx.metrics
            .dns_probes
            .get_or_create(&crate::telemetry::ProbeLabels {
                probe,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
    };
    count("parent_delegation", parent.is_ok());
    count("route53_nameservers", route53_answers.is_ok());
    count("source_ns_ttl", source_ns_ttl.is_ok());
    cutover::Observation {
        parent,
        source_ns_ttl,
        route53_ns_ttl,
        route53_nameservers,
        route53_answers,
        records_synced: is_true(condition::RECORDS_SYNCED),
        shadow_verified: is_true(condition::SHADOW_VERIFIED),
        source_failures,
        operation,
    }
}

/// Asks Route 53 Domains for `nameservers`. A `DuplicateRequest` means an earlier request
/// (whose answer was lost, say in a restart before the status was written) is still known: if
/// the registrar already holds these nameservers, the request is done.
async fn request_nameservers(
    r53: &Route53,
    domain: &str,
    nameservers: &[String],
) -> Result<String> {
    match r53.update_domain_nameservers(domain, nameservers).await {
        Err(Error::Route53 { code, .. }) if code == "DuplicateRequest" => {
            let norm = |v: &[String]| {
                let mut v: Vec<String> = v
                    .iter()
                    .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                    .collect();
                v.sort();
                v
            };
            let held = r53.registrar_nameservers(domain).await?;
            if norm(&held) == norm(nameservers) {
                Ok("already-requested".to_string())
            } else {
                Err(Error::Conflict(format!(
                    "Route 53 Domains has a request for {domain} in progress and holds {}",
                    held.join(", ")
                )))
            }
        }
        other => other,
    }
}

/// Performs what the cutover decided, writing the outcome into the status.
async fn act_on_cutover(
    obj: &HostedZoneMigration,
    ctx: &Context,
    r53: &Route53,
    zone_id: &str,
    actions: Vec<cutover::Action>,
    status: &mut HostedZoneMigrationStatus,
) {
    let origin = zone::normalize_origin(&obj.spec.domain).unwrap_or_default();
    for action in actions {
        match action {
            cutover::Action::SetRoute53NsTtl(ttl) => {
                let set = r53.set_apex_ns_ttl(zone_id, &origin, ttl).await;
                if set.is_ok() {
                    // Known now without listing the zone again.
                    status
                        .observed_ttls
                        .get_or_insert_with(Default::default)
                        .route53_ns = Some(i64::from(ttl));
                }
                match set {
                    Ok(true) => {
                        publish(
                            ctx,
                            obj,
                            EventType::Normal,
                            "NameserverTtlSet",
                            "Cutover",
                            format!("The Route 53 zone's NS TTL is now {ttl} s."),
                        )
                        .await
                    }
                    Ok(false) => {}
                    Err(e) => {
                        publish(
                            ctx,
                            obj,
                            EventType::Warning,
                            "Route53Error",
                            "Cutover",
                            format!("Setting the NS TTL to {ttl} s failed: {e}"),
                        )
                        .await
                    }
                }
            }
            cutover::Action::UpdateRegistrarNameservers(ns) => {
                match request_nameservers(r53, &obj.spec.domain, &ns).await {
                    Ok(op) => {
                        status
                            .cutover
                            .get_or_insert_with(Default::default)
                            .operation_id = Some(op.clone());
                        publish(ctx, obj, EventType::Normal, "RegistrarUpdated", "Cutover", format!(
                        "Route 53 Domains was asked to set the nameservers to {} (operation {op}).", ns.join(", ")
                    ))
                    .await;
                    }
                    Err(e) => {
                        let msg = format!(
                            "Route 53 Domains did not accept the nameservers {}: {e}",
                            ns.join(", ")
                        );
                        plan::set_condition(
                            &mut status.conditions,
                            condition::DELEGATED,
                            false,
                            "RegistrarError",
                            &msg,
                            obj.metadata.generation,
                            ctx.clock.now(),
                        );
                        publish(
                            ctx,
                            obj,
                            EventType::Warning,
                            "RegistrarError",
                            "Cutover",
                            msg,
                        )
                        .await;
                    }
                }
            }
            cutover::Action::Event {
                warning,
                reason,
                message,
            } => {
                let t = if warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                };
                publish(ctx, obj, t, reason, "Cutover", message).await;
            }
        }
    }
}

/// Observes Route 53 and makes the changes the diff calls for. Returns what happened, the
/// batches submitted, and an error worth a backoff (a transient or AWS failure).
async fn sync(
    obj: &HostedZoneMigration,
    ctx: &Context,
    r53: &Route53,
    imported: Option<&zone::RecordMap>,
    mode: zone::SyncMode,
    keep_current: bool,
) -> SyncPass {
    let (outcome, batches, error, seen) =
        sync_records(obj, ctx, r53, imported, mode, keep_current).await;
    let (desired, current) = match seen {
        Some((d, c)) => (Some(d), Some(c)),
        None => (None, None),
    };
    SyncPass {
        outcome,
        batches,
        error,
        desired,
        current,
    }
}

/// The desired sets and the zone's sets as listed in this pass.
type Seen = Option<(zone::RecordMap, zone::RecordMap)>;

async fn sync_records(
    obj: &HostedZoneMigration,
    ctx: &Context,
    r53: &Route53,
    imported: Option<&zone::RecordMap>,
    mode: zone::SyncMode,
    keep_current: bool,
) -> (SyncOutcome, Vec<AppliedBatch>, Option<Error>, Seen) {
    let spec = &obj.spec;
    let empty = zone::RecordMap::new();
    let desired =
        match zone::desired_with_import(&spec.domain, &spec.records, imported.unwrap_or(&empty)) {
            Ok(d) => d,
            Err(errors) => {
                let mut message = errors
                    .iter()
                    .take(10)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                if errors.len() > 10 {
                    message.push_str(&format!("; and {} more", errors.len() - 10));
                }
                return (SyncOutcome::InvalidSpec { message }, Vec::new(), None, None);
            }
        };
    let origin = match zone::normalize_origin(&spec.domain) {
        Ok(o) => o,
        Err(message) => return (SyncOutcome::InvalidSpec { message }, Vec::new(), None, None),
    };
    let Some(uid) = obj.uid() else {
        let e = Error::Conflict("the resource has no uid".into());
        return (
            SyncOutcome::ZoneFailed {
                reason: "NoUid",
                message: e.to_string(),
            },
            Vec::new(),
            Some(e),
            None,
        );
    };
    let known = obj
        .status
        .as_ref()
        .and_then(|s| s.hosted_zone_id.as_deref());
    let zone = match r53
        .ensure_zone(
            &origin,
            &caller_reference(&uid),
            spec.hosted_zone.id.as_deref(),
            known,
        )
        .await
    {
        Ok((z, created)) => {
            if created {
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    "ZoneCreated",
                    "CreateZone",
                    format!(
                        "Created hosted zone {} for {}; its nameservers are {}.",
                        z.id,
                        spec.domain,
                        z.nameservers.join(", ")
                    ),
                )
                .await;
            }
            z
        }
        // A conflict needs a person (the planner looks again at the resync); an AWS error
        // backs off and retries.
        Err(e @ Error::Conflict(_)) => {
            return (
                SyncOutcome::ZoneFailed {
                    reason: "ZoneConflict",
                    message: e.to_string(),
                },
                Vec::new(),
                None,
                None,
            )
        }
        Err(e) => {
            return (
                SyncOutcome::ZoneFailed {
                    reason: "Route53Error",
                    message: e.to_string(),
                },
                Vec::new(),
                Some(e),
                None,
            )
        }
    };
    let zone_info = ZoneInfo {
        id: zone.id.clone(),
        nameservers: zone.nameservers.clone(),
    };
    let blocked =
        |counts: RecordCounts, reason: &'static str, message: String| SyncOutcome::Blocked {
            zone: zone_info.clone(),
            counts,
            reason,
            message,
        };

    let current = match r53.list_records(&zone.id).await {
        Ok(c) => c,
        Err(e) => {
            return (
                blocked(RecordCounts::default(), "Route53Error", e.to_string()),
                Vec::new(),
                Some(e),
                None,
            )
        }
    };
    // Once the switch is asked for, the import stops: what Route 53 holds is what is kept,
    // with spec.records laid over it.
    let desired = if keep_current {
        let held: zone::RecordMap = current
            .sets
            .iter()
            .filter(|(k, _)| !zone::is_apex_protected(k, &origin))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        zone::desired_with_import(&spec.domain, &spec.records, &held).unwrap_or(desired)
    } else {
        desired
    };
    let diff = zone::diff(&desired, &current.sets, &origin, mode);
    let desired_count = desired
        .keys()
        .filter(|k| !zone::is_apex_protected(k, &origin))
        .count() as i64;
    let mut counts = RecordCounts {
        desired: desired_count,
        in_sync: diff.in_sync as i64,
        pending: diff.changes.len() as i64,
    };
    if let Some(guard) = DeleteGuard::check(&diff, spec.policy.max_delete_percent) {
        let (reason, message) = plan::delete_blocked(&guard);
        return (
            blocked(counts, reason, message),
            Vec::new(),
            None,
            Some((desired, current.sets)),
        );
    }

    if diff.changes.is_empty() {
        // Nothing to write; follow the last change until Route 53 says INSYNC.
        let last = obj.status.as_ref().and_then(|s| s.last_change.clone());
        let change = match last {
            Some(c) if c.state != "INSYNC" => match r53.change_state(&c.id).await {
                Ok(st) => Some(ChangeInfo {
                    state: if st.in_sync {
                        "INSYNC".into()
                    } else {
                        "PENDING".into()
                    },
                    ..c
                }),
                Err(e) => {
                    return (
                        blocked(counts, "Route53Error", e.to_string()),
                        Vec::new(),
                        Some(e),
                        None,
                    )
                }
            },
            other => other,
        };
        let seen = Some((desired, current.sets));
        return (
            SyncOutcome::Synced {
                zone: zone_info,
                counts,
                change,
            },
            Vec::new(),
            None,
            seen,
        );
    }

    let (batches, error) = r53.apply(&zone.id, &diff.changes, &current).await;
    if let Some(e) = error {
        let reason = match &e {
            Error::InvalidSpec(_) => "InvalidRecord",
            _ => "ChangeRejected",
        };
        let message = format!(
            "{} change batches were applied before this failure: {e}",
            batches.len()
        );
        let retry = (!matches!(e, Error::InvalidSpec(_))).then_some(e);
        return (blocked(counts, reason, message), batches, retry, None);
    }
    let now = ctx.clock.now().to_string();
    let change = batches.last().map(|b| ChangeInfo {
        id: b.change_id.clone(),
        state: b.status.clone(),
        submitted_at: now,
        in_sync_at: None,
    });
    if change.as_ref().is_some_and(|c| c.state == "INSYNC") {
        counts.in_sync = desired_count;
        counts.pending = 0;
    }
    (
        SyncOutcome::Synced {
            zone: zone_info,
            counts,
            change,
        },
        batches,
        None,
        None,
    )
}

/// Honours `deletionPolicy` when the resource is deleted.
async fn cleanup(obj: &HostedZoneMigration, ctx: &Context) -> Result<Action> {
    use crate::api::DeletionPolicy;
    let spec = &obj.spec;
    let r53 = ctx
        .route53_for(obj)
        .await
        .map_err(|(_, m)| Error::Conflict(m))?;
    let r53 = &r53;
    if spec.hosted_zone.deletion_policy == DeletionPolicy::Retain {
        publish(
            ctx,
            obj,
            EventType::Normal,
            "ZoneRetained",
            "Cleanup",
            "deletionPolicy is Retain: the hosted zone and its records are left in Route 53."
                .into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let origin = zone::normalize_origin(&spec.domain).map_err(Error::InvalidSpec)?;
    let uid = obj.uid().unwrap_or_default();
    let own_ref = caller_reference(&uid);
    let known = obj
        .status
        .as_ref()
        .and_then(|s| s.hosted_zone_id.as_deref());
    let zone = match r53
        .find_zone(&origin, &own_ref, spec.hosted_zone.id.as_deref(), known)
        .await?
    {
        Some(z) => z,
        None => return Ok(Action::await_change()), // already gone
    };
    let desired = zone::desired_from_spec(&spec.domain, &spec.records).map_err(|errs| {
        Error::InvalidSpec(format!(
            "cannot tell which records zoneshift manages while the spec is invalid ({}); fix it or set deletionPolicy: Retain",
            errs.first().map(ToString::to_string).unwrap_or_default()
        ))
    })?;
    let current = r53.list_records(&zone.id).await?;
    // In a zone zoneshift created and filled from an imported source, every record set is one
    // it wrote (the import is not re-read on the way out: the old provider may be gone).
    let imports = spec
        .source
        .as_ref()
        .is_some_and(|s| s.axfr.is_some() || s.zone_file.is_some());
    let owns_all = zone.caller_reference == own_ref && imports;
    let managed = |s: &zone::RecordSet| {
        !s.is_apex_protected(&origin) && (owns_all || desired.contains_key(&s.key))
    };
    let deletes: Vec<ChangeUnit> = current
        .sets
        .values()
        .filter(|s| managed(s))
        .map(|s| ChangeUnit::Delete(s.clone()))
        .collect();
    let (batches, error) = r53.apply(&zone.id, &deletes, &current).await;
    if let Some(e) = error {
        return Err(e);
    }
    publish(
        ctx,
        obj,
        EventType::Normal,
        "RecordsDeleted",
        "Cleanup",
        format!(
            "Deleted {} managed record sets from hosted zone {} in {} batches.",
            deletes.len(),
            zone.id,
            batches.len()
        ),
    )
    .await;
    if zone.caller_reference != own_ref {
        publish(
            ctx,
            obj,
            EventType::Normal,
            "ZoneRetained",
            "Cleanup",
            format!(
                "Hosted zone {} was adopted, not created by zoneshift, so it is left in place.",
                zone.id
            ),
        )
        .await;
        return Ok(Action::await_change());
    }
    let others: Vec<String> = current
        .sets
        .values()
        .filter(|s| !s.is_apex_protected(&origin) && !managed(s))
        .map(|s| s.key.to_string())
        .collect();
    if !others.is_empty() {
        let message = format!(
            "Hosted zone {} still holds {} record sets zoneshift did not write ({}); it deletes only what it owns. Remove them by hand or set deletionPolicy: Retain.",
            zone.id, others.len(), others.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
        publish(
            ctx,
            obj,
            EventType::Warning,
            "ZoneNotEmpty",
            "Cleanup",
            message.clone(),
        )
        .await;
        return Err(Error::Conflict(message));
    }
    r53.delete_zone(&zone.id).await?;
    publish(
        ctx,
        obj,
        EventType::Normal,
        "ZoneDeleted",
        "Cleanup",
        format!("Deleted hosted zone {}.", zone.id),
    )
    .await;
    Ok(Action::await_change())
}

/// Records the status in the metrics and writes it with server-side apply, only when it
/// changed.
async fn write_status(
    ctx: &Context,
    api: &Api<HostedZoneMigration>,
    obj: &HostedZoneMigration,
    prev: &HostedZoneMigrationStatus,
    status: &HostedZoneMigrationStatus,
) -> Result<()> {
    ctx.metrics.observe(
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
        status,
        ctx.clock.now(),
    );
    if obj.status.is_some() && prev == status {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": HostedZoneMigration::api_version(&()),
        "kind": HostedZoneMigration::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Publishes an event; a failure to publish is logged, never fatal.
async fn publish(
    ctx: &Context,
    obj: &HostedZoneMigration,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let note: String = note.chars().take(1000).collect();
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::debug!(error = %e, reason, "could not publish event");
    }
}
