//! Reconcile with a source: the zone imported from BIND 9 (zone file in a ConfigMap, AXFR with
//! a TSIG key in a Secret), merged under `spec.records`, synced into moto, and verified against
//! BIND. A change made at BIND with `nsupdate` reaches Route 53 at the next import.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::world::*;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use std::collections::BTreeMap;
use std::process::Command;
use zoneshift::api::*;
use zoneshift::dns::TsigKey;
use zoneshift::zone::{RecordKey, RecordType};

fn source_dns() -> String {
    std::env::var("ZS_SOURCE_DNS").expect("ZS_SOURCE_DNS is not set: run scripts/test-env up")
}

fn tsig() -> TsigKey {
    let path = std::env::var("ZS_TSIG_KEY_FILE")
        .expect("ZS_TSIG_KEY_FILE is not set: run scripts/test-env up");
    TsigKey::from_bind_file(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn zone_file_text() -> String {
    std::fs::read_to_string(format!(
        "{}/tests/zones/example.com.zone",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn config_map(name: &str, key: &str, text: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.namespace = Some(NS.into());
    cm.data = Some(BTreeMap::from([(key.to_string(), text.to_string())]));
    cm
}

fn tsig_secret(name: &str, key: &TsigKey) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(NS.into());
    s.data = Some(BTreeMap::from([
        (
            "name".to_string(),
            ByteString(key.name.clone().into_bytes()),
        ),
        (
            "algorithm".to_string(),
            ByteString(key.algorithm.clone().into_bytes()),
        ),
        (
            "secret".to_string(),
            ByteString(key.secret.clone().into_bytes()),
        ),
    ]));
    s
}

fn from_zone_file(domain: &str, records: Vec<RecordSpec>) -> HostedZoneMigration {
    let mut m = migration("m", domain, records);
    m.spec.source = Some(SourceSpec {
        nameservers: vec![source_dns()],
        zone_file: Some(ZoneFileSource {
            config_map_key_ref: ConfigMapKeyRef {
                name: "zone".into(),
                key: "zone".into(),
            },
        }),
        ..Default::default()
    });
    m
}

fn from_axfr(domain: &str, secret: Option<&str>) -> HostedZoneMigration {
    let mut m = migration("m", domain, vec![]);
    m.spec.source = Some(SourceSpec {
        nameservers: vec![source_dns()],
        axfr: Some(AxfrSource {
            tsig_secret_ref: secret.map(|s| LocalObjectRef { name: s.into() }),
        }),
        ..Default::default()
    });
    m
}

#[tokio::test]
async fn a_zone_file_is_imported_synced_and_verified() {
    let w = World::with(
        vec![from_zone_file("example.com", vec![])],
        vec![config_map("zone", "zone", &zone_file_text())],
        vec![],
    )
    .await;
    let m = w.settle("m").await;
    let s = m.status.as_ref().unwrap();
    for t in ["ZoneReady", "RecordsSynced", "ShadowVerified"] {
        assert_eq!(cond(&m, t).status, "True", "{t}: {:?}", cond(&m, t));
    }
    // Verified: the migration waits at the cutover gate. This world has no parent zone to ask
    // (see tests/cutover.rs for the DNS world), so the gate names what it cannot see.
    assert_eq!(s.phase, Some(Phase::AwaitingCutover));
    assert_eq!(cond(&m, "CutoverReady").status, "False");
    let ready = cond(&m, "Ready");
    assert_eq!(ready.status, "False", "Ready means a completed migration");
    assert_eq!(ready.reason, cond(&m, "CutoverReady").reason);
    let v = s.verification.as_ref().unwrap();
    assert_eq!(v.checked, v.matched);
    assert!(v.checked > 20, "{v:?}");
    let src = s.source.as_ref().unwrap();
    assert_eq!(src.serial, Some(2026112701));
    assert!(src.imported_from.contains("ConfigMap dns/zone"));
    assert_eq!(
        src.skipped,
        vec!["loc.example.com. LOC: Route 53 does not serve LOC records".to_string()]
    );
    let cut = s.cutover.as_ref().unwrap();
    assert_eq!(
        cut.previous_nameservers,
        vec!["ns1.old-provider.net.", "ns2.old-provider.net."],
        "kept as the rollback target"
    );
    assert_eq!(s.observed_ttls.as_ref().unwrap().source_ns, Some(3600));
    // Apex SOA and NS were not copied: the zone holds Route 53's own.
    let recs = w.records(&zone_id(&m), "example.com").await;
    assert_eq!(recs.len() as i64, s.records.as_ref().unwrap().desired);
}

#[tokio::test]
async fn spec_records_override_imported_ones_and_the_difference_is_reported() {
    let mut blue = rec("api", "A", &["192.0.2.120"]);
    blue.set_identifier = Some("blue".into());
    blue.weight = Some(100);
    let w = World::with(
        vec![from_zone_file(
            "example.com",
            vec![rec("www", "CNAME", &["new-app.example.net."]), blue],
        )],
        vec![config_map("zone", "zone", &zone_file_text())],
        vec![],
    )
    .await;
    let m = w.settle("m").await;
    let recs = w.records(&zone_id(&m), "example.com").await;
    assert_eq!(
        recs[&RecordKey::new("www.example.com.", RecordType::Cname, None)].values,
        vec!["new-app.example.net."]
    );
    // The weighted set replaced the imported plain api A record: no mix Route 53 would refuse.
    assert!(!recs.contains_key(&RecordKey::new("api.example.com.", RecordType::A, None)));
    assert!(recs.contains_key(&RecordKey::new(
        "api.example.com.",
        RecordType::A,
        Some("blue".into())
    )));
    let c = cond(&m, "ShadowVerified");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "Mismatch"),
        "{c:?}"
    );
    assert!(c.message.contains("www.example.com. CNAME: source has app.example.net., Route 53 has new-app.example.net."), "{}", c.message);
    let v = m.status.as_ref().unwrap().verification.as_ref().unwrap();
    assert_eq!(
        v.not_comparable, 1,
        "the weighted set cannot be proven by one answer"
    );
    assert!(w
        .event_reasons()
        .await
        .contains(&"ShadowMismatch".to_string()));
    assert_eq!(cond(&m, "Ready").status, "False");
}

#[tokio::test]
async fn a_bad_zone_file_writes_nothing_and_names_the_line() {
    let bad = format!("{}broken IN A 192.0.2.999\n", zone_file_text());
    let w = World::with(
        vec![from_zone_file("example.com", vec![])],
        vec![config_map("zone", "zone", &bad)],
        vec![],
    )
    .await;
    let before = w.r53.stats.total();
    let m = w.settle("m").await;
    assert_eq!(w.r53.stats.total(), before, "no Route 53 call");
    let c = cond(&m, "RecordsSynced");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "InvalidZoneFile")
    );
    let line = zone_file_text().lines().count() + 1;
    assert!(c.message.contains(&format!("line {line}")), "{}", c.message);
    assert!(c.message.contains("ConfigMap dns/zone"), "{}", c.message);
}

#[tokio::test]
async fn axfr_with_a_tsig_secret_and_the_failures_around_it() {
    let w = World::with(
        vec![from_axfr("example.com", Some("xfr"))],
        vec![],
        vec![tsig_secret("xfr", &tsig())],
    )
    .await;
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "ShadowVerified").status, "True", "{:?}", m.status);
    assert!(m
        .status
        .as_ref()
        .unwrap()
        .source
        .as_ref()
        .unwrap()
        .imported_from
        .starts_with("AXFR from 127.0.0.1:"));

    // Without the key the transfer is refused: a condition with the server's answer.
    let w = World::new(vec![from_axfr("example.com", None)]).await;
    let before = w.r53.stats.total();
    let m = w.settle("m").await;
    let c = cond(&m, "RecordsSynced");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "TransferFailed")
    );
    assert!(
        c.message.contains("refused the zone transfer"),
        "{}",
        c.message
    );
    assert_eq!(
        w.r53.stats.total(),
        before,
        "nothing written when the source cannot be read"
    );

    // A missing Secret names itself.
    let w = World::new(vec![from_axfr("example.com", Some("absent"))]).await;
    let m = w.settle("m").await;
    assert!(cond(&m, "RecordsSynced")
        .message
        .contains("Secret dns/absent does not exist"));
}

/// `--allowed-source-networks`: a server outside the networks, named by its address or by a
/// host name that resolves outside them, is refused before anything is asked
/// (`SourceNotAllowed`, stalled: a person must name another server or widen the flag), and
/// nothing is written; a server inside them is transferred from as always.
#[tokio::test]
async fn a_source_server_outside_the_allowed_networks_is_never_asked() {
    use zoneshift::dns::networks::Network;
    let networks = |list: &[&str]| -> &'static [Network] {
        let parsed: Vec<Network> = list.iter().map(|n| Network::parse(n).unwrap()).collect();
        Box::leak(parsed.into_boxed_slice())
    };
    let bind: std::net::SocketAddr = source_dns().parse().unwrap();
    let by_name = format!("localhost:{}", bind.port());
    for server in [source_dns(), by_name] {
        let mut m = from_axfr("example.com", Some("xfr"));
        m.spec.source.as_mut().unwrap().nameservers = vec![server.clone()];
        let mut w = World::with(vec![m], vec![], vec![tsig_secret("xfr", &tsig())]).await;
        std::sync::Arc::get_mut(&mut w.ctx)
            .expect("one owner")
            .dns
            .source_networks = networks(&["192.0.2.0/24", "2001:db8::/32"]);
        let before = w.r53.stats.total();
        let m = w.settle("m").await;
        let c = cond(&m, "RecordsSynced");
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "SourceNotAllowed"),
            "{server}: {c:?}"
        );
        for part in [
            "spec.source.nameservers[0]",
            "--allowed-source-networks=192.0.2.0/24,2001:db8::/32",
            "it was not asked",
        ] {
            assert!(
                c.message.contains(part),
                "{server}: {part} in {}",
                c.message
            );
        }
        assert_eq!(cond(&m, "Stalled").status, "True", "{server}");
        assert_eq!(w.r53.stats.total(), before, "{server}: nothing called");
    }

    // Inside the networks, the same resource is transferred and verified.
    let mut w = World::with(
        vec![from_axfr("example.com", Some("xfr"))],
        vec![],
        vec![tsig_secret("xfr", &tsig())],
    )
    .await;
    let inside = format!("{}/32", bind.ip());
    std::sync::Arc::get_mut(&mut w.ctx)
        .expect("one owner")
        .dns
        .source_networks = networks(&["192.0.2.0/24", &inside]);
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "ShadowVerified").status, "True", "{:?}", m.status);
}

#[tokio::test]
async fn an_unreachable_source_is_reported_as_such() {
    let mut m = from_zone_file("example.com", vec![]);
    m.spec.source.as_mut().unwrap().nameservers = vec!["127.0.0.1:9".into()];
    let w = World::with(
        vec![m],
        vec![config_map("zone", "zone", &zone_file_text())],
        vec![],
    )
    .await;
    let m = w.settle("m").await;
    assert_eq!(cond(&m, "RecordsSynced").status, "True");
    let c = cond(&m, "ShadowVerified");
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "SourceUnreachable"),
        "{c:?}"
    );
    assert!(m
        .status
        .as_ref()
        .unwrap()
        .verification
        .as_ref()
        .unwrap()
        .mismatches
        .iter()
        .all(|s| s.contains("did not answer")));
}

#[tokio::test]
async fn a_change_at_the_source_reaches_route53_at_the_next_import() {
    let key = tsig();
    let w = World::with(
        vec![from_axfr("dynamic.example.net", Some("xfr"))],
        vec![],
        vec![tsig_secret("xfr", &key)],
    )
    .await;
    let m = w.settle("m").await;
    assert_eq!(
        cond(&m, "ShadowVerified").status,
        "True",
        "{:?}",
        cond(&m, "ShadowVerified")
    );
    let id = zone_id(&m);

    // Someone changes the live zone at the old provider while the migration runs.
    let server = source_dns();
    let (host, port) = server.rsplit_once(':').unwrap();
    let script = format!(
        "server {host} {port}\nzone dynamic.example.net\nupdate delete www.dynamic.example.net. A\nupdate add www.dynamic.example.net. 300 A 192.0.2.77\nupdate add new.dynamic.example.net. 120 TXT \"added during the migration\"\nsend\n"
    );
    let mut child = Command::new("nsupdate")
        .args(["-y", &format!("hmac-sha256:{}:{}", key.name, key.secret)])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nsupdate (bind9-dnsutils)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "nsupdate failed");

    // The next import, after --import-interval, carries it over.
    w.clock
        .advance(zoneshift::plan::Timing::default().import_interval);
    w.reconcile("m").await.unwrap();
    let recs = w.records(&id, "dynamic.example.net").await;
    assert_eq!(
        recs[&RecordKey::new("www.dynamic.example.net.", RecordType::A, None)].values,
        vec!["192.0.2.77"]
    );
    assert!(recs.contains_key(&RecordKey::new(
        "new.dynamic.example.net.",
        RecordType::Txt,
        None
    )));
    // That pass changed Route 53; the one after verifies again.
    w.reconcile("m").await.unwrap();
    let m = w.get("m").await;
    assert_eq!(
        cond(&m, "ShadowVerified").status,
        "True",
        "{:?}",
        cond(&m, "ShadowVerified")
    );
    assert_eq!(
        m.status.as_ref().unwrap().phase,
        Some(Phase::AwaitingCutover)
    );
}
