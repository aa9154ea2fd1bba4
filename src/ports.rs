//! The ports: what the reconcile shell needs from the outside world, as traits. The real
//! adapters (`route53`, `dns`, `source`) implement them against AWS and DNS servers; the
//! in-memory fakes of `tests/common/fakes.rs` implement them for the hermetic controller tests.

use crate::api::SourceSpec;
use crate::dns::DnsError;
use crate::plan::cutover::{OperationState, ParentView};
use crate::plan::verify::SourceView;
use crate::route53::Route53Error;
use crate::source::SourceError;
use crate::zone::{ChangeUnit, Imported, RecordMap, RecordType};
use async_trait::async_trait;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A hosted zone as zoneshift sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    /// The id without the `/hostedzone/` prefix.
    pub id: String,
    /// The zone's name, normalised (`example.com.`).
    pub name: String,
    pub nameservers: Vec<String>,
    pub caller_reference: String,
}

/// The record sets of a zone, normalised, with what the adapter that listed them needs to
/// repeat each one exactly as the provider returned it (a DELETE must match it).
#[derive(Clone, Debug, Default)]
pub struct CurrentZone {
    pub sets: RecordMap,
    pub verbatim: Verbatim,
}

/// Opaque to everything but the adapter that listed the zone.
#[derive(Clone, Default)]
pub struct Verbatim(Option<Arc<dyn Any + Send + Sync>>);

impl Verbatim {
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Self(Some(Arc::new(value)))
    }

    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_deref().and_then(|v| v.downcast_ref())
    }
}

impl std::fmt::Debug for Verbatim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verbatim")
    }
}

/// A submitted change batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedBatch {
    pub change_id: String,
    pub status: String,
    pub creates: usize,
    pub updates: usize,
    pub deletes: usize,
}

/// The Route 53 API: zones, record pages, change batches, change status.
#[async_trait]
pub trait Route53Api: Send + Sync {
    /// Finds the zone without creating it: `adopt_id` (spec) or `known_id` (status) is read
    /// and its name checked; otherwise the zone with `caller_ref` is looked for.
    async fn find_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<Option<Zone>, Route53Error>;
    /// Finds or creates the zone; the flag says whether this call created it. A zone named by
    /// id that does not exist is an error, never recreated.
    async fn ensure_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<(Zone, bool), Route53Error>;
    /// Every record set of the zone.
    async fn list_records(&self, zone_id: &str) -> Result<CurrentZone, Route53Error>;
    /// Applies `changes` in as few batches as the limits allow: the batches submitted and, if
    /// one failed, the error (the batches before it stay applied).
    async fn apply(
        &self,
        zone_id: &str,
        changes: &[ChangeUnit<'_>],
        current: &CurrentZone,
    ) -> (Vec<AppliedBatch>, Option<Route53Error>);
    /// Whether a change has reached every Route 53 nameserver.
    async fn change_in_sync(&self, change_id: &str) -> Result<bool, Route53Error>;
    /// Sets the TTL of the zone's apex NS set; whether a change was submitted.
    async fn set_apex_ns_ttl(
        &self,
        zone_id: &str,
        origin: &str,
        ttl: u32,
    ) -> Result<bool, Route53Error>;
    /// Deletes a zone; `false` when it was already gone.
    async fn delete_zone(&self, zone_id: &str) -> Result<bool, Route53Error>;
}

/// Route 53 Domains: the registrar's nameservers.
#[async_trait]
pub trait Registrar: Send + Sync {
    /// Asks for `nameservers`; the operation id.
    async fn update_nameservers(
        &self,
        domain: &str,
        nameservers: &[String],
    ) -> Result<String, Route53Error>;
    async fn operation_state(&self, operation_id: &str) -> Result<OperationState, Route53Error>;
    /// The nameservers the registrar holds.
    async fn nameservers(&self, domain: &str) -> Result<Vec<String>, Route53Error>;
}

/// The live zone as one import read it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceRead {
    pub imported: Imported,
    /// Where it came from, for the status (`AXFR from 192.0.2.1:53`).
    pub from: String,
    /// The source's nameservers as this import found them (`spec.source.nameservers`, or the
    /// parent zone's delegation), for verification and the cutover; empty when none were found.
    pub nameservers: Vec<String>,
}

/// The old provider: its zone, and its servers asked authoritatively.
#[async_trait]
pub trait Source: Send + Sync {
    /// Imports the zone `spec.source` describes, for a resource in `namespace`; `None` when
    /// the source is only asked, not imported from.
    async fn import(
        &self,
        namespace: &str,
        origin: &str,
        source: &SourceSpec,
    ) -> Result<Option<SourceRead>, SourceError>;
    /// The source's nameservers: `spec.source.nameservers`, or, when it is empty, the servers
    /// the parent zone delegates `origin` to (as `ip:port`), so zone transfers and
    /// verification work without the field.
    async fn nameservers(
        &self,
        _origin: &str,
        source: &SourceSpec,
    ) -> Result<Vec<String>, SourceError> {
        if source.nameservers.is_empty() {
            return Err(SourceError::NoNameservers(
                "spec.source.nameservers is empty".into(),
            ));
        }
        Ok(source.nameservers.clone())
    }
    /// Asks the servers every question; what each answered.
    async fn ask(
        &self,
        servers: &[String],
        questions: &[(String, RecordType)],
    ) -> BTreeMap<(String, RecordType), SourceView>;
    /// The apex NS TTL the servers serve.
    async fn apex_ns_ttl(&self, servers: &[String], origin: &str) -> Result<u32, DnsError>;
    /// Every address (`ip:port`) the servers stand for, IPv4 and IPv6.
    async fn addresses(&self, servers: &[String]) -> Result<Vec<String>, DnsError>;
    /// The apex NS set (normalised, sorted) that every address of `servers` serves, IPv4 and
    /// IPv6; an error naming the addresses that did not answer or serve another set.
    async fn apex_ns(&self, servers: &[String], origin: &str) -> Result<Vec<String>, DnsError>;
    /// Replaces the zone's apex NS set at the old provider with `nameservers` (TTL `ttl`) by
    /// an RFC 2136 update signed with the key of `spec.source.axfr.tsigSecretRef`, sent to the
    /// addresses of `servers` in turn until one accepts it; the address that did.
    async fn update_apex_ns(
        &self,
        namespace: &str,
        origin: &str,
        source: &SourceSpec,
        servers: &[String],
        nameservers: &[String],
        ttl: u32,
    ) -> Result<String, SourceError>;
}

/// DNS as a resolver sees it: the parent's delegation and whether nameservers answer.
#[async_trait]
pub trait DnsObserver: Send + Sync {
    /// The delegation of `origin` as its parent's servers serve it.
    async fn parent_delegation(&self, origin: &str) -> Result<ParentView, DnsError>;
    /// Whether `servers` (host names) answer authoritatively for `origin`.
    async fn answers_for(&self, servers: &[String], origin: &str) -> Result<(), DnsError>;
    /// The addresses (`ip:53`) of a host name, IPv4 and IPv6, as the resolver finds them.
    async fn addresses(&self, host: &str) -> Result<Vec<String>, DnsError>;
}
