//! vCenter SOAP answers: the XML reader and the walk over its result.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| outpost_worker::fuzz_api::soap(data));
