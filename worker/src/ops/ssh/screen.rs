//! A tiny terminal: turns what a device writes to its PTY into the text a
//! person would see. Carriage returns, backspaces and "erase line" move or
//! cut the current line (how `--More--` markers are wiped), every other
//! ANSI/VT100 escape sequence is dropped, and the state survives chunk
//! boundaries so a sequence split across two reads is still understood.
//!
//! Everything a device sends is bounded here: cursor positions and CSI
//! parameters are clamped to [`MAX_COLUMNS`], a line without a newline may
//! grow to [`MAX_LINE`] bytes, and the rendered text (which cursor moves can
//! make larger than the bytes received) to the screen's budget. Past a
//! bound the screen stops rendering and reports an [`Overflow`]; it never
//! allocates what the device merely claims.

/// Widest line a cursor move or column jump may reach. Real terminals are
/// a few hundred columns wide; the PTY we ask for is 511.
pub const MAX_COLUMNS: usize = 4096;
/// Longest line without a newline that is kept (device output wraps long
/// before this; a longer one is a broken or hostile device).
pub const MAX_LINE: usize = 1024 * 1024;
/// Largest value of one numeric CSI parameter that is honoured.
const MAX_PARAM: usize = 65_535;

/// Why the screen stopped rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// A line grew past [`MAX_LINE`] bytes without a newline.
    Line,
    /// The rendered text grew past the screen's budget.
    Total,
}

/// Parser state for escape sequences that span reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// Seen ESC.
    Start,
    /// Inside `ESC [ ...` (CSI) until a final byte.
    Csi,
    /// Inside `ESC ] ...` (OSC) until BEL or ESC \.
    Osc,
    /// Seen ESC inside an OSC (maybe the `ESC \` terminator).
    OscEscape,
}

/// Rendered text: completed lines plus the line being written.
#[derive(Debug)]
pub struct Screen {
    done: Vec<u8>,
    line: Vec<u8>,
    cursor: usize,
    esc: Esc,
    csi: Vec<u8>,
    /// Rendered bytes still allowed (completed lines and the current one).
    budget: usize,
    /// Bytes already charged to the budget by completed lines.
    rendered: usize,
    overflow: Option<Overflow>,
}

impl Default for Screen {
    fn default() -> Self {
        Self::new()
    }
}

impl Screen {
    /// A screen whose rendered text may grow without a total bound (lines
    /// and columns are still capped).
    pub fn new() -> Self {
        Self::with_budget(usize::MAX)
    }

    /// A screen whose rendered text, over its whole life, may reach `budget` bytes.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            done: Vec::new(),
            line: Vec::new(),
            cursor: 0,
            esc: Esc::None,
            csi: Vec::new(),
            budget,
            rendered: 0,
            overflow: None,
        }
    }

    /// Set once a bound was hit; nothing is rendered afterwards.
    pub fn overflow(&self) -> Option<Overflow> {
        self.overflow
    }

    /// Renders `bytes` onto the screen.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.overflow.is_some() {
                return;
            }
            match self.esc {
                Esc::Start => {
                    self.esc = match b {
                        b'[' => {
                            self.csi.clear();
                            Esc::Csi
                        }
                        b']' => Esc::Osc,
                        _ => Esc::None,
                    };
                    continue;
                }
                Esc::Csi => {
                    if (0x40..=0x7e).contains(&b) {
                        self.esc = Esc::None;
                        self.csi_final(b);
                    } else if self.csi.len() < 32 {
                        self.csi.push(b);
                    }
                    continue;
                }
                Esc::Osc => {
                    self.esc = match b {
                        0x07 => Esc::None,
                        0x1b => Esc::OscEscape,
                        _ => Esc::Osc,
                    };
                    continue;
                }
                Esc::OscEscape => {
                    self.esc = if b == b'\\' { Esc::None } else { Esc::Osc };
                    continue;
                }
                Esc::None => {}
            }
            match b {
                0x1b => self.esc = Esc::Start,
                b'\r' => self.cursor = 0,
                b'\n' => self.newline(),
                0x08 => self.cursor = self.cursor.saturating_sub(1),
                b'\t' => self.put(b' '),
                0x00..=0x1f | 0x7f => {}
                _ => self.put(b),
            }
        }
    }

    fn put(&mut self, b: u8) {
        if self.cursor < self.line.len() {
            self.line[self.cursor] = b;
        } else {
            if !self.fits(self.cursor + 1) {
                return;
            }
            // The cursor may sit past the end after a cursor move.
            self.line.resize(self.cursor, b' ');
            self.line.push(b);
        }
        self.cursor += 1;
    }

    /// Whether the current line may grow to `len` bytes; records the
    /// overflow when it may not.
    fn fits(&mut self, len: usize) -> bool {
        if len > MAX_LINE {
            self.overflow = Some(Overflow::Line);
            return false;
        }
        if self.rendered.saturating_add(len).saturating_add(1) > self.budget {
            self.overflow = Some(Overflow::Total);
            return false;
        }
        true
    }

    fn newline(&mut self) {
        let end = self
            .line
            .iter()
            .rposition(|c| *c != b' ')
            .map_or(0, |i| i + 1);
        self.done.extend_from_slice(&self.line[..end]);
        self.done.push(b'\n');
        self.rendered = self.rendered.saturating_add(end + 1);
        self.line.clear();
        self.cursor = 0;
    }

    /// The first numeric parameter of the pending CSI sequence, clamped to
    /// [`MAX_PARAM`]; `None` when absent or not a number.
    fn csi_param(&self) -> Option<usize> {
        let text = self.csi.strip_prefix(b"?").unwrap_or(&self.csi);
        let first = text.split(|c| *c == b';').next().unwrap_or_default();
        if first.is_empty() || !first.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(first.iter().fold(0usize, |n, d| {
            (n * 10 + usize::from(d - b'0')).min(MAX_PARAM)
        }))
    }

    fn csi_final(&mut self, f: u8) {
        let n = self.csi_param();
        match f {
            // Erase in line: 0/none = to end, 1 = to start, 2 = whole line.
            b'K' => match n.unwrap_or(0) {
                0 => self.line.truncate(self.cursor),
                1 => {
                    let upto = self.cursor.min(self.line.len());
                    self.line[..upto].fill(b' ');
                }
                _ => self.line.clear(),
            },
            // Cursor back / forward.
            b'D' => self.cursor = self.cursor.saturating_sub(n.unwrap_or(1).max(1)),
            b'C' => {
                self.cursor = self
                    .cursor
                    .saturating_add(n.unwrap_or(1).max(1))
                    .min(MAX_COLUMNS)
            }
            // Cursor to column (1-based).
            b'G' => self.cursor = (n.unwrap_or(1).max(1) - 1).min(MAX_COLUMNS),
            _ => {}
        }
        // The line is padded only when something is written past its end.
    }

    /// The line being written (where prompts and `--More--` appear), trimmed.
    pub fn current_line(&self) -> String {
        String::from_utf8_lossy(&self.line).trim().to_string()
    }

    /// Wipes the current line (after answering a pager marker).
    pub fn clear_current_line(&mut self) {
        self.line.clear();
        self.cursor = 0;
    }

    /// The completed lines so far.
    pub fn completed(&self) -> &[u8] {
        &self.done
    }

    /// Takes the completed lines, keeping the line being written (the prompt).
    pub fn take_completed(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.done).into_owned();
        self.done.clear();
        text
    }

    /// The line being written, trimmed, when it is short enough to be a
    /// prompt or a pager marker (`max` bytes); cheap for long lines.
    pub fn short_line(&self, max: usize) -> Option<String> {
        // Leading blanks come from cursor moves, bounded by the columns.
        if self.line.len() > MAX_COLUMNS.saturating_add(max) {
            return None;
        }
        let start = self.line.iter().position(|c| *c != b' ')?;
        let end = self.line.iter().rposition(|c| *c != b' ')? + 1;
        if end - start > max {
            return None;
        }
        Some(
            String::from_utf8_lossy(&self.line[start..end])
                .trim()
                .to_string(),
        )
    }

    /// Takes the completed lines and resets the screen for the next command.
    pub fn take(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.done).into_owned();
        self.done.clear();
        self.line.clear();
        self.cursor = 0;
        text
    }

    /// The last `n` bytes seen (fewer at a character boundary), for error messages.
    pub fn tail(&self, n: usize) -> String {
        let line = &self.line[self.line.len().saturating_sub(n)..];
        let done = &self.done[self.done.len().saturating_sub(n - line.len())..];
        let mut all = done.to_vec();
        all.extend_from_slice(line);
        let all = String::from_utf8_lossy(&all);
        // Drop a character cut in half at the start.
        all.trim_start_matches(char::REPLACEMENT_CHARACTER)
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(chunks: &[&[u8]]) -> (String, String) {
        let mut s = Screen::new();
        for c in chunks {
            s.feed(c);
        }
        let line = s.current_line();
        (s.take(), line)
    }

    #[test]
    fn crlf_and_prompt() {
        let (text, line) = render(&[b"show ver\r\nCisco IOS\r\n", b"sw1#"]);
        assert_eq!(text, "show ver\nCisco IOS\n");
        assert_eq!(line, "sw1#");
    }

    #[test]
    fn escape_split_across_reads_is_dropped() {
        let (text, _) = render(&[
            b"a\x1b[",
            b"1;32mgreen\x1b[0m\r\n",
            b"\x1b]0;title\x07x\r\n",
        ]);
        assert_eq!(text, "agreen\nx\n");
    }

    #[test]
    fn more_marker_wiped_by_backspaces_and_erase() {
        let (text, _) = render(&[
            b"line1\r\n --More-- ",
            b"\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08line2\r\n",
            b"---(more)---\r\x1b[Kline3\r\n",
        ]);
        assert_eq!(text, "line1\nline2\nline3\n");
    }

    #[test]
    fn huge_cursor_moves_are_clamped() {
        let mut s = Screen::new();
        s.feed(b"a\x1b[9999999999999Cb\x1b[99999999999999999999999999G");
        s.feed(b"c\x1b[18446744073709551615Cd\r\n");
        assert!(s.overflow().is_none());
        let text = s.take();
        assert!(text.len() <= MAX_COLUMNS + 2, "{}", text.len());
        assert!(
            text.starts_with('a') && text.trim_end().ends_with('d'),
            "{text:?}"
        );
    }

    #[test]
    fn cursor_move_without_text_costs_nothing() {
        let mut s = Screen::with_budget(100);
        for _ in 0..1000 {
            s.feed(b"\x1b[4000C\r\n");
        }
        assert!(s.overflow().is_none());
        assert_eq!(s.take().len(), 1000);
    }

    #[test]
    fn csi_parameters_are_clamped() {
        let mut s = Screen::new();
        s.csi = b"?99999999999999999999;5".to_vec();
        assert_eq!(s.csi_param(), Some(MAX_PARAM));
        s.csi = b"12;40".to_vec();
        assert_eq!(s.csi_param(), Some(12));
        s.csi = b"x".to_vec();
        assert_eq!(s.csi_param(), None);
    }

    #[test]
    fn a_line_without_newline_is_capped() {
        let mut s = Screen::new();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..(MAX_LINE / chunk.len() + 2) {
            s.feed(&chunk);
        }
        assert_eq!(s.overflow(), Some(Overflow::Line));
        assert!(s.line.len() <= MAX_LINE);
        assert_eq!(s.short_line(128), None);
    }

    #[test]
    fn rendered_text_is_bounded_by_the_budget() {
        // Cursor moves amplify: 9 bytes in, 4001 bytes rendered.
        let mut s = Screen::with_budget(1 << 20);
        for _ in 0..1000 {
            s.feed(b"\x1b[4000Cx\n");
        }
        assert_eq!(s.overflow(), Some(Overflow::Total));
        assert!(s.completed().len() <= 1 << 20);
        // Nothing more is rendered after an overflow.
        s.feed(b"more\n");
        assert!(!String::from_utf8_lossy(s.completed()).contains("more"));
    }

    #[test]
    fn short_line_finds_prompts_only() {
        let mut s = Screen::new();
        s.feed(b"   sw1#  ");
        assert_eq!(s.short_line(128).as_deref(), Some("sw1#"));
        s.feed(&[b'y'; 300]);
        assert_eq!(s.short_line(128), None);
    }

    #[test]
    fn tail_respects_char_boundaries() {
        let mut s = Screen::new();
        s.feed("héllo wörld".as_bytes());
        let t = s.tail(4);
        assert!("héllo wörld".ends_with(&t));
    }
}
