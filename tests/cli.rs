//! `zoneshift import` and `zoneshift plan`, run as a user runs them, against BIND 9 and
//! moto_server; and the round trip import -> operator -> a shadow zone that verifies.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use common::world::*;
use std::process::{Command, Output};
use zoneshift::api::HostedZoneMigration;
use zoneshift::cli::plan::{plan, SourceOverride};
use zoneshift::controller::FINALIZER;

fn zoneshift(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zoneshift"))
        .args(args)
        .output()
        .expect("run zoneshift")
}

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run scripts/test-env up"))
}

fn import_axfr() -> Output {
    zoneshift(&[
        "import",
        "--domain",
        "example.com",
        "--axfr",
        &env("ZS_SOURCE_DNS"),
        "--tsig",
        &env("ZS_TSIG_KEY_FILE"),
        "--namespace",
        NS,
    ])
}

#[test]
fn two_imports_are_byte_identical_and_say_what_they_cannot_carry() {
    let a = import_axfr();
    let b = import_axfr();
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    let err = String::from_utf8_lossy(&a.stderr);
    assert!(
        err.contains("not carried: loc.example.com. LOC: Route 53 does not serve LOC records"),
        "{err}"
    );
    let zone = format!(
        "{}/tests/zones/example.com.zone",
        env!("CARGO_MANIFEST_DIR")
    );
    let c = zoneshift(&["import", "--domain", "example.com", "--zone-file", &zone]);
    let d = zoneshift(&["import", "--domain", "example.com", "--zone-file", &zone]);
    assert!(c.status.success());
    assert_eq!(c.stdout, d.stdout);
    // The same records whichever way the zone was read.
    let records = |o: &Output| {
        String::from_utf8_lossy(&o.stdout)
            .split("  records:")
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(records(&a), records(&c));
}

#[test]
fn an_unreadable_zone_file_fails_with_its_line() {
    let dir = std::env::temp_dir().join(format!("zs-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.zone");
    std::fs::write(&path, "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\nwww IN A 192.0.2.1\nmail IN MX mail.example.com.\n").unwrap();
    let o = zoneshift(&[
        "import",
        "--domain",
        "example.com",
        "--zone-file",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 5"), "{err}");
    assert!(o.stdout.is_empty(), "nothing printed on error");
}

#[tokio::test]
async fn an_imported_manifest_applied_through_the_operator_verifies_with_no_mismatch() {
    let out = import_axfr();
    assert!(out.status.success());
    let mut obj: HostedZoneMigration = yaml_serde::from_slice(&out.stdout).unwrap();
    obj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    let w = World::new(vec![obj]).await;
    let m = w.settle("example-com").await;
    let v = m.status.as_ref().unwrap().verification.clone().unwrap();
    assert_eq!(v.mismatches, Vec::<String>::new());
    assert_eq!(v.checked, v.matched);
    assert_eq!(v.checked, 21);
    assert_eq!(
        cond(&m, "ShadowVerified").status,
        "True",
        "{:?}",
        cond(&m, "ShadowVerified")
    );
}

fn write_manifest(domain: &str, www: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("zs-plan-{domain}-{www}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: dns}}\n---\napiVersion: zoneshift.io/v1alpha1\nkind: HostedZoneMigration\nmetadata: {{name: site, namespace: dns}}\nspec:\n  domain: {domain}\n  records:\n    - {{name: www, type: A, ttl: 300, values: [{www}]}}\n    - {{name: \"@\", type: TXT, values: [\"v=spf1 -all\"]}}\n"
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn plan_exit_codes_output_and_zero_writes() {
    let domain = common::unique_domain("plan");
    let manifest = write_manifest(&domain, "192.0.2.1");
    let path = manifest.to_str().unwrap();

    // No zone yet: everything is to create, exit 2.
    let o = zoneshift(&["plan", "-f", path]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("no hosted zone yet")
            && text.contains("Plan: 2 to create, 0 to update, 0 to delete."),
        "{text}"
    );

    // After the operator applied it: nothing to do, exit 0.
    let obj = {
        let mut m = migration(
            "site",
            &domain,
            vec![
                rec("www", "A", &["192.0.2.1"]),
                rec("@", "TXT", &["v=spf1 -all"]),
            ],
        );
        m.spec.records[0].ttl = Some(300);
        m
    };
    let w = World::new(vec![obj]).await;
    let m = w.settle("site").await;
    assert_eq!(cond(&m, "Ready").status, "True");
    let o = zoneshift(&["plan", "-f", path]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("No changes"));

    // A changed manifest: one update, exit 2; JSON for bots.
    let changed = write_manifest(&domain, "192.0.2.2");
    let o = zoneshift(&["plan", "-f", changed.to_str().unwrap(), "--output", "json"]);
    assert_eq!(o.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["hostedZoneId"], zone_id(&m));
    assert_eq!(j["update"][0]["to"]["values"][0], "192.0.2.2");
    assert_eq!(j["update"][0]["from"]["values"][0], "192.0.2.1");
    assert_eq!(j["create"].as_array().unwrap().len(), 0);

    // An error is exit 1.
    let o = zoneshift(&["plan", "-f", "/nonexistent/manifest.yaml"]);
    assert_eq!(o.status.code(), Some(1));

    // The same plan through the library, counting Route 53 calls: reads only.
    let text = std::fs::read_to_string(&changed).unwrap();
    let doc = text.split("---\n").nth(1).unwrap();
    let obj: HostedZoneMigration = yaml_serde::from_str(doc).unwrap();
    let r53 = common::route53().await;
    let p = plan(
        &obj,
        &r53,
        None,
        &SourceOverride::default(),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(p.update.len(), 1);
    assert!(r53.stats.total() > 0, "it did read");
    assert_eq!(
        r53.stats.writes(),
        0,
        "plan makes no write call: {:?}",
        r53.stats.snapshot()
    );
}
