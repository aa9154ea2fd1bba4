//! The cutover: the gate, the switch, the soak, completion and rollback, as a pure function of
//! (spec, status, observations, now). The controller observes, calls [`decide`], performs the
//! actions it returns, writes the status and looks again at the instant it returns.
//!
//! Every timestamp lives in the status, so a restart at any instant resumes where it stopped.

use super::gate::{self, Gate};
use super::old_provider_ns;

mod rollback;
use super::set_condition;
use super::time::{self, parse as ts, plus};
use crate::api::{
    ConditionType, CutoverMode, CutoverSpec, CutoverStatus, HostedZoneMigrationSpec,
    HostedZoneMigrationStatus, Phase, Reason,
};
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

use super::observation::record_delegation;
pub use super::observation::{Attention, Observation, OperationState, ParentView};

/// Something the controller does for the cutover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// UPSERT the Route 53 zone's apex NS set with this TTL (same values).
    SetRoute53NsTtl(u32),
    /// Route 53 Domains: set the registrar's nameservers.
    UpdateRegistrarNameservers(Vec<String>),
    /// `oldProviderNameservers: Update`: set the old provider's apex NS set (RFC 2136).
    UpdateSourceNameservers(Vec<String>),
    /// A Kubernetes Event.
    Event {
        warning: bool,
        reason: Reason,
        message: String,
    },
}

/// What to do, what to write, and when to look again.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub status: HostedZoneMigrationStatus,
    pub actions: Vec<Action>,
    /// The next instant something can change; `None`: nothing time-bound is pending.
    pub next_look: Option<Timestamp>,
}

/// Timing of the observations.
#[derive(Clone, Copy, Debug)]
pub struct Probes {
    /// How often the parent and the registrar are asked while a switch is awaited.
    pub poll: Duration,
    /// How often the old provider is probed during `Propagating`.
    pub source_probe: Duration,
    /// `Route53Domains` switches only on a verification at most this old.
    pub max_verification_age: Duration,
}

impl Default for Probes {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(30),
            source_probe: Duration::from_secs(60),
            max_verification_age: Duration::from_secs(300),
        }
    }
}

/// Parses `minimumSoak` (`24h`, `90m`, `1s`, `1h30m`).
pub fn parse_soak(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("spec.cutover.minimumSoak {s:?}: {e}"))
}

/// One decision in the making: the status being written, the actions, the next look.
struct Step<'a> {
    spec: &'a CutoverSpec,
    obs: &'a Observation,
    s: HostedZoneMigrationStatus,
    cut: CutoverStatus,
    actions: Vec<Action>,
    next_look: Option<Timestamp>,
    generation: Option<i64>,
    now: Timestamp,
    probes: Probes,
    soak: Duration,
    lowered: u32,
    final_ttl: u32,
    origin: String,
}

/// Decides the cutover for this pass. Call it after the sync pass has written its conditions.
pub fn decide(
    spec: &HostedZoneMigrationSpec,
    status: &HostedZoneMigrationStatus,
    obs: &Observation,
    generation: Option<i64>,
    now: Timestamp,
    probes: Probes,
) -> Decision {
    let c = &spec.cutover;
    let mut step = Step {
        spec: c,
        obs,
        s: status.clone(),
        cut: status.cutover.clone().unwrap_or_default(),
        actions: Vec::new(),
        next_look: None,
        generation,
        now,
        probes,
        soak: parse_soak(&c.minimum_soak).unwrap_or(Duration::from_secs(86_400)),
        lowered: c.lowered_nameserver_ttl.clamp(0, i64::from(u32::MAX)) as u32,
        final_ttl: c.final_nameserver_ttl.clamp(0, i64::from(u32::MAX)) as u32,
        origin: crate::zone::normalize_origin(&spec.domain).unwrap_or_default(),
    };
    let phase = step.s.phase.unwrap_or_default();
    step.record_observations();
    step.keep_route53_ns_ttl(phase);
    // A rollback asked once the switch was requested goes back to the previous delegation.
    let rollback_now = c.rollback
        && matches!(
            phase,
            Phase::CuttingOver | Phase::Propagating | Phase::Completed
        );
    match phase {
        _ if rollback_now => step.start_rollback(),
        Phase::Pending
        | Phase::Provisioning
        | Phase::Syncing
        | Phase::Verifying
        | Phase::AwaitingCutover => step.before_switch(),
        Phase::CuttingOver => step.cutting_over(),
        Phase::Propagating => step.propagating(),
        Phase::Completed => {}
        Phase::RollingBack => step.rolling_back(),
        Phase::RolledBack => step.rolled_back(),
    }
    step.s.cutover = Some(step.cut);
    Decision {
        status: step.s,
        actions: step.actions,
        next_look: step.next_look,
    }
}

impl Step<'_> {
    fn set(&mut self, t: ConditionType, ok: bool, reason: Reason, message: &str) {
        let (g, now) = (self.generation, self.now);
        set_condition(&mut self.s.conditions, t, ok, reason, message, g, now);
    }

    fn soon(&mut self, at: Timestamp) {
        self.next_look = Some(self.next_look.map_or(at, |n| n.min(at)));
    }

    fn poll_soon(&mut self, every: Duration) {
        self.soon(plus(self.now, every.as_secs()));
    }

    fn event(&mut self, warning: bool, reason: Reason, message: String) {
        self.actions.push(Action::Event {
            warning,
            reason,
            message,
        });
    }

    /// The parent's NS set equals `set` (a non-empty one).
    fn parent_serves(&self, set: &[String]) -> bool {
        self.obs
            .parent
            .as_ref()
            .is_ok_and(|p| !set.is_empty() && p.nameservers == set && p.disagreement.is_empty())
    }

    fn switched_now(&self) -> bool {
        self.parent_serves(&self.obs.route53_nameservers)
    }

    /// Observations go into the status with their time.
    fn record_observations(&mut self) {
        let now = self.now;
        let had_ds = self.s.delegation.as_ref().is_some_and(|d| !d.ds.is_empty());
        let ds_ttl = self
            .s
            .delegation
            .as_ref()
            .and_then(|d| d.ds_ttl)
            .unwrap_or(0);
        record_delegation(&mut self.s, &self.obs.parent, now);
        if let Some(ttl) = self.obs.route53_ns_ttl {
            self.s
                .observed_ttls
                .get_or_insert_with(Default::default)
                .route53_ns = Some(i64::from(ttl));
        }
        if let Ok(ttl) = self.obs.source_ns_ttl {
            let t = self.s.observed_ttls.get_or_insert_with(Default::default);
            t.source_ns = Some(i64::from(ttl));
            t.observed_at = Some(time::stamp(now));
            // An NS TTL above the lowered one, in any phase, is one resolvers may hold.
            if ttl > self.lowered {
                let before = self.cut.source_ns_ttl_before.unwrap_or(0);
                self.cut.source_ns_ttl_before = Some(before.max(i64::from(ttl)));
                self.cut.source_ns_lowered_since = None;
            }
        }
        if let Ok(p) = &self.obs.parent {
            let max = self
                .cut
                .parent_ns_ttl_max
                .unwrap_or(0)
                .max(i64::from(p.ttl));
            self.cut.parent_ns_ttl_max = Some(max);
            // Validating resolvers may hold a DS for its TTL after it is removed; a DS seen
            // before and gone now went at some moment up to now.
            let ttl = match (p.ds.is_empty(), had_ds) {
                (false, _) => Some(u64::from(p.ds_ttl)),
                (true, true) => Some(ds_ttl.max(0) as u64),
                (true, false) => None,
            };
            if let Some(ttl) = ttl {
                let until = plus(time::start(now), ttl);
                let known = ts(&self.cut.ds_cached_until);
                if known.is_none_or(|k| k < until) {
                    self.cut.ds_cached_until = Some(until.to_string());
                }
            }
        }
        if let Some(attention) = &self.obs.attention {
            self.record_attention(attention);
        }
        old_provider_ns::record(&mut self.cut, self.obs, now);
        let (old, basis) = gate::old_ns_ttl(&self.cut, self.spec);
        self.cut.old_ns_ttl = Some(old as i64);
        self.cut.old_ns_ttl_basis = Some(basis);
    }

    /// What still waits for `spec.cutover.acknowledge`.
    fn record_attention(&mut self, attention: &[Attention]) {
        let origin = self.origin.clone();
        let acked = |a: &Attention| {
            self.spec.acknowledge.iter().any(|k| {
                let name = crate::zone::normalize_name(&k.name, &origin).unwrap_or_default();
                name == a.name && (k.type_ == "*" || k.type_.eq_ignore_ascii_case(&a.rtype))
            })
        };
        let open: Vec<String> = attention
            .iter()
            .filter(|a| !acked(a))
            .map(|a| format!("{} {}: {}", a.name, a.rtype, a.why))
            .collect();
        self.cut.unacknowledged_count = (!open.is_empty()).then_some(open.len() as i64);
        self.cut.unacknowledged = open.into_iter().take(50).collect();
    }

    /// The Route 53 zone's NS TTL: lowered until the migration completes, final after.
    fn keep_route53_ns_ttl(&mut self, phase: Phase) {
        let target = if phase == Phase::Completed {
            self.final_ttl
        } else {
            self.lowered
        };
        if self.obs.route53_ns_ttl.is_some_and(|t| t != target) && self.obs.records_synced {
            self.actions.push(Action::SetRoute53NsTtl(target));
        }
    }

    /// Before the switch: track the old delegation, and open the gate or say what holds it.
    fn before_switch(&mut self) {
        let switched = self.switched_now();
        // Track the parent's TTL before the switch: parent-centric resolvers keep the old
        // delegation that long. Only a reading of the old delegation in full counts: every
        // server answering, none serving a Route 53 nameserver yet.
        if let Ok(p) = &self.obs.parent {
            let route53 = &self.obs.route53_nameservers;
            let old = p.disagreement.is_empty()
                && !p.nameservers.is_empty()
                && !p.nameservers.iter().any(|n| route53.contains(n));
            if old {
                let before = self.cut.parent_ns_ttl_before.unwrap_or(0);
                self.cut.parent_ns_ttl_before = Some(before.max(i64::from(p.ttl)));
                self.cut.previous_nameservers = p.nameservers.clone();
            }
        }
        if switched {
            return self.switched_outside_the_gate();
        }
        gate::track_source_ns_ttl(&mut self.cut, self.obs, self.lowered, self.now);
        let gate = Gate::evaluate(&gate::Inputs {
            spec: self.spec,
            obs: self.obs,
            cut: &self.cut,
            lowered: self.lowered,
            now: self.now,
            max_verification_age: self.probes.max_verification_age,
        });
        self.cut.gate_opens_at = gate.opens_at.map(|t| t.to_string());
        self.cut.gate = gate.status();
        if self.obs.records_synced && self.obs.shadow_verified {
            self.s.phase = Some(Phase::AwaitingCutover);
        }
        match gate.first_holding() {
            None => self.open_gate(),
            Some(reason) => {
                self.set(ConditionType::CutoverReady, false, reason, &gate.message());
                if self.s.condition(ConditionType::Delegated).is_none() {
                    self.set(
                        ConditionType::Delegated,
                        false,
                        Reason::NotSwitched,
                        "The parent still serves the old provider's nameservers.",
                    );
                }
                if let Some(at) = gate.opens_at.filter(|t| *t > self.now) {
                    self.soon(at);
                }
                self.poll_soon(self.probes.poll);
            }
        }
    }

    /// The parent already serves Route 53: the switch happened outside the gate. Reported, not
    /// hidden, and the soak runs from now.
    fn switched_outside_the_gate(&mut self) {
        let approved = self.spec.approved;
        let reason = if approved {
            Reason::SwitchedBeforeGate
        } else {
            Reason::SwitchedBeforeApproval
        };
        let msg = format!(
            "The parent already serves the Route 53 nameservers although the cutover gate was not passed ({}). The old provider must keep answering until the soak ends.",
            if approved { "the gate was closed" } else { "spec.cutover.approved is false" }
        );
        self.event(true, reason, msg.clone());
        self.set(ConditionType::CutoverReady, false, reason, &msg);
        self.enter_propagating();
    }

    fn open_gate(&mut self) {
        self.set(
            ConditionType::CutoverReady,
            true,
            Reason::GateOpen,
            "Every condition of the gate holds and the cutover is approved.",
        );
        self.s.phase = Some(Phase::CuttingOver);
        self.cut.requested_at = Some(time::stamp(self.now));
        let route53_set = self.obs.route53_nameservers.clone();
        match self.spec.mode {
            CutoverMode::Route53Domains => {
                if self.cut.operation_id.is_none() && self.cut.registrar_held_at.is_none() {
                    self.actions
                        .push(Action::UpdateRegistrarNameservers(route53_set.clone()));
                }
            }
            CutoverMode::Manual => self.event(
                false,
                Reason::SwitchNameservers,
                format!(
                    "The gate is open: set the domain's nameservers at the registrar to these four: {}{}",
                    route53_set.join(", "),
                    if self.spec.old_provider_nameservers == crate::api::OldProviderNameservers::Manual
                        && !old_provider_ns::waived(self.spec, &self.origin)
                    {
                        ", and the apex NS records at the old provider to the same four"
                    } else {
                        ""
                    }
                ),
            ),
        }
        self.old_provider_ns();
        let msg = awaiting_registrar(self.spec.mode, &route53_set);
        self.set(
            ConditionType::Delegated,
            false,
            Reason::AwaitingRegistrar,
            &msg,
        );
        self.poll_soon(self.probes.poll);
    }

    fn cutting_over(&mut self) {
        if self.switched_now() {
            return self.enter_propagating();
        }
        self.old_provider_ns();
        let mode = self.spec.mode;
        // Route 53 Domains: a request that was refused or whose operation failed is asked
        // again at each poll, and its error stays shown until then.
        let registrar_failed = matches!(&self.obs.operation, Some(OperationState::Failed(_)));
        let unasked = self.cut.operation_id.is_none() && self.cut.registrar_held_at.is_none();
        if mode == CutoverMode::Route53Domains && (unasked || registrar_failed) {
            self.cut.operation_id = None;
            self.cut.registrar_held_at = None;
            let set = self.obs.route53_nameservers.clone();
            self.actions.push(Action::UpdateRegistrarNameservers(set));
        }
        let refused_before = self.cut.operation_id.is_none()
            && self.cut.registrar_held_at.is_none()
            && self
                .s
                .has_reason(ConditionType::Delegated, Reason::RegistrarError);
        let route53_set = self.obs.route53_nameservers.clone();
        let (reason, msg) = match (&self.obs.parent, &self.obs.operation) {
            (_, Some(OperationState::Failed(why))) => (Reason::RegistrarError, format!(
                "Route 53 Domains did not change the nameservers ({why}); zoneshift asks again."
            )),
            _ if refused_before && mode == CutoverMode::Route53Domains => {
                return self.poll_soon(self.probes.poll);
            }
            (Ok(p), _) if p.nameservers.iter().any(|n| route53_set.contains(n)) => (Reason::PartialDelegation, format!(
                "The parent serves a mix of nameservers ({}); the switch counts only once it serves exactly {}. Fix the NS set at the registrar.",
                p.nameservers.join(", "), route53_set.join(", ")
            )),
            (Err(e), _) => (
                Reason::ParentUnreachable,
                format!("The parent zone could not be asked: {e}."),
            ),
            _ => (
                Reason::AwaitingRegistrar,
                awaiting_registrar(mode, &route53_set),
            ),
        };
        self.set(ConditionType::Delegated, false, reason, &msg);
        self.poll_soon(self.probes.poll);
    }

    /// When the last cache that may hold a delegation or an NS set pointing at the old
    /// provider can have let go, for a switch at `switched`. Until the parent's old delegation
    /// expires (its TTL before the switch, else the highest seen or assumed), a resolver may
    /// fetch the old provider's own NS set and keep it for the TTL the old provider serves: the
    /// lowered one when it was seen lowered before the switch (a set fetched before the
    /// lowering expires at `lowered since + old NS TTL`), else the highest it may have handed
    /// out. Never before `minimumSoak`.
    fn releasable_at(&self, switched: Timestamp) -> Timestamp {
        let parent_max = self.cut.parent_ns_ttl_max.unwrap_or(0).max(0) as u64;
        let parent = match self.cut.parent_ns_ttl_before {
            Some(t) => (t.max(0) as u64).max(parent_max),
            // The switch was seen before any old delegation was: assume what was not seen.
            None => gate::assumed_previous(self.spec).0.max(parent_max),
        };
        let (old_ns, _) = gate::old_ns_ttl(&self.cut, self.spec);
        // What the old provider serves now counts too, whatever it is.
        let served = self
            .s
            .observed_ttls
            .as_ref()
            .and_then(|t| t.source_ns)
            .unwrap_or(0);
        let served = served.max(0) as u64;
        let lowered_since = ts(&self.cut.source_ns_lowered_since).filter(|t| *t <= switched);
        let child = match lowered_since {
            Some(since) => {
                let fetched_before = plus(since, old_ns);
                let window = parent + u64::from(self.lowered).max(served);
                fetched_before.max(plus(switched, window))
            }
            None => plus(switched, parent + old_ns.max(served)),
        };
        // Rule 12: no earlier than the old NS TTL after the old servers named Route 53's set.
        let sticky =
            old_provider_ns::horizon(&self.cut, self.spec, &self.origin, self.lowered, served)
                .unwrap_or(switched);
        child.max(sticky).max(plus(switched, self.soak.as_secs()))
    }

    fn enter_propagating(&mut self) {
        let now = self.now;
        let switched = ts(&self.cut.switched_at).unwrap_or(time::start(now));
        self.cut.switched_at = Some(switched.to_string());
        let releasable = self.releasable_at(switched);
        self.cut.old_provider_releasable_at = Some(releasable.to_string());
        self.s.phase = Some(Phase::Propagating);
        self.set(
            ConditionType::Delegated,
            true,
            Reason::Switched,
            &format!("The parent serves the Route 53 nameservers since {switched}."),
        );
        self.soak_condition(releasable);
        self.old_provider_ns();
        self.event(false, Reason::Switched, format!("The parent serves the Route 53 nameservers. Keep the old provider serving until {releasable}."));
        self.soon(releasable);
        self.poll_soon(self.probes.source_probe);
    }

    fn propagating(&mut self) {
        // What was observed since the switch may push the horizon out, never in.
        if let Some(switched) = ts(&self.cut.switched_at) {
            let now_known = self.releasable_at(switched);
            if ts(&self.cut.old_provider_releasable_at).is_none_or(|r| r < now_known) {
                self.cut.old_provider_releasable_at = Some(now_known.to_string());
            }
        }
        let releasable = ts(&self.cut.old_provider_releasable_at);
        if let (Some(failures), Some(releasable)) = (self.obs.source_failures.clone(), releasable) {
            // Once the old provider may go, what it answers no longer matters.
            if self.now < releasable {
                self.probe_outcome(&failures, releasable);
            }
        }
        if !self.switched_now() {
            return self.delegation_unsure();
        }
        if self.cut.switched_at.is_none() {
            // Back on Route 53 after the delegation left it: the soak starts again.
            return self.enter_propagating();
        }
        let since = self.cut.switched_at.clone().unwrap_or_default();
        self.set(
            ConditionType::Delegated,
            true,
            Reason::Switched,
            &format!("The parent serves the Route 53 nameservers since {since}."),
        );
        let releasable = ts(&self.cut.old_provider_releasable_at).unwrap_or(self.now);
        let old_ns_holds = self.old_provider_ns();
        if self.now >= releasable && !old_ns_holds {
            return self.complete(releasable);
        }
        self.soak_condition(releasable);
        self.soon(releasable);
        self.poll_soon(self.probes.source_probe);
    }

    /// `Propagated` during the soak: what the old provider's apex NS set still holds, else the
    /// time left.
    fn soak_condition(&mut self, releasable: Timestamp) {
        let route53 = self.obs.route53_nameservers.clone();
        match old_provider_ns::pending(&self.cut, self.spec, &self.origin, &route53) {
            Some((reason, msg, _)) => self.set(
                ConditionType::Propagated,
                false,
                reason,
                &format!("{msg} Keep the old provider serving until {releasable} at least."),
            ),
            None => self.set(ConditionType::Propagated, false, Reason::Soaking, &format!(
                "Keep the old provider serving until {releasable}: resolvers may hold the old delegation until then."
            )),
        }
    }

    /// Rule 12 in this pass: asks for the old provider's apex NS update where zoneshift makes
    /// it; whether the old provider's NS set still holds the release.
    fn old_provider_ns(&mut self) -> bool {
        let route53 = self.obs.route53_nameservers.clone();
        match old_provider_ns::pending(&self.cut, self.spec, &self.origin, &route53) {
            Some((_, _, update)) => {
                if let Some(set) = update {
                    self.actions.push(Action::UpdateSourceNameservers(set));
                }
                true
            }
            None => false,
        }
    }

    /// During the soak the parent does not (provably) serve Route 53: nothing completes. A
    /// delegation seen leaving Route 53 restarts the soak when it comes back.
    fn delegation_unsure(&mut self) {
        let (reason, msg) = match &self.obs.parent {
            Err(e) => (
                Reason::ParentUnreachable,
                format!("The parent zone could not be asked ({e}): the soak cannot end until it is seen serving Route 53."),
            ),
            Ok(p) if !p.disagreement.is_empty() => (
                Reason::ParentServersDisagree,
                format!("Not every server of the parent zone serves the Route 53 nameservers ({}): the soak cannot end until each one does.", p.disagreement.join("; ")),
            ),
            Ok(_) => {
                self.cut.switched_at = None;
                self.cut.old_provider_releasable_at = None;
                (Reason::DelegationChanged, "The parent no longer serves the Route 53 nameservers, although no rollback was asked for: the soak starts again when it does, or set spec.cutover.rollback.".to_string())
            }
        };
        self.set(ConditionType::Delegated, false, reason, &msg);
        self.set(ConditionType::Propagated, false, reason, &msg);
        self.poll_soon(self.probes.poll);
    }

    /// `SourceHealthy` from this pass's probe of the old provider.
    fn probe_outcome(&mut self, failures: &[String], releasable: Timestamp) {
        let Some(first) = failures.first() else {
            return self.set(
                ConditionType::SourceHealthy,
                true,
                Reason::Answering,
                "The old provider still answers as Route 53 does.",
            );
        };
        let left = releasable.duration_since(self.now);
        let msg = format!(
            "The old provider stopped answering as Route 53 does for {} names and types (the first: {first}). Resolvers that cached the old delegation may still send users there for {} more (until {releasable}). Make the two answer alike now: restore the old provider's records, or, if Route 53 is the one that is wrong, fix spec.records.",
            failures.len(), human(left)
        );
        let first_seen = self
            .s
            .condition(ConditionType::SourceHealthy)
            .is_none_or(|c| c.status == "True");
        if first_seen {
            self.event(true, Reason::SourceUnhealthy, msg.clone());
        }
        if self.cut.source_failed_at.is_none() {
            self.cut.source_failed_at = Some(time::stamp(self.now));
        }
        self.set(
            ConditionType::SourceHealthy,
            false,
            Reason::SourceUnhealthy,
            &msg,
        );
    }

    fn complete(&mut self, releasable: Timestamp) {
        self.s.phase = Some(Phase::Completed);
        self.cut.completed_at = Some(time::stamp(self.now));
        let failed = match &self.cut.source_failed_at {
            Some(at) => format!(" The old provider answered differently from Route 53 during the soak (first at {at}): users whose resolvers still used it may have been failed."),
            None => String::new(),
        };
        self.set(ConditionType::Propagated, true, Reason::Released, &format!(
            "Every cached copy of the old delegation has expired (since {releasable}); the old provider may be decommissioned.{failed}"
        ));
        let final_ttl = self.final_ttl;
        self.actions.push(Action::SetRoute53NsTtl(final_ttl));
        self.event(!failed.is_empty(), Reason::Completed, format!(
            "The migration is complete: the old provider may be decommissioned; the Route 53 NS TTL is raised to {final_ttl} s.{failed}"
        ));
    }
}

fn awaiting_registrar(mode: CutoverMode, route53_set: &[String]) -> String {
    match mode {
        CutoverMode::Manual => format!(
            "Set the domain's nameservers at the registrar to {}; zoneshift watches the parent zone.",
            route53_set.join(", ")
        ),
        CutoverMode::Route53Domains => format!(
            "Route 53 Domains was asked to set the nameservers to {}; waiting for the parent zone to serve them.",
            route53_set.join(", ")
        ),
    }
}

fn human(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    match secs {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CutoverSpec, HostedZoneMigrationSpec};

    const OLD: [&str; 2] = ["ns1.old-provider.net.", "ns2.old-provider.net."];
    const NEW: [&str; 4] = [
        "ns-1.awsdns-01.org.",
        "ns-2.awsdns-02.co.uk.",
        "ns-3.awsdns-03.com.",
        "ns-4.awsdns-04.net.",
    ];

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    fn at(secs: i64) -> Timestamp {
        t("2026-11-27T00:00:00Z")
            .checked_add(SignedDuration::from_secs(secs))
            .unwrap()
    }
    fn set(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn spec(mode: CutoverMode, approved: bool) -> HostedZoneMigrationSpec {
        HostedZoneMigrationSpec {
            domain: "example.com".into(),
            cutover: CutoverSpec {
                mode,
                approved,
                lowered_nameserver_ttl: 60,
                final_nameserver_ttl: 172_800,
                minimum_soak: "30m".into(),
                rollback: false,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn obs(parent: &[&str]) -> Observation {
        Observation {
            parent: Ok(ParentView::agreed(set(parent), 3600)),
            source_ns_ttl: Ok(60),
            route53_ns_ttl: Some(60),
            route53_nameservers: set(&NEW),
            route53_answers: Ok(()),
            records_synced: true,
            shadow_verified: true,
            source_failures: None,
            operation: None,
            verified_at: None,
            attention: Some(Vec::new()),
            // The old provider already names Route 53 (rule 12 has tests of its own).
            source_apex_ns: Some(Ok(set(&NEW))),
        }
    }

    /// A change to the inputs that closes the gate.
    type Tweak = Box<dyn Fn(&mut Observation, &mut HostedZoneMigrationSpec)>;

    fn verifying() -> HostedZoneMigrationStatus {
        HostedZoneMigrationStatus {
            phase: Some(Phase::Verifying),
            ..Default::default()
        }
    }

    fn cond<'a>(s: &'a HostedZoneMigrationStatus, ty: &str) -> &'a crate::api::Condition {
        s.conditions
            .iter()
            .find(|c| c.type_ == ty)
            .unwrap_or_else(|| panic!("no {ty}"))
    }

    fn run(
        sp: &HostedZoneMigrationSpec,
        st: &HostedZoneMigrationStatus,
        o: &Observation,
        now: Timestamp,
    ) -> Decision {
        decide(
            sp,
            st,
            o,
            Some(1),
            now,
            Probes {
                poll: Duration::from_secs(5),
                source_probe: Duration::from_secs(5),
                max_verification_age: Duration::from_secs(300),
            },
        )
    }

    /// The whole way: lower, wait out the old TTL, approve, switch, soak, complete.
    #[test]
    fn the_whole_cutover_with_its_timers() {
        let mut sp = spec(CutoverMode::Manual, false);
        let mut o = obs(&OLD);
        // The source still serves its old NS TTL.
        o.source_ns_ttl = Ok(3600);
        let d = run(&sp, &verifying(), &o, at(0));
        assert_eq!(d.status.phase, Some(Phase::AwaitingCutover));
        assert_eq!(cond(&d.status, "CutoverReady").reason, "LoweringTtl");
        assert_eq!(
            d.status.cutover.as_ref().unwrap().source_ns_ttl_before,
            Some(3600)
        );

        // Lowered at +100 s: the gate opens when the old TTL has run out, at +3700 s.
        o.source_ns_ttl = Ok(60);
        let d = run(&sp, &d.status, &o, at(100));
        let c = cond(&d.status, "CutoverReady");
        assert_eq!(c.reason, "WaitingForTtlExpiry", "{}", c.message);
        assert!(
            c.message.contains("AwaitingApproval") || c.message.contains("Approve the switch"),
            "every missing item is listed: {}",
            c.message
        );
        assert_eq!(
            d.status.cutover.as_ref().unwrap().gate_opens_at.as_deref(),
            Some(at(3700).to_string().as_str())
        );
        assert_eq!(
            d.next_look,
            Some(at(105)),
            "looks again at the next poll, and no later than the gate"
        );

        // At +3700 s only the approval is missing.
        let d = run(&sp, &d.status, &o, at(3700));
        assert_eq!(cond(&d.status, "CutoverReady").reason, "AwaitingApproval");
        assert_eq!(d.status.phase, Some(Phase::AwaitingCutover));

        // Approved: the gate opens, a person is told the nameservers.
        sp.cutover.approved = true;
        let d = run(&sp, &d.status, &o, at(3710));
        assert_eq!(d.status.phase, Some(Phase::CuttingOver));
        assert_eq!(cond(&d.status, "CutoverReady").status, "True");
        assert!(d.actions.iter().any(|a| matches!(a, Action::Event { reason: Reason::SwitchNameservers, message, .. } if message.contains("ns-1.awsdns-01.org."))));
        assert_eq!(cond(&d.status, "Delegated").reason, "AwaitingRegistrar");

        // The parent shows a mix: not a switch.
        let d = run(
            &sp,
            &d.status,
            &obs(&["ns1.old-provider.net.", "ns-1.awsdns-01.org."]),
            at(3720),
        );
        assert_eq!(d.status.phase, Some(Phase::CuttingOver));
        assert_eq!(cond(&d.status, "Delegated").reason, "PartialDelegation");

        // The parent serves Route 53: switchedAt, and the release after the longest TTL.
        let d = run(&sp, &d.status, &obs(&NEW), at(4000));
        assert_eq!(d.status.phase, Some(Phase::Propagating));
        let cut = d.status.cutover.clone().unwrap();
        assert_eq!(
            cut.switched_at.as_deref(),
            Some(at(4000).to_string().as_str())
        );
        assert_eq!(
            cut.old_provider_releasable_at.as_deref(),
            Some(at(4000 + 3600 + 60).to_string().as_str()),
            "until the parent's 3600 s delegation expires a resolver may fetch the old NS set (60 s)"
        );
        assert_eq!(cut.previous_nameservers, set(&OLD));
        assert_eq!(cond(&d.status, "Delegated").status, "True");

        // The old provider stops answering during the soak: caught, with how long it matters.
        let mut o2 = obs(&NEW);
        o2.source_failures = Some(vec![
            "www.example.com. A: source has nothing, Route 53 has 192.0.2.1".into(),
        ]);
        let d2 = run(&sp, &d.status, &o2, at(4100));
        let c = cond(&d2.status, "SourceHealthy");
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "SourceUnhealthy")
        );
        assert!(c.message.contains("59m20s more"), "{}", c.message);
        assert!(d2.actions.iter().any(|a| matches!(
            a,
            Action::Event {
                warning: true,
                reason: Reason::SourceUnhealthy,
                ..
            }
        )));

        // Healthy again, then the release time: completed, NS TTL raised.
        let mut o3 = obs(&NEW);
        o3.source_failures = Some(vec![]);
        let d3 = run(&sp, &d2.status, &o3, at(4200));
        assert_eq!(cond(&d3.status, "SourceHealthy").status, "True");
        assert_eq!(d3.next_look, Some(at(4205)));
        let d4 = run(&sp, &d3.status, &obs(&NEW), at(7660));
        assert_eq!(d4.status.phase, Some(Phase::Completed));
        // The failure seen during the soak is said at completion.
        let released = cond(&d4.status, "Propagated").message.clone();
        assert!(released.contains("answered differently"), "{released}");
        assert_eq!(cond(&d4.status, "Propagated").status, "True");
        assert!(d4.actions.contains(&Action::SetRoute53NsTtl(172_800)));
        // Afterwards the final TTL is held.
        let mut o5 = obs(&NEW);
        o5.route53_ns_ttl = Some(60);
        assert!(run(&sp, &d4.status, &o5, at(7760))
            .actions
            .contains(&Action::SetRoute53NsTtl(172_800)));
    }

    #[test]
    fn each_reason_the_gate_stays_closed() {
        let sp = spec(CutoverMode::Manual, true);
        let lowered_long_ago = {
            let mut st = verifying();
            st.cutover = Some(CutoverStatus {
                source_ns_lowered_since: Some(at(-100_000).to_string()),
                source_ns_ttl_before: Some(3600),
                ..Default::default()
            });
            st
        };
        let cases: Vec<(&str, Tweak)> = vec![
            ("AwaitingSync", Box::new(|o, _| o.records_synced = false)),
            (
                "AwaitingVerification",
                Box::new(|o, _| o.shadow_verified = false),
            ),
            (
                "Route53NotAnswering",
                Box::new(|o, _| o.route53_answers = Err("no answer".into())),
            ),
            (
                "LoweringRoute53Ttl",
                Box::new(|o, _| o.route53_ns_ttl = Some(172_800)),
            ),
            ("LoweringTtl", Box::new(|o, _| o.source_ns_ttl = Ok(86_400))),
            (
                "SourceNsTtlUnknown",
                Box::new(|o, _| o.source_ns_ttl = Err("timed out".into())),
            ),
            (
                "ParentUnreachable",
                Box::new(|o, _| o.parent = Err("SERVFAIL".into())),
            ),
            (
                "DSPresent",
                Box::new(|o, _| {
                    if let Ok(p) = o.parent.as_mut() {
                        p.ds = vec!["12345 13 2 ABCD".into()];
                    }
                }),
            ),
            (
                "RollbackRequested",
                Box::new(|_, s| s.cutover.rollback = true),
            ),
            (
                "AwaitingApproval",
                Box::new(|_, s| s.cutover.approved = false),
            ),
        ];
        // With nothing missing, the gate opens.
        assert_eq!(
            run(&sp, &lowered_long_ago, &obs(&OLD), at(0)).status.phase,
            Some(Phase::CuttingOver)
        );
        for (want, change) in cases {
            let mut o = obs(&OLD);
            let mut s2 = sp.clone();
            change(&mut o, &mut s2);
            let d = run(&s2, &lowered_long_ago, &o, at(0));
            assert_ne!(d.status.phase, Some(Phase::CuttingOver), "{want}");
            let c = cond(&d.status, "CutoverReady");
            assert_eq!(
                (c.status.as_str(), c.reason.as_str()),
                ("False", want),
                "{}",
                c.message
            );
            assert!(!d
                .actions
                .iter()
                .any(|a| matches!(a, Action::UpdateRegistrarNameservers(_))));
        }
    }

    #[test]
    fn a_ds_at_the_parent_is_explained() {
        let mut o = obs(&OLD);
        if let Ok(p) = o.parent.as_mut() {
            p.ds = vec!["12345 13 2 ABCD".into()];
        }
        let d = run(&spec(CutoverMode::Manual, true), &verifying(), &o, at(0));
        let c = cond(&d.status, "CutoverReady");
        assert!(
            c.message
                .contains("fails validation for every validating resolver"),
            "{}",
            c.message
        );
        assert_eq!(
            d.status.delegation.as_ref().unwrap().ds,
            vec!["12345 13 2 ABCD".to_string()]
        );
    }

    #[test]
    fn a_switch_before_approval_is_reported_and_soaked() {
        let d = run(
            &spec(CutoverMode::Manual, false),
            &verifying(),
            &obs(&NEW),
            at(50),
        );
        assert_eq!(d.status.phase, Some(Phase::Propagating));
        assert_eq!(
            cond(&d.status, "CutoverReady").reason,
            "SwitchedBeforeApproval"
        );
        assert!(d.actions.iter().any(|a| matches!(
            a,
            Action::Event {
                warning: true,
                reason: Reason::SwitchedBeforeApproval,
                ..
            }
        )));
        // Nothing of the old delegation was seen: the parent's TTL before the switch and the
        // old provider's NS TTL are assumed at the default, above the 30 m soak and the
        // parent's 3600 s seen now.
        assert_eq!(
            d.status
                .cutover
                .unwrap()
                .old_provider_releasable_at
                .as_deref(),
            Some(at(50 + 2 * 86_400).to_string().as_str())
        );
        // Told what they were, the soak is the largest of them and the parent's TTL now.
        let mut sp = spec(CutoverMode::Manual, false);
        sp.cutover.previous_nameserver_ttl = Some(600);
        let d = run(&sp, &verifying(), &obs(&NEW), at(50));
        assert_eq!(
            d.status
                .cutover
                .unwrap()
                .old_provider_releasable_at
                .as_deref(),
            Some(at(50 + 3600 + 600).to_string().as_str())
        );
    }

    #[test]
    fn route53_domains_mode_asks_once() {
        let sp = spec(CutoverMode::Route53Domains, true);
        let mut st = verifying();
        st.cutover = Some(CutoverStatus {
            source_ns_lowered_since: Some(at(-100_000).to_string()),
            source_ns_ttl_before: Some(60),
            ..Default::default()
        });
        let d = run(&sp, &st, &obs(&OLD), at(0));
        assert_eq!(
            d.actions
                .iter()
                .filter(|a| matches!(a, Action::UpdateRegistrarNameservers(ns) if *ns == set(&NEW)))
                .count(),
            1
        );
        // The controller records the operation; the next pass does not ask again.
        let mut st2 = d.status.clone();
        st2.cutover.as_mut().unwrap().operation_id = Some("op-1".into());
        let mut o = obs(&OLD);
        o.operation = Some(OperationState::InProgress);
        let d2 = run(&sp, &st2, &o, at(10));
        assert!(!d2
            .actions
            .iter()
            .any(|a| matches!(a, Action::UpdateRegistrarNameservers(_))));
        o.operation = Some(OperationState::Failed("DomainLimitExceeded".into()));
        assert_eq!(
            cond(&run(&sp, &st2, &o, at(20)).status, "Delegated").reason,
            "RegistrarError"
        );
    }

    /// A restart at any instant resumes from status: the same inputs give the same status, and
    /// one-shot requests are not repeated.
    #[test]
    fn a_restart_in_each_phase_resumes_without_repeating_a_step() {
        let sp = spec(CutoverMode::Route53Domains, true);
        let mut st = verifying();
        st.cutover = Some(CutoverStatus {
            source_ns_lowered_since: Some(at(-100_000).to_string()),
            source_ns_ttl_before: Some(60),
            ..Default::default()
        });
        let mut o = obs(&OLD);
        let mut seen = Vec::new();
        for (step, parent, now) in [
            (0, &OLD[..], 0),
            (1, &OLD[..], 10),
            (2, &NEW[..], 20),
            (3, &NEW[..], 20 + 3600 + 60),
        ] {
            o.parent = Ok(ParentView::agreed(set(parent), 3600));
            let d = run(&sp, &st, &o, at(now));
            let mut next = d.status.clone();
            if d.actions
                .iter()
                .any(|a| matches!(a, Action::UpdateRegistrarNameservers(_)))
            {
                next.cutover.as_mut().unwrap().operation_id = Some("op-1".into());
            }
            // "Restart": decide again from the written status, same instant.
            let again = run(&sp, &next, &o, at(now));
            assert_eq!(again.status.phase, next.phase, "step {step}");
            assert_eq!(
                again.status.cutover.as_ref().map(|c| (
                    &c.switched_at,
                    &c.old_provider_releasable_at,
                    &c.gate_opens_at
                )),
                next.cutover.as_ref().map(|c| (
                    &c.switched_at,
                    &c.old_provider_releasable_at,
                    &c.gate_opens_at
                )),
                "step {step}"
            );
            assert!(
                !again
                    .actions
                    .iter()
                    .any(|a| matches!(a, Action::UpdateRegistrarNameservers(_))),
                "step {step}: not asked twice"
            );
            seen.push(next.phase.unwrap());
            st = next;
        }
        assert_eq!(
            seen,
            vec![
                Phase::CuttingOver,
                Phase::CuttingOver,
                Phase::Propagating,
                Phase::Completed
            ]
        );
    }

    #[test]
    fn rollback_in_each_phase() {
        let mut sp = spec(CutoverMode::Route53Domains, true);
        sp.cutover.rollback = true;
        let base_cut = CutoverStatus {
            previous_nameservers: set(&OLD),
            switched_at: Some(at(0).to_string()),
            old_provider_releasable_at: Some(at(3600).to_string()),
            ..Default::default()
        };
        for phase in [Phase::CuttingOver, Phase::Propagating, Phase::Completed] {
            let st = HostedZoneMigrationStatus {
                phase: Some(phase),
                cutover: Some(base_cut.clone()),
                ..Default::default()
            };
            let d = run(&sp, &st, &obs(&NEW), at(100));
            assert_eq!(d.status.phase, Some(Phase::RollingBack), "{phase}");
            assert!(
                d.actions
                    .contains(&Action::UpdateRegistrarNameservers(set(&OLD))),
                "{phase}"
            );
            // The parent returns to the previous set: rolled back.
            let d2 = run(&sp, &d.status, &obs(&OLD), at(200));
            assert_eq!(d2.status.phase, Some(Phase::RolledBack), "{phase}");
            assert!(d2.status.cutover.unwrap().rolled_back_at.is_some());
        }
        // Before the switch a rollback only keeps the gate shut.
        let d = run(&sp, &verifying(), &obs(&OLD), at(0));
        assert_eq!(cond(&d.status, "CutoverReady").reason, "RollbackRequested");
        // Manual mode tells a person, and asks Route 53 Domains nothing.
        let mut manual = spec(CutoverMode::Manual, true);
        manual.cutover.rollback = true;
        let st = HostedZoneMigrationStatus {
            phase: Some(Phase::Propagating),
            cutover: Some(base_cut.clone()),
            ..Default::default()
        };
        let d = run(&manual, &st, &obs(&NEW), at(100));
        assert!(!d
            .actions
            .iter()
            .any(|a| matches!(a, Action::UpdateRegistrarNameservers(_))));
        assert!(d.actions.iter().any(|a| matches!(a, Action::Event { reason: Reason::RollingBack, message, .. } if message.contains("ns1.old-provider.net."))));
        // Going forward again after a rollback starts at the gate.
        let back = HostedZoneMigrationStatus {
            phase: Some(Phase::RolledBack),
            cutover: Some(base_cut),
            ..Default::default()
        };
        let d = run(&spec(CutoverMode::Manual, true), &back, &obs(&OLD), at(300));
        assert_eq!(d.status.phase, Some(Phase::AwaitingCutover));
        assert!(d.status.cutover.unwrap().switched_at.is_none());
    }

    #[test]
    fn first_seen_already_lowered_waits_what_the_old_ttl_may_have_been() {
        let d = run(
            &spec(CutoverMode::Manual, true),
            &verifying(),
            &obs(&OLD),
            at(0),
        );
        assert_eq!(
            cond(&d.status, "CutoverReady").reason,
            "WaitingForTtlExpiry"
        );
        let cut = d.status.cutover.unwrap();
        // What the old provider served before is unknown: the default, and the status says so.
        assert_eq!(
            cut.gate_opens_at.as_deref(),
            Some(at(86_400).to_string().as_str())
        );
        assert_eq!(cut.old_ns_ttl, Some(86_400));
        assert!(cut.old_ns_ttl_basis.unwrap().contains("default"));
        let mut sp = spec(CutoverMode::Manual, true);
        sp.cutover.previous_nameserver_ttl = Some(7200);
        let d = run(&sp, &verifying(), &obs(&OLD), at(0));
        let cut = d.status.cutover.unwrap();
        assert_eq!(
            cut.gate_opens_at.as_deref(),
            Some(at(7200).to_string().as_str())
        );
        assert_eq!(
            cut.old_ns_ttl_basis.as_deref(),
            Some("spec.cutover.previousNameserverTtl")
        );
    }

    #[test]
    fn a_delegation_changed_during_the_soak_restarts_it() {
        let sp = spec(CutoverMode::Manual, true);
        let st = HostedZoneMigrationStatus {
            phase: Some(Phase::Propagating),
            cutover: Some(CutoverStatus {
                previous_nameservers: set(&OLD),
                switched_at: Some(at(0).to_string()),
                old_provider_releasable_at: Some(at(3600).to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let d = run(&sp, &st, &obs(&OLD), at(4000));
        assert_eq!(
            d.status.phase,
            Some(Phase::Propagating),
            "not completed while the parent serves the old set"
        );
        assert_eq!(cond(&d.status, "Delegated").reason, "DelegationChanged");
        // Back on Route 53: the soak starts again from then, it does not complete.
        let back = run(&sp, &d.status, &obs(&NEW), at(4010)).status;
        assert_eq!(back.phase, Some(Phase::Propagating));
        let cut = back.cutover.unwrap();
        assert_eq!(
            cut.switched_at.as_deref(),
            Some(at(4010).to_string().as_str())
        );
    }

    #[test]
    fn a_refused_registrar_request_is_asked_again() {
        let sp = spec(CutoverMode::Route53Domains, true);
        let st = HostedZoneMigrationStatus {
            phase: Some(Phase::CuttingOver),
            ..Default::default()
        };
        // No operation recorded (the request was refused): asked again.
        let d = run(&sp, &st, &obs(&OLD), at(0));
        assert!(d
            .actions
            .contains(&Action::UpdateRegistrarNameservers(set(&NEW))));
        // An operation that failed: reported and asked again.
        let mut st2 = st.clone();
        st2.cutover = Some(CutoverStatus {
            operation_id: Some("op-1".into()),
            ..Default::default()
        });
        let mut o = obs(&OLD);
        o.operation = Some(OperationState::Failed("InvalidInput".into()));
        let d = run(&sp, &st2, &o, at(10));
        assert_eq!(cond(&d.status, "Delegated").reason, "RegistrarError");
        assert!(d
            .actions
            .contains(&Action::UpdateRegistrarNameservers(set(&NEW))));
        assert_eq!(d.status.cutover.unwrap().operation_id, None);
    }
}
