//! Cloudflare as a live source, against the Cloudflare stand-in (tests/cloudflare-standin)
//! and moto_server: a 5,000-record zone imported, a change at Cloudflare reaching Route 53 at
//! the next import, a revoked token, a 429 storm, an empty zone, and `zoneshift import
//! --cloudflare` as a user runs it.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::cloudflare_admin;
use common::world::*;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use zoneshift::api::*;
use zoneshift::source::cloudflare::{self, CloudflareApi, Lister, ZoneRef};
use zoneshift::zone::{RecordKey, RecordType};

fn api_url() -> String {
    std::env::var("ZS_CLOUDFLARE_API_URL")
        .expect("ZS_CLOUDFLARE_API_URL is not set: run scripts/test-env up and eval its env")
}

/// A zone at the stand-in with a token scoped to it; (zone id, token).
fn cf_zone(domain: &str, records: Vec<Value>) -> (String, String) {
    let zone = cloudflare_admin("POST", "/zones", Some(json!({ "name": domain })));
    let id = zone["id"].as_str().unwrap().to_string();
    let token = format!("tok-{id}");
    cloudflare_admin(
        "POST",
        "/tokens",
        Some(json!({ "token": token, "zones": [id] })),
    );
    for chunk in records.chunks(1000) {
        cloudflare_admin("POST", &format!("/zones/{id}/records"), Some(json!(chunk)));
    }
    (id, token)
}

fn r(name: &str, t: &str, content: &str) -> Value {
    json!({ "name": name, "type": t, "content": content, "ttl": 1 })
}

fn token_secret(token: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some("cf".into());
    s.metadata.namespace = Some(NS.into());
    s.data = Some(BTreeMap::from([(
        "token".to_string(),
        ByteString(token.as_bytes().to_vec()),
    )]));
    s
}

fn from_cloudflare(domain: &str) -> HostedZoneMigration {
    let mut m = migration("m", domain, vec![]);
    m.spec.source = Some(SourceSpec {
        cloudflare: Some(CloudflareSource {
            zone: Some(domain.into()),
            zone_id: None,
            api_token_secret_ref: SecretKeyRef {
                name: "cf".into(),
                key: "token".into(),
            },
        }),
        ..Default::default()
    });
    m
}

async fn world(domain: &str, token: &str) -> World {
    World::with(
        vec![from_cloudflare(domain)],
        vec![],
        vec![token_secret(token)],
    )
    .await
}

fn small_zone(d: &str) -> Vec<Value> {
    let mut mx = r(d, "MX", &format!("mail.{d}"));
    mx["priority"] = json!(10);
    mx["ttl"] = json!(3600);
    vec![
        r(&format!("www.{d}"), "A", "192.0.2.10"),
        r(&format!("api.{d}"), "A", "192.0.2.11"),
        r(&format!("old.{d}"), "A", "192.0.2.12"),
        r(&format!("mail.{d}"), "A", "192.0.2.25"),
        r(d, "TXT", "v=spf1 mx -all"),
        mx,
    ]
}

/// The 5,000-record zone: proxied records with TTL 1, long TXT, CAA, SRV, MX, URI, HTTPS,
/// comments and tags.
fn big_zone(d: &str) -> Vec<Value> {
    let mut v = Vec::new();
    for i in 0..4900 {
        let mut a = r(
            &format!("host{i}.{d}"),
            "A",
            &format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
        );
        if i % 10 == 0 {
            a["proxied"] = json!(true);
        } else {
            a["ttl"] = json!(600);
        }
        v.push(a);
    }
    for i in 0..40 {
        let mut t = r(&format!("dkim{i}._domainkey.{d}"), "TXT", &"k".repeat(700));
        t["ttl"] = json!(3600);
        v.push(t);
    }
    for i in 0..20 {
        let mut mx = r(d, "MX", &format!("mx{i}.{d}"));
        mx["priority"] = json!(10 + i);
        v.push(mx);
    }
    let mut caa = r(d, "CAA", "0 issue \"letsencrypt.org\"");
    caa["data"] = json!({"flags": 0, "tag": "issue", "value": "letsencrypt.org"});
    v.push(caa);
    for i in 0..20 {
        let mut srv = r(
            &format!("_sip{i}._tcp.{d}"),
            "SRV",
            &format!("5 5060 sip.{d}"),
        );
        srv["priority"] = json!(10);
        srv["data"] =
            json!({"priority": 10, "weight": 5, "port": 5060, "target": format!("sip.{d}")});
        v.push(srv);
    }
    for i in 0..9 {
        let mut uri = r(
            &format!("_ftp{i}._tcp.{d}"),
            "URI",
            "1 \"ftp://ftp.example.net/\"",
        );
        uri["priority"] = json!(10);
        uri["data"] = json!({"weight": 1, "target": "ftp://ftp.example.net/"});
        v.push(uri);
    }
    let mut https = r(d, "HTTPS", "1 . alpn=\"h3,h2\"");
    https["data"] = json!({"priority": 1, "target": ".", "value": "alpn=\"h3,h2\""});
    v.push(https);
    let mut noted = r(&format!("noted.{d}"), "A", "192.0.2.99");
    noted["comment"] = json!("owned by the web team");
    noted["tags"] = json!(["team:web"]);
    v.push(noted);
    assert_eq!(v.len(), 4992);
    for i in 0..8 {
        v.push(r(&format!("pad{i}.{d}"), "AAAA", &format!("2001:db8::{i}")));
    }
    v
}

#[tokio::test]
async fn a_5000_record_zone_is_imported_with_what_cloudflare_serves_differently() {
    let d = common::unique_domain("cf-big");
    let (_, token) = cf_zone(&d, big_zone(&d));
    let origin = format!("{d}.");

    // The import alone, as the operator's adapter does it.
    let api = CloudflareApi::new(&api_url(), cloudflare::DEFAULT_REQUESTS_PER_SECOND);
    let lister = Lister {
        api: &api,
        token: &token,
        token_from: "test",
    };
    let started = Instant::now();
    let read = cloudflare::import(&lister, &ZoneRef::Name(d.clone()), &origin)
        .await
        .unwrap();
    eprintln!(
        "MEASURE: 5,000 Cloudflare records imported in {:?} ({} record sets)",
        started.elapsed(),
        read.imported.sets.len()
    );
    let imp = &read.imported;
    assert_eq!(imp.needs_acknowledgement.len(), 490, "every proxied record");
    assert!(imp.needs_acknowledgement[0]
        .reason
        .contains("proxied by Cloudflare"));

    // The whole migration: synced into moto.
    let w = world(&d, &token).await;
    let started = Instant::now();
    let m = w.settle("m").await;
    eprintln!(
        "MEASURE: first passes (import and sync of 5,000 records into moto): {:?}",
        started.elapsed()
    );
    let c = cond(&m, "RecordsSynced");
    assert_eq!(c.status, "True", "{c:?}");
    let s = m.status.as_ref().unwrap();
    let src = s.source.as_ref().unwrap();
    assert!(
        src.imported_from.starts_with("Cloudflare API zone"),
        "{src:?}"
    );
    assert_eq!(src.imported as usize, imp.sets.len());
    let recs = w.records(&zone_id(&m), &d).await;
    assert_eq!(recs.len(), imp.sets.len());
    let key = |n: &str, t| RecordKey::new(format!("{n}{origin}"), t, None);
    // Proxied: the origin's address, TTL 1 -> 300.
    let proxied = &recs[&key("host10.", RecordType::A)];
    assert_eq!(
        (proxied.values.clone(), proxied.ttl),
        (vec!["10.0.0.10".to_string()], Some(300))
    );
    assert_eq!(recs[&key("host11.", RecordType::A)].ttl, Some(600));
    let dkim = &recs[&key("dkim0._domainkey.", RecordType::Txt)].values[0];
    assert_eq!(dkim.replace(['"', ' '], "").len(), 700, "long TXT whole");
    assert_eq!(recs[&key("", RecordType::Mx)].values.len(), 20);
    assert_eq!(
        recs[&key("", RecordType::Caa)].values,
        vec!["0 issue \"letsencrypt.org\""]
    );
    assert_eq!(
        recs[&key("_sip3._tcp.", RecordType::Srv)].values,
        vec![format!("10 5 5060 sip.{origin}")]
    );
    assert!(recs[&key("", RecordType::Https)].values[0].starts_with("1 . alpn="));
    // Not carried, said: URI records, the comment and the tags.
    assert!(src.skipped_count >= 11, "{:?}", src.skipped);
    let all: Vec<String> = imp.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        all.iter()
            .filter(|s| s.contains("Route 53 does not serve URI records"))
            .count(),
        9
    );
    assert!(all
        .iter()
        .any(|s| s.contains("comment \"owned by the web team\"")));
    assert!(all.iter().any(|s| s.contains("tags (team:web)")));
}

#[tokio::test]
async fn a_change_at_cloudflare_reaches_route53_at_the_next_import() {
    let d = common::unique_domain("cf-change");
    let (id, token) = cf_zone(&d, small_zone(&d));
    let w = world(&d, &token).await;
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "RecordsSynced").status, "True");
    let zid = zone_id(&m);
    let origin = format!("{d}.");

    // Someone changes the zone at Cloudflare during the migration.
    let listed = cloudflare_admin("GET", "/stats", None);
    assert!(listed["requests"].as_u64().unwrap() > 0);
    let stored = cloudflare_admin(
        "POST",
        &format!("/zones/{id}/records"),
        Some(json!([r(
            &format!("new.{d}"),
            "TXT",
            "added during the migration"
        )])),
    );
    assert_eq!(stored[0]["name"], json!(format!("new.{d}")));
    let ids = records_by_name(&id, &token).await;
    cloudflare_admin(
        "PATCH",
        &format!("/zones/{id}/records/{}", ids[&format!("www.{d}")]),
        Some(json!({"content": "192.0.2.77"})),
    );
    cloudflare_admin(
        "DELETE",
        &format!("/zones/{id}/records/{}", ids[&format!("old.{d}")]),
        None,
    );

    w.clock
        .advance(zoneshift::plan::Timing::default().import_interval);
    w.reconcile("m").await.unwrap();
    let recs = w.records(&zid, &d).await;
    let key = |n: &str, t| RecordKey::new(format!("{n}{origin}"), t, None);
    assert_eq!(recs[&key("www.", RecordType::A)].values, vec!["192.0.2.77"]);
    assert!(recs.contains_key(&key("new.", RecordType::Txt)));
    assert!(!recs.contains_key(&key("old.", RecordType::A)));
}

/// Record ids by name, read through the API as zoneshift reads it.
async fn records_by_name(zone_id: &str, token: &str) -> BTreeMap<String, String> {
    let api = CloudflareApi::new(&api_url(), 50);
    let lister = Lister {
        api: &api,
        token,
        token_from: "test",
    };
    lister
        .records(zone_id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.name, r.id))
        .collect()
}

#[tokio::test]
async fn a_revoked_token_is_a_clear_error_and_nothing_is_deleted() {
    let d = common::unique_domain("cf-revoked");
    let (_, token) = cf_zone(&d, small_zone(&d));
    let w = world(&d, &token).await;
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "RecordsSynced").status, "True");
    let before = w.records(&zone_id(&m), &d).await;

    cloudflare_admin("DELETE", &format!("/tokens/{token}"), None);
    w.clock
        .advance(zoneshift::plan::Timing::default().import_interval);
    let _ = w.reconcile("m").await;
    let m = w.get("m").await;
    let c = cond(&m, "RecordsSynced");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "TransferFailed"),
        "{c:?}"
    );
    assert!(
        c.message
            .contains("Cloudflare refused the API token in Secret dns/cf key token"),
        "{}",
        c.message
    );
    assert!(c.message.contains("nothing was changed"), "{}", c.message);
    assert_eq!(w.records(&zone_id(&m), &d).await, before, "nothing deleted");

    // A Secret that is not there names itself.
    let w = World::new(vec![from_cloudflare(&d)]).await;
    let m = w.settle("m").await;
    let c = cond(&m, "RecordsSynced");
    assert!(
        c.message
            .contains("spec.source.cloudflare.apiTokenSecretRef: Secret dns/cf does not exist"),
        "{c:?}"
    );
}

#[tokio::test]
async fn a_429_storm_is_waited_out() {
    let d = common::unique_domain("cf-storm");
    let (_, token) = cf_zone(&d, small_zone(&d));
    let w = world(&d, &token).await;
    let before = cloudflare_admin("GET", "/stats", None)["throttled"]
        .as_u64()
        .unwrap();
    cloudflare_admin(
        "POST",
        "/throttle",
        Some(json!({"count": 4, "retry_after": 1, "token": token})),
    );
    let started = Instant::now();
    let m = w.settle("m").await;
    let c = cond(&m, "RecordsSynced");
    assert_eq!(c.status, "True", "{c:?}");
    let throttled = cloudflare_admin("GET", "/stats", None)["throttled"]
        .as_u64()
        .unwrap()
        - before;
    assert!(throttled >= 4, "{throttled}");
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "Retry-After honoured: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_empty_zone_is_refused_and_nothing_is_deleted() {
    let d = common::unique_domain("cf-empty");
    let (id, token) = cf_zone(&d, small_zone(&d));
    let w = world(&d, &token).await;
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "RecordsSynced").status, "True");
    let before = w.records(&zone_id(&m), &d).await;

    cloudflare_admin("DELETE", &format!("/zones/{id}/records"), None);
    w.clock
        .advance(zoneshift::plan::Timing::default().import_interval);
    let _ = w.reconcile("m").await;
    let m = w.get("m").await;
    let c = cond(&m, "RecordsSynced");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "TransferFailed"),
        "{c:?}"
    );
    assert!(
        c.message
            .contains("does not read an empty zone as \"delete everything\""),
        "{}",
        c.message
    );
    assert_eq!(w.records(&zone_id(&m), &d).await, before, "nothing deleted");
}

fn zoneshift(args: &[&str], token: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_zoneshift"))
        .args(args)
        .env("CLOUDFLARE_API_TOKEN", token)
        .output()
        .expect("run zoneshift")
}

#[test]
fn zoneshift_import_cloudflare_writes_the_manifest_and_says_what_to_acknowledge() {
    let d = common::unique_domain("cf-cli");
    let mut records = small_zone(&d);
    records[0]["proxied"] = json!(true);
    records.push(r(&format!("x.{d}"), "URI", "1 \"https://example.net/\""));
    let (_, token) = cf_zone(&d, records);
    let url = api_url();
    let args = [
        "import",
        "--domain",
        &d,
        "--cloudflare",
        "--cloudflare-api-url",
        &url,
    ];
    let a = zoneshift(&args, &token);
    let err = String::from_utf8_lossy(&a.stderr);
    assert!(a.status.success(), "{err}");
    assert_eq!(a.stdout, zoneshift(&args, &token).stdout, "stable output");
    let out = String::from_utf8_lossy(&a.stdout);
    let yaml = out
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let m: HostedZoneMigration = yaml_serde::from_str(&yaml).unwrap();
    let cf = m.spec.source.unwrap().cloudflare.unwrap();
    assert_eq!(cf.zone.as_deref(), Some(d.as_str()));
    assert_eq!(cf.api_token_secret_ref.key, "token");
    assert!(
        m.spec.records.is_empty(),
        "the operator follows Cloudflare live"
    );
    assert!(
        err.contains(&format!(
            "acknowledge before the switch: www.{d}. A: proxied"
        )),
        "{err}"
    );
    assert!(err.contains("URI records"), "{err}");
    assert!(err.contains("names the Secret"), "{err}");

    // `zoneshift plan` reads the manifest's Cloudflare source the same way: six sets to create.
    let path = std::env::temp_dir().join(format!("zs-plan-{d}.yaml"));
    std::fs::write(&path, &a.stdout).unwrap();
    let plan = zoneshift(&["plan", "-f", path.to_str().unwrap()], &token);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "{text}{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        text.contains("Plan: 6 to create, 0 to update, 0 to delete."),
        "{text}"
    );

    let inline = [&args[..], &["--inline-records"]].concat();
    let b = zoneshift(&inline, &token);
    let m: HostedZoneMigration = yaml_serde::from_str(
        &String::from_utf8_lossy(&b.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    assert_eq!(m.spec.records.len(), 6);

    let bad = zoneshift(&args, "not-a-token");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("Cloudflare refused the API token in CLOUDFLARE_API_TOKEN"),
        "{err}"
    );
    assert!(bad.stdout.is_empty(), "nothing written");
    let none = zoneshift(&args, "");
    assert!(String::from_utf8_lossy(&none.stderr).contains("CLOUDFLARE_API_TOKEN"));
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_as_unreachable() {
    let d = common::unique_domain("cf-5xx");
    let (_, token) = cf_zone(&d, small_zone(&d));
    let api = CloudflareApi::new(&api_url(), 50);
    let lister = Lister {
        api: &api,
        token: &token,
        token_from: "test",
    };
    let origin = format!("{d}.");
    let zone = ZoneRef::Name(d.clone());
    // Two 503s: retried with backoff, the import succeeds.
    cloudflare_admin(
        "POST",
        "/throttle",
        Some(json!({"count": 2, "status": 503, "token": token})),
    );
    let read = cloudflare::import(&lister, &zone, &origin).await.unwrap();
    assert_eq!(read.imported.sets.len(), 6);
    // More than the retries: SourceUnreachable, which the next pass tries again.
    cloudflare_admin(
        "POST",
        "/throttle",
        Some(json!({"count": 10, "status": 502, "token": token})),
    );
    let err = cloudflare::import(&lister, &zone, &origin)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Reason::SourceUnreachable, "{err}");
    assert!(
        err.to_string().contains("HTTP 502 (tried 4 times)"),
        "{err}"
    );
    cloudflare_admin(
        "POST",
        "/throttle",
        Some(json!({"count": 0, "token": token})),
    );
}

/// The gate's `Acknowledged` check: its state and reason.
fn acknowledged_check(m: &HostedZoneMigration) -> (String, Option<String>) {
    let cut = m.status.as_ref().unwrap().cutover.clone().unwrap();
    let c = cut.gate.iter().find(|c| c.name == "Acknowledged").unwrap();
    (c.state.clone(), c.reason.clone())
}

#[tokio::test]
async fn proxied_records_wait_at_the_gate_until_acknowledged() {
    let d = common::unique_domain("cf-ack");
    let mut records = small_zone(&d);
    records[0]["proxied"] = json!(true); // www
    records[1]["proxied"] = json!(true); // api
    let (_, token) = cf_zone(&d, records);
    let mut m = from_cloudflare(&d);
    // Servers that answer, so that the shadow zone is compared and the gate sees what waits
    // for a person; the stand-in serves no DNS.
    m.spec.source.as_mut().unwrap().nameservers =
        vec![std::env::var("ZS_SOURCE_DNS")
            .expect("ZS_SOURCE_DNS is not set: run scripts/test-env up")];
    let w = World::with(vec![m], vec![], vec![token_secret(&token)]).await;
    w.settle("m").await;
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    let cut = m.status.as_ref().unwrap().cutover.clone().unwrap();
    assert_eq!(
        cut.unacknowledged_count,
        Some(2),
        "{:?}",
        cut.unacknowledged
    );
    assert!(
        cut.unacknowledged[0].contains("proxied by Cloudflare"),
        "{:?}",
        cut.unacknowledged
    );
    assert_eq!(
        acknowledged_check(&m),
        ("Block".to_string(), Some("Unacknowledged".to_string()))
    );
    let v = m.status.as_ref().unwrap().verification.clone().unwrap();
    assert_eq!(
        v.not_comparable, 2,
        "the proxied records are not compared: {v:?}"
    );

    w.patch_spec(
        "m",
        json!({"cutover": {"acknowledge": [
            {"name": "www", "type": "A", "why": "the origin takes the traffic directly"},
            {"name": "api", "type": "*", "why": "the origin takes the traffic directly"}
        ]}}),
    )
    .await;
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(acknowledged_check(&m), ("Pass".to_string(), None));
}
