//! Inputs the fuzz targets (`fuzz/`) found crashing a parser of device
//! output, kept as tests so the crash cannot come back.

use outpost_worker::ops::ssh::screen::{MAX_COLUMNS, Screen};

/// `ESC[9999999999999C` made the screen pad the line to the cursor: an
/// allocation of ~10 TB that aborted the worker (issue 12, point 2).
#[test]
fn a_huge_cursor_move_is_bounded() {
    for seq in [
        &b"sw1#\x1b[9999999999999C"[..],
        b"\x1b[18446744073709551615Cx",
        b"\x1b[5C\x1b[18446744073709551615C\x1b[3Dx",
        b"\x1b[99999999999G!",
    ] {
        let mut s = Screen::new();
        s.feed(seq);
        s.feed(b"#");
        assert!(s.current_line().len() <= MAX_COLUMNS + 1, "{seq:?}");
    }
    // Ordinary moves still work.
    let mut s = Screen::new();
    s.feed(b"ab\x1b[3Cc\r\n");
    assert_eq!(s.take(), "ab   c\n");
}
