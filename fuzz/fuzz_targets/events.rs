//! Worker events as the coordinator reads them off NATS: a subject (up to
//! the first newline) and a protobuf payload, checked for provenance.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (subject, payload) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let subject = String::from_utf8_lossy(subject);
    let _ = outpost_coordinator::engine::provenance::from_subject(&subject, payload);
});
