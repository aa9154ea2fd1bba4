//! The properties the fuzz targets of `fuzz/` check, one function per target. Each takes the
//! raw input, never panics on any input, and panics (failing the target) only when zoneshift
//! breaks a promise it makes about what it accepted. Built for `fuzz/` (feature `fuzzing`)
//! and for the unit tests below, which replay every input that once failed; not part of the
//! operator.

use crate::api::{HostedZoneMigration, HostedZoneMigrationSpec};
use crate::dns::{import::import, observe, query, transfer, verify, zonefile};
use crate::plan::verify::SourceView;
use crate::zone::{
    desired_from_spec, desired_with_import, normalize_origin, normalize_value, quote, txt_strings,
    Imported, RecordMap, RecordType,
};
use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use std::str::FromStr;

/// The origin the zone-file and DNS targets read their input for.
const ORIGIN: &str = "example.com.";

/// A zone file's text: read without panicking; an error names a line of the file; what is
/// read holds only canonical values inside the zone; and `zoneshift import`'s manifest of it
/// reads back, through the spec validation, as the very same record sets.
pub fn zone_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let imported = match zonefile::read(text, ORIGIN) {
        Ok(read) => read,
        Err(e) => {
            let lines = text.lines().count().max(1);
            assert!(
                e.line <= lines + 1,
                "error names line {} of a {lines}-line file: {e}",
                e.line
            );
            return;
        }
    };
    canonical_import(&imported);
    manifest_round_trip(&imported);
}

/// The record value normaliser: the first byte picks the type, the rest is the value. No
/// panic, and a canonical value is its own canonical form. TXT strings survive quoting.
pub fn record_value(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let rtype = RecordType::ALL[usize::from(selector) % RecordType::ALL.len()];
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(canonical) = normalize_value(rtype, value) {
        assert_eq!(
            normalize_value(rtype, &canonical).as_ref(),
            Ok(&canonical),
            "{rtype} {value:?} normalises to {canonical:?}, which normalises differently"
        );
    }
    if let Ok(strings) = txt_strings(value) {
        for s in &strings {
            assert_eq!(
                txt_strings(&quote(s)),
                Ok(vec![s.clone()]),
                "the character string {s:?} does not survive quoting"
            );
        }
    }
}

/// A HostedZoneMigration spec as JSON, through serde and the spec validation: no panic; the
/// record sets it accepts are canonical, inside the zone, and valid again as a spec.
pub fn spec(data: &[u8]) {
    let Ok(spec) = serde_json::from_slice::<HostedZoneMigrationSpec>(data) else {
        return;
    };
    let _ = crate::plan::cutover::parse_soak(&spec.cutover.minimum_soak);
    let Ok(origin) = normalize_origin(&spec.domain) else {
        assert!(
            desired_from_spec(&spec.domain, &spec.records).is_err(),
            "a spec whose domain {:?} is refused still gives record sets",
            spec.domain
        );
        return;
    };
    let desired = match desired_from_spec(&spec.domain, &spec.records) {
        Ok(d) => d,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refused spec names no record");
            for e in &errors {
                assert!(
                    e.record == "spec.domain" || e.record.starts_with("records["),
                    "an error that names no record: {e}"
                );
            }
            return;
        }
    };
    for (key, set) in &desired {
        assert_eq!(key, &set.key);
        in_zone(&key.name, &origin);
        if set.alias.is_none() {
            for v in &set.values {
                assert_eq!(
                    normalize_value(key.rtype, v).as_ref(),
                    Ok(v),
                    "{key}: the accepted value {v:?} is not canonical"
                );
            }
        }
    }
    // What the validation accepted, written back as a spec (as `zoneshift import` writes it),
    // is accepted again as the same sets; only sets without routing or alias can be.
    let plain: RecordMap = desired
        .into_iter()
        .filter(|(_, s)| s.alias.is_none() && s.routing == Default::default())
        .collect();
    let records: Vec<_> = plain
        .values()
        .map(|s| crate::cli::import::record_spec(s, &origin))
        .collect();
    let again = desired_from_spec(&spec.domain, &records)
        .unwrap_or_else(|e| panic!("accepted record sets refused when written back: {e:?}"));
    assert_eq!(
        again, plain,
        "accepted record sets changed when written back"
    );
}

/// Arbitrary bytes as a DNS message, as a server's answer, a zone transfer's response and a
/// parent's referral: no panic, and what is imported from it is canonical.
pub fn dns_message(data: &[u8]) {
    let Ok(msg) = Message::from_vec(data) else {
        return;
    };
    let mut questions: Vec<(Name, hickory_proto::rr::RecordType)> = msg
        .queries()
        .iter()
        .map(|q| (q.name().clone(), q.query_type()))
        .collect();
    if let Ok(apex) = Name::from_str(ORIGIN) {
        questions.push((apex, hickory_proto::rr::RecordType::NS));
    }
    for (qname, qtype) in &questions {
        if let Ok(query::Answer::Authoritative(records) | query::Answer::Referral(records)) =
            query::read_response(&msg, qname, *qtype)
        {
            if let Some(rtype) = RecordType::parse(&qtype.to_string()) {
                match verify::to_view(rtype, &records) {
                    SourceView::Records { values, .. } => {
                        assert!(values.windows(2).all(|w| w[0] < w[1]), "unsorted view")
                    }
                    other => panic!("a view of records that is not records: {other:?}"),
                }
            }
            let (nameservers, _) = observe::delegation_from(&records);
            assert!(
                nameservers.windows(2).all(|w| w[0] < w[1]),
                "unsorted NS set"
            );
        }
    }
    let mut received = transfer::Received::default();
    if received.push(&msg).is_ok() {
        if let Ok(records) = received.finish() {
            let soa = records
                .iter()
                .filter(|r| r.record_type() == hickory_proto::rr::RecordType::SOA)
                .count();
            assert_eq!(soa, 1, "a transfer keeps its SOA once");
            let imported = import(ORIGIN, &records);
            canonical_import(&imported);
            manifest_round_trip(&imported);
        }
    }
    let mut all = msg.answers().to_vec();
    all.extend(msg.name_servers().iter().cloned());
    all.extend(msg.additionals().iter().cloned());
    canonical_import(&import(ORIGIN, &all));
}

/// What an import copies lies inside the zone, is keyed by itself, and holds canonical values.
fn canonical_import(imported: &Imported) {
    for (key, set) in &imported.sets {
        assert_eq!(key, &set.key);
        in_zone(&key.name, ORIGIN);
        assert!(
            !set.values.is_empty(),
            "{key}: an imported set without values"
        );
        for v in &set.values {
            assert_eq!(
                normalize_value(key.rtype, v).as_ref(),
                Ok(v),
                "{key}: the imported value {v:?} is not canonical"
            );
        }
    }
    for ns in &imported.apex_ns {
        assert!(ns.is_empty() || ns.ends_with('.'), "apex NS {ns:?}");
    }
}

/// `zoneshift import`'s manifest of `imported`, read back as a resource and validated, gives
/// the same record sets.
fn manifest_round_trip(imported: &Imported) {
    let domain = ORIGIN.trim_end_matches('.');
    let yaml = crate::cli::import::manifest(domain, None, None, imported, "fuzz", &[], None)
        .unwrap_or_else(|e| panic!("no manifest: {e}"));
    let obj: HostedZoneMigration = yaml_serde::from_str(&yaml)
        .unwrap_or_else(|e| panic!("the manifest does not read back: {e}\n{yaml}"));
    let from_manifest = desired_from_spec(&obj.spec.domain, &obj.spec.records);
    // The operator's own view of the same import, without a manifest in between.
    match desired_with_import(domain, &[], &imported.sets) {
        Ok(sets) => {
            assert_eq!(sets, imported.sets, "the import is not the desired state");
            match from_manifest {
                Ok(read) => assert_eq!(
                    read, sets,
                    "the manifest reads back as other record sets\n{yaml}"
                ),
                Err(errors) => {
                    panic!("the operator refuses the imported manifest: {errors:?}\n{yaml}")
                }
            }
        }
        // An import the operator refuses (a CNAME beside other data) must be refused as a
        // manifest too.
        Err(_) => assert!(
            from_manifest.is_err(),
            "a manifest is accepted where its import is refused\n{yaml}"
        ),
    }
}

fn in_zone(name: &str, origin: &str) {
    assert!(
        name == origin || name.ends_with(&format!(".{origin}")),
        "{name:?} lies outside {origin}"
    );
}

#[cfg(test)]
mod tests {
    //! Every input that once made a fuzz target fail, replayed on stable.

    /// The committed corpus of every target still holds (minimised: a few hundred inputs,
    /// well under a second).
    #[test]
    fn committed_corpus_holds() {
        type Check = fn(&[u8]);
        let targets: [(&str, Check); 4] = [
            ("zone_file", super::zone_file),
            ("record_value", super::record_value),
            ("spec", super::spec),
            ("dns_message", super::dns_message),
        ];
        for (target, check) in targets {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/corpus")
                .join(target);
            let mut inputs = 0;
            for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/TARGET exists") {
                let path = entry.expect("a corpus entry").path();
                let data = std::fs::read(&path).expect("a readable corpus file");
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(outcome.is_ok(), "{target}: {} fails", path.display());
                inputs += 1;
            }
            assert!(inputs > 0, "{target}: empty corpus");
        }
    }

    /// Found by `record_value`: a quoted SVCB parameter value with spaces came out unquoted.
    #[test]
    fn svcb_quoted_values_stay_one_parameter() {
        super::record_value(
            b"\x051  a.lpn=\"h2  a.lpn=\"h2,h3\" port=\"h2,84,h3\" port=\"h2,84.0.2.1",
        );
    }

    /// Found by `record_value` once the above was fixed: a quote inside the target.
    #[test]
    fn svcb_quotes_in_the_target_are_refused() {
        super::record_value(b"\x051  a.le.com!\" .\" por -at=443v p\x08i");
    }

    /// Found by `dns_message` (corpus: crash-b3fb...): an SOA below the apex was imported,
    /// and the manifest refused.
    #[test]
    fn soa_below_the_apex_is_not_carried() {
        super::zone_file(b"sub 60 IN SOA ns1 host 1 2 3 4 5\nwww 60 IN A 192.0.2.1\n");
    }

    /// Found by `zone_file`: a TXT string longer than 255 bytes was imported whole.
    #[test]
    fn long_txt_strings_import_cut() {
        let long = "x".repeat(300);
        super::zone_file(format!("@ 60 IN TXT \"{long}\"\n").as_bytes());
    }

    /// Found by `dns_message`: a TTL with its top bit set made a manifest the operator refuses.
    #[test]
    fn top_bit_ttls_import_as_zero() {
        super::zone_file(b"www 3758096684 IN A 192.0.2.1\n");
    }

    #[test]
    fn seeds_hold() {
        super::zone_file(b"$TTL 300\n@ IN SOA ns1 host 1 2 3 4 5\nwww IN A 192.0.2.1\n");
        super::record_value(b"\x05 10   mail.Example.com");
        super::spec(br#"{"domain":"example.com","records":[{"name":"www","type":"A","values":["192.0.2.1"]}]}"#);
        super::dns_message(&[0; 12]);
    }
}
