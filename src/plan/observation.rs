//! What the cutover decides on: the delegation at the parent, the TTLs, the registrar, what
//! needs acknowledging. The adapters produce these; the planner reads them.

use crate::api::{DelegationStatus, HostedZoneMigrationStatus};
use jiff::Timestamp;

/// What the parent zone serves for the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentView {
    /// The NS set, normalised (lowercase, trailing dot) and sorted.
    pub nameservers: Vec<String>,
    /// The TTL of that NS set at the parent.
    pub ttl: u32,
    /// DS records (presentation format); empty for an unsigned delegation.
    pub ds: Vec<String>,
    /// The TTL of the DS set (0 without one).
    pub ds_ttl: u32,
    /// The parent's server addresses (IPv4 and IPv6) that were asked.
    pub servers: usize,
    /// The servers that did not answer or answered another NS set than `nameservers`; empty
    /// when every server agrees. The delegation counts as switched only then.
    pub disagreement: Vec<String>,
    /// The NS sets that the servers of `disagreement` which answered serve instead, each
    /// normalised and sorted like `nameservers`.
    pub other_sets: Vec<Vec<String>>,
    /// The servers of `disagreement` that did not answer, each with why (one that answered it
    /// has no delegation for the domain was read, and is not among them).
    pub unanswered: Vec<String>,
}

impl ParentView {
    /// A view every server of which agrees.
    pub fn agreed(nameservers: Vec<String>, ttl: u32) -> Self {
        ParentView {
            nameservers,
            ttl,
            ds: Vec::new(),
            ds_ttl: 0,
            servers: 1,
            disagreement: Vec::new(),
            other_sets: Vec::new(),
            unanswered: Vec::new(),
        }
    }
}

/// A record set that one DNS answer cannot prove, or that will answer differently from Route
/// 53 than it does at the old provider: the gate waits for a person to acknowledge it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Attention {
    /// Absolute, normalised.
    pub name: String,
    pub rtype: String,
    pub why: String,
}

/// The state of a Route 53 Domains operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationState {
    InProgress,
    Successful,
    Failed(String),
}

/// Everything observed in this pass that the cutover decides on.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The delegation at the parent, or why it could not be asked.
    pub parent: Result<ParentView, String>,
    /// The apex NS TTL the source's nameservers serve, or why it is unknown.
    pub source_ns_ttl: Result<u32, String>,
    /// The apex NS TTL of the Route 53 zone (from its API).
    pub route53_ns_ttl: Option<u32>,
    /// The Route 53 zone's delegation set, normalised and sorted.
    pub route53_nameservers: Vec<String>,
    /// Whether the Route 53 nameservers answer authoritatively for the zone (or why not).
    pub route53_answers: Result<(), String>,
    /// Whether records are in sync and the shadow zone verified (from this pass's sync).
    pub records_synced: bool,
    pub shadow_verified: bool,
    /// During `Propagating`: the names and types the source no longer answers as Route 53
    /// does (empty: healthy); `None` when not probed in this pass.
    pub source_failures: Option<Vec<String>>,
    /// The registrar operation, in `Route53Domains` mode.
    pub operation: Option<OperationState>,
    /// When the shadow zone was last verified against the source.
    pub verified_at: Option<Timestamp>,
    /// What needs a person's acknowledgement, when this pass could tell (a full pass).
    pub attention: Option<Vec<Attention>>,
    /// The apex NS set every server of the old provider serves (or why it could not be read);
    /// `None` when not asked in this pass.
    pub source_apex_ns: Option<Result<Vec<String>, String>>,
}

/// Writes what the parent serves into the status, with the time it was asked.
pub(super) fn record_delegation(
    s: &mut HostedZoneMigrationStatus,
    parent: &Result<ParentView, String>,
    now: Timestamp,
) {
    let d = s.delegation.get_or_insert_with(DelegationStatus::default);
    d.observed_at = Some(super::time::stamp(now));
    match parent {
        Ok(p) => {
            d.parent_nameservers = p.nameservers.clone();
            if !p.ds.is_empty() {
                d.ds_ttl = Some(i64::from(p.ds_ttl));
            }
            d.servers_asked = Some(p.servers as i64);
            d.disagreement = (!p.disagreement.is_empty()).then(|| p.disagreement.join("; "));
            d.ds = p.ds.clone();
            d.error = None;
            let t = s.observed_ttls.get_or_insert_with(Default::default);
            t.parent_ns = Some(i64::from(p.ttl));
        }
        Err(e) => d.error = Some(e.clone()),
    }
}
