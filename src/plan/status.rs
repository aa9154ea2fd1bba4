//! Conditions: setting one, and `Ready` with the kstatus pair summarising the others.

use crate::api::{Condition, ConditionType, HostedZoneMigrationStatus, Phase, Reason};
use jiff::Timestamp;

/// Sets a condition, keeping its `lastTransitionTime` when its status does not change.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    ok: bool,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    set_condition_raw(
        conditions,
        type_,
        ok,
        reason.as_str(),
        message,
        generation,
        now,
    )
}

/// As [`set_condition`], with the reason of another condition carried over (`Ready` repeats
/// the reason of the condition it speaks for).
fn set_condition_raw(
    conditions: &mut Vec<Condition>,
    type_: ConditionType,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if ok { "True" } else { "False" };
    let new = |last: String| Condition {
        type_: type_.as_str().to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: last,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_.as_str()) {
        Some(c) => {
            let last = if c.status == status {
                c.last_transition_time.clone()
            } else {
                super::time::stamp(now)
            };
            *c = new(last);
        }
        None => conditions.push(new(super::time::stamp(now))),
    }
}

/// The conditions `Ready` needs in a phase, in the order a person reads them.
fn needed(phase: Phase, migration: bool) -> Vec<ConditionType> {
    use ConditionType::*;
    let mut needed = vec![ZoneReady, RecordsSynced];
    if migration {
        needed.extend(match phase {
            Phase::Pending | Phase::Provisioning | Phase::Syncing | Phase::Verifying => {
                vec![ShadowVerified, CutoverReady]
            }
            Phase::AwaitingCutover => vec![CutoverReady],
            Phase::CuttingOver | Phase::RollingBack | Phase::RolledBack => vec![Delegated],
            Phase::Propagating => vec![Delegated, SourceHealthy, Propagated],
            Phase::Completed => vec![Propagated],
        });
    }
    needed
}

/// `Ready` summarises the others. Without `spec.source` zoneshift manages records only, and
/// `Ready` means the zone holds them. With a source it means the migration is complete; until
/// then it carries the reason and message of what the migration waits for.
pub fn summarize(
    s: &mut HostedZoneMigrationStatus,
    migration: bool,
    generation: Option<i64>,
    now: Timestamp,
) {
    let phase = s.phase.unwrap_or_default();
    let first_not_true = needed(phase, migration)
        .into_iter()
        .find_map(|t| match s.condition(t) {
            Some(c) if c.status == "True" => None,
            Some(c) => Some((c.reason.clone(), format!("{t}: {}", c.message))),
            None => Some((
                Reason::Reconciling.to_string(),
                format!("{t} has not been evaluated yet."),
            )),
        });
    let (ok, reason, message) = match first_not_true {
        Some((reason, message)) => (false, reason, message),
        None if !migration => (
            true,
            Reason::InSync.to_string(),
            "The hosted zone exists and holds every desired record set.".to_string(),
        ),
        None if phase == Phase::Completed => (
            true,
            Reason::Completed.to_string(),
            "The domain is served by Route 53 and the old provider may be decommissioned."
                .to_string(),
        ),
        None => (
            false,
            Reason::Progressing.to_string(),
            format!("The migration is in phase {phase}."),
        ),
    };
    let c = &mut s.conditions;
    set_condition_raw(
        c,
        ConditionType::Ready,
        ok,
        &reason,
        &message,
        generation,
        now,
    );
    kstatus(c, ok, &reason, &message, generation, now);
}

/// A deletion that cannot finish yet: `Ready=False` with the reason, and the kstatus pair saying
/// whether a person must act (`Stalled`, the domain delegated to the zone, foreign records in
/// it) or zoneshift waits by itself (`Reconciling`, caches of the delegation expiring).
pub fn deletion_held(
    s: &mut HostedZoneMigrationStatus,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let c = &mut s.conditions;
    let r = reason.as_str();
    set_condition_raw(c, ConditionType::Ready, false, r, message, generation, now);
    kstatus(c, false, r, message, generation, now);
}

/// kstatus (Flux, `kubectl wait --for=jsonpath`): `Stalled` when a person must act,
/// `Reconciling` while zoneshift goes on by itself, neither when ready or waiting for a
/// person's yes (approval, or a rollback to be taken back).
fn kstatus(
    c: &mut Vec<Condition>,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let known = Reason::parse(reason);
    let stalled = !ok && known.is_some_and(Reason::stalled);
    let waits_for_a_person = matches!(
        known,
        Some(Reason::AwaitingApproval | Reason::RollbackRequested | Reason::Unacknowledged)
    );
    let reconciling = !ok && !stalled && !waits_for_a_person;
    let (s_reason, s_message) = if stalled {
        (reason, message)
    } else {
        (Reason::NotStalled.as_str(), "Nothing needs a person.")
    };
    set_condition_raw(
        c,
        ConditionType::Stalled,
        stalled,
        s_reason,
        s_message,
        generation,
        now,
    );
    let (r_reason, r_message) = if reconciling {
        (reason, message)
    } else {
        (Reason::Idle.as_str(), "Nothing is in progress.")
    };
    set_condition_raw(
        c,
        ConditionType::Reconciling,
        reconciling,
        r_reason,
        r_message,
        generation,
        now,
    );
}
