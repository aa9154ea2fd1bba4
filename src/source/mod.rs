//! The source adapter: the old provider's zone as `spec.source` names it (a zone file in a
//! ConfigMap, a zone transfer), and its servers asked authoritatively. Implements
//! [`ports::Source`](crate::ports::Source).
//!
//! One file per way of importing. Adding one (an API of a DNS provider, say) is a new file
//! here with a function that returns a [`SourceRead`], its spec type in `api`, and one arm in
//! [`KubeSource::import`].

pub mod axfr;
pub mod zonefile;

use crate::api::{Reason, SourceSpec};
use crate::dns::query::Authorities;
use crate::dns::{observe, resolve_server, verify, DnsError, Settings};
use crate::plan::verify::SourceView;
use crate::ports::SourceRead;
use crate::zone::RecordType;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;

/// Why the source could not be read; nothing is written to Route 53 then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// What the spec names does not exist (a ConfigMap, a key, a Secret).
    #[error("{0}")]
    NotFound(String),
    /// The zone file does not parse; the message names the line.
    #[error("{0}")]
    InvalidZoneFile(String),
    /// The spec needs nameservers and has none.
    #[error("{0}")]
    NoNameservers(String),
    /// No server gave the zone.
    #[error("{0}")]
    TransferFailed(String),
    /// The Kubernetes API (or the source) did not answer.
    #[error("{0}")]
    Unreachable(String),
    /// The domain cannot be a zone.
    #[error("{0}")]
    InvalidDomain(String),
}

impl SourceError {
    /// The condition reason this error is reported under.
    pub fn reason(&self) -> Reason {
        match self {
            SourceError::NotFound(_) => Reason::SourceNotFound,
            SourceError::InvalidZoneFile(_) => Reason::InvalidZoneFile,
            SourceError::NoNameservers(_) => Reason::NoSourceNameservers,
            SourceError::TransferFailed(_) => Reason::TransferFailed,
            SourceError::Unreachable(_) => Reason::SourceUnreachable,
            SourceError::InvalidDomain(_) => Reason::InvalidRecord,
        }
    }
}

/// The source as the operator reads it: ConfigMaps and Secrets through the Kubernetes API,
/// servers over DNS.
pub struct KubeSource {
    client: kube::Client,
    dns: Settings,
}

impl KubeSource {
    pub fn new(client: kube::Client, dns: Settings) -> Self {
        Self { client, dns }
    }
}

#[async_trait]
impl crate::ports::Source for KubeSource {
    async fn import(
        &self,
        namespace: &str,
        origin: &str,
        source: &SourceSpec,
    ) -> Result<Option<SourceRead>, SourceError> {
        if let Some(zf) = &source.zone_file {
            let read = zonefile::from_config_map(&self.client, namespace, origin, zf).await?;
            return Ok(Some(read));
        }
        if let Some(spec) = &source.axfr {
            let key = match &spec.tsig_secret_ref {
                None => None,
                Some(r) => Some(axfr::read_tsig(&self.client, namespace, &r.name).await?),
            };
            let servers = &source.nameservers;
            let read = axfr::transfer(servers, origin, key.as_ref(), self.dns.timeout).await?;
            return Ok(Some(read));
        }
        Ok(None)
    }

    async fn ask(
        &self,
        servers: &[String],
        questions: &[(String, RecordType)],
    ) -> BTreeMap<(String, RecordType), SourceView> {
        match authorities(servers, self.dns.timeout).await {
            Ok(auth) => verify::ask_source(&auth, questions, self.dns.concurrency).await,
            Err(e) => questions
                .iter()
                .map(|q| (q.clone(), SourceView::Unanswered(e.to_string())))
                .collect(),
        }
    }

    async fn apex_ns_ttl(&self, servers: &[String], origin: &str) -> Result<u32, DnsError> {
        let auth = authorities(servers, self.dns.timeout).await?;
        observe::apex_ns_ttl(&auth, origin).await
    }

    async fn addresses(&self, servers: &[String]) -> Result<Vec<String>, DnsError> {
        let mut out = Vec::new();
        for s in servers {
            out.extend(resolve_server(s).await?.into_iter().map(|a| a.to_string()));
        }
        Ok(out)
    }
}

/// Connections to the source's nameservers; the error names every one that did not resolve.
pub async fn authorities(servers: &[String], timeout: Duration) -> Result<Authorities, DnsError> {
    let mut addrs = Vec::new();
    let mut failures = Vec::new();
    for server in servers {
        match resolve_server(server).await {
            Ok(a) => addrs.extend(a),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if addrs.is_empty() {
        return Err(if failures.is_empty() {
            DnsError::BadName("spec.source.nameservers is empty".to_string())
        } else {
            DnsError::Unreachable(failures.join("; "))
        });
    }
    Ok(Authorities::connect(&addrs, timeout).await)
}
