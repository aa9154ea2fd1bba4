//! Secrets stay secret, and a resource cannot send the operator elsewhere.
//!
//! The first test runs the real binary (`zoneshift run`, `RUST_LOG=trace`) against the real
//! kube-apiserver of `scripts/test-env`, moto, BIND and the Cloudflare stand-in, with AWS
//! credentials, TSIG keys and Cloudflare tokens set to recognisable values, through zone
//! transfers and Cloudflare imports that succeed and that fail (a wrong key, an unknown
//! token: error paths are where a secret is most likely echoed). Every log line, every Event
//! and every status must be free of each value, in plain text and as it is encoded in a
//! Secret.
//!
//! The second tries every spec field that could name an endpoint, a file path or an IAM role
//! (src/api/mod.rs): each is refused by the CRD or by the operator with a condition naming the
//! field.

mod common;

use base64::Engine;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use zoneshift::api::HostedZoneMigration;

const AWS_KEY_ID: &str = "AKIAZSCANARYKEYID0001";
const AWS_SECRET: &str = "zsCanaryAwsSecretAccessKey0000000000000001";
const CF_TOKEN: &str = "zs-canary-cloudflare-token-0001";
const CF_UNKNOWN_TOKEN: &str = "zs-canary-cloudflare-token-unknown-0002";
/// A TSIG secret BIND does not know: the transfer fails with it.
const TSIG_WRONG: &str = "enNDYW5hcnlXcm9uZ1RzaWdTZWNyZXQwMDAwMDAwMDA=";

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: eval \"$(scripts/test-env env)\""))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn client() -> kube::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    kube::Client::try_default()
        .await
        .expect("KUBECONFIG of scripts/test-env")
}

async fn install_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let text = std::fs::read_to_string(format!(
        "{}/crds/hostedzonemigration.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("crd");
    let crd: CustomResourceDefinition = yaml_serde::from_str(&text).expect("crd yaml");
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("zoneshift-secrets-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("install the CRD");
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn namespace(client: &kube::Client, name: &str) {
    let ns: Api<Namespace> = Api::all(client.clone());
    let obj: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": name } })).expect("ns");
    let _ = ns.create(&PostParams::default(), &obj).await;
}

fn hzm(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "zoneshift.io/v1alpha1",
        "kind": "HostedZoneMigration",
        "metadata": { "name": name },
        "spec": spec,
    })
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), json!(b64(v))))
        .collect();
    serde_json::from_value(json!({ "metadata": { "name": name }, "data": data })).expect("secret")
}

fn hzm_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::erase::<HostedZoneMigration>(&()),
    )
}

fn condition(o: &DynamicObject, t: &str) -> Option<(String, String)> {
    o.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// The operator as a child process; its stderr (the log) is read when it stops.
struct Operator(std::process::Child, std::path::PathBuf);

impl Operator {
    fn start(ns: &str) -> Operator {
        let log = std::env::temp_dir().join(format!("zs-secrets-{}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_zoneshift"))
            .args(["run", "--namespace", ns, "--admin-addr", "127.0.0.1:0"])
            .env("RUST_LOG", "trace")
            .env("ZS_LOG_FORMAT", "json")
            .env("KUBECONFIG", env("ZS_OPERATOR_KUBECONFIG"))
            .env("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("ZS_ROUTE53_ENDPOINT", env("ZS_ROUTE53_ENDPOINT"))
            .env("ZS_CLOUDFLARE_API_URL", env("ZS_CLOUDFLARE_API_URL"))
            // No DNS world: the parent is asked through a closed port and fails at once.
            .env("ZS_RESOLVER", "127.0.0.1:9")
            .env("ZS_DNS_TIMEOUT", "2s")
            .env("ZS_RESYNC_INTERVAL", "3s")
            .env("ZS_IMPORT_INTERVAL", "3s")
            .env("ZS_CHANGE_POLL_INTERVAL", "1s")
            .env("ZS_ROUTE53_RPS", "50")
            .stderr(file)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("zoneshift run");
        Operator(child, log)
    }

    fn stop(mut self) -> String {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let log = std::fs::read_to_string(&self.1).expect("log");
        if let Ok(keep) = std::env::var("ZS_SECRETS_LOG") {
            let _ = std::fs::write(keep, &log);
        }
        let _ = std::fs::remove_file(&self.1);
        log
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

/// The values that must never be seen, each with the forms it takes (plain, and as stored in
/// a Secret's data).
fn canaries(tsig_secret: &str) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (what, v) in [
        ("AWS access key id", AWS_KEY_ID.to_string()),
        ("AWS secret access key", AWS_SECRET.to_string()),
        ("Cloudflare token", CF_TOKEN.to_string()),
        ("unknown Cloudflare token", CF_UNKNOWN_TOKEN.to_string()),
        ("wrong TSIG secret", TSIG_WRONG.to_string()),
        ("TSIG secret", tsig_secret.to_string()),
    ] {
        out.push((what, b64(&v)));
        out.push((what, v));
    }
    out
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_an_event_or_the_status() {
    let client = client().await;
    install_crd(&client).await;
    let ns = format!("zs-secrets-{}", std::process::id());
    namespace(&client, &ns).await;
    let key = zoneshift::dns::TsigKey::from_bind_file(
        &std::fs::read_to_string(env("ZS_TSIG_KEY_FILE")).expect("key file"),
    )
    .expect("TSIG key");

    // The Cloudflare stand-in: a zone the canary token may read.
    let cf_domain = common::unique_domain("secrets-cf");
    let zone = common::cloudflare_admin("POST", "/zones", Some(json!({ "name": cf_domain })));
    let zone_id = zone["id"].as_str().expect("id").to_string();
    common::cloudflare_admin(
        "POST",
        "/tokens",
        Some(json!({ "token": CF_TOKEN, "zones": [zone_id] })),
    );
    common::cloudflare_admin(
        "POST",
        &format!("/zones/{zone_id}/records"),
        Some(json!([
            { "name": format!("www.{cf_domain}"), "type": "A", "content": "192.0.2.1", "ttl": 300 },
            { "name": cf_domain, "type": "TXT", "content": "v=spf1 -all", "ttl": 300 },
        ])),
    );

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for s in [
        secret(
            "xfr",
            &[
                ("name", &key.name),
                ("algorithm", &key.algorithm),
                ("secret", &key.secret),
            ],
        ),
        secret(
            "xfr-wrong",
            &[
                ("name", &key.name),
                ("algorithm", &key.algorithm),
                ("secret", TSIG_WRONG),
            ],
        ),
        secret("cf", &[("token", CF_TOKEN)]),
        secret("cf-unknown", &[("token", CF_UNKNOWN_TOKEN)]),
    ] {
        secrets
            .create(&PostParams::default(), &s)
            .await
            .expect("secret");
    }
    let source_dns = env("ZS_SOURCE_DNS");
    let axfr = |secret: &str| {
        json!({ "domain": "example.com", "source": {
            "nameservers": [source_dns], "axfr": { "tsigSecretRef": { "name": secret } } } })
    };
    let cloudflare = |secret: &str| {
        json!({ "domain": cf_domain, "source": { "cloudflare": {
            "zone": cf_domain, "apiTokenSecretRef": { "name": secret, "key": "token" } } } })
    };
    let api = hzm_api(&client, &ns);
    let operator = Operator::start(&ns);
    for (name, spec) in [
        ("axfr", axfr("xfr")),
        ("axfr-wrong-key", axfr("xfr-wrong")),
        ("cloudflare", cloudflare("cf")),
        ("cloudflare-unknown-token", cloudflare("cf-unknown")),
    ] {
        let obj: DynamicObject = serde_json::from_value(hzm(name, spec)).expect("hzm");
        api.create(&PostParams::default(), &obj)
            .await
            .expect("create");
    }

    // As far as the migration goes without the DNS world: imported, synced and verified
    // against the old provider; the failing ones refused. Then a few resyncs more.
    let wanted = [
        ("axfr", "ShadowVerified", "True"),
        ("axfr-wrong-key", "RecordsSynced", "False"),
        ("cloudflare", "RecordsSynced", "True"),
        ("cloudflare-unknown-token", "RecordsSynced", "False"),
    ];
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut missing = Vec::new();
        for (name, t, status) in wanted {
            let o = api.get(name).await.expect("get");
            if condition(&o, t).map(|c| c.0) != Some(status.to_string()) {
                missing.push(format!("{name} {t}={status} ({:?})", condition(&o, t)));
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reached in 90 s: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    let log = operator.stop();

    let statuses: Vec<String> = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|o| o.data["status"].to_string())
        .collect();
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let events: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .iter()
        .map(|e| serde_json::to_string(e).expect("event"))
        .collect();

    // The grep must have something to look at: trace lines from zoneshift and its libraries,
    // events of each migration, the errors of the failing ones.
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.iter().filter(|l| l.contains("\"TRACE\"")).count() > 100,
        "too few trace lines ({} lines in all)",
        lines.len()
    );
    assert!(events.len() >= 4, "{} events", events.len());
    let all_status = statuses.join("\n");
    assert!(all_status.contains("TransferFailed") && all_status.contains("Invalid API Token"));

    let mut leaks = Vec::new();
    for (what, value) in canaries(&key.secret) {
        let in_log: Vec<&&str> = lines.iter().filter(|l| l.contains(&value)).collect();
        if let Some(first) = in_log.first() {
            let at = first.find(&value).unwrap_or(0);
            let from = first[..at]
                .char_indices()
                .rev()
                .nth(200)
                .map_or(0, |(i, _)| i);
            leaks.push(format!(
                "{what} in {} log lines, e.g. …{}",
                in_log.len(),
                &first[from..(at + value.len()).min(first.len())]
            ));
        }
        if let Some(e) = events.iter().find(|e| e.contains(&value)) {
            leaks.push(format!("{what} in an Event: {e}"));
        }
        if statuses.iter().any(|s| s.contains(&value)) {
            leaks.push(format!("{what} in a status"));
        }
    }
    assert!(
        leaks.is_empty(),
        "{} log lines, {} events, {} statuses searched:\n{}",
        lines.len(),
        events.len(),
        statuses.len(),
        leaks.join("\n")
    );
    println!(
        "searched {} log lines ({} at trace level), {} events, {} statuses for {} values: none found",
        lines.len(),
        lines.iter().filter(|l| l.contains("\"TRACE\"")).count(),
        events.len(),
        statuses.len(),
        canaries(&key.secret).len()
    );
}

/// Every spec field that could name an endpoint, a file path or an IAM role (src/api/mod.rs),
/// tried with what would redirect the operator: the CRD refuses it (a real kube-apiserver,
/// `kubectl apply --server-side`), or the operator refuses it with a condition naming the
/// field and makes no Route 53 call. Endpoints (`--route53-endpoint`,
/// `--cloudflare-api-url`, `--resolver`) have no field at all: a manifest naming one is refused
/// under strict validation and loses the field under any other.
#[tokio::test]
async fn no_field_names_an_endpoint_a_path_or_a_role_it_should_not() {
    use common::world::*;
    use zoneshift::api::*;
    let client = client().await;
    install_crd(&client).await;
    let ns = format!("zs-fields-{}", std::process::id());
    namespace(&client, &ns).await;
    let api = hzm_api(&client, &ns);
    let strict = PatchParams::apply("zs-fields").validation_strict();
    let refs = |tsig: &str, cm: &str, key: &str, cf: &str, cf_key: &str| {
        json!({ "domain": "example.com", "source": {
            "nameservers": ["192.0.2.53"],
            "axfr": { "tsigSecretRef": { "name": tsig } },
            "zoneFile": { "configMapKeyRef": { "name": cm, "key": key } },
            "cloudflare": { "zone": "example.com", "apiTokenSecretRef": { "name": cf, "key": cf_key } } } })
    };
    let crd_cases: Vec<(&str, Value, &str)> = vec![
        (
            "spec.route53Endpoint",
            json!({ "domain": "example.com", "route53Endpoint": "http://203.0.113.9" }),
            ".spec.route53Endpoint: field not declared in schema",
        ),
        (
            "spec.aws.endpoint",
            json!({ "domain": "example.com", "aws": { "endpoint": "http://203.0.113.9" } }),
            ".spec.aws.endpoint: field not declared in schema",
        ),
        (
            "spec.source.cloudflare.apiUrl",
            json!({ "domain": "example.com", "source": { "cloudflare": { "zone": "example.com", "apiUrl": "http://203.0.113.9", "apiTokenSecretRef": { "name": "cf", "key": "token" } } } }),
            ".spec.source.cloudflare.apiUrl: field not declared in schema",
        ),
        (
            "spec.source.resolver",
            json!({ "domain": "example.com", "source": { "resolver": "203.0.113.9:53" } }),
            ".spec.source.resolver: field not declared in schema",
        ),
        (
            "spec.source.axfr.keyFile",
            json!({ "domain": "example.com", "source": { "axfr": { "keyFile": "/etc/zoneshift/tsig.key" } } }),
            ".spec.source.axfr.keyFile: field not declared in schema",
        ),
        (
            "spec.source.zoneFile.path",
            json!({ "domain": "example.com", "source": { "zoneFile": { "path": "/var/run/secrets/kubernetes.io/serviceaccount/token", "configMapKeyRef": { "name": "zone", "key": "zone" } } } }),
            ".spec.source.zoneFile.path: field not declared in schema",
        ),
        (
            "spec.source.axfr.tsigSecretRef.name",
            refs(
                "../../kube-system/secrets/aws",
                "zone",
                "zone",
                "cf",
                "token",
            ),
            "spec.source.axfr.tsigSecretRef.name: Invalid value",
        ),
        (
            "spec.source.zoneFile.configMapKeyRef.name",
            refs("xfr", "/etc/passwd", "zone", "cf", "token"),
            "spec.source.zoneFile.configMapKeyRef.name: Invalid value",
        ),
        (
            "spec.source.zoneFile.configMapKeyRef.key",
            refs("xfr", "zone", "../../token", "cf", "token"),
            "spec.source.zoneFile.configMapKeyRef.key: Invalid value",
        ),
        (
            "spec.source.cloudflare.apiTokenSecretRef.name",
            refs("xfr", "zone", "zone", "other-ns/cf", "token"),
            "spec.source.cloudflare.apiTokenSecretRef.name: Invalid value",
        ),
        (
            "spec.source.cloudflare.apiTokenSecretRef.key",
            refs("xfr", "zone", "zone", "cf", "a/b"),
            "spec.source.cloudflare.apiTokenSecretRef.key: Invalid value",
        ),
        (
            "spec.source.cloudflare.zoneId",
            json!({ "domain": "example.com", "source": { "cloudflare": { "zoneId": "../../user/tokens", "apiTokenSecretRef": { "name": "cf", "key": "token" } } } }),
            "spec.source.cloudflare.zoneId: Invalid value",
        ),
        (
            "spec.hostedZone.id",
            json!({ "domain": "example.com", "hostedZone": { "id": "/hostedzone/../../healthcheck/x" } }),
            "spec.hostedZone.id: Invalid value",
        ),
        (
            "spec.aws.roleArn",
            json!({ "domain": "example.com", "aws": { "roleArn": "https://sts.203.0.113.9/role" } }),
            "spec.aws.roleArn: Invalid value",
        ),
        (
            "spec.records[].alias.hostedZoneId",
            json!({ "domain": "example.com", "records": [{ "name": "@", "type": "A", "alias": { "dnsName": "lb.example.net.", "hostedZoneId": "../hostedzone/Z1" } }] }),
            "spec.records[0].alias.hostedZoneId: Invalid value",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (field, spec, want)) in crd_cases.iter().enumerate() {
        let name = format!("field-{i}");
        let obj: DynamicObject = serde_json::from_value(hzm(&name, spec.clone())).expect("hzm");
        match api.patch(&name, &strict, &Patch::Apply(obj)).await {
            Err(kube::Error::Api(e)) if e.message.contains(want) => {}
            other => failures.push(format!("{field}: wanted {want:?}, got {other:?}")),
        }
    }
    // Without strict validation an undeclared field is dropped, never stored.
    let obj: DynamicObject = serde_json::from_value(hzm(
        "pruned",
        json!({ "domain": "example.com", "route53Endpoint": "http://203.0.113.9" }),
    ))
    .expect("hzm");
    let stored = api
        .create(&PostParams::default(), &obj)
        .await
        .expect("created without strict validation");
    if stored.data["spec"].get("route53Endpoint").is_some() {
        failures.push("spec.route53Endpoint was stored".into());
    }

    // What the schema lets through, or what an older CRD would: refused by the operator,
    // with a condition naming the field and no Route 53 call.
    let domain = common::unique_domain("fields");
    let with_source = |source: SourceSpec| {
        let mut m = migration("m", &domain, vec![rec("www", "A", &["192.0.2.1"])]);
        m.spec.source = Some(source);
        m
    };
    let secret_ref = |name: &str, key: &str| SecretKeyRef {
        name: name.into(),
        key: key.into(),
    };
    let cloudflare = |zone: Option<&str>, zone_id: Option<&str>, r: SecretKeyRef| SourceSpec {
        cloudflare: Some(CloudflareSource {
            zone: zone.map(str::to_string),
            zone_id: zone_id.map(str::to_string),
            api_token_secret_ref: r,
        }),
        ..Default::default()
    };
    let axfr = |nameservers: Vec<&str>, tsig: Option<&str>| SourceSpec {
        nameservers: nameservers.into_iter().map(str::to_string).collect(),
        axfr: Some(AxfrSource {
            tsig_secret_ref: tsig.map(|n| LocalObjectRef { name: n.into() }),
        }),
        ..Default::default()
    };
    let zone_file = |name: &str, key: &str| SourceSpec {
        nameservers: vec!["192.0.2.53".into()],
        zone_file: Some(ZoneFileSource {
            config_map_key_ref: ConfigMapKeyRef {
                name: name.into(),
                key: key.into(),
            },
        }),
        ..Default::default()
    };
    let mut role = migration("m", &domain, vec![rec("www", "A", &["192.0.2.1"])]);
    role.spec.aws = Some(AwsSpec {
        role_arn: Some("arn:aws:iam::123456789012:role/admin".into()),
    });
    let operator_cases: Vec<(&str, HostedZoneMigration, &str)> = vec![
        ("spec.aws.roleArn", role, "spec.aws.roleArn arn:aws:iam::123456789012:role/admin is not among the roles this operator may assume"),
        ("spec.source.axfr.tsigSecretRef.name", with_source(axfr(vec!["192.0.2.53"], Some("../kube-system/aws"))), "spec.source.axfr.tsigSecretRef.name \"../kube-system/aws\" is not the name of an object"),
        ("spec.source.zoneFile.configMapKeyRef.name", with_source(zone_file("/etc/passwd", "zone")), "spec.source.zoneFile.configMapKeyRef.name \"/etc/passwd\" is not the name of an object"),
        ("spec.source.zoneFile.configMapKeyRef.key", with_source(zone_file("zone", "../token")), "spec.source.zoneFile.configMapKeyRef.key \"../token\" is not a ConfigMap key"),
        ("spec.source.cloudflare.apiTokenSecretRef.name", with_source(cloudflare(Some(&domain), None, secret_ref("kube-system/aws", "token"))), "spec.source.cloudflare.apiTokenSecretRef.name \"kube-system/aws\" is not the name of an object"),
        ("spec.source.cloudflare.apiTokenSecretRef.key", with_source(cloudflare(Some(&domain), None, secret_ref("cf", "a/b"))), "spec.source.cloudflare.apiTokenSecretRef.key \"a/b\" is not a Secret key"),
        ("spec.source.cloudflare.zoneId", with_source(cloudflare(None, Some("../../user/tokens/verify"), secret_ref("cf", "token"))), "spec.source.cloudflare.zoneId \"../../user/tokens/verify\" is not a Cloudflare zone id"),
        ("spec.source.cloudflare.zone", with_source(cloudflare(Some("attacker.example.net"), None, secret_ref("cf", "token"))), "spec.source.cloudflare.zone attacker.example.net is not the domain"),
        ("spec.source.nameservers (a URL)", with_source(axfr(vec!["http://169.254.169.254/latest/meta-data"], None)), "spec.source.nameservers"),
        ("spec.source.nameservers (a path)", with_source(axfr(vec!["/var/run/secrets/kubernetes.io/serviceaccount/token"], None)), "spec.source.nameservers"),
    ];
    let cf_token = secret_for_world("cf", "token", "x");
    for (field, obj, want) in operator_cases {
        let mut w = World::with(vec![obj], vec![], vec![cf_token.clone()]).await;
        std::sync::Arc::get_mut(&mut w.ctx)
            .expect("one owner")
            .allowed_roles = vec!["arn:aws:iam::123456789012:role/dns-*".into()];
        let before = w.r53.stats.writes();
        for _ in 0..2 {
            let _ = w.reconcile("m").await;
        }
        let m = w.get("m").await;
        let messages: Vec<String> = m
            .status
            .iter()
            .flat_map(|s| s.conditions.iter())
            .filter(|c| c.status == "False")
            .map(|c| format!("{} {}: {}", c.type_, c.reason, c.message))
            .collect();
        if !messages.iter().any(|m| m.contains(want)) {
            failures.push(format!("{field}: wanted {want:?} in {messages:?}"));
        }
        if w.r53.stats.writes() != before {
            failures.push(format!("{field}: Route 53 was written to"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn secret_for_world(name: &str, key: &str, value: &str) -> Secret {
    let mut s = secret(name, &[(key, value)]);
    s.metadata.namespace = Some(common::world::NS.into());
    s
}
