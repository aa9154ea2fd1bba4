//! The source in a full pass: import it through the source port, and verify the shadow zone
//! against its servers once Route 53 is settled.

use super::records::SyncPass;
use super::Context;
use crate::api::{HostedZoneMigration, Phase};
use crate::dns::import::DNSSEC_TYPES;
use crate::plan::cutover::Attention;
use crate::plan::{self, verify, Verification};
use crate::ports::SourceRead;
use crate::source::SourceError;
use crate::zone;
use kube::ResourceExt;

/// Imports `spec.source`; `None` when there is nothing to import.
pub(super) async fn read(
    obj: &HostedZoneMigration,
    ctx: &Context,
) -> Result<Option<SourceRead>, SourceError> {
    let Some(src) = &obj.spec.source else {
        return Ok(None);
    };
    let origin = zone::normalize_origin(&obj.spec.domain).map_err(SourceError::InvalidDomain)?;
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    ctx.source().import(&ns, &origin, src).await
}

/// The import, as the planner takes it (`imported`: how many record sets it brought; the sets
/// themselves have moved into the pass's desired set).
pub(super) fn info(read: SourceRead, imported: usize) -> plan::ImportInfo {
    plan::ImportInfo {
        from: read.from,
        serial: read.imported.serial,
        imported,
        skipped: read
            .imported
            .skipped
            .iter()
            .map(ToString::to_string)
            .collect(),
        apex_ns: read.imported.apex_ns,
        apex_ns_ttl: read.imported.apex_ns_ttl,
        attention: read
            .imported
            .skipped
            .iter()
            // The old signer's DNSSEC records are left behind by design, not by limitation;
            // a record copied without its provider's metadata (a comment, tags) answers the
            // same: neither waits for an acknowledgement.
            .filter(|s| !DNSSEC_TYPES.contains(&s.rtype.as_str()))
            .filter(|s| !s.reason.starts_with("copied, but"))
            .chain(read.imported.needs_acknowledgement.iter())
            .map(|s| Attention {
                name: s.name.clone(),
                rtype: s.rtype.clone(),
                why: s.reason.clone(),
            })
            .collect(),
        nameservers: read.nameservers,
    }
}

/// The source's nameservers: `spec.source.nameservers`, else those the last import found,
/// else (a source only asked, never imported) the parent's delegation through the source
/// port. Never the parent once the switch is asked for: it then points at Route 53.
pub(super) async fn servers(
    obj: &HostedZoneMigration,
    ctx: &Context,
    status: Option<&crate::api::HostedZoneMigrationStatus>,
) -> Vec<String> {
    let Some(src) = &obj.spec.source else {
        return Vec::new();
    };
    if !src.nameservers.is_empty() {
        return src.nameservers.clone();
    }
    let recorded = status
        .and_then(|s| s.source.as_ref())
        .map(|s| s.nameservers.clone())
        .unwrap_or_default();
    let switching = status
        .and_then(|s| s.phase)
        .is_some_and(Phase::switch_requested);
    if !recorded.is_empty() || switching {
        return recorded;
    }
    let Ok(origin) = zone::normalize_origin(&obj.spec.domain) else {
        return Vec::new();
    };
    ctx.source()
        .nameservers(&origin, src)
        .await
        .unwrap_or_default()
}

/// Compares the shadow zone with the source, when this pass left the zone settled.
pub(super) async fn verify(
    obj: &HostedZoneMigration,
    ctx: &Context,
    pass: &SyncPass,
    phase: Phase,
    read: Option<&SourceRead>,
) -> Verification {
    if matches!(phase, Phase::Completed) {
        // The old provider may be gone: nothing left to compare it with.
        return Verification::Skipped;
    }
    let (Some(desired), Some(current)) = (&pass.desired, &pass.current) else {
        return Verification::AwaitingSync;
    };
    // Once the switch is seen, the old provider is probed for what Route 53 serves.
    let desired = if matches!(phase, Phase::Propagating | Phase::RollingBack) {
        current
    } else {
        desired
    };
    if !pass.settled() {
        return Verification::AwaitingSync;
    }
    if obj.spec.source.is_none() {
        return Verification::AwaitingSync;
    }
    let servers = match read {
        Some(r) if !r.nameservers.is_empty() => r.nameservers.clone(),
        _ => servers(obj, ctx, obj.status.as_ref()).await,
    };
    if servers.is_empty() {
        return Verification::NoNameservers;
    }
    let Ok(origin) = zone::normalize_origin(&obj.spec.domain) else {
        return Verification::AwaitingSync;
    };
    let differs = answers_differ(obj, read, &origin);
    // A copy only when something is left out: at 50,000 record sets a copy of the desired
    // set was the largest allocation of a pass after the sets themselves.
    let comparable: std::borrow::Cow<'_, zone::RecordMap> = if differs.is_empty() {
        std::borrow::Cow::Borrowed(desired)
    } else {
        std::borrow::Cow::Owned(
            desired
                .iter()
                .filter(|(k, _)| {
                    !differs.contains(&(k.name.clone(), k.rtype.to_string()))
                        && !differs.contains(&(k.name.clone(), "*".to_string()))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    };
    let comparable = comparable.as_ref();
    let left_out = desired.len() - comparable.len();
    let asked = verify::questions(comparable, &origin);
    let mut c = if phase == Phase::Propagating {
        match probe_every_server(obj, ctx, &asked, comparable, current, &origin).await {
            Verification::Compared(c) => c,
            other => return other,
        }
    } else {
        let serial = read.and_then(|r| r.imported.serial);
        let key = super::memo::verify_key(serial, &servers, comparable, current);
        let uid = obj.uid().unwrap_or_default();
        let now = ctx.clock.now();
        match ctx.verified.get(&uid, key, now, ctx.timing.full_compare) {
            Some(c) => c,
            None => {
                let answers = ctx.source().ask(&servers, &asked).await;
                let c = verify::compare(&origin, comparable, current, &answers);
                ctx.verified.remember(&uid, key, now, &c);
                c
            }
        }
    };
    c.not_comparable += left_out;
    Verification::Compared(c)
}

/// During the soak every server of the old provider is asked on its own, IPv4 and IPv6: the
/// ones `spec.source.nameservers` names and those of the delegation before the switch. One
/// that stops answering as Route 53 does is the outage, whatever the others answer. The SOA
/// each served before the record sets were asked is remembered (see [`SoakMemo`]).
async fn probe_every_server(
    obj: &HostedZoneMigration,
    ctx: &Context,
    asked: &[(String, crate::zone::RecordType)],
    desired: &crate::zone::RecordMap,
    current: &crate::zone::RecordMap,
    origin: &str,
) -> Verification {
    let source = ctx.source();
    let (servers, failures) = soak_servers(obj, ctx).await;
    let soa = match failures.is_empty() {
        true => soa_of(ctx, &servers, origin).await,
        false => None,
    };
    let mut merged = verify::Comparison::default();
    for server in &servers {
        let answers = source.ask(std::slice::from_ref(server), asked).await;
        let c = verify::compare(origin, desired, current, &answers);
        merged.checked = merged.checked.max(c.checked);
        merged.matched = if merged.matched == 0 {
            c.matched
        } else {
            merged.matched.min(c.matched)
        };
        merged.not_comparable = c.not_comparable;
        merged
            .mismatches
            .extend(c.mismatches.iter().map(|m| format!("{server}: {m}")));
        merged
            .unanswered
            .extend(c.unanswered.iter().map(|m| format!("{server}: {m}")));
    }
    merged.unanswered.extend(failures);
    if let Some(uid) = obj.uid() {
        ctx.soak.remember(&uid, soa);
    }
    Verification::Compared(merged)
}

/// Every address the soak asks (`ip:port`), and what could not be resolved.
async fn soak_servers(obj: &HostedZoneMigration, ctx: &Context) -> (Vec<String>, Vec<String>) {
    let named = obj
        .spec
        .source
        .as_ref()
        .map(|s| s.nameservers.clone())
        .unwrap_or_default();
    let mut servers = Vec::new();
    let mut failures = Vec::new();
    match ctx.source().addresses(&named).await {
        Ok(a) => servers.extend(a),
        Err(e) => failures.push(format!("spec.source.nameservers: {e}")),
    }
    let previous = obj.status.as_ref().and_then(|s| s.cutover.as_ref());
    for host in previous
        .map(|c| c.previous_nameservers.clone())
        .unwrap_or_default()
    {
        match ctx.observer().addresses(&host).await {
            Ok(a) => servers.extend(a),
            Err(e) => failures.push(format!("{host}: {e}")),
        }
    }
    servers.sort();
    servers.dedup();
    // The operator may not ask a server outside --allowed-source-networks (the spec's were
    // refused at import; these are the old delegation's): not watched, and not counted as
    // failing users either.
    let allowed = ctx.dns.source_networks;
    let (servers, outside): (Vec<String>, Vec<String>) = servers.into_iter().partition(|s| {
        s.parse::<std::net::SocketAddr>()
            .map_or(true, |a| crate::dns::networks::allows(allowed, a.ip()))
    });
    if !outside.is_empty() {
        tracing::warn!(servers = ?outside, "the soak does not watch servers of the old provider outside --allowed-source-networks");
    }
    (servers, failures)
}

/// The SOA each of `servers` serves for `origin`; `None` when one serves none or does not
/// answer.
async fn soa_of(ctx: &Context, servers: &[String], origin: &str) -> Option<Vec<(String, String)>> {
    let source = ctx.source();
    let question = [(origin.to_string(), zone::RecordType::Soa)];
    let mut soa = Vec::with_capacity(servers.len());
    for server in servers {
        let answers = source.ask(std::slice::from_ref(server), &question).await;
        match answers.into_values().next() {
            Some(verify::SourceView::Records { values, .. }) if !values.is_empty() => {
                soa.push((server.clone(), values.join(" ")))
            }
            _ => return None,
        }
    }
    (!soa.is_empty()).then_some(soa)
}

/// True when the soak must ask every record set again now, before its interval: the old
/// provider's servers no longer serve the SOA they served when the record sets were last
/// asked (an edit or a wipe there changes the serial; a zone removed serves none), a server
/// does not answer, or nothing is remembered. Always false outside the soak.
pub(super) async fn soak_changed(obj: &HostedZoneMigration, ctx: &Context) -> bool {
    let phase = obj.status.as_ref().and_then(|s| s.phase);
    if phase != Some(Phase::Propagating) {
        return false;
    }
    let (Some(uid), Ok(origin)) = (obj.uid(), zone::normalize_origin(&obj.spec.domain)) else {
        return true;
    };
    let Some(before) = ctx.soak.get(&uid) else {
        return true;
    };
    let (servers, failures) = soak_servers(obj, ctx).await;
    if !failures.is_empty() {
        return true;
    }
    soa_of(ctx, &servers, &origin).await.as_ref() != Some(&before)
}

/// The (name, type) pairs the source serves differently by design (a proxied record answers
/// with the provider's addresses), which its answer cannot prove: counted as not comparable
/// and left to a person. An import lists them; after the switch, when nothing is imported, the
/// records acknowledged in `spec.cutover.acknowledge` stand for them (type `*`: every type).
fn answers_differ(
    obj: &HostedZoneMigration,
    read: Option<&SourceRead>,
    origin: &str,
) -> std::collections::BTreeSet<(String, String)> {
    match read {
        Some(r) => r
            .imported
            .needs_acknowledgement
            .iter()
            .map(|s| (s.name.clone(), s.rtype.clone()))
            .collect(),
        None => obj
            .spec
            .cutover
            .acknowledge
            .iter()
            .filter_map(|a| {
                let name = zone::normalize_name(&a.name, origin).ok()?;
                Some((name, a.type_.to_ascii_uppercase()))
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::{Acknowledgement, HostedZoneMigrationSpec};
    use crate::zone::{Imported, Skipped};

    #[test]
    fn what_answers_differently_comes_from_the_import_else_from_the_acknowledgements() {
        let mut obj = HostedZoneMigration::new(
            "m",
            HostedZoneMigrationSpec {
                domain: "example.com".into(),
                ..Default::default()
            },
        );
        obj.spec.cutover.acknowledge = vec![
            Acknowledgement {
                name: "www".into(),
                type_: "A".into(),
                why: "proxied at Cloudflare".into(),
            },
            Acknowledgement {
                name: "@".into(),
                type_: "*".into(),
                why: "flattened".into(),
            },
        ];
        let o = "example.com.";
        let after_switch = answers_differ(&obj, None, o);
        assert!(after_switch.contains(&("www.example.com.".into(), "A".into())));
        assert!(after_switch.contains(&("example.com.".into(), "*".into())));
        let read = SourceRead {
            imported: Imported {
                needs_acknowledgement: vec![Skipped {
                    name: "api.example.com.".into(),
                    rtype: "AAAA".into(),
                    reason: "proxied".into(),
                }],
                ..Default::default()
            },
            from: "test".into(),
            nameservers: vec![],
        };
        let imported = answers_differ(&obj, Some(&read), o);
        assert_eq!(imported.len(), 1);
        assert!(imported.contains(&("api.example.com.".into(), "AAAA".into())));
    }
}
