//! Kubernetes Events: one place that publishes them, and the events a full pass tells.

use super::Context;
use crate::api::{EventAction, HostedZoneMigration, Reason};
use crate::plan::{SourceObservation, SyncOutcome, Verification};
use crate::ports::AppliedBatch;
use kube::runtime::events::{Event, EventType};
use kube::Resource;

pub(super) use crate::api::EventAction as Action;

/// Publishes an event; a failure to publish is logged, never fatal.
pub(super) async fn publish(
    ctx: &Context,
    obj: &HostedZoneMigration,
    type_: EventType,
    reason: Reason,
    action: EventAction,
    note: String,
) {
    let note: String = note.chars().take(1000).collect();
    let ev = Event {
        type_,
        reason: reason.to_string(),
        note: Some(note),
        action: action.as_str().into(),
        secondary: None,
    };
    match ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        Ok(()) => {}
        // The namespace is going away with the resource: nobody will read the event.
        Err(e) if e.to_string().contains("is being terminated") => {
            tracing::debug!(error = %e, %reason, "event not published: its namespace is being deleted");
        }
        // A missing permission must show at the default level.
        Err(e) => tracing::warn!(error = %e, %reason, "could not publish event"),
    }
}

pub(super) async fn normal(
    ctx: &Context,
    obj: &HostedZoneMigration,
    reason: Reason,
    action: EventAction,
    note: String,
) {
    publish(ctx, obj, EventType::Normal, reason, action, note).await
}

pub(super) async fn warn(
    ctx: &Context,
    obj: &HostedZoneMigration,
    reason: Reason,
    action: EventAction,
    note: String,
) {
    publish(ctx, obj, EventType::Warning, reason, action, note).await
}

/// The events of a full pass: each batch submitted, a sync that could not go on, and what
/// verification found.
pub(super) async fn after_pass(
    ctx: &Context,
    obj: &HostedZoneMigration,
    batches: &[AppliedBatch],
    outcome: &SyncOutcome,
    source: Option<&SourceObservation>,
) {
    for (i, b) in batches.iter().enumerate() {
        let note = format!(
            "Change batch {} submitted to Route 53 as {} ({}): {} created, {} updated, {} deleted.",
            i + 1,
            b.change_id,
            b.status,
            b.creates,
            b.updates,
            b.deletes
        );
        normal(ctx, obj, Reason::ChangesApplied, Action::ApplyChanges, note).await;
    }
    match outcome {
        SyncOutcome::InvalidSpec { message } => {
            warn(
                ctx,
                obj,
                Reason::InvalidRecord,
                Action::Validate,
                message.clone(),
            )
            .await
        }
        SyncOutcome::ZoneFailed { reason, message }
        | SyncOutcome::SourceFailed { reason, message }
        | SyncOutcome::Blocked {
            reason, message, ..
        } => warn(ctx, obj, *reason, Action::Sync, message.clone()).await,
        SyncOutcome::Synced { .. } => {}
    }
    let Some(SourceObservation {
        verification: Verification::Compared(c),
        ..
    }) = source
    else {
        return;
    };
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
        warn(ctx, obj, Reason::ShadowMismatch, Action::Verify, note).await;
    } else if let Some(first) = c.unanswered.first() {
        let note = format!(
            "The source did not answer for {} names and types: {first}",
            c.unanswered.len()
        );
        warn(ctx, obj, Reason::SourceUnreachable, Action::Verify, note).await;
    }
}
