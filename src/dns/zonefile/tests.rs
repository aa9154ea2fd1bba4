//! The zone-file reader on small texts; the corpus and the comparison with BIND are in
//! tests/zonefiles.rs.

use super::*;
use crate::zone::{RecordKey, RecordType};

const ZONE: &str = "$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster (\n  2026112701 ; serial\n  7200 900 1209600 300 )\n  IN NS ns1\n  IN NS ns2.example.net.\nns1 IN A 192.0.2.53\nwww 300 IN A 192.0.2.1\n";

fn values(imp: &Imported, name: &str, t: RecordType) -> Vec<String> {
    imp.sets[&RecordKey::new(name, t, None)].values.clone()
}

#[test]
fn parses_origin_ttl_multiline_and_relative_names() {
    let imp = read(ZONE, "example.com.").unwrap();
    assert_eq!(imp.serial, Some(2026112701));
    assert_eq!(imp.negative_ttl, Some(300));
    assert_eq!(imp.apex_ns, vec!["ns1.example.com.", "ns2.example.net."]);
    assert_eq!(imp.sets.len(), 2);
    let www = &imp.sets[&RecordKey::new("www.example.com.", RecordType::A, None)];
    assert_eq!(www.ttl, Some(300));
}

#[test]
fn dollar_ttl_applies_and_multiline_quotes_survive() {
    let text = format!("{ZONE}dkim IN TXT ( \"v=DKIM1; k=rsa; p=AB\" ; the key\n  \"CD\" )\nafter IN A 192.0.2.3\n");
    let imp = read(&text, "example.com.").unwrap();
    assert_eq!(
        values(&imp, "dkim.example.com.", RecordType::Txt),
        vec!["\"v=DKIM1; k=rsa; p=AB\" \"CD\""]
    );
    let bad = format!("{text}x IN A 300.1.1.1\n");
    assert_eq!(read(&bad, "example.com.").unwrap_err().line, 13);
}

#[test]
fn an_error_names_its_line() {
    let bad = format!("{ZONE}mail IN MX ten mail.example.com.\nok IN A 192.0.2.2\n");
    assert_eq!(read(&bad, "example.com.").unwrap_err().line, 10);
    let e = read("$INCLUDE other.zone\n", "example.com.").unwrap_err();
    assert_eq!(e.line, 1);
    let e = read(&format!("{ZONE}x IN BOGUS 1\n"), "example.com.").unwrap_err();
    assert_eq!(e.line, 10, "{e}");
}

#[test]
fn a_blank_owner_after_a_set_aside_record_keeps_its_owner() {
    let text = format!("{ZONE}loc IN LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\n    IN A 192.0.2.7\n");
    let imp = read(&text, "example.com.").unwrap();
    assert_eq!(
        values(&imp, "loc.example.com.", RecordType::A),
        vec!["192.0.2.7"]
    );
    assert_eq!(imp.skipped.len(), 1);
    assert_eq!(imp.skipped[0].name, "loc.example.com.");
}

#[test]
fn invalid_zones_are_refused_naming_the_line() {
    for (extra, line, what) in [
        (
            "cn IN CNAME a.example.net.\ncn IN A 192.0.2.1\n",
            11,
            "CNAME and other data",
        ),
        ("sub IN SOA ns1 h 1 2 3 4 5\n", 10, "SOA below the apex"),
        ("chaos CH TXT \"x\"\n", 10, "a non-IN class"),
        ("@ IN SOA ns9 h 2 2 3 4 5\n", 10, "a second, different SOA"),
    ] {
        let e = read(&format!("{ZONE}{extra}"), "example.com.").unwrap_err();
        assert_eq!(e.line, line, "{what}: {e}");
    }
    let long = format!("{ZONE}t IN TXT \"{}\"\n", "x".repeat(256));
    let e = read(&long, "example.com.").unwrap_err();
    assert!(e.message.contains("256 bytes"), "{e}");
    assert_eq!(e.line, 10);
}

#[test]
fn the_same_soa_repeated_at_the_end_is_a_zone_dump() {
    let text = format!("{ZONE}@ IN SOA ns1 hostmaster 2026112701 7200 900 1209600 300\n");
    assert_eq!(
        read(&text, "example.com.").unwrap().serial,
        Some(2026112701)
    );
}
