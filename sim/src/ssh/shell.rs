//! The interactive shell of one session channel: banner, prompt, echo and
//! line editing, the enable dialogue, command latency, the pager and the
//! injected faults. It reads the client's keystrokes from a queue fed by the
//! channel and writes through the channel's flow-controlled writer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use russh::ChannelWriteHalf;
use russh::server::Msg;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::commands::{self, Action};
use super::device::Device;
use super::killer::Killer;
use super::pager::{self, PagerKey};
use super::spec::{Fault, Platform};
use super::stats::Counters;

/// Longest command line kept; further characters are refused with a bell.
pub const MAX_LINE: usize = 4096;

/// Pause between the last half-config bytes and the abrupt TCP shutdown of
/// `disconnect_mid_output`, so those bytes leave the socket first.
const DISCONNECT_GRACE: Duration = Duration::from_millis(200);
/// The cursor move of `huge_cursor_move`: column 9 999 999 999 999.
const HUGE_CURSOR_MOVE: &[u8] = b"\x1b[9999999999999C";
/// Cursor moves (each followed by a character) after the first: rendered
/// naively they make gigabytes of blanks.
const HUGE_CURSOR_MOVES: usize = 20_000;
/// The line of `long_line`, without a newline.
const LONG_LINE_BYTES: usize = 50 * 1024 * 1024;
/// One line of `endless_output` and the pause after it (about 1 MB/s).
const ENDLESS_LINE: &[u8] =
    b"interface Ethernet1 description still-talking-to-you-0123456789abcdef\r\n";
const ENDLESS_PAUSE: Duration = Duration::from_millis(1);
/// Lines of `endless_output` written between two pauses.
const ENDLESS_BURST: usize = 14;

/// Why the shell stopped.
#[derive(Debug)]
pub(crate) enum End {
    /// The client went away (channel closed, write failed).
    Gone,
    /// The user typed `exit`.
    Exit,
    /// The device dropped the connection (fault).
    Killed,
}

/// Keystrokes from the client, with `\r\n` folded into `\r`.
pub(crate) struct Keys {
    rx: mpsc::Receiver<Vec<u8>>,
    pending: VecDeque<u8>,
    last_cr: bool,
}

impl Keys {
    pub fn new(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        Keys {
            rx,
            pending: VecDeque::new(),
            last_cr: false,
        }
    }

    fn fold(&mut self, b: u8) -> Option<u8> {
        let skip = b == b'\n' && self.last_cr;
        self.last_cr = b == b'\r';
        if skip { None } else { Some(b) }
    }

    /// The next byte already received, if any.
    fn ready(&mut self) -> Option<u8> {
        loop {
            if self.pending.is_empty() {
                let chunk = self.rx.try_recv().ok()?;
                self.pending.extend(chunk);
            }
            let b = self.pending.pop_front()?;
            if let Some(b) = self.fold(b) {
                return Some(b);
            }
        }
    }

    /// Waits for the next byte; `None` once the channel is gone.
    async fn next(&mut self) -> Option<u8> {
        loop {
            if let Some(b) = self.ready() {
                return Some(b);
            }
            let chunk = self.rx.recv().await?;
            self.pending.extend(chunk);
        }
    }

    /// Discards everything until the channel is gone (a stuck device).
    async fn drain(&mut self) {
        self.pending.clear();
        while self.rx.recv().await.is_some() {}
    }
}

/// One running shell.
pub(crate) struct Shell<W> {
    dev: Arc<Device>,
    out: W,
    keys: Keys,
    killer: Killer,
    privileged: bool,
    page: Option<usize>,
}

/// Converts `\n` line ends to `\r\n` into `buf`.
fn crlf(text: &[u8], buf: &mut Vec<u8>) {
    for &b in text {
        if b == b'\n' {
            buf.push(b'\r');
        }
        buf.push(b);
    }
}

impl<W: AsyncWrite + Unpin + Send> Shell<W> {
    pub fn new(dev: Arc<Device>, out: W, keys: Keys, killer: Killer) -> Self {
        let page = dev.spec.paging.then_some(pager::PAGE_LINES);
        Shell {
            dev,
            out,
            keys,
            killer,
            privileged: false,
            page,
        }
    }

    fn prompt(&self) -> String {
        let s = &self.dev.spec;
        match s.platform {
            Platform::Ios | Platform::Eos => {
                format!("{}{}", s.name, if self.privileged { '#' } else { '>' })
            }
            Platform::Junos => format!("{}@{}> ", s.username, s.name),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), End> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.out.write_all(bytes).await.map_err(|_| End::Gone)
    }

    /// Writes text with `\n` line ends as `\r\n`, in bounded chunks.
    async fn write_text(&mut self, text: &[u8]) -> Result<(), End> {
        let mut buf = Vec::with_capacity(text.len().min(64 * 1024) + 1024);
        for chunk in text.chunks(32 * 1024) {
            buf.clear();
            crlf(chunk, &mut buf);
            self.write(&buf).await?;
        }
        Ok(())
    }

    /// Runs the shell until the client leaves, types `exit`, or a fault ends it.
    pub async fn run(mut self) -> End {
        match self.run_inner().await {
            Ok(()) => End::Exit,
            Err(e) => e,
        }
    }

    async fn run_inner(&mut self) -> Result<(), End> {
        let banner = super::content::banner(&self.dev.spec);
        self.write_text(banner.as_bytes()).await?;
        if self.dev.spec.fault == Fault::NoPrompt {
            self.keys.drain().await;
            return Err(End::Gone);
        }
        loop {
            let prompt = self.prompt();
            self.write(prompt.as_bytes()).await?;
            let line = self.read_line(true).await?;
            if line.trim().is_empty() {
                continue;
            }
            Counters::bump(&self.dev.counters.commands);
            let parsed = commands::parse(&self.dev.spec, self.privileged, &prompt, &line);
            if parsed.action != commands::Action::Nothing && self.dev.spec.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(self.dev.spec.latency_ms)).await;
            }
            let no_more = parsed.no_more;
            let filter = parsed.filter;
            let filtered = |text: &str| match &filter {
                Some(f) => f.apply(text),
                None => text.to_string(),
            };
            match parsed.action {
                Action::Nothing => {}
                Action::Output(text) => {
                    let text = filtered(&text);
                    self.page_out(text.as_bytes(), no_more).await?;
                }
                Action::Error(text) => self.write_text(text.as_bytes()).await?,
                Action::SetPaging(page, text) => {
                    self.page = page;
                    self.write_text(text.as_bytes()).await?;
                }
                Action::Config => {
                    let config = self.dev.configuration();
                    let text: std::borrow::Cow<'_, str> = match &filter {
                        Some(f) => f.apply(&config).into(),
                        None => config.as_str().into(),
                    };
                    self.config_out(text.as_bytes(), no_more).await?;
                }
                Action::Enable => self.enable().await?,
                Action::Disable => self.privileged = false,
                Action::Exit => return Ok(()),
            }
        }
    }

    /// The configuration, where the output faults strike.
    async fn config_out(&mut self, text: &[u8], no_more: bool) -> Result<(), End> {
        match self.dev.spec.fault {
            Fault::HangMidOutput => {
                self.page_out(&text[..text.len() / 2], no_more).await?;
                self.keys.drain().await;
                Err(End::Gone)
            }
            Fault::DisconnectMidOutput => {
                self.page_out(&text[..text.len() / 2], no_more).await?;
                let _ = self.out.flush().await;
                tokio::time::sleep(DISCONNECT_GRACE).await;
                self.killer.kill();
                Err(End::Killed)
            }
            Fault::HugeCursorMove => {
                let half = text.len() / 2;
                self.page_out(&text[..half], true).await?;
                let mut buf = HUGE_CURSOR_MOVE.to_vec();
                buf.extend_from_slice(b"!\r\n");
                self.write(&buf).await?;
                let one = buf.clone();
                for chunk in (0..HUGE_CURSOR_MOVES).collect::<Vec<_>>().chunks(1000) {
                    buf.clear();
                    for _ in chunk {
                        buf.extend_from_slice(&one);
                    }
                    self.write(&buf).await?;
                }
                self.page_out(&text[half..], true).await
            }
            Fault::LongLine => {
                let chunk = vec![b'x'; 32 * 1024];
                for _ in 0..LONG_LINE_BYTES / chunk.len() {
                    self.write(&chunk).await?;
                }
                self.page_out(text, true).await
            }
            Fault::EndlessOutput => loop {
                self.write(&ENDLESS_LINE.repeat(ENDLESS_BURST)).await?;
                tokio::time::sleep(ENDLESS_PAUSE).await;
            },
            _ => self.page_out(text, no_more).await,
        }
    }

    /// `enable`: IOS always wants the secret (and refuses without one
    /// configured); EOS wants it only when one is configured.
    async fn enable(&mut self) -> Result<(), End> {
        if self.privileged {
            return Ok(());
        }
        let secret = self.dev.spec.enable_secret.clone();
        match (self.dev.spec.platform, secret) {
            (Platform::Ios, None) => self.write(b"% No password set\r\n").await,
            (Platform::Eos | Platform::Junos, None) => {
                self.privileged = true;
                Ok(())
            }
            (_, Some(secret)) => {
                self.write(b"Password: ").await?;
                let typed = self.read_line(false).await?;
                if typed == secret {
                    self.privileged = true;
                    Ok(())
                } else {
                    self.write(b"% Access denied\r\n\r\n").await
                }
            }
        }
    }

    /// Reads one line, echoing it when `echo`; handles backspace, Ctrl-U,
    /// Ctrl-C and the line length cap.
    async fn read_line(&mut self, echo: bool) -> Result<String, End> {
        let platform = self.dev.spec.platform;
        let mut line: Vec<u8> = Vec::new();
        let mut out: Vec<u8> = Vec::new();
        let mut rang = false;
        loop {
            let b = match self.keys.ready() {
                Some(b) => b,
                None => {
                    let pending = std::mem::take(&mut out);
                    self.write(&pending).await?;
                    self.keys.next().await.ok_or(End::Gone)?
                }
            };
            match b {
                b'\r' | b'\n' => {
                    if echo && platform != Platform::Ios {
                        out.extend_from_slice(b"\x1b[K");
                    }
                    out.extend_from_slice(b"\r\n");
                    self.write(&out).await?;
                    return Ok(String::from_utf8_lossy(&line).into_owned());
                }
                0x7f | 0x08 => {
                    // Remove one whole UTF-8 character.
                    while let Some(c) = line.pop() {
                        if c & 0xc0 != 0x80 {
                            break;
                        }
                    }
                    if echo {
                        out.extend_from_slice(b"\x08 \x08");
                    }
                }
                0x15 => {
                    if echo {
                        for _ in 0..String::from_utf8_lossy(&line).chars().count() {
                            out.extend_from_slice(b"\x08 \x08");
                        }
                    }
                    line.clear();
                }
                0x03 => {
                    out.extend_from_slice(b"^C\r\n");
                    self.write(&out).await?;
                    return Ok(String::new());
                }
                0x20..=0x7e | 0x80..=0xff => {
                    if line.len() >= MAX_LINE {
                        // One bell per line, the rest is dropped silently.
                        if !rang {
                            out.push(0x07);
                            rang = true;
                        }
                    } else {
                        line.push(b);
                        if echo {
                            out.push(b);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes output through the pager when paging is on and the output is
    /// longer than a page.
    async fn page_out(&mut self, text: &[u8], no_more: bool) -> Result<(), End> {
        let page = match self.page {
            Some(p) if !no_more => p,
            _ => return self.write_text(text).await,
        };
        let platform = self.dev.spec.platform;
        let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
        if lines.len() <= page {
            return self.write_text(text).await;
        }
        let mut i = 0;
        let mut take = page;
        let mut buf = Vec::new();
        while i < lines.len() {
            let end = (i + take).min(lines.len());
            buf.clear();
            for l in &lines[i..end] {
                crlf(l, &mut buf);
            }
            i = end;
            if i < lines.len() {
                buf.extend_from_slice(pager::marker(platform).as_bytes());
            }
            self.write(&buf).await?;
            if i >= lines.len() {
                break;
            }
            let k = loop {
                let b = self.keys.next().await.ok_or(End::Gone)?;
                match pager::key(b) {
                    PagerKey::Other => continue,
                    k => break k,
                }
            };
            self.write(&pager::erase(platform)).await?;
            match k {
                PagerKey::Page => take = page,
                PagerKey::Line => take = 1,
                PagerKey::Quit | PagerKey::Other => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Closes the channel the way a device does after `exit`.
pub(crate) async fn close(write: &ChannelWriteHalf<Msg>) {
    let _ = write.eof().await;
    let _ = write.close().await;
}
