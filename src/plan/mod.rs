//! The phase machine: (spec, previous status, observations, now) -> (next status, when to look
//! again). Pure: the controller observes, calls this, acts, and writes what it returns.
//!
//! This module covers `Pending` through `Verifying`; [`cutover`] covers the phases after.
//! Conditions are written `False` with a reason from the first reconcile on, so a GitOps tool
//! never reads an unreconciled resource as healthy.

pub mod cutover;

use crate::api::{
    condition, ChangeInfo, Condition, HostedZoneMigrationStatus, Phase, RecordCounts, SourceStatus,
    VerificationStatus,
};
use crate::zone::DeleteGuard;
use jiff::Timestamp;
use std::time::Duration;

/// What one sync pass found or did.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncOutcome {
    /// The spec has records Route 53 would reject; nothing was called.
    InvalidSpec { message: String },
    /// The zone could not be created, adopted or read.
    ZoneFailed {
        reason: &'static str,
        message: String,
    },
    /// The zone exists; the records could not be brought in sync.
    Blocked {
        zone: ZoneInfo,
        counts: RecordCounts,
        reason: &'static str,
        message: String,
    },
    /// The source could not be read (a zone file that does not parse, a refused transfer);
    /// nothing was written, since a partial import would delete what it missed.
    SourceFailed {
        reason: &'static str,
        message: String,
    },
    /// The zone exists and every change is submitted; `change` is the last one.
    Synced {
        zone: ZoneInfo,
        counts: RecordCounts,
        change: Option<ChangeInfo>,
    },
}

/// What the source gave in this pass (present when `spec.source` is set).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceObservation {
    /// The import, when the source is imported from (AXFR or zone file).
    pub import: Option<ImportInfo>,
    pub verification: Verification,
}

/// The import, as the status reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportInfo {
    pub from: String,
    pub serial: Option<u32>,
    pub imported: usize,
    /// Every record not carried, with the reason.
    pub skipped: Vec<String>,
    /// The old provider's apex NS set and TTL: the rollback target and an observation.
    pub apex_ns: Vec<String>,
    pub apex_ns_ttl: Option<u32>,
}

/// Where shadow verification stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Verification {
    /// Verification runs once every change is applied.
    AwaitingSync,
    /// Not verified in this phase (the migration is complete); conditions stay as they are.
    Skipped,
    /// There is no source nameserver to ask.
    NoNameservers,
    /// The comparison of this pass.
    Compared(crate::dns::verify::Comparison),
}

/// How many mismatches the status lists.
pub const MAX_LISTED_MISMATCHES: usize = 20;

/// What the status says about the zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneInfo {
    pub id: String,
    pub nameservers: Vec<String>,
}

/// When the controller should look again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Only when the resource changes (and the periodic resync as a safety net).
    OnChange,
    After(Duration),
}

/// Timing settings of the planner.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How often an in-sync zone is compared again (drift made by hand in Route 53).
    pub resync: Duration,
    /// How soon a `PENDING` change is asked about again.
    pub pending_poll: Duration,
    /// How often the source is imported and verified again.
    pub import_interval: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(600),
            pending_poll: Duration::from_secs(5),
            import_interval: Duration::from_secs(300),
        }
    }
}

/// The next status after a sync pass.
pub fn after_sync(
    prev: &HostedZoneMigrationStatus,
    generation: Option<i64>,
    outcome: &SyncOutcome,
    source: Option<&SourceObservation>,
    now: Timestamp,
    timing: Timing,
) -> (HostedZoneMigrationStatus, Requeue) {
    let mut s = prev.clone();
    s.observed_generation = generation;
    // Once the cutover has started, the phase belongs to it: syncing goes on underneath.
    let cutover_started = matches!(
        prev.phase,
        Some(
            Phase::AwaitingCutover
                | Phase::CuttingOver
                | Phase::Propagating
                | Phase::Completed
                | Phase::RollingBack
                | Phase::RolledBack
        )
    );
    let set = |s: &mut HostedZoneMigrationStatus, t: &str, ok: bool, reason: &str, msg: String| {
        set_condition(&mut s.conditions, t, ok, reason, &msg, generation, now)
    };
    let requeue = match outcome {
        SyncOutcome::InvalidSpec { message } => {
            s.phase = Some(s.phase.unwrap_or(Phase::Pending));
            if s.hosted_zone_id.is_none() {
                set(
                    &mut s,
                    condition::ZONE_READY,
                    false,
                    "InvalidRecord",
                    "Waiting for the records to be fixed before any change is made in Route 53."
                        .into(),
                );
            }
            set(
                &mut s,
                condition::RECORDS_SYNCED,
                false,
                "InvalidRecord",
                format!("{message}. Nothing was written to Route 53; fix the spec to go on."),
            );
            Requeue::OnChange
        }
        SyncOutcome::SourceFailed { reason, message } => {
            s.phase = Some(s.phase.unwrap_or(Phase::Pending));
            if s.hosted_zone_id.is_none() {
                set(
                    &mut s,
                    condition::ZONE_READY,
                    false,
                    reason,
                    "Waiting for the source to be read before any change is made in Route 53."
                        .into(),
                );
            }
            set(
                &mut s,
                condition::RECORDS_SYNCED,
                false,
                reason,
                format!("{message}. Nothing was written to Route 53 until the source can be read."),
            );
            set(
                &mut s,
                condition::SHADOW_VERIFIED,
                false,
                reason,
                "The source could not be read, so the shadow zone cannot be compared with it."
                    .into(),
            );
            Requeue::After(timing.import_interval)
        }
        SyncOutcome::ZoneFailed { reason, message } => {
            if !cutover_started {
                s.phase = Some(Phase::Provisioning);
            }
            set(
                &mut s,
                condition::ZONE_READY,
                false,
                reason,
                message.clone(),
            );
            set(
                &mut s,
                condition::RECORDS_SYNCED,
                false,
                "ZoneNotReady",
                "Records are synced once the hosted zone is ready.".into(),
            );
            Requeue::After(timing.resync)
        }
        SyncOutcome::Blocked {
            zone,
            counts,
            reason,
            message,
        } => {
            if !cutover_started {
                s.phase = Some(Phase::Syncing);
            }
            record_zone(&mut s, zone, now, generation);
            s.records = Some(counts.clone());
            set(
                &mut s,
                condition::RECORDS_SYNCED,
                false,
                reason,
                message.clone(),
            );
            Requeue::After(timing.resync)
        }
        SyncOutcome::Synced {
            zone,
            counts,
            change,
        } => {
            if !cutover_started {
                s.phase = Some(Phase::Syncing);
            }
            record_zone(&mut s, zone, now, generation);
            let mut change = change.clone();
            let prev_change = prev.last_change.as_ref();
            // Keep the first moment the change was seen INSYNC: timers start there.
            if let (Some(c), Some(p)) = (change.as_mut(), prev_change) {
                if c.id == p.id && c.state == "INSYNC" && p.in_sync_at.is_some() {
                    c.in_sync_at = p.in_sync_at.clone();
                }
            }
            if let Some(c) = change.as_mut() {
                if c.state == "INSYNC" && c.in_sync_at.is_none() {
                    c.in_sync_at = Some(now.to_string());
                }
            }
            if change.is_some() {
                s.last_change = change.clone();
            }
            s.records = Some(counts.clone());
            match &change {
                Some(c) if c.state != "INSYNC" => {
                    set(
                        &mut s,
                        condition::RECORDS_SYNCED,
                        false,
                        "ChangePending",
                        format!(
                            "Route 53 is applying change {}; {} of {} record sets are in sync.",
                            c.id, counts.in_sync, counts.desired
                        ),
                    );
                    Requeue::After(timing.pending_poll)
                }
                _ => {
                    set(&mut s, condition::RECORDS_SYNCED, true, "InSync", format!(
                        "All {} desired record sets are in Route 53 and applied on its nameservers.",
                        counts.desired
                    ));
                    Requeue::After(timing.resync)
                }
            }
        }
    };
    let mut requeue = requeue;
    if let Some(src) = source {
        observe_source(&mut s, src, generation, now);
        requeue = match requeue {
            Requeue::After(d) => Requeue::After(d.min(timing.import_interval)),
            // A zone file in a ConfigMap can change without the resource changing.
            Requeue::OnChange => Requeue::After(timing.import_interval),
        };
    }
    summarize(&mut s, source.is_some(), generation, now);
    (s, requeue)
}

/// Writes the import and the verification into the status.
fn observe_source(
    s: &mut HostedZoneMigrationStatus,
    src: &SourceObservation,
    generation: Option<i64>,
    now: Timestamp,
) {
    if let Some(imp) = &src.import {
        s.source = Some(SourceStatus {
            imported_from: imp.from.clone(),
            serial: imp.serial.map(i64::from),
            imported: imp.imported as i64,
            skipped: imp.skipped.iter().take(50).cloned().collect(),
            skipped_count: imp.skipped.len() as i64,
            imported_at: Some(now.to_string()),
        });
        // The rollback target is the delegation before the switch: recorded until then.
        let before_switch = !matches!(
            s.phase,
            Some(
                Phase::CuttingOver
                    | Phase::Propagating
                    | Phase::Completed
                    | Phase::RollingBack
                    | Phase::RolledBack
            )
        );
        if before_switch && !imp.apex_ns.is_empty() {
            s.cutover
                .get_or_insert_with(Default::default)
                .previous_nameservers = imp.apex_ns.clone();
        }
        if let Some(ttl) = imp.apex_ns_ttl {
            let t = s.observed_ttls.get_or_insert_with(Default::default);
            t.source_ns = Some(i64::from(ttl));
            t.observed_at = Some(now.to_string());
        }
    }
    let synced = s
        .conditions
        .iter()
        .any(|c| c.type_ == condition::RECORDS_SYNCED && c.status == "True");
    let set = |s: &mut HostedZoneMigrationStatus, ok: bool, reason: &str, msg: String| {
        set_condition(
            &mut s.conditions,
            condition::SHADOW_VERIFIED,
            ok,
            reason,
            &msg,
            generation,
            now,
        )
    };
    match &src.verification {
        Verification::AwaitingSync => {
            if synced
                || !s
                    .conditions
                    .iter()
                    .any(|c| c.type_ == condition::SHADOW_VERIFIED)
            {
                set(
                    s,
                    false,
                    "AwaitingSync",
                    "The shadow zone is compared with the source once every change is applied."
                        .into(),
                );
            }
        }
        Verification::Skipped => {}
        Verification::NoNameservers => set(
            s,
            false,
            "NoSourceNameservers",
            "Set spec.source.nameservers so zoneshift can ask the old provider what it serves."
                .into(),
        ),
        Verification::Compared(c) => {
            let before_gate = matches!(
                s.phase,
                None | Some(
                    Phase::Pending | Phase::Provisioning | Phase::Syncing | Phase::Verifying
                )
            );
            if synced && before_gate {
                s.phase = Some(Phase::Verifying);
            }
            let listed: Vec<String> = c
                .mismatches
                .iter()
                .chain(c.unanswered.iter())
                .take(MAX_LISTED_MISMATCHES)
                .cloned()
                .collect();
            s.verification = Some(VerificationStatus {
                checked: c.checked as i64,
                matched: c.matched as i64,
                ttl_differences: c.ttl_differences.len() as i64,
                not_comparable: c.not_comparable as i64,
                mismatches: listed,
                checked_at: Some(now.to_string()),
            });
            let extra = if c.ttl_differences.is_empty() {
                String::new()
            } else {
                format!(
                    " {} differ only in TTL (not blocking), e.g. {}.",
                    c.ttl_differences.len(),
                    c.ttl_differences[0]
                )
            };
            let not_comparable = if c.not_comparable > 0 {
                format!(" {} alias or routing-policy record sets cannot be compared by one DNS answer and were not.", c.not_comparable)
            } else {
                String::new()
            };
            if !c.mismatches.is_empty() {
                set(s, false, "Mismatch", format!(
                    "{} of {} names and types answer differently at the source and in Route 53 (the first: {}).{extra} Fix the source or spec.records; the cutover waits until they agree.",
                    c.mismatches.len(), c.checked, c.mismatches[0]
                ));
            } else if !c.unanswered.is_empty() {
                set(s, false, "SourceUnreachable", format!(
                    "The source did not answer for {} of {} names and types ({}). This is not a mismatch; zoneshift asks again at the next import.",
                    c.unanswered.len(), c.checked, c.unanswered[0]
                ));
            } else {
                set(s, true, "Verified", format!(
                    "All {} names and types answer the same at the source and in Route 53.{extra}{not_comparable}",
                    c.checked
                ));
            }
        }
    }
}

fn record_zone(
    s: &mut HostedZoneMigrationStatus,
    zone: &ZoneInfo,
    now: Timestamp,
    generation: Option<i64>,
) {
    s.hosted_zone_id = Some(zone.id.clone());
    s.nameservers = zone.nameservers.clone();
    set_condition(
        &mut s.conditions,
        condition::ZONE_READY,
        true,
        "ZoneAvailable",
        &format!(
            "Hosted zone {} is served by {}.",
            zone.id,
            if zone.nameservers.is_empty() {
                "no nameservers yet".to_string()
            } else {
                zone.nameservers.join(", ")
            }
        ),
        generation,
        now,
    );
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
    let mut needed = vec![condition::ZONE_READY, condition::RECORDS_SYNCED];
    if migration {
        let waiting_on = match phase {
            Phase::Pending | Phase::Provisioning | Phase::Syncing | Phase::Verifying => {
                vec![condition::SHADOW_VERIFIED, condition::CUTOVER_READY]
            }
            Phase::AwaitingCutover => vec![condition::CUTOVER_READY],
            Phase::CuttingOver | Phase::RollingBack | Phase::RolledBack => {
                vec![condition::DELEGATED]
            }
            Phase::Propagating => vec![
                condition::DELEGATED,
                condition::SOURCE_HEALTHY,
                condition::PROPAGATED,
            ],
            Phase::Completed => vec![condition::PROPAGATED],
        };
        needed.extend(waiting_on);
    }
    let first_not_true =
        needed
            .iter()
            .find_map(|t| match s.conditions.iter().find(|c| c.type_ == *t) {
                Some(c) if c.status == "True" => None,
                Some(c) => Some((c.reason.clone(), format!("{}: {}", c.type_, c.message))),
                None => Some((
                    "Reconciling".to_string(),
                    format!("{t} has not been evaluated yet."),
                )),
            });
    let (ok, reason, message) = match first_not_true {
        Some((reason, message)) => (false, reason, message),
        None if !migration => (
            true,
            "InSync".to_string(),
            "The hosted zone exists and holds every desired record set.".to_string(),
        ),
        None if phase == Phase::Completed => (
            true,
            "Completed".to_string(),
            "The domain is served by Route 53 and the old provider may be decommissioned."
                .to_string(),
        ),
        None => (
            false,
            "Progressing".to_string(),
            format!("The migration is in phase {phase}."),
        ),
    };
    set_condition(
        &mut s.conditions,
        condition::READY,
        ok,
        &reason,
        &message,
        generation,
        now,
    );
    // kstatus (Flux, kubectl wait --for=jsonpath): Stalled when a person must act,
    // Reconciling while zoneshift goes on by itself, neither when ready or waiting for
    // approval (the spec has been carried out as far as it asks).
    let stalled = !ok && STALLED_REASONS.contains(&reason.as_str());
    // Waiting for a person's yes (approval) or for a rollback to be taken back is neither.
    let reconciling =
        !ok && !stalled && !matches!(reason.as_str(), "AwaitingApproval" | "RollbackRequested");
    let (stalled_msg, reconciling_msg) = if ok {
        (
            "Nothing needs a person.".to_string(),
            "Nothing is in progress.".to_string(),
        )
    } else {
        (message.clone(), message.clone())
    };
    set_condition(
        &mut s.conditions,
        condition::STALLED,
        stalled,
        if stalled { &reason } else { "NotStalled" },
        if stalled {
            &stalled_msg
        } else {
            "Nothing needs a person."
        },
        generation,
        now,
    );
    set_condition(
        &mut s.conditions,
        condition::RECONCILING,
        reconciling,
        if reconciling { &reason } else { "Idle" },
        if reconciling {
            &reconciling_msg
        } else {
            "Nothing is in progress."
        },
        generation,
        now,
    );
}

/// Reasons that need a person before anything can go on.
pub const STALLED_REASONS: &[&str] = &[
    "InvalidRecord",
    "RoleNotAllowed",
    "AssumeRoleFailed",
    "InvalidZoneFile",
    "DeleteThresholdExceeded",
    "ZoneConflict",
    "SourceNotFound",
    "NoSourceNameservers",
    "TransferFailed",
    "Mismatch",
    "ChangeRejected",
    "DSPresent",
    "LoweringTtl",
    "PartialDelegation",
    "RegistrarError",
    "DelegationChanged",
    "SourceUnhealthy",
    "RolledBack",
];

/// Sets a condition, keeping its `lastTransitionTime` when its status does not change.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if ok { "True" } else { "False" };
    let new = |last: String| Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        observed_generation: generation,
        last_transition_time: last,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            let last = if c.status == status {
                c.last_transition_time.clone()
            } else {
                now.to_string()
            };
            *c = new(last);
        }
        None => conditions.push(new(now.to_string())),
    }
}

/// The `RecordsSynced` reason and message for a blocked delete.
pub fn delete_blocked(guard: &DeleteGuard) -> (&'static str, String) {
    ("DeleteThresholdExceeded", guard.message())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cond<'a>(s: &'a HostedZoneMigrationStatus, ty: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == ty).unwrap()
    }

    fn zone() -> ZoneInfo {
        ZoneInfo {
            id: "Z1".into(),
            nameservers: vec!["ns-1.example.".into()],
        }
    }

    #[test]
    fn invalid_spec_is_false_from_the_first_reconcile() {
        let (s, r) = after_sync(
            &Default::default(),
            Some(1),
            &SyncOutcome::InvalidSpec {
                message: "records[0] (www A): bad".into(),
            },
            None,
            t("2026-01-01T00:00:00Z"),
            Timing::default(),
        );
        assert_eq!(r, Requeue::OnChange);
        assert_eq!(s.observed_generation, Some(1));
        assert_eq!(cond(&s, "RecordsSynced").reason, "InvalidRecord");
        assert!(cond(&s, "RecordsSynced")
            .message
            .contains("records[0] (www A)"));
        assert_eq!(cond(&s, "Ready").status, "False");
        assert_eq!(cond(&s, "Ready").reason, "InvalidRecord");
    }

    #[test]
    fn pending_then_in_sync_keeps_the_first_in_sync_time() {
        let counts = RecordCounts {
            desired: 3,
            in_sync: 3,
            pending: 0,
        };
        let pending = ChangeInfo {
            id: "C1".into(),
            state: "PENDING".into(),
            submitted_at: "x".into(),
            in_sync_at: None,
        };
        let timing = Timing::default();
        let (s1, r1) = after_sync(
            &Default::default(),
            Some(1),
            &SyncOutcome::Synced {
                zone: zone(),
                counts: counts.clone(),
                change: Some(pending.clone()),
            },
            None,
            t("2026-01-01T00:00:00Z"),
            timing,
        );
        assert_eq!(r1, Requeue::After(timing.pending_poll));
        assert_eq!(cond(&s1, "RecordsSynced").reason, "ChangePending");
        assert_eq!(cond(&s1, "Ready").status, "False");

        let done = ChangeInfo {
            state: "INSYNC".into(),
            ..pending
        };
        let (s2, r2) = after_sync(
            &s1,
            Some(1),
            &SyncOutcome::Synced {
                zone: zone(),
                counts: counts.clone(),
                change: Some(done.clone()),
            },
            None,
            t("2026-01-01T00:00:07Z"),
            timing,
        );
        assert_eq!(r2, Requeue::After(timing.resync));
        assert_eq!(
            s2.last_change.as_ref().unwrap().in_sync_at.as_deref(),
            Some("2026-01-01T00:00:07Z")
        );
        assert_eq!(cond(&s2, "Ready").status, "True");
        assert_eq!(
            cond(&s2, "Ready").last_transition_time,
            "2026-01-01T00:00:07Z"
        );

        // A later pass with nothing to change keeps both the change and its first INSYNC time.
        let (s3, _) = after_sync(
            &s2,
            Some(1),
            &SyncOutcome::Synced {
                zone: zone(),
                counts,
                change: Some(done),
            },
            None,
            t("2026-01-01T00:10:00Z"),
            timing,
        );
        assert_eq!(
            s3.last_change.as_ref().unwrap().in_sync_at.as_deref(),
            Some("2026-01-01T00:00:07Z")
        );
        assert_eq!(
            cond(&s3, "Ready").last_transition_time,
            "2026-01-01T00:00:07Z"
        );
    }

    #[test]
    fn blocked_sync_says_why() {
        let (s, _) = after_sync(
            &Default::default(),
            Some(2),
            &SyncOutcome::Blocked {
                zone: zone(),
                counts: RecordCounts::default(),
                reason: "DeleteThresholdExceeded",
                message: "would delete 3".into(),
            },
            None,
            t("2026-01-01T00:00:00Z"),
            Timing::default(),
        );
        assert_eq!(cond(&s, "ZoneReady").status, "True");
        assert_eq!(cond(&s, "RecordsSynced").reason, "DeleteThresholdExceeded");
        assert_eq!(cond(&s, "Ready").reason, "DeleteThresholdExceeded");
        assert_eq!(s.phase, Some(Phase::Syncing));
    }

    #[test]
    fn kstatus_stalled_and_reconciling() {
        let now = t("2026-01-01T00:00:00Z");
        let timing = Timing::default();
        let (s, _) = after_sync(
            &Default::default(),
            Some(1),
            &SyncOutcome::InvalidSpec {
                message: "bad".into(),
            },
            None,
            now,
            timing,
        );
        assert_eq!(
            (
                cond(&s, "Stalled").status.as_str(),
                cond(&s, "Stalled").reason.as_str()
            ),
            ("True", "InvalidRecord")
        );
        assert_eq!(cond(&s, "Reconciling").status, "False");
        let pending = ChangeInfo {
            id: "C1".into(),
            state: "PENDING".into(),
            submitted_at: "x".into(),
            in_sync_at: None,
        };
        let counts = RecordCounts {
            desired: 1,
            in_sync: 0,
            pending: 1,
        };
        let (s, _) = after_sync(
            &Default::default(),
            Some(1),
            &SyncOutcome::Synced {
                zone: zone(),
                counts: counts.clone(),
                change: Some(pending),
            },
            None,
            now,
            timing,
        );
        assert_eq!(
            (
                cond(&s, "Reconciling").status.as_str(),
                cond(&s, "Reconciling").reason.as_str()
            ),
            ("True", "ChangePending")
        );
        assert_eq!(cond(&s, "Stalled").status, "False");
        let (s, _) = after_sync(
            &Default::default(),
            Some(1),
            &SyncOutcome::Synced {
                zone: zone(),
                counts,
                change: None,
            },
            None,
            now,
            timing,
        );
        assert_eq!(cond(&s, "Ready").status, "True");
        assert_eq!(cond(&s, "Reconciling").status, "False");
        assert_eq!(cond(&s, "Stalled").status, "False");
    }
}
