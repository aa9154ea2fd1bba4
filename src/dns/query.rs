//! Authoritative queries to a zone's own nameservers: recursion off, answers read only when
//! the server says it is authoritative (the `aa` flag), or a referral at a delegation.

use super::DnsError;
use hickory_client::client::Client;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::runtime::TokioRuntimeProvider;
use hickory_proto::tcp::TcpClientStream;
use hickory_proto::xfer::{DnsHandle, DnsRequestOptions, FirstAnswer};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a server said about one name and type.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// An authoritative answer: the records of that type (empty for NODATA).
    Authoritative(Vec<Record>),
    /// An authoritative NXDOMAIN.
    NxDomain,
    /// The name lies below a delegation: the referral's NS records.
    Referral(Vec<Record>),
}

/// A connection to each of a zone's nameservers, tried in order.
#[derive(Clone)]
pub struct Authorities {
    servers: Vec<(SocketAddr, Option<Client>)>,
    timeout: Duration,
    sent: Arc<AtomicU64>,
}

impl Authorities {
    /// Connects to every server (over TCP, so large answers are never truncated). A server that
    /// cannot be reached is kept, and reported when it would have been asked.
    pub async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Authorities {
        let mut servers = Vec::with_capacity(addrs.len());
        for &addr in addrs {
            let (stream, sender) =
                TcpClientStream::new(addr, None, Some(timeout), TokioRuntimeProvider::new());
            let client = match Client::with_timeout(stream, sender, timeout, None).await {
                Ok((client, bg)) => {
                    tokio::spawn(bg);
                    Some(client)
                }
                Err(_) => None,
            };
            servers.push((addr, client));
        }
        Authorities {
            servers,
            timeout,
            sent: Arc::default(),
        }
    }

    /// Queries sent so far, retries over other servers included.
    pub fn queries_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// True when no server could be connected to.
    pub fn all_down(&self) -> bool {
        self.servers.iter().all(|(_, c)| c.is_none())
    }

    /// Asks each server in turn until one answers authoritatively (or with a referral); the
    /// error lists what every server did.
    pub async fn ask(&self, name: &str, rtype: RecordType) -> Result<Answer, DnsError> {
        let qname = Name::from_str(name).map_err(|e| DnsError::BadName(format!("{name}: {e}")))?;
        let mut failures = Vec::new();
        for (addr, client) in &self.servers {
            let Some(client) = client else {
                failures.push(format!("{addr} is unreachable"));
                continue;
            };
            self.sent.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::count_dns_query("authoritative");
            let mut options = DnsRequestOptions::default();
            options.recursion_desired = false;
            options.use_edns = true;
            let mut q = Query::query(qname.clone(), rtype);
            q.set_query_class(DNSClass::IN);
            let resp =
                match tokio::time::timeout(self.timeout, client.lookup(q, options).first_answer())
                    .await
                {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        failures.push(format!("{addr}: {e}"));
                        continue;
                    }
                    Err(_) => {
                        failures.push(format!("{addr}: timed out"));
                        continue;
                    }
                };
            match read_response(&resp, &qname, rtype) {
                Ok(answer) => return Ok(answer),
                Err(why) => failures.push(format!("{addr}: {why}")),
            }
        }
        Err(DnsError::Unreachable(failures.join("; ")))
    }
}

/// Reads a server's response to the question (`qname`, `rtype`): an authoritative answer (only
/// the records of that name and type), an NXDOMAIN, a referral, or what the server did instead.
pub(crate) fn read_response(
    resp: &Message,
    qname: &Name,
    rtype: RecordType,
) -> Result<Answer, String> {
    let authority_ns: Vec<Record> = resp
        .name_servers()
        .iter()
        .filter(|r| r.record_type() == RecordType::NS)
        .cloned()
        .collect();
    if resp.truncated() {
        // Over TCP a server sets TC only when the answer did not fit: what came is a part of
        // it, and a part of a record set read as the whole would be a wrong observation.
        return Err("answered with the TC flag set: the answer is truncated".into());
    }
    match resp.response_code() {
        ResponseCode::NoError if resp.authoritative() => {
            let want: Vec<Record> = resp
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype && r.name() == qname)
                .cloned()
                .collect();
            Ok(Answer::Authoritative(want))
        }
        ResponseCode::NXDomain if resp.authoritative() => Ok(Answer::NxDomain),
        ResponseCode::NoError if !authority_ns.is_empty() && resp.answers().is_empty() => {
            Ok(Answer::Referral(authority_ns))
        }
        ResponseCode::NoError => Err("answered without authority (aa flag not set)".into()),
        other => Err(other.to_string()),
    }
}
