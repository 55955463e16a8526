//! What a browser sends the console's sign-in: a `Cookie` header's text
//! (the session cookie found in it and checked) and `Host`/`Origin`
//! authorities. Nothing may panic, a forged cookie is never valid, and a
//! cookie just issued always is.
#![no_main]
use outpost_coordinator::api::console::session::{cookie_value, issue, valid};
use outpost_coordinator::api::guard::Authority;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(v) = cookie_value(text) {
        // Without the token's MAC a value is not valid (the fuzzer
        // cannot forge an HMAC-SHA256).
        assert!(!valid("fuzz-token", v, 0), "forged cookie accepted: {v:?}");
    }
    let _ = valid("fuzz-token", text, 1_000);
    let _ = Authority::parse(text);
    let fresh = issue(text, 1_000);
    assert!(valid(text, &fresh, 1_000));
});
