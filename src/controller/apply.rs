//! One pass over a resource that is not being deleted: observe (source, Route 53, DNS), call
//! the planner, act, write the status. Between full passes, cheap DNS-only passes watch the
//! gate and the delegation.

use super::{cutover, events, records, resync, source, status, Aws, Context};
use crate::api::{ConditionType, HostedZoneMigration, Phase, Reason};
use crate::plan::{self, Requeue, SourceObservation, SyncOutcome, Verification};
use crate::zone;
use crate::Result;
use kube::api::Api;
use kube::runtime::controller::Action;
use std::time::Duration;

/// Reads the source, brings the zone's records to the desired state, verifies the shadow
/// zone against the source, decides the cutover and writes status.
pub(super) async fn apply(
    obj: &HostedZoneMigration,
    api: &Api<HostedZoneMigration>,
    ctx: &Context,
) -> Result<Action> {
    let aws = match ctx.aws_for(obj).await {
        Ok(a) => a,
        Err(e) => return no_access(obj, api, ctx, e).await,
    };
    let obj = &first_status(obj, api, ctx).await?;
    if let Some(wait) = cutover::cutover_only(obj, ctx) {
        if !source::soak_changed(obj, ctx).await {
            return cutover::cutover_pass(obj, api, ctx, &aws, wait).await;
        }
    }
    let prev = obj.status.clone().unwrap_or_default();
    let (outcome, pass, source) = observe_and_sync(obj, ctx, &aws).await;
    let now = ctx.clock.now();
    let generation = obj.metadata.generation;
    let (mut status, mut requeue) = plan::after_sync(
        &prev,
        generation,
        &outcome,
        source.as_ref(),
        now,
        ctx.timing,
    );
    status.last_full_comparison = pass.comparison(prev.last_full_comparison.as_ref(), now);
    if let (Some(src), Some(zone_id)) = (&source, status.hosted_zone_id.clone()) {
        let current = pass.current.as_ref();
        let step = cutover::Step {
            obj,
            ctx,
            aws: &aws,
            zone_id: &zone_id,
            now,
        };
        if let Some(wait) = step.run(&mut status, current, src).await {
            requeue = match requeue {
                Requeue::After(r) => Requeue::After(r.min(wait)),
                Requeue::OnChange => Requeue::After(wait),
            };
        }
    }
    events::after_pass(ctx, obj, &pass.batches, &outcome, source.as_ref()).await;
    if let Some(wrote) = pass.wrote.clone() {
        resync::after_pass(ctx, obj, wrote).await;
    }
    status::write(ctx, api, obj, &prev, &status).await?;
    if let Some(e) = pass.error {
        return Err(e);
    }
    Ok(match requeue {
        Requeue::OnChange => Action::await_change(),
        Requeue::After(d) => Action::requeue(d),
    })
}

/// A resource zoneshift has not written to yet gets its phase and `Ready=False` with the reason
/// before any Route 53 call: the first sync may wait long in the request budget (a fleet applied
/// at once, a zone of 50,000 records), and the resource must not look unobserved meanwhile.
pub(super) async fn first_status(
    obj: &HostedZoneMigration,
    api: &Api<HostedZoneMigration>,
    ctx: &Context,
) -> Result<HostedZoneMigration> {
    if obj.status.is_some() {
        return Ok(obj.clone());
    }
    let now = ctx.clock.now();
    let generation = obj.metadata.generation;
    let mut status = crate::api::HostedZoneMigrationStatus {
        observed_generation: generation,
        phase: Some(Phase::Pending),
        ..Default::default()
    };
    let msg = "zoneshift has taken up this resource; its first sync waits its turn (--parallel-passes) and then the Route 53 request budget (--route53-rps).";
    for t in [ConditionType::ZoneReady, ConditionType::RecordsSynced] {
        let r = Reason::Reconciling;
        plan::set_condition(&mut status.conditions, t, false, r, msg, generation, now);
    }
    plan::summarize(&mut status, obj.spec.source.is_some(), generation, now);
    status::write(ctx, api, obj, &Default::default(), &status).await?;
    let mut written = obj.clone();
    written.status = Some(status);
    Ok(written)
}

/// The resource names a role the operator may not or cannot assume: said, nothing called.
async fn no_access(
    obj: &HostedZoneMigration,
    api: &Api<HostedZoneMigration>,
    ctx: &Context,
    e: crate::Error,
) -> Result<Action> {
    let prev = obj.status.clone().unwrap_or_default();
    let outcome = SyncOutcome::ZoneFailed {
        reason: e.reason(),
        message: e.to_string(),
    };
    let now = ctx.clock.now();
    let generation = obj.metadata.generation;
    let (status, _) = plan::after_sync(&prev, generation, &outcome, None, now, ctx.timing);
    events::warn(ctx, obj, e.reason(), events::Action::Sync, e.to_string()).await;
    status::write(ctx, api, obj, &prev, &status).await?;
    Ok(Action::await_change())
}

/// Imports the source (until the switch is asked for), syncs the records and verifies.
async fn observe_and_sync(
    obj: &HostedZoneMigration,
    ctx: &Context,
    aws: &Aws,
) -> (SyncOutcome, records::SyncPass, Option<SourceObservation>) {
    let phase = obj
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    // Until the switch is seen the old provider is what users reach: it is imported from,
    // so a change made there after approval reaches Route 53. From the request on nothing
    // imported is deleted for lack of an import (the old provider may be emptied early), and
    // once the switch is seen the old provider is only probed: it may be emptied or gone.
    let switch_seen = matches!(
        phase,
        Phase::Propagating | Phase::Completed | Phase::RollingBack
    );
    let switching = switch_seen || phase == Phase::CuttingOver;
    let imports = obj.spec.source.as_ref().is_some_and(|s| s.imports());
    let mode = if switching && imports {
        zone::SyncMode::UpsertOnly
    } else {
        obj.spec.policy.mode
    };
    let started = std::time::Instant::now();
    let read = if switch_seen {
        Ok(None)
    } else {
        source::read(obj, ctx).await
    };
    let import_ms = started.elapsed().as_millis() as u64;
    let read = match read {
        Err(e) => {
            let outcome = SyncOutcome::SourceFailed {
                reason: e.reason(),
                message: e.to_string(),
            };
            let observation = SourceObservation {
                import: None,
                verification: Verification::AwaitingSync,
            };
            let pass = records::SyncPass::only(outcome.clone());
            return (outcome, pass, Some(observation));
        }
        Ok(read) => read,
    };
    // The imported sets move into the desired set (the pass holds them once); what else the
    // import says (serial, servers, what needs an acknowledgement, the count) stays in `read`.
    let mut read = read;
    let imported_count = read.as_ref().map_or(0, |r| r.imported.sets.len());
    let imported = read.as_mut().map(|r| std::mem::take(&mut r.imported.sets));
    let options = records::SyncOptions {
        mode,
        keep_current: switch_seen && imports,
        // Verification reads the listed zone until the migration is complete.
        may_trust_comparison: obj.spec.source.is_none() || phase == Phase::Completed,
    };
    let started = std::time::Instant::now();
    let pass = records::sync(obj, ctx, aws, imported, options).await;
    let sync_ms = started.elapsed().as_millis() as u64;
    let started = std::time::Instant::now();
    let source = match &obj.spec.source {
        None => None,
        Some(_) => {
            let verification = source::verify(obj, ctx, &pass, phase, read.as_ref()).await;
            Some(SourceObservation {
                import: read.map(|r| source::info(r, imported_count)),
                verification,
            })
        }
    };
    let verify_ms = started.elapsed().as_millis() as u64;
    // Each step's wall time, the wait for the Route 53 request budget included in sync_ms.
    tracing::info!(name = %obj.metadata.name.as_deref().unwrap_or_default(), import_ms, sync_ms, verify_ms, batches = pass.batches.len(), "full pass");
    (pass.outcome.clone(), pass, source)
}

/// Seconds from `now` to `at`, at least one.
pub(super) fn until(now: jiff::Timestamp, at: jiff::Timestamp) -> Duration {
    let d = at.duration_since(now);
    // Rounded up: looking again a fraction early would find the wait not yet over.
    let secs = d.as_secs() + i64::from(d.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1) as u64)
}
