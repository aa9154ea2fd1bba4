//! In-memory fakes of zoneshift's ports, for the hermetic controller tests: the controller's
//! state machine driven step by step with a test clock, in milliseconds. They model what the
//! controller relies on (a CREATE of an existing set fails, a DELETE must match, a change is
//! PENDING until asked about, the apex SOA and NS come with a zone) and nothing more; the
//! real adapters are tested against moto and the DNS world.

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use zoneshift::dns::DnsError;
use zoneshift::plan::cutover::{OperationState, ParentView};
use zoneshift::plan::verify::SourceView;
use zoneshift::ports::{
    AppliedBatch, CurrentZone, DnsObserver, Registrar, Route53Api, Source, SourceRead, Zone,
};
use zoneshift::route53::Route53Error;
use zoneshift::source::SourceError;
use zoneshift::zone::{ChangeUnit, Imported, RecordKey, RecordMap, RecordSet, RecordType, Routing};

pub const ROUTE53_NS: [&str; 4] = [
    "ns-1.awsdns-01.org.",
    "ns-2.awsdns-02.co.uk.",
    "ns-3.awsdns-03.com.",
    "ns-4.awsdns-04.net.",
];

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The error the real adapter returns once its retries are spent: `Unavailable` for what its
/// budget retries (throttling, 5xx), `Api` for a refusal.
fn api_error(operation: &'static str, code: &str) -> Route53Error {
    let message = format!("{code} (injected by the fake)");
    let code = code.to_string();
    match code.as_str() {
        "Throttling" | "PriorRequestNotComplete" | "ServiceUnavailable" | "InternalFailure" => {
            Route53Error::Unavailable {
                operation,
                code,
                message,
            }
        }
        _ => Route53Error::Api {
            operation,
            code,
            message,
        },
    }
}

#[derive(Default)]
pub struct Route53State {
    pub zones: BTreeMap<String, (Zone, RecordMap)>,
    /// Change id -> times asked before it is INSYNC.
    pub pending: HashMap<String, u32>,
    /// Write requests, by operation.
    pub writes: BTreeMap<&'static str, u32>,
    /// The next N requests of an operation fail with this AWS code.
    pub fail_next: HashMap<&'static str, (u32, String)>,
    next_id: u32,
    /// How many GetChange calls a change stays PENDING (0: INSYNC at once).
    pub pending_polls: u32,
    /// When set, zone lookups wait for it: a request budget that has no room yet.
    pub hold: Option<Arc<tokio::sync::Semaphore>>,
    /// Lists only the first value of each record set, as an endpoint that wraps values in
    /// XML its reader drops (CDATA) would: what was written never reads back.
    pub drops_values_on_read: bool,
}

/// Route 53 in memory.
#[derive(Clone, Default)]
pub struct FakeRoute53(pub Arc<Mutex<Route53State>>);

impl FakeRoute53 {
    pub fn writes(&self) -> u32 {
        lock(&self.0).writes.values().sum()
    }

    pub fn records(&self, zone_id: &str) -> RecordMap {
        lock(&self.0)
            .zones
            .get(zone_id)
            .map(|z| z.1.clone())
            .unwrap_or_default()
    }

    fn injected(&self, op: &'static str) -> Option<Route53Error> {
        let mut s = lock(&self.0);
        let (n, code) = s.fail_next.get_mut(op)?;
        if *n == 0 {
            return None;
        }
        *n -= 1;
        Some(api_error(op, &code.clone()))
    }

    fn write(&self, op: &'static str) {
        *lock(&self.0).writes.entry(op).or_default() += 1;
    }
}

fn ns_set(origin: &str, ttl: u32) -> RecordSet {
    RecordSet {
        key: RecordKey::new(origin, RecordType::Ns, None),
        ttl: Some(ttl),
        values: ROUTE53_NS.iter().map(|s| s.to_string()).collect(),
        alias: None,
        routing: Routing::default(),
    }
}

#[async_trait]
impl Route53Api for FakeRoute53 {
    async fn find_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<Option<Zone>, Route53Error> {
        let s = lock(&self.0);
        if let Some(id) = adopt_id.or(known_id) {
            return match s.zones.get(id) {
                Some((z, _)) if z.name != origin => Err(Route53Error::ZoneConflict(format!(
                    "hosted zone {id} is named {}, not {origin}",
                    z.name
                ))),
                Some((z, _)) => Ok(Some(z.clone())),
                None => Ok(None),
            };
        }
        Ok(s.zones
            .values()
            .find(|(z, _)| z.name == origin && z.caller_reference == caller_ref)
            .map(|(z, _)| z.clone()))
    }

    async fn ensure_zone(
        &self,
        origin: &str,
        caller_ref: &str,
        adopt_id: Option<&str>,
        known_id: Option<&str>,
    ) -> Result<(Zone, bool), Route53Error> {
        let hold = lock(&self.0).hold.clone();
        if let Some(h) = hold {
            let _ = h.acquire().await;
        }
        if let Some(z) = self
            .find_zone(origin, caller_ref, adopt_id, known_id)
            .await?
        {
            return Ok((z, false));
        }
        if let Some(id) = adopt_id.or(known_id) {
            return Err(Route53Error::ZoneConflict(format!(
                "hosted zone {id} does not exist"
            )));
        }
        if let Some(e) = self.injected("CreateHostedZone") {
            return Err(e);
        }
        self.write("CreateHostedZone");
        let mut s = lock(&self.0);
        s.next_id += 1;
        let zone = Zone {
            id: format!("ZFAKE{}", s.next_id),
            name: origin.to_string(),
            nameservers: ROUTE53_NS
                .iter()
                .map(|n| n.trim_end_matches('.').to_string())
                .collect(),
            caller_reference: caller_ref.to_string(),
        };
        let mut sets = RecordMap::new();
        let ns = ns_set(origin, 172_800);
        sets.insert(ns.key.clone(), ns);
        s.zones.insert(zone.id.clone(), (zone.clone(), sets));
        Ok((zone, true))
    }

    async fn list_records(&self, zone_id: &str) -> Result<CurrentZone, Route53Error> {
        if let Some(e) = self.injected("ListResourceRecordSets") {
            return Err(e);
        }
        let s = lock(&self.0);
        let (_, sets) = s
            .zones
            .get(zone_id)
            .ok_or_else(|| api_error("ListResourceRecordSets", "NoSuchHostedZone"))?;
        let mut sets = sets.clone();
        if s.drops_values_on_read {
            for set in sets.values_mut() {
                set.values.truncate(1);
            }
        }
        Ok(CurrentZone {
            sets,
            ..Default::default()
        })
    }

    async fn apply(
        &self,
        zone_id: &str,
        changes: &[ChangeUnit<'_>],
        _current: &CurrentZone,
    ) -> (Vec<AppliedBatch>, Option<Route53Error>) {
        if changes.is_empty() {
            return (Vec::new(), None);
        }
        if let Some(e) = self.injected("ChangeResourceRecordSets") {
            return (Vec::new(), Some(e));
        }
        self.write("ChangeResourceRecordSets");
        let mut s = lock(&self.0);
        let Some((_, sets)) = s.zones.get_mut(zone_id) else {
            return (
                Vec::new(),
                Some(api_error("ChangeResourceRecordSets", "NoSuchHostedZone")),
            );
        };
        // All or nothing, as a Route 53 batch.
        let mut next = sets.clone();
        let (mut creates, mut updates, mut deletes) = (0, 0, 0);
        for c in changes {
            let ok = match c {
                ChangeUnit::Create(d) => {
                    creates += 1;
                    next.insert(d.key.clone(), (*d).clone()).is_none()
                }
                ChangeUnit::Update { desired, .. } => {
                    updates += 1;
                    next.insert(desired.key.clone(), (*desired).clone());
                    true
                }
                ChangeUnit::Replace { current, desired } => {
                    updates += 1;
                    next.remove(&current.key).as_ref() == Some(*current)
                        && next
                            .insert(desired.key.clone(), (*desired).clone())
                            .is_none()
                }
                ChangeUnit::Delete(d) => {
                    deletes += 1;
                    next.remove(&d.key).as_ref() == Some(*d)
                }
            };
            if !ok {
                let e = api_error("ChangeResourceRecordSets", "InvalidChangeBatch");
                return (Vec::new(), Some(e));
            }
        }
        *sets = next;
        s.next_id += 1;
        let id = format!("CFAKE{}", s.next_id);
        let polls = s.pending_polls;
        let status = if polls == 0 { "INSYNC" } else { "PENDING" };
        s.pending.insert(id.clone(), polls);
        let batch = AppliedBatch {
            change_id: id,
            status: status.into(),
            creates,
            updates,
            deletes,
        };
        (vec![batch], None)
    }

    async fn change_in_sync(&self, change_id: &str) -> Result<bool, Route53Error> {
        if let Some(e) = self.injected("GetChange") {
            return Err(e);
        }
        let mut s = lock(&self.0);
        let left = s.pending.entry(change_id.to_string()).or_insert(0);
        *left = left.saturating_sub(1);
        Ok(*left == 0)
    }

    async fn set_apex_ns_ttl(
        &self,
        zone_id: &str,
        origin: &str,
        ttl: u32,
    ) -> Result<bool, Route53Error> {
        let mut s = lock(&self.0);
        let Some((_, sets)) = s.zones.get_mut(zone_id) else {
            return Err(api_error("ChangeResourceRecordSets", "NoSuchHostedZone"));
        };
        let key = RecordKey::new(origin, RecordType::Ns, None);
        let Some(ns) = sets.get_mut(&key) else {
            return Err(Route53Error::ZoneConflict("no apex NS".into()));
        };
        if ns.ttl == Some(ttl) {
            return Ok(false);
        }
        ns.ttl = Some(ttl);
        *s.writes.entry("ChangeResourceRecordSets").or_default() += 1;
        Ok(true)
    }

    async fn delete_zone(&self, zone_id: &str) -> Result<bool, Route53Error> {
        self.write("DeleteHostedZone");
        Ok(lock(&self.0).zones.remove(zone_id).is_some())
    }
}

#[derive(Default)]
pub struct RegistrarState {
    pub nameservers: Vec<String>,
    pub requests: u32,
    /// The next request answers DuplicateRequest (its earlier answer was lost) after
    /// applying the nameservers.
    pub lose_next_answer: bool,
    /// Requests apply to this parent delegation at once.
    pub parent: Option<FakeDns>,
}

/// Route 53 Domains in memory.
#[derive(Clone, Default)]
pub struct FakeRegistrar(pub Arc<Mutex<RegistrarState>>);

#[async_trait]
impl Registrar for FakeRegistrar {
    async fn update_nameservers(
        &self,
        _domain: &str,
        ns: &[String],
    ) -> Result<String, Route53Error> {
        let mut s = lock(&self.0);
        s.requests += 1;
        s.nameservers = ns.to_vec();
        if let Some(p) = &s.parent {
            p.delegate(ns);
        }
        if std::mem::take(&mut s.lose_next_answer) {
            return Err(api_error("UpdateDomainNameservers", "DuplicateRequest"));
        }
        Ok(format!("op-{}", s.requests))
    }

    async fn operation_state(&self, _id: &str) -> Result<OperationState, Route53Error> {
        Ok(OperationState::Successful)
    }

    async fn nameservers(&self, _domain: &str) -> Result<Vec<String>, Route53Error> {
        Ok(lock(&self.0).nameservers.clone())
    }
}

pub struct SourceState {
    /// What an import returns (`None`: the source cannot be read).
    pub import: Option<Imported>,
    /// What the old provider's servers serve, name by name.
    pub serves: RecordMap,
    pub ns_ttl: u32,
    /// Servers (addresses) that answer NXDOMAIN for everything: an emptied server.
    pub emptied: Vec<String>,
    /// The apex NS set the old provider's servers serve (and imports read).
    pub apex_ns: Vec<String>,
    /// Whether it accepts zoneshift's RFC 2136 update of that set; the updates accepted.
    pub accepts_updates: bool,
    pub updates: Vec<Vec<String>>,
    /// The apex NS TTL cannot be read (every server times out or answers SERVFAIL).
    pub ns_ttl_unanswered: bool,
}

/// The old provider in memory.
#[derive(Clone)]
pub struct FakeSource(pub Arc<Mutex<SourceState>>);

impl FakeSource {
    /// A source that serves and exports `sets`, with `ns_ttl` on its apex NS.
    pub fn new(sets: RecordMap, ns_ttl: u32) -> Self {
        let imported = Imported {
            sets: sets.clone(),
            apex_ns: vec![
                "ns1.old-provider.net.".into(),
                "ns2.old-provider.net.".into(),
            ],
            apex_ns_ttl: Some(ns_ttl),
            serial: Some(1),
            ..Default::default()
        };
        FakeSource(Arc::new(Mutex::new(SourceState {
            import: Some(imported),
            serves: sets,
            ns_ttl,
            emptied: Vec::new(),
            apex_ns: vec![
                "ns1.old-provider.net.".into(),
                "ns2.old-provider.net.".into(),
            ],
            accepts_updates: true,
            updates: Vec::new(),
            ns_ttl_unanswered: false,
        })))
    }
}

#[async_trait]
impl Source for FakeSource {
    async fn import(
        &self,
        _namespace: &str,
        _origin: &str,
        source: &zoneshift::api::SourceSpec,
    ) -> Result<Option<SourceRead>, SourceError> {
        if !source.imports() {
            return Ok(None);
        }
        let s = lock(&self.0);
        match &s.import {
            Some(i) => Ok(Some(SourceRead {
                imported: Imported {
                    apex_ns: s.apex_ns.clone(),
                    ..i.clone()
                },
                from: "the fake source".into(),
                nameservers: source.nameservers.clone(),
            })),
            None => Err(SourceError::TransferFailed(
                "the fake source refuses".into(),
            )),
        }
    }

    async fn ask(
        &self,
        servers: &[String],
        questions: &[(String, RecordType)],
    ) -> BTreeMap<(String, RecordType), SourceView> {
        let s = lock(&self.0);
        let emptied = servers.iter().any(|x| s.emptied.contains(x));
        questions
            .iter()
            .map(|(name, t)| {
                let key = RecordKey::new(name.clone(), *t, None);
                let view = match s.serves.get(&key).filter(|_| !emptied) {
                    Some(set) => {
                        let mut values = set.values.clone();
                        values.sort();
                        SourceView::Records {
                            ttl: set.ttl.unwrap_or(300),
                            values,
                        }
                    }
                    None => SourceView::Nothing,
                };
                ((name.clone(), *t), view)
            })
            .collect()
    }

    async fn apex_ns_ttl(&self, _servers: &[String], _origin: &str) -> Result<u32, DnsError> {
        let s = lock(&self.0);
        if s.ns_ttl_unanswered {
            return Err(DnsError::Unreachable(
                "every server timed out or answered SERVFAIL (injected by the fake)".into(),
            ));
        }
        Ok(s.ns_ttl)
    }

    async fn addresses(&self, servers: &[String]) -> Result<Vec<String>, DnsError> {
        Ok(servers.to_vec())
    }

    async fn apex_ns(&self, servers: &[String], _origin: &str) -> Result<Vec<String>, DnsError> {
        let s = lock(&self.0);
        match servers.iter().find(|x| s.emptied.contains(x)) {
            Some(x) => Err(DnsError::NoAnswer(format!("{x}: no NS set"))),
            None => Ok(s.apex_ns.clone()),
        }
    }

    async fn update_apex_ns(
        &self,
        _namespace: &str,
        _origin: &str,
        _source: &zoneshift::api::SourceSpec,
        _servers: &[String],
        nameservers: &[String],
        _ttl: u32,
    ) -> Result<String, SourceError> {
        let mut s = lock(&self.0);
        if !s.accepts_updates {
            return Err(SourceError::TransferFailed(
                "127.0.0.1:53 refused the update (REFUSED)".into(),
            ));
        }
        s.apex_ns = nameservers.to_vec();
        s.updates.push(nameservers.to_vec());
        Ok("127.0.0.1:53".into())
    }
}

/// The parent zone's delegation, as a resolver would read it.
#[derive(Clone)]
pub struct FakeDns(pub Arc<Mutex<Result<ParentView, String>>>);

impl FakeDns {
    pub fn new(nameservers: &[&str], ttl: u32) -> Self {
        let mut ns: Vec<String> = nameservers.iter().map(|s| s.to_string()).collect();
        ns.sort();
        FakeDns(Arc::new(Mutex::new(Ok(ParentView::agreed(ns, ttl)))))
    }

    /// The NS set the parent serves now (empty while it cannot be read).
    pub fn nameservers(&self) -> Vec<String> {
        lock(&self.0)
            .as_ref()
            .map(|p| p.nameservers.clone())
            .unwrap_or_default()
    }

    /// The registrar's change reaching the parent.
    pub fn delegate(&self, nameservers: &[String]) {
        let mut v = lock(&self.0);
        if let Ok(p) = v.as_mut() {
            let mut ns: Vec<String> = nameservers
                .iter()
                .map(|n| format!("{}.", n.trim_end_matches('.').to_ascii_lowercase()))
                .collect();
            ns.sort();
            p.nameservers = ns;
        }
    }

    /// Some servers of the parent serve other NS sets (`other_sets`, normalised) or do not
    /// answer (`unanswered`); empty for both, every server agrees again.
    pub fn split(&self, other_sets: Vec<Vec<String>>, unanswered: Vec<String>) {
        let mut v = lock(&self.0);
        if let Ok(p) = v.as_mut() {
            p.disagreement = other_sets
                .iter()
                .map(|set| format!("192.0.2.250:53 serves {}", set.join(" ")))
                .chain(unanswered.iter().cloned())
                .collect();
            p.servers = 1 + p.disagreement.len();
            p.other_sets = other_sets;
            p.unanswered = unanswered;
        }
    }
}

#[async_trait]
impl DnsObserver for FakeDns {
    async fn parent_delegation(&self, _origin: &str) -> Result<ParentView, DnsError> {
        lock(&self.0).clone().map_err(DnsError::Unreachable)
    }

    async fn answers_for(&self, _servers: &[String], _origin: &str) -> Result<(), DnsError> {
        Ok(())
    }

    async fn addresses(&self, host: &str) -> Result<Vec<String>, DnsError> {
        Ok(vec![host.to_string()])
    }
}
