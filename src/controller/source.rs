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

/// The import, as the planner takes it.
pub(super) fn info(read: SourceRead) -> plan::ImportInfo {
    plan::ImportInfo {
        from: read.from,
        serial: read.imported.serial,
        imported: read.imported.sets.len(),
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
            // The old signer's DNSSEC records are left behind by design, not by limitation.
            .filter(|s| !DNSSEC_TYPES.contains(&s.rtype.as_str()))
            .chain(read.imported.needs_acknowledgement.iter())
            .map(|s| Attention {
                name: s.name.clone(),
                rtype: s.rtype.clone(),
                why: s.reason.clone(),
            })
            .collect(),
    }
}

/// Compares the shadow zone with the source, when this pass left the zone settled.
pub(super) async fn verify(
    obj: &HostedZoneMigration,
    ctx: &Context,
    pass: &SyncPass,
    phase: Phase,
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
    let Some(src) = &obj.spec.source else {
        return Verification::AwaitingSync;
    };
    if src.nameservers.is_empty() {
        return Verification::NoNameservers;
    }
    let Ok(origin) = zone::normalize_origin(&obj.spec.domain) else {
        return Verification::AwaitingSync;
    };
    let asked = verify::questions(desired, &origin);
    if phase == Phase::Propagating {
        return probe_every_server(obj, ctx, &asked, desired, current, &origin).await;
    }
    let answers = ctx.source().ask(&src.nameservers, &asked).await;
    Verification::Compared(verify::compare(&origin, desired, current, &answers))
}

/// During the soak every server of the old provider is asked on its own, IPv4 and IPv6: the
/// ones `spec.source.nameservers` names and those of the delegation before the switch. One
/// that stops answering as Route 53 does is the outage, whatever the others answer.
async fn probe_every_server(
    obj: &HostedZoneMigration,
    ctx: &Context,
    asked: &[(String, crate::zone::RecordType)],
    desired: &crate::zone::RecordMap,
    current: &crate::zone::RecordMap,
    origin: &str,
) -> Verification {
    let source = ctx.source();
    let named = obj
        .spec
        .source
        .as_ref()
        .map(|s| s.nameservers.clone())
        .unwrap_or_default();
    let mut servers = Vec::new();
    let mut failures = Vec::new();
    match source.addresses(&named).await {
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
    Verification::Compared(merged)
}
