//! The cutover gate as an ordered list of named checks. Each is a small pure function of what
//! was observed; it passes, waits (time or something outside will open it) or blocks (a person
//! or a fix is needed). The status lists every check, so a person sees everything left before
//! the switch, not only the first thing that holds it.

use super::cutover::Observation;
use super::time::{self, parse as ts, plus};
use crate::api::{CutoverSpec, CutoverStatus, GateCheckStatus, Reason};
use jiff::Timestamp;

/// The checks, in the order a person fixes what they report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    NotRollingBack,
    RecordsSynced,
    ShadowVerified,
    Route53Answering,
    Route53NsTtlLowered,
    SourceNsTtlLowered,
    OldNsTtlExpired,
    ParentReadable,
    NoDsAtParent,
    Acknowledged,
    Approved,
}

impl Check {
    pub const ALL: [Check; 11] = [
        Check::NotRollingBack,
        Check::RecordsSynced,
        Check::ShadowVerified,
        Check::Route53Answering,
        Check::Route53NsTtlLowered,
        Check::SourceNsTtlLowered,
        Check::OldNsTtlExpired,
        Check::ParentReadable,
        Check::NoDsAtParent,
        Check::Acknowledged,
        Check::Approved,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Check::NotRollingBack => "NotRollingBack",
            Check::RecordsSynced => "RecordsSynced",
            Check::ShadowVerified => "ShadowVerified",
            Check::Route53Answering => "Route53Answering",
            Check::Route53NsTtlLowered => "Route53NsTtlLowered",
            Check::SourceNsTtlLowered => "SourceNsTtlLowered",
            Check::OldNsTtlExpired => "OldNsTtlExpired",
            Check::ParentReadable => "ParentReadable",
            Check::NoDsAtParent => "NoDsAtParent",
            Check::Acknowledged => "Acknowledged",
            Check::Approved => "Approved",
        }
    }

    fn evaluate(self, i: &Inputs) -> State {
        match self {
            Check::NotRollingBack => not_rolling_back(i),
            Check::RecordsSynced => records_synced(i),
            Check::ShadowVerified => shadow_verified(i),
            Check::Route53Answering => route53_answering(i),
            Check::Route53NsTtlLowered => route53_ns_ttl_lowered(i),
            Check::SourceNsTtlLowered => source_ns_ttl_lowered(i),
            Check::OldNsTtlExpired => old_ns_ttl_expired(i),
            Check::ParentReadable => parent_readable(i),
            Check::NoDsAtParent => no_ds_at_parent(i),
            Check::Acknowledged => acknowledged(i),
            Check::Approved => approved(i),
        }
    }
}

/// What a check says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Pass,
    /// Time or something outside opens it; `until` when time alone does.
    Wait {
        reason: Reason,
        message: String,
        until: Option<Timestamp>,
    },
    /// A person or a fix is needed.
    Block {
        reason: Reason,
        message: String,
    },
}

impl State {
    fn wait(reason: Reason, message: impl Into<String>) -> State {
        State::Wait {
            reason,
            message: message.into(),
            until: None,
        }
    }

    fn block(reason: Reason, message: impl Into<String>) -> State {
        State::Block {
            reason,
            message: message.into(),
        }
    }

    /// The reason and sentence of a check that does not pass.
    pub fn holds(&self) -> Option<(Reason, &str)> {
        match self {
            State::Pass => None,
            State::Wait {
                reason, message, ..
            }
            | State::Block { reason, message } => Some((*reason, message)),
        }
    }
}

/// What the checks read.
pub struct Inputs<'a> {
    pub spec: &'a CutoverSpec,
    pub obs: &'a Observation,
    /// The cutover status after this pass's TTL bookkeeping ([`track_source_ns_ttl`]).
    pub cut: &'a CutoverStatus,
    /// `spec.cutover.loweredNameserverTtl`, clamped.
    pub lowered: u32,
    pub now: Timestamp,
    /// How old a verification may be when `Route53Domains` switches.
    pub max_verification_age: std::time::Duration,
}

/// The gate for this pass: every check with its state, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    pub checks: Vec<(Check, State)>,
    /// When the time conditions are met (the old NS TTL has expired).
    pub opens_at: Option<Timestamp>,
}

impl Gate {
    pub fn evaluate(i: &Inputs) -> Gate {
        Gate {
            checks: Check::ALL.iter().map(|c| (*c, c.evaluate(i))).collect(),
            opens_at: opens_at(i.cut, i.spec),
        }
    }

    /// The first check that holds the gate: its reason is `CutoverReady`'s.
    pub fn first_holding(&self) -> Option<Reason> {
        self.checks.iter().find_map(|(_, s)| s.holds()).map(|h| h.0)
    }

    /// Every holding check's sentence, in order.
    pub fn message(&self) -> String {
        self.checks
            .iter()
            .filter_map(|(_, s)| s.holds().map(|h| h.1))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The checks as the status lists them.
    pub fn status(&self) -> Vec<GateCheckStatus> {
        self.checks
            .iter()
            .map(|(c, s)| {
                let (state, until) = match s {
                    State::Pass => ("Pass", None),
                    State::Wait { until, .. } => ("Wait", until.map(|t| t.to_string())),
                    State::Block { .. } => ("Block", None),
                };
                GateCheckStatus {
                    name: c.name().to_string(),
                    state: state.to_string(),
                    reason: s.holds().map(|h| h.0.to_string()),
                    message: s.holds().map(|h| h.1.to_string()),
                    until,
                }
            })
            .collect()
    }
}

/// Remembers the highest source NS TTL seen before it was lowered, and since when it is seen
/// lowered: the facts the expiry check reads, kept in the status across restarts.
pub fn track_source_ns_ttl(
    cut: &mut CutoverStatus,
    obs: &Observation,
    lowered: u32,
    now: Timestamp,
) {
    match obs.source_ns_ttl {
        Ok(ttl) if ttl > lowered => {
            cut.source_ns_ttl_before =
                Some(cut.source_ns_ttl_before.unwrap_or(0).max(i64::from(ttl)));
            cut.source_ns_lowered_since = None;
        }
        Ok(_) => {
            let since = ts(&cut.source_ns_lowered_since).unwrap_or(time::start(now));
            cut.source_ns_lowered_since = Some(since.to_string());
        }
        Err(_) => {}
    }
}

/// What the soak and the gate assume when nothing was observed: the longest Unbound keeps an
/// NS set (its `cache-max-ttl` default).
pub const DEFAULT_PREVIOUS_NS_TTL: u64 = 86_400;

/// The highest NS TTL the old provider may have handed out, and where that figure comes from:
/// the highest zoneshift saw above the lowered one, else `spec.cutover.previousNameserverTtl`,
/// else [`DEFAULT_PREVIOUS_NS_TTL`] (zoneshift first saw it already lowered, so what came
/// before is unknown).
pub fn old_ns_ttl(cut: &CutoverStatus, spec: &CutoverSpec) -> (u64, String) {
    if let Some(t) = cut.source_ns_ttl_before {
        return (
            t.max(0) as u64,
            "the highest NS TTL observed at the old provider before it was lowered".into(),
        );
    }
    assumed_previous(spec)
}

/// What a TTL zoneshift could not observe is assumed to have been.
pub fn assumed_previous(spec: &CutoverSpec) -> (u64, String) {
    match spec.previous_nameserver_ttl {
        Some(t) => (t.max(0) as u64, "spec.cutover.previousNameserverTtl".into()),
        None => (
            DEFAULT_PREVIOUS_NS_TTL,
            format!("the default {DEFAULT_PREVIOUS_NS_TTL} s (the longest Unbound keeps an NS set): zoneshift did not observe the TTL before it was lowered; set spec.cutover.previousNameserverTtl to what it was"),
        ),
    }
}

fn opens_at(cut: &CutoverStatus, spec: &CutoverSpec) -> Option<Timestamp> {
    let since = ts(&cut.source_ns_lowered_since)?;
    Some(plus(since, old_ns_ttl(cut, spec).0))
}

fn not_rolling_back(i: &Inputs) -> State {
    if i.spec.rollback {
        return State::block(
            Reason::RollbackRequested,
            "spec.cutover.rollback is true: the cutover does not go forward.",
        );
    }
    State::Pass
}

fn records_synced(i: &Inputs) -> State {
    if i.obs.records_synced {
        return State::Pass;
    }
    State::wait(
        Reason::AwaitingSync,
        "The records are not in sync in Route 53 yet.",
    )
}

fn shadow_verified(i: &Inputs) -> State {
    if !i.obs.shadow_verified {
        return State::wait(
            Reason::AwaitingVerification,
            "The shadow zone is not verified against the source yet (see ShadowVerified).",
        );
    }
    // Route 53 Domains switches in the pass that opens the gate: on a fresh verification, so
    // that nothing changed at the old provider since is lost.
    let age = i
        .obs
        .verified_at
        .map(|at| i.now.duration_since(at).as_secs());
    let max = i.max_verification_age.as_secs() as i64;
    match (i.spec.mode, age) {
        (crate::api::CutoverMode::Route53Domains, Some(a)) if a > max => State::wait(
            Reason::AwaitingVerification,
            format!("The last verification is {a} s old; zoneshift verifies again before it asks Route 53 Domains to switch."),
        ),
        _ => State::Pass,
    }
}

fn route53_answering(i: &Inputs) -> State {
    match &i.obs.route53_answers {
        Ok(()) => State::Pass,
        Err(e) => State::wait(
            Reason::Route53NotAnswering,
            format!("The Route 53 nameservers do not answer for the zone yet: {e}."),
        ),
    }
}

fn route53_ns_ttl_lowered(i: &Inputs) -> State {
    let lowered = i.lowered;
    match i.obs.route53_ns_ttl {
        Some(t) if t == lowered => State::Pass,
        Some(t) => State::wait(
            Reason::LoweringRoute53Ttl,
            format!("The Route 53 zone's NS TTL is {t} s and is being set to {lowered} s."),
        ),
        None => State::wait(
            Reason::LoweringRoute53Ttl,
            "The Route 53 zone's NS TTL is not known yet.",
        ),
    }
}

fn source_ns_ttl_lowered(i: &Inputs) -> State {
    let lowered = i.lowered;
    match &i.obs.source_ns_ttl {
        Err(e) => State::wait(
            Reason::SourceNsTtlUnknown,
            format!("The source's NS TTL could not be observed: {e}."),
        ),
        Ok(ttl) if *ttl > lowered => State::block(Reason::LoweringTtl, format!(
            "Lower the NS TTL at the old provider to {lowered} s or less (it serves {ttl} s); the gate then waits for the old TTL to expire."
        )),
        Ok(_) => State::Pass,
    }
}

fn old_ns_ttl_expired(i: &Inputs) -> State {
    let Some(since) = ts(&i.cut.source_ns_lowered_since) else {
        return State::wait(
            Reason::WaitingForTtlExpiry,
            "The old NS TTL starts to expire once the old provider is seen serving the lowered one.",
        );
    };
    let (before, basis) = old_ns_ttl(i.cut, i.spec);
    let at = plus(since, before);
    if i.now >= at {
        return State::Pass;
    }
    State::Wait {
        reason: Reason::WaitingForTtlExpiry,
        message: format!(
            "The old NS TTL ({before} s, {basis}) must expire after it was lowered at {since}: waiting until {at}."
        ),
        until: Some(at),
    }
}

fn parent_readable(i: &Inputs) -> State {
    match &i.obs.parent {
        Ok(p) if !p.disagreement.is_empty() => State::wait(
            Reason::ParentServersDisagree,
            format!(
                "Not every server of the parent zone serves the same delegation ({}): the switch waits until each one can be read.",
                p.disagreement.join("; ")
            ),
        ),
        Ok(_) => State::Pass,
        Err(e) => State::wait(
            Reason::ParentUnreachable,
            format!("The parent zone's delegation could not be observed: {e}."),
        ),
    }
}

fn no_ds_at_parent(i: &Inputs) -> State {
    if let Ok(p) = &i.obs.parent {
        if !p.ds.is_empty() {
            return State::block(Reason::DSPresent, format!(
                "The parent publishes DS records ({}): an unsigned Route 53 zone under a DS fails validation for every validating resolver. Remove the DS at the registrar first; the gate then waits its TTL ({} s).",
                p.ds.join("; "), p.ds_ttl
            ));
        }
    }
    match ts(&i.cut.ds_cached_until) {
        Some(until) if until > i.now => State::Wait {
            reason: Reason::WaitingForDsExpiry,
            message: format!("A DS record was seen at the parent: validating resolvers may cache it until {until}."),
            until: Some(until),
        },
        _ => State::Pass,
    }
}

fn acknowledged(i: &Inputs) -> State {
    let n = i.cut.unacknowledged_count.unwrap_or(0);
    if n == 0 {
        return State::Pass;
    }
    let first = i.cut.unacknowledged.first().cloned().unwrap_or_default();
    State::block(Reason::Unacknowledged, format!(
        "{n} record sets cannot be proven by one DNS answer or will answer differently from Route 53 (the first: {first}); list each in spec.cutover.acknowledge with why, or change them so they verify."
    ))
}

fn approved(i: &Inputs) -> State {
    if i.spec.approved {
        return State::Pass;
    }
    State::block(
        Reason::AwaitingApproval,
        "Approve the switch: set spec.cutover.approved to true.",
    )
}
