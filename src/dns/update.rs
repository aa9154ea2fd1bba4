//! RFC 2136 dynamic update of the old provider's apex NS set, signed with TSIG: what points the
//! old provider's own answers at Route 53 at the switch (and back on a rollback).

use super::transfer::{signer, TransferError};
use super::TsigKey;
use futures::StreamExt;
use hickory_client::client::Client;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::NS;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::runtime::TokioRuntimeProvider;
use hickory_proto::tcp::TcpClientStream;
use hickory_proto::xfer::DnsHandle;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The update message: in one transaction, add `nameservers` with `ttl` to the apex NS set and
/// delete each of `current` that is not among them. A server applies all or nothing, never
/// deletes a zone's whole apex NS set by type (RFC 2136 section 3.4.2.3), and refuses to delete
/// its last NS record: hence the additions first and the deletions by value.
pub fn replace_apex_ns(
    origin: &str,
    current: &[String],
    nameservers: &[String],
    ttl: u32,
) -> Result<Message, String> {
    let zone = Name::from_str(origin).map_err(|e| format!("zone name {origin:?}: {e}"))?;
    if nameservers.is_empty() {
        return Err("no nameservers to set".into());
    }
    let mut message = Message::new();
    // No id: the client gives every message a random unused one as it sends it.
    message
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Update)
        .set_recursion_desired(false);
    let mut q = Query::new();
    q.set_name(zone.clone())
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    message.add_zone(q);
    let ns_record = |name: &str, ttl: u32, class: DNSClass| -> Result<Record, String> {
        let target = Name::from_str(name).map_err(|e| format!("nameserver {name:?}: {e}"))?;
        let mut r = Record::from_rdata(zone.clone(), ttl, RData::NS(NS(target)));
        r.set_dns_class(class);
        Ok(r)
    };
    for ns in nameservers {
        message.add_update(ns_record(ns, ttl, DNSClass::IN)?);
    }
    let same = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    for old in current {
        if !nameservers.iter().any(|n| same(n, old)) {
            // Class NONE, TTL 0: delete this one record (RFC 2136 section 2.5.4).
            message.add_update(ns_record(old, 0, DNSClass::NONE)?);
        }
    }
    Ok(message)
}

/// Sends the update to `server`, signed with `key`; the server's refusal in its words.
pub async fn send(
    server: SocketAddr,
    message: Message,
    key: &TsigKey,
    timeout: Duration,
) -> Result<(), String> {
    let finalizer = signer(key).map_err(|e: TransferError| e.to_string())?;
    let finalizer = Arc::new(finalizer) as Arc<dyn hickory_proto::op::MessageFinalizer>;
    let (stream, sender) =
        TcpClientStream::new(server, None, Some(timeout), TokioRuntimeProvider::new());
    let (client, bg) = Client::with_timeout(stream, sender, timeout, Some(finalizer))
        .await
        .map_err(|e| format!("{server}: {e}"))?;
    let bg = tokio::spawn(bg);
    crate::telemetry::count_dns_query("update");
    let answer = tokio::time::timeout(timeout, client.send(message).next()).await;
    bg.abort();
    let response = match answer {
        Err(_) => return Err(format!("{server}: timed out")),
        Ok(None) => return Err(format!("{server}: no answer")),
        Ok(Some(Err(e))) => return Err(format!("{server}: {e}")),
        Ok(Some(Ok(r))) => r,
    };
    match response.response_code() {
        ResponseCode::NoError => Ok(()),
        code => Err(format!("{server} refused the update ({code})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_update_adds_route53s_set_then_deletes_the_old_one_by_value() {
        let m = replace_apex_ns(
            "example.com.",
            &["ns1.old.net.".into(), "ns-1.awsdns-01.org.".into()],
            &["ns-1.awsdns-01.org.".into(), "ns-2.awsdns-02.net.".into()],
            900,
        )
        .unwrap();
        assert_eq!(m.op_code(), OpCode::Update);
        let updates = m.updates();
        assert_eq!(updates.len(), 3);
        assert!(updates[..2]
            .iter()
            .all(|r| r.ttl() == 900 && r.dns_class() == DNSClass::IN));
        assert_eq!(updates[2].dns_class(), DNSClass::NONE);
        assert_eq!(updates[2].ttl(), 0);
        assert!(replace_apex_ns("example.com.", &[], &[], 900).is_err());
    }
}
