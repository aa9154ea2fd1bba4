//! The record model: record sets keyed by (name, type, set identifier), their normalised form,
//! the desired set built from a spec, and the diff between desired and current.
//!
//! Everything here is pure: no I/O, no clock.

mod diff;
mod imported;
mod name;
pub(crate) use name::push_label;
mod spec;
mod value;

pub use crate::api::SyncMode;
pub use diff::{diff, ChangeUnit, DeleteGuard, Diff};
pub use imported::{proxied_by_cloudflare, Imported, Skipped};
pub use name::{normalize_name, normalize_origin, normalize_target};
pub use spec::{desired_from_import, desired_from_spec, desired_with_import, RecordError};
pub use value::{normalize_value, quote, txt_strings};

use std::collections::BTreeMap;
use std::fmt;

/// A DNS record type Route 53 serves. `Soa` appears only when reading a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordType {
    A,
    Aaaa,
    Caa,
    Cname,
    Ds,
    Https,
    Mx,
    Naptr,
    Ns,
    Ptr,
    Soa,
    Spf,
    Srv,
    Sshfp,
    Svcb,
    Tlsa,
    Txt,
}

impl RecordType {
    pub const ALL: [RecordType; 17] = [
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Caa,
        RecordType::Cname,
        RecordType::Ds,
        RecordType::Https,
        RecordType::Mx,
        RecordType::Naptr,
        RecordType::Ns,
        RecordType::Ptr,
        RecordType::Soa,
        RecordType::Spf,
        RecordType::Srv,
        RecordType::Sshfp,
        RecordType::Svcb,
        RecordType::Tlsa,
        RecordType::Txt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Caa => "CAA",
            RecordType::Cname => "CNAME",
            RecordType::Ds => "DS",
            RecordType::Https => "HTTPS",
            RecordType::Mx => "MX",
            RecordType::Naptr => "NAPTR",
            RecordType::Ns => "NS",
            RecordType::Ptr => "PTR",
            RecordType::Soa => "SOA",
            RecordType::Spf => "SPF",
            RecordType::Srv => "SRV",
            RecordType::Sshfp => "SSHFP",
            RecordType::Svcb => "SVCB",
            RecordType::Tlsa => "TLSA",
            RecordType::Txt => "TXT",
        }
    }

    /// Parses a type name, case-insensitively.
    pub fn parse(s: &str) -> Option<RecordType> {
        RecordType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What identifies a record set in Route 53.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKey {
    /// Absolute, lowercase, with a trailing dot, `*` unescaped.
    pub name: String,
    pub rtype: RecordType,
    pub set_identifier: Option<String>,
}

impl RecordKey {
    pub fn new(name: impl Into<String>, rtype: RecordType, set_identifier: Option<String>) -> Self {
        Self {
            name: name.into(),
            rtype,
            set_identifier,
        }
    }
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.rtype)?;
        if let Some(id) = &self.set_identifier {
            write!(f, " [{id}]")?;
        }
        Ok(())
    }
}

/// An alias target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Alias {
    pub dns_name: String,
    pub hosted_zone_id: String,
    pub evaluate_target_health: bool,
}

/// A failover role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Failover {
    Primary,
    Secondary,
}

impl Failover {
    pub fn as_str(self) -> &'static str {
        match self {
            Failover::Primary => "PRIMARY",
            Failover::Secondary => "SECONDARY",
        }
    }
}

/// A geolocation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GeoLocation {
    pub continent_code: Option<String>,
    pub country_code: Option<String>,
    pub subdivision_code: Option<String>,
}

/// The routing policy of a record set. All `None` is simple routing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Routing {
    pub weight: Option<u8>,
    pub region: Option<String>,
    pub failover: Option<Failover>,
    pub geo_location: Option<GeoLocation>,
    pub multi_value_answer: Option<bool>,
    pub health_check_id: Option<String>,
}

impl Routing {
    /// The policy's name. Route 53 cannot change it with an UPSERT, so a change of kind is a
    /// delete and a create in the same batch.
    pub fn kind(&self) -> &'static str {
        if self.weight.is_some() {
            "weighted"
        } else if self.region.is_some() {
            "latency"
        } else if self.failover.is_some() {
            "failover"
        } else if self.geo_location.is_some() {
            "geolocation"
        } else if self.multi_value_answer.is_some() {
            "multivalue"
        } else {
            "simple"
        }
    }

    /// How many routing policies are set (a valid set has at most one).
    pub fn policies_set(&self) -> usize {
        [
            self.weight.is_some(),
            self.region.is_some(),
            self.failover.is_some(),
            self.geo_location.is_some(),
            self.multi_value_answer.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count()
    }
}

/// A record set in normalised form: two sets that serve the same answers compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecordSet {
    pub key: RecordKey,
    /// `None` for alias records.
    pub ttl: Option<u32>,
    /// Normalised presentation-format values, sorted and without duplicates.
    pub values: Vec<String>,
    pub alias: Option<Alias>,
    pub routing: Routing,
}

impl RecordSet {
    /// True for the apex SOA and NS, which Route 53 owns and zoneshift never writes (the NS
    /// TTL excepted, by the cutover).
    pub fn is_apex_protected(&self, origin: &str) -> bool {
        is_apex_protected(&self.key, origin)
    }
}

/// True for the apex SOA and NS record sets.
pub fn is_apex_protected(key: &RecordKey, origin: &str) -> bool {
    key.name == origin && matches!(key.rtype, RecordType::Soa | RecordType::Ns)
}

/// A set of record sets by key.
pub type RecordMap = BTreeMap<RecordKey, RecordSet>;
