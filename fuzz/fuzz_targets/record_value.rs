//! One record value of a type picked by the first byte (zoneshift::fuzzing::record_value).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoneshift::fuzzing::record_value(data));
