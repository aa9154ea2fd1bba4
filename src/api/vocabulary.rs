//! The words zoneshift's status and events speak: condition types, reasons and phases, each
//! spelled once here. Argo CD's health check, the runbook and the packaging tests are checked
//! against this file (`zoneshift vocabulary`, `tests/vocabulary.rs`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The phases of a migration, in order.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    #[default]
    Pending,
    Provisioning,
    Syncing,
    Verifying,
    AwaitingCutover,
    CuttingOver,
    Propagating,
    Completed,
    RollingBack,
    RolledBack,
}

impl Phase {
    pub const ALL: [Phase; 10] = [
        Phase::Pending,
        Phase::Provisioning,
        Phase::Syncing,
        Phase::Verifying,
        Phase::AwaitingCutover,
        Phase::CuttingOver,
        Phase::Propagating,
        Phase::Completed,
        Phase::RollingBack,
        Phase::RolledBack,
    ];

    /// From the registrar request on, Route 53 is what users are sent to.
    pub fn switch_requested(self) -> bool {
        matches!(
            self,
            Phase::CuttingOver
                | Phase::Propagating
                | Phase::Completed
                | Phase::RollingBack
                | Phase::RolledBack
        )
    }

    /// Before the gate: the phases the sync pass owns.
    pub fn before_gate(self) -> bool {
        matches!(
            self,
            Phase::Pending | Phase::Provisioning | Phase::Syncing | Phase::Verifying
        )
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// The condition types of `status.conditions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionType {
    ZoneReady,
    RecordsSynced,
    ShadowVerified,
    CutoverReady,
    Delegated,
    Propagated,
    SourceHealthy,
    /// The summary: `kubectl wait --for=condition=Ready`.
    Ready,
    /// kstatus: a person must act (the reason says what).
    Stalled,
    /// kstatus: zoneshift is working on it by itself.
    Reconciling,
}

impl ConditionType {
    pub const ALL: [ConditionType; 10] = [
        ConditionType::ZoneReady,
        ConditionType::RecordsSynced,
        ConditionType::ShadowVerified,
        ConditionType::CutoverReady,
        ConditionType::Delegated,
        ConditionType::Propagated,
        ConditionType::SourceHealthy,
        ConditionType::Ready,
        ConditionType::Stalled,
        ConditionType::Reconciling,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::ZoneReady => "ZoneReady",
            ConditionType::RecordsSynced => "RecordsSynced",
            ConditionType::ShadowVerified => "ShadowVerified",
            ConditionType::CutoverReady => "CutoverReady",
            ConditionType::Delegated => "Delegated",
            ConditionType::Propagated => "Propagated",
            ConditionType::SourceHealthy => "SourceHealthy",
            ConditionType::Ready => "Ready",
            ConditionType::Stalled => "Stalled",
            ConditionType::Reconciling => "Reconciling",
        }
    }
}

impl std::fmt::Display for ConditionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a GitOps tool should show for a resource whose `Ready` carries a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Health {
    Healthy,
    /// zoneshift goes on by itself, or waits for time or for something outside.
    Progressing,
    /// Waiting for a person's yes, on purpose.
    Suspended,
    /// An error, or a person must act.
    Degraded,
    /// Not a condition reason: the reason of an event only.
    EventOnly,
}

macro_rules! reasons {
    ($( $(#[doc = $doc:literal])+ $name:ident: $health:ident, stalled = $stalled:literal; )+) => {
        /// Every reason zoneshift writes into a condition or an event.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $( $(#[doc = $doc])+ $name, )+
        }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$name),+];

            /// The CamelCase word a person searches for.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$name => stringify!($name)),+ }
            }

            /// How Argo CD shows a resource whose `Ready` carries this reason.
            pub fn health(self) -> Health {
                match self { $(Reason::$name => Health::$health),+ }
            }

            /// Whether a person must act before anything goes on (kstatus `Stalled`).
            pub fn stalled(self) -> bool {
                match self { $(Reason::$name => $stalled),+ }
            }

            /// One sentence on what the reason means, for the docs.
            pub fn describe(self) -> &'static str {
                match self { $(Reason::$name => concat!($($doc),+).trim_ascii()),+ }
            }
        }
    };
}

reasons! {
    // --- the summary and kstatus -------------------------------------------------------------
    /// A condition has not been evaluated yet.
    Reconciling: Progressing, stalled = false;
    /// Every needed condition holds and the phase goes on.
    Progressing: Progressing, stalled = false;
    /// kstatus Stalled is False: nothing needs a person.
    NotStalled: Healthy, stalled = false;
    /// kstatus Reconciling is False: nothing is in progress.
    Idle: Healthy, stalled = false;
    // --- ZoneReady ------------------------------------------------------------------------
    /// The hosted zone exists and has its nameservers.
    ZoneAvailable: Healthy, stalled = false;
    /// spec.hostedZone.id is missing, or names a zone of another domain.
    ZoneConflict: Degraded, stalled = true;
    /// The resource has no uid yet (a caller reference cannot be made).
    NoUid: Degraded, stalled = false;
    /// spec.aws.roleArn is not among the operator's --allowed-role-arns.
    RoleNotAllowed: Degraded, stalled = true;
    /// STS refused to let the operator assume spec.aws.roleArn.
    AssumeRoleFailed: Degraded, stalled = true;
    /// Route 53 answered with an error; zoneshift retries with backoff.
    Route53Error: Degraded, stalled = false;
    // --- RecordsSynced ----------------------------------------------------------------------
    /// Every desired record set is in Route 53 and applied on its nameservers.
    InSync: Healthy, stalled = false;
    /// Route 53 is applying a change.
    ChangePending: Progressing, stalled = false;
    /// Records are synced once the hosted zone is ready.
    ZoneNotReady: Progressing, stalled = false;
    /// A record Route 53 would refuse; nothing is written until it is fixed.
    InvalidRecord: Degraded, stalled = true;
    /// spec.source.zoneFile does not parse.
    InvalidZoneFile: Degraded, stalled = true;
    /// The zone file's ConfigMap or the TSIG Secret is missing.
    SourceNotFound: Degraded, stalled = true;
    /// spec.source.nameservers is empty where servers are needed.
    NoSourceNameservers: Degraded, stalled = true;
    /// No source nameserver gave the zone by AXFR.
    TransferFailed: Degraded, stalled = true;
    /// A server named in spec.source.nameservers is outside the operator's
    /// --allowed-source-networks: it is not asked.
    SourceNotAllowed: Degraded, stalled = true;
    /// The sync would delete more than spec.policy.maxDeletePercent; nothing was changed.
    DeleteThresholdExceeded: Degraded, stalled = true;
    /// Route 53 refused a change batch.
    ChangeRejected: Degraded, stalled = true;
    /// Route 53's answer could not be what it said (a record set without values): nothing is
    /// changed until it reads right.
    ImpossibleAnswer: Degraded, stalled = true;
    // --- ShadowVerified -----------------------------------------------------------------------
    /// Every name and type answers the same at the source and in Route 53.
    Verified: Healthy, stalled = false;
    /// Waits for the records to be in sync.
    AwaitingSync: Progressing, stalled = false;
    /// The old provider and Route 53 answer differently.
    Mismatch: Degraded, stalled = true;
    /// The old provider (or the API server) did not answer.
    SourceUnreachable: Degraded, stalled = false;
    // --- CutoverReady (the gate) ----------------------------------------------------------------
    /// Every check of the gate passes and the cutover is approved.
    GateOpen: Healthy, stalled = false;
    /// Waits for the shadow zone to be verified.
    AwaitingVerification: Progressing, stalled = false;
    /// The Route 53 nameservers do not answer for the zone yet.
    Route53NotAnswering: Progressing, stalled = false;
    /// zoneshift is setting the Route 53 zone's NS TTL.
    LoweringRoute53Ttl: Progressing, stalled = false;
    /// A person must lower the NS TTL at the old provider.
    LoweringTtl: Progressing, stalled = true;
    /// The old provider's NS TTL cannot be read.
    SourceNsTtlUnknown: Degraded, stalled = false;
    /// The old NS TTL has not expired since it was lowered.
    WaitingForTtlExpiry: Progressing, stalled = false;
    /// The parent zone cannot be asked.
    ParentUnreachable: Degraded, stalled = false;
    /// The parent publishes DS records: remove them at the registrar first.
    DSPresent: Degraded, stalled = true;
    /// A DS record removed from the parent may still be cached by validating resolvers.
    WaitingForDsExpiry: Progressing, stalled = false;
    /// The parent's servers do not all answer, or answer different NS sets.
    ParentServersDisagree: Progressing, stalled = false;
    /// Record sets zoneshift cannot prove wait for spec.cutover.acknowledge.
    Unacknowledged: Suspended, stalled = false;
    /// spec.cutover.rollback holds the gate shut.
    RollbackRequested: Progressing, stalled = false;
    /// Set spec.cutover.approved to true.
    AwaitingApproval: Suspended, stalled = false;
    /// The registrar was switched before the gate opened.
    SwitchedBeforeGate: Degraded, stalled = false;
    /// The registrar was switched before approval.
    SwitchedBeforeApproval: Degraded, stalled = false;
    // --- Delegated --------------------------------------------------------------------------
    /// The parent still serves the old provider's nameservers; the gate is not open.
    NotSwitched: Progressing, stalled = false;
    /// The parent does not serve the Route 53 nameservers yet.
    AwaitingRegistrar: Progressing, stalled = false;
    /// Route 53 Domains did not change the nameservers.
    RegistrarError: Degraded, stalled = true;
    /// The parent serves a mix of nameservers.
    PartialDelegation: Degraded, stalled = true;
    /// The parent serves the Route 53 nameservers.
    Switched: Healthy, stalled = false;
    /// The parent left the Route 53 nameservers without a rollback.
    DelegationChanged: Degraded, stalled = true;
    /// Waiting for the parent to serve the previous nameservers again.
    RollingBack: Progressing, stalled = false;
    /// Back on the old provider; decide what next.
    RolledBack: Degraded, stalled = true;
    // --- Propagated and SourceHealthy ---------------------------------------------------------
    /// Caches of the old delegation may live on: keep the old provider serving.
    Soaking: Progressing, stalled = false;
    /// The old provider's own apex NS records still name its servers: set them to Route 53's.
    OldProviderNsUnchanged: Progressing, stalled = true;
    /// zoneshift is updating the old provider's apex NS records to Route 53's.
    UpdatingOldProviderNs: Progressing, stalled = false;
    /// The old provider refused zoneshift's update of its apex NS records.
    OldProviderNsUpdateFailed: Degraded, stalled = true;
    /// Deletion is refused: the domain is delegated to this zone; a person moves it or keeps
    /// the zone.
    DeletionBlocked: Degraded, stalled = true;
    /// Deletion waits by itself: resolvers may still hold the delegation to this zone, or the
    /// parent zone could not be read.
    DeletionWaiting: Progressing, stalled = false;
    /// Deletion stops short of the zone: it holds record sets zoneshift did not write.
    ZoneNotEmpty: Degraded, stalled = true;
    /// Every cached copy of the old delegation has expired.
    Released: Healthy, stalled = false;
    /// The old provider still answers as Route 53 does.
    Answering: Healthy, stalled = false;
    /// The old provider stopped answering as Route 53 does during the soak.
    SourceUnhealthy: Degraded, stalled = true;
    /// The migration is complete.
    Completed: Healthy, stalled = false;
    // --- events only ----------------------------------------------------------------------------
    /// A hosted zone was created.
    ZoneCreated: EventOnly, stalled = false;
    /// A change batch was submitted to Route 53.
    ChangesApplied: EventOnly, stalled = false;
    /// A sync wrote again what the previous sync wrote, the desired records unchanged.
    WritesEveryResync: EventOnly, stalled = false;
    /// The shadow zone differs from the source (the first differences).
    ShadowMismatch: EventOnly, stalled = false;
    /// The Route 53 zone's NS TTL was changed.
    NameserverTtlSet: EventOnly, stalled = false;
    /// Route 53 Domains accepted the nameserver change.
    RegistrarUpdated: EventOnly, stalled = false;
    /// The old provider accepted zoneshift's update of its apex NS records.
    OldProviderNsUpdated: EventOnly, stalled = false;
    /// The gate is open: a person sets the nameservers at the registrar.
    SwitchNameservers: EventOnly, stalled = false;
    /// deletionPolicy Retain, or an adopted zone, left the zone in place.
    ZoneRetained: EventOnly, stalled = false;
    /// Managed record sets were deleted on the way out.
    RecordsDeleted: EventOnly, stalled = false;
    /// The hosted zone was deleted.
    ZoneDeleted: EventOnly, stalled = false;
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Reason {
    /// The reason spelled `s`, if zoneshift writes it.
    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

/// What an event is about (`action` of a Kubernetes Event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAction {
    Sync,
    Validate,
    CreateZone,
    ApplyChanges,
    Verify,
    Cutover,
    Cleanup,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Sync => "Sync",
            EventAction::Validate => "Validate",
            EventAction::CreateZone => "CreateZone",
            EventAction::ApplyChanges => "ApplyChanges",
            EventAction::Verify => "Verify",
            EventAction::Cutover => "Cutover",
            EventAction::Cleanup => "Cleanup",
        }
    }
}

/// The vocabulary as JSON, for the checks of health.lua, the runbook and the packaging tests.
pub fn as_json() -> serde_json::Value {
    let reasons: Vec<serde_json::Value> = Reason::ALL
        .iter()
        .map(|r| {
            serde_json::json!({
                "reason": r.as_str(),
                "health": r.health(),
                "stalled": r.stalled(),
                "describe": r.describe(),
            })
        })
        .collect();
    serde_json::json!({
        "phases": Phase::ALL.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "conditions": ConditionType::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        "reasons": reasons,
    })
}

/// The three tables of Argo CD's health check (deploy/argocd/health.lua), generated from the
/// reasons' health so that a reason added here cannot be missed there.
pub fn health_lua_tables() -> String {
    let mut out = String::from(GENERATED_BEGIN);
    out.push('\n');
    let tables = [
        (
            "PROGRESSING_REASONS",
            Health::Progressing,
            "-- zoneshift goes on by itself, or waits for something that comes with time or from outside.",
        ),
        ("DEGRADED_REASONS", Health::Degraded, "-- Reasons that need a person, or report an error."),
        ("SUSPENDED_REASONS", Health::Suspended, "-- Waiting for a person, on purpose."),
    ];
    for (name, health, comment) in tables {
        out.push_str(&format!("{comment}\nlocal {name} = {{\n"));
        for r in Reason::ALL.iter().filter(|r| r.health() == health) {
            let entry = format!("  {} = true,", r.as_str());
            out.push_str(&format!("{entry:<34}-- {}\n", r.describe()));
        }
        out.push_str("}\n\n");
    }
    out.push_str(GENERATED_END);
    out.push('\n');
    out
}

/// The markers around the generated part of health.lua.
pub const GENERATED_BEGIN: &str =
    "-- BEGIN generated by `make vocabulary` from src/api/vocabulary.rs: do not edit";
pub const GENERATED_END: &str = "-- END generated";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_spelled_once_and_parses_back() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.as_str()), "{r} twice");
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
            assert!(!r.describe().is_empty());
        }
    }
}
