//! Deleting the resource: `deletionPolicy` honoured, only what zoneshift owns removed, and a
//! zone deleted only when zoneshift created it and nothing else is left in it.

use super::events::{self, Action as EventAction};
use super::{Aws, Context};
use crate::api::{DeletionPolicy, HostedZoneMigration, Reason};
use crate::ports::{CurrentZone, Zone};
use crate::route53::caller_reference;
use crate::zone::{self, ChangeUnit, RecordMap, RecordSet};
use crate::{Error, Result};
use kube::runtime::controller::Action;
use kube::ResourceExt;

/// Honours `deletionPolicy` when the resource is deleted.
pub(super) async fn cleanup(obj: &HostedZoneMigration, ctx: &Context) -> Result<Action> {
    let spec = &obj.spec;
    if spec.hosted_zone.deletion_policy == DeletionPolicy::Retain {
        let note =
            "deletionPolicy is Retain: the hosted zone and its records are left in Route 53.";
        events::normal(
            ctx,
            obj,
            Reason::ZoneRetained,
            EventAction::Cleanup,
            note.into(),
        )
        .await;
        return Ok(Action::await_change());
    }
    let aws = ctx.aws_for(obj).await?;
    let origin = zone::normalize_origin(&spec.domain).map_err(Error::InvalidSpec)?;
    let own_ref = caller_reference(&obj.uid().unwrap_or_default());
    let known = obj
        .status
        .as_ref()
        .and_then(|s| s.hosted_zone_id.as_deref());
    let adopt = spec.hosted_zone.id.as_deref();
    let Some(zone) = aws
        .route53
        .find_zone(&origin, &own_ref, adopt, known)
        .await?
    else {
        return Ok(Action::await_change()); // already gone
    };
    let desired = zone::desired_from_spec(&spec.domain, &spec.records).map_err(|errs| {
        Error::InvalidSpec(format!(
            "cannot tell which records zoneshift manages while the spec is invalid ({}); fix it or set deletionPolicy: Retain",
            errs.first().map(ToString::to_string).unwrap_or_default()
        ))
    })?;
    let current = aws.route53.list_records(&zone.id).await?;
    // In a zone zoneshift created and filled from an imported source, every record set is one
    // it wrote (the import is not re-read on the way out: the old provider may be gone).
    let imports = spec.source.as_ref().is_some_and(|s| s.imports());
    let owned = Owned {
        origin: &origin,
        desired: &desired,
        all: zone.caller_reference == own_ref && imports,
    };
    delete_owned(obj, ctx, &aws, &zone, &current, &owned).await?;
    if zone.caller_reference != own_ref {
        let note = format!(
            "Hosted zone {} was adopted, not created by zoneshift, so it is left in place.",
            zone.id
        );
        events::normal(ctx, obj, Reason::ZoneRetained, EventAction::Cleanup, note).await;
        return Ok(Action::await_change());
    }
    delete_zone_if_empty(obj, ctx, &aws, &zone, &current, &owned).await
}

/// Which record sets zoneshift owns in a zone.
struct Owned<'a> {
    origin: &'a str,
    desired: &'a RecordMap,
    /// Every record set but the apex SOA and NS (a zone it created and filled by import).
    all: bool,
}

impl Owned<'_> {
    fn owns(&self, s: &RecordSet) -> bool {
        !s.is_apex_protected(self.origin) && (self.all || self.desired.contains_key(&s.key))
    }
}

async fn delete_owned(
    obj: &HostedZoneMigration,
    ctx: &Context,
    aws: &Aws,
    zone: &Zone,
    current: &CurrentZone,
    owned: &Owned<'_>,
) -> Result<()> {
    let deletes: Vec<ChangeUnit> = current
        .sets
        .values()
        .filter(|s| owned.owns(s))
        .map(|s| ChangeUnit::Delete(s.clone()))
        .collect();
    let (batches, error) = aws.route53.apply(&zone.id, &deletes, current).await;
    if let Some(e) = error {
        return Err(e.into());
    }
    let note = format!(
        "Deleted {} managed record sets from hosted zone {} in {} batches.",
        deletes.len(),
        zone.id,
        batches.len()
    );
    events::normal(ctx, obj, Reason::RecordsDeleted, EventAction::Cleanup, note).await;
    Ok(())
}

async fn delete_zone_if_empty(
    obj: &HostedZoneMigration,
    ctx: &Context,
    aws: &Aws,
    zone: &Zone,
    current: &CurrentZone,
    owned: &Owned<'_>,
) -> Result<Action> {
    let others: Vec<String> = current
        .sets
        .values()
        .filter(|s| !s.is_apex_protected(owned.origin) && !owned.owns(s))
        .map(|s| s.key.to_string())
        .collect();
    if !others.is_empty() {
        let message = format!(
            "Hosted zone {} still holds {} record sets zoneshift did not write ({}); it deletes only what it owns. Remove them by hand or set deletionPolicy: Retain.",
            zone.id, others.len(), others.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        );
        events::warn(
            ctx,
            obj,
            Reason::ZoneNotEmpty,
            EventAction::Cleanup,
            message.clone(),
        )
        .await;
        return Err(Error::CleanupBlocked {
            reason: Reason::ZoneNotEmpty,
            message,
        });
    }
    aws.route53.delete_zone(&zone.id).await?;
    let note = format!("Deleted hosted zone {}.", zone.id);
    events::normal(ctx, obj, Reason::ZoneDeleted, EventAction::Cleanup, note).await;
    Ok(Action::await_change())
}
