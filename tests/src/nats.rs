//! A private `nats-server -js` for one test: a free loopback port, its own
//! store folder, and the means to kill and restart it in place.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running (or stopped) nats-server owned by a test.
pub struct NatsServer {
    bin: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    version: String,
    /// User and password every client must present, when set.
    auth: Option<(String, String)>,
}

/// The nats-server binary: `NATS_SERVER_BIN`, else what
/// `deploy/ensure-nats-server.sh` finds or fetches.
pub fn server_bin() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("NATS_SERVER_BIN")
        && !p.is_empty()
    {
        return Ok(PathBuf::from(p));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/ensure-nats-server.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("{} failed", script.display());
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl NatsServer {
    /// Starts a server with JetStream and waits until JetStream answers.
    pub async fn start() -> Result<NatsServer> {
        Self::start_inner(None).await
    }

    /// Starts a server that admits only `user` with `password`.
    pub async fn start_with_user(user: &str, password: &str) -> Result<NatsServer> {
        Self::start_inner(Some((user.to_string(), password.to_string()))).await
    }

    async fn start_inner(auth: Option<(String, String)>) -> Result<NatsServer> {
        let bin = server_bin()?;
        let out = Command::new(&bin).arg("--version").output()?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let mut s = NatsServer {
            bin,
            port: free_port()?,
            dir: tempfile::tempdir()?,
            child: None,
            version,
            auth,
        };
        s.spawn().await?;
        Ok(s)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The URL with the user and password in it (`nats://u:p@host:port`),
    /// or the plain URL for a server without authentication.
    pub fn url_with_auth(&self) -> String {
        match &self.auth {
            Some((u, p)) => format!("nats://{u}:{p}@127.0.0.1:{}", self.port),
            None => self.url(),
        }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    async fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))?;
        let mut cmd = Command::new(&self.bin);
        if let Some((u, p)) = &self.auth {
            cmd.args(["--user", u, "--pass", p]);
        }
        let child = cmd
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path().join("store"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60)).await
    }

    async fn wait_ready(&mut self, deadline: Duration) -> Result<()> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!("nats-server exited with {status}: {}", self.log());
            }
            let options = match &self.auth {
                Some((u, p)) => {
                    async_nats::ConnectOptions::with_user_and_password(u.clone(), p.clone())
                }
                None => async_nats::ConnectOptions::new(),
            };
            if let Ok(client) = options
                .connection_timeout(Duration::from_secs(2))
                .connect(self.url())
                .await
            {
                let js = async_nats::jetstream::new(client);
                if js.query_account().await.is_ok() {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > until {
                bail!("nats-server did not become ready: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// Stops the server abruptly (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server and starts it again on the same port and store.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn().await
    }

    /// Stops the server the polite way (SIGTERM, as an operator's restart
    /// would) and waits for it to exit; kills it if it takes over 30 s.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(mut c) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: kill(2) on a child we spawned and have not reaped yet.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if c.try_wait()?.is_some() {
                return Ok(());
            }
            if tokio::time::Instant::now() > until {
                let _ = c.kill();
                let _ = c.wait();
                bail!("nats-server ignored SIGTERM for 30 s: {}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a stopped server again on the same port and store.
    pub async fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            bail!("nats-server is still running");
        }
        self.spawn().await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
