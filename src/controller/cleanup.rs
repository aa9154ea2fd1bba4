//! Deleting the resource: `deletionPolicy` honoured, only what zoneshift owns removed, and a
//! zone deleted only when zoneshift created it and nothing else is left in it.

use super::events::{self, Action as EventAction};
use super::{Aws, Context};
use crate::api::{DeletionPolicy, HostedZoneMigration, Phase, Reason};
use crate::plan::time;
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
    if let Err(hold) = deletion_allowed(obj, ctx, &origin).await {
        return Err(held(obj, ctx, hold).await);
    }
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

/// Why a deletion cannot finish yet, and until when Route 53 must keep serving when that was
/// found out just now (kept in the status, so the wait survives restarts).
struct Hold {
    reason: Reason,
    message: String,
    until: Option<jiff::Timestamp>,
}

impl Hold {
    fn new(reason: Reason, message: String) -> Hold {
        Hold {
            reason,
            message,
            until: None,
        }
    }
}

/// Whether the zone may be emptied: never while the domain is (or may be, as far as caches
/// go) delegated to it. Once the switch was asked for, the parent must be seen serving other
/// nameservers, and the Route 53 delegation's TTLs must have passed since (counted from the
/// rollback, or from the first deletion attempt that saw it gone, kept in the status).
async fn deletion_allowed(
    obj: &HostedZoneMigration,
    ctx: &Context,
    origin: &str,
) -> std::result::Result<(), Hold> {
    let Some(s) = &obj.status else {
        return Ok(());
    };
    if !s.phase.is_some_and(Phase::switch_requested) {
        return Ok(());
    }
    let zone_id = s.hosted_zone_id.clone().unwrap_or_default();
    let ours: Vec<String> = s
        .nameservers
        .iter()
        .filter_map(|n| zone::normalize_target(n).ok())
        .collect();
    let keep = "set deletionPolicy: Retain to delete the resource and keep the zone";
    let parent = ctx.observer().parent_delegation(origin).await.map_err(|e| {
        Hold::new(Reason::DeletionWaiting, format!("The parent zone cannot be read ({e}): the domain may still be delegated to hosted zone {zone_id}, so its records are not deleted; {keep}."))
    })?;
    let served = std::iter::once(&parent.nameservers).chain(&parent.other_sets);
    if let Some(set) = served
        .into_iter()
        .find(|set| set.iter().any(|n| ours.contains(n)))
    {
        let who = if *set == parent.nameservers {
            "The domain is delegated"
        } else {
            "Some servers of the parent zone delegate the domain"
        };
        return Err(Hold::new(Reason::DeletionBlocked, format!(
            "{who} to hosted zone {zone_id} ({}): deleting its records would take the domain off the Internet. Move the delegation away first (spec.cutover.rollback), or {keep}.",
            set.join(", ")
        )));
    }
    // A parent server that did not answer may still delegate to the zone: wait for it.
    if !parent.unanswered.is_empty() {
        return Err(Hold::new(Reason::DeletionWaiting, format!(
            "Not every server of the parent zone could be read ({}): the domain may still be delegated to hosted zone {zone_id} there, so its records are not deleted; {keep}.",
            parent.unanswered.join("; ")
        )));
    }
    let now = ctx.clock.now();
    let cut = s.cutover.clone().unwrap_or_default();
    let (until, found) = match time::parse(&cut.route53_releasable_at) {
        Some(u) => (u, None),
        None => {
            let parent_ttl = cut
                .parent_ns_ttl_max
                .unwrap_or(0)
                .max(i64::from(parent.ttl));
            let ns_ttl = s
                .observed_ttls
                .as_ref()
                .and_then(|t| t.route53_ns)
                .unwrap_or(0);
            let until = time::plus(time::start(now), (parent_ttl.max(0) + ns_ttl.max(0)) as u64);
            (until, Some(until))
        }
    };
    if now < until {
        let message = format!(
            "The delegation has left hosted zone {zone_id}, but resolvers may hold it until {until}: its records are deleted after that."
        );
        return Err(Hold {
            until: found,
            ..Hold::new(Reason::DeletionWaiting, message)
        });
    }
    Ok(())
}

/// Says why the deletion holds: an event, and the status (`Ready=False` with the reason;
/// `Stalled=True` when a person must act, `Reconciling=True` when it ends by itself), so
/// `kubectl wait` and GitOps health checks see why the resource stays. The error keeps the
/// finalizer and brings the next attempt.
async fn held(obj: &HostedZoneMigration, ctx: &Context, hold: Hold) -> Error {
    let Hold {
        reason,
        message,
        until,
    } = hold;
    if reason.stalled() {
        events::warn(ctx, obj, reason, EventAction::Cleanup, message.clone()).await;
    } else {
        events::normal(ctx, obj, reason, EventAction::Cleanup, message.clone()).await;
    }
    let ns = obj.namespace().unwrap_or_else(|| "default".into());
    let api: kube::Api<HostedZoneMigration> = kube::Api::namespaced(ctx.client.clone(), &ns);
    let prev = obj.status.clone().unwrap_or_default();
    let mut status = prev.clone();
    if let Some(until) = until {
        status
            .cutover
            .get_or_insert_with(Default::default)
            .route53_releasable_at = Some(until.to_string());
    }
    // Delegated to the zone again: the caches' count starts over once it leaves, so a release
    // time counted from an earlier departure no longer holds.
    let forget = reason == Reason::DeletionBlocked
        && status
            .cutover
            .as_mut()
            .and_then(|c| c.route53_releasable_at.take())
            .is_some();
    let generation = obj.metadata.generation;
    crate::plan::deletion_held(&mut status, reason, &message, generation, ctx.clock.now());
    if let Err(e) = super::status::write(ctx, &api, obj, &prev, &status).await {
        tracing::warn!(error = %e, "could not say in the status why the deletion holds");
    }
    if forget {
        // The apply above leaves the field out, which removes it on an API server; a merge
        // patch says so outright, whatever the server does with a field left out.
        let cleared =
            serde_json::json!({ "status": { "cutover": { "route53ReleasableAt": null } } });
        let params = kube::api::PatchParams::default();
        let patch = kube::api::Patch::Merge(&cleared);
        if let Err(e) = api.patch_status(&obj.name_any(), &params, &patch).await {
            tracing::warn!(error = %e, "could not forget the earlier release time");
        }
    }
    Error::CleanupBlocked { reason, message }
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
        .map(ChangeUnit::Delete)
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
        return Err(held(obj, ctx, Hold::new(Reason::ZoneNotEmpty, message)).await);
    }
    aws.route53.delete_zone(&zone.id).await?;
    let note = format!("Deleted hosted zone {}.", zone.id);
    events::normal(ctx, obj, Reason::ZoneDeleted, EventAction::Cleanup, note).await;
    Ok(Action::await_change())
}
