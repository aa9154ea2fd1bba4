//! Shared helpers for the integration tests. They run against the real stand-ins started by
//! `scripts/test-env up` (moto_server for Route 53); a missing stand-in fails the test with a
//! message saying so, it never skips.
#![allow(dead_code)]

pub mod fakes;
pub mod faults;
pub mod world;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use zoneshift::route53::{RetryPolicy, Route53};

/// The Route 53 stand-in's endpoint, from `scripts/test-env env`.
pub fn endpoint() -> String {
    std::env::var("ZS_ROUTE53_ENDPOINT").unwrap_or_else(|_| {
        panic!("ZS_ROUTE53_ENDPOINT is not set: run `scripts/test-env up` and `eval \"$(scripts/test-env env)\"` (or `make test`)")
    })
}

/// A Route 53 adapter pointed at the stand-in, with a budget high enough not to slow tests.
pub async fn route53() -> Route53 {
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
    route53_at(&endpoint()).await
}

/// The same adapter at another endpoint (the fault proxy in front of the stand-in).
pub async fn route53_at(endpoint: &str) -> Route53 {
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
    Route53::from_env(Some(endpoint), 1000, fast_retry()).await
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retries: 3,
    }
}

/// A domain no other test uses (moto's state is shared by every test of a run).
pub fn unique_domain(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{tag}-{}-{n}-{nanos}.example.com", std::process::id())
}

/// One request to the Cloudflare stand-in's admin endpoint (plain HTTP/1.1 over loopback).
pub fn cloudflare_admin(
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let base = std::env::var("ZS_CLOUDFLARE_ADMIN")
        .expect("ZS_CLOUDFLARE_ADMIN is not set: run scripts/test-env up and eval its env");
    let rest = base.strip_prefix("http://").expect("an http:// URL");
    let (host, prefix) = rest.split_once('/').expect("a path");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).expect("the Cloudflare stand-in");
    write!(
        s,
        "{method} /{prefix}{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").expect("an answer");
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{method} {path}: {head}\n{body}"
    );
    serde_json::from_str(body).expect("json")
}
