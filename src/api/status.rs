//! What zoneshift reports about a migration: `status`, its conditions and the cutover timeline.

use super::{ConditionType, Phase, Reason};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What zoneshift observed and did.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostedZoneMigrationStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Where the migration stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// The Route 53 hosted zone id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,

    /// The Route 53 delegation set: the nameservers to give the registrar.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,

    /// Record set counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<RecordCounts>,

    /// The last Route 53 change zoneshift submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<ChangeInfo>,

    /// The last time Route 53 was listed and found to hold the desired records. Until
    /// `--full-compare-interval` has passed, a resync of the same desired records trusts it and
    /// makes no Route 53 call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_comparison: Option<FullComparison>,

    /// What was imported from the source, and what could not be carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceStatus>,

    /// The result of comparing the shadow zone with the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationStatus>,

    /// TTLs observed in DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_ttls: Option<ObservedTtls>,

    /// The domain's delegation as its parent zone serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<DelegationStatus>,

    /// The cutover timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutover: Option<CutoverStatus>,

    /// Standard conditions: `ZoneReady`, `RecordsSynced`, `ShadowVerified`, `CutoverReady`,
    /// `Delegated`, `Propagated`, `SourceHealthy`, and `Ready` as their summary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Record set counts.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordCounts {
    /// Record sets zoneshift wants in the zone.
    pub desired: i64,
    /// Desired record sets that Route 53 holds as desired.
    pub in_sync: i64,
    /// Changes still to make or waiting for Route 53 to apply.
    pub pending: i64,
}

/// A listing of the zone that found it equal to the desired records.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FullComparison {
    /// When the zone was listed (RFC 3339).
    pub at: String,
    /// A digest of what it was compared with: the desired records, the sync mode and the
    /// resource's generation. Another digest means another comparison is due.
    pub desired_digest: String,
}

/// A Route 53 change.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeInfo {
    /// The change id.
    pub id: String,
    /// `PENDING` or `INSYNC`.
    pub state: String,
    /// When the change was submitted (RFC 3339).
    pub submitted_at: String,
    /// When zoneshift first saw it `INSYNC` (RFC 3339); timers start here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_sync_at: Option<String>,
}

/// The last import from the source.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// Where the records came from, e.g. `AXFR from 192.0.2.53:53`.
    pub imported_from: String,
    /// The source zone's SOA serial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<i64>,
    /// Record sets imported (before `records` overrides).
    pub imported: i64,
    /// Records of the source that are not copied to Route 53, each with the reason (the first
    /// 50).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// How many records are not copied.
    #[serde(default)]
    pub skipped_count: i64,
    /// When the import ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_at: Option<String>,
    /// The old provider's nameservers this migration asks (verification, the NS TTL, the
    /// probes after the switch): `spec.source.nameservers`, or, when that is empty, the
    /// addresses of the servers the parent zone delegated to at the last import.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
}

/// Shadow verification results.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationStatus {
    /// Names and types compared.
    pub checked: i64,
    /// Names and types that answered the same.
    pub matched: i64,
    /// Names and types whose TTL differs (reported, not blocking).
    #[serde(default)]
    pub ttl_differences: i64,
    /// Desired record sets one DNS answer cannot prove (alias records, routing policies).
    #[serde(default)]
    pub not_comparable: i64,
    /// The first mismatches, as sentences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatches: Vec<String>,
    /// When the comparison ran (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
}

/// TTLs observed in DNS.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTtls {
    /// The TTL of the domain's NS records at the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_ns: Option<i64>,
    /// The TTL of the apex NS records at the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ns: Option<i64>,
    /// The TTL of the Route 53 zone's apex NS records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route53_ns: Option<i64>,
    /// The largest record TTL in the desired set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_record: Option<i64>,
    /// When these were observed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
}

/// The domain's delegation at its parent zone.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DelegationStatus {
    /// The NS set the parent serves for the domain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_nameservers: Vec<String>,
    /// DS records at the parent (a signed delegation); written even when empty, so that a
    /// removed DS is seen removed whatever patch semantics carry the status.
    #[serde(default)]
    pub ds: Vec<String>,
    /// When the parent was asked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// Why the parent could not be asked, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The TTL of the DS records last seen at the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_ttl: Option<i64>,
    /// How many of the parent's server addresses (IPv4 and IPv6) were asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers_asked: Option<i64>,
    /// The parent's servers that did not answer, or answered another NS set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disagreement: Option<String>,
}

/// The cutover timeline (RFC 3339 times) and what the gate and the soak are computed from.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CutoverStatus {
    /// When the time conditions of the gate are met (the old NS TTL has expired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_opens_at: Option<String>,
    /// Every check of the gate in order, with its state as last evaluated: everything left
    /// before the switch, not only the first thing that holds it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gate: Vec<GateCheckStatus>,
    /// When the source's NS TTL was first seen at or below `loweredNameserverTtl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ns_lowered_since: Option<String>,
    /// The largest source NS TTL seen before it was lowered (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ns_ttl_before: Option<i64>,
    /// The largest parent NS TTL seen before the switch (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_ns_ttl_before: Option<i64>,
    /// The largest parent NS TTL seen at any time (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_ns_ttl_max: Option<i64>,
    /// The highest NS TTL (seconds) the old provider may have handed out, which the gate and
    /// the soak wait out, and where it comes from (`oldNsTtlBasis`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_ns_ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_ns_ttl_basis: Option<String>,
    /// Until when a DS record seen at the parent may still be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds_cached_until: Option<String>,
    /// What the gate waits for a person to acknowledge (`spec.cutover.acknowledge`), as
    /// `name TYPE: why`; at most 50, `unacknowledgedCount` counts them all.
    #[serde(default)]
    pub unacknowledged: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unacknowledged_count: Option<i64>,
    /// When the registrar was asked for the Route 53 nameservers (or a person was told to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<String>,
    /// The Route 53 Domains operation, in `Route53Domains` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// When Route 53 Domains was found already holding the requested nameservers although
    /// the answer to the request (its operation id) was lost: the request is done, its id
    /// unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrar_held_at: Option<String>,
    /// When the parent was first seen serving the Route 53 nameservers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switched_at: Option<String>,
    /// The delegation before the switch: the rollback target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_nameservers: Vec<String>,
    /// The apex NS set the old provider's servers serve, as last read from every one of them
    /// (empty when they could not all be read or disagree: `sourceApexNsError` says why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_apex_ns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_apex_ns_error: Option<String>,
    /// When every server of the old provider was first seen serving Route 53's nameservers as
    /// the zone's apex NS set: resolvers that refresh the NS set there get Route 53's from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ns_switched_at: Option<String>,
    /// `oldProviderNameservers: Update`: when the old provider last accepted zoneshift's
    /// update of its apex NS set, and the last refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ns_updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ns_update_error: Option<String>,
    /// Until when the old provider must keep answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_provider_releasable_at: Option<String>,
    /// When the migration completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// When a rollback was seen completed at the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_at: Option<String>,
    /// After a rollback: until when Route 53 must keep serving (resolvers may hold its
    /// delegation and NS set until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route53_releasable_at: Option<String>,
    /// When the old provider was first seen answering differently from Route 53 during the
    /// soak: users sent there may have been failed. Kept after completion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_failed_at: Option<String>,
}

/// One named check of the cutover gate.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GateCheckStatus {
    /// The check, e.g. `SourceNsTtlExpired`.
    pub name: String,
    /// `Pass`, `Wait` (time or something outside will open it) or `Block` (a person or a
    /// fix is needed).
    pub state: String,
    /// The reason it does not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What it waits for, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When a waiting check passes by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A standard Kubernetes condition.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The condition's type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase word a person can search for.
    pub reason: String,
    /// What happened and what to do next.
    pub message: String,
    /// The generation this condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When `status` last changed (RFC 3339).
    pub last_transition_time: String,
}

impl HostedZoneMigrationStatus {
    /// The condition of type `t`, if written.
    pub fn condition(&self, t: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == t.as_str())
    }

    /// Whether the condition of type `t` is `True`.
    pub fn is_true(&self, t: ConditionType) -> bool {
        self.condition(t).is_some_and(|c| c.status == "True")
    }

    /// Whether the condition of type `t` carries `reason`.
    pub fn has_reason(&self, t: ConditionType, reason: Reason) -> bool {
        self.condition(t)
            .is_some_and(|c| c.reason == reason.as_str())
    }
}
