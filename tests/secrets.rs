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
use std::io::{Read, Write};
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
    let crd: CustomResourceDefinition = serde_yaml::from_str(&text).expect("crd yaml");
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

fn cf_admin(method: &str, path: &str, body: Option<Value>) -> Value {
    let base = env("ZS_CLOUDFLARE_ADMIN");
    let rest = base.strip_prefix("http://").expect("http");
    let (host, prefix) = rest.split_once('/').expect("path");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut s = std::net::TcpStream::connect(host).expect("stand-in");
    write!(
        s,
        "{method} /{prefix}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
    serde_json::from_str(body).expect("json")
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
    let zone = cf_admin("POST", "/zones", Some(json!({ "name": cf_domain })));
    let zone_id = zone["id"].as_str().expect("id").to_string();
    cf_admin(
        "POST",
        "/tokens",
        Some(json!({ "token": CF_TOKEN, "zones": [zone_id] })),
    );
    cf_admin(
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
