//! Rollback: back to the previous delegation, the old provider's own NS set with it, and how
//! long Route 53 must keep serving after.

use super::old_provider_ns;
use super::time::{self, parse as ts, plus};
use super::{Action, Step};
use crate::api::{
    ConditionType, CutoverMode, CutoverStatus, OldProviderNameservers, Phase, Reason,
};

impl Step<'_> {
    pub(super) fn start_rollback(&mut self) {
        self.s.phase = Some(Phase::RollingBack);
        // The abandoned switch's soak says nothing any more: the old provider is live again.
        self.cut.switched_at = None;
        self.cut.old_provider_releasable_at = None;
        let previous = self.cut.previous_nameservers.clone();
        let target = previous.join(", ");
        let mode = self.spec.mode;
        if mode == CutoverMode::Route53Domains && !previous.is_empty() {
            self.actions
                .push(Action::UpdateRegistrarNameservers(previous));
        }
        let message = match mode {
            CutoverMode::Manual => format!(
                "Rollback asked: set the domain's nameservers at the registrar back to {target}."
            ),
            CutoverMode::Route53Domains => {
                format!("Rollback asked: Route 53 Domains is set back to {target}.")
            }
        };
        self.event(true, Reason::RollingBack, message);
        self.restore_old_provider_ns();
        self.set(
            ConditionType::Delegated,
            false,
            Reason::RollingBack,
            &format!("Waiting for the parent to serve the previous nameservers again: {target}."),
        );
        self.poll_soon(self.probes.poll);
    }

    /// After a rollback the old provider's apex NS set names its own servers again: zoneshift
    /// restores what it changed (until every server serves it); a person restores what they did.
    pub(super) fn restore_old_provider_ns(&mut self) {
        let previous = self.cut.previous_nameservers.clone();
        let route53 = &self.obs.route53_nameservers;
        let names_route53 = self.cut.source_ns_switched_at.is_some()
            || (!self.cut.source_apex_ns.is_empty() && self.cut.source_apex_ns == *route53);
        if !names_route53 || previous.is_empty() || old_provider_ns::waived(self.spec, &self.origin)
        {
            return;
        }
        match self.spec.old_provider_nameservers {
            OldProviderNameservers::Update => {
                self.actions.push(Action::UpdateSourceNameservers(previous));
            }
            OldProviderNameservers::Manual => self.event(
                true,
                Reason::OldProviderNsUnchanged,
                format!(
                    "Set the apex NS records at the old provider back to {}: they name Route 53's nameservers.",
                    previous.join(", ")
                ),
            ),
        }
    }

    pub(super) fn rolling_back(&mut self) {
        if self.spec.old_provider_nameservers == OldProviderNameservers::Update
            && self.cut.source_ns_switched_at.is_some()
        {
            self.restore_old_provider_ns();
        }
        let previous = self.cut.previous_nameservers.clone();
        if self.parent_serves(&previous) {
            self.s.phase = Some(Phase::RolledBack);
            let at = time::start(self.now);
            self.cut.rolled_back_at = Some(at.to_string());
            // Resolvers may hold the Route 53 delegation (the parent's TTL) and Route 53's own
            // NS set (its TTL) after the rollback: Route 53 keeps serving until both expire.
            let parent = self.cut.parent_ns_ttl_max.unwrap_or(0).max(0) as u64;
            let route53 = self
                .obs
                .route53_ns_ttl
                .unwrap_or(self.lowered)
                .max(self.lowered);
            let until = plus(at, parent + u64::from(route53));
            self.cut.route53_releasable_at = Some(until.to_string());
            let msg = format!(
                "The parent serves the previous nameservers again ({}). Keep the Route 53 zone serving until {until}: resolvers may hold its delegation until then.",
                previous.join(", ")
            );
            self.set(ConditionType::Delegated, false, Reason::RolledBack, &msg);
            self.event(
                false,
                Reason::RolledBack,
                "The delegation is back on the previous nameservers.".into(),
            );
        } else {
            let msg = format!(
                "Waiting for the parent to serve the previous nameservers again: {}.",
                previous.join(", ")
            );
            self.set(ConditionType::Delegated, false, Reason::RollingBack, &msg);
            self.poll_soon(self.probes.poll);
        }
    }

    pub(super) fn rolled_back(&mut self) {
        // While the old provider's servers name Route 53's nameservers, resolvers that refresh
        // the NS set there are sent to Route 53: it keeps serving until they stop, plus its TTL.
        if self.cut.source_ns_switched_at.is_some() {
            self.restore_old_provider_ns();
            let until = plus(time::start(self.now), u64::from(self.lowered));
            if ts(&self.cut.route53_releasable_at).is_none_or(|r| r < until) {
                self.cut.route53_releasable_at = Some(until.to_string());
            }
            self.poll_soon(self.probes.poll);
        }
        if self.spec.rollback {
            return;
        }
        // Asked to go forward again: the gate applies from the start.
        self.s.phase = Some(Phase::AwaitingCutover);
        self.cut = CutoverStatus {
            previous_nameservers: self.cut.previous_nameservers.clone(),
            source_ns_ttl_before: self.cut.source_ns_ttl_before,
            parent_ns_ttl_before: self.cut.parent_ns_ttl_before,
            ..Default::default()
        };
        self.soon(self.now);
    }
}
