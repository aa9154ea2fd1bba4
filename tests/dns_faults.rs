//! DNS faults at the old provider, from a small authoritative server of the test's own on a
//! free loopback port (never the shared DNS world): a zone transfer cut mid-way, a zone that
//! changes serial while it is sent, a server that never answers, one that answers SERVFAIL,
//! one whose answers to plain queries (verification, the probes) come truncated.
//! The rule: an incomplete read never becomes a deletion. A transfer that did not finish is an
//! error, the sync is not run, Route 53 keeps what it holds, and no person is asked to act for
//! what passes by itself.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::world::*;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zoneshift::api::*;
use zoneshift::dns::transfer::{axfr, TransferError};

/// How the test's server answers a zone transfer.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// The whole zone: SOA, the records, SOA, over two messages.
    Whole,
    /// The first message only, then the connection is closed.
    CutAfterFirstMessage,
    /// The records of the first half, then a closing SOA of a newer serial.
    SerialChangedHalfway,
    /// Reads the query and never answers.
    Silent,
    /// SERVFAIL.
    ServFail,
    /// A large zone in many small messages, all written at once: the client must take every
    /// one, however fast they come and however slowly it reads.
    ManyMessages,
    /// Any query answered with one of the zone's records and the TC flag: a part of the answer.
    Truncated,
}

struct Server {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
}

fn soa(origin: &Name, serial: u32) -> Record {
    let rdata = SOA::new(
        Name::from_str("ns1.old.example.net.").unwrap(),
        Name::from_str("hostmaster.example.net.").unwrap(),
        serial,
        7200,
        900,
        1_209_600,
        300,
    );
    Record::from_rdata(origin.clone(), 3600, RData::SOA(rdata))
}

fn hosts(origin: &Name, n: u8) -> Vec<Record> {
    (1..=n)
        .map(|i| {
            let name = Name::from_str(&format!("h{i}"))
                .unwrap()
                .append_domain(origin)
                .unwrap();
            Record::from_rdata(name, 300, RData::A(A::new(192, 0, 2, i)))
        })
        .collect()
}

/// `n` host records, one name each.
fn many(origin: &Name, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let name = Name::from_str(&format!("m{i}"))
                .unwrap()
                .append_domain(origin)
                .unwrap();
            let b = i.to_be_bytes();
            Record::from_rdata(name, 300, RData::A(A::new(10, b[5], b[6], b[7])))
        })
        .collect()
}

const MANY: usize = 3000;

impl Server {
    async fn start(domain: &str, mode: Mode) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(Mutex::new(mode));
        let origin = Name::from_str(&format!("{domain}.")).unwrap();
        let shared = mode.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let mode = *shared.lock().unwrap();
                let origin = origin.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if conn.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                    if conn.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    let query = Message::from_vec(&q).unwrap();
                    let reply = |answers: Vec<Record>, rcode: ResponseCode| {
                        let mut m = Message::new();
                        m.set_id(query.id())
                            .set_message_type(MessageType::Response)
                            .set_op_code(query.op_code())
                            .set_authoritative(true)
                            .set_truncated(matches!(mode, Mode::Truncated))
                            .set_response_code(rcode)
                            .add_queries(query.queries().to_vec())
                            .add_answers(answers);
                        let bytes = m.to_vec().unwrap();
                        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                        framed.extend(bytes);
                        framed
                    };
                    let all = hosts(&origin, 8);
                    let messages = match mode {
                        Mode::Whole => vec![
                            reply(
                                [vec![soa(&origin, 1)], all[..4].to_vec()].concat(),
                                ResponseCode::NoError,
                            ),
                            reply(
                                [all[4..].to_vec(), vec![soa(&origin, 1)]].concat(),
                                ResponseCode::NoError,
                            ),
                        ],
                        Mode::CutAfterFirstMessage => vec![reply(
                            [vec![soa(&origin, 1)], all[..4].to_vec()].concat(),
                            ResponseCode::NoError,
                        )],
                        Mode::SerialChangedHalfway => vec![
                            reply(
                                [vec![soa(&origin, 1)], all[..4].to_vec()].concat(),
                                ResponseCode::NoError,
                            ),
                            reply(vec![soa(&origin, 2)], ResponseCode::NoError),
                        ],
                        Mode::Silent => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        Mode::ServFail => vec![reply(vec![], ResponseCode::ServFail)],
                        Mode::Truncated => vec![reply(all[..1].to_vec(), ResponseCode::NoError)],
                        Mode::ManyMessages => {
                            let mut m = vec![reply(vec![soa(&origin, 1)], ResponseCode::NoError)];
                            m.extend(
                                many(&origin, MANY)
                                    .into_iter()
                                    .map(|r| reply(vec![r], ResponseCode::NoError)),
                            );
                            m.push(reply(vec![soa(&origin, 1)], ResponseCode::NoError));
                            vec![m.concat()]
                        }
                    };
                    for m in messages {
                        if conn.write_all(&m).await.is_err() {
                            return;
                        }
                    }
                    let _ = conn.shutdown().await;
                });
            }
        });
        Server { addr, mode }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

const TIMEOUT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_whole_transfer_is_read_whole() {
    let s = Server::start("whole.example", Mode::Whole).await;
    let records = axfr(s.addr, "whole.example.", None, TIMEOUT)
        .await
        .expect("whole");
    assert_eq!(records.len(), 9, "one SOA and eight hosts: {records:?}");
}

/// 3,000 messages written at once, read on one thread: a client that passes responses over a
/// bounded channel and drops what does not fit lost messages in the middle here (as it did on
/// a loaded machine with a 50,000-record zone), and the transfer still opened and closed with
/// the same SOA.
#[tokio::test]
async fn a_transfer_of_many_messages_loses_none() {
    let s = Server::start("many.example", Mode::ManyMessages).await;
    let records = axfr(s.addr, "many.example.", None, Duration::from_secs(10))
        .await
        .expect("whole");
    assert_eq!(records.len(), MANY + 1, "one SOA and every host");
}

#[tokio::test]
async fn a_transfer_cut_mid_way_is_incomplete() {
    let s = Server::start("cut.example", Mode::CutAfterFirstMessage).await;
    let e = axfr(s.addr, "cut.example.", None, TIMEOUT)
        .await
        .expect_err("cut");
    assert!(matches!(e, TransferError::Incomplete { .. }), "{e}");
    assert!(e.transient(), "{e}");
}

#[tokio::test]
async fn a_serial_changed_halfway_is_incomplete() {
    let s = Server::start("serial.example", Mode::SerialChangedHalfway).await;
    let e = axfr(s.addr, "serial.example.", None, TIMEOUT)
        .await
        .expect_err("changed");
    assert!(e.to_string().contains("serial 1, then 2"), "{e}");
}

#[tokio::test]
async fn a_silent_server_or_servfail_is_an_error() {
    let s = Server::start("silent.example", Mode::Silent).await;
    let e = axfr(s.addr, "silent.example.", None, TIMEOUT)
        .await
        .expect_err("silent");
    assert!(e.transient(), "a timeout passes by itself: {e}");
    s.set(Mode::ServFail);
    let e = axfr(s.addr, "silent.example.", None, TIMEOUT)
        .await
        .expect_err("servfail");
    assert!(matches!(e, TransferError::Refused { .. }), "{e}");
}

/// The queries of verification and of the cutover's probes (`Authorities::ask`): a server that
/// never answers, answers SERVFAIL, or sends a truncated answer gave no answer, never a part of
/// one taken for the whole (an empty or partial record set would read as a difference, or as
/// the old provider failing users). The control: the same server answering whole.
#[tokio::test]
async fn a_query_answered_silently_servfail_or_truncated_is_no_answer() {
    use hickory_proto::rr::RecordType;
    use zoneshift::dns::query::{Answer, Authorities};
    let s = Server::start("q.example", Mode::Whole).await;
    let ask = || async {
        // One connection per question: the test's server answers one query per connection.
        let auth = Authorities::connect(&[s.addr], TIMEOUT).await;
        auth.ask("h1.q.example.", RecordType::A).await
    };
    match ask().await {
        Ok(Answer::Authoritative(r)) => assert_eq!(r.len(), 1, "the control reads the record"),
        other => panic!("the control: {other:?}"),
    }
    for mode in [Mode::Truncated, Mode::ServFail, Mode::Silent] {
        s.set(mode);
        let e = ask().await.expect_err("no answer");
        assert!(
            matches!(e, zoneshift::dns::DnsError::Unreachable(_)),
            "{mode:?}: {e}"
        );
    }
}

/// The whole path: a migration imports the zone by AXFR and syncs it; then every fault in turn
/// meets the next import, and Route 53 keeps all eight records: nothing is deleted for what a
/// transfer failed to say, and a cut or changing transfer stalls nothing.
#[tokio::test]
async fn an_incomplete_import_changes_nothing_in_route53() {
    let domain = common::unique_domain("axfr-faults");
    let s = Server::start(&domain, Mode::Whole).await;
    let mut m = migration("m", &domain, vec![]);
    m.spec.source = Some(SourceSpec {
        nameservers: vec![s.addr.to_string()],
        axfr: Some(AxfrSource::default()),
        ..Default::default()
    });
    m.spec.policy.max_delete_percent = 100;
    let w = World::new(vec![m]).await;
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "RecordsSynced").status, "True", "{:?}", m.status);
    let zone = zone_id(&m);
    assert_eq!(w.records(&zone, &domain).await.len(), 8, "eight hosts");
    let before = w.records(&zone, &domain).await;
    for (mode, reason, stalled) in [
        (Mode::CutAfterFirstMessage, "SourceUnreachable", "False"),
        (Mode::SerialChangedHalfway, "SourceUnreachable", "False"),
        (Mode::Silent, "SourceUnreachable", "False"),
        (Mode::ServFail, "TransferFailed", "True"),
    ] {
        s.set(mode);
        w.clock.advance(Duration::from_secs(600));
        let _ = w.reconcile("m").await;
        let m = w.get("m").await;
        let synced = cond(&m, "RecordsSynced");
        assert_eq!(
            (synced.status.as_str(), synced.reason.as_str()),
            ("False", reason),
            "{mode:?}: {synced:?}"
        );
        assert_eq!(
            cond(&m, "Stalled").status,
            stalled,
            "{mode:?}: {:?}",
            cond(&m, "Stalled")
        );
        assert_eq!(
            w.records(&zone, &domain).await,
            before,
            "{mode:?} changed Route 53"
        );
    }
    s.set(Mode::Whole);
    w.clock.advance(Duration::from_secs(600));
    w.reconcile("m").await.expect("reconcile");
    assert_eq!(cond(&w.get("m").await, "RecordsSynced").status, "True");
}
