//! What the DNS says about the cutover: the delegation the parent zone serves (NS set, its TTL,
//! DS), the apex NS TTL a zone's own nameservers serve, and whether a set of nameservers
//! answers authoritatively for the zone.
//!
//! The parent is found through a recursive resolver (`--resolver`, default the system's);
//! everything else is asked of the authorities themselves, recursion off.

use super::query::{Answer, Authorities};
use super::DnsError;
use crate::plan::cutover::ParentView;
use crate::zone::normalize_target;
use hickory_client::client::Client;
use hickory_proto::op::{Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::runtime::TokioRuntimeProvider;
use hickory_proto::tcp::TcpClientStream;
use hickory_proto::xfer::{DnsHandle, DnsRequestOptions, FirstAnswer};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// The system's resolver, from /etc/resolv.conf.
pub fn system_resolver() -> Result<SocketAddr, DnsError> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| DnsError::Config(format!("/etc/resolv.conf: {e}")))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| DnsError::Config("/etc/resolv.conf names no nameserver".to_string()))
}

/// A recursive resolver, asked over TCP.
pub struct Resolver {
    addr: SocketAddr,
    client: Client,
    timeout: Duration,
}

impl Resolver {
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Resolver, DnsError> {
        let (stream, sender) =
            TcpClientStream::new(addr, None, Some(timeout), TokioRuntimeProvider::new());
        let (client, bg) = Client::with_timeout(stream, sender, timeout, None)
            .await
            .map_err(|e| DnsError::Unreachable(format!("resolver {addr}: {e}")))?;
        tokio::spawn(bg);
        Ok(Resolver {
            addr,
            client,
            timeout,
        })
    }

    /// The records of `rtype` at `name`; empty for NXDOMAIN or NODATA.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        let qname = Name::from_str(name).map_err(|e| DnsError::BadName(format!("{name}: {e}")))?;
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = true;
        let q = Query::query(qname.clone(), rtype);
        crate::telemetry::count_dns_query("recursive");
        let resp =
            tokio::time::timeout(self.timeout, self.client.lookup(q, options).first_answer())
                .await
                .map_err(|_| {
                    DnsError::Unreachable(format!(
                        "resolver {} timed out on {name} {rtype}",
                        self.addr
                    ))
                })?
                .map_err(|e| DnsError::Unreachable(format!("resolver {}: {e}", self.addr)))?;
        match resp.response_code() {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(resp
                .answers()
                .iter()
                .filter(|r| r.record_type() == rtype)
                .cloned()
                .collect()),
            other => Err(DnsError::NoAnswer(format!(
                "resolver {} answered {other} for {name} {rtype}",
                self.addr
            ))),
        }
    }

    /// The addresses of a host name, IPv4 and IPv6.
    pub async fn addresses(&self, host: &str) -> Result<Vec<SocketAddr>, DnsError> {
        let mut addrs = Vec::new();
        let mut failures = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            match self.lookup(host, rtype).await {
                Ok(records) => addrs.extend(records.iter().filter_map(|r| match r.data() {
                    RData::A(a) => Some(SocketAddr::new(IpAddr::V4(a.0), 53)),
                    RData::AAAA(a) => Some(SocketAddr::new(IpAddr::V6(a.0), 53)),
                    _ => None,
                })),
                Err(e) => failures.push(e.to_string()),
            }
        }
        if addrs.is_empty() {
            let why = if failures.is_empty() {
                String::new()
            } else {
                format!(" ({})", failures.join("; "))
            };
            return Err(DnsError::NoAnswer(format!("{host} has no address{why}")));
        }
        Ok(addrs)
    }

    /// The nameservers of the zone that holds `origin`'s delegation: the closest enclosing
    /// name with an NS set.
    pub async fn parent_servers(
        &self,
        origin: &str,
    ) -> Result<(String, Vec<SocketAddr>), DnsError> {
        let mut parent = origin
            .split_once('.')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default();
        while !parent.is_empty() {
            let ns = self.lookup(&parent, RecordType::NS).await?;
            if !ns.is_empty() {
                let mut addrs = Vec::new();
                for r in &ns {
                    if let RData::NS(n) = r.data() {
                        if let Ok(a) = self.addresses(&n.0.to_ascii()).await {
                            addrs.extend(a);
                        }
                    }
                }
                if addrs.is_empty() {
                    return Err(DnsError::NoAnswer(format!(
                        "no nameserver of the parent zone {parent} has an address"
                    )));
                }
                return Ok((parent, addrs));
            }
            parent = parent
                .split_once('.')
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_default();
        }
        Err(DnsError::NoAnswer(format!(
            "no parent zone found for {origin}"
        )))
    }
}

/// The nameservers the parent zone delegates `origin` to (the set most of its servers serve,
/// IPv4 and IPv6 asked alike), with their addresses found through the resolver.
pub async fn delegated_servers(
    resolver: &Resolver,
    origin: &str,
    timeout: Duration,
) -> Result<(Vec<String>, Vec<SocketAddr>), DnsError> {
    let view = parent_delegation(resolver, origin, timeout).await?;
    let mut addrs = Vec::new();
    let mut failures = Vec::new();
    for n in &view.nameservers {
        match resolver.addresses(n.trim_end_matches('.')).await {
            Ok(a) => addrs.extend(a),
            Err(e) => failures.push(e.to_string()),
        }
    }
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(DnsError::NoAnswer(format!(
            "the nameservers the parent delegates {origin} to ({}) have no address: {}",
            view.nameservers.join(", "),
            failures.join("; ")
        )));
    }
    Ok((view.nameservers, addrs))
}

/// The delegation of `origin` as each of its parent's servers (every IPv4 and IPv6 address)
/// serves it. The view carries the set most of them serve, the largest TTL, and every server
/// that did not answer or answered another set: one server is never taken for all.
pub async fn parent_delegation(
    resolver: &Resolver,
    origin: &str,
    timeout: Duration,
) -> Result<ParentView, DnsError> {
    let (parent, addrs) = resolver.parent_servers(origin).await?;
    let mut answers: Vec<(SocketAddr, Result<Delegation, DnsError>)> = Vec::new();
    for addr in &addrs {
        let auth = Authorities::connect(&[*addr], timeout).await;
        answers.push((*addr, delegation_at(&auth, &parent, origin).await));
    }
    let mut view = tally(&parent, &answers)?;
    let auth = Authorities::connect(&addrs, timeout).await;
    let (ds, ds_ttl) = match auth.ask(origin, RecordType::DS).await {
        Ok(Answer::Authoritative(r)) => (
            r.iter().map(|r| r.data().to_string()).collect(),
            r.iter().map(Record::ttl).max().unwrap_or(0),
        ),
        Ok(_) => (Vec::new(), 0),
        Err(e) => {
            return Err(DnsError::Unreachable(format!(
                "the parent zone {parent} did not answer for DS: {e}"
            )))
        }
    };
    view.ds = ds;
    view.ds_ttl = ds_ttl;
    Ok(view)
}

/// The view the answers of a parent's servers give (without DS): the set most of them serve,
/// the largest TTL, the servers that disagree, the other sets and the servers that did not
/// answer apart.
fn tally(
    parent: &str,
    answers: &[(SocketAddr, Result<Delegation, DnsError>)],
) -> Result<ParentView, DnsError> {
    let mut sets: Vec<(Vec<String>, usize)> = Vec::new();
    for (_, a) in answers {
        if let Ok((set, _)) = a {
            match sets.iter_mut().find(|(s, _)| s == set) {
                Some(entry) => entry.1 += 1,
                None => sets.push((set.clone(), 1)),
            }
        }
    }
    let Some((nameservers, _)) = sets.iter().max_by_key(|(_, n)| *n).cloned() else {
        let why: Vec<String> = answers
            .iter()
            .filter_map(|(addr, a)| a.as_ref().err().map(|e| format!("{addr}: {e}")))
            .collect();
        return Err(DnsError::Unreachable(format!(
            "no server of the parent zone {parent} answered: {}",
            why.join("; ")
        )));
    };
    let ttl = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok().map(|(_, t)| *t))
        .max()
        .unwrap_or(0);
    // An IPv6 address none of which answers means no IPv6 path from here (a resolver without
    // one cannot use them either); once any IPv6 address answers, each one counts.
    let v6_reachable = answers.iter().any(|(addr, a)| addr.is_ipv6() && a.is_ok());
    let counted = || {
        answers
            .iter()
            .filter(|(addr, _)| v6_reachable || !addr.is_ipv6())
    };
    // A server that answered that it has no delegation disagrees, but was read: it delegates
    // to no one.
    let failed: Vec<(String, bool)> = counted()
        .filter_map(|(addr, a)| a.as_ref().err().map(|e| (addr, e)))
        .map(|(addr, e)| (format!("{addr}: {e}"), matches!(e, DnsError::NoAnswer(_))))
        .collect();
    let unanswered: Vec<String> = failed
        .iter()
        .filter(|(_, read)| !read)
        .map(|(m, _)| m.clone())
        .collect();
    let disagreement = counted()
        .filter_map(|(addr, a)| match a {
            Ok((set, _)) if *set != nameservers => Some(format!("{addr} serves {}", set.join(" "))),
            _ => None,
        })
        .chain(failed.into_iter().map(|(m, _)| m))
        .collect();
    let other_sets = sets
        .into_iter()
        .map(|(set, _)| set)
        .filter(|set| *set != nameservers)
        .collect();
    Ok(ParentView {
        nameservers,
        ttl,
        ds: Vec::new(),
        ds_ttl: 0,
        servers: answers.len(),
        disagreement,
        other_sets,
        unanswered,
    })
}

/// An NS set and its TTL, as one parent server serves it.
pub(crate) type Delegation = (Vec<String>, u32);

/// The NS set and its TTL one parent server serves for `origin`.
async fn delegation_at(
    auth: &Authorities,
    parent: &str,
    origin: &str,
) -> Result<Delegation, DnsError> {
    let records = match auth.ask(origin, RecordType::NS).await? {
        Answer::Referral(r) | Answer::Authoritative(r) if !r.is_empty() => r,
        _ => {
            return Err(DnsError::NoAnswer(format!(
                "the parent zone {parent} has no delegation for {origin}"
            )))
        }
    };
    Ok(delegation_from(&records))
}

/// The NS set (normalised, sorted, each name once) and its TTL (the lowest) in a parent's
/// answer; records of other types are ignored.
pub(crate) fn delegation_from(records: &[Record]) -> Delegation {
    let ttl = records.iter().map(Record::ttl).min().unwrap_or(0);
    let mut nameservers: Vec<String> = records
        .iter()
        .filter_map(|r| match r.data() {
            RData::NS(n) => normalize_target(&n.0.to_ascii()).ok(),
            _ => None,
        })
        .collect();
    nameservers.sort();
    nameservers.dedup();
    (nameservers, ttl)
}

/// The apex NS set that a zone's own nameservers serve, normalised and sorted.
pub async fn apex_ns(auth: &Authorities, origin: &str) -> Result<Vec<String>, DnsError> {
    match auth.ask(origin, RecordType::NS).await? {
        Answer::Authoritative(r) if !r.is_empty() => {
            let mut set: Vec<String> = r
                .iter()
                .filter_map(|r| match r.data() {
                    RData::NS(n) => normalize_target(&n.0.to_ascii()).ok(),
                    _ => None,
                })
                .collect();
            set.sort();
            set.dedup();
            Ok(set)
        }
        Answer::Authoritative(_) | Answer::NxDomain => {
            Err(DnsError::NoAnswer(format!("no NS set for {origin}")))
        }
        Answer::Referral(_) => Err(DnsError::NoAnswer(format!(
            "not authoritative for {origin}"
        ))),
    }
}

/// The apex NS TTL that a zone's own nameservers serve.
pub async fn apex_ns_ttl(auth: &Authorities, origin: &str) -> Result<u32, DnsError> {
    match auth.ask(origin, RecordType::NS).await? {
        Answer::Authoritative(r) if !r.is_empty() => {
            Ok(r.iter().map(Record::ttl).min().unwrap_or(0))
        }
        Answer::Authoritative(_) | Answer::NxDomain => Err(DnsError::NoAnswer(format!(
            "the nameservers serve no NS set for {origin}"
        ))),
        Answer::Referral(_) => Err(DnsError::NoAnswer(format!(
            "the nameservers are not authoritative for {origin}"
        ))),
    }
}

/// Whether `servers` (host names) answer authoritatively for `origin`.
pub async fn answers_for(
    resolver: &Resolver,
    servers: &[String],
    origin: &str,
    timeout: Duration,
) -> Result<(), DnsError> {
    let mut addrs = Vec::new();
    let mut failures = Vec::new();
    for s in servers {
        match resolver.addresses(s.trim_end_matches('.')).await {
            Ok(a) => addrs.extend(a),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if addrs.is_empty() {
        return Err(DnsError::Unreachable(failures.join("; ")));
    }
    let auth = Authorities::connect(&addrs, timeout).await;
    match auth.ask(origin, RecordType::SOA).await? {
        Answer::Authoritative(r) if !r.is_empty() => Ok(()),
        _ => Err(DnsError::NoAnswer(format!(
            "{} do not serve the SOA of {origin}",
            servers.join(", ")
        ))),
    }
}

/// The DNS observation port over a recursive resolver (`--resolver`, or the system's).
pub struct ResolverObserver {
    resolver: Option<SocketAddr>,
    timeout: Duration,
}

impl ResolverObserver {
    pub fn new(resolver: Option<SocketAddr>, timeout: Duration) -> Self {
        Self { resolver, timeout }
    }

    pub async fn connect(&self) -> Result<Resolver, DnsError> {
        let addr = match self.resolver {
            Some(a) => a,
            None => system_resolver()?,
        };
        Resolver::connect(addr, self.timeout).await
    }
}

#[async_trait::async_trait]
impl crate::ports::DnsObserver for ResolverObserver {
    async fn parent_delegation(&self, origin: &str) -> Result<ParentView, DnsError> {
        parent_delegation(&self.connect().await?, origin, self.timeout).await
    }

    async fn answers_for(&self, servers: &[String], origin: &str) -> Result<(), DnsError> {
        answers_for(&self.connect().await?, servers, origin, self.timeout).await
    }

    async fn addresses(&self, host: &str) -> Result<Vec<String>, DnsError> {
        let resolver = self.connect().await?;
        let addrs = resolver.addresses(host.trim_end_matches('.')).await?;
        Ok(addrs.into_iter().map(|a| a.to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("address")
    }

    /// A parent's servers: two serve one set, one another, one times out, and an IPv6 address
    /// answers too (so IPv6 counts). The majority's set is the view's; the other set and the
    /// server that did not answer are kept apart, and all three disagree.
    #[test]
    fn the_parent_view_keeps_other_sets_and_unanswered_servers_apart() {
        let old = set(&["ns1.old.example.", "ns2.old.example."]);
        let ours = set(&["ns-1.awsdns-01.org."]);
        let answers = vec![
            (addr("192.0.2.1:53"), Ok((old.clone(), 172_800))),
            (addr("[2001:db8::1]:53"), Ok((old.clone(), 3_600))),
            (addr("192.0.2.2:53"), Ok((ours.clone(), 300))),
            (
                addr("192.0.2.3:53"),
                Err(DnsError::Unreachable("timed out".into())),
            ),
        ];
        let view = tally("example.", &answers).expect("view");
        assert_eq!(view.nameservers, old);
        assert_eq!(view.ttl, 172_800);
        assert_eq!(view.servers, 4);
        assert_eq!(view.other_sets, vec![ours]);
        assert_eq!(view.unanswered, vec!["192.0.2.3:53: timed out".to_string()]);
        assert_eq!(view.disagreement.len(), 2, "{:?}", view.disagreement);
    }

    /// A server that answers it has no delegation for the domain disagrees, but was read: it
    /// is not among the servers that did not answer.
    #[test]
    fn a_server_without_the_delegation_was_read() {
        let old = set(&["ns1.old.example."]);
        let answers = vec![
            (addr("192.0.2.1:53"), Ok((old.clone(), 60))),
            (
                addr("192.0.2.2:53"),
                Err(DnsError::NoAnswer("no delegation".into())),
            ),
        ];
        let view = tally("example.", &answers).expect("view");
        assert_eq!(view.disagreement, vec!["192.0.2.2:53: no delegation"]);
        assert!(view.unanswered.is_empty(), "{:?}", view.unanswered);
    }

    /// No server answered: no view, and the error names each server's failure.
    #[test]
    fn a_parent_no_server_of_which_answers_is_unreachable() {
        let answers = vec![(
            addr("192.0.2.3:53"),
            Err(DnsError::Unreachable("timed out".into())),
        )];
        let e = tally("example.", &answers).expect_err("no view");
        assert!(e.to_string().contains("192.0.2.3:53: timed out"), "{e}");
    }

    /// Every IPv6 address failing means no IPv6 path from here: those do not disagree.
    #[test]
    fn unreachable_ipv6_alone_does_not_disagree() {
        let old = set(&["ns1.old.example."]);
        let answers = vec![
            (addr("192.0.2.1:53"), Ok((old.clone(), 60))),
            (
                addr("[2001:db8::1]:53"),
                Err(DnsError::Unreachable("network unreachable".into())),
            ),
        ];
        let view = tally("example.", &answers).expect("view");
        assert!(view.disagreement.is_empty() && view.unanswered.is_empty());
    }
}
