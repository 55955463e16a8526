//! A private `nats-server -js` for one test: a free loopback port, its own
//! store folder, and the means to kill and restart it in place. Secure by
//! default, as deployed: `outpost nats setup`'s bundle (TLS required, one
//! nkey identity per zone with its permissions, the coordinator's); a
//! plain server is an explicit choice ([`NatsServer::start_insecure`]).

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
    /// The deployment bundle (TLS and identities), when secure.
    bundle: Option<PathBuf>,
    /// More flags for a plain server (a cluster node's name and routes).
    extra: Vec<String>,
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

/// A loopback port free right now, for a server the test starts next.
///
/// Picked at random below the kernel's ephemeral range, never twice in
/// one process: a port from `bind(:0)` comes out of the range that every
/// outgoing connection also draws its local port from, so on a busy run
/// a client could take it before the server binds it (CI saw
/// `address already in use` from a hub node).
pub fn free_port() -> Result<u16> {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let low = ephemeral_low().unwrap_or(32768);
    if low > 12000 {
        let span = u64::from(low - 11000);
        let seed = RandomState::new();
        for i in 0u64..200 {
            let port = 11000 + (seed.hash_one((std::process::id(), i)) % span) as u16;
            let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
            let given = given.get_or_insert_with(HashSet::new);
            if given.contains(&port) {
                continue;
            }
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.insert(port);
                return Ok(port);
            }
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The first port of the kernel's ephemeral range, where Linux says it.
fn ephemeral_low() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

/// The zones of the fleet tests.
pub const FLEET_ZONES: [&str; 2] = ["alpha", "beta"];

impl NatsServer {
    /// Starts a secure server for the zones `alpha` and `beta` and waits
    /// until JetStream answers.
    pub async fn start() -> Result<NatsServer> {
        Self::start_with_zones(&FLEET_ZONES).await
    }

    /// Starts a secure server with an identity for each of `zones`.
    pub async fn start_with_zones(zones: &[&str]) -> Result<NatsServer> {
        Self::start_inner(None, Some(zones)).await
    }

    /// Starts a server without TLS or authentication (clients need
    /// `--nats-insecure`).
    pub async fn start_insecure() -> Result<NatsServer> {
        Self::start_inner(None, None).await
    }

    /// Starts a server without TLS that admits only `user` with `password`.
    pub async fn start_with_user(user: &str, password: &str) -> Result<NatsServer> {
        Self::start_inner(Some((user.to_string(), password.to_string())), None).await
    }

    /// A secure server for `zones` whose bundle is made (with `customize`
    /// applied to the setup's spec) but which is not started yet (see
    /// [`NatsServer::start_now`]): a hub whose sites join before it starts.
    pub fn secure_unstarted(
        zones: &[&str],
        customize: impl FnOnce(&mut outpost_nats::setup::SetupSpec),
    ) -> Result<NatsServer> {
        let mut s = NatsServer::plain_node(free_port()?, Vec::new())?;
        let bundle = s.dir.path().join("bundle");
        let mut spec = outpost_nats::setup::SetupSpec::new(
            zones.iter().map(|z| z.to_string()).collect(),
            s.dir.path().join("store"),
        );
        spec.listen = format!("127.0.0.1:{}", s.port);
        customize(&mut spec);
        outpost_nats::setup::setup(&spec, &bundle)
            .map_err(|e| anyhow::anyhow!("outpost nats setup: {e}"))?;
        s.bundle = Some(bundle);
        Ok(s)
    }

    /// A server run from `bundle`'s `nats-server.conf` (a site's bundle,
    /// listening on `port`), not started: it has no coordinator identity,
    /// so it is not waited for here.
    pub fn from_conf(bundle: PathBuf, port: u16) -> Result<NatsServer> {
        let mut s = NatsServer::plain_node(port, Vec::new())?;
        s.bundle = Some(bundle);
        Ok(s)
    }

    /// Starts a server made by [`NatsServer::secure_unstarted`] and waits
    /// until JetStream answers.
    pub async fn start_now(&mut self) -> Result<()> {
        self.spawn().await
    }

    /// Starts the process without waiting for it.
    pub fn launch_now(&mut self) -> Result<()> {
        self.launch()
    }

    async fn start_inner(
        auth: Option<(String, String)>,
        zones: Option<&[&str]>,
    ) -> Result<NatsServer> {
        let mut s = match zones {
            Some(zones) => NatsServer::secure_unstarted(zones, |_| {})?,
            None => NatsServer::plain_node(free_port()?, Vec::new())?,
        };
        s.auth = auth;
        s.spawn().await?;
        Ok(s)
    }

    /// The server's URL: `tls://` when secure.
    pub fn url(&self) -> String {
        if self.bundle.is_some() {
            format!("tls://127.0.0.1:{}", self.port)
        } else {
            format!("nats://127.0.0.1:{}", self.port)
        }
    }

    /// The deployment bundle's folder (secure servers).
    pub fn bundle(&self) -> Option<&Path> {
        self.bundle.as_deref()
    }

    fn bundle_file(&self, name: &str) -> PathBuf {
        self.bundle
            .as_deref()
            .map(|b| b.join(name))
            .unwrap_or_default()
    }

    /// The CA certificate clients check the server against.
    pub fn ca(&self) -> PathBuf {
        self.bundle_file("ca.pem")
    }

    /// The coordinator's creds file.
    pub fn coordinator_creds(&self) -> PathBuf {
        self.bundle_file("coordinator.creds")
    }

    /// Zone `zone`'s creds file.
    pub fn zone_creds(&self, zone: &str) -> PathBuf {
        self.bundle_file(&format!("zone-{zone}.creds"))
    }

    /// How the coordinator connects, as `[nats]` settings.
    pub fn coordinator_security(&self) -> outpost_nats::connect::ClientSecurity {
        match &self.bundle {
            Some(_) => outpost_nats::connect::ClientSecurity {
                creds: Some(self.coordinator_creds()),
                ca: Some(self.ca()),
                insecure: false,
            },
            None => outpost_nats::connect::ClientSecurity {
                insecure: true,
                ..Default::default()
            },
        }
    }

    /// The coordinator's `[nats]` table (TOML) for this server.
    pub fn coordinator_toml(&self) -> String {
        match &self.bundle {
            Some(_) => format!(
                "[nats]\ncreds = {:?}\nca = {:?}\n",
                self.coordinator_creds().display().to_string(),
                self.ca().display().to_string()
            ),
            None => "[nats]\ninsecure = true\n".to_string(),
        }
    }

    /// A worker's NATS flags for zone `zone`.
    pub fn worker_args(&self, zone: &str) -> Vec<String> {
        let mut args = vec!["--nats".to_string(), self.url_with_auth()];
        match &self.bundle {
            Some(_) => {
                args.push("--nats-creds".into());
                args.push(self.zone_creds(zone).display().to_string());
                args.push("--nats-ca".into());
                args.push(self.ca().display().to_string());
            }
            None => args.push("--nats-insecure".into()),
        }
        args
    }

    /// A client with the coordinator's identity (everything allowed).
    pub async fn client(&self) -> Result<async_nats::Client> {
        outpost_nats::connect::connect(&self.url_with_auth(), &self.coordinator_security(), None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// A JetStream context as zone `zone`'s workers have it (their account
    /// reaches the coordinator's JetStream under a prefix).
    pub fn zone_jetstream(client: async_nats::Client) -> async_nats::jetstream::Context {
        async_nats::jetstream::with_prefix(
            client,
            outpost_proto::layout::permissions::ZONE_JS_API_PREFIX,
        )
    }

    /// A client with zone `zone`'s identity, as its workers connect.
    pub async fn zone_client(&self, zone: &str) -> Result<async_nats::Client> {
        let security = outpost_nats::connect::ClientSecurity {
            creds: Some(self.zone_creds(zone)),
            ca: Some(self.ca()),
            insecure: false,
        };
        let inbox = outpost_proto::layout::inbox_prefix(zone)?;
        outpost_nats::connect::connect(&self.url(), &security, Some(&inbox))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Asks the server to reload its configuration (after a re-issued or
    /// revoked identity).
    pub fn reload(&self) -> Result<()> {
        let Some(c) = self.child.as_ref() else {
            bail!("nats-server is not running");
        };
        // SAFETY: kill(2) on a child we spawned and have not reaped yet.
        if unsafe { libc::kill(c.id() as i32, libc::SIGHUP) } != 0 {
            bail!("cannot signal nats-server");
        }
        Ok(())
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
        self.launch()?;
        self.wait_ready(Duration::from_secs(60)).await
    }

    /// A plain server on `port` with `extra` flags, not started yet: a
    /// node of a cluster, which answers only once a quorum of its peers
    /// runs (see `crate::hub`).
    pub(crate) fn plain_node(port: u16, extra: Vec<String>) -> Result<NatsServer> {
        let bin = server_bin()?;
        let out = Command::new(&bin).arg("--version").output()?;
        Ok(NatsServer {
            version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            bin,
            port,
            dir: tempfile::tempdir()?,
            child: None,
            auth: None,
            bundle: None,
            extra,
        })
    }

    /// Starts the process without waiting for it to answer.
    pub(crate) fn launch(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))?;
        let mut cmd = Command::new(&self.bin);
        if let Some((u, p)) = &self.auth {
            cmd.args(["--user", u, "--pass", p]);
        }
        match &self.bundle {
            Some(b) => {
                cmd.arg("-c").arg(b.join("nats-server.conf"));
            }
            None => {
                cmd.args([
                    "-js",
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-sd",
                ])
                .arg(self.dir.path().join("store"))
                .args(&self.extra);
            }
        }
        let child = cmd
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub(crate) async fn wait_ready(&mut self, deadline: Duration) -> Result<()> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Some(status) = c.try_wait()?
            {
                bail!("nats-server exited with {status}: {}", self.log());
            }
            if let Ok(client) = self.client().await {
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

    /// The process runs (was started and has not exited).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
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
