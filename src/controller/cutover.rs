//! The cutover in the shell: observe the delegation, the TTLs and the registrar through the
//! ports, call the planner's `decide`, perform its actions. Also the cheap DNS-only passes
//! that watch the gate and the delegation between full passes.

use super::apply::until;
use super::events::{self, Action as EventAction};
use super::{status, Aws, Context};
use crate::api::{ConditionType, HostedZoneMigration, HostedZoneMigrationStatus, Phase, Reason};
use crate::plan::cutover::{self, OperationState};
use crate::plan::{self, SourceObservation, Verification};
use crate::ports::Registrar;
use crate::route53::Route53Error;
use crate::zone::{self, RecordMap};
use crate::Result;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use std::time::Duration;

const NO_SERVERS: &str =
    "spec.source.nameservers is empty and no import found the parent's delegation";

/// How long until the next full pass (import, sync, verification) is due, when this pass need
/// not be one: a migration that is synced and verified waits at the gate or in the switch
/// with cheap DNS observations, and reads the old provider and lists Route 53 only every
/// `--import-interval` (every `--source-probe-interval` during the soak).
pub(super) fn cutover_only(obj: &HostedZoneMigration, ctx: &Context) -> Option<Duration> {
    let s = obj.status.as_ref()?;
    obj.spec.source.as_ref()?;
    if s.observed_generation != obj.metadata.generation || s.hosted_zone_id.is_none() {
        return None;
    }
    let phase = s.phase.unwrap_or_default();
    // Approved for Route 53 Domains: every pass is a full one, so the switch is asked for on a
    // verification of that same pass.
    let cutover = &obj.spec.cutover;
    if phase == Phase::AwaitingCutover
        && cutover.approved
        && cutover.mode == crate::api::CutoverMode::Route53Domains
    {
        return None;
    }
    // During the soak nothing is imported: the looks in between ask only the old servers'
    // SOA, and a change there brings the full pass forward (`source::soak_changed`).
    let interval = match phase {
        Phase::AwaitingCutover | Phase::CuttingOver => ctx.timing.import_interval,
        Phase::Propagating => ctx.timing.full_compare,
        _ => return None,
    };
    // Still converging: a change to apply or wait for, or a verification to run after it.
    let unverified = phase != Phase::Propagating && !s.is_true(ConditionType::ShadowVerified);
    if !s.is_true(ConditionType::RecordsSynced)
        || unverified
        || s.last_change.as_ref().is_some_and(|c| c.state != "INSYNC")
    {
        return None;
    }
    let last_full = [
        s.verification
            .as_ref()
            .and_then(|v| v.checked_at.as_deref()),
        s.source.as_ref().and_then(|v| v.imported_at.as_deref()),
    ]
    .into_iter()
    .flatten()
    .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
    .max()?;
    let due = last_full
        .checked_add(jiff::SignedDuration::try_from(interval).ok()?)
        .ok()?;
    let now = ctx.clock.now();
    (due > now).then(|| until(now, due))
}

/// A pass that only observes the delegation and the TTLs and decides the cutover.
pub(super) async fn cutover_pass(
    obj: &HostedZoneMigration,
    api: &Api<HostedZoneMigration>,
    ctx: &Context,
    aws: &Aws,
    full_pass_in: Duration,
) -> Result<Action> {
    let now = ctx.clock.now();
    let prev = obj.status.clone().unwrap_or_default();
    let mut status = prev.clone();
    let mut next = full_pass_in;
    if let Some(zone_id) = status.hosted_zone_id.clone() {
        let src = SourceObservation {
            import: None,
            verification: Verification::Skipped,
        };
        let step = Step {
            obj,
            ctx,
            aws,
            zone_id: &zone_id,
            now,
        };
        if let Some(wait) = step.run(&mut status, None, &src).await {
            next = next.min(wait);
        }
    }
    status::write(ctx, api, obj, &prev, &status).await?;
    Ok(Action::requeue(next))
}

/// One cutover step of a pass.
pub(super) struct Step<'a> {
    pub obj: &'a HostedZoneMigration,
    pub ctx: &'a Context,
    pub aws: &'a Aws,
    pub zone_id: &'a str,
    pub now: jiff::Timestamp,
}

impl Step<'_> {
    /// Observes, decides and acts, then summarises `Ready`; how soon something can change.
    pub async fn run(
        &self,
        status: &mut HostedZoneMigrationStatus,
        current: Option<&RecordMap>,
        source: &SourceObservation,
    ) -> Option<Duration> {
        let observation = self.observe(status, current, source).await;
        let generation = self.obj.metadata.generation;
        let d = cutover::decide(
            &self.obj.spec,
            status,
            &observation,
            generation,
            self.now,
            self.ctx.dns.probes,
        );
        *status = d.status;
        for action in d.actions {
            self.act(action, status).await;
        }
        plan::summarize(status, true, generation, self.now);
        d.next_look.map(|at| until(self.now, at))
    }

    /// Everything the cutover decides on in this pass.
    async fn observe(
        &self,
        status: &HostedZoneMigrationStatus,
        current: Option<&RecordMap>,
        source: &SourceObservation,
    ) -> cutover::Observation {
        let origin = zone::normalize_origin(&self.obj.spec.domain).unwrap_or_default();
        let mut route53_nameservers: Vec<String> = status
            .nameservers
            .iter()
            .filter_map(|n| zone::normalize_target(n).ok())
            .collect();
        route53_nameservers.sort();
        let apex_ns = zone::RecordKey::new(origin.clone(), zone::RecordType::Ns, None);
        let route53_ns_ttl = current
            .and_then(|c| c.get(&apex_ns))
            .and_then(|s| s.ttl)
            // A pass that did not list the zone goes by the last TTL observed.
            .or_else(|| {
                let t = status.observed_ttls.as_ref().and_then(|t| t.route53_ns);
                t.and_then(|t| u32::try_from(t).ok())
            });
        let observer = self.ctx.observer();
        let parent = observer
            .parent_delegation(&origin)
            .await
            .map_err(|e| e.to_string());
        let route53_answers = observer
            .answers_for(&route53_nameservers, &origin)
            .await
            .map_err(|e| e.to_string());
        let servers = super::source::servers(self.obj, self.ctx, Some(status)).await;
        let source_ns_ttl = match &servers {
            s if s.is_empty() => Err(NO_SERVERS.to_string()),
            s => (self.ctx.source().apex_ns_ttl(s, &origin).await).map_err(|e| e.to_string()),
        };
        let source_apex_ns = self.source_apex_ns(status, &servers, &origin).await;
        let source_failures = match (&source.verification, status.phase) {
            (Verification::Compared(c), Some(Phase::Propagating)) => Some(
                c.mismatches
                    .iter()
                    .chain(c.unanswered.iter())
                    .cloned()
                    .collect(),
            ),
            _ => None,
        };
        let operation = self.operation(status).await;
        let metrics = &self.ctx.metrics;
        metrics.count_probe("parent_delegation", parent.is_ok());
        metrics.count_probe("route53_nameservers", route53_answers.is_ok());
        metrics.count_probe("source_ns_ttl", source_ns_ttl.is_ok());
        if let Some(r) = &source_apex_ns {
            metrics.count_probe("source_apex_ns", r.is_ok());
        }
        cutover::Observation {
            parent,
            source_ns_ttl,
            route53_ns_ttl,
            route53_nameservers,
            route53_answers,
            records_synced: status.is_true(ConditionType::RecordsSynced),
            shadow_verified: status.is_true(ConditionType::ShadowVerified),
            source_failures,
            operation,
            verified_at: status
                .verification
                .as_ref()
                .and_then(|v| v.checked_at.as_deref())
                .and_then(|t| t.parse().ok()),
            attention: attention(self.obj, source),
            source_apex_ns,
        }
    }

    /// Rule 12: the apex NS set every old server serves, from approval on.
    async fn source_apex_ns(
        &self,
        status: &HostedZoneMigrationStatus,
        servers: &[String],
        origin: &str,
    ) -> Option<Result<Vec<String>, String>> {
        let ask = match status.phase.unwrap_or_default() {
            Phase::AwaitingCutover => self.obj.spec.cutover.approved,
            Phase::CuttingOver | Phase::Propagating | Phase::RollingBack | Phase::RolledBack => {
                true
            }
            _ => false,
        };
        if !ask {
            return None;
        }
        if servers.is_empty() {
            return Some(Err(NO_SERVERS.to_string()));
        }
        let read = self.ctx.source().apex_ns(servers, origin).await;
        Some(read.map_err(|e| e.to_string()))
    }

    /// The registrar operation being followed, while a switch or rollback is awaited.
    async fn operation(&self, status: &HostedZoneMigrationStatus) -> Option<OperationState> {
        let op = status.cutover.as_ref()?.operation_id.clone()?;
        if !matches!(status.phase, Some(Phase::CuttingOver | Phase::RollingBack)) {
            return None;
        }
        let Some(registrar) = &self.aws.registrar else {
            return Some(OperationState::Failed("no Route 53 Domains client".into()));
        };
        Some(match registrar.operation_state(&op).await {
            Ok(s) => s,
            Err(e) => OperationState::Failed(e.to_string()),
        })
    }

    /// Performs what the cutover decided, writing the outcome into the status.
    async fn act(&self, action: cutover::Action, status: &mut HostedZoneMigrationStatus) {
        match action {
            cutover::Action::SetRoute53NsTtl(ttl) => self.set_ns_ttl(ttl, status).await,
            cutover::Action::UpdateRegistrarNameservers(ns) => {
                self.request_nameservers(&ns, status).await
            }
            cutover::Action::UpdateSourceNameservers(ns) => {
                self.update_source_nameservers(&ns, status).await
            }
            cutover::Action::Event {
                warning,
                reason,
                message,
            } => {
                let t = if warning {
                    EventType::Warning
                } else {
                    EventType::Normal
                };
                events::publish(self.ctx, self.obj, t, reason, EventAction::Cutover, message).await;
            }
        }
    }

    /// Rule 12, `oldProviderNameservers: Update`: the old provider's apex NS set by RFC 2136.
    async fn update_source_nameservers(
        &self,
        ns: &[String],
        status: &mut HostedZoneMigrationStatus,
    ) {
        let (ctx, obj) = (self.ctx, self.obj);
        let origin = zone::normalize_origin(&obj.spec.domain).unwrap_or_default();
        let Some(source) = obj.spec.source.as_ref() else {
            return;
        };
        let servers = super::source::servers(obj, ctx, Some(status)).await;
        let namespace = obj.metadata.namespace.clone().unwrap_or_default();
        let ttl = obj
            .spec
            .cutover
            .lowered_nameserver_ttl
            .clamp(0, i64::from(u32::MAX)) as u32;
        let result = ctx
            .source()
            .update_apex_ns(&namespace, &origin, source, &servers, ns, ttl)
            .await;
        let cut = status.cutover.get_or_insert_with(Default::default);
        match result {
            Ok(server) => {
                cut.source_ns_updated_at = Some(crate::plan::time::stamp(self.now));
                cut.source_ns_update_error = None;
                let note = format!(
                    "{server} accepted the update of the old provider's apex NS records to: {}",
                    ns.join(", ")
                );
                events::normal(
                    ctx,
                    obj,
                    Reason::OldProviderNsUpdated,
                    EventAction::Cutover,
                    note,
                )
                .await
            }
            Err(e) => {
                let first = cut.source_ns_update_error.is_none();
                cut.source_ns_update_error = Some(e.to_string());
                if first {
                    let note =
                        format!("The old provider refused the update of its apex NS records: {e}");
                    let r = Reason::OldProviderNsUpdateFailed;
                    events::warn(ctx, obj, r, EventAction::Cutover, note).await
                }
            }
        }
    }

    async fn set_ns_ttl(&self, ttl: u32, status: &mut HostedZoneMigrationStatus) {
        let origin = zone::normalize_origin(&self.obj.spec.domain).unwrap_or_default();
        let set = self
            .aws
            .route53
            .set_apex_ns_ttl(self.zone_id, &origin, ttl)
            .await;
        if set.is_ok() {
            // Known now without listing the zone again.
            status
                .observed_ttls
                .get_or_insert_with(Default::default)
                .route53_ns = Some(i64::from(ttl));
        }
        let (ctx, obj) = (self.ctx, self.obj);
        match set {
            Ok(true) => {
                let note = format!("The Route 53 zone's NS TTL is now {ttl} s.");
                events::normal(
                    ctx,
                    obj,
                    Reason::NameserverTtlSet,
                    EventAction::Cutover,
                    note,
                )
                .await
            }
            Ok(false) => {}
            Err(e) => {
                let note = format!("Setting the NS TTL to {ttl} s failed: {e}");
                events::warn(ctx, obj, Reason::Route53Error, EventAction::Cutover, note).await
            }
        }
    }

    async fn request_nameservers(&self, ns: &[String], status: &mut HostedZoneMigrationStatus) {
        let (ctx, obj) = (self.ctx, self.obj);
        let result = match &self.aws.registrar {
            Some(r) => request(r.as_ref(), &obj.spec.domain, ns).await,
            None => Err(Route53Error::NotConfigured(
                "no Route 53 Domains client is configured".into(),
            )),
        };
        let cut = status.cutover.get_or_insert_with(Default::default);
        let note = match result {
            Ok(Requested::Operation(op)) => {
                cut.operation_id = Some(op.clone());
                format!(
                    "Route 53 Domains was asked to set the nameservers to {} (operation {op}).",
                    ns.join(", ")
                )
            }
            Ok(Requested::AlreadyHeld) => {
                cut.registrar_held_at = Some(crate::plan::time::stamp(self.now));
                format!("Route 53 Domains already holds the nameservers {} (an earlier request's answer was lost).", ns.join(", "))
            }
            Err(e) => {
                let msg = format!(
                    "Route 53 Domains did not accept the nameservers {}: {e}",
                    ns.join(", ")
                );
                let (g, now) = (obj.metadata.generation, self.now);
                let (t, r) = (ConditionType::Delegated, Reason::RegistrarError);
                plan::set_condition(&mut status.conditions, t, false, r, &msg, g, now);
                return events::warn(ctx, obj, r, EventAction::Cutover, msg).await;
            }
        };
        events::normal(
            ctx,
            obj,
            Reason::RegistrarUpdated,
            EventAction::Cutover,
            note,
        )
        .await;
    }
}

/// What needs a person's acknowledgement, when this pass compared the shadow zone (and
/// imported, when the source is imported from): `None` keeps what the status says.
fn attention(
    obj: &HostedZoneMigration,
    source: &SourceObservation,
) -> Option<Vec<cutover::Attention>> {
    let Verification::Compared(c) = &source.verification else {
        return None;
    };
    let imports = obj.spec.source.as_ref().is_some_and(|s| s.imports());
    let mut list = match (&source.import, imports) {
        (Some(i), _) => i.attention.clone(),
        (None, true) => return None,
        (None, false) => Vec::new(),
    };
    list.extend(
        c.not_comparable_sets
            .iter()
            .map(|(name, t)| cutover::Attention {
                name: name.clone(),
                rtype: t.to_string(),
                why: "an alias or routing-policy set: one DNS answer cannot prove it".into(),
            }),
    );
    list.sort();
    list.dedup();
    Some(list)
}

/// What asking the registrar gave.
enum Requested {
    /// A new operation, to follow.
    Operation(String),
    /// A request whose answer was lost (say in a restart before the status was written) is
    /// still known and the registrar already holds these nameservers: done, id unknown.
    AlreadyHeld,
}

async fn request(
    registrar: &dyn Registrar,
    domain: &str,
    nameservers: &[String],
) -> std::result::Result<Requested, Route53Error> {
    match registrar.update_nameservers(domain, nameservers).await {
        Ok(op) => Ok(Requested::Operation(op)),
        Err(e) if e.code() == Some("DuplicateRequest") => {
            let norm = |v: &[String]| {
                let mut v: Vec<String> = v
                    .iter()
                    .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
                    .collect();
                v.sort();
                v
            };
            let held = registrar.nameservers(domain).await?;
            if norm(&held) == norm(nameservers) {
                return Ok(Requested::AlreadyHeld);
            }
            Err(Route53Error::ZoneConflict(format!(
                "Route 53 Domains has a request for {domain} in progress and holds {}",
                held.join(", ")
            )))
        }
        Err(e) => Err(e),
    }
}
