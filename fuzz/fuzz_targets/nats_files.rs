//! What reaches a process from NATS-side files and objects: a creds file
//! (the first byte 0) as the connection reads it, or (otherwise) a
//! firmware image's description as a worker reads it from the object
//! store before fetching its chunks.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) => {
            let _ = outpost_nats::creds::parse(&String::from_utf8_lossy(rest));
        }
        Some((_, rest)) => outpost_worker::fuzz_api::firmware_description(rest),
        None => {}
    }
});
