//! Child processes of a test (coordinator, workers, the CLI): their output
//! lines captured and echoed with a prefix, waits on a line with a
//! deadline, SIGTERM and SIGKILL.

use anyhow::{Context, Result, bail};
use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// A running child process.
pub struct Proc {
    name: String,
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    lines: watch::Receiver<usize>,
}

impl Proc {
    /// Starts `bin` with `args`; `envs` are added to the environment.
    pub fn spawn(
        name: &str,
        bin: impl AsRef<Path>,
        args: &[&OsStr],
        envs: &[(&str, &str)],
    ) -> Result<Proc> {
        let mut cmd = Command::new(bin.as_ref());
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        cmd.env("NO_COLOR", "1");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.as_ref().display()))?;
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, lines) = watch::channel(0usize);
        let tx = Arc::new(tx);
        let out = child.stdout.take().context("stdout")?;
        let err = child.stderr.take().context("stderr")?;
        tokio::spawn(pump(format!("{name}|"), out, stdout.clone(), tx.clone()));
        tokio::spawn(pump(format!("{name}!"), err, stderr.clone(), tx));
        Ok(Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            lines,
        })
    }

    /// Waits until stdout has a line matching `pred`; returns it.
    pub async fn wait_for_line(
        &mut self,
        pred: impl Fn(&str) -> bool,
        deadline: Duration,
    ) -> Result<String> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(l) = self.stdout().into_iter().find(|l| pred(l)) {
                return Ok(l);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before the expected line",
                    self.name
                );
            }
            match tokio::time::timeout_at(until, self.lines.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    // Output closed; look one last time, then wait for the exit.
                    if let Some(l) = self.stdout().into_iter().find(|l| pred(l)) {
                        return Ok(l);
                    }
                    bail!("{} closed its output before the expected line", self.name);
                }
                Err(_) => bail!(
                    "{}: expected line did not appear within {deadline:?}",
                    self.name
                ),
            }
        }
    }

    /// Lines printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Lines printed on stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Whether the process is still running (not exited, not killed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn term(&self) -> Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Freezes the process (SIGSTOP), as a hung VM or a long GC pause would.
    pub fn freeze(&self) -> Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// Lets a frozen process run again (SIGCONT).
    pub fn thaw(&self) -> Result<()> {
        self.signal(libc::SIGCONT)
    }

    /// Sends SIGKILL and reaps the process.
    pub async fn kill9(&mut self) -> Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    fn signal(&self, sig: i32) -> Result<()> {
        let pid = self.child.id().context("process already exited")?;
        // SAFETY: kill(2) with a pid we spawned and still own; no memory is involved.
        let rc = unsafe { libc::kill(pid as i32, sig) };
        if rc != 0 {
            bail!(
                "kill({pid}, {sig}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Result<ExitStatus> {
        tokio::time::timeout(deadline, self.child.wait())
            .await
            .with_context(|| format!("{} did not exit within {deadline:?}", self.name))?
            .map_err(Into::into)
    }
}

async fn pump(
    prefix: String,
    stream: impl tokio::io::AsyncRead + Unpin,
    sink: Arc<Mutex<Vec<String>>>,
    tx: Arc<watch::Sender<usize>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        eprintln!("{prefix} {line}");
        if let Ok(mut v) = sink.lock() {
            v.push(line);
        }
        tx.send_modify(|n| *n += 1);
    }
}
