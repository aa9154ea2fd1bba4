//! DNS: reading the live zone at the old provider (zone transfer, zone file), asking its
//! nameservers authoritatively, and turning what they serve into the record model.
//!
//! The adapters here (`transfer`, `query`) do I/O with hickory-dns; `import` and `verify` are
//! pure and hold the decisions.

pub mod import;
pub mod networks;
pub mod observe;
pub mod query;
pub mod transfer;
pub mod update;
pub mod verify;
pub mod zonefile;

use std::net::SocketAddr;
use std::time::Duration;

/// Why a DNS question got no usable answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Not a valid DNS name, or a server that is not an address or a host.
    #[error("{0}")]
    BadName(String),
    /// No server could be reached, or none answered in time (each one's failure is named).
    #[error("{0}")]
    Unreachable(String),
    /// Servers answered, but not with what was asked (no authority, no NS set, no address).
    #[error("{0}")]
    NoAnswer(String),
    /// The local configuration (the system's resolver) is unusable.
    #[error("{0}")]
    Config(String),
    /// A server is outside the networks the operator may send a resource's queries to
    /// (`--allowed-source-networks`); it was not asked.
    #[error("{0}")]
    NotAllowed(String),
}

/// How zoneshift talks to DNS servers.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Per query and per zone-transfer step.
    pub timeout: Duration,
    /// Queries in flight at once during verification.
    pub concurrency: usize,
    /// The recursive resolver through which the parent zone is found (default: the
    /// system's).
    pub resolver: Option<SocketAddr>,
    /// How often the parent and the old provider are asked during the cutover.
    pub probes: crate::plan::cutover::Probes,
    /// Where the old provider's servers may be (`--allowed-source-networks`); empty: anywhere.
    pub source_networks: &'static [networks::Network],
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            concurrency: 32,
            resolver: None,
            probes: crate::plan::cutover::Probes::default(),
            source_networks: &[],
        }
    }
}

/// A TSIG key, as `tsig-keygen` prints it and as a Secret holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// The base64 secret.
    pub secret: String,
}

impl TsigKey {
    /// Reads a key file in BIND's format (`key "name" { algorithm hmac-sha256; secret "..."; };`).
    pub fn from_bind_file(text: &str) -> Result<TsigKey, String> {
        let name = text
            .split("key")
            .nth(1)
            .and_then(|rest| rest.split('"').nth(1))
            .ok_or("no `key \"NAME\"` in the key file")?;
        let field = |k: &str| -> Result<String, String> {
            let at = text.find(k).ok_or(format!("no `{k}` in the key file"))?;
            let rest = &text[at + k.len()..];
            let end = rest.find(';').ok_or(format!("`{k}` has no closing `;`"))?;
            Ok(rest[..end].trim().trim_matches('"').to_string())
        };
        Ok(TsigKey {
            name: name.to_string(),
            algorithm: field("algorithm")?,
            secret: field("secret")?,
        })
    }
}

/// Resolves a nameserver given as `ip`, `ip:port`, `[v6]:port`, `host` or `host:port` into the
/// addresses to ask (port 53 by default). Host names go through the system resolver.
pub async fn resolve_server(spec: &str) -> Result<Vec<SocketAddr>, DnsError> {
    let s = spec.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, 53)]);
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<u16>().unwrap_or(53)),
        _ => (s, 53),
    };
    let host = host.trim_end_matches('.');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| DnsError::BadName(format!("cannot resolve nameserver {spec:?}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(DnsError::NoAnswer(format!(
            "nameserver {spec:?} has no address"
        )));
    }
    Ok(addrs)
}

/// [`resolve_server`] for a server of the old provider, named by a resource or found as its
/// domain's: each of its addresses must be inside `allowed` (any, when it is empty), else it is
/// not asked at all.
pub async fn resolve_source_server(
    spec: &str,
    allowed: &[networks::Network],
) -> Result<Vec<SocketAddr>, DnsError> {
    let addrs = resolve_server(spec).await?;
    match addrs.iter().find(|a| !networks::allows(allowed, a.ip())) {
        None => Ok(addrs),
        Some(a) => Err(DnsError::NotAllowed(format!(
            "nameserver {spec:?} is at {}, outside the networks this operator may query for a resource (--allowed-source-networks={}); it was not asked",
            a.ip(),
            networks::describe(allowed)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_tsig_keygen_file() {
        let k = TsigKey::from_bind_file(
            "key \"zoneshift-xfr\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0c2VjcmV0\";\n};\n",
        )
        .unwrap();
        assert_eq!(k.name, "zoneshift-xfr");
        assert_eq!(k.algorithm, "hmac-sha256");
        assert_eq!(k.secret, "c2VjcmV0c2VjcmV0");
    }

    #[tokio::test]
    async fn servers_from_addresses() {
        assert_eq!(
            resolve_server("127.0.0.1:5353").await.unwrap(),
            vec!["127.0.0.1:5353".parse().unwrap()]
        );
        assert_eq!(
            resolve_server("192.0.2.53").await.unwrap(),
            vec!["192.0.2.53:53".parse().unwrap()]
        );
        assert_eq!(
            resolve_server("[::1]:53").await.unwrap(),
            vec!["[::1]:53".parse().unwrap()]
        );
    }
}
