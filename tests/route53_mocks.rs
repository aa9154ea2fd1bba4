//! Route 53 behaviour that moto_server cannot show, with aws-smithy-mocks: moto never
//! throttles, never fails with a 5xx, and answers every change `INSYNC` at once. Each test says
//! which of those it stands in for. Everything else is tested against moto.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use aws_sdk_route53::config::retry::RetryConfig;
use aws_sdk_route53::error::ErrorMetadata;
use aws_sdk_route53::operation::change_resource_record_sets::{
    ChangeResourceRecordSetsError, ChangeResourceRecordSetsOutput,
};
use aws_sdk_route53::operation::create_hosted_zone::CreateHostedZoneOutput;
use aws_sdk_route53::operation::get_change::{GetChangeError, GetChangeOutput};
use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneOutput;
use aws_sdk_route53::operation::list_hosted_zones_by_name::ListHostedZonesByNameOutput;
use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
use aws_sdk_route53::types::{ChangeInfo, ChangeStatus, DelegationSet, HostedZone};
use aws_sdk_route53::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use k8s_openapi::api::events::v1::Event;
use kube::api::Api;
use kube_fake_client::ClientBuilder;
use std::sync::Arc;
use std::time::Duration;
use zoneshift::api::*;
use zoneshift::clock::ManualClock;
use zoneshift::controller::{reconcile, Context, FINALIZER};
use zoneshift::plan::Timing;
use zoneshift::route53::Route53;
use zoneshift::zone::{self, normalize_origin, SyncMode};

fn client(rules: &[&Rule]) -> Client {
    // The SDK's own retries are off in zoneshift (each attempt must pass the rate limiter);
    // the mock client is set the same way.
    mock_client!(aws_sdk_route53, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

fn change_info(id: &str, status: ChangeStatus) -> ChangeInfo {
    ChangeInfo::builder()
        .id(format!("/change/{id}"))
        .status(status)
        .submitted_at(aws_smithy_types::DateTime::from_secs(0))
        .build()
        .expect("change info")
}

fn coded<E: From<aws_sdk_route53::error::ErrorMetadata>>(code: &str) -> E {
    E::from(
        ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} from the mock"))
            .build(),
    )
}

fn throttled_get_change() -> GetChangeError {
    GetChangeError::generic(coded::<ErrorMetadata>("Throttling"))
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_and_counted() {
    // Stands in for AWS's Throttling answer, which moto never gives.
    let rule = mock!(Client::get_change)
        .sequence()
        .error(throttled_get_change)
        .times(2)
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_info("C1", ChangeStatus::Insync))
                .build()
        })
        .build();
    let r53 = Route53::new(client(&[&rule]), 100, common::fast_retry());
    let in_sync = r53.change_in_sync("C1").await.expect("retried to success");
    assert!(in_sync);
    let snap = r53.stats.snapshot();
    assert_eq!(snap.get(&("GetChange", "throttled")), Some(&2));
    assert_eq!(snap.get(&("GetChange", "ok")), Some(&1));
}

#[tokio::test]
async fn prior_request_not_complete_is_retried() {
    // Stands in for Route 53's PriorRequestNotComplete on a busy zone.
    let rule = mock!(Client::change_resource_record_sets)
        .sequence()
        .error(|| ChangeResourceRecordSetsError::generic(coded("PriorRequestNotComplete")))
        .output(|| {
            ChangeResourceRecordSetsOutput::builder()
                .change_info(change_info("C2", ChangeStatus::Pending))
                .build()
        })
        .build();
    let r53 = Route53::new(client(&[&rule]), 100, common::fast_retry());
    let desired = zone::desired_from_spec(
        "example.com",
        &[RecordSpec {
            name: "www".into(),
            type_: "A".into(),
            values: vec!["192.0.2.1".into()],
            ..Default::default()
        }],
    )
    .expect("valid");
    let empty = Default::default();
    let d = zone::diff(
        &desired,
        &empty,
        &normalize_origin("example.com").expect("o"),
        SyncMode::Sync,
    );
    let (batches, err) = r53.apply("Z1", &d.changes, &Default::default()).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(batches[0].change_id, "C2");
    assert_eq!(batches[0].status, "PENDING");
    assert_eq!(r53.stats.calls("ChangeResourceRecordSets"), 2);
}

#[tokio::test]
async fn server_errors_are_retried() {
    // Stands in for a 5xx from Route 53.
    let rule = mock!(Client::get_change)
        .sequence()
        .http_status(503, None)
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_info("C3", ChangeStatus::Insync))
                .build()
        })
        .build();
    let r53 = Route53::new(client(&[&rule]), 100, common::fast_retry());
    assert!(r53.change_in_sync("C3").await.expect("retried"));
    assert_eq!(
        r53.stats.snapshot().get(&("GetChange", "retried")),
        Some(&1)
    );
}

#[tokio::test]
async fn a_rejected_batch_reports_the_aws_code_without_retrying() {
    let rule = mock!(Client::change_resource_record_sets)
        .then_error(|| ChangeResourceRecordSetsError::generic(coded("InvalidChangeBatch")));
    let r53 = Route53::new(client(&[&rule]), 100, common::fast_retry());
    let desired = zone::desired_from_spec(
        "example.com",
        &[RecordSpec {
            name: "www".into(),
            type_: "A".into(),
            values: vec!["192.0.2.1".into()],
            ..Default::default()
        }],
    )
    .expect("valid");
    let empty = Default::default();
    let d = zone::diff(
        &desired,
        &empty,
        &normalize_origin("example.com").expect("o"),
        SyncMode::Sync,
    );
    let (batches, err) = r53.apply("Z1", &d.changes, &Default::default()).await;
    assert!(batches.is_empty());
    let msg = err.expect("an error").to_string();
    assert!(msg.contains("InvalidChangeBatch"), "{msg}");
    assert_eq!(
        r53.stats.calls("ChangeResourceRecordSets"),
        1,
        "a client error is not retried"
    );
}

#[tokio::test]
async fn throttling_beyond_the_retry_budget_is_an_error_with_the_code() {
    let rule = mock!(Client::get_change)
        .sequence()
        .error(throttled_get_change)
        .repeatedly()
        .build();
    let r53 = Route53::new(client(&[&rule]), 100, common::fast_retry());
    let msg = r53
        .change_in_sync("C1")
        .await
        .expect_err("gives up")
        .to_string();
    assert!(
        msg.contains("GetChange") && msg.contains("Throttling"),
        "{msg}"
    );
    assert_eq!(
        r53.stats.calls("GetChange"),
        1 + common::fast_retry().max_retries as u64
    );
}

/// Reconcile through a change that Route 53 keeps `PENDING` for a while: `RecordsSynced`
/// waits, and the INSYNC moment (when timers start) is the clock's time at that reconcile.
/// Stands in for Route 53's propagation delay, which moto does not have.
#[tokio::test]
async fn a_pending_change_is_followed_until_insync() {
    const DOMAIN: &str = "pending.example.com";
    let domain = DOMAIN;
    let zone = || {
        HostedZone::builder()
            .id("/hostedzone/ZPENDING")
            .name(format!("{DOMAIN}."))
            .caller_reference("zoneshift-uid-1")
            .build()
            .expect("zone")
    };
    let ns = || {
        DelegationSet::builder()
            .name_servers("ns-1.awsdns-01.org")
            .build()
            .expect("ns")
    };
    let list_zones = mock!(Client::list_hosted_zones_by_name).then_output(|| {
        ListHostedZonesByNameOutput::builder()
            .is_truncated(false)
            .max_items(100)
            .set_hosted_zones(Some(vec![]))
            .build()
            .expect("out")
    });
    let create = mock!(Client::create_hosted_zone).then_output(move || {
        CreateHostedZoneOutput::builder()
            .hosted_zone(zone())
            .delegation_set(ns())
            .change_info(change_info("CZ", ChangeStatus::Insync))
            .location("x")
            .build()
            .expect("out")
    });
    let get_zone = mock!(Client::get_hosted_zone).then_output(move || {
        GetHostedZoneOutput::builder()
            .hosted_zone(zone())
            .delegation_set(ns())
            .build()
    });
    let rr = || {
        zoneshift::route53::convert::to_sdk(
            &zone::desired_from_spec(
                domain,
                &[RecordSpec {
                    name: "www".into(),
                    type_: "A".into(),
                    values: vec!["192.0.2.1".into()],
                    ..Default::default()
                }],
            )
            .expect("valid")
            .into_values()
            .next()
            .expect("one"),
        )
        .expect("sdk")
    };
    let list_records = mock!(Client::list_resource_record_sets)
        .sequence()
        .output(|| {
            ListResourceRecordSetsOutput::builder()
                .is_truncated(false)
                .max_items(300)
                .set_resource_record_sets(Some(vec![]))
                .build()
                .expect("out")
        })
        .output(move || {
            ListResourceRecordSetsOutput::builder()
                .is_truncated(false)
                .max_items(300)
                .resource_record_sets(rr())
                .build()
                .expect("out")
        })
        .repeatedly()
        .build();
    let change = mock!(Client::change_resource_record_sets).then_output(|| {
        ChangeResourceRecordSetsOutput::builder()
            .change_info(change_info("CP", ChangeStatus::Pending))
            .build()
    });
    let get_change = mock!(Client::get_change)
        .sequence()
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_info("CP", ChangeStatus::Pending))
                .build()
        })
        .output(|| {
            GetChangeOutput::builder()
                .change_info(change_info("CP", ChangeStatus::Insync))
                .build()
        })
        .repeatedly()
        .build();
    let r53 = Route53::new(
        client(&[
            &list_zones,
            &create,
            &get_zone,
            &list_records,
            &change,
            &get_change,
        ]),
        100,
        common::fast_retry(),
    );

    let mut obj = HostedZoneMigration::new(
        "m",
        HostedZoneMigrationSpec {
            domain: domain.into(),
            records: vec![RecordSpec {
                name: "www".into(),
                type_: "A".into(),
                values: vec!["192.0.2.1".into()],
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    obj.metadata.namespace = Some("dns".into());
    obj.metadata.uid = Some("uid-1".into());
    obj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let kube = ClientBuilder::new()
        .with_resource::<HostedZoneMigration>()
        .with_status_subresource::<HostedZoneMigration>()
        .with_resource::<Event>()
        .with_object(obj)
        .build()
        .await
        .expect("fake");
    let clock = ManualClock::new("2026-11-27T10:00:00Z".parse().expect("t"));
    let timing = Timing {
        resync: Duration::from_secs(600),
        pending_poll: Duration::from_secs(5),
        import_interval: Duration::from_secs(300),
        ..Timing::default()
    };
    let ctx = Arc::new(Context::new(
        kube.clone(),
        r53,
        Arc::new(clock.clone()),
        timing,
        "test".into(),
    ));
    let api: Api<HostedZoneMigration> = Api::namespaced(kube, "dns");
    let synced = |m: &HostedZoneMigration| {
        m.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "RecordsSynced"))
            .map(|c| (c.status.clone(), c.reason.clone()))
    };

    // 1: the zone is created and the change submitted; Route 53 answers PENDING.
    let a = reconcile(Arc::new(api.get("m").await.expect("get")), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(
        a,
        kube::runtime::controller::Action::requeue(timing.pending_poll)
    );
    let m = api.get("m").await.expect("get");
    assert_eq!(synced(&m), Some(("False".into(), "ChangePending".into())));
    assert_eq!(
        m.status
            .as_ref()
            .and_then(|s| s.last_change.as_ref())
            .map(|c| c.id.as_str()),
        Some("CP")
    );

    // 2: still PENDING five seconds later.
    clock.advance(Duration::from_secs(5));
    reconcile(Arc::new(api.get("m").await.expect("get")), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(
        synced(&api.get("m").await.expect("get")),
        Some(("False".into(), "ChangePending".into()))
    );

    // 3: INSYNC; the moment is recorded from the clock.
    clock.advance(Duration::from_secs(5));
    let a = reconcile(Arc::new(api.get("m").await.expect("get")), ctx.clone())
        .await
        .expect("reconcile");
    assert_eq!(a, kube::runtime::controller::Action::requeue(timing.resync));
    let m = api.get("m").await.expect("get");
    assert_eq!(synced(&m), Some(("True".into(), "InSync".into())));
    let change = m
        .status
        .as_ref()
        .and_then(|s| s.last_change.clone())
        .expect("change");
    assert_eq!(change.state, "INSYNC");
    assert_eq!(change.in_sync_at.as_deref(), Some("2026-11-27T10:00:10Z"));
}

/// Stands in for a Route 53 endpoint whose answers the SDK misreads (values wrapped in CDATA,
/// which its XML parser skips): a record set listed with neither values nor an alias target is
/// an error that names it, never an empty set that the next sync would rewrite.
#[tokio::test]
async fn a_record_set_without_values_is_an_impossible_answer() {
    use aws_sdk_route53::types::{ResourceRecordSet, RrType};
    let empty = ResourceRecordSet::builder()
        .name("www.example.com.")
        .r#type(RrType::A)
        .ttl(300)
        .build()
        .expect("rr");
    let list = mock!(Client::list_resource_record_sets).then_output(move || {
        ListResourceRecordSetsOutput::builder()
            .is_truncated(false)
            .max_items(300)
            .resource_record_sets(empty.clone())
            .build()
            .expect("out")
    });
    let r53 = Route53::new(client(&[&list]), 100, common::fast_retry());
    let e = r53.list_records("Z1").await.expect_err("refused");
    assert!(
        matches!(e, zoneshift::route53::Route53Error::ImpossibleAnswer(_)),
        "{e}"
    );
    assert!(e.to_string().contains("www.example.com. A"), "{e}");
    assert_eq!(e.reason(), Reason::ImpossibleAnswer);
    assert!(!e.transient());
    assert_eq!(r53.stats.writes(), 0);
}
