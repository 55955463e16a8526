//! A real nats-server (NATS_SERVER_BIN) on a free loopback port, running a
//! bundle written by the setup, and clients connected through `connect`.
//! Tests take [`serial`] first: each starts its own server, and the CI host
//! is small.

use async_nats::Event;
use outpost_nats::connect::{ClientSecurity, prepare};
use outpost_nats::setup::{BundlePaths, SetupSpec, setup};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// How long anything may take on a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One test at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

pub fn nats_server_bin() -> PathBuf {
    std::env::var_os("NATS_SERVER_BIN")
        .map(PathBuf::from)
        .expect("NATS_SERVER_BIN must name a nats-server binary")
}

/// A free loopback port, at random below the kernel's ephemeral range
/// (where outgoing connections could take it before the server binds it).
fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let seed = RandomState::new();
    for i in 0u64..200 {
        let port = 11000 + (seed.hash_one((std::process::id(), i)) % 21000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `check` until it returns `Some`, or panics with `what` at the
/// deadline.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A bundle in a temporary directory whose name needs quoting in the conf
/// (`"`, `$`, space), and a server running it.
pub struct Deployment {
    pub tmp: tempfile::TempDir,
    pub paths: BundlePaths,
    pub port: u16,
    pub server: Child,
    pub log: PathBuf,
}

impl Deployment {
    pub async fn start(zones: &[&str]) -> Deployment {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path().join("bundle \"q\" $HOME");
        let port = free_port();
        let mut spec = SetupSpec::new(
            zones.iter().map(|z| z.to_string()).collect(),
            tmp.path().join("js store"),
        );
        spec.listen = format!("127.0.0.1:{port}");
        setup(&spec, &out).expect("setup");
        let paths = BundlePaths::new(out.canonicalize().expect("bundle dir"));
        let log = tmp.path().join("nats-server.log");
        let server = spawn_server(&paths.conf(), &log);
        let mut d = Deployment {
            tmp,
            paths,
            port,
            server,
            log,
        };
        d.wait_listening().await;
        d
    }

    async fn wait_listening(&mut self) {
        let port = self.port;
        let start = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.server.try_wait() {
                panic!("nats-server exited ({status}):\n{}", self.log_text());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "nats-server not listening:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("tls://127.0.0.1:{}", self.port)
    }

    /// The operator's reload: `nats-server --signal reload=<pid>`.
    pub fn reload(&self) {
        let status = Command::new(nats_server_bin())
            .arg("--signal")
            .arg(format!("reload={}", self.server.id()))
            .status()
            .expect("nats-server --signal");
        assert!(status.success(), "reload signal failed");
    }

    /// Waits until the server's log shows `count` reloads.
    pub async fn wait_reloaded(&self, count: usize) {
        wait_for("the server to reload", || async {
            let n = self
                .log_text()
                .matches("Reloaded server configuration")
                .count();
            (n >= count).then_some(())
        })
        .await;
    }

    pub fn creds(&self, who: &str) -> PathBuf {
        match who {
            "coordinator" => self.paths.coordinator_creds(),
            zone => self.paths.zone_creds(zone),
        }
    }

    /// Security settings with `creds` and this bundle's CA.
    pub fn security(&self, creds: Option<&Path>) -> ClientSecurity {
        ClientSecurity {
            creds: creds.map(Path::to_path_buf),
            ca: Some(self.paths.ca()),
            insecure: false,
        }
    }

    /// The coordinator's connection.
    pub async fn coordinator(&self) -> Client {
        Client::connect(
            &self.url(),
            &self.security(Some(&self.creds("coordinator"))),
            None,
        )
        .await
        .expect("coordinator connects")
    }

    /// A connection of `zone`'s workers (inbox `_INBOX_<zone>`).
    pub async fn zone(&self, zone: &str) -> Client {
        self.zone_with(zone, &self.creds(zone))
            .await
            .unwrap_or_else(|e| panic!("zone {zone} connects: {e}"))
    }

    pub async fn zone_with(
        &self,
        zone: &str,
        creds: &Path,
    ) -> Result<Client, outpost_nats::ConnectError> {
        let prefix = outpost_proto::layout::inbox_prefix(zone).expect("zone");
        Client::connect(&self.url(), &self.security(Some(creds)), Some(&prefix)).await
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn spawn_server(conf: &Path, log: &Path) -> Child {
    let log_file = std::fs::File::create(log).expect("log file");
    let err_file = log_file.try_clone().expect("log file");
    // From a directory other than the bundle's: the conf's paths are absolute.
    Command::new(nats_server_bin())
        .arg("-c")
        .arg(conf)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(err_file)
        .spawn()
        .expect("spawn nats-server")
}

/// A client and the events its connection reports.
pub struct Client {
    pub client: async_nats::Client,
    pub events: UnboundedReceiver<Event>,
}

impl Client {
    pub async fn connect(
        url: &str,
        security: &ClientSecurity,
        inbox_prefix: Option<&str>,
    ) -> Result<Client, outpost_nats::ConnectError> {
        let (tx, events) = unbounded_channel();
        let mut prepared = prepare(url, security, inbox_prefix)?;
        prepared.options = prepared
            .options
            .connection_timeout(Duration::from_secs(10))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            });
        let client = prepared.connect().await?;
        Ok(Client { client, events })
    }

    /// Waits for a server error whose text contains `needle`.
    pub async fn server_error(&mut self, needle: &str) -> String {
        let wait = async {
            while let Some(event) = self.events.recv().await {
                if let Event::ServerError(e) = &event {
                    let text = e.to_string();
                    if text.contains(needle) {
                        return text;
                    }
                }
            }
            panic!("event channel closed before a server error about {needle}");
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .unwrap_or_else(|_| panic!("no server error about {needle}"))
    }

    /// Waits for the connection to report `Disconnected`.
    pub async fn disconnected(&mut self) {
        let wait = async {
            while let Some(event) = self.events.recv().await {
                if matches!(event, Event::Disconnected) {
                    return;
                }
            }
        };
        tokio::time::timeout(DEADLINE, wait)
            .await
            .expect("no disconnection reported");
    }

    /// Whether a `Disconnected` event arrived so far.
    pub fn saw_disconnect(&mut self) -> bool {
        let mut seen = false;
        while let Ok(event) = self.events.try_recv() {
            seen |= matches!(event, Event::Disconnected);
        }
        seen
    }
}
