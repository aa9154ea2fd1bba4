//! The `HostedZoneMigration` resource (`zoneshift.io/v1alpha1`): spec, status and conditions.
//!
//! Fields a user can get wrong in ways the schema cannot express (a record's type, its TTL,
//! its values) are typed loosely here on purpose: a bad value must reach zoneshift's own
//! validation, which names the record, instead of failing deserialisation of every resource
//! the controller watches.

// clippy reads the repeated `type_ = ...` of several `printcolumn(...)` as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod status;
pub mod vocabulary;

pub use status::*;
pub use vocabulary::{ConditionType, EventAction, Health, Phase, Reason};

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The record types Route 53 serves, as accepted in `records[].type`.
pub const RECORD_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV", "SSHFP",
    "SVCB", "TLSA", "TXT",
];

/// A migration of one live domain to a Route 53 hosted zone.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "zoneshift.io",
    version = "v1alpha1",
    kind = "HostedZoneMigration",
    namespaced,
    shortname = "hzm",
    derive = "Default",
    derive = "PartialEq",
    status = "HostedZoneMigrationStatus",
    doc = "Moves a live domain to an Amazon Route 53 hosted zone: clones its records, verifies the shadow zone, gates the nameserver switch on TTLs and approval, and reports when the old provider may go.",
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.domain"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "In Sync",
        type_ = "integer",
        json_path = ".status.records.inSync"
    ),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.records.desired"
    ),
    printcolumn(
        name = "Gate Opens",
        type_ = "date",
        json_path = ".status.cutover.gateOpensAt"
    ),
    printcolumn(
        name = "Nameservers",
        type_ = "string",
        json_path = ".status.nameservers",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct HostedZoneMigrationSpec {
    /// The domain to move, without a trailing dot, e.g. `example.com` (a TLD and an RFC 2317
    /// classless name such as `0/25.2.0.192.in-addr.arpa` are domains too). Immutable.
    #[schemars(regex(
        pattern = r"^([a-zA-Z0-9_/]([a-zA-Z0-9_/-]{0,61}[a-zA-Z0-9_/])?\.)*[a-zA-Z0-9-]{2,63}\.?$"
    ))]
    #[schemars(length(min = 2, max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("domain is immutable: create a new HostedZoneMigration to move another domain"))]
    pub domain: String,

    /// The Route 53 hosted zone to create or adopt.
    #[serde(default)]
    pub hosted_zone: HostedZoneSpec,

    /// Where the live configuration is read from (the current DNS provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceSpec>,

    /// Desired records. They override imported records with the same name, type and set
    /// identifier.
    #[serde(default)]
    pub records: Vec<RecordSpec>,

    /// How the zone's records are reconciled.
    #[serde(default)]
    pub policy: PolicySpec,

    /// The nameserver switch and its timing.
    #[serde(default)]
    pub cutover: CutoverSpec,

    /// AWS access for this migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsSpec>,
}

/// AWS access for one migration.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsSpec {
    /// An IAM role to assume (through STS) for this migration's Route 53 calls, e.g. for a
    /// zone in another account. The operator assumes only roles its `--allowed-role-arns`
    /// lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub role_arn: Option<String>,
}

/// The hosted zone zoneshift manages.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HostedZoneSpec {
    /// Adopt this existing hosted zone (e.g. `Z0123456789ABC`) instead of creating one. Its
    /// name must equal `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(/hostedzone/)?[A-Z0-9]{1,32}$"))]
    pub id: Option<String>,

    /// What happens to the zone when this resource is deleted. `Retain` (default) leaves the
    /// zone and its records; `Delete` removes the records zoneshift manages, then the zone if
    /// zoneshift created it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// What happens to Route 53 state when the resource is deleted.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    #[default]
    Retain,
    Delete,
}

/// The live configuration at the current provider.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    /// The current provider's nameservers, as host names or `ip[:port]`. Default: the
    /// delegation read from the parent zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,

    /// Import the zone by zone transfer (AXFR) from `nameservers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axfr: Option<AxfrSource>,

    /// Import the zone from a BIND-format zone file held in a ConfigMap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_file: Option<ZoneFileSource>,

    /// Import the zone from Cloudflare's API at every import interval, with an API token
    /// scoped to Zone DNS Read. The API's address is the operator's `--cloudflare-api-url`,
    /// never a field here: a resource must not be able to send a token elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<CloudflareSource>,
}

/// A zone at Cloudflare, named by exactly one of `zone` and `zoneId`.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.zone) != has(self.zoneId)").message("give exactly one of zone and zoneId"))]
pub struct CloudflareSource {
    /// The zone's name at Cloudflare, e.g. `example.com`; it must equal `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub zone: Option<String>,

    /// The zone's id at Cloudflare (32 hexadecimal digits); its name must equal `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{32}$"))]
    pub zone_id: Option<String>,

    /// A Secret in the resource's namespace, and its key, holding a Cloudflare API token with
    /// the Zone DNS Read permission (Zone Read as well to find the zone by name).
    pub api_token_secret_ref: SecretKeyRef,
}

/// A key of a Secret in the resource's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(regex(
        pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub name: String,
    /// The key holding the value.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// Zone transfer settings.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AxfrSource {
    /// A Secret in the resource's namespace holding the TSIG key (`name`, `algorithm`,
    /// `secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsig_secret_ref: Option<LocalObjectRef>,
}

/// A zone file in a ConfigMap.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZoneFileSource {
    /// The ConfigMap key holding the zone file.
    pub config_map_key_ref: ConfigMapKeyRef,
}

/// A reference to an object in the resource's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct LocalObjectRef {
    /// The object's name.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(regex(
        pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub name: String,
}

/// A key of a ConfigMap in the resource's namespace.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ConfigMapKeyRef {
    /// The ConfigMap's name.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(regex(
        pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub name: String,
    /// The key holding the zone file.
    #[schemars(length(min = 1, max = 253))]
    #[schemars(regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// One desired record set.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.values) && size(self.values) > 0 && has(self.alias))").message("set either values or alias, not both"))]
#[x_kube(validation = Rule::new("(has(self.values) && size(self.values) > 0) || has(self.alias)").message("a record needs values or an alias"))]
#[x_kube(validation = Rule::new("!has(self.alias) || !has(self.ttl)").message("an alias record has no TTL: Route 53 uses the target's"))]
#[x_kube(validation = Rule::new("self.type != 'CNAME' || !has(self.values) || size(self.values) <= 1").message("a CNAME has exactly one value"))]
#[x_kube(validation = Rule::new("self.type != 'CNAME' || self.name != '@'").message("a CNAME cannot sit at the zone apex; use an alias record instead"))]
#[x_kube(validation = Rule::new("self.type != 'NS' || self.name != '@'").message("the apex NS records are the Route 53 delegation set; zoneshift manages only their TTL (spec.cutover)"))]
#[x_kube(validation = Rule::new("!has(self.setIdentifier) || has(self.weight) || has(self.region) || has(self.failover) || has(self.geoLocation) || has(self.multiValueAnswer)").message("setIdentifier needs a routing policy (weight, region, failover, geoLocation or multiValueAnswer)"))]
#[x_kube(validation = Rule::new("has(self.setIdentifier) || !(has(self.weight) || has(self.region) || has(self.failover) || has(self.geoLocation) || has(self.multiValueAnswer))").message("a routing policy needs a setIdentifier"))]
#[x_kube(validation = Rule::new("(has(self.weight) ? 1 : 0) + (has(self.region) ? 1 : 0) + (has(self.failover) ? 1 : 0) + (has(self.geoLocation) ? 1 : 0) + (has(self.multiValueAnswer) ? 1 : 0) <= 1").message("a record set can have only one routing policy"))]
pub struct RecordSpec {
    /// The name, relative to `domain` (`www`, `@` for the apex, `*.dev` for a wildcard) or
    /// absolute with a trailing dot (`www.example.com.`).
    #[schemars(length(min = 1, max = 255))]
    pub name: String,

    /// The record type.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = RECORD_TYPES))]
    pub type_: String,

    /// Time to live in seconds (0 to 2147483647). Default 300. Not allowed on alias records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub ttl: Option<i64>,

    /// The values, in presentation format (`192.0.2.1`, `10 mail.example.com.`,
    /// `"v=spf1 -all"`). Names in values are absolute whether or not they end in a dot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,

    /// Make this an alias record pointing at an AWS resource, instead of `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasSpec>,

    /// Distinguishes record sets with the same name and type under a routing policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub set_identifier: Option<String>,

    /// Weighted routing: the relative weight (0 to 255).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 255))]
    pub weight: Option<i64>,

    /// Latency routing: the AWS region, e.g. `eu-west-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,

    /// Failover routing: `PRIMARY` or `SECONDARY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["PRIMARY", "SECONDARY"]))]
    pub failover: Option<String>,

    /// Geolocation routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo_location: Option<GeoLocationSpec>,

    /// Multivalue answer routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_answer: Option<bool>,

    /// A Route 53 health check id to attach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
}

/// An alias target.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AliasSpec {
    /// The target's DNS name, e.g. `my-lb-123.eu-west-1.elb.amazonaws.com.`.
    #[schemars(length(min = 1, max = 255))]
    pub dns_name: String,
    /// The target's hosted zone id (for a load balancer, the id of its region).
    #[schemars(regex(pattern = r"^\s*(/hostedzone/)?[A-Za-z0-9]+\s*$"))]
    pub hosted_zone_id: String,
    /// Whether Route 53 checks the target's health.
    #[serde(default)]
    pub evaluate_target_health: bool,
}

/// A geolocation for geolocation routing.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeoLocationSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continent_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdivision_code: Option<String>,
}

/// How records are reconciled.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// `Sync` makes the zone equal to the desired records (creates, updates, deletes);
    /// `UpsertOnly` never deletes.
    #[serde(default)]
    pub mode: SyncMode,

    /// A sync that would delete more than this percentage of the zone's record sets stops and
    /// changes nothing. Default 25.
    #[serde(default = "default_max_delete_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub max_delete_percent: i64,
}

impl Default for PolicySpec {
    fn default() -> Self {
        Self {
            mode: SyncMode::default(),
            max_delete_percent: default_max_delete_percent(),
        }
    }
}

fn default_max_delete_percent() -> i64 {
    25
}

/// Whether deletions are part of a sync.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SyncMode {
    #[default]
    Sync,
    UpsertOnly,
}

/// The nameserver switch.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CutoverSpec {
    /// `Manual`: a person changes the NS records at the registrar and zoneshift watches the
    /// parent zone; `Route53Domains`: zoneshift calls Route 53 Domains.
    #[serde(default)]
    pub mode: CutoverMode,

    /// The GitOps gate: nothing switches until this is true.
    #[serde(default)]
    pub approved: bool,

    /// The NS TTL (seconds) to hold before and during the switch. Default 900.
    #[serde(default = "default_lowered_ttl")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub lowered_nameserver_ttl: i64,

    /// The NS TTL (seconds) set once the migration is complete. Default 172800.
    #[serde(default = "default_final_ttl")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub final_nameserver_ttl: i64,

    /// Keep the old provider at least this long after the switch, e.g. `24h`, `90m`, `30s`.
    /// Default 24h.
    #[serde(default = "default_minimum_soak")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h|d))+$"))]
    pub minimum_soak: String,

    /// Go back to the previous nameservers.
    #[serde(default)]
    pub rollback: bool,

    /// The highest NS TTL (seconds) the old provider may have served for the domain before
    /// zoneshift first looked, and the parent's delegation TTL before the switch when
    /// zoneshift did not see it. zoneshift counts the highest it observed; where it could not
    /// observe, it uses this value, default 86400 (the longest Unbound keeps an NS set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub previous_nameserver_ttl: Option<i64>,

    /// Record sets zoneshift cannot prove by one DNS answer (alias and routing-policy sets,
    /// records not carried, records a provider answers differently for) that a person accepts
    /// as they are. The gate waits until each one is listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acknowledge: Vec<Acknowledgement>,

    /// Who points the old provider's own apex NS records at Route 53's nameservers at the
    /// switch: `Manual` (a person, at the old provider; zoneshift says so and watches every old
    /// server) or `Update` (zoneshift, by an RFC 2136 dynamic update signed with the key of
    /// `spec.source.axfr.tsigSecretRef`, and back on a rollback). The old provider may go only
    /// once all its servers serve Route 53's set and the old NS TTL has passed since. Where the
    /// old provider cannot change them, acknowledge `{name: "@", type: NS}`.
    #[serde(default)]
    pub old_provider_nameservers: OldProviderNameservers,
}

/// Who changes the old provider's apex NS records at the switch.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum OldProviderNameservers {
    #[default]
    Manual,
    Update,
}

/// A record set a person accepts without proof.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Acknowledgement {
    /// The name, relative to the domain (`www`, `@`) or absolute with a trailing dot.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// The record type, or `*` for every type at the name.
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^(\*|[A-Z0-9]+)$"))]
    pub type_: String,
    /// Why it is accepted, for whoever reads the resource next.
    #[schemars(length(min = 1))]
    pub why: String,
}

impl Default for CutoverSpec {
    fn default() -> Self {
        Self {
            mode: CutoverMode::default(),
            approved: false,
            lowered_nameserver_ttl: default_lowered_ttl(),
            final_nameserver_ttl: default_final_ttl(),
            minimum_soak: default_minimum_soak(),
            rollback: false,
            previous_nameserver_ttl: None,
            acknowledge: Vec::new(),
            old_provider_nameservers: OldProviderNameservers::default(),
        }
    }
}

fn default_lowered_ttl() -> i64 {
    900
}
fn default_final_ttl() -> i64 {
    172_800
}
fn default_minimum_soak() -> String {
    "24h".to_string()
}

/// How the registrar's NS records are changed.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CutoverMode {
    #[default]
    Manual,
    Route53Domains,
}

impl SourceSpec {
    /// Whether the zone is imported from the source (not only asked).
    pub fn imports(&self) -> bool {
        self.axfr.is_some() || self.zone_file.is_some() || self.cloudflare.is_some()
    }
}
