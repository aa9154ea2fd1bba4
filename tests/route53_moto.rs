//! The Route 53 adapter against moto_server: zones, paging, batches, and the round trip
//! "desired set -> apply -> list back" that every sync relies on.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use proptest::prelude::*;
use zoneshift::api::{AliasSpec, RecordSpec, SyncMode};
use zoneshift::route53::caller_reference;
use zoneshift::zone::{self, desired_from_spec, normalize_origin, RecordMap};

fn rec(name: &str, t: &str, values: &[&str]) -> RecordSpec {
    RecordSpec {
        name: name.into(),
        type_: t.into(),
        values: values.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn non_apex(m: &RecordMap, origin: &str) -> RecordMap {
    m.iter()
        .filter(|(k, _)| !zone::is_apex_protected(k, origin))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Creates a zone, applies `records`, lists it back and returns (desired, listed).
async fn apply_and_list(domain: &str, records: &[RecordSpec]) -> (RecordMap, RecordMap) {
    let r53 = common::route53().await;
    let origin = normalize_origin(domain).unwrap();
    let (z, created) = r53
        .ensure_zone(&origin, &caller_reference(domain), None, None)
        .await
        .unwrap();
    assert!(created);
    let desired = desired_from_spec(domain, records).unwrap();
    let current = r53.list_records(&z.id).await.unwrap();
    let d = zone::diff(&desired, &current.sets, &origin, SyncMode::Sync);
    let (_, err) = r53.apply(&z.id, &d.changes, &current).await;
    assert!(err.is_none(), "{err:?}");
    let listed = r53.list_records(&z.id).await.unwrap();
    (desired, non_apex(&listed.sets, &origin))
}

#[tokio::test]
async fn create_is_idempotent_by_caller_reference() {
    let r53 = common::route53().await;
    let domain = common::unique_domain("create");
    let origin = normalize_origin(&domain).unwrap();
    let cref = caller_reference(&domain);
    let (z1, created1) = r53.ensure_zone(&origin, &cref, None, None).await.unwrap();
    let (z2, created2) = r53.ensure_zone(&origin, &cref, None, None).await.unwrap();
    assert!(created1 && !created2);
    assert_eq!(z1.id, z2.id, "a retried ensure finds the zone it created");
    assert_eq!(z1.nameservers.len(), 4);
    assert_eq!(z1.caller_reference, cref);
}

#[tokio::test]
async fn adopt_checks_the_zone_name() {
    let r53 = common::route53().await;
    let domain = common::unique_domain("adopt");
    let origin = normalize_origin(&domain).unwrap();
    let (z, _) = r53
        .ensure_zone(&origin, "someone-else", None, None)
        .await
        .unwrap();
    let (adopted, created) = r53
        .ensure_zone(&origin, "mine", Some(&z.id), None)
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(adopted.id, z.id);
    let other = normalize_origin(&common::unique_domain("other")).unwrap();
    let err = r53
        .ensure_zone(&other, "mine", Some(&z.id), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is named"), "{err}");
    let err = r53
        .ensure_zone(&origin, "mine", Some("ZNOSUCHZONE1"), None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn every_type_alias_and_routing_policy_round_trips() {
    let domain = common::unique_domain("types");
    let mut records = vec![
        rec("a", "A", &["192.0.2.1", "192.0.2.2"]),
        rec("aaaa", "AAAA", &["2001:db8::1"]),
        rec("@", "CAA", &["0 issue \"letsencrypt.org\""]),
        rec("www", "CNAME", &["App.Example.NET"]),
        rec(
            "sub",
            "DS",
            &["12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE"],
        ),
        rec(
            "@",
            "MX",
            &["10 mail.example.net.", "20 mail2.example.net."],
        ),
        rec(
            "sip",
            "NAPTR",
            &["100 10 \"u\" \"E2U+sip\" \"!^.*$!sip:info@example.com!\" ."],
        ),
        rec("sub", "NS", &["ns1.example.net."]),
        rec("ptr", "PTR", &["host.example.net."]),
        rec("_sip._tcp", "SRV", &["0 5 5060 sip.example.net."]),
        rec(
            "host",
            "SSHFP",
            &["1 1 123456789abcdef67890123456789abcdef67890"],
        ),
        rec(
            "_443._tcp",
            "TLSA",
            &["3 1 1 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"],
        ),
        rec("@", "TXT", &["v=spf1 -all", &"k".repeat(600)]),
        rec("*.dev", "A", &["192.0.2.9"]),
        rec("svc", "SVCB", &["1 svc.example.net. alpn=h2"]),
        rec("@", "HTTPS", &["1 . alpn=h2,h3"]),
    ];
    let mut blue = rec("api", "A", &["192.0.2.10"]);
    blue.set_identifier = Some("blue".into());
    blue.weight = Some(90);
    let mut green = rec("api", "A", &["192.0.2.11"]);
    green.set_identifier = Some("green".into());
    green.weight = Some(10);
    let mut alias = rec("@", "A", &[]);
    alias.alias = Some(AliasSpec {
        dns_name: "my-lb-123.eu-west-1.elb.amazonaws.com".into(),
        hosted_zone_id: "Z32O12XQLNTSW2".into(),
        evaluate_target_health: true,
    });
    records.extend([blue, green, alias]);
    let (desired, listed) = apply_and_list(&domain, &records).await;
    assert_eq!(listed, desired);
}

#[tokio::test]
async fn ten_thousand_records_page_and_batch() {
    let domain = common::unique_domain("big");
    let records: Vec<RecordSpec> = (0..10_000)
        .map(|i| {
            rec(
                &format!("h{i:05}"),
                "A",
                &[&format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)],
            )
        })
        .collect();
    let (desired, listed) = apply_and_list(&domain, &records).await;
    assert_eq!(listed.len(), 10_000);
    assert_eq!(listed, desired);
}

#[tokio::test]
async fn a_changed_routing_policy_is_replaced_in_one_batch() {
    let r53 = common::route53().await;
    let domain = common::unique_domain("replace");
    let origin = normalize_origin(&domain).unwrap();
    let (z, _) = r53
        .ensure_zone(&origin, &caller_reference(&domain), None, None)
        .await
        .unwrap();
    let mut weighted = rec("api", "A", &["192.0.2.1"]);
    weighted.set_identifier = Some("x".into());
    weighted.weight = Some(1);
    let mut latency = weighted.clone();
    latency.weight = None;
    latency.region = Some("eu-west-1".into());
    for spec in [weighted, latency] {
        let desired = desired_from_spec(&domain, &[spec]).unwrap();
        let current = r53.list_records(&z.id).await.unwrap();
        let d = zone::diff(&desired, &current.sets, &origin, SyncMode::Sync);
        let (batches, err) = r53.apply(&z.id, &d.changes, &current).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(batches.len(), 1);
        let listed = non_apex(&r53.list_records(&z.id).await.unwrap().sets, &origin);
        assert_eq!(listed, desired);
    }
}

#[tokio::test]
async fn a_delete_repeats_what_route53_holds() {
    // A record written by hand with a different spelling must still be deletable: moto, like
    // Route 53, refuses a DELETE that does not match exactly.
    let r53 = common::route53().await;
    let domain = common::unique_domain("delete");
    let origin = normalize_origin(&domain).unwrap();
    let (z, _) = r53
        .ensure_zone(&origin, &caller_reference(&domain), None, None)
        .await
        .unwrap();
    let hand = desired_from_spec(&domain, &[rec("www", "CNAME", &["x.example.net."])]).unwrap();
    let current = r53.list_records(&z.id).await.unwrap();
    // Write the value in another case and without the trailing dot, as a person might.
    let mut odd = hand.values().next().cloned().unwrap();
    odd.values = vec!["X.Example.NET".into()];
    let mut d = zone::diff(&hand, &current.sets, &origin, SyncMode::Sync);
    d.changes[0] = zone::ChangeUnit::Create(&odd);
    let (_, err) = r53.apply(&z.id, &d.changes, &current).await;
    assert!(err.is_none(), "{err:?}");
    let current = r53.list_records(&z.id).await.unwrap();
    let none = RecordMap::new();
    let d = zone::diff(&none, &current.sets, &origin, SyncMode::Sync);
    assert_eq!(d.changes.len(), 1);
    let (_, err) = r53.apply(&z.id, &d.changes, &current).await;
    assert!(err.is_none(), "{err:?}");
    assert!(non_apex(&r53.list_records(&z.id).await.unwrap().sets, &origin).is_empty());
}

fn arb_record() -> impl Strategy<Value = RecordSpec> {
    let name = prop_oneof![
        Just("@".to_string()),
        "[a-z][a-z0-9-]{0,8}",
        "\\*\\.[a-z]{1,5}"
    ];
    let a = proptest::collection::vec((1u8..=254, 0u8..=255), 1..4).prop_map(|v| {
        (
            "A",
            v.into_iter()
                .map(|(x, y)| format!("198.51.{x}.{y}"))
                .collect::<Vec<_>>(),
        )
    });
    let txt = proptest::collection::vec("[ -~]{0,300}", 1..3).prop_map(|v| ("TXT", v));
    let mx = proptest::collection::vec((0u16..100, "[a-z]{1,8}"), 1..3).prop_map(|v| {
        (
            "MX",
            v.into_iter()
                .map(|(p, h)| format!("{p} {h}.example.net."))
                .collect(),
        )
    });
    let cname = "[a-z]{1,10}".prop_map(|h| ("CNAME", vec![format!("{h}.example.org")]));
    (
        name,
        prop_oneof![a, txt, mx, cname],
        proptest::option::of(0i64..100_000),
    )
        .prop_map(|(name, (t, values), ttl)| RecordSpec {
            name,
            type_: t.into(),
            values,
            ttl,
            ..Default::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any valid desired set, once applied, lists back equal: normalisation agrees with what
    /// Route 53 stores and returns.
    #[test]
    fn any_desired_set_lists_back_equal(records in proptest::collection::vec(arb_record(), 1..25)) {
        let domain = common::unique_domain("prop");
        // Keep only sets the validator accepts (duplicates and CNAME conflicts are expected).
        let mut kept: Vec<RecordSpec> = Vec::new();
        for r in records {
            let mut trial = kept.clone();
            trial.push(r.clone());
            if desired_from_spec(&domain, &trial).is_ok() {
                kept = trial;
            }
        }
        prop_assume!(!kept.is_empty());
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (desired, listed) = rt.block_on(apply_and_list(&domain, &kept));
        prop_assert_eq!(listed, desired);
    }
}
