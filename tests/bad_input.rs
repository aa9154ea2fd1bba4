//! Bad input, one table: every row is an input a person can get wrong, the error they see
//! (it must name the field, the record or the line) and the Route 53 write requests it caused,
//! counted at moto (its request log: `POST` and `DELETE` under `/2013-04-01/`), which must be
//! zero. Manifests go through the real kube-apiserver of `scripts/test-env` (schema and CEL);
//! what only the operator can refuse goes through `reconcile` with kube-fake-client, moto as
//! Route 53, BIND as the AXFR source and the Cloudflare stand-in. Two control rows (a valid
//! resource) must show writes, so a broken counter cannot pass for zero.
//!
//! `ZS_BAD_INPUT_TABLE=path` writes the table (input, error seen, writes) as Markdown, the one
//! in docs/reliability.md.

mod common;

use common::world::*;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::ByteString;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::ResourceExt;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use zoneshift::api::*;

/// Where a row's input goes.
enum Via {
    /// Created on the real kube-apiserver: `spec` as written.
    ApiServer(Value),
    /// Created valid on the real kube-apiserver, then patched with this spec.
    ApiServerUpdate(Value, Value),
    /// Reconciled by the operator; the case is built for a fresh domain.
    Reconcile(fn(&str) -> Case),
}

struct Row {
    input: &'static str,
    /// A part of the error the person sees; it names the field, the record or the line.
    error: &'static str,
    via: Via,
    /// A control row: a valid resource, which must write (CreateHostedZone and
    /// ChangeResourceRecordSets at least).
    control: bool,
}

/// A resource for the operator and what it reads.
#[derive(Default)]
struct Case {
    obj: HostedZoneMigration,
    config_maps: Vec<ConfigMap>,
    secrets: Vec<Secret>,
    /// Synced first with these records (writes not counted), then reconciled as `obj`.
    before: Option<Vec<RecordSpec>>,
    /// The operator serves only this namespace (`--namespace`).
    watch_only: Option<&'static str>,
    /// Runs before the counted reconcile (a zone made at moto, a record added at BIND or
    /// the Cloudflare stand-in); its writes are not counted.
    setup: Option<Setup>,
    /// Undoes `setup` at the old provider.
    cleanup: Option<fn()>,
}

enum Setup {
    /// A hosted zone of another name at moto; `obj` adopts its id.
    ForeignZone,
    /// A zone at the Cloudflare stand-in with these records, and a token Secret `cf`/`token`.
    Cloudflare(Vec<Value>),
}

fn base(domain: &str, records: Vec<RecordSpec>) -> HostedZoneMigration {
    migration("m", domain, records)
}

fn case(domain: &str, records: Vec<RecordSpec>) -> Case {
    Case {
        obj: base(domain, records),
        ..Default::default()
    }
}

fn spec_case(domain: &str, edit: impl FnOnce(&mut HostedZoneMigrationSpec)) -> Case {
    let mut obj = base(domain, vec![]);
    edit(&mut obj.spec);
    Case {
        obj,
        ..Default::default()
    }
}

fn source_dns() -> String {
    std::env::var("ZS_SOURCE_DNS").expect("ZS_SOURCE_DNS is not set: run scripts/test-env up")
}

fn config_map(name: &str, key: &str, text: &str) -> ConfigMap {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.metadata.namespace = Some(NS.into());
    cm.data = Some(BTreeMap::from([(key.to_string(), text.to_string())]));
    cm
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.into());
    s.metadata.namespace = Some(NS.into());
    s.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    s
}

fn zone_file(domain: &str, body: &str) -> Case {
    let mut obj = base(domain, vec![]);
    obj.spec.source = Some(SourceSpec {
        nameservers: vec![source_dns()],
        zone_file: Some(ZoneFileSource {
            config_map_key_ref: ConfigMapKeyRef {
                name: "zone".into(),
                key: "zone".into(),
            },
        }),
        ..Default::default()
    });
    let text = format!(
        "$ORIGIN {domain}.\n$TTL 300\n@ IN SOA ns1.old-provider.net. hostmaster.old-provider.net. 1 7200 900 1209600 300\n@ IN NS ns1.old-provider.net.\n{body}"
    );
    Case {
        obj,
        config_maps: vec![config_map("zone", "zone", &text)],
        ..Default::default()
    }
}

fn axfr(domain: &str, secret_name: Option<&str>, nameservers: Vec<String>) -> Case {
    let mut obj = base(domain, vec![]);
    obj.spec.source = Some(SourceSpec {
        nameservers,
        axfr: Some(AxfrSource {
            tsig_secret_ref: secret_name.map(|s| LocalObjectRef { name: s.into() }),
        }),
        ..Default::default()
    });
    Case {
        obj,
        ..Default::default()
    }
}

/// The TSIG key of test-env's BIND, as a Secret (`name`, `algorithm`, `secret`).
fn tsig_secret(name: &str) -> Secret {
    let path = std::env::var("ZS_TSIG_KEY_FILE").expect("ZS_TSIG_KEY_FILE is not set");
    let key =
        zoneshift::dns::TsigKey::from_bind_file(&std::fs::read_to_string(path).expect("key file"))
            .expect("TSIG key");
    secret(
        name,
        &[
            ("name", &key.name),
            ("algorithm", &key.algorithm),
            ("secret", &key.secret),
        ],
    )
}

fn cloudflare(domain: &str, records: Vec<Value>, by_id: Option<&str>) -> Case {
    let mut obj = base(domain, vec![]);
    obj.spec.source = Some(SourceSpec {
        cloudflare: Some(CloudflareSource {
            zone: by_id.is_none().then(|| domain.to_string()),
            zone_id: by_id.map(str::to_string),
            api_token_secret_ref: SecretKeyRef {
                name: "cf".into(),
                key: "token".into(),
            },
        }),
        ..Default::default()
    });
    Case {
        obj,
        setup: Some(Setup::Cloudflare(records)),
        ..Default::default()
    }
}

fn cf(name: &str, t: &str, content: &str) -> Value {
    json!({ "name": name, "type": t, "content": content, "ttl": 300 })
}

/// `nsupdate` against test-env's BIND (the TSIG key signs it).
fn nsupdate(commands: &str) {
    let key = std::env::var("ZS_TSIG_KEY_FILE").expect("ZS_TSIG_KEY_FILE is not set");
    let (host, port) = source_dns()
        .rsplit_once(':')
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .expect("addr");
    let script = format!("server {host} {port}\nzone dynamic.example.net\n{commands}\nsend\n");
    let mut child = std::process::Command::new("nsupdate")
        .args(["-k", &key])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nsupdate (bind9-dnsutils)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    assert!(child.wait().expect("nsupdate").success(), "nsupdate failed");
}

const HUGE_TXT: &str = "huge-txt-bad-input.dynamic.example.net.";

fn add_huge_txt() {
    let strings: Vec<String> = (0..18)
        .map(|i| format!("\"{}\"", "x".repeat(240) + &format!("{i:02}")))
        .collect();
    nsupdate(&format!(
        "update delete {HUGE_TXT} TXT\nupdate add {HUGE_TXT} 300 TXT {}",
        strings.join(" ")
    ));
}

fn remove_huge_txt() {
    nsupdate(&format!("update delete {HUGE_TXT} TXT"));
}

fn a_values(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256))
        .collect()
}

fn rows() -> Vec<Row> {
    use Via::*;
    let api = |input, error, spec: Value| Row {
        input,
        error,
        via: ApiServer(spec),
        control: false,
    };
    let op = |input, error, f: fn(&str) -> Case| Row {
        input,
        error,
        via: Reconcile(f),
        control: false,
    };
    let r = |records: Value| json!({ "domain": "example.com", "records": records });
    vec![
        Row {
            input: "control: a valid resource with one A record",
            error: "(none: written)",
            via: Reconcile(|d| case(d, vec![rec("www", "A", &["192.0.2.1"])])),
            control: true,
        },
        // --- manifests, refused by the API server (schema and CEL) -------------------------
        api("spec without domain", "spec.domain: Required value", json!({ "records": [] })),
        api("domain `exa mple.com`", "spec.domain: Invalid value", json!({ "domain": "exa mple.com" })),
        api("domain of 254 characters", "spec.domain: Too long", json!({ "domain": format!("{}.com", "a.".repeat(125)) })),
        Row {
            input: "domain changed after creation",
            error: "spec.domain: Invalid value: \"example.org\": domain is immutable",
            via: ApiServerUpdate(json!({ "domain": "example.com" }), json!({ "domain": "example.org" })),
            control: false,
        },
        api("record type `AXFR`", "spec.records[0].type: Unsupported value: \"AXFR\"", r(json!([{ "name": "www", "type": "AXFR", "values": ["x"] }]))),
        api("TTL -1", "spec.records[0].ttl: Invalid value: -1", r(json!([{ "name": "www", "type": "A", "ttl": -1, "values": ["192.0.2.1"] }]))),
        api("TTL 2147483648", "spec.records[0].ttl: Invalid value: 2147483648", r(json!([{ "name": "www", "type": "A", "ttl": 2147483648u64, "values": ["192.0.2.1"] }]))),
        api("TTL `300s` (a string)", ".spec.records[0].ttl: expected numeric (int or float), got string", r(json!([{ "name": "www", "type": "A", "ttl": "300s", "values": ["192.0.2.1"] }]))),
        api("weight 256", "spec.records[0].weight: Invalid value: 256", r(json!([{ "name": "www", "type": "A", "setIdentifier": "a", "weight": 256, "values": ["192.0.2.1"] }]))),
        api("failover `TERTIARY`", "spec.records[0].failover: Unsupported value: \"TERTIARY\"", r(json!([{ "name": "www", "type": "A", "setIdentifier": "a", "failover": "TERTIARY", "values": ["192.0.2.1"] }]))),
        api("values and alias together", "spec.records[0]: Invalid value: set either values or alias, not both", r(json!([{ "name": "www", "type": "A", "values": ["192.0.2.1"], "alias": { "dnsName": "lb.example.net.", "hostedZoneId": "Z35SXDOTRQ7X7K" } }]))),
        api("neither values nor alias", "spec.records[0]: Invalid value: a record needs values or an alias", r(json!([{ "name": "www", "type": "A" }]))),
        api("alias with a TTL", "spec.records[0]: Invalid value: an alias record has no TTL", r(json!([{ "name": "www", "type": "A", "ttl": 60, "alias": { "dnsName": "lb.example.net.", "hostedZoneId": "Z35SXDOTRQ7X7K" } }]))),
        api("CNAME with two values", "spec.records[0]: Invalid value: a CNAME has exactly one value", r(json!([{ "name": "www", "type": "CNAME", "values": ["a.example.net.", "b.example.net."] }]))),
        api("CNAME at `@`", "spec.records[0]: Invalid value: a CNAME cannot sit at the zone apex", r(json!([{ "name": "@", "type": "CNAME", "values": ["a.example.net."] }]))),
        api("NS at `@`", "spec.records[0]: Invalid value: the apex NS records are the Route 53 delegation set", r(json!([{ "name": "@", "type": "NS", "values": ["ns1.example.net."] }]))),
        api("setIdentifier without a routing policy", "spec.records[0]: Invalid value: setIdentifier needs a routing policy", r(json!([{ "name": "www", "type": "A", "setIdentifier": "a", "values": ["192.0.2.1"] }]))),
        api("weight without setIdentifier", "spec.records[0]: Invalid value: a routing policy needs a setIdentifier", r(json!([{ "name": "www", "type": "A", "weight": 10, "values": ["192.0.2.1"] }]))),
        api("two routing policies", "spec.records[0]: Invalid value: a record set can have only one routing policy", r(json!([{ "name": "www", "type": "A", "setIdentifier": "a", "weight": 10, "region": "eu-west-1", "values": ["192.0.2.1"] }]))),
        api("setIdentifier of 129 characters", "spec.records[0].setIdentifier: Too long", r(json!([{ "name": "www", "type": "A", "setIdentifier": "s".repeat(129), "weight": 1, "values": ["192.0.2.1"] }]))),
        api("record name empty", "spec.records[0].name: Invalid value: \"\"", r(json!([{ "name": "", "type": "A", "values": ["192.0.2.1"] }]))),
        api("maxDeletePercent 101", "spec.policy.maxDeletePercent: Invalid value: 101", json!({ "domain": "example.com", "policy": { "maxDeletePercent": 101 } })),
        api("policy.mode `Mirror`", "spec.policy.mode: Unsupported value: \"Mirror\"", json!({ "domain": "example.com", "policy": { "mode": "Mirror" } })),
        api("cutover.mode `Registrar`", "spec.cutover.mode: Unsupported value: \"Registrar\"", json!({ "domain": "example.com", "cutover": { "mode": "Registrar" } })),
        api("deletionPolicy `Destroy`", "spec.hostedZone.deletionPolicy: Unsupported value: \"Destroy\"", json!({ "domain": "example.com", "hostedZone": { "deletionPolicy": "Destroy" } })),
        api("hostedZone.id `z-123`", "spec.hostedZone.id: Invalid value: \"z-123\"", json!({ "domain": "example.com", "hostedZone": { "id": "z-123" } })),
        api("aws.roleArn not a role ARN", "spec.aws.roleArn: Invalid value: \"arn:aws:s3:::bucket\"", json!({ "domain": "example.com", "aws": { "roleArn": "arn:aws:s3:::bucket" } })),
        api("minimumSoak `tomorrow`", "spec.cutover.minimumSoak: Invalid value: \"tomorrow\"", json!({ "domain": "example.com", "cutover": { "minimumSoak": "tomorrow" } })),
        api("Cloudflare zone and zoneId both", "spec.source.cloudflare: Invalid value: give exactly one of zone and zoneId", json!({ "domain": "example.com", "source": { "cloudflare": { "zone": "example.com", "zoneId": "0123456789abcdef0123456789abcdef", "apiTokenSecretRef": { "name": "cf", "key": "token" } } } })),
        api("Cloudflare zoneId not 32 hex digits", "spec.source.cloudflare.zoneId: Invalid value: \"XYZ\"", json!({ "domain": "example.com", "source": { "cloudflare": { "zoneId": "XYZ", "apiTokenSecretRef": { "name": "cf", "key": "token" } } } })),
        api("TSIG Secret named `../kube-system/aws`", "spec.source.axfr.tsigSecretRef.name: Invalid value: \"../kube-system/aws\"", json!({ "domain": "example.com", "source": { "nameservers": ["192.0.2.53"], "axfr": { "tsigSecretRef": { "name": "../kube-system/aws" } } } })),
        api("zone file ConfigMap key `../zone`", "spec.source.zoneFile.configMapKeyRef.key: Invalid value: \"../zone\"", json!({ "domain": "example.com", "source": { "zoneFile": { "configMapKeyRef": { "name": "zone", "key": "../zone" } } } })),
        api("unknown field `spec.route53Endpoint`", ".spec.route53Endpoint: field not declared in schema", json!({ "domain": "example.com", "route53Endpoint": "http://203.0.113.9" })),
        api("acknowledge type `a`", "spec.cutover.acknowledge[0].type: Invalid value: \"a\"", json!({ "domain": "example.com", "cutover": { "acknowledge": [{ "name": "www", "type": "a", "why": "x" }] } })),
        // --- record values, refused by the operator before any call -----------------------
        op("A `192.0.2.300`", "records[0] (www A): values[0]: \"192.0.2.300\" is not an IPv4 address", |d| case(d, vec![rec("www", "A", &["192.0.2.300"])])),
        op("AAAA `2001:db8::zz`", "records[0] (www AAAA): values[0]: \"2001:db8::zz\" is not an IPv6 address", |d| case(d, vec![rec("www", "AAAA", &["2001:db8::zz"])])),
        op("MX without a preference", "records[0] (@ MX): values[0]", |d| case(d, vec![rec("@", "MX", &["mail.example.com."])])),
        op("CNAME beside an A", "a CNAME cannot sit beside other data", |d| case(d, vec![rec("www", "A", &["192.0.2.1"]), rec("www", "CNAME", &["app.example.net."])])),
        op("name outside the zone", "records[0] (www.example.org. A): the name \"www.example.org.\" is outside the zone", |d| case(d, vec![rec("www.example.org.", "A", &["192.0.2.1"])])),
        op("wildcard not the first label", "records[0] (www.* A)", |d| case(d, vec![rec("www.*", "A", &["192.0.2.1"])])),
        op("the same name and type twice", "records[1] (www A): duplicates records[0]", |d| case(d, vec![rec("www", "A", &["192.0.2.1"]), rec("www", "A", &["192.0.2.2"])])),
        op("label of 64 characters", "has a label longer than 63 bytes", |d| case(d, vec![rec(&"l".repeat(64), "A", &["192.0.2.1"])])),
        op("name longer than 255 bytes", "is longer than 255 bytes", |d| case(d, vec![rec(&format!("{}.{}.{}.{}", "a".repeat(60), "b".repeat(60), "c".repeat(60), "d".repeat(60)), "A", &["192.0.2.1"])])),
        op("SRV `10 5 http target.`", "records[0] (_sip._tcp SRV): values[0]", |d| case(d, vec![rec("_sip._tcp", "SRV", &["10 5 http target.example.net."])])),
        op("CAA tag `is-sue`", "records[0] (@ CAA): values[0]: CAA tag", |d| case(d, vec![rec("@", "CAA", &["0 is-sue \"ca.example.net\""])])),
        op("TXT with an unterminated quote", "records[0] (@ TXT): values[0]", |d| case(d, vec![rec("@", "TXT", &["\"v=spf1 -all"])])),
        op("DS digest not hexadecimal", "records[0] (sub DS): values[0]", |d| case(d, vec![rec("sub", "DS", &["12345 13 2 XYZ"])])),
        op("SSHFP fingerprint not hexadecimal", "records[0] (host SSHFP): values[0]", |d| case(d, vec![rec("host", "SSHFP", &["1 1 nothex"])])),
        op("TLSA with three fields", "records[0] (_443._tcp TLSA): values[0]", |d| case(d, vec![rec("_443._tcp", "TLSA", &["3 1 1"])])),
        op("alias target `bad..name.`", "records[0] (@ A): alias.dnsName", |d| {
            let mut r = rec("@", "A", &[]);
            r.alias = Some(AliasSpec { dns_name: "bad..name.".into(), hosted_zone_id: "Z35SXDOTRQ7X7K".into(), evaluate_target_health: false });
            case(d, vec![r])
        }),
        op("TXT value of 4,100 characters", "records[0] (big TXT): values[0] has", |d| {
            let long = "y".repeat(4100);
            case(d, vec![RecordSpec { values: vec![long], ..rec("big", "TXT", &[]) }])
        }),
        op("A record set of 600 values", "records[0] (many A): 600 values, more than the 500", |d| {
            case(d, vec![RecordSpec { values: a_values(600), ..rec("many", "A", &[]) }])
        }),
        op("TXT set of 80 values of 250 characters", "records[0] (wide TXT): its values hold", |d| {
            let values = (0..80).map(|i| format!("{i:03}{}", "z".repeat(247))).collect();
            case(d, vec![RecordSpec { values, ..rec("wide", "TXT", &[]) }])
        }),
        op("latency region `mars-1`", "records[0] (api A): region \"mars-1\"", |d| {
            case(d, vec![RecordSpec { set_identifier: Some("a".into()), region: Some("mars-1".into()), ..rec("api", "A", &["192.0.2.1"]) }])
        }),
        op("geoLocation continent `XX`", "records[0] (geo A): geoLocation.continentCode \"XX\"", |d| {
            let geo = GeoLocationSpec { continent_code: Some("XX".into()), ..Default::default() };
            case(d, vec![RecordSpec { set_identifier: Some("g".into()), geo_location: Some(geo), ..rec("geo", "A", &["192.0.2.1"]) }])
        }),
        op("healthCheckId `hc-1`", "records[0] (api A): healthCheckId \"hc-1\"", |d| {
            case(d, vec![RecordSpec { set_identifier: Some("a".into()), weight: Some(1), health_check_id: Some("hc-1".into()), ..rec("api", "A", &["192.0.2.1"]) }])
        }),
        op("failover `primary ` (spaces), past an old CRD", "records[0] (api A): failover", |d| {
            case(d, vec![RecordSpec { set_identifier: Some("a".into()), failover: Some("primary ".into()), ..rec("api", "A", &["192.0.2.1"]) }])
        }),
        // --- the resource as a whole, refused by the operator -------------------------------
        op("maxDeletePercent 25, spec drops 9 of 10 records", "would delete 9 of", |d| {
            let ten: Vec<RecordSpec> = (0..10).map(|i| rec(&format!("h{i}"), "A", &["192.0.2.1"])).collect();
            let mut c = case(d, vec![ten[0].clone()]);
            c.before = Some(ten);
            c
        }),
        op("aws.roleArn not in --allowed-role-arns", "spec.aws.roleArn arn:aws:iam::123456789012:role/admin is not among the roles", |d| {
            spec_case(d, |s| s.aws = Some(AwsSpec { role_arn: Some("arn:aws:iam::123456789012:role/admin".into()) }))
        }),
        op("hostedZone.id names a zone of another domain", "is named", |d| {
            let mut c = case(d, vec![]);
            c.setup = Some(Setup::ForeignZone);
            c
        }),
        op("hostedZone.id names no zone", "hosted zone ZNOSUCHZONE0000", |d| {
            spec_case(d, |s| s.hosted_zone.id = Some("ZNOSUCHZONE0000".into()))
        }),
        op("resource in a namespace the operator does not watch", "(no status, no event: left alone)", |d| {
            let mut c = case(d, vec![rec("www", "A", &["192.0.2.1"])]);
            c.watch_only = Some("dns-team-b");
            c
        }),
        op("TSIG Secret named `../kube-system/aws`, past an old CRD", "spec.source.axfr.tsigSecretRef.name \"../kube-system/aws\" is not the name of an object", |d| {
            axfr(d, Some("../kube-system/aws"), vec![source_dns()])
        }),
        // --- zone files (spec.source.zoneFile) ------------------------------------------------
        op("zone file: `www IN A` without an address", "line 5", |d| zone_file(d, "www IN A\n")),
        op("zone file: `www IN A 192.0.2.999`", "line 6: www.", |d| zone_file(d, "ok IN A 192.0.2.1\nwww IN A 192.0.2.999\n")),
        op("zone file: CNAME beside an A", "a CNAME (line 6) beside other data", |d| zone_file(d, "www IN A 192.0.2.1\nwww IN CNAME app.example.net.\n")),
        op("zone file: unknown type `FOO`", "line 5", |d| zone_file(d, "www IN FOO bar\n")),
        op("zone file: 600 A records at one name", "the source's many.", |d| {
            let body: String = a_values(600).iter().map(|a| format!("many IN A {a}\n")).collect();
            zone_file(d, &body)
        }),
        op("zone file ConfigMap missing", "ConfigMap dns/zone does not exist", |d| {
            let mut c = zone_file(d, "");
            c.config_maps.clear();
            c
        }),
        op("zone file ConfigMap without the key", "has no key", |d| {
            let mut c = zone_file(d, "");
            c.config_maps = vec![config_map("zone", "other", "")];
            c
        }),
        op("zone file without records", "holds no records Route 53 can serve", |d| zone_file(d, "")),
        // --- zone transfers (spec.source.axfr, from test-env's BIND) --------------------------
        op("AXFR: TSIG Secret missing", "Secret dns/absent does not exist", |d| axfr(d, Some("absent"), vec![source_dns()])),
        op("AXFR: TSIG Secret without `secret`", "secret", |d| {
            let mut c = axfr(d, Some("xfr"), vec![source_dns()]);
            c.secrets = vec![secret("xfr", &[("name", "zs-xfr"), ("algorithm", "hmac-sha256")])];
            c
        }),
        op("AXFR: TSIG secret that is not base64", "secret", |d| {
            let mut c = axfr(d, Some("xfr"), vec![source_dns()]);
            c.secrets = vec![secret("xfr", &[("name", "zs-xfr"), ("algorithm", "hmac-sha256"), ("secret", "not base64!")])];
            c
        }),
        op("AXFR: TSIG algorithm `hmac-md4`", "algorithm", |d| {
            let mut c = axfr(d, Some("xfr"), vec![source_dns()]);
            c.secrets = vec![secret("xfr", &[("name", "zs-xfr"), ("algorithm", "hmac-md4"), ("secret", "c2VjcmV0")])];
            c
        }),
        op("AXFR: no nameservers", "spec.source.nameservers", |d| axfr(d, None, vec![])),
        op("AXFR: nameserver `not a server`", "spec.source.nameservers", |d| axfr(d, None, vec!["not a server:x".into()])),
        op("AXFR: a zone the server does not serve", "refused the zone transfer (Not authorized)", |d| {
            let mut c = axfr(d, Some("xfr"), vec![source_dns()]);
            c.secrets = vec![tsig_secret("xfr")];
            c
        }),
        op("AXFR: a TSIG-only zone without the key", "refused the zone transfer", |_| {
            // example.com at test-env's BIND: never created at moto, as the transfer fails.
            axfr("example.com", None, vec![source_dns()])
        }),
        op("AXFR: a TXT of 4,356 characters at the source", "the source's huge-txt-bad-input.dynamic.example.net. TXT: values[0] has", |_| {
            let mut c = axfr("dynamic.example.net", Some("xfr"), vec![source_dns()]);
            c.secrets = vec![tsig_secret("xfr")];
            c.cleanup = Some(remove_huge_txt);
            add_huge_txt();
            c
        }),
        // --- Cloudflare (spec.source.cloudflare, the stand-in) --------------------------------
        op("Cloudflare: token Secret missing", "Secret dns/cf does not exist", |d| cloudflare(d, vec![cf("www", "A", "192.0.2.1")], None).without_secret()),
        op("Cloudflare: token Secret without the key", "token", |d| cloudflare(d, vec![cf("www", "A", "192.0.2.1")], None).with_secret(secret("cf", &[("other", "x")]))),
        op("Cloudflare: unknown token", "Invalid API Token", |d| cloudflare(d, vec![cf("www", "A", "192.0.2.1")], None).with_secret(secret("cf", &[("token", "no-such-token")]))),
        op("Cloudflare: zoneId that names no zone", "spec.source.cloudflare: Cloudflare has no such zone", |d| cloudflare(d, vec![], Some("0123456789abcdef0123456789abcdef"))),
        op("Cloudflare: A `not-an-address`", "(not carried: www.bad", |d| cloudflare(d, vec![cf("www", "A", "not-an-address")], None)),
        op("Cloudflare: CNAME beside an A", "a CNAME cannot sit beside other data", |d| cloudflare(d, vec![cf("www", "A", "192.0.2.1"), cf("www", "CNAME", "app.example.net")], None)),
        op("Cloudflare: an empty zone", "lists 0 records and none Route 53 can serve", |d| cloudflare(d, vec![], None)),
        Row {
            input: "control: the same valid resource again",
            error: "(none: written)",
            via: Reconcile(|d| case(d, vec![rec("www", "A", &["192.0.2.1"])])),
            control: true,
        },
    ]
}

trait CaseExt {
    fn without_secret(self) -> Self;
    fn with_secret(self, s: Secret) -> Self;
}

impl CaseExt for Case {
    /// No Secret `cf` (another Secret is there, so the stand-in's token is not added).
    fn without_secret(self) -> Self {
        self.with_secret(secret("not-cf", &[("token", "x")]))
    }
    fn with_secret(mut self, s: Secret) -> Self {
        self.secrets = vec![s];
        self
    }
}

/// Route 53 write requests moto has answered so far: its request log's `POST` and `DELETE`
/// lines under `/2013-04-01/` (CreateHostedZone, ChangeResourceRecordSets, DeleteHostedZone).
fn moto_writes() -> usize {
    let log = std::env::var("ZS_MOTO_LOG")
        .unwrap_or_else(|_| format!("{}/.test-env/moto.log", env!("CARGO_MANIFEST_DIR")));
    let text = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("{log}: {e} (run scripts/test-env up)"));
    text.lines()
        // Werkzeug colours some lines (ANSI escapes before the method).
        .filter(|l| l.contains("POST /2013-04-01/") || l.contains("DELETE /2013-04-01/"))
        .count()
}

/// moto writes its log line after the answer: wait until it stops growing.
async fn settled_moto_writes() -> usize {
    let mut last = moto_writes();
    loop {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let now = moto_writes();
        if now == last {
            return now;
        }
        last = now;
    }
}

fn unique(i: usize) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("bad{i}-{}-{nanos}.example.com", std::process::id())
}

/// The real kube-apiserver of scripts/test-env, with the CRD installed and a namespace.
async fn api_server() -> Api<DynamicObject> {
    // As main.rs does: two TLS providers are linked, so one is chosen.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = kube::Client::try_default()
        .await
        .expect("KUBECONFIG of scripts/test-env (eval \"$(scripts/test-env env)\")");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let text = std::fs::read_to_string(format!(
        "{}/crds/hostedzonemigration.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("crd");
    let crd: CustomResourceDefinition = yaml_serde::from_str(&text).expect("crd yaml");
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("zoneshift-bad-input").force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("install the CRD");
    for _ in 0..100 {
        let c = crds.get(&crd.name_any()).await.expect("crd");
        let established = c
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(json!({ "metadata": { "name": "zs-bad-input" } })).expect("ns");
    let _ = namespaces.create(&PostParams::default(), &ns).await;
    let ar = ApiResource::erase::<HostedZoneMigration>(&());
    // The schema may take a moment to serve after Established.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Api::namespaced_with(client, "zs-bad-input", &ar)
}

fn object(name: &str, spec: &Value) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "zoneshift.io/v1alpha1",
        "kind": "HostedZoneMigration",
        "metadata": { "name": name },
        "spec": spec,
    }))
    .expect("object")
}

/// `kubectl apply --server-side`, which validates fields strictly as kubectl does by default.
fn apply() -> PatchParams {
    PatchParams::apply("zs-bad-input").validation_strict()
}

fn api_error(r: Result<DynamicObject, kube::Error>) -> String {
    match r {
        Ok(o) => format!("(accepted: {})", o.name_any()),
        Err(kube::Error::Api(s)) => s.message,
        Err(e) => format!("(not an API answer: {e})"),
    }
}

async fn through_api_server(api: &Api<DynamicObject>, i: usize, via: &Via) -> String {
    let name = format!("row-{i}-{}", std::process::id());
    match via {
        Via::ApiServer(spec) => {
            let got = api
                .patch(&name, &apply(), &Patch::Apply(object(&name, spec)))
                .await;
            if got.is_ok() {
                let _ = api.delete(&name, &DeleteParams::default()).await;
            }
            api_error(got)
        }
        Via::ApiServerUpdate(first, then) => {
            let _ = api.delete(&name, &DeleteParams::default()).await;
            api.create(&PostParams::default(), &object(&name, first))
                .await
                .expect("the valid object is accepted");
            let got = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "spec": then })),
                )
                .await;
            let _ = api.delete(&name, &DeleteParams::default()).await;
            api_error(got)
        }
        Via::Reconcile(_) => unreachable!(),
    }
}

/// Runs what must happen before the counted reconcile; its writes are not counted.
async fn prepare(case: &mut Case, domain: &str) {
    match case.setup.take() {
        Some(Setup::ForeignZone) => {
            let r53 = common::route53().await;
            let other = format!("other-{domain}");
            let origin = zoneshift::zone::normalize_origin(&other).expect("origin");
            let (zone, _) = r53
                .ensure_zone(&origin, &format!("bad-input-{domain}"), None, None)
                .await
                .expect("a zone of another name");
            case.obj.spec.hosted_zone.id = Some(zone.id.trim_start_matches("/hostedzone/").into());
        }
        Some(Setup::Cloudflare(records)) => {
            let zone = common::cloudflare_admin("POST", "/zones", Some(json!({ "name": domain })));
            let id = zone["id"].as_str().expect("id").to_string();
            let token = format!("tok-{id}");
            common::cloudflare_admin(
                "POST",
                "/tokens",
                Some(json!({ "token": token, "zones": [id] })),
            );
            if !records.is_empty() {
                let records: Vec<Value> = records
                    .into_iter()
                    .map(|mut r| {
                        let n = r["name"].as_str().unwrap_or("@").to_string();
                        r["name"] = json!(if n == "@" {
                            domain.to_string()
                        } else {
                            format!("{n}.{domain}")
                        });
                        r
                    })
                    .collect();
                common::cloudflare_admin(
                    "POST",
                    &format!("/zones/{id}/records"),
                    Some(json!(records)),
                );
            }
            if case.secrets.is_empty() {
                case.secrets.push(secret("cf", &[("token", &token)]));
            }
        }
        None => {}
    }
}

/// What the person sees on the resource: the `Ready` condition's reason and message (it
/// carries the failing condition's), or that nothing was written at all.
async fn through_operator(i: usize, f: fn(&str) -> Case) -> String {
    let domain = unique(i);
    let mut case = f(&domain);
    let domain = case.obj.spec.domain.clone();
    prepare(&mut case, &domain).await;
    let before = case.before.take();
    let mut w = World::with(vec![case.obj.clone()], case.config_maps, case.secrets).await;
    if let Some(ns) = case.watch_only {
        Arc::get_mut(&mut w.ctx).expect("one owner").namespace = Some(ns.into());
    }
    if let Some(records) = before {
        let mut first = case.obj.clone();
        first.spec.records = records;
        w.patch_spec("m", json!({ "records": first.spec.records }))
            .await;
        w.settle("m").await;
        w.patch_spec("m", json!({ "records": case.obj.spec.records }))
            .await;
    }
    // Counted from here.
    let start = settled_moto_writes().await;
    for _ in 0..2 {
        let _ = w.reconcile("m").await;
    }
    let writes = settled_moto_writes().await - start;
    if let Some(undo) = case.cleanup {
        undo();
    }
    let m = w.get("m").await;
    // RecordsSynced carries the refusal; Ready when it holds (a zone or a role refused).
    let records = m
        .status
        .as_ref()
        .and_then(|s| s.condition(ConditionType::RecordsSynced))
        .filter(|c| c.status == "False" && c.reason != "ZoneNotReady");
    let ready = m
        .status
        .as_ref()
        .and_then(|s| s.condition(ConditionType::Ready));
    let seen = match records.or(ready) {
        Some(c) => format!("{}: {}", c.reason, c.message),
        None if w.event_reasons().await.is_empty() => {
            "(no status, no event: left alone)".to_string()
        }
        None => format!("(no status; events {:?})", w.event_reasons().await),
    };
    format!("{writes}\u{0}{seen}")
}

fn cell(s: &str) -> String {
    let one_line = s.replace('\n', " ").replace('|', "\\|");
    if one_line.chars().count() > 300 {
        format!("{}…", one_line.chars().take(300).collect::<String>())
    } else {
        one_line
    }
}

/// Every row: the error names what is wrong, and Route 53 saw no write (the controls: some).
#[tokio::test]
async fn bad_input_is_refused_with_a_clear_error_and_writes_nothing() {
    let rows = rows();
    assert!(rows.len() >= 60, "{} rows", rows.len());
    let api = api_server().await;
    let mut table = vec![
        "| # | input | where | error seen | Route 53 writes |".to_string(),
        "| --- | --- | --- | --- | --- |".to_string(),
    ];
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let (writes, seen, place) = match &row.via {
            Via::Reconcile(f) => {
                let got = through_operator(i, *f).await;
                let (w, seen) = got.split_once('\u{0}').expect("two parts");
                (
                    w.parse::<usize>().expect("count"),
                    seen.to_string(),
                    "operator",
                )
            }
            via => {
                let start = settled_moto_writes().await;
                let seen = through_api_server(&api, i, via).await;
                (settled_moto_writes().await - start, seen, "API server")
            }
        };
        let ok = if row.control {
            writes >= 2 && !seen.starts_with("(")
        } else {
            writes == 0 && seen.contains(row.error)
        };
        if !ok {
            failures.push(format!(
                "row {i} ({}): wanted {:?} and {} writes; saw {seen:?} with {writes} writes",
                row.input,
                row.error,
                if row.control { "some" } else { "no" }
            ));
        }
        table.push(format!(
            "| {i} | {} | {place} | {} | {writes} |",
            cell(row.input),
            cell(&seen)
        ));
    }
    let table = table.join("\n") + "\n";
    if let Ok(path) = std::env::var("ZS_BAD_INPUT_TABLE") {
        std::fs::write(&path, &table).expect("write the table");
    }
    assert!(failures.is_empty(), "{}\n\n{table}", failures.join("\n"));
}
