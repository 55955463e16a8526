//! Answers of an iDRAC's Redfish service: service root, Dell jobs,
//! firmware inventory members, any JSON body (first byte picks which).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| outpost_worker::fuzz_api::redfish(data));
