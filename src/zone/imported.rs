//! The live zone as an import read it: what Route 53 will serve, the apex SOA and NS kept as
//! observations, and what cannot be carried, with the reason.

use super::RecordMap;

/// A record of the live zone that is not copied to Route 53.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    pub name: String,
    pub rtype: String,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.name, self.rtype, self.reason)
    }
}

/// The live zone as zoneshift will carry it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Imported {
    /// Record sets to copy into Route 53.
    pub sets: RecordMap,
    /// The old provider's apex NS set (the rollback target) and its TTL.
    pub apex_ns: Vec<String>,
    pub apex_ns_ttl: Option<u32>,
    /// The SOA serial, to tell when the live zone changed.
    pub serial: Option<u32>,
    /// The SOA's negative-caching TTL (its MINIMUM field).
    pub negative_ttl: Option<u32>,
    /// What is not copied, and why; sorted.
    pub skipped: Vec<Skipped>,
    /// What is copied but will answer differently from Route 53 than it does at the old
    /// provider (a record the provider proxies, an apex CNAME it flattens), and why: the
    /// cutover gate waits until a person acknowledges each in `spec.cutover.acknowledge`.
    pub needs_acknowledgement: Vec<Skipped>,
}

/// Why a record Cloudflare proxies answers differently from Route 53: the Cloudflare source
/// and a Cloudflare export say it in the same words.
pub fn proxied_by_cloudflare(value: &str) -> String {
    format!("proxied by Cloudflare: resolvers get Cloudflare's addresses and Cloudflare forwards to {value}; from Route 53 they get {value} itself, so users reach the origin directly, without Cloudflare's proxy (caching, certificate, firewall)")
}
