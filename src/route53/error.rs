//! What can go wrong talking to Route 53 and Route 53 Domains.

use crate::api::Reason;

/// An error of the Route 53 adapters.
#[derive(Debug, thiserror::Error)]
pub enum Route53Error {
    /// AWS answered with an error, after the retries the policy allows.
    #[error("Route 53 {operation} failed ({code}): {message}")]
    Api {
        operation: &'static str,
        code: String,
        message: String,
    },
    /// The zone found forbids going on: another name, or a zone that was lost.
    #[error("{0}")]
    ZoneConflict(String),
    /// A change that cannot be sent (a record set beyond Route 53's limits).
    #[error("{0}")]
    InvalidChange(String),
    /// The adapter lacks what the call needs (no Route 53 Domains client, ...).
    #[error("{0}")]
    NotConfigured(String),
    /// An answer Route 53 cannot give (a record set with neither values nor an alias target):
    /// it was misread, and acting on it would rewrite the zone.
    #[error("{0}")]
    ImpossibleAnswer(String),
}

impl Route53Error {
    /// The AWS error code, when AWS gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Route53Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The condition reason this error is reported under.
    pub fn reason(&self) -> Reason {
        match self {
            Route53Error::Api { .. } | Route53Error::NotConfigured(_) => Reason::Route53Error,
            Route53Error::ZoneConflict(_) => Reason::ZoneConflict,
            Route53Error::InvalidChange(_) => Reason::InvalidRecord,
            Route53Error::ImpossibleAnswer(_) => Reason::ImpossibleAnswer,
        }
    }

    /// Whether a retry later can succeed without anyone changing anything.
    pub fn transient(&self) -> bool {
        matches!(self, Route53Error::Api { .. })
    }
}
