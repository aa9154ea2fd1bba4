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
}

fn signer(key: &TsigKey) -> Result<TSigner, TransferError> {
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
    let mut responses = client.zone_transfer(zone, None);
    let mut received = Received::default();
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
                unreachable(text)
            })?;
            received
                .push(&resp)
                .map_err(|rcode| TransferError::Refused { server, rcode })?;
        }
        received
            .finish()
            .map_err(|rcode| TransferError::Refused { server, rcode })
    }
    .await;
    bg.abort();
    result
}

/// The records of a zone transfer, gathered from its responses as they arrive: every answer
/// kept in order, the SOA (which opens and closes the transfer) once.
#[derive(Debug, Default)]
pub(crate) struct Received {
    records: Vec<Record>,
    soa_seen: bool,
}

impl Received {
    /// Takes one response of the transfer, or the response code with which it refused.
    pub(crate) fn push(&mut self, resp: &Message) -> Result<(), String> {
        if resp.response_code() != ResponseCode::NoError {
            return Err(resp.response_code().to_string());
        }
        for r in resp.answers() {
            if r.record_type() == hickory_proto::rr::RecordType::SOA {
                if self.soa_seen {
                    continue;
                }
                self.soa_seen = true;
            }
            self.records.push(r.clone());
        }
        Ok(())
    }

    /// The zone's records, or why the transfer gave no zone.
    pub(crate) fn finish(self) -> Result<Vec<Record>, String> {
        if !self.soa_seen {
            return Err("empty transfer (no SOA)".into());
        }
        Ok(self.records)
    }
}
