//! Rule 12: the old provider's own apex NS set. A resolver that refreshes the zone's NS set
//! from the old servers (a prefetch, an explicit NS query) gets the old provider's own answer,
//! with its TTL, and keeps going there as long as that answer names the old servers: however
//! long the soak, the old provider may go only once every one of its servers names Route 53's
//! nameservers, and the NS TTL it served before has passed since.

use super::observation::Observation;
use super::time::{self, parse as ts, plus};
use crate::api::{CutoverSpec, CutoverStatus, OldProviderNameservers, Reason};
use jiff::Timestamp;

/// A person accepted the old provider's apex NS set as it is (`{name: "@", type: NS}` in
/// `spec.cutover.acknowledge`): the provider cannot change it.
pub fn waived(spec: &CutoverSpec, origin: &str) -> bool {
    spec.acknowledge.iter().any(|k| {
        let name = crate::zone::normalize_name(&k.name, origin).unwrap_or_default();
        name == origin && (k.type_ == "*" || k.type_.eq_ignore_ascii_case("NS"))
    })
}

/// Writes what the old servers serve into the status: the set, why it could not be read, and
/// when all of them were first seen naming `route53` (cleared if they stop).
pub fn record(cut: &mut CutoverStatus, obs: &Observation, now: Timestamp) {
    match &obs.source_apex_ns {
        Some(Ok(set)) => {
            cut.source_apex_ns = set.clone();
            cut.source_apex_ns_error = None;
            let route53 = &obs.route53_nameservers;
            if !route53.is_empty() && set == route53 {
                if cut.source_ns_switched_at.is_none() {
                    cut.source_ns_switched_at = Some(time::start(now).to_string());
                }
            } else {
                cut.source_ns_switched_at = None;
            }
        }
        Some(Err(e)) => cut.source_apex_ns_error = Some(e.clone()),
        None => {}
    }
}

/// From when no resolver can hold an NS set the old provider handed out naming its own
/// servers: the moment all of them named Route 53's plus the NS TTL served before (the lowered
/// one if it was lowered by then, else the highest it may have handed out). `None` while they
/// still name themselves; the epoch when waived.
pub fn horizon(
    cut: &CutoverStatus,
    spec: &CutoverSpec,
    origin: &str,
    lowered: u32,
    served: u64,
) -> Option<Timestamp> {
    if waived(spec, origin) {
        return Some(Timestamp::UNIX_EPOCH);
    }
    let at = ts(&cut.source_ns_switched_at)?;
    let old_ns = super::gate::old_ns_ttl(cut, spec).0;
    Some(
        match ts(&cut.source_ns_lowered_since).filter(|t| *t <= at) {
            // A set fetched before the lowering lives its old TTL; one fetched after, the lowered.
            Some(since) => plus(since, old_ns).max(plus(at, u64::from(lowered).max(served))),
            None => plus(at, old_ns.max(served)),
        },
    )
}

/// What the old provider's apex NS set still holds, while it does: the reason, the message,
/// and in `Update` mode the update to send (Route 53's set).
pub fn pending(
    cut: &CutoverStatus,
    spec: &CutoverSpec,
    origin: &str,
    route53: &[String],
) -> Option<(Reason, String, Option<Vec<String>>)> {
    if waived(spec, origin) || cut.source_ns_switched_at.is_some() || route53.is_empty() {
        return None;
    }
    let serving = match (&cut.source_apex_ns_error, cut.source_apex_ns.is_empty()) {
        (Some(e), _) => format!("its servers could not all be read ({e})"),
        (None, true) => "its servers were not read yet".to_string(),
        (None, false) => format!("its servers serve {}", cut.source_apex_ns.join(", ")),
    };
    let want = route53.join(", ");
    let why = "resolvers that refresh the zone's NS set from the old servers keep going there while they name themselves";
    Some(match spec.old_provider_nameservers {
        OldProviderNameservers::Manual => (
            Reason::OldProviderNsUnchanged,
            format!("Set the apex NS records at the old provider to {want}: {serving}, and {why}. The old provider may go only once all of them serve Route 53's set and its NS TTL has passed since (or acknowledge {{name: \"@\", type: NS}} if the provider cannot change them)."),
            None,
        ),
        OldProviderNameservers::Update => match &cut.source_ns_update_error {
            Some(e) => (
                Reason::OldProviderNsUpdateFailed,
                format!("The old provider refused the update of its apex NS records to {want} ({e}); zoneshift tries again. Allow the update for the key, or set spec.cutover.oldProviderNameservers to Manual and change them yourself."),
                Some(route53.to_vec()),
            ),
            None => (
                Reason::UpdatingOldProviderNs,
                format!("zoneshift is updating the old provider's apex NS records to {want} ({serving})."),
                Some(route53.to_vec()),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Acknowledgement;

    fn obs(set: Result<Vec<&str>, &str>) -> Observation {
        Observation {
            parent: Err("not asked".into()),
            source_ns_ttl: Ok(900),
            route53_ns_ttl: Some(900),
            route53_nameservers: vec!["ns-1.awsdns-01.org.".into(), "ns-2.awsdns-02.net.".into()],
            route53_answers: Ok(()),
            records_synced: true,
            shadow_verified: true,
            source_failures: None,
            operation: None,
            verified_at: None,
            attention: None,
            source_apex_ns: Some(
                set.map(|s| s.iter().map(|n| n.to_string()).collect())
                    .map_err(str::to_string),
            ),
        }
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn the_switch_of_the_old_servers_is_timed_and_undone_when_they_go_back() {
        let mut cut = CutoverStatus::default();
        let spec = CutoverSpec::default();
        record(&mut cut, &obs(Ok(vec!["ns1.old.net."])), at(0));
        assert!(cut.source_ns_switched_at.is_none());
        let (reason, msg, update) = pending(
            &cut,
            &spec,
            "example.com.",
            &obs(Ok(vec![])).route53_nameservers,
        )
        .unwrap();
        assert_eq!(reason, Reason::OldProviderNsUnchanged);
        assert!(msg.contains("ns1.old.net.") && update.is_none());
        let both = ["ns-1.awsdns-01.org.", "ns-2.awsdns-02.net."];
        record(&mut cut, &obs(Ok(both.to_vec())), at(10));
        assert_eq!(ts(&cut.source_ns_switched_at), Some(at(10)));
        // Unreadable: what was seen stands.
        record(&mut cut, &obs(Err("timed out")), at(20));
        assert_eq!(ts(&cut.source_ns_switched_at), Some(at(10)));
        // Not yet lowered: the highest the old provider may have handed out (default 86400).
        assert_eq!(
            horizon(&cut, &spec, "example.com.", 900, 0),
            Some(at(10 + 86_400))
        );
        cut.source_ns_lowered_since = Some(at(0).to_string());
        cut.source_ns_ttl_before = Some(600);
        assert_eq!(horizon(&cut, &spec, "example.com.", 900, 0), Some(at(910)));
        assert_eq!(
            horizon(&cut, &spec, "example.com.", 900, 3600),
            Some(at(3610))
        );
        // Lowered from 7200 s just before: a set fetched then lives until lowered + 7200.
        cut.source_ns_ttl_before = Some(7200);
        assert_eq!(horizon(&cut, &spec, "example.com.", 900, 0), Some(at(7200)));
        record(&mut cut, &obs(Ok(vec!["ns1.old.net."])), at(30));
        assert!(cut.source_ns_switched_at.is_none());
        assert_eq!(horizon(&cut, &spec, "example.com.", 900, 0), None);
    }

    #[test]
    fn update_mode_asks_for_route53s_set_and_an_acknowledgement_waives_the_rule() {
        let mut cut = CutoverStatus::default();
        let mut spec = CutoverSpec {
            old_provider_nameservers: OldProviderNameservers::Update,
            ..Default::default()
        };
        let route53 = obs(Ok(vec![])).route53_nameservers;
        let (reason, _, update) = pending(&cut, &spec, "example.com.", &route53).unwrap();
        assert_eq!(reason, Reason::UpdatingOldProviderNs);
        assert_eq!(update.as_deref(), Some(route53.as_slice()));
        cut.source_ns_update_error = Some("REFUSED".into());
        let (reason, msg, _) = pending(&cut, &spec, "example.com.", &route53).unwrap();
        assert_eq!(reason, Reason::OldProviderNsUpdateFailed);
        assert!(msg.contains("REFUSED"));
        spec.acknowledge.push(Acknowledgement {
            name: "@".into(),
            type_: "NS".into(),
            why: "the provider serves its own NS set".into(),
        });
        assert!(pending(&cut, &spec, "example.com.", &route53).is_none());
        assert_eq!(
            horizon(&cut, &spec, "example.com.", 900, 0),
            Some(Timestamp::UNIX_EPOCH)
        );
    }
}
