//! The committed CRD is the one the code generates, and it carries what `kubectl` users and the
//! API server need: printer columns, the short name, the status subresource, validation.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use kube::CustomResourceExt;
use zoneshift::api::HostedZoneMigration;

#[test]
fn committed_crd_matches_the_code() {
    let generated = yaml_serde::to_string(&HostedZoneMigration::crd()).expect("yaml");
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/hostedzonemigration.yaml"
    ))
    .expect("crds/hostedzonemigration.yaml");
    // Compared as data: test builds may order map keys differently (a dev-dependency turns on
    // serde_json's preserve_order), and key order means nothing to the API server.
    let generated: serde_json::Value = yaml_serde::from_str(&generated).expect("generated yaml");
    let committed: serde_json::Value = yaml_serde::from_str(&committed).expect("committed yaml");
    assert!(
        generated == committed,
        "crds/hostedzonemigration.yaml has drifted from src/api.rs: run `make crd` and commit the result"
    );
}

#[test]
fn crd_carries_validation_columns_and_status() {
    let crd = serde_json::to_value(HostedZoneMigration::crd()).expect("json");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "hzm");
    assert!(v["subresources"]["status"].is_object());
    let cols: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for want in ["Domain", "Phase", "In Sync", "Desired", "Gate Opens", "Age"] {
        assert!(cols.contains(&want), "{cols:?}");
    }
    let spec = &v["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let domain = &spec["properties"]["domain"];
    assert_eq!(
        domain["x-kubernetes-validations"][0]["rule"],
        "self == oldSelf"
    );
    assert!(domain["pattern"].is_string());
    let record = &spec["properties"]["records"]["items"]["properties"];
    assert!(record["type"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .any(|t| t == "SVCB"));
    assert_eq!(record["ttl"]["maximum"], 2147483647.0);
    assert_eq!(record["ttl"]["minimum"], 0.0);
    let status = &v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    assert_eq!(status["conditions"]["x-kubernetes-list-type"], "map");
    for field in [
        "hostedZoneId",
        "nameservers",
        "records",
        "lastChange",
        "verification",
        "observedTtls",
        "cutover",
        "phase",
        "observedGeneration",
    ] {
        assert!(status[field].is_object(), "status.{field} missing");
    }
    assert!(
        spec["properties"]["records"]["items"]["properties"]["name"]["description"].is_string(),
        "kubectl explain needs descriptions"
    );
}
