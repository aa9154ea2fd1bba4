//! zoneshift's zone-file reader against BIND's: every file of tests/zonefiles/ (one construct
//! each) and a few hundred generated zone files are read by zoneshift and by
//! `named-checkzone -D -o -` (BIND's own parser, installed by `scripts/test-env up`), and the
//! two readings must agree record for record: what zoneshift carries equals what BIND loads,
//! each record BIND loads of a type Route 53 cannot serve is listed as not carried, and a file
//! BIND refuses zoneshift refuses too, naming the same line.
//!
//! BIND's canonical output is read here by a few lines of code of the test's own (absolute
//! names, every field written, decimal escapes); its values then go through zoneshift's value
//! normalisation, the same one values from Route 53 go through, so formatting cannot differ.
//! ZS_ZONEFILE_CASES sets how many files are generated (default 300), ZS_ZONEFILE_SEED the seed.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use zoneshift::dns::import::DNSSEC_TYPES;
use zoneshift::dns::zonefile;
use zoneshift::zone::{normalize_value, Imported, RecordType};

const ORIGIN: &str = "example.com.";

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zonefiles")
}

/// BIND's reading: `Ok(lines)` of its canonical dump, or `Err(line)` where it refused the file.
fn bind_reads(path: &Path) -> Result<Vec<String>, usize> {
    let out = Command::new("named-checkzone")
        .args(["-k", "ignore", "-i", "none", "-D", "-o", "-", "example.com"])
        .arg(path)
        .output()
        .expect("named-checkzone (Debian bind9-utils) is not installed: run scripts/test-env up");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let line = stderr
            .split(&format!("{name}:"))
            .nth(1)
            .and_then(|s| s.split(':').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        return Err(line);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// A name or value of BIND's dump with its decimal `\DDD` escapes turned into the octal ones
/// zoneshift's model uses.
fn octal_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v: u32 = s[i + 1..i + 4].parse().unwrap();
            out.push_str(&format!("\\{v:03o}"));
            i += 4;
        } else if b[i] == b'\\' && i + 1 < b.len() {
            out.push_str(&s[i..i + 2]);
            i += 2;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// A name of BIND's dump in zoneshift's form: lowercase, `\ooo` for what is not a letter, a
/// digit, `-` or `_`.
fn model_name(bind: &str) -> String {
    let o = octal_escapes(bind);
    let o = o.replace("\\.", "\\056");
    zoneshift::zone::normalize_target(&o).unwrap()
}

/// What BIND loaded, as zoneshift should carry it.
#[derive(Debug, Default, PartialEq)]
struct Reading {
    /// (name, type) -> (ttl, sorted values)
    sets: BTreeMap<(String, String), (u32, Vec<String>)>,
    not_carried: BTreeSet<(String, String)>,
    apex_ns: Vec<String>,
    serial: Option<u32>,
}

/// What follows the first `n` blank-separated fields of a line.
fn after_fields(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    rest.trim_end()
}

fn from_bind(lines: &[String]) -> Reading {
    let mut r = Reading::default();
    for l in lines {
        let mut f = l.split_whitespace();
        let (name, ttl, _class, rtype) = (
            model_name(f.next().unwrap()),
            f.next().unwrap().parse::<u32>().unwrap(),
            f.next().unwrap(),
            f.next().unwrap().to_string(),
        );
        // The data as BIND wrote it: the rest of the line, spaces inside strings kept.
        let rest = after_fields(l, 4);
        let data = octal_escapes(rest);
        let carried = RecordType::parse(&rtype).filter(|_| !DNSSEC_TYPES.contains(&rtype.as_str()));
        let Some(t) = carried else {
            r.not_carried.insert((name, rtype));
            continue;
        };
        // BIND quotes SVCB values (alpn="h2,h3"); zoneshift writes them bare when it can.
        let data = if matches!(t, RecordType::Svcb | RecordType::Https) {
            data.replace('"', "")
        } else {
            data
        };
        let value = normalize_value(t, &data).unwrap_or_else(|e| panic!("{l}: {e}"));
        match (name == ORIGIN, t) {
            (true, RecordType::Soa) => r.serial = value.split(' ').nth(2).unwrap().parse().ok(),
            (true, RecordType::Ns) => r.apex_ns.push(value),
            (true, RecordType::Cname) => {
                r.not_carried.insert((name, rtype));
            }
            _ => {
                let e = r.sets.entry((name, rtype)).or_insert((ttl, Vec::new()));
                e.1.push(value);
            }
        }
    }
    for v in r.sets.values_mut() {
        v.1.sort();
        v.1.dedup();
    }
    r.apex_ns.sort();
    r
}

fn from_zoneshift(imp: &Imported) -> Reading {
    Reading {
        sets: imp
            .sets
            .values()
            .map(|s| {
                (
                    (s.key.name.clone(), s.key.rtype.to_string()),
                    (s.ttl.unwrap(), s.values.clone()),
                )
            })
            .collect(),
        not_carried: imp
            .skipped
            .iter()
            .filter(|s| {
                !s.reason.starts_with("outside the zone") && !s.reason.starts_with("copied, but")
            })
            .map(|s| (s.name.clone(), s.rtype.clone()))
            .collect(),
        apex_ns: imp.apex_ns.clone(),
        serial: imp.serial,
    }
}

/// Both readings of one file agree; the description says which file on failure.
fn agree(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let ours = zonefile::read(&text, ORIGIN);
    match (bind_reads(path), ours) {
        (Ok(lines), Ok(imp)) => {
            let (bind, zs) = (from_bind(&lines), from_zoneshift(&imp));
            assert_eq!(
                zs,
                bind,
                "{}: zoneshift (left) and BIND (right) differ\n{text}",
                path.display()
            );
        }
        (Err(line), Err(e)) => {
            assert_eq!(
                e.line,
                line,
                "{}: BIND refuses line {line}, zoneshift says {e}\n{text}",
                path.display()
            );
        }
        (Ok(_), Err(e)) => panic!(
            "{}: BIND loads it, zoneshift refuses: {e}\n{text}",
            path.display()
        ),
        (Err(line), Ok(_)) => panic!(
            "{}: BIND refuses line {line}, zoneshift loads it\n{text}",
            path.display()
        ),
    }
}

#[test]
fn every_corpus_file_reads_as_bind_reads_it() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zone"))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus is in tests/zonefiles/");
    for f in files {
        agree(&f);
    }
}

#[test]
fn every_invalid_file_is_refused_at_the_line_bind_names() {
    let dir = corpus().join("invalid");
    for f in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
        let text = std::fs::read_to_string(&f).unwrap();
        let expected: usize = text
            .split("(refused at line ")
            .nth(1)
            .and_then(|s| s.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(bind_reads(&f).unwrap_err(), expected, "{}", f.display());
        let e = zonefile::read(&text, ORIGIN).unwrap_err();
        assert_eq!(e.line, expected, "{}: {e}", f.display());
    }
}

#[test]
fn found_in_the_corpus_and_fixed() {
    let read = |name: &str| {
        zonefile::read(
            &std::fs::read_to_string(corpus().join(name)).unwrap(),
            ORIGIN,
        )
        .unwrap()
    };
    let value = |imp: &Imported, name: &str, t: RecordType| {
        imp.sets[&zoneshift::zone::RecordKey::new(name, t, None)]
            .values
            .clone()
    };
    let imp = read("naptr-backslash.zone");
    assert!(value(&imp, "n1.example.com.", RecordType::Naptr)[0].contains(r"!sip:\\1@"));
    let imp = read("txt-escapes.zone");
    assert_eq!(
        value(&imp, "t1.example.com.", RecordType::Txt),
        vec!["\"ABC\""]
    );
    let imp = read("not-carried-types.zone");
    let skipped: Vec<String> = imp
        .skipped
        .iter()
        .map(|s| format!("{} {}", s.name, s.rtype))
        .collect();
    for t in [
        "wks.example.com. WKS",
        "nul.example.com. NULL",
        "nsap.example.com. NSAP-PTR",
        "cert.example.com. CERT",
    ] {
        assert!(
            skipped.contains(&t.to_string()),
            "{t} not listed: {skipped:?}"
        );
    }
    assert!(imp.sets.contains_key(&zoneshift::zone::RecordKey::new(
        "after.example.com.",
        RecordType::A,
        None
    )));
    let imp = read("svcb-https.zone");
    assert_eq!(
        value(&imp, "example.com.", RecordType::Https),
        vec!["1 . alpn=h2,h3 port=443"]
    );
    let imp = read("owner-names-rfc2181.zone");
    assert!(imp.sets.contains_key(&zoneshift::zone::RecordKey::new(
        "a_b.example.com.",
        RecordType::A,
        None
    )));
    assert!(imp.sets.contains_key(&zoneshift::zone::RecordKey::new(
        "\\320x.example.com.",
        RecordType::A,
        None
    )));
}

/// A small deterministic generator (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// A random character string as a zone file may write it (quoted, escapes of every kind).
fn gen_string(r: &mut Rng) -> String {
    let mut s = String::from("\"");
    for _ in 0..r.below(12) {
        match r.below(10) {
            0 => s.push_str(&format!("\\{:03}", r.below(256))),
            1 => s.push_str(r.pick(&["\\\"", "\\\\", ";", " ", "(", ")", "\\;"])),
            _ => s.push((b'a' + r.below(26) as u8) as char),
        }
    }
    s.push('"');
    s
}

/// One random record line's type and data (owner and TTL are added by the caller).
fn gen_data(r: &mut Rng) -> String {
    match r.below(12) {
        0 => format!("A 192.0.2.{}", r.below(256)),
        1 => format!("AAAA 2001:db8::{:x}", r.below(65536)),
        2 => format!(
            "MX {} {}",
            r.below(100),
            r.pick(&["@", "mail", "mx.example.net.", "Mail.Sub"])
        ),
        3 => {
            let n = 1 + r.below(3);
            let strings: Vec<String> = (0..n).map(|_| gen_string(r)).collect();
            format!("TXT ( {} )", strings.join("\n\t"))
        }
        4 => format!(
            "SRV {} {} {} {}",
            r.below(10),
            r.below(10),
            r.below(65536),
            r.pick(&["@", "sip", "sip.example.net."])
        ),
        5 => format!(
            "CAA 0 {} \"{}\"",
            r.pick(&["issue", "issuewild", "iodef"]),
            r.pick(&["letsencrypt.org", "mailto:a@example.com", ";"])
        ),
        6 => format!("A \\# 4 c00002{:02x}", r.below(256)),
        7 => r
            .pick(&[
                "HINFO \"PC\" \"Linux\"",
                "LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m",
                "TYPE65000 \\# 2 abcd",
            ])
            .to_string(),
        8 => format!(
            "SSHFP 1 1 {:040x}",
            u128::from(r.next()) << 64 | u128::from(r.next())
        ),
        // BIND checks that a back-reference names a group of the expression: \\1 only.
        9 => format!(
            "NAPTR {} 0 \"u\" \"E2U+sip\" \"!^(.*)$!\\\\1{}!\" .",
            r.below(100),
            r.below(10)
        ),
        10 => format!("TXT {}", r.pick(&["bare", "\\065bc", "a\\;b", "\"\""])),
        _ => format!("PTR {}", r.pick(&["@", "host", "host.example.net."])),
    }
}

/// A random zone file: directives, owners written every way, TTL and class in any order.
fn gen_zone(r: &mut Rng) -> String {
    let mut z = String::from("$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster ( 1 7200 900\n 1209600 300 ) ; soa\n  IN NS ns1\nns1 A 192.0.2.53\n");
    let owners = [
        "www",
        "a_b",
        "\\208x",
        "*.w",
        "Mixed.Case",
        "deep.er.name",
        "x\\.y",
        "@",
    ];
    let mut used = BTreeSet::new();
    for i in 0..(5 + r.below(20)) {
        if r.below(10) == 0 {
            z.push_str(r.pick(&[
                "$ORIGIN sub.example.com.\n",
                "$ORIGIN example.com.\n",
                "$TTL 1h\n",
                "$TTL 300\n",
            ]));
        }
        let owner = if i > 0 && r.below(4) == 0 {
            " ".to_string()
        } else {
            let o = r.pick(&owners);
            if o == "@" {
                o.to_string()
            } else {
                format!("{o}{}", r.below(4))
            }
        };
        used.insert(owner.clone());
        let ttl = r.pick(&["", "300 ", "1h ", "2d ", ""]);
        let class = r.pick(&["", "IN ", "in "]);
        let (a, b) = if r.below(2) == 0 {
            (ttl, class)
        } else {
            (class, ttl)
        };
        let comment = if r.below(5) == 0 { " ; note" } else { "" };
        z.push_str(&format!("{owner} {a}{b}{}{comment}\n", gen_data(r)));
    }
    z
}

#[test]
fn generated_zone_files_read_as_bind_reads_them() {
    let cases: u64 = std::env::var("ZS_ZONEFILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("ZS_ZONEFILE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261204);
    let dir = std::env::temp_dir().join(format!("zoneshift-zonefiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(seed | 1);
    for case in 0..cases {
        let text = gen_zone(&mut rng);
        let path = dir.join(format!("case-{seed}-{case}.zone"));
        std::fs::write(&path, &text).unwrap();
        agree(&path);
        std::fs::remove_file(&path).unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn export(name: &str) -> (PathBuf, String) {
    let path = corpus().join("exports").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn exports_of_google_azure_and_godaddy_read_as_bind_reads_them() {
    use zoneshift::dns::zonefile::Flavour;
    for (file, flavour) in [
        ("google.txt", Flavour::GoogleCloudDns),
        ("azure.txt", Flavour::AzureDns),
        ("godaddy.txt", Flavour::GoDaddy),
    ] {
        let (path, text) = export(file);
        assert_eq!(Flavour::detect(&text), flavour, "{file}");
        agree(&path);
    }
}

#[test]
fn a_cloudflare_export_reports_proxied_records_as_the_cloudflare_source_does() {
    use zoneshift::zone::{proxied_by_cloudflare, RecordKey};
    let (_, text) = export("cloudflare.txt");
    let imp = zonefile::read(&text, ORIGIN).unwrap();
    assert_eq!(imp.serial, Some(2049338311));
    assert_eq!(
        imp.apex_ns,
        vec!["ada.ns.cloudflare.com.", "bob.ns.cloudflare.com."]
    );
    let set = |n: &str, t| imp.sets[&RecordKey::new(n, t, None)].clone();
    assert_eq!(
        set("example.com.", RecordType::A).ttl,
        Some(300),
        "TTL 1 is Cloudflare's automatic, 300 s"
    );
    assert_eq!(set("api.example.com.", RecordType::A).ttl, Some(300));
    assert_eq!(
        set("www.example.com.", RecordType::Cname).values,
        vec!["example.com."]
    );
    assert_eq!(
        set("selector1._domainkey.example.com.", RecordType::Txt).values[0]
            .matches("\" \"")
            .count(),
        1
    );
    assert_eq!(
        imp.sets.len(),
        9,
        "{:?}",
        imp.sets.keys().collect::<Vec<_>>()
    );
    let acks: Vec<(String, String, String)> = imp
        .needs_acknowledgement
        .iter()
        .map(|s| (s.name.clone(), s.rtype.clone(), s.reason.clone()))
        .collect();
    assert_eq!(
        acks,
        vec![
            (
                "example.com.".into(),
                "A".into(),
                proxied_by_cloudflare("192.0.2.10")
            ),
            (
                "www.example.com.".into(),
                "CNAME".into(),
                proxied_by_cloudflare("example.com.")
            ),
        ]
    );
    let skipped: Vec<String> = imp.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(
        skipped,
        vec!["legacy.example.com. A: copied, but its Cloudflare tags (team-web) are not carried: Route 53 records have no tags"]
    );
}

#[test]
fn a_cli53_export_lists_aliases_and_routing_policies_as_not_carried() {
    use zoneshift::zone::RecordKey;
    let (_, text) = export("cli53.txt");
    let imp = zonefile::read(&text, ORIGIN).unwrap();
    let skipped: Vec<String> = imp
        .skipped
        .iter()
        .map(|s| format!("{} {}", s.name, s.rtype))
        .collect();
    assert_eq!(
        skipped,
        vec![
            "api.example.com. A",
            "api.example.com. A",
            "lb.example.com. A"
        ],
        "each weighted record is listed with its identifier"
    );
    assert!(
        imp.skipped[2]
            .reason
            .contains("alias to dualstack.my-lb-123"),
        "{:?}",
        imp.skipped
    );
    assert!(
        imp.skipped[0].reason.contains("routing policy"),
        "{:?}",
        imp.skipped
    );
    assert!(
        !imp.sets
            .contains_key(&RecordKey::new("api.example.com.", RecordType::A, None)),
        "two weighted sets never merge into one"
    );
    assert_eq!(
        imp.sets[&RecordKey::new("txt.example.com.", RecordType::Txt, None)].values,
        vec![r#""a \"quoted\" word" "semi;colon""#]
    );
    assert_eq!(imp.sets.len(), 3);
}

#[test]
fn an_octodns_zone_reads_as_bind_reads_the_same_zone_written_as_a_zone_file() {
    let dir = corpus().join("octodns");
    let yaml = std::fs::read_to_string(dir.join("example.com.yaml")).unwrap();
    let read = zoneshift::source::zonefile::read(&yaml, ORIGIN, "example.com.yaml").unwrap();
    assert!(read.from.starts_with("octoDNS zone YAML"), "{}", read.from);
    let imp = read.imported;
    let mut ours = from_zoneshift(&imp);
    // The YAML has no SOA; BIND's zone file needs one.
    ours.serial = Some(1);
    let bind = from_bind(&bind_reads(&dir.join("example.com.zone")).unwrap());
    assert_eq!(ours, bind);
    assert_eq!(imp.needs_acknowledgement.len(), 1);
    assert_eq!(imp.needs_acknowledgement[0].name, "www.example.com.");
    assert!(imp
        .skipped
        .iter()
        .any(|s| s.name == "www.example.com." && s.reason.contains("octoDNS `octodns` settings")));
    let bad = yaml.replace("preference: 20", "preference: twenty");
    let e = zoneshift::source::zonefile::read(&bad, ORIGIN, "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("example.com. MX") && e.contains("twenty"), "{e}");
}
