//! Import and verification of a large zone against BIND 9 (the old provider of the test world).
//!
//! Prints, for the generated zone big.example.org (10,000 records by default, served by
//! `scripts/test-env up`): the time to read it from a zone file and by AXFR, and the time and
//! DNS query count of verifying every name and type against BIND, at concurrency 1 and at the
//! default 32 side by side.
//!
//! Run: `make bench` (or `scripts/test-env up; eval "$(scripts/test-env env)"; cargo bench
//! --bench import_verify`).

#![allow(clippy::unwrap_used)] // a benchmark: a panic is a failed run

use std::time::{Duration, Instant};
use zoneshift::dns::import::import;
use zoneshift::dns::query::Authorities;
use zoneshift::dns::transfer::axfr;
use zoneshift::dns::verify::ask_source;
use zoneshift::dns::zonefile;
use zoneshift::plan::verify::{compare, questions};

#[tokio::main]
async fn main() {
    let server = std::env::var("ZS_SOURCE_DNS")
        .expect("ZS_SOURCE_DNS: run scripts/test-env up and eval its env");
    let addr = server.parse().unwrap();
    let origin = "big.example.org.";
    let path = format!(
        "{}/.test-env/bind/big.example.org.zone",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let records_in_file = text.lines().count().saturating_sub(5);
    println!("zoneshift import and verification benchmark: {origin} ({records_in_file} records) from BIND at {server}");
    println!(
        "{:<34} | {:>9} | {:>10} | {:>9} | {:>11}",
        "step", "time (ms)", "record sets", "queries", "queries/s"
    );

    let t = Instant::now();
    let from_file = zonefile::read(&text, origin).unwrap();
    let file_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{:<34} | {:>9.0} | {:>10} | {:>9} | {:>11}",
        "import from zone file",
        file_ms,
        from_file.sets.len(),
        0,
        "-"
    );

    let t = Instant::now();
    let records = axfr(addr, origin, None, Duration::from_secs(30))
        .await
        .unwrap();
    let by_axfr = import(origin, &records);
    let axfr_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{:<34} | {:>9.0} | {:>10} | {:>9} | {:>11}",
        "import by AXFR (one transfer)",
        axfr_ms,
        by_axfr.sets.len(),
        1,
        "-"
    );
    assert_eq!(from_file.sets, by_axfr.sets, "both ways read the same zone");

    let desired = by_axfr.sets;
    let q = questions(&desired, origin);
    for concurrency in [1usize, 32] {
        let auth = Authorities::connect(&[addr], Duration::from_secs(5)).await;
        let t = Instant::now();
        let answers = ask_source(&auth, &q, concurrency).await;
        let secs = t.elapsed().as_secs_f64();
        let c = compare(origin, &desired, &desired, &answers);
        assert!(
            c.verified(),
            "{:?}",
            &c.mismatches[..c.mismatches.len().min(3)]
        );
        let sent = auth.queries_sent();
        println!(
            "{:<34} | {:>9.0} | {:>10} | {:>9} | {:>11.0}",
            format!("verify {} names, concurrency {concurrency}", c.checked),
            secs * 1000.0,
            c.checked,
            sent,
            sent as f64 / secs
        );
    }
}
