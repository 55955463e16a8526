//! A tiny terminal: turns what a device writes to its PTY into the text a
//! person would see. Carriage returns, backspaces and "erase line" move or
//! cut the current line (how `--More--` markers are wiped), every other
//! ANSI/VT100 escape sequence is dropped, and the state survives chunk
//! boundaries so a sequence split across two reads is still understood.

/// The rightmost column a cursor move can reach (the PTY is 511 wide).
pub const MAX_COLUMN: usize = 4096;

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
}

impl Default for Screen {
    fn default() -> Self {
        Self::new()
    }
}

impl Screen {
    pub fn new() -> Self {
        Self {
            done: Vec::new(),
            line: Vec::new(),
            cursor: 0,
            esc: Esc::None,
            csi: Vec::new(),
        }
    }

    /// Renders `bytes` onto the screen.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
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
            self.line.push(b);
        }
        self.cursor += 1;
    }

    fn newline(&mut self) {
        let end = self
            .line
            .iter()
            .rposition(|c| *c != b' ')
            .map_or(0, |i| i + 1);
        self.done.extend_from_slice(&self.line[..end]);
        self.done.push(b'\n');
        self.line.clear();
        self.cursor = 0;
    }

    fn csi_final(&mut self, f: u8) {
        let n = std::str::from_utf8(&self.csi)
            .ok()
            .and_then(|s| s.trim_start_matches('?').parse::<usize>().ok());
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
            b'C' => self.cursor = self.cursor.saturating_add(n.unwrap_or(1).max(1)),
            // Cursor to column (1-based).
            b'G' => self.cursor = n.unwrap_or(1).max(1) - 1,
            _ => {}
        }
        // A device cannot move the cursor past the widest line a terminal
        // shows: the line is padded to the cursor, so this bounds memory.
        self.cursor = self.cursor.min(MAX_COLUMN);
        if self.cursor > self.line.len() {
            self.line.resize(self.cursor, b' ');
        }
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

    /// Takes the completed lines and resets the screen for the next command.
    pub fn take(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.done).into_owned();
        self.done.clear();
        self.line.clear();
        self.cursor = 0;
        text
    }

    /// The last `n` characters seen, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let mut all = String::from_utf8_lossy(&self.done).into_owned();
        all.push_str(&String::from_utf8_lossy(&self.line));
        let start = all.len().saturating_sub(n);
        let start = (start..all.len())
            .find(|i| all.is_char_boundary(*i))
            .unwrap_or(all.len());
        all[start..].to_string()
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
    fn tail_respects_char_boundaries() {
        let mut s = Screen::new();
        s.feed("héllo wörld".as_bytes());
        let t = s.tail(4);
        assert!("héllo wörld".ends_with(&t));
    }
}
