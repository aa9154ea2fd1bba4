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
    /// Route 53 kept failing in a way that is worth retrying (throttling, a 5xx, a lost
    /// connection or an answer lost on the way) until this pass's retries were spent: it says
    /// nothing about the request itself, and a later pass tries again.
    #[error("Route 53 {operation} failed ({code}) and its retries are spent: {message}")]
    Unavailable {
        operation: &'static str,
        code: String,
        message: String,
    },
    /// A change batch met a zone that was not as listed: a record set to create already
    /// exists, or one to delete is gone or differs. A retry of a batch Route 53 had applied
    /// though its answer was lost says this, and so does another writer acting meanwhile. The
    /// zone must be listed again and the diff made anew; nobody needs to act.
    #[error(
        "Route 53 {operation} met a zone that changed since it was listed ({code}): {message}"
    )]
    ZoneMoved {
        operation: &'static str,
        code: String,
        message: String,
    },
    /// An answer Route 53 cannot give (a record set with neither values nor an alias target):
    /// it was misread, and acting on it would rewrite the zone.
    #[error("{0}")]
    ImpossibleAnswer(String),
}

impl Route53Error {
    /// The AWS error code, when AWS gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Route53Error::Api { code, .. }
            | Route53Error::Unavailable { code, .. }
            | Route53Error::ZoneMoved { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The condition reason this error is reported under.
    pub fn reason(&self) -> Reason {
        match self {
            Route53Error::Api { .. }
            | Route53Error::Unavailable { .. }
            | Route53Error::ZoneMoved { .. }
            | Route53Error::NotConfigured(_) => Reason::Route53Error,
            Route53Error::ZoneConflict(_) => Reason::ZoneConflict,
            Route53Error::InvalidChange(_) => Reason::InvalidRecord,
            Route53Error::ImpossibleAnswer(_) => Reason::ImpossibleAnswer,
        }
    }

    /// Whether a retry later can succeed without anyone changing anything.
    pub fn transient(&self) -> bool {
        matches!(
            self,
            Route53Error::Api { .. }
                | Route53Error::Unavailable { .. }
                | Route53Error::ZoneMoved { .. }
        )
    }

    /// A batch refused because the zone was not as listed (see [`Route53Error::ZoneMoved`]),
    /// told from a batch refused for what it says by Route 53's messages: `Tried to create
    /// ... but it already exists`, `Tried to delete ... but it was not found`, `... but the
    /// values provided do not match the current values`.
    pub(crate) fn zone_moved(self) -> Route53Error {
        match self {
            Route53Error::Api {
                operation,
                code,
                message,
            } if code == "InvalidChangeBatch" && conflicts_only(&message) => {
                Route53Error::ZoneMoved {
                    operation,
                    code,
                    message,
                }
            }
            other => other,
        }
    }
}

/// Whether every message of an `InvalidChangeBatch` (one, or a bracketed list of them) says
/// the zone differs from what the batch expected, and none says the batch itself is wrong.
fn conflicts_only(message: &str) -> bool {
    const CONFLICTS: &[&str] = &[
        "but it already exists",
        "but it was not found",
        "but the values provided do not match the current values",
    ];
    // Messages are joined by ", " and start with a capital; ", type='A'" inside one does not.
    let mut parts: Vec<String> = Vec::new();
    for piece in message
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(", ")
    {
        match parts.last_mut() {
            Some(last) if !piece.starts_with(|c: char| c.is_ascii_uppercase()) => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => parts.push(piece.to_string()),
        }
    }
    !parts.is_empty()
        && parts
            .iter()
            .all(|p| CONFLICTS.iter().any(|c| p.contains(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(message: &str) -> Route53Error {
        Route53Error::Api {
            operation: "ChangeResourceRecordSets",
            code: "InvalidChangeBatch".into(),
            message: message.into(),
        }
        .zone_moved()
    }

    #[test]
    fn a_batch_meeting_a_changed_zone_is_told_from_a_wrong_batch() {
        for m in [
            "Tried to create resource record set [name='www.example.com.', type='A'] but it already exists",
            "[Tried to delete resource record set [name='a.example.com.', type='A'] but it was not found]",
            "[Tried to delete resource record set [name='a.example.com.', type='A'] but it was not found, Tried to create resource record set [name='b.example.com.', type='A'] but it already exists]",
            "[Tried to delete resource record set [name='a.example.com.', type='TXT'] but the values provided do not match the current values]",
        ] {
            let e = rejected(m);
            assert!(matches!(e, Route53Error::ZoneMoved { .. }), "{m}");
            assert!(e.transient() && e.reason() == Reason::Route53Error);
        }
        for m in [
            "[RRSet of type CNAME with DNS name www.example.com. is not permitted at apex in zone example.com.]",
            "[Tried to delete resource record set [name='a.example.com.', type='A'] but it was not found, Invalid Resource Record: FATAL problem: ARRDATAIllegalIPv4Address]",
            "",
        ] {
            assert!(matches!(rejected(m), Route53Error::Api { .. }), "{m}");
        }
    }
}
