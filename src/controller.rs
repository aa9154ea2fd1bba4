//! The reconcile loop: observe (Route 53), call the pure planner, act, write status. A
//! finalizer honours `deletionPolicy`.

use crate::api::{ChangeInfo, HostedZoneMigration, HostedZoneMigrationStatus, RecordCounts};
use crate::clock::Clock;
use crate::plan::{self, Requeue, SyncOutcome, Timing, ZoneInfo};
use crate::route53::{caller_reference, AppliedBatch, Route53};
use crate::zone::{self, ChangeUnit, DeleteGuard};
use crate::{Error, Result};
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs the controller until a shutdown signal.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let api: Api<HostedZoneMigration> = match &namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    Controller::new(api, watcher::Config::default().any_semantic())
        .shutdown_on_signal()
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
    let span = tracing::info_span!("reconcile", name = %obj.name_any(), namespace = %ns);
    let _enter = span.enter();
    let res = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(o) => apply(&o, &api, &ctx).await,
            Finalizer::Cleanup(o) => cleanup(&o, &ctx).await,
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => Error::Finalizer(Box::new(other)),
    });
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
    let secs = 5u64.saturating_mul(1 << n.min(6)).min(300);
    Action::requeue(Duration::from_secs(secs))
}

/// Brings the zone's records to the desired state and writes status.
async fn apply(
    obj: &HostedZoneMigration,
    api: &Api<HostedZoneMigration>,
    ctx: &Context,
) -> Result<Action> {
    let (outcome, batches, error) = sync(obj, ctx).await;
    let now = ctx.clock.now();
    let prev = obj.status.clone().unwrap_or_default();
    let (status, requeue) =
        plan::after_sync(&prev, obj.metadata.generation, &outcome, now, ctx.timing);

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
    write_status(api, obj, &prev, &status).await?;
    if let Some(e) = error {
        return Err(e);
    }
    Ok(match requeue {
        Requeue::OnChange => Action::await_change(),
        Requeue::After(d) => Action::requeue(d),
    })
}

/// Observes Route 53 and makes the changes the diff calls for. Returns what happened, the
/// batches submitted, and an error worth a backoff (a transient or AWS failure).
async fn sync(
    obj: &HostedZoneMigration,
    ctx: &Context,
) -> (SyncOutcome, Vec<AppliedBatch>, Option<Error>) {
    let spec = &obj.spec;
    let desired = match zone::desired_from_spec(&spec.domain, &spec.records) {
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
            return (SyncOutcome::InvalidSpec { message }, Vec::new(), None);
        }
    };
    let origin = match zone::normalize_origin(&spec.domain) {
        Ok(o) => o,
        Err(message) => return (SyncOutcome::InvalidSpec { message }, Vec::new(), None),
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
        );
    };
    let known = obj
        .status
        .as_ref()
        .and_then(|s| s.hosted_zone_id.as_deref());
    let zone = match ctx
        .route53
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

    let current = match ctx.route53.list_records(&zone.id).await {
        Ok(c) => c,
        Err(e) => {
            return (
                blocked(RecordCounts::default(), "Route53Error", e.to_string()),
                Vec::new(),
                Some(e),
            )
        }
    };
    let diff = zone::diff(&desired, &current.sets, &origin, spec.policy.mode);
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
        return (blocked(counts, reason, message), Vec::new(), None);
    }

    if diff.changes.is_empty() {
        // Nothing to write; follow the last change until Route 53 says INSYNC.
        let last = obj.status.as_ref().and_then(|s| s.last_change.clone());
        let change = match last {
            Some(c) if c.state != "INSYNC" => match ctx.route53.change_state(&c.id).await {
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
                    )
                }
            },
            other => other,
        };
        return (
            SyncOutcome::Synced {
                zone: zone_info,
                counts,
                change,
            },
            Vec::new(),
            None,
        );
    }

    let (batches, error) = ctx.route53.apply(&zone.id, &diff.changes, &current).await;
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
        return (blocked(counts, reason, message), batches, retry);
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
    )
}

/// Honours `deletionPolicy` when the resource is deleted.
async fn cleanup(obj: &HostedZoneMigration, ctx: &Context) -> Result<Action> {
    use crate::api::DeletionPolicy;
    let spec = &obj.spec;
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
    let zone = match ctx
        .route53
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
    let current = ctx.route53.list_records(&zone.id).await?;
    let deletes: Vec<ChangeUnit> = current
        .sets
        .values()
        .filter(|s| !s.is_apex_protected(&origin) && desired.contains_key(&s.key))
        .map(|s| ChangeUnit::Delete(s.clone()))
        .collect();
    let (batches, error) = ctx.route53.apply(&zone.id, &deletes, &current).await;
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
        .filter(|s| !s.is_apex_protected(&origin) && !desired.contains_key(&s.key))
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
    ctx.route53.delete_zone(&zone.id).await?;
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

/// Writes status with server-side apply, only when it changed (a write wakes the watch).
async fn write_status(
    api: &Api<HostedZoneMigration>,
    obj: &HostedZoneMigration,
    prev: &HostedZoneMigrationStatus,
    status: &HostedZoneMigrationStatus,
) -> Result<()> {
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
