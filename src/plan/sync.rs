//! The status after a sync pass: zone, records, import and verification, `Pending` through
//! `Verifying`. Once the cutover has started the phase is the cutover's; syncing goes on.

use super::status::{set_condition, summarize};
use super::verify::Comparison;
use super::{
    ImportInfo, Requeue, SourceObservation, SyncOutcome, Timing, Verification, ZoneInfo,
    MAX_LISTED_MISMATCHES,
};
use crate::api::{
    ChangeInfo, ConditionType, HostedZoneMigrationStatus, Phase, Reason, RecordCounts,
    SourceStatus, VerificationStatus,
};
use jiff::Timestamp;

/// One pass's writing context: the generation and the instant every condition carries.
#[derive(Clone, Copy)]
struct Pass {
    generation: Option<i64>,
    now: Timestamp,
}

impl Pass {
    fn set(
        self,
        s: &mut HostedZoneMigrationStatus,
        t: ConditionType,
        ok: bool,
        r: Reason,
        m: &str,
    ) {
        set_condition(&mut s.conditions, t, ok, r, m, self.generation, self.now)
    }
}

/// The next status after a sync pass, and when to look again.
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
    let pass = Pass { generation, now };
    let cutover_started = prev.phase.is_some_and(|p| !p.before_gate());
    let mut requeue = match outcome {
        SyncOutcome::InvalidSpec { message } => invalid_spec(&mut s, pass, message),
        SyncOutcome::SourceFailed { reason, message } => {
            source_failed(&mut s, pass, *reason, message, timing)
        }
        SyncOutcome::ZoneFailed { reason, message } => {
            if !cutover_started {
                s.phase = Some(Phase::Provisioning);
            }
            pass.set(&mut s, ConditionType::ZoneReady, false, *reason, message);
            pass.set(
                &mut s,
                ConditionType::RecordsSynced,
                false,
                Reason::ZoneNotReady,
                "Records are synced once the hosted zone is ready.",
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
            record_zone(&mut s, zone, pass);
            s.records = Some(counts.clone());
            pass.set(
                &mut s,
                ConditionType::RecordsSynced,
                false,
                *reason,
                message,
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
            record_zone(&mut s, zone, pass);
            synced(&mut s, prev, pass, counts, change.clone(), timing)
        }
    };
    if let Some(src) = source {
        observe_source(&mut s, src, pass);
        requeue = match requeue {
            Requeue::After(d) => Requeue::After(d.min(timing.import_interval)),
            // A zone file in a ConfigMap can change without the resource changing.
            Requeue::OnChange => Requeue::After(timing.import_interval),
        };
    }
    summarize(&mut s, source.is_some(), generation, now);
    (s, requeue)
}

fn invalid_spec(s: &mut HostedZoneMigrationStatus, pass: Pass, message: &str) -> Requeue {
    s.phase = Some(s.phase.unwrap_or(Phase::Pending));
    if s.hosted_zone_id.is_none() {
        pass.set(
            s,
            ConditionType::ZoneReady,
            false,
            Reason::InvalidRecord,
            "Waiting for the records to be fixed before any change is made in Route 53.",
        );
    }
    pass.set(
        s,
        ConditionType::RecordsSynced,
        false,
        Reason::InvalidRecord,
        &format!("{message}. Nothing was written to Route 53; fix the spec to go on."),
    );
    Requeue::OnChange
}

fn source_failed(
    s: &mut HostedZoneMigrationStatus,
    pass: Pass,
    reason: Reason,
    message: &str,
    timing: Timing,
) -> Requeue {
    s.phase = Some(s.phase.unwrap_or(Phase::Pending));
    if s.hosted_zone_id.is_none() {
        pass.set(
            s,
            ConditionType::ZoneReady,
            false,
            reason,
            "Waiting for the source to be read before any change is made in Route 53.",
        );
    }
    pass.set(
        s,
        ConditionType::RecordsSynced,
        false,
        reason,
        &format!("{message}. Nothing was written to Route 53 until the source can be read."),
    );
    pass.set(
        s,
        ConditionType::ShadowVerified,
        false,
        reason,
        "The source could not be read, so the shadow zone cannot be compared with it.",
    );
    Requeue::After(timing.import_interval)
}

fn synced(
    s: &mut HostedZoneMigrationStatus,
    prev: &HostedZoneMigrationStatus,
    pass: Pass,
    counts: &RecordCounts,
    mut change: Option<ChangeInfo>,
    timing: Timing,
) -> Requeue {
    // Keep the first moment the change was seen INSYNC: timers start there.
    if let (Some(c), Some(p)) = (change.as_mut(), prev.last_change.as_ref()) {
        if c.id == p.id && c.state == "INSYNC" && p.in_sync_at.is_some() {
            c.in_sync_at = p.in_sync_at.clone();
        }
    }
    if let Some(c) = change.as_mut() {
        if c.state == "INSYNC" && c.in_sync_at.is_none() {
            c.in_sync_at = Some(super::time::start(pass.now).to_string());
        }
    }
    if change.is_some() {
        s.last_change = change.clone();
    }
    s.records = Some(counts.clone());
    match &change {
        Some(c) if c.state != "INSYNC" => {
            let msg = format!(
                "Route 53 is applying change {}; {} of {} record sets are in sync.",
                c.id, counts.in_sync, counts.desired
            );
            let r = Reason::ChangePending;
            pass.set(s, ConditionType::RecordsSynced, false, r, &msg);
            Requeue::After(timing.pending_poll)
        }
        _ => {
            let msg = format!(
                "All {} desired record sets are in Route 53 and applied on its nameservers.",
                counts.desired
            );
            pass.set(s, ConditionType::RecordsSynced, true, Reason::InSync, &msg);
            Requeue::After(timing.resync)
        }
    }
}

/// Writes the import and the verification into the status.
fn observe_source(s: &mut HostedZoneMigrationStatus, src: &SourceObservation, pass: Pass) {
    if let Some(imp) = &src.import {
        record_import(s, imp, pass.now);
    }
    let synced = s.is_true(ConditionType::RecordsSynced);
    let set = |s: &mut HostedZoneMigrationStatus, ok: bool, reason: Reason, msg: &str| {
        pass.set(s, ConditionType::ShadowVerified, ok, reason, msg)
    };
    match &src.verification {
        Verification::AwaitingSync => {
            if synced || s.condition(ConditionType::ShadowVerified).is_none() {
                set(
                    s,
                    false,
                    Reason::AwaitingSync,
                    "The shadow zone is compared with the source once every change is applied.",
                );
            }
        }
        Verification::Skipped => {}
        Verification::NoNameservers => set(
            s,
            false,
            Reason::NoSourceNameservers,
            "Set spec.source.nameservers so zoneshift can ask the old provider what it serves.",
        ),
        Verification::Compared(c) => {
            if synced && s.phase.is_none_or(Phase::before_gate) {
                s.phase = Some(Phase::Verifying);
            }
            record_comparison(s, c, pass.now);
            // After the switch the comparison is the soak's probe of the old provider: it
            // speaks through SourceHealthy, and the shadow's verification keeps its verdict.
            if s.phase
                .is_some_and(|p| matches!(p, Phase::Propagating | Phase::RollingBack))
            {
                return;
            }
            let (ok, reason, message) = verdict(c);
            set(s, ok, reason, &message);
        }
    }
}

fn record_import(s: &mut HostedZoneMigrationStatus, imp: &ImportInfo, now: Timestamp) {
    s.source = Some(SourceStatus {
        imported_from: imp.from.clone(),
        serial: imp.serial.map(i64::from),
        imported: imp.imported as i64,
        skipped: imp.skipped.iter().take(50).cloned().collect(),
        skipped_count: imp.skipped.len() as i64,
        imported_at: Some(super::time::stamp(now)),
        nameservers: imp.nameservers.clone(),
    });
    // The rollback target is the delegation before the switch: recorded until then.
    let before_switch = !s.phase.is_some_and(Phase::switch_requested);
    // An old provider that already names Route 53's nameservers (rule 12) is no rollback target.
    let route53: Vec<String> = (s.nameservers.iter())
        .filter_map(|n| crate::zone::normalize_target(n).ok())
        .collect();
    let names_route53 = imp.apex_ns.iter().any(|n| route53.contains(n));
    if before_switch && !imp.apex_ns.is_empty() && !names_route53 {
        s.cutover
            .get_or_insert_with(Default::default)
            .previous_nameservers = imp.apex_ns.clone();
    }
    if let Some(ttl) = imp.apex_ns_ttl {
        let t = s.observed_ttls.get_or_insert_with(Default::default);
        t.source_ns = Some(i64::from(ttl));
        t.observed_at = Some(super::time::stamp(now));
    }
}

fn record_comparison(s: &mut HostedZoneMigrationStatus, c: &Comparison, now: Timestamp) {
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
        checked_at: Some(super::time::stamp(now)),
    });
}

/// `ShadowVerified` for a comparison: its status, reason and message.
fn verdict(c: &Comparison) -> (bool, Reason, String) {
    let extra = match c.ttl_differences.first() {
        None => String::new(),
        Some(first) => format!(
            " {} differ only in TTL (not blocking), e.g. {first}.",
            c.ttl_differences.len()
        ),
    };
    if let Some(first) = c.mismatches.first() {
        return (false, Reason::Mismatch, format!(
            "{} of {} names and types answer differently at the source and in Route 53 (the first: {first}).{extra} Fix the source or spec.records; the cutover waits until they agree.",
            c.mismatches.len(), c.checked
        ));
    }
    if let Some(first) = c.unanswered.first() {
        return (false, Reason::SourceUnreachable, format!(
            "The source did not answer for {} of {} names and types ({first}). This is not a mismatch; zoneshift asks again at the next import.",
            c.unanswered.len(), c.checked
        ));
    }
    let not_comparable = if c.not_comparable > 0 {
        format!(" {} alias or routing-policy record sets cannot be compared by one DNS answer and were not.", c.not_comparable)
    } else {
        String::new()
    };
    (
        true,
        Reason::Verified,
        format!(
            "All {} names and types answer the same at the source and in Route 53.{extra}{not_comparable}",
            c.checked
        ),
    )
}

fn record_zone(s: &mut HostedZoneMigrationStatus, zone: &ZoneInfo, pass: Pass) {
    s.hosted_zone_id = Some(zone.id.clone());
    s.nameservers = zone.nameservers.clone();
    let served_by = if zone.nameservers.is_empty() {
        "no nameservers yet".to_string()
    } else {
        zone.nameservers.join(", ")
    };
    pass.set(
        s,
        ConditionType::ZoneReady,
        true,
        Reason::ZoneAvailable,
        &format!("Hosted zone {} is served by {served_by}.", zone.id),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cond<'a>(s: &'a HostedZoneMigrationStatus, ty: &str) -> &'a crate::api::Condition {
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
                reason: Reason::DeleteThresholdExceeded,
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
