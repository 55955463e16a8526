//! The interactive PTY shell of a network device: waits for the prompt by
//! reading until one appears (never for a clock), learns the exact prompt,
//! answers pagers, enters enable mode, and runs commands one at a time,
//! each bounded by the job's timeout and all together by the output cap.
//! The timeout holds even while a device keeps streaming: the deadline is
//! checked before every read, not only when the channel falls silent.

use super::error::SshError;
use super::screen::{self, Overflow, Screen};
use russh::ChannelMsg;
use russh::client::Msg;
use std::time::Duration;
use tokio::time::Instant;

/// Pager markers, lowercased, as they appear on the line being written.
const PAGERS: &[&str] = &["--more--", "-- more --", "---(more", "<--- more --->"];
/// Characters a prompt ends with.
const PROMPT_ENDS: &[char] = &['>', '#', '$', '%', ']'];
/// Longest current line looked at for a prompt, a pager marker or a
/// password request; longer lines are output still being written.
const SCAN_LINE: usize = 256;

/// An open shell on one device.
pub struct Shell {
    ch: russh::Channel<Msg>,
    screen: Screen,
    addr: String,
    timeout: Duration,
    /// Bytes read in the whole session, against `max_output`.
    total: usize,
    max_output: usize,
    /// The prompt without its last character (`sw1` of `sw1#`).
    base: Option<String>,
    closed: bool,
}

/// Whether a line could be a prompt of any device.
pub fn looks_like_prompt(line: &str) -> bool {
    let line = line.trim_end();
    let Some(last) = line.chars().last() else {
        return false;
    };
    let body = &line[..line.len() - last.len_utf8()];
    PROMPT_ENDS.contains(&last)
        && !body.is_empty()
        && body.len() <= 96
        && !body.contains(char::is_whitespace)
}

impl Shell {
    /// Opens a session channel with a PTY and a shell.
    pub async fn open(
        handle: &russh::client::Handle<super::client::Checker>,
        addr: String,
        timeout: Duration,
        max_output: usize,
    ) -> Result<Self, SshError> {
        let deadline = Instant::now() + timeout;
        let open = async {
            let ch = handle.channel_open_session().await?;
            ch.request_pty(true, "vt100", 511, 0, 0, 0, &[]).await?;
            ch.request_shell(true).await?;
            Ok::<_, russh::Error>(ch)
        };
        let ch = match tokio::time::timeout_at(deadline, open).await {
            Ok(Ok(ch)) => ch,
            Ok(Err(e)) => {
                return Err(SshError::Protocol {
                    addr,
                    message: format!("cannot open a shell: {e}"),
                });
            }
            Err(_) => {
                return Err(SshError::Timeout {
                    addr,
                    what: "opening the shell",
                    secs: timeout.as_secs(),
                });
            }
        };
        Ok(Self {
            ch,
            screen: Screen::with_budget(max_output),
            addr,
            timeout,
            total: 0,
            max_output,
            base: None,
            closed: false,
        })
    }

    /// The prompt the device shows now, e.g. `sw1#`.
    pub fn prompt(&self) -> String {
        self.screen.current_line()
    }

    /// Whether the current prompt is a privileged (`#`) one.
    pub fn privileged(&self) -> bool {
        self.screen.current_line().ends_with('#')
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SshError> {
        self.ch
            .data(bytes)
            .await
            .map_err(|_| SshError::Disconnected {
                addr: self.addr.clone(),
                when: "while we were writing".into(),
            })
    }

    /// Reads one chunk; false when the channel closed.
    async fn read(&mut self, deadline: Instant) -> Result<Option<bool>, SshError> {
        if self.closed {
            return Ok(Some(false));
        }
        loop {
            // A device that never stops talking must not outlive its
            // deadline: a ready channel would win every `timeout_at`.
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let msg = match tokio::time::timeout_at(deadline, self.ch.wait()).await {
                Ok(m) => m,
                Err(_) => return Ok(None),
            };
            match msg {
                Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                    self.total += data.len();
                    if self.total > self.max_output {
                        return Err(SshError::OutputTooLarge {
                            addr: self.addr.clone(),
                            limit: self.max_output,
                        });
                    }
                    self.screen.feed(&data);
                    return match self.screen.overflow() {
                        None => Ok(Some(true)),
                        Some(Overflow::Line) => Err(SshError::LineTooLong {
                            addr: self.addr.clone(),
                            limit: screen::MAX_LINE,
                        }),
                        Some(Overflow::Total) => Err(SshError::OutputTooLarge {
                            addr: self.addr.clone(),
                            limit: self.max_output,
                        }),
                    };
                }
                Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => {
                    self.closed = true;
                    return Ok(Some(false));
                }
                Some(_) => continue,
            }
        }
    }

    /// Answers a pager marker on the current line, if there is one.
    async fn answer_pager(&mut self, line: &str) -> Result<bool, SshError> {
        let line = line.to_ascii_lowercase();
        if PAGERS.iter().any(|p| line.contains(p)) {
            self.screen.clear_current_line();
            self.send(b" ").await?;
            return Ok(true);
        }
        Ok(false)
    }

    fn is_own_prompt(&self, line: &str) -> bool {
        let Some(base) = &self.base else {
            return looks_like_prompt(line);
        };
        let Some(rest) = line.trim_end().strip_prefix(base.as_str()) else {
            return false;
        };
        // `sw1#`, `sw1>`, and configuration sub-modes like `sw1(config)#`.
        let rest_ok = rest.len() == 1
            || (rest.starts_with('(') && rest.len() <= 32 && !rest.contains(char::is_whitespace));
        rest_ok && rest.ends_with(PROMPT_ENDS)
    }

    /// Reads until the current line is a prompt (the learned one once known).
    async fn until_prompt(
        &mut self,
        deadline: Instant,
        command: Option<&str>,
    ) -> Result<(), SshError> {
        self.until(deadline, command, |_| false).await.map(|_| ())
    }

    /// Reads until the current line is a prompt or satisfies `also`
    /// (e.g. a password request); returns whether `also` stopped it.
    async fn until(
        &mut self,
        deadline: Instant,
        command: Option<&str>,
        also: impl Fn(&str) -> bool,
    ) -> Result<bool, SshError> {
        loop {
            if let Some(line) = self.screen.short_line(SCAN_LINE) {
                if self.is_own_prompt(&line) {
                    return Ok(false);
                }
                if also(&line) {
                    return Ok(true);
                }
                if self.answer_pager(&line).await? {
                    continue;
                }
            }
            match self.read(deadline).await? {
                Some(true) => {}
                Some(false) => {
                    return Err(SshError::Disconnected {
                        addr: self.addr.clone(),
                        when: match command {
                            Some(c) => format!("during {c:?}"),
                            None => "before showing a prompt".into(),
                        },
                    });
                }
                None => {
                    return Err(match command {
                        Some(c) => SshError::CommandTimeout {
                            addr: self.addr.clone(),
                            command: c.to_string(),
                            secs: self.timeout.as_secs(),
                        },
                        None => SshError::PromptNotFound {
                            addr: self.addr.clone(),
                            secs: self.timeout.as_secs(),
                            tail: self.screen.tail(80),
                        },
                    });
                }
            }
        }
    }

    /// Waits for the first prompt, then sends an empty line and learns the
    /// exact prompt from the answer (a banner line that merely looks like a
    /// prompt is not mistaken for it).
    pub async fn find_prompt(&mut self) -> Result<String, SshError> {
        let deadline = Instant::now() + self.timeout;
        self.until_prompt(deadline, None).await?;
        self.screen.take();
        self.send(b"\n").await?;
        self.until_prompt(deadline, None).await?;
        let line = self.screen.current_line();
        let base = line[..line.len() - 1].to_string();
        self.base = Some(base);
        self.screen.take_completed();
        Ok(line)
    }

    /// Runs one command and returns its output, without echo and prompt.
    /// The prompt it ends on stays on the screen for mode checks.
    pub async fn run(&mut self, command: &str) -> Result<String, SshError> {
        let deadline = Instant::now() + self.timeout;
        // The prompt on screen is the previous one: wipe it so only the
        // prompt after this command's output can end the wait.
        self.screen.take();
        let mut line = command.as_bytes().to_vec();
        line.push(b'\n');
        self.send(&line).await?;
        self.until_prompt(deadline, Some(command)).await?;
        Ok(strip_echo(&self.screen.take_completed(), command))
    }

    /// Enters privileged mode with `enable`, answering a password prompt
    /// with `secret`. Succeeds at once when already privileged.
    pub async fn enable(&mut self, secret: Option<&str>) -> Result<(), SshError> {
        if self.privileged() {
            return Ok(());
        }
        let deadline = Instant::now() + self.timeout;
        self.screen.take();
        self.send(b"enable\n").await?;
        let asks = |l: &str| l.to_ascii_lowercase().ends_with("password:");
        if self.until(deadline, Some("enable"), asks).await? {
            let Some(secret) = secret else {
                return Err(SshError::Enable {
                    addr: self.addr.clone(),
                    message: "the device asks for an enable secret and the credential has none"
                        .into(),
                });
            };
            self.screen.take();
            let mut answer = secret.as_bytes().to_vec();
            answer.push(b'\n');
            self.send(&answer).await?;
            // A refused secret may ask again: that is a failure, not a loop.
            if self.until(deadline, Some("enable"), asks).await? {
                return Err(SshError::Enable {
                    addr: self.addr.clone(),
                    message: "the enable secret was not accepted".into(),
                });
            }
        }
        if self.privileged() {
            Ok(())
        } else {
            Err(SshError::Enable {
                addr: self.addr.clone(),
                message: "the enable secret was not accepted".into(),
            })
        }
    }

    /// Leaves the shell politely; errors are irrelevant at this point.
    pub async fn close(self) {
        let _ = self.ch.data(&b"exit\n"[..]).await;
        let _ = self.ch.eof().await;
        let _ = self.ch.close().await;
    }
}

/// Drops the echoed command line from the top of a command's output.
pub(crate) fn strip_echo(text: &str, command: &str) -> String {
    let cmd = command.trim();
    match text.split_once('\n') {
        Some((first, rest)) if !cmd.is_empty() && first.trim_end().ends_with(cmd) => {
            rest.to_string()
        }
        None if text.trim_end().ends_with(cmd) => String::new(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_of_common_platforms() {
        for p in [
            "sw1>",
            "sw1#",
            "admin@sw3> ",
            "sw1(config)#",
            "[admin@r1]",
            "user@host:~$",
        ] {
            assert!(looks_like_prompt(p), "{p}");
        }
        for p in [
            "",
            "#",
            "Building configuration...",
            "interface Gi0/1 #",
            "Password:",
        ] {
            assert!(!looks_like_prompt(p), "{p}");
        }
    }

    #[test]
    fn echo_is_stripped() {
        assert_eq!(strip_echo("show ver\nIOS 15\n", "show ver"), "IOS 15\n");
        assert_eq!(strip_echo("IOS 15\n", "show ver"), "IOS 15\n");
    }
}
