//! `zoneshift plan`: the changes a reconcile of a manifest would make, grouped and counted,
//! without writing anything.

use super::{read_live_zone, LiveZone};
use crate::api::HostedZoneMigration;
use crate::route53::Route53;
use crate::zone::{self, ChangeUnit, DeleteGuard, RecordMap, RecordSet};
use serde::Serialize;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The manifest holding the HostedZoneMigration.
    #[arg(short = 'f', long = "filename")]
    file: std::path::PathBuf,
    /// Send Route 53 requests here instead of AWS.
    #[arg(long, env = "ZS_ROUTE53_ENDPOINT")]
    route53_endpoint: Option<String>,
    /// Compare with this hosted zone (default: spec.hostedZone.id, else the one zone with the name).
    #[arg(long)]
    zone_id: Option<String>,
    /// The zone file, when the manifest imports one from a ConfigMap.
    #[arg(long)]
    zone_file: Option<std::path::PathBuf>,
    /// The TSIG key file, when the manifest transfers with a key from a Secret.
    #[arg(long)]
    tsig: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// What `plan` found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub domain: String,
    /// `None` when the zone does not exist yet (a reconcile would create it).
    pub hosted_zone_id: Option<String>,
    pub create: Vec<PlannedSet>,
    pub update: Vec<PlannedUpdate>,
    pub delete: Vec<PlannedSet>,
    /// Set when a reconcile would stop instead (maxDeletePercent).
    pub blocked: Option<String>,
    /// Records of the source that would not be carried, with the reason.
    pub not_carried: Vec<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.hosted_zone_id.is_none()
            || !(self.create.is_empty() && self.update.is_empty() && self.delete.is_empty())
    }
}

#[derive(Debug, Serialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlannedSet {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    pub values: Vec<String>,
}

#[derive(Debug, Serialize, Clone, PartialEq)]
pub struct PlannedUpdate {
    pub from: PlannedSet,
    pub to: PlannedSet,
}

fn planned(s: &RecordSet) -> PlannedSet {
    PlannedSet {
        name: s.key.name.clone(),
        type_: s.key.rtype.to_string(),
        set_identifier: s.key.set_identifier.clone(),
        ttl: s.ttl,
        values: match &s.alias {
            Some(a) => vec![format!("ALIAS {} ({})", a.dns_name, a.hosted_zone_id)],
            None => s.values.clone(),
        },
    }
}

/// Where `plan` reads the source from, when the manifest names one.
#[derive(Clone, Debug, Default)]
pub struct SourceOverride {
    /// The zone file text for `spec.source.zoneFile` (its ConfigMap lives in the cluster).
    pub zone_file: Option<(String, String)>,
    /// The TSIG key for `spec.source.axfr.tsigSecretRef` (its Secret lives in the cluster).
    pub tsig: Option<crate::dns::TsigKey>,
}

/// Computes the plan of `obj` against Route 53. Only read calls are made.
pub async fn plan(
    obj: &HostedZoneMigration,
    r53: &Route53,
    zone_id: Option<&str>,
    source: &SourceOverride,
    timeout: Duration,
) -> Result<Plan, String> {
    let spec = &obj.spec;
    let origin = zone::normalize_origin(&spec.domain)?;
    let (imported, not_carried) = read_source(obj, &origin, source, timeout).await?;
    let desired =
        zone::desired_with_import(&spec.domain, &spec.records, &imported).map_err(|errs| {
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    let zone = find_zone(r53, zone_id.or(spec.hosted_zone.id.as_deref()), &origin).await?;
    let current = match &zone {
        Some(z) => {
            r53.list_records(&z.id)
                .await
                .map_err(|e| e.to_string())?
                .sets
        }
        None => RecordMap::new(),
    };
    let diff = zone::diff(&desired, &current, &origin, spec.policy.mode);
    let blocked = DeleteGuard::check(&diff, spec.policy.max_delete_percent).map(|g| g.message());
    let mut p = Plan {
        domain: origin,
        hosted_zone_id: zone.map(|z| z.id),
        create: Vec::new(),
        update: Vec::new(),
        delete: Vec::new(),
        blocked,
        not_carried,
    };
    for c in &diff.changes {
        match c {
            ChangeUnit::Create(s) => p.create.push(planned(s)),
            ChangeUnit::Update { current, desired } | ChangeUnit::Replace { current, desired } => {
                p.update.push(PlannedUpdate {
                    from: planned(current),
                    to: planned(desired),
                })
            }
            ChangeUnit::Delete(s) => p.delete.push(planned(s)),
        }
    }
    Ok(p)
}

/// The source the manifest names, read as the operator would: its sets and what is not
/// carried.
async fn read_source(
    obj: &HostedZoneMigration,
    origin: &str,
    source: &SourceOverride,
    timeout: Duration,
) -> Result<(RecordMap, Vec<String>), String> {
    let live = match &obj.spec.source {
        Some(src) if src.zone_file.is_some() => {
            let (text, path) = source
                .zone_file
                .clone()
                .ok_or("the manifest imports spec.source.zoneFile from a ConfigMap: pass the zone file with --zone-file")?;
            LiveZone::ZoneFile {
                text,
                path,
                format: None,
            }
        }
        Some(src) if src.axfr.is_some() => {
            let axfr = src.axfr.as_ref().ok_or("no axfr")?;
            if axfr.tsig_secret_ref.is_some() && source.tsig.is_none() {
                return Err("the manifest transfers with a TSIG key from a Secret: pass the key file with --tsig".into());
            }
            let server = src
                .nameservers
                .first()
                .ok_or("spec.source.axfr needs spec.source.nameservers")?;
            LiveZone::Axfr {
                server: server.clone(),
                tsig: source.tsig.clone(),
            }
        }
        Some(src) if src.cloudflare.is_some() => cloudflare_zone(src)?,
        _ => return Ok((RecordMap::new(), Vec::new())),
    };
    let (imp, _) = read_live_zone(origin, &live, timeout).await?;
    let not_carried = imp.skipped.iter().map(ToString::to_string).collect();
    Ok((imp.sets, not_carried))
}

/// A manifest's Cloudflare source, read with the token in `CLOUDFLARE_API_TOKEN` from
/// `ZS_CLOUDFLARE_API_URL` (default Cloudflare's API).
fn cloudflare_zone(src: &crate::api::SourceSpec) -> Result<LiveZone, String> {
    use crate::source::cloudflare::{ZoneRef, DEFAULT_API_URL};
    let cf = src.cloudflare.as_ref().ok_or("no cloudflare")?;
    let token = std::env::var("CLOUDFLARE_API_TOKEN").unwrap_or_default();
    if token.trim().is_empty() {
        return Err("the manifest imports from Cloudflare (spec.source.cloudflare): set CLOUDFLARE_API_TOKEN to a token with Zone DNS Read".into());
    }
    let zone = match (&cf.zone, &cf.zone_id) {
        (_, Some(id)) => ZoneRef::Id(id.clone()),
        (Some(name), None) => ZoneRef::Name(name.clone()),
        (None, None) => return Err("spec.source.cloudflare: give zone or zoneId".into()),
    };
    Ok(LiveZone::Cloudflare {
        api_url: std::env::var("ZS_CLOUDFLARE_API_URL").unwrap_or_else(|_| DEFAULT_API_URL.into()),
        token: token.trim().to_string(),
        zone,
    })
}

/// The zone to compare with: the one named, else the one zone with the domain's name.
async fn find_zone(
    r53: &Route53,
    id: Option<&str>,
    origin: &str,
) -> Result<Option<crate::ports::Zone>, String> {
    if let Some(id) = id {
        let zone = r53.get_zone(id).await.map_err(|e| e.to_string())?;
        return zone
            .map(Some)
            .ok_or(format!("hosted zone {id} does not exist"));
    }
    let mut zones = r53.zones_named(origin).await.map_err(|e| e.to_string())?;
    match zones.len() {
        0 => Ok(None),
        1 => Ok(zones.pop()),
        n => Err(format!(
            "{n} hosted zones are named {origin}: pass the one to compare with --zone-id"
        )),
    }
}

/// The plan as a person reads it, like `terraform plan`.
pub fn render_text(p: &Plan) -> String {
    let line = |s: &PlannedSet| {
        let id = s
            .set_identifier
            .as_ref()
            .map(|i| format!(" [{i}]"))
            .unwrap_or_default();
        let ttl = s.ttl.map(|t| format!(" {t}")).unwrap_or_default();
        format!("{} {}{id}{ttl} {}", s.name, s.type_, s.values.join(" | "))
    };
    let mut out = String::new();
    match &p.hosted_zone_id {
        Some(id) => out.push_str(&format!(
            "zoneshift plan for {} (hosted zone {id})\n",
            p.domain
        )),
        None => out.push_str(&format!(
            "zoneshift plan for {} (no hosted zone yet: a reconcile creates it)\n",
            p.domain
        )),
    }
    if !p.create.is_empty() {
        out.push_str(&format!("\nTo create ({}):\n", p.create.len()));
        for s in &p.create {
            out.push_str(&format!("  + {}\n", line(s)));
        }
    }
    if !p.update.is_empty() {
        out.push_str(&format!("\nTo update ({}):\n", p.update.len()));
        for u in &p.update {
            out.push_str(&format!(
                "  ~ {}\n      was {}\n",
                line(&u.to),
                line(&u.from)
            ));
        }
    }
    if !p.delete.is_empty() {
        out.push_str(&format!("\nTo delete ({}):\n", p.delete.len()));
        for s in &p.delete {
            out.push_str(&format!("  - {}\n", line(s)));
        }
    }
    if !p.not_carried.is_empty() {
        out.push_str(&format!(
            "\nNot carried from the source ({}):\n",
            p.not_carried.len()
        ));
        for s in &p.not_carried {
            out.push_str(&format!("  ! {s}\n"));
        }
    }
    if let Some(b) = &p.blocked {
        out.push_str(&format!("\nA reconcile would stop here: {b}\n"));
    }
    if p.has_changes() {
        out.push_str(&format!(
            "\nPlan: {} to create, {} to update, {} to delete.\n",
            p.create.len(),
            p.update.len(),
            p.delete.len()
        ));
    } else {
        out.push_str("\nNo changes: Route 53 already holds the desired records.\n");
    }
    out
}

/// Prints the plan; the exit code (0 no changes, 2 changes, 1 error).
pub async fn main(args: Args) -> std::process::ExitCode {
    use crate::route53::RetryPolicy;
    use serde::Deserialize;
    let fail = |m: String| {
        eprintln!("zoneshift plan: {m}");
        std::process::ExitCode::from(1)
    };
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", args.file.display())),
    };
    // The manifest may hold other objects (a Namespace, a ConfigMap): take the migration.
    let mut found = None;
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let value = match yaml_serde::Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => return fail(format!("{}: {e}", args.file.display())),
        };
        if value.get("kind").and_then(|k| k.as_str()) == Some("HostedZoneMigration") {
            match yaml_serde::from_value::<HostedZoneMigration>(value) {
                Ok(o) => found = Some(o),
                Err(e) => return fail(format!("{}: {e}", args.file.display())),
            }
        }
    }
    let Some(obj) = found else {
        return fail(format!(
            "{} holds no HostedZoneMigration",
            args.file.display()
        ));
    };
    let mut source = SourceOverride::default();
    if let Some(path) = &args.zone_file {
        match std::fs::read_to_string(path) {
            Ok(t) => source.zone_file = Some((t, path.display().to_string())),
            Err(e) => return fail(format!("{}: {e}", path.display())),
        }
    }
    if let Some(path) = &args.tsig {
        match super::read_tsig(path) {
            Ok(k) => source.tsig = Some(k),
            Err(e) => return fail(format!("--tsig {e}")),
        }
    }
    let r53 = Route53::from_env(args.route53_endpoint.as_deref(), 5, RetryPolicy::default()).await;
    let p = match plan(
        &obj,
        &r53,
        args.zone_id.as_deref(),
        &source,
        Duration::from_secs(30),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    match args.output {
        OutputFormat::Text => print!("{}", render_text(&p)),
        OutputFormat::Json => match serde_json::to_string_pretty(&p) {
            Ok(j) => println!("{j}"),
            Err(e) => return fail(e.to_string()),
        },
    }
    std::process::ExitCode::from(if p.has_changes() { 2 } else { 0 })
}
