//! Import from the old provider (zone files, and AXFR from BIND 9 with and without TSIG) and
//! shadow verification against it, with moto_server as Route 53. BIND is started by
//! `scripts/test-env up` and serves tests/zones/ (see ZS_SOURCE_DNS, ZS_TSIG_KEY_FILE).

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use std::net::SocketAddr;
use std::time::Duration;
use zoneshift::dns::import::{import, Imported};
use zoneshift::dns::query::Authorities;
use zoneshift::dns::transfer::{axfr, TransferError};
use zoneshift::dns::verify::ask_source;
use zoneshift::dns::{zonefile, TsigKey};
use zoneshift::plan::verify::{compare, questions, SourceView};
use zoneshift::route53::caller_reference;
use zoneshift::zone::{self, normalize_origin, RecordKey, RecordType, SyncMode};

const TIMEOUT: Duration = Duration::from_secs(5);

fn source() -> SocketAddr {
    std::env::var("ZS_SOURCE_DNS")
        .expect("ZS_SOURCE_DNS is not set: run `scripts/test-env up` and `eval \"$(scripts/test-env env)\"`")
        .parse()
        .unwrap()
}

fn tsig() -> TsigKey {
    let path = std::env::var("ZS_TSIG_KEY_FILE")
        .expect("ZS_TSIG_KEY_FILE is not set: run scripts/test-env up");
    TsigKey::from_bind_file(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn zone_file(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/zones/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn example_from_file() -> Imported {
    zonefile::read(&zone_file("example.com.zone"), "example.com.").unwrap()
}

fn key(name: &str, t: RecordType) -> RecordKey {
    RecordKey::new(name, t, None)
}

#[test]
fn a_zone_file_imports_what_route53_can_serve_and_says_what_it_cannot() {
    let imp = example_from_file();
    assert_eq!(imp.serial, Some(2026112701));
    assert_eq!(imp.negative_ttl, Some(300));
    assert_eq!(
        imp.apex_ns,
        vec!["ns1.old-provider.net.", "ns2.old-provider.net."]
    );
    assert_eq!(imp.apex_ns_ttl, Some(3600));
    assert!(
        !imp.sets
            .keys()
            .any(|k| zone::is_apex_protected(k, "example.com.")),
        "apex SOA/NS never copied"
    );
    let dkim = &imp.sets[&key("selector1._domainkey.example.com.", RecordType::Txt)];
    assert_eq!(dkim.values.len(), 1);
    assert_eq!(
        dkim.values[0].matches("\" \"").count(),
        1,
        "kept as two strings: {}",
        dkim.values[0]
    );
    assert_eq!(dkim.ttl, Some(3600), "$TTL applies");
    assert_eq!(
        imp.sets[&key("api.example.com.", RecordType::A)].values,
        vec!["192.0.2.20", "192.0.2.21"]
    );
    assert_eq!(
        imp.sets[&key("*.preview.example.com.", RecordType::A)].ttl,
        Some(120)
    );
    assert!(imp
        .sets
        .contains_key(&key("xn--bcher-kva.example.com.", RecordType::A)));
    assert_eq!(
        imp.sets[&key("txt-escapes.example.com.", RecordType::Txt)].values,
        vec![r#""say \"hello\"" "semi;colon" "back\\slash""#.to_string()]
    );
    assert!(
        imp.sets
            .contains_key(&key("dev.example.com.", RecordType::Ns)),
        "delegations are carried"
    );
    assert!(imp
        .sets
        .contains_key(&key("dev.example.com.", RecordType::Ds)));
    let skipped: Vec<String> = imp.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        vec!["loc.example.com. LOC: Route 53 does not serve LOC records".to_string()]
    );
}

#[test]
fn decisions_and_dnssec_records_are_listed_not_dropped() {
    let text = "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n@ IN CNAME other.example.net.\n@ IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\nns1 IN A 192.0.2.1\n";
    let imp = zonefile::read(text, "example.org.").unwrap();
    let skipped: Vec<String> = imp.skipped.iter().map(ToString::to_string).collect();
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("example.org. CNAME: a CNAME at the apex needs a decision")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("example.org. DNSKEY: a DNSSEC record")),
        "{skipped:?}"
    );
    assert_eq!(imp.sets.len(), 1);
}

#[test]
fn zone_file_errors_name_the_line() {
    let good = zone_file("example.com.zone");
    let lines = good.lines().count();
    for (bad_line, why) in [
        ("bad IN A 192.0.2.999", "an address out of range"),
        ("bad IN MX mail.example.com.", "an MX without preference"),
        ("bad IN BOGUS data", "an unknown type"),
    ] {
        let text = format!("{good}{bad_line}\nafter IN A 192.0.2.1\n");
        let e = zonefile::read(&text, "example.com.").unwrap_err();
        assert_eq!(e.line, lines + 1, "{why}: {e}");
    }
    let unbalanced = format!("{good}open IN TXT ( \"never closed\"\n");
    assert!(zonefile::read(&unbalanced, "example.com.").is_err());
}

#[tokio::test]
async fn axfr_with_tsig_equals_the_zone_file() {
    let recs = axfr(source(), "example.com.", Some(&tsig()), TIMEOUT)
        .await
        .unwrap();
    let by_axfr = import("example.com.", &recs);
    let by_file = example_from_file();
    assert_eq!(by_axfr.sets, by_file.sets);
    // AXFR carries LOC as data hickory does not know; the file parser sets it aside. Both list it.
    assert_eq!(
        by_axfr.skipped.len(),
        by_file.skipped.len(),
        "{:?} vs {:?}",
        by_axfr.skipped,
        by_file.skipped
    );
    assert_eq!(by_axfr.apex_ns, by_file.apex_ns);
}

#[tokio::test]
async fn axfr_without_a_key_or_with_a_wrong_one_is_refused_with_the_servers_answer() {
    let e = axfr(source(), "example.com.", None, TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(e, TransferError::Refused { .. }), "{e}");
    assert!(e.to_string().contains("refused the zone transfer"), "{e}");
    let mut wrong = tsig();
    wrong.secret = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE=".into();
    let e = axfr(source(), "example.com.", Some(&wrong), TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        !matches!(e, TransferError::BadKey(_)),
        "the key is well formed; the server refuses it: {e}"
    );
    let mut bad = tsig();
    bad.algorithm = "hmac-md5".into();
    assert!(matches!(
        axfr(source(), "example.com.", Some(&bad), TIMEOUT)
            .await
            .unwrap_err(),
        TransferError::BadKey(_)
    ));
}

#[tokio::test]
async fn axfr_without_tsig_where_allowed_and_an_unreachable_server() {
    let recs = axfr(source(), "big.example.org.", None, TIMEOUT)
        .await
        .unwrap();
    let imp = import("big.example.org.", &recs);
    assert!(imp.sets.len() > 1000, "{}", imp.sets.len());
    let closed: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let e = axfr(closed, "big.example.org.", None, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert!(matches!(e, TransferError::Unreachable { .. }), "{e}");
}

/// Imports example.com by AXFR, applies it to a fresh Route 53 zone, and returns what
/// verification needs.
async fn shadow_of_example() -> (zoneshift::route53::Route53, String, zone::RecordMap) {
    let r53 = common::route53().await;
    let recs = axfr(source(), "example.com.", Some(&tsig()), TIMEOUT)
        .await
        .unwrap();
    let desired = import("example.com.", &recs).sets;
    let origin = normalize_origin("example.com").unwrap();
    let (z, _) = r53
        .ensure_zone(
            &origin,
            &caller_reference(&common::unique_domain("verify")),
            None,
            None,
        )
        .await
        .unwrap();
    let current = r53.list_records(&z.id).await.unwrap();
    let d = zone::diff(&desired, &current.sets, &origin, SyncMode::Sync);
    let (_, err) = r53.apply(&z.id, &d.changes, &current).await;
    assert!(err.is_none(), "{err:?}");
    (r53, z.id, desired)
}

#[tokio::test]
async fn an_imported_zone_round_trips_and_verifies_with_no_mismatch() {
    let (r53, zone_id, desired) = shadow_of_example().await;
    let shadow = r53.list_records(&zone_id).await.unwrap().sets;
    let origin = "example.com.";
    let auth = Authorities::connect(&[source()], TIMEOUT).await;
    let answers = ask_source(&auth, &questions(&desired, origin), 16).await;
    let c = compare(origin, &desired, &shadow, &answers);
    assert!(c.verified(), "{c:?}");
    assert_eq!(c.checked, c.matched);
    assert_eq!(c.checked, desired.len());
    assert!(c.ttl_differences.is_empty(), "{:?}", c.ttl_differences);
}

#[tokio::test]
async fn verification_reports_value_ttl_and_missing_differences() {
    let (r53, zone_id, desired) = shadow_of_example().await;
    let origin = "example.com.";
    // Change Route 53 behind the import: a value, a TTL, and a deletion.
    let current = r53.list_records(&zone_id).await.unwrap();
    let mut hand = current.sets.clone();
    hand.get_mut(&key("api.example.com.", RecordType::A))
        .unwrap()
        .values = vec!["192.0.2.99".into()];
    hand.get_mut(&key("sip.example.com.", RecordType::A))
        .unwrap()
        .ttl = Some(30);
    hand.remove(&key("mail.example.com.", RecordType::A));
    let d = zone::diff(&hand, &current.sets, origin, SyncMode::Sync);
    assert!(r53.apply(&zone_id, &d.changes, &current).await.1.is_none());
    let shadow = r53.list_records(&zone_id).await.unwrap().sets;

    let auth = Authorities::connect(&[source()], TIMEOUT).await;
    let answers = ask_source(&auth, &questions(&desired, origin), 16).await;
    let c = compare(origin, &desired, &shadow, &answers);
    assert_eq!(c.mismatches.len(), 2, "{:?}", c.mismatches);
    assert!(
        c.mismatches.contains(
            &"api.example.com. A: source has 192.0.2.20, 192.0.2.21, Route 53 has 192.0.2.99"
                .to_string()
        ),
        "{:?}",
        c.mismatches
    );
    assert!(
        c.mismatches.contains(
            &"mail.example.com. A: source has 192.0.2.70, Route 53 has nothing".to_string()
        ),
        "{:?}",
        c.mismatches
    );
    assert_eq!(
        c.ttl_differences,
        vec!["sip.example.com. A: TTL 600 at the source, 30 in Route 53".to_string()]
    );
    assert!(!c.verified());
}

#[tokio::test]
async fn an_unreachable_source_is_its_own_outcome() {
    let (_, _, desired) = shadow_of_example().await;
    let auth =
        Authorities::connect(&["127.0.0.1:9".parse().unwrap()], Duration::from_secs(1)).await;
    assert!(auth.all_down());
    let answers = ask_source(&auth, &questions(&desired, "example.com."), 16).await;
    assert!(answers
        .values()
        .all(|v| matches!(v, SourceView::Unanswered(_))));
    let c = compare("example.com.", &desired, &desired, &answers);
    assert!(c.mismatches.is_empty());
    assert_eq!(c.unanswered.len(), desired.len());
}
