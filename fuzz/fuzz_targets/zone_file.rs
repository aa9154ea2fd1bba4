//! A zone file's text (zoneshift::fuzzing::zone_file).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoneshift::fuzzing::zone_file(data));
