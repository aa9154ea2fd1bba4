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
    let answers = ctx.source().ask(&src.nameservers, &asked).await;
    Verification::Compared(verify::compare(&origin, desired, current, &answers))
}
