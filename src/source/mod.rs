//! The source adapter: the old provider's zone as `spec.source` names it (a zone file in a
//! ConfigMap, a zone transfer, Cloudflare's API), its nameservers (the spec's, or the parent's
//! delegation), and its servers asked authoritatively. Implements
//! [`ports::Source`](crate::ports::Source).
//!
//! One file per way of importing. Adding one (an API of a DNS provider, say) is a new file
//! here with a function that returns a [`SourceRead`], its spec type in `api`, and one arm in
//! [`KubeSource::import`].

pub mod axfr;
pub mod cloudflare;
pub mod octodns;
pub mod zonefile;

use crate::api::{Reason, SourceSpec};
use crate::dns::networks::Network;
use crate::dns::query::Authorities;
use crate::dns::{observe, resolve_source_server, verify, DnsError, Settings};
use crate::plan::verify::SourceView;
use crate::ports::SourceRead;
use crate::zone::RecordType;
use async_trait::async_trait;
use std::collections::BTreeMap;

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
    /// The provider refused the credential the spec names (an invalid or revoked API token).
    #[error("{0}")]
    AccessDenied(String),
    /// A server of the old provider is outside `--allowed-source-networks`: never asked.
    #[error("{0}")]
    NotAllowed(String),
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
            // The provider would not give the zone: a person must fix the credential.
            SourceError::AccessDenied(_) => Reason::TransferFailed,
            SourceError::NotAllowed(_) => Reason::SourceNotAllowed,
        }
    }
}

/// The source as the operator reads it: ConfigMaps and Secrets through the Kubernetes API,
/// servers over DNS, Cloudflare over its API.
pub struct KubeSource {
    client: kube::Client,
    dns: Settings,
    cloudflare: cloudflare::CloudflareApi,
}

impl KubeSource {
    pub fn new(client: kube::Client, dns: Settings, cloudflare: cloudflare::CloudflareApi) -> Self {
        Self {
            client,
            dns,
            cloudflare,
        }
    }

    /// Imports without the nameservers.
    async fn read(
        &self,
        namespace: &str,
        origin: &str,
        source: &SourceSpec,
    ) -> Result<Option<SourceRead>, SourceError> {
        check_references(source)?;
        check_servers(&source.nameservers, self.dns.source_networks).await?;
        if let Some(zf) = &source.zone_file {
            let read = zonefile::from_config_map(&self.client, namespace, origin, zf).await?;
            return Ok(Some(read));
        }
        if let Some(spec) = &source.axfr {
            let key = match &spec.tsig_secret_ref {
                None => None,
                Some(r) => Some(axfr::read_tsig(&self.client, namespace, &r.name).await?),
            };
            let servers = crate::ports::Source::nameservers(self, origin, source).await?;
            let mut read = axfr::transfer(&servers, origin, key.as_ref(), &self.dns).await?;
            read.nameservers = servers;
            return Ok(Some(read));
        }
        if let Some(spec) = &source.cloudflare {
            let api = &self.cloudflare;
            let read = cloudflare::from_spec(&self.client, api, namespace, origin, spec).await?;
            return Ok(Some(read));
        }
        Ok(None)
    }
}

/// The objects `source` names are objects of the resource's namespace: a name that is no
/// Kubernetes object name (`../`, `/`, a path) is refused before any request, so no spec can
/// steer a read elsewhere. The CRD's schema refuses them too; this holds whatever the schema.
pub fn check_references(source: &SourceSpec) -> Result<(), SourceError> {
    let mut named: Vec<(&str, &str)> = Vec::new();
    if let Some(zf) = &source.zone_file {
        let r = &zf.config_map_key_ref;
        named.push(("spec.source.zoneFile.configMapKeyRef.name", &r.name));
        if !is_data_key(&r.key) {
            return Err(SourceError::NotFound(format!(
                "spec.source.zoneFile.configMapKeyRef.key {:?} is not a ConfigMap key (letters, digits, '-', '_', '.')",
                r.key
            )));
        }
    }
    if let Some(r) = source
        .axfr
        .as_ref()
        .and_then(|a| a.tsig_secret_ref.as_ref())
    {
        named.push(("spec.source.axfr.tsigSecretRef.name", &r.name));
    }
    if let Some(c) = &source.cloudflare {
        let r = &c.api_token_secret_ref;
        named.push(("spec.source.cloudflare.apiTokenSecretRef.name", &r.name));
        if !is_data_key(&r.key) {
            return Err(SourceError::NotFound(format!(
                "spec.source.cloudflare.apiTokenSecretRef.key {:?} is not a Secret key (letters, digits, '-', '_', '.')",
                r.key
            )));
        }
    }
    match named.into_iter().find(|(_, n)| !is_object_name(n)) {
        Some((field, name)) => Err(SourceError::NotFound(format!(
            "{field} {name:?} is not the name of an object in this namespace (lowercase letters, digits, '-' and '.')"
        ))),
        None => Ok(()),
    }
}

/// A DNS-1123 subdomain, what Kubernetes names ConfigMaps and Secrets with.
pub fn is_object_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A key of a ConfigMap's or Secret's data.
fn is_data_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k != "."
        && k != ".."
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The nameservers the parent zone delegates `origin` to, as `ip:port`, asked through
/// `--resolver` (or the system's resolver).
pub async fn delegated_nameservers(dns: &Settings, origin: &str) -> Result<Vec<String>, String> {
    let observer = observe::ResolverObserver::new(dns.resolver, dns.timeout);
    let resolver = observer.connect().await.map_err(|e| e.to_string())?;
    let (_, addrs) = observe::delegated_servers(&resolver, origin, dns.timeout)
        .await
        .map_err(|e| e.to_string())?;
    Ok(addrs.iter().map(ToString::to_string).collect())
}

/// A value from a Secret's `data` (or `stringData`), trimmed; `field` names the spec field
/// that points at it in every message.
pub async fn secret_value(
    client: &kube::Client,
    ns: &str,
    name: &str,
    key: &str,
    field: &str,
) -> Result<String, SourceError> {
    use k8s_openapi::api::core::v1::Secret;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), ns);
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|e| SourceError::Unreachable(format!("reading Secret {ns}/{name}: {e}")))?
        .ok_or_else(|| {
            SourceError::NotFound(format!("{field}: Secret {ns}/{name} does not exist"))
        })?;
    let from_data = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).trim().to_string());
    let from_string = secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned();
    from_data.or(from_string).ok_or_else(|| {
        SourceError::NotFound(format!("{field}: Secret {ns}/{name} has no key {key:?}"))
    })
}

#[async_trait]
impl crate::ports::Source for KubeSource {
    async fn import(
        &self,
        namespace: &str,
        origin: &str,
        source: &SourceSpec,
    ) -> Result<Option<SourceRead>, SourceError> {
        let Some(mut read) = self.read(namespace, origin, source).await? else {
            return Ok(None);
        };
        if read.nameservers.is_empty() {
            // For verification; an import does not fail for want of them. One outside
            // --allowed-source-networks is not asked: verification reports it unanswered,
            // with why. (Not refused here: once the registrar's change reaches the parent,
            // the delegation names Route 53's servers, and the import must go on.)
            read.nameservers = self.nameservers(origin, source).await.unwrap_or_default();
        }
        Ok(Some(read))
    }

    async fn nameservers(
        &self,
        origin: &str,
        source: &SourceSpec,
    ) -> Result<Vec<String>, SourceError> {
        if !source.nameservers.is_empty() {
            return Ok(source.nameservers.clone());
        }
        delegated_nameservers(&self.dns, origin).await.map_err(|e| {
            SourceError::NoNameservers(format!(
                "spec.source.nameservers is empty and the parent zone's delegation of {origin} could not be read: {e}"
            ))
        })
    }

    async fn ask(
        &self,
        servers: &[String],
        questions: &[(String, RecordType)],
    ) -> BTreeMap<(String, RecordType), SourceView> {
        match authorities(servers, &self.dns).await {
            Ok(auth) => verify::ask_source(&auth, questions, self.dns.concurrency).await,
            Err(e) => questions
                .iter()
                .map(|q| (q.clone(), SourceView::Unanswered(e.to_string())))
                .collect(),
        }
    }

    async fn apex_ns_ttl(&self, servers: &[String], origin: &str) -> Result<u32, DnsError> {
        let auth = authorities(servers, &self.dns).await?;
        observe::apex_ns_ttl(&auth, origin).await
    }

    async fn addresses(&self, servers: &[String]) -> Result<Vec<String>, DnsError> {
        let mut out = Vec::new();
        for s in servers {
            out.extend(
                resolve_source_server(s, self.dns.source_networks)
                    .await?
                    .into_iter()
                    .map(|a| a.to_string()),
            );
        }
        Ok(out)
    }

    async fn apex_ns(&self, servers: &[String], origin: &str) -> Result<Vec<String>, DnsError> {
        let mut sets: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        let mut failures = Vec::new();
        for server in servers {
            for addr in resolve_source_server(server, self.dns.source_networks).await? {
                let auth = crate::dns::query::Authorities::connect(&[addr], self.dns.timeout).await;
                match observe::apex_ns(&auth, origin).await {
                    Ok(set) => sets.entry(set).or_default().push(addr.to_string()),
                    Err(e) => failures.push(format!("{addr}: {e}")),
                }
            }
        }
        match (sets.len(), failures.is_empty()) {
            (1, true) => Ok(sets.into_keys().next().unwrap_or_default()),
            (0, _) | (1, false) => Err(DnsError::Unreachable(failures.join("; "))),
            _ => Err(DnsError::NoAnswer(format!(
                "the old provider's servers serve different apex NS sets: {}",
                sets.iter()
                    .map(|(set, addrs)| format!("{} serve {}", addrs.join(", "), set.join(" ")))
                    .chain(failures)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))),
        }
    }

    async fn update_apex_ns(
        &self,
        namespace: &str,
        origin: &str,
        source: &SourceSpec,
        servers: &[String],
        nameservers: &[String],
        ttl: u32,
    ) -> Result<String, SourceError> {
        let field = "spec.cutover.oldProviderNameservers";
        let key_ref = source
            .axfr
            .as_ref()
            .and_then(|a| a.tsig_secret_ref.as_ref())
            .ok_or_else(|| {
                SourceError::NotFound(format!(
                    "{field}: Update needs spec.source.axfr.tsigSecretRef, the key the old provider accepts updates with"
                ))
            })?;
        let key = axfr::read_tsig(&self.client, namespace, &key_ref.name).await?;
        // What the servers serve now goes, value by value (a server never drops a whole apex
        // NS set by type).
        let current = self.apex_ns(servers, origin).await.unwrap_or_default();
        let message = crate::dns::update::replace_apex_ns(origin, &current, nameservers, ttl)
            .map_err(|e| SourceError::InvalidDomain(format!("{field}: {e}")))?;
        let mut failures = Vec::new();
        for server in servers {
            let addrs = match resolve_source_server(server, self.dns.source_networks).await {
                Ok(a) => a,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            for addr in addrs {
                match crate::dns::update::send(addr, message.clone(), &key, self.dns.timeout).await
                {
                    Ok(()) => return Ok(addr.to_string()),
                    Err(e) => failures.push(e),
                }
            }
        }
        Err(SourceError::TransferFailed(format!(
            "no server of the old provider accepted the update of the apex NS set: {}",
            failures.join("; ")
        )))
    }
}

/// Connections to the source's nameservers; the error names every one that did not resolve
/// or may not be asked.
pub async fn authorities(servers: &[String], dns: &Settings) -> Result<Authorities, DnsError> {
    let mut addrs = Vec::new();
    let mut failures = Vec::new();
    for server in servers {
        match resolve_source_server(server, dns.source_networks).await {
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
    Ok(Authorities::connect(&addrs, dns.timeout).await)
}

/// Refuses, before anything is asked, a server of `spec.source.nameservers` outside
/// `--allowed-source-networks`, naming it by its index. Servers that do not resolve are left to
/// the reads that use them, which report them as they always have.
async fn check_servers(servers: &[String], allowed: &[Network]) -> Result<(), SourceError> {
    if allowed.is_empty() {
        return Ok(());
    }
    for (i, server) in servers.iter().enumerate() {
        if let Err(DnsError::NotAllowed(why)) = resolve_source_server(server, allowed).await {
            return Err(SourceError::NotAllowed(format!(
                "spec.source.nameservers[{i}]: {why}"
            )));
        }
    }
    Ok(())
}
