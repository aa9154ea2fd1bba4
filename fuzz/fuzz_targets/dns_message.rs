//! Bytes as a DNS message: an answer, a transfer response, a referral (zoneshift::fuzzing::dns_message).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zoneshift::fuzzing::dns_message(data));
