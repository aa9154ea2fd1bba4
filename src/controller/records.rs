//! The records in a full pass: ensure the hosted zone, list it, diff it against the desired
//! sets (spec over import), and apply the changes through the Route 53 port.

use super::events::{self, Action as EventAction};
use super::resync::Written;
use super::{Aws, Context};
use crate::api::{ChangeInfo, HostedZoneMigration, Reason, RecordCounts};
use crate::plan::{compare, SyncOutcome, ZoneInfo};
use crate::ports::{AppliedBatch, CurrentZone, Zone};
use crate::route53::{caller_reference, Route53Error};
use crate::zone::{self, DeleteGuard, RecordMap};
use crate::Error;
use kube::ResourceExt;

/// What one sync pass did, and what verification needs from it.
pub(super) struct SyncPass {
    pub outcome: SyncOutcome,
    pub batches: Vec<AppliedBatch>,
    /// An error worth a backoff (a transient or AWS failure).
    pub error: Option<Error>,
    /// The desired sets and the zone as listed, when the pass got that far.
    pub desired: Option<RecordMap>,
    pub current: Option<RecordMap>,
    /// `None` when the pass did not reach the diff; else what it wrote without error
    /// (`Some(None)`: nothing, or a write cut short), for `resync`.
    pub wrote: Option<Option<Written>>,
    pub listing: Listing,
}

/// Whether this pass compared the zone with the desired records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Listing {
    /// The pass stopped before listing the zone.
    NotReached,
    /// The zone was listed and diffed against the desired records of this digest.
    Listed { digest: String },
    /// A recent comparison of the same desired records found the zone in sync; nothing called.
    Trusted,
}

impl SyncPass {
    pub fn only(outcome: SyncOutcome) -> Self {
        SyncPass {
            outcome,
            batches: Vec::new(),
            error: None,
            desired: None,
            current: None,
            wrote: None,
            listing: Listing::NotReached,
        }
    }

    fn failed(outcome: SyncOutcome, error: Option<Error>) -> Self {
        SyncPass {
            error,
            ..Self::only(outcome)
        }
    }

    /// True when nothing was changed in this pass and Route 53 has applied the last change:
    /// what was listed is what its nameservers serve.
    pub fn settled(&self) -> bool {
        self.batches.is_empty()
            && matches!(&self.outcome, SyncOutcome::Synced { change, .. } if change.as_ref().is_none_or(|c| c.state == "INSYNC"))
    }

    /// The comparison status should carry after this pass, given the one it carried.
    pub fn comparison(
        &self,
        prev: Option<&crate::api::FullComparison>,
        now: jiff::Timestamp,
    ) -> Option<crate::api::FullComparison> {
        match &self.listing {
            Listing::NotReached => None,
            Listing::Listed { digest } => {
                compare::after_listing(self.settled(), digest.clone(), now)
            }
            Listing::Trusted => prev.cloned(),
        }
    }
}

/// How a sync pass treats the zone in Route 53.
pub(super) struct SyncOptions {
    pub mode: zone::SyncMode,
    /// Once the switch is asked for, the import stops and what Route 53 holds is kept, with
    /// `spec.records` laid over it.
    pub keep_current: bool,
    /// Nothing in this pass needs the listed zone itself (no verification against the source
    /// reads it), so a recent full comparison of the same desired records may stand for it.
    pub may_trust_comparison: bool,
}

/// Brings the zone's records to the desired state.
pub(super) async fn sync(
    obj: &HostedZoneMigration,
    ctx: &Context,
    aws: &Aws,
    imported: Option<RecordMap>,
    options: SyncOptions,
) -> SyncPass {
    let SyncOptions {
        mode,
        keep_current,
        may_trust_comparison,
    } = options;
    let spec = &obj.spec;
    let desired = match zone::desired_from_import(
        &spec.domain,
        &spec.records,
        imported.unwrap_or_default(),
    ) {
        Ok(d) => d,
        Err(errors) => return SyncPass::only(invalid(&errors)),
    };
    let origin = match zone::normalize_origin(&spec.domain) {
        Ok(o) => o,
        Err(message) => return SyncPass::only(SyncOutcome::InvalidSpec { message }),
    };
    let digest = compare::digest(&desired, mode, keep_current, obj.metadata.generation);
    if may_trust_comparison {
        if let Some(pass) = trusted(obj, ctx, &digest) {
            return pass;
        }
    }
    let zone = match ensure_zone(obj, ctx, aws, &origin).await {
        Ok(z) => z,
        Err(pass) => return *pass,
    };
    let zone_info = ZoneInfo {
        id: zone.id.clone(),
        nameservers: zone.nameservers.clone(),
    };
    let current = match aws.route53.list_records(&zone.id).await {
        Ok(c) => c,
        Err(e) => {
            let outcome = blocked(
                &zone_info,
                RecordCounts::default(),
                e.reason(),
                e.to_string(),
            );
            let retry = e.transient().then(|| e.into());
            return SyncPass::failed(outcome, retry);
        }
    };
    let desired = if keep_current {
        let held: RecordMap = current
            .sets
            .iter()
            .filter(|(k, _)| !zone::is_apex_protected(k, &origin))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        zone::desired_with_import(&spec.domain, &spec.records, &held).unwrap_or(desired)
    } else {
        desired
    };
    let pass =
        sync_relisting_once(obj, ctx, aws, &zone_info, desired, current, &origin, mode).await;
    SyncPass {
        listing: Listing::Listed { digest },
        ..pass
    }
}

/// Reconciles the records against the zone as listed; when a batch met a zone other than the
/// one listed, lists it again and reconciles once more in the same pass.
#[allow(clippy::too_many_arguments)]
async fn sync_relisting_once(
    obj: &HostedZoneMigration,
    ctx: &Context,
    aws: &Aws,
    zone_info: &ZoneInfo,
    desired: RecordMap,
    current: CurrentZone,
    origin: &str,
    mode: zone::SyncMode,
) -> SyncPass {
    let first = reconcile_records(
        obj,
        ctx,
        aws,
        zone_info,
        desired.clone(),
        current,
        origin,
        mode,
    )
    .await;
    if !zone_moved(&first) {
        return first;
    }
    // A batch met a zone other than the one listed (most often a retried batch that Route 53
    // had applied though its answer was lost): list it again and apply what is still missing,
    // once in this pass; if it moves again, the next pass looks after a backoff.
    tracing::info!(name = %obj.name_any(), error = ?first.error, "the zone changed under a change batch; listing it again");
    let current = match aws.route53.list_records(&zone_info.id).await {
        Ok(c) => c,
        Err(_) => return first,
    };
    let mut again =
        reconcile_records(obj, ctx, aws, zone_info, desired, current, origin, mode).await;
    let mut batches = first.batches;
    batches.append(&mut again.batches);
    again.batches = batches;
    again
}

/// Whether a pass ended on a batch that met a zone other than the one it listed.
fn zone_moved(pass: &SyncPass) -> bool {
    matches!(
        &pass.error,
        Some(Error::Route53(Route53Error::ZoneMoved { .. }))
    )
}

/// The pass that trusts the last full comparison, when it may: the zone and the counts as the
/// status holds them, and no Route 53 call.
fn trusted(obj: &HostedZoneMigration, ctx: &Context, digest: &str) -> Option<SyncPass> {
    let prev = obj.status.as_ref()?;
    let now = ctx.clock.now();
    if compare::listing_needed(prev, digest, now, ctx.timing.full_compare) {
        return None;
    }
    let zone = ZoneInfo {
        id: prev.hosted_zone_id.clone()?,
        nameservers: prev.nameservers.clone(),
    };
    let outcome = SyncOutcome::Synced {
        zone,
        counts: prev.records.clone()?,
        change: None,
    };
    tracing::debug!(
        compared_at = prev.last_full_comparison.as_ref().map(|c| c.at.as_str()),
        "the desired records are those of the last full comparison: Route 53 not listed"
    );
    Some(SyncPass {
        listing: Listing::Trusted,
        ..SyncPass::only(outcome)
    })
}

/// The `InvalidSpec` outcome naming the first ten records at fault.
fn invalid(errors: &[zone::RecordError]) -> SyncOutcome {
    let mut message = errors
        .iter()
        .take(10)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > 10 {
        message.push_str(&format!("; and {} more", errors.len() - 10));
    }
    SyncOutcome::InvalidSpec { message }
}

fn blocked(zone: &ZoneInfo, counts: RecordCounts, reason: Reason, message: String) -> SyncOutcome {
    SyncOutcome::Blocked {
        zone: zone.clone(),
        counts,
        reason,
        message,
    }
}

/// Finds, adopts or creates the zone; the pass to return when that fails.
async fn ensure_zone(
    obj: &HostedZoneMigration,
    ctx: &Context,
    aws: &Aws,
    origin: &str,
) -> Result<Zone, Box<SyncPass>> {
    let Some(uid) = obj.uid() else {
        let outcome = SyncOutcome::ZoneFailed {
            reason: Reason::NoUid,
            message: "the resource has no uid".into(),
        };
        return Err(Box::new(SyncPass::only(outcome)));
    };
    let known = obj
        .status
        .as_ref()
        .and_then(|s| s.hosted_zone_id.as_deref());
    let adopt = obj.spec.hosted_zone.id.as_deref();
    match aws
        .route53
        .ensure_zone(origin, &caller_reference(&uid), adopt, known)
        .await
    {
        Ok((z, created)) => {
            if created {
                let note = format!(
                    "Created hosted zone {} for {}; its nameservers are {}.",
                    z.id,
                    obj.spec.domain,
                    z.nameservers.join(", ")
                );
                events::normal(ctx, obj, Reason::ZoneCreated, EventAction::CreateZone, note).await;
            }
            Ok(z)
        }
        // A conflict needs a person (the planner looks again at the resync); an AWS error
        // backs off and retries.
        Err(e) => {
            let outcome = SyncOutcome::ZoneFailed {
                reason: e.reason(),
                message: e.to_string(),
            };
            let retry = e.transient().then(|| e.into());
            Err(Box::new(SyncPass::failed(outcome, retry)))
        }
    }
}

/// Diffs and applies, or follows the last change until Route 53 says `INSYNC`.
#[allow(clippy::too_many_arguments)]
async fn reconcile_records(
    obj: &HostedZoneMigration,
    ctx: &Context,
    aws: &Aws,
    zone: &ZoneInfo,
    desired: RecordMap,
    current: CurrentZone,
    origin: &str,
    mode: zone::SyncMode,
) -> SyncPass {
    let diff = zone::diff(&desired, &current.sets, origin, mode);
    let desired_count = desired
        .keys()
        .filter(|k| !zone::is_apex_protected(k, origin))
        .count() as i64;
    let mut counts = RecordCounts {
        desired: desired_count,
        in_sync: diff.in_sync as i64,
        pending: diff.changes.len() as i64,
    };
    if let Some(guard) = DeleteGuard::check(&diff, obj.spec.policy.max_delete_percent) {
        let outcome = blocked(
            zone,
            counts,
            Reason::DeleteThresholdExceeded,
            guard.message(),
        );
        return SyncPass {
            desired: Some(desired),
            current: Some(current.sets),
            wrote: Some(None),
            ..SyncPass::only(outcome)
        };
    }
    if diff.changes.is_empty() {
        return follow_last_change(obj, aws, zone, counts, desired, current.sets).await;
    }
    let (batches, error) = aws.route53.apply(&zone.id, &diff.changes, &current).await;
    if let Some(e) = error {
        // Only a batch Route 53 refused for what it says needs a person; a batch that failed
        // on the way (its retries spent) or met a moved zone is tried again by itself.
        let reason = match &e {
            Route53Error::InvalidChange(_) => Reason::InvalidRecord,
            Route53Error::Api { .. } => Reason::ChangeRejected,
            _ => e.reason(),
        };
        let message = format!(
            "{} change batches were applied before this failure: {e}",
            batches.len()
        );
        let retry = (!matches!(e, Route53Error::InvalidChange(_))).then(|| e.into());
        return SyncPass {
            batches,
            wrote: Some(None),
            ..SyncPass::failed(blocked(zone, counts, reason, message), retry)
        };
    }
    let change = batches.last().map(|b| ChangeInfo {
        id: b.change_id.clone(),
        state: b.status.clone(),
        submitted_at: crate::plan::time::stamp(ctx.clock.now()),
        in_sync_at: None,
    });
    if change.as_ref().is_some_and(|c| c.state == "INSYNC") {
        counts.in_sync = desired_count;
        counts.pending = 0;
    }
    let outcome = SyncOutcome::Synced {
        zone: zone.clone(),
        counts,
        change,
    };
    let written = diff.changes.iter().map(|c| c.key().to_string());
    SyncPass {
        batches,
        wrote: Some(Some(Written::new(&desired, written))),
        ..SyncPass::only(outcome)
    }
}

/// Nothing to write: follow the last change until Route 53 says `INSYNC`.
async fn follow_last_change(
    obj: &HostedZoneMigration,
    aws: &Aws,
    zone: &ZoneInfo,
    counts: RecordCounts,
    desired: RecordMap,
    current: RecordMap,
) -> SyncPass {
    let last = obj.status.as_ref().and_then(|s| s.last_change.clone());
    let change = match last {
        Some(c) if c.state != "INSYNC" => match aws.route53.change_in_sync(&c.id).await {
            Ok(in_sync) => Some(ChangeInfo {
                state: if in_sync { "INSYNC" } else { "PENDING" }.into(),
                ..c
            }),
            Err(e) => {
                let outcome = blocked(zone, counts, Reason::Route53Error, e.to_string());
                return SyncPass::failed(outcome, Some(e.into()));
            }
        },
        other => other,
    };
    let outcome = SyncOutcome::Synced {
        zone: zone.clone(),
        counts,
        change,
    };
    SyncPass {
        desired: Some(desired),
        current: Some(current),
        wrote: Some(None),
        ..SyncPass::only(outcome)
    }
}
