//! Writing the status: recorded in the metrics, then written with server-side apply under
//! zoneshift's one field manager, only when it changed.

use super::{Context, FIELD_MANAGER};
use crate::api::{HostedZoneMigration, HostedZoneMigrationStatus};
use crate::Result;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};

pub(super) async fn write(
    ctx: &Context,
    api: &Api<HostedZoneMigration>,
    obj: &HostedZoneMigration,
    prev: &HostedZoneMigrationStatus,
    status: &HostedZoneMigrationStatus,
) -> Result<()> {
    ctx.metrics.observe(
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
        status,
        ctx.clock.now(),
    );
    if obj.status.is_some() && prev == status {
        return Ok(());
    }
    let patch = serde_json::json!({
        "apiVersion": HostedZoneMigration::api_version(&()),
        "kind": HostedZoneMigration::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}
