//! Zone transfer (AXFR) from the old provider, optionally signed with TSIG.

use super::TsigKey;
use hickory_proto::dnssec::rdata::tsig::TsigAlgorithm;
use hickory_proto::dnssec::tsig::TSigner;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
///
/// The transfer is read straight from its TCP connection, one length-prefixed message after
/// another, each taken before the next is read: the server waits while zoneshift is busy. (A
/// client that hands responses over a bounded channel and drops what does not fit, as
/// hickory's multiplexer does, loses messages in the middle of a large transfer on a loaded
/// machine; the transfer then still opens and closes with the same SOA, and what was dropped
/// would read as deleted.)
pub async fn axfr(
    server: SocketAddr,
    origin: &str,
    key: Option<&TsigKey>,
    timeout: Duration,
) -> Result<Vec<Record>, TransferError> {
    let unreachable = |message: String| TransferError::Unreachable { server, message };
    let incomplete = |message: String| TransferError::Incomplete { server, message };
    let zone = Name::from_str(origin).map_err(|e| unreachable(format!("zone name: {e}")))?;
    let id = query_id();
    let mut query = Message::new();
    query
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(false)
        .add_query(Query::query(zone, RecordType::AXFR));
    let mut verifier = match key {
        Some(k) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as u32);
            query
                .finalize(&signer(k)?, now)
                .map_err(|e| TransferError::BadKey(e.to_string()))?
        }
        None => None,
    };
    let bytes = query
        .to_vec()
        .map_err(|e| unreachable(format!("the query: {e}")))?;
    let mut tcp = within(timeout, tokio::net::TcpStream::connect(server))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    crate::telemetry::count_dns_query("transfer");
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    framed.extend_from_slice(&bytes);
    within(timeout, tcp.write_all(&framed))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let mut received = Received::default();
    loop {
        let mut len = [0u8; 2];
        match within(timeout, tcp.read_exact(&mut len)).await {
            Ok(_) => {}
            // The connection ended (or stalled): whole only if the closing SOA came.
            Err(e) if received.opened() => return Err(incomplete(e.to_string())),
            Err(e) => return Err(unreachable(e.to_string())),
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        within(timeout, tcp.read_exact(&mut buf))
            .await
            .map_err(|e| incomplete(format!("a message cut short: {e}")))?;
        let resp = match verifier.as_mut() {
            Some(verify) => verify(&buf).map(|r| r.into_message()),
            None => Message::from_vec(&buf),
        }
        .map_err(|e| {
            refusal(server, &e.to_string()).unwrap_or_else(|| incomplete(e.to_string()))
        })?;
        if resp.id() != id {
            return Err(incomplete(format!(
                "an answer to another query (id {})",
                resp.id()
            )));
        }
        if received.push(&resp).map_err(|g| g.into_error(server))? {
            break;
        }
    }
    received.finish().map_err(|g| g.into_error(server))
}

/// `f` within `timeout`, its I/O error and a timeout alike as text.
async fn within<T>(
    timeout: Duration,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs_f32())),
    }
}

/// A refusal in a verification error's words (TSIG's BADSIG, BADKEY, or a response code).
fn refusal(server: SocketAddr, text: &str) -> Option<TransferError> {
    [
        "Refused", "NotAuth", "NXDomain", "ServFail", "NotImp", "BADSIG", "BADKEY", "BADTIME",
    ]
    .into_iter()
    .find(|rcode| text.contains(rcode))
    .map(|rcode| TransferError::Refused {
        server,
        rcode: rcode.to_string(),
    })
}

/// A query id no other host can guess ahead (a fresh random hash key each call).
fn query_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u16
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
