//! zoneshift: a Kubernetes operator that moves a live domain to Amazon Route 53 without any
//! user losing the site on the way.
//!
//! A functional core (`zone`, `plan`) inside an imperative shell (`controller`), with ports
//! (`ports`) between the shell and the outside world and adapters implementing them
//! (`route53`, `dns`, `source`). The core is pure and names no adapter.

pub mod api;
pub mod cli;
pub mod clock;
pub mod controller;
pub mod dns;
/// The properties checked by the fuzz targets of `fuzz/`; not part of the operator's API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod leader;
pub mod plan;
pub mod ports;
pub mod route53;
pub mod source;
pub mod telemetry;
pub mod zone;

use api::Reason;
use route53::Route53Error;
use source::SourceError;

/// Every way a reconcile can fail. [`Error::reason`] and [`Error::category`] map each to the
/// condition reason, the event reason and the metric label, here and nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be turned into a valid desired record set; waits for a spec change.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// The Route 53 or Route 53 Domains adapter failed.
    #[error(transparent)]
    Route53(#[from] Route53Error),

    /// The source could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),

    /// `spec.aws.roleArn` is not among the roles the operator may assume.
    #[error("{0}")]
    RoleNotAllowed(String),

    /// STS refused the role.
    #[error("{0}")]
    AssumeRoleFailed(String),

    /// The Kubernetes API answered with an error.
    #[error("Kubernetes API error: {0}")]
    Kube(#[source] Box<kube::Error>),

    /// The finalizer machinery failed.
    #[error("finalizer error: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    /// Deleting the resource waits for a person (the zone holds what zoneshift did not write).
    #[error("{message}")]
    CleanupBlocked { reason: Reason, message: String },
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(Box::new(e))
    }
}

impl Error {
    /// The condition and event reason.
    pub fn reason(&self) -> Reason {
        match self {
            Error::InvalidSpec(_) => Reason::InvalidRecord,
            Error::Route53(e) => e.reason(),
            Error::Source(e) => e.reason(),
            Error::RoleNotAllowed(_) => Reason::RoleNotAllowed,
            Error::AssumeRoleFailed(_) => Reason::AssumeRoleFailed,
            Error::Kube(_) | Error::Finalizer(_) => Reason::SourceUnreachable,
            Error::CleanupBlocked { reason, .. } => *reason,
        }
    }

    /// A short, stable category for metric labels.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Route53(_) => Reason::Route53Error.as_str(),
            Error::Source(_) => "SourceError",
            Error::RoleNotAllowed(_) | Error::AssumeRoleFailed(_) => "RoleError",
            Error::Kube(_) => "KubernetesError",
            Error::Finalizer(_) => "FinalizerError",
            Error::CleanupBlocked { .. } => "Conflict",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
