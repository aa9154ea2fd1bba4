//! zoneshift: a Kubernetes operator that moves a live domain to Amazon Route 53 without any
//! user losing the site on the way.
//!
//! The crate is a functional core (`zone`, `plan`) inside a thin imperative shell
//! (`route53`, `controller`). The core is pure and is tested without any server.

pub mod api;
pub mod cli;
pub mod clock;
pub mod controller;
pub mod dns;
pub mod leader;
pub mod plan;
pub mod route53;
pub mod telemetry;
pub mod zone;

/// Every way a reconcile can fail, with a category used for events and metric labels.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be turned into a valid desired record set; waits for a spec change.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// Route 53 answered with an error; `code` is the AWS error code when there is one.
    #[error("Route 53 {operation} failed ({code}): {message}")]
    Route53 {
        operation: &'static str,
        code: String,
        message: String,
    },

    /// The Kubernetes API answered with an error.
    #[error("Kubernetes API error: {0}")]
    Kube(#[source] Box<kube::Error>),

    /// The finalizer machinery failed.
    #[error("finalizer error: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

    /// The state found outside Kubernetes forbids going on (a zone with another name, ...).
    #[error("{0}")]
    Conflict(String),
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(Box::new(e))
    }
}

impl Error {
    /// A short, stable category for metric labels and event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Error::InvalidSpec(_) => "InvalidSpec",
            Error::Route53 { .. } => "Route53Error",
            Error::Kube(_) => "KubernetesError",
            Error::Finalizer(_) => "FinalizerError",
            Error::Conflict(_) => "Conflict",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
