//! Zone transfer (AXFR) from the old provider, optionally signed with TSIG.

use super::TsigKey;
use futures::StreamExt;
use hickory_client::client::{Client, ClientHandle};
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, Record};
use hickory_proto::runtime::TokioRuntimeProvider;
use hickory_proto::tcp::TcpClientStream;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Why a transfer failed, in the server's words where it gave any.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("{server} refused the zone transfer ({rcode}); allow it for zoneshift's address or TSIG key")]
    Refused { server: SocketAddr, rcode: String },
    #[error("{server} did not answer the zone transfer: {message}")]
    Unreachable { server: SocketAddr, message: String },
    #[error("the TSIG key is unusable: {0}")]
    BadKey(String),
    /// The transfer did not reach the closing SOA of the serial it opened with: cut off, or
    /// the zone changed while it was sent. Nothing of it may be used: what is missing would
    /// read as deleted.
    #[error("the zone transfer from {server} is incomplete ({message}); nothing of it is used")]
    Incomplete { server: SocketAddr, message: String },
}

impl TransferError {
    /// Whether a later attempt can succeed without anyone changing anything.
    pub fn transient(&self) -> bool {
        matches!(
            self,
            TransferError::Unreachable { .. } | TransferError::Incomplete { .. }
        )
    }
}

pub(super) fn signer(key: &TsigKey) -> Result<TSigner, TransferError> {
    use base64::Engine;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(key.secret.trim())
        .map_err(|e| TransferError::BadKey(format!("secret is not base64: {e}")))?;
    let algorithm = match key.algorithm.trim().to_ascii_lowercase().as_str() {
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        other => {
            return Err(TransferError::BadKey(format!(
                "algorithm {other:?} is not one of hmac-sha256, hmac-sha384, hmac-sha512"
            )))
        }
    };
    let name = Name::from_str(&key.name)
        .map_err(|e| TransferError::BadKey(format!("key name {:?}: {e}", key.name)))?;
    TSigner::new(secret, algorithm, name, 300).map_err(|e| TransferError::BadKey(e.to_string()))
}

/// Transfers `origin` from `server`. Every record of the zone is returned, the SOA once.
pub async fn axfr(
    server: SocketAddr,
    origin: &str,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<Vec<Record>, TransferError> {
    let finalizer = match key {
        Some(k) => Some(Arc::new(signer(k)?) as Arc<dyn hickory_proto::op::MessageFinalizer>),
        None => None,
    };
    let unreachable = |message: String| TransferError::Unreachable { server, message };
    let (stream, sender) =
        TcpClientStream::new(server, None, Some(timeout), TokioRuntimeProvider::new());
    let (mut client, bg) = Client::with_timeout(stream, sender, timeout, finalizer)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let bg = tokio::spawn(bg);
    let zone = Name::from_str(origin).map_err(|e| unreachable(format!("zone name: {e}")))?;
    crate::telemetry::count_dns_query("transfer");
    let mut responses = client.zone_transfer(zone, None);
    let mut received = Received::default();
    let incomplete = |message: String| TransferError::Incomplete { server, message };
    let result = async {
        while let Some(resp) = responses.next().await {
            let resp = resp.map_err(|e| {
                let text = e.to_string();
                // hickory reports a refusal as an error carrying the response code.
                for rcode in [
                    "Refused", "NotAuth", "NXDomain", "ServFail", "NotImp", "BADSIG", "BADKEY",
                ] {
                    if text.contains(rcode) {
                        return TransferError::Refused {
                            server,
                            rcode: rcode.to_string(),
                        };
                    }
                }
                if received.opened() {
                    incomplete(text)
                } else {
                    unreachable(text)
                }
            })?;
            if received.push(&resp).map_err(|g| g.into_error(server))? {
                break;
            }
        }
        received.finish().map_err(|g| g.into_error(server))
    }
    .await;
    bg.abort();
    result
}

/// The records of a zone transfer, gathered from its responses as they arrive: every answer
/// kept in order, the SOA once. The serial of the opening SOA is kept: the transfer is whole
/// only when an SOA of the same serial closes it (RFC 5936 2.2). hickory's stream ends quietly
/// on a closed connection and takes any SOA as the closing one, so both are checked here.
#[derive(Debug, Default)]
pub(crate) struct Received {
    records: Vec<Record>,
    opened: Option<u32>,
    closed: bool,
    answered: bool,
}

/// Why the responses gathered are no zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Gap {
    /// The server refused, with this response code.
    Refused(String),
    /// Cut off, or the zone changed while it was sent.
    Incomplete(String),
    /// No response at all.
    NoAnswer,
}

impl Gap {
    fn into_error(self, server: SocketAddr) -> TransferError {
        match self {
            Gap::Refused(rcode) => TransferError::Refused { server, rcode },
            Gap::Incomplete(message) => TransferError::Incomplete { server, message },
            Gap::NoAnswer => TransferError::Unreachable {
                server,
                message: "no answer".into(),
            },
        }
    }
}

impl Received {
    /// Whether an opening SOA arrived.
    pub(crate) fn opened(&self) -> bool {
        self.opened.is_some()
    }

    /// Takes one response of the transfer; whether it closed the transfer.
    pub(crate) fn push(&mut self, resp: &Message) -> Result<bool, Gap> {
        self.answered = true;
        if resp.response_code() != ResponseCode::NoError {
            return Err(Gap::Refused(resp.response_code().to_string()));
        }
        for r in resp.answers() {
            if self.closed {
                return Err(Gap::Incomplete("records after the closing SOA".into()));
            }
            let serial = r.data().as_soa().map(|soa| soa.serial());
            match (self.opened, serial) {
                (None, Some(s)) => self.opened = Some(s),
                (None, None) => {
                    return Err(Gap::Incomplete(
                        "the transfer does not open with an SOA".into(),
                    ))
                }
                (Some(first), Some(last)) if first == last => {
                    self.closed = true;
                    continue;
                }
                (Some(first), Some(last)) => {
                    return Err(Gap::Incomplete(format!(
                        "the zone changed while it was sent: serial {first}, then {last}"
                    )))
                }
                (Some(_), None) => {}
            }
            self.records.push(r.clone());
        }
        Ok(self.closed)
    }

    /// The zone's records, or why the responses are no zone.
    pub(crate) fn finish(self) -> Result<Vec<Record>, Gap> {
        match (self.opened, self.closed) {
            (None, _) if !self.answered => Err(Gap::NoAnswer),
            (None, _) => Err(Gap::Refused("empty transfer (no SOA)".into())),
            (Some(serial), false) => Err(Gap::Incomplete(format!(
                "the connection ended before the closing SOA of serial {serial}"
            ))),
            (Some(_), true) => Ok(self.records),
        }
    }
}
