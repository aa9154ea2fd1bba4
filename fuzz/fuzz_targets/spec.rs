//! A HostedZoneMigration spec as JSON (zoneshift::fuzzing::spec).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoneshift::fuzzing::spec(data));
