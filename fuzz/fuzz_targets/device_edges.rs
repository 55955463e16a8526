//! What a device or a task message hands the worker beside JSON: TLS
//! certificates and signatures checked for weak keys, `Retry-After`
//! headers, discovery slices.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| outpost_worker::fuzz_api::device_edges(data));
