//! The `--More--` pager of each platform: marker text, how the device erases
//! it after a key, and the page length.

use super::spec::Platform;

/// Lines per page until the session changes or disables paging.
pub const PAGE_LINES: usize = 24;

/// The paging prompt printed after each page (no line end).
pub fn marker(platform: Platform) -> &'static str {
    match platform {
        Platform::Ios | Platform::Eos => " --More-- ",
        Platform::Junos => "---(more)---",
    }
}

/// What the device writes to erase the marker once a key arrives: IOS backs
/// over it with backspaces and blanks; EOS and Junos return the carriage and
/// clear the line with the ANSI `ESC [ K` sequence.
pub fn erase(platform: Platform) -> Vec<u8> {
    match platform {
        Platform::Ios => {
            let n = marker(platform).len();
            let mut v = vec![0x08u8; n];
            v.extend(std::iter::repeat_n(b' ', n));
            v.extend(std::iter::repeat_n(0x08u8, n));
            v
        }
        Platform::Eos | Platform::Junos => b"\r\x1b[K".to_vec(),
    }
}

/// The key the pager is waiting for, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagerKey {
    /// Space: the next page.
    Page,
    /// Enter: the next line.
    Line,
    /// `q`, `Q` or Ctrl-C: abandon the output, back to the prompt.
    Quit,
    /// Anything else is ignored (the pager keeps waiting).
    Other,
}

/// Decodes one input byte at the pager.
pub fn key(b: u8) -> PagerKey {
    match b {
        b' ' => PagerKey::Page,
        b'\r' | b'\n' => PagerKey::Line,
        b'q' | b'Q' | 0x03 => PagerKey::Quit,
        _ => PagerKey::Other,
    }
}
