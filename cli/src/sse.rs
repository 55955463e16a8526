//! An incremental Server-Sent Events parser: bytes in, whole events out,
//! whatever the chunk boundaries (a line, a field, even a UTF-8 character
//! may be split between chunks).

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Parser state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: Vec<String>,
    has_data: bool,
    /// A `\r` ended the last line; a `\n` right after it belongs to it.
    after_cr: bool,
}

/// Most bytes one line may hold; longer lines are cut off.
const MAX_LINE: usize = 16 * 1024 * 1024;

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.buf);
                    if let Some(ev) = self.line(&String::from_utf8_lossy(&line)) {
                        out.push(ev);
                    }
                }
                _ if self.buf.len() < MAX_LINE => self.buf.push(b),
                _ => {}
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = self.event.take();
            let data = std::mem::take(&mut self.data);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(SseEvent {
                event: event
                    .filter(|e| !e.is_empty())
                    .unwrap_or_else(|| "message".into()),
                data: data.join("\n"),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => {
                self.data.push(value.to_string());
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn whole_events() {
        let mut p = SseParser::new();
        let got = p.feed(b"event: job\ndata: {\"a\":1}\n\nevent: end\ndata: x\n\n");
        assert_eq!(got, vec![ev("job", "{\"a\":1}"), ev("end", "x")]);
    }

    #[test]
    fn any_chunk_boundary_gives_the_same_events() {
        let text = "event: task\r\ndata: {\"é\":1}\r\n\r\n: keep-alive\n\nevent: end\ndata: a\ndata: b\n\n";
        let mut whole = SseParser::new();
        let expected = whole.feed(text.as_bytes());
        assert_eq!(expected, vec![ev("task", "{\"é\":1}"), ev("end", "a\nb")]);
        for cut in 0..text.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&text.as_bytes()[..cut]);
            got.extend(p.feed(&text.as_bytes()[cut..]));
            assert_eq!(got, expected, "cut at {cut}");
        }
    }

    #[test]
    fn comments_and_empty_events_are_skipped() {
        let mut p = SseParser::new();
        assert!(p.feed(b":ping\n\n\n\nevent: job\n\n").is_empty());
        assert_eq!(p.feed(b"data\n\n"), vec![ev("message", "")]);
    }
}
