//! The phase machine: (spec, previous status, observations, now) -> (next status, when to look
//! again). Pure: the controller observes, calls this, acts, and writes what it returns.
//!
//! [`sync`] covers `Pending` through `Verifying`; [`cutover`] (with the [`gate`]'s named checks)
//! covers the phases after. Conditions are written `False` with a reason from the first
//! reconcile on, so a GitOps tool never reads an unreconciled resource as healthy. The types
//! here are the planner's inputs: the adapters produce them.

pub mod compare;
pub mod cutover;
pub mod gate;
pub mod observation;
pub mod old_provider_ns;
pub mod status;
pub mod sync;
pub mod time;
pub mod verify;

pub use status::{deletion_held, set_condition, summarize};
pub use sync::after_sync;

use crate::api::{ChangeInfo, Reason, RecordCounts};
use std::time::Duration;

/// What one sync pass found or did.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncOutcome {
    /// The spec has records Route 53 would reject; nothing was called.
    InvalidSpec { message: String },
    /// The zone could not be created, adopted or read.
    ZoneFailed { reason: Reason, message: String },
    /// The zone exists; the records could not be brought in sync.
    Blocked {
        zone: ZoneInfo,
        counts: RecordCounts,
        reason: Reason,
        message: String,
    },
    /// The source could not be read (a zone file that does not parse, a refused transfer);
    /// nothing was written, since a partial import would delete what it missed.
    SourceFailed { reason: Reason, message: String },
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
    /// The source's nameservers the import found (`spec.source.nameservers` or the parent's
    /// delegation), asked by verification and the cutover.
    pub nameservers: Vec<String>,
    /// What was not carried or will answer differently, for the acknowledgement list.
    pub attention: Vec<cutover::Attention>,
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
    Compared(verify::Comparison),
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
    /// How long a listing that found the zone in sync is trusted by resyncs of the same desired
    /// records; after it the zone is listed again, catching changes made by hand.
    pub full_compare: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(600),
            pending_poll: Duration::from_secs(5),
            import_interval: Duration::from_secs(300),
            full_compare: Duration::from_secs(3600),
        }
    }
}
