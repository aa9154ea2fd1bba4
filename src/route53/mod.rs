//! The Route 53 adapter: ensure a zone, list its records, apply changes in batches, follow a
//! change to `INSYNC`. It holds no phase logic.
//!
//! Every request passes one process-wide rate limiter (Route 53's request budget is shared by
//! the whole account) and is retried with exponential backoff and jitter on throttling,
//! `PriorRequestNotComplete`, 5xx and transport errors. The SDK's own retries are turned off
//! so that each attempt is counted against the budget.

pub mod batch;
mod budget;
pub mod convert;
pub mod domains;
pub mod error;

pub(crate) use budget::Budget;
pub use budget::{CallStats, RetryPolicy, WRITE_OPERATIONS};
pub use domains::Route53Domains;
pub use error::Route53Error;

use crate::ports::{AppliedBatch, CurrentZone, Zone};
use crate::zone::{ChangeUnit, RecordKey, RecordSet};
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{
    ChangeAction, ChangeBatch, HostedZone, HostedZoneConfig, ResourceRecordSet,
};
use aws_sdk_route53::Client;
use batch::{pack, Cost, ROUTE53_LIMITS};
use std::collections::HashMap;

/// Record sets exactly as Route 53 returned them, kept in [`CurrentZone::verbatim`].
type RawSets = HashMap<RecordKey, ResourceRecordSet>;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

type Result<T, E = Route53Error> = std::result::Result<T, E>;

/// The caller reference for a resource: derived from its uid, so a retried create never makes a
/// second zone.
pub fn caller_reference(uid: &str) -> String {
    format!("zoneshift-{uid}")
}

/// A Route 53 client behind the process-wide rate limiter and retry policy.
#[derive(Clone)]
pub struct Route53 {
    client: Client,
    /// The configuration the client was made from: for Route 53 Domains and assumed roles.
    base: Option<aws_config::SdkConfig>,
    budget: Budget,
    rps: u32,
    pub stats: Arc<CallStats>,
}

impl std::fmt::Debug for Route53 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53")
            .field("retry", &self.budget.retry)
            .finish()
    }
}

impl Route53 {
    /// A client from the normal AWS credential chain; `endpoint` points it at a stand-in.
    pub async fn from_env(endpoint: Option<&str>, rps: u32, retry: RetryPolicy) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .connect_timeout(Duration::from_secs(5))
                    .build(),
            );
        if let Some(ep) = endpoint {
            loader = loader.endpoint_url(ep);
        }
        let mut cfg = loader.load().await;
        if cfg.region().is_none() {
            // Route 53 is global; its API lives in us-east-1.
            cfg = cfg
                .into_builder()
                .region(aws_config::Region::new("us-east-1"))
                .build();
        }
        let mut r = Self::new(Client::new(&cfg), rps, retry);
        r.base = Some(cfg);
        r
    }

    /// Route 53 Domains with the same credentials, under the same request budget; `None` for
    /// an adapter built from a bare client.
    pub fn domains(&self) -> Option<Route53Domains> {
        let base = self.base.as_ref()?;
        Some(Route53Domains::new(base, self.budget.clone()))
    }

    /// The same adapter acting as `role_arn`, assumed through STS with the operator's own
    /// credentials (refreshed before they expire). The request budget and counts are shared:
    /// the budget is the process's, whatever the account.
    pub async fn assuming(&self, role_arn: &str, session: &str) -> Result<Route53> {
        let base = self.base.as_ref().ok_or_else(|| {
            Route53Error::NotConfigured("no AWS configuration to assume a role from".into())
        })?;
        let session: String = session
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(*c))
            .take(64)
            .collect();
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session)
            .configure(base)
            .build()
            .await;
        let cfg = base
            .clone()
            .into_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        // Fail here, not in the middle of a sync, when the role cannot be assumed.
        use aws_credential_types::provider::ProvideCredentials;
        if let Some(p) = cfg.credentials_provider() {
            p.provide_credentials()
                .await
                .map_err(|e| Route53Error::Api {
                    operation: "AssumeRole",
                    code: "CredentialsError".into(),
                    message: e.to_string(),
                })?;
        }
        Ok(Route53 {
            client: Client::new(&cfg),
            base: Some(cfg),
            budget: self.budget.clone(),
            rps: self.rps,
            stats: self.stats.clone(),
        })
    }

    /// Exports the request counts to Prometheus from now on (every clone shares them; the
    /// first registry set stays).
    pub fn export_to(&self, metrics: &crate::telemetry::Metrics) {
        self.stats.export_to(metrics);
    }

    /// The same adapter with a budget that lets `burst` requests through at once (a fresh
    /// budget: call it before the adapter is shared).
    pub fn with_burst(mut self, burst: u32) -> Self {
        let rps = self.rps;
        self.budget = Budget::new(rps, burst, self.budget.retry, self.stats.clone());
        self
    }

    /// Wraps an existing client (tests build one from mocks).
    pub fn new(client: Client, rps: u32, retry: RetryPolicy) -> Self {
        let stats = Arc::new(CallStats::default());
        Self {
            client,
            base: None,
            budget: Budget::new(rps, 1, retry, stats.clone()),
            rps,
            stats,
        }
    }

    async fn call<T, E, Fut>(
        &self,
        operation: &'static str,
        request: impl FnMut() -> Fut,
    ) -> Result<T>
    where
        Fut: Future<
            Output = std::result::Result<T, SdkError<E, aws_smithy_runtime_api::http::Response>>,
        >,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.budget.call(operation, request).await
    }

    /// Finds the zone without creating it: `adopt_id` (from spec) or `known_id` (from status)
    /// is read and its name checked; otherwise the zone this resource created is found by its
    /// caller reference. `None` when there is none.
    pub async fn find_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<Option<Zone>> {
        if let Some(id) = adopt_id.or(known_id) {
            let Some(zone) = self.get_zone(id).await? else {
                return Ok(None);
            };
            if zone.name != origin {
                return Err(Route53Error::ZoneConflict(format!(
                    "hosted zone {id} is named {}, not {origin}",
                    zone.name
                )));
            }
            return Ok(Some(zone));
        }
        self.find_own_zone(origin, caller_ref).await
    }

    /// Finds or creates the zone (see [`Route53::find_zone`]). A zone named by id that does not
    /// exist is an error: it is never silently recreated, since its nameservers would change.
    /// The flag says whether this call created the zone.
    pub async fn ensure_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<(Zone, bool)> {
        if let Some(zone) = self
            .find_zone(origin, caller_ref, adopt_id, known_id)
            .await?
        {
            return Ok((zone, false));
        }
        if let Some(id) = adopt_id.or(known_id) {
            return Err(Route53Error::ZoneConflict(format!(
                "hosted zone {id} does not exist; zoneshift does not recreate a zone it has lost, since its nameservers would change. Restore it, or set spec.hostedZone.id to another zone."
            )));
        }
        let req = self
            .client
            .create_hosted_zone()
            .name(origin)
            .caller_reference(caller_ref)
            .hosted_zone_config(
                HostedZoneConfig::builder()
                    .comment("managed by zoneshift")
                    .private_zone(false)
                    .build(),
            );
        match self.call("CreateHostedZone", || req.clone().send()).await {
            Ok(out) => {
                let hz = out.hosted_zone().ok_or_else(|| Route53Error::Api {
                    operation: "CreateHostedZone",
                    code: "EmptyResponse".into(),
                    message: "no hosted zone in the answer".into(),
                })?;
                let nameservers = out
                    .delegation_set()
                    .map(|d| d.name_servers().to_vec())
                    .unwrap_or_default();
                Ok((zone_from(hz, nameservers), true))
            }
            // A create that succeeded but whose answer was lost: the caller reference finds it.
            Err(e) if e.code() == Some("HostedZoneAlreadyExists") => {
                let zone = self.find_own_zone(origin, caller_ref).await?.ok_or_else(|| {
                    Route53Error::ZoneConflict(format!("Route 53 says a zone with caller reference {caller_ref} exists, but none is listed for {origin}"))
                })?;
                Ok((zone, false))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads a zone and its delegation set; `None` when it does not exist.
    pub async fn get_zone(&self, id: &str) -> Result<Option<Zone>> {
        let id = id.trim_start_matches("/hostedzone/");
        let req = self.client.get_hosted_zone().id(id);
        match self.call("GetHostedZone", || req.clone().send()).await {
            Ok(out) => {
                let Some(hz) = out.hosted_zone() else {
                    return Ok(None);
                };
                let ns = out
                    .delegation_set()
                    .map(|d| d.name_servers().to_vec())
                    .unwrap_or_default();
                Ok(Some(zone_from(hz, ns)))
            }
            Err(e) if e.code() == Some("NoSuchHostedZone") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every zone named `origin`, read only.
    pub async fn zones_named(&self, origin: &str) -> Result<Vec<Zone>> {
        let mut found = Vec::new();
        let req = self
            .client
            .list_hosted_zones_by_name()
            .dns_name(origin)
            .max_items(100);
        let out = self
            .call("ListHostedZonesByName", || req.clone().send())
            .await?;
        for hz in out.hosted_zones() {
            if crate::zone::normalize_target(hz.name()).unwrap_or_default() == origin {
                if let Some(z) = self.get_zone(hz.id()).await? {
                    found.push(z);
                }
            }
        }
        Ok(found)
    }

    /// The zone named `origin` whose caller reference is `caller_ref`.
    async fn find_own_zone(&self, origin: &str, caller_ref: &str) -> Result<Option<Zone>> {
        let mut next: Option<(String, Option<String>)> = None;
        loop {
            let mut req = self
                .client
                .list_hosted_zones_by_name()
                .dns_name(origin)
                .max_items(100);
            if let Some((name, id)) = &next {
                req = req.dns_name(name).set_hosted_zone_id(id.clone());
            }
            let out = self
                .call("ListHostedZonesByName", || req.clone().send())
                .await?;
            for hz in out.hosted_zones() {
                let name = crate::zone::normalize_target(hz.name()).unwrap_or_default();
                if name == origin && hz.caller_reference() == caller_ref {
                    return self.get_zone(hz.id()).await;
                }
                if name != origin {
                    // Zones are sorted by name: past ours, there is nothing more to find.
                    return Ok(None);
                }
            }
            match (out.is_truncated(), out.next_dns_name()) {
                (true, Some(n)) => {
                    next = Some((n.to_string(), out.next_hosted_zone_id().map(str::to_string)))
                }
                _ => return Ok(None),
            }
        }
    }

    /// Lists every record set of the zone, page by page.
    pub async fn list_records(&self, zone_id: &str) -> Result<CurrentZone> {
        let mut current = CurrentZone::default();
        let mut raw = RawSets::new();
        let mut start: Option<(String, aws_sdk_route53::types::RrType, Option<String>)> = None;
        loop {
            let mut req = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .max_items(300);
            if let Some((name, rtype, id)) = &start {
                req = req
                    .start_record_name(name)
                    .start_record_type(rtype.clone())
                    .set_start_record_identifier(id.clone());
            }
            let out = self
                .call("ListResourceRecordSets", || req.clone().send())
                .await?;
            for rr in out.resource_record_sets() {
                if rr.resource_records().is_empty() && rr.alias_target().is_none() {
                    return Err(Route53Error::ImpossibleAnswer(format!(
                        "Route 53 listed the record set {} {} of hosted zone {zone_id} with neither values nor an alias target, which no record set has: its answer was misread (an endpoint or client that does not speak Route 53's XML?), so nothing is changed",
                        rr.name(),
                        rr.r#type().as_str()
                    )));
                }
                if let Some(set) = convert::from_sdk(rr) {
                    raw.insert(set.key.clone(), rr.clone());
                    current.sets.insert(set.key.clone(), set);
                }
            }
            match (
                out.is_truncated(),
                out.next_record_name(),
                out.next_record_type(),
            ) {
                (true, Some(n), Some(t)) => {
                    start = Some((
                        n.to_string(),
                        t.clone(),
                        out.next_record_identifier().map(str::to_string),
                    ))
                }
                _ => {
                    current.verbatim = crate::ports::Verbatim::new(raw);
                    return Ok(current);
                }
            }
        }
    }

    /// Applies `changes` in as few batches as the limits allow. Returns the batches that were
    /// submitted and, if one failed, the error (the batches before it stay applied).
    pub async fn apply(
        &self,
        zone_id: &str,
        changes: &[ChangeUnit<'_>],
        current: &CurrentZone,
    ) -> (Vec<AppliedBatch>, Option<Route53Error>) {
        let batches = match build_batches(changes, current) {
            Ok(b) => b,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut applied = Vec::new();
        for (i, batch) in batches.into_iter().enumerate() {
            let (mut creates, mut updates, mut deletes) = (0, 0, 0);
            for c in &batch {
                match c.action {
                    ChangeAction::Create => creates += 1,
                    ChangeAction::Upsert => updates += 1,
                    _ => deletes += 1,
                }
            }
            // Converted batch by batch: a zone's worth of SDK record sets is never held at
            // once (at 50,000 creates it was the largest allocation of a first sync).
            let sdk = match batch.iter().map(|p| p.change(current)).collect() {
                Ok(sdk) => sdk,
                Err(e) => return (applied, Some(e)),
            };
            let change_batch = match ChangeBatch::builder()
                .set_changes(Some(sdk))
                .comment(format!("zoneshift batch {}", i + 1))
                .build()
            {
                Ok(b) => b,
                Err(e) => return (applied, Some(invalid(e.to_string()))),
            };
            let req = self
                .client
                .change_resource_record_sets()
                .hosted_zone_id(zone_id)
                .change_batch(change_batch);
            match self
                .call("ChangeResourceRecordSets", || req.clone().send())
                .await
            {
                Ok(out) => {
                    let info = out.change_info();
                    applied.push(AppliedBatch {
                        change_id: info
                            .map(|c| c.id().trim_start_matches("/change/").to_string())
                            .unwrap_or_default(),
                        status: info
                            .map(|c| c.status().as_str().to_string())
                            .unwrap_or_default(),
                        creates,
                        updates,
                        deletes,
                    });
                }
                // The batch may have met a zone that moved under it (a retry of a batch that
                // was applied though its answer was lost): the caller lists the zone again.
                Err(e) => return (applied, Some(e.zone_moved())),
            }
        }
        (applied, None)
    }

    /// Whether a change has reached every Route 53 nameserver.
    pub async fn change_in_sync(&self, id: &str) -> Result<bool> {
        let req = self.client.get_change().id(id);
        let out = self.call("GetChange", || req.clone().send()).await?;
        let in_sync = out
            .change_info()
            .map(|c| *c.status() == aws_sdk_route53::types::ChangeStatus::Insync)
            .unwrap_or(false);
        Ok(in_sync)
    }

    /// Sets the TTL of the zone's apex NS set, keeping its values (the cutover lowers it before
    /// the switch and raises it after). Returns whether a change was submitted.
    pub async fn set_apex_ns_ttl(&self, zone_id: &str, origin: &str, ttl: u32) -> Result<bool> {
        let req = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .start_record_name(origin)
            .start_record_type(aws_sdk_route53::types::RrType::Ns)
            .max_items(1);
        let out = self
            .call("ListResourceRecordSets", || req.clone().send())
            .await?;
        let Some(ns) = out.resource_record_sets().first().filter(|r| {
            *r.r#type() == aws_sdk_route53::types::RrType::Ns
                && crate::zone::normalize_target(r.name()).ok().as_deref() == Some(origin)
        }) else {
            return Err(Route53Error::ZoneConflict(format!(
                "hosted zone {zone_id} has no apex NS set"
            )));
        };
        if ns.ttl() == Some(i64::from(ttl)) {
            return Ok(false);
        }
        let mut updated = ns.clone();
        updated.ttl = Some(i64::from(ttl));
        let change = convert::change(ChangeAction::Upsert, updated).map_err(invalid)?;
        let batch = ChangeBatch::builder()
            .changes(change)
            .comment(format!("zoneshift: apex NS TTL {ttl}"))
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let req = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch);
        self.call("ChangeResourceRecordSets", || req.clone().send())
            .await?;
        Ok(true)
    }

    /// Deletes a zone. `Ok(false)` when it was already gone.
    pub async fn delete_zone(&self, id: &str) -> Result<bool> {
        let req = self.client.delete_hosted_zone().id(id);
        match self.call("DeleteHostedZone", || req.clone().send()).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchHostedZone") => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// One SDK change of a batch, converted when its batch is sent; its cost was measured on the
/// same conversion when the batches were packed.
struct Planned<'a> {
    action: ChangeAction,
    set: &'a RecordSet,
    /// A DELETE repeats the record set exactly as Route 53 returned it.
    verbatim: bool,
    cost: Cost,
}

impl<'a> Planned<'a> {
    fn new(
        action: ChangeAction,
        set: &'a RecordSet,
        verbatim: bool,
        current: &CurrentZone,
    ) -> Result<Planned<'a>> {
        let mut p = Planned {
            action,
            set,
            verbatim,
            cost: Cost::default(),
        };
        p.cost = convert::change_cost(&p.change(current)?);
        Ok(p)
    }

    fn change(&self, current: &CurrentZone) -> Result<aws_sdk_route53::types::Change> {
        let raw = match self.verbatim {
            true => current
                .verbatim
                .get::<RawSets>()
                .and_then(|r| r.get(&self.set.key))
                .cloned(),
            false => None,
        };
        let rr = match raw {
            Some(raw) => raw,
            None => convert::to_sdk(self.set).map_err(invalid)?,
        };
        convert::change(self.action.clone(), rr).map_err(invalid)
    }
}

/// Packs change units into batches of SDK changes to come (see [`Planned`]).
fn build_batches<'a>(
    changes: &[ChangeUnit<'a>],
    current: &'a CurrentZone,
) -> Result<Vec<Vec<Planned<'a>>>> {
    let plan =
        |a: ChangeAction, s: &'a RecordSet, verbatim: bool| Planned::new(a, s, verbatim, current);
    let mut units = Vec::with_capacity(changes.len());
    for c in changes {
        units.push(match c {
            ChangeUnit::Create(s) => vec![plan(ChangeAction::Create, s, false)?],
            ChangeUnit::Update { desired: d, .. } => vec![plan(ChangeAction::Upsert, d, false)?],
            ChangeUnit::Replace {
                current: cur,
                desired: d,
            } => vec![
                plan(ChangeAction::Delete, cur, true)?,
                plan(ChangeAction::Create, d, false)?,
            ],
            ChangeUnit::Delete(s) => vec![plan(ChangeAction::Delete, s, true)?],
        });
    }
    pack(
        units,
        |p| p.cost,
        |u| {
            u.first()
                .map(|p| format!("{} {}", p.set.key.name, p.set.key.rtype))
                .unwrap_or_default()
        },
        ROUTE53_LIMITS,
    )
    .map_err(|e| Route53Error::InvalidChange(e.to_string()))
}

fn invalid(msg: impl Into<String>) -> Route53Error {
    Route53Error::InvalidChange(msg.into())
}

fn zone_from(hz: &HostedZone, nameservers: Vec<String>) -> Zone {
    Zone {
        id: hz.id().trim_start_matches("/hostedzone/").to_string(),
        name: crate::zone::normalize_target(hz.name()).unwrap_or_else(|_| hz.name().to_string()),
        nameservers,
        caller_reference: hz.caller_reference().to_string(),
    }
}

#[async_trait::async_trait]
impl crate::ports::Route53Api for Route53 {
    async fn find_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<Option<Zone>> {
        Route53::find_zone(self, origin, caller_ref, adopt_id, known_id).await
    }

    async fn ensure_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<(Zone, bool)> {
        Route53::ensure_zone(self, origin, caller_ref, adopt_id, known_id).await
    }

    async fn list_records(&self, zone_id: &str) -> Result<CurrentZone> {
        Route53::list_records(self, zone_id).await
    }

    async fn apply(
        &self,
        zone_id: &str,
        changes: &[ChangeUnit<'_>],
        current: &CurrentZone,
    ) -> (Vec<AppliedBatch>, Option<Route53Error>) {
        Route53::apply(self, zone_id, changes, current).await
    }

    async fn change_in_sync(&self, change_id: &str) -> Result<bool> {
        Route53::change_in_sync(self, change_id).await
    }

    async fn set_apex_ns_ttl(&self, zone_id: &str, origin: &str, ttl: u32) -> Result<bool> {
        Route53::set_apex_ns_ttl(self, zone_id, origin, ttl).await
    }

    async fn delete_zone(&self, zone_id: &str) -> Result<bool> {
        Route53::delete_zone(self, zone_id).await
    }
}
