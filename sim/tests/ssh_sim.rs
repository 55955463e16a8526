//! Integration tests: the simulator driven by russh's client the way the
//! worker's collector drives real devices (PTY, shell, prompt detection).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use outpost_sim::ssh::{DeviceSpec, Fault, Platform, SshSim, legacy_preferred};
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Preferred};
use tokio::time::timeout;

/// Deadline for things that must happen (loaded 2-core machines).
const MUST: Duration = Duration::from_secs(20);
/// How long we watch for things that must not happen.
const MUST_NOT: Duration = Duration::from_secs(2);

#[derive(Clone, Default)]
struct Client {
    seen_key: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let PublicKeyOrCertificate::PublicKey { key, .. } = key {
            *self.seen_key.lock().unwrap() = Some(key.fingerprint(HashAlg::Sha256).to_string());
        }
        Ok(true)
    }
}

fn spec(name: &str, platform: Platform) -> DeviceSpec {
    DeviceSpec::new(
        name,
        "127.0.0.1:0".parse().unwrap(),
        platform,
        "admin",
        "secret",
    )
}

async fn connect(
    addr: SocketAddr,
    preferred: Preferred,
) -> Result<(Handle<Client>, Client), russh::Error> {
    let config = Arc::new(client::Config {
        preferred,
        ..Default::default()
    });
    let c = Client::default();
    let h = timeout(MUST, client::connect(config, addr, c.clone()))
        .await
        .map_err(|_| russh::Error::ConnectionTimeout)??;
    Ok((h, c))
}

struct Term {
    _handle: Handle<Client>,
    ch: russh::Channel<client::Msg>,
    buf: Vec<u8>,
    closed: bool,
}

#[derive(Debug)]
enum ReadEnd {
    Timeout(String),
    Closed(String),
}

impl Term {
    async fn open(addr: SocketAddr, user: &str, password: &str) -> Term {
        let (mut h, _) = connect(addr, Preferred::default()).await.expect("connect");
        let auth = timeout(MUST, h.authenticate_password(user, password))
            .await
            .expect("auth timeout")
            .expect("auth");
        assert!(auth.success(), "auth rejected");
        Self::shell(h).await
    }

    async fn shell(h: Handle<Client>) -> Term {
        let ch = timeout(MUST, h.channel_open_session())
            .await
            .unwrap()
            .unwrap();
        ch.request_pty(true, "vt100", 511, 24, 0, 0, &[])
            .await
            .unwrap();
        ch.request_shell(true).await.unwrap();
        Term {
            _handle: h,
            ch,
            buf: Vec::new(),
            closed: false,
        }
    }

    async fn send(&self, s: &str) {
        self.ch.data(s.as_bytes()).await.unwrap();
    }

    /// Reads until the received text ends with `suffix`; returns it all.
    async fn read_until(&mut self, suffix: &str, within: Duration) -> Result<String, ReadEnd> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.buf.ends_with(suffix.as_bytes()) {
                let text = String::from_utf8_lossy(&self.buf).into_owned();
                self.buf.clear();
                return Ok(text);
            }
            let text = || String::from_utf8_lossy(&self.buf).into_owned();
            if self.closed {
                return Err(ReadEnd::Closed(text()));
            }
            match tokio::time::timeout_at(deadline, self.ch.wait()).await {
                Err(_) => return Err(ReadEnd::Timeout(text())),
                Ok(Some(ChannelMsg::Data { data })) => self.buf.extend_from_slice(&data),
                Ok(Some(ChannelMsg::Eof | ChannelMsg::Close)) | Ok(None) => self.closed = true,
                Ok(Some(_)) => {}
            }
        }
    }

    async fn expect(&mut self, suffix: &str) -> String {
        match self.read_until(suffix, MUST).await {
            Ok(t) => t,
            Err(e) => panic!("waiting for {suffix:?}: {e:?}"),
        }
    }

    async fn command(&mut self, cmd: &str, prompt: &str) -> String {
        self.send(&format!("{cmd}\r")).await;
        self.expect(prompt).await
    }
}

#[tokio::test]
async fn ios_prompt_enable_and_privilege() {
    let mut s = spec("core1", Platform::Ios);
    s.enable_secret = Some("en-pass".into());
    let sim = SshSim::start(vec![s]).await.unwrap();
    let addr = sim.addr("core1").unwrap();
    let mut t = Term::open(addr, "admin", "secret").await;
    let banner = t.expect("core1>").await;
    assert!(banner.contains("core1"), "{banner:?}");

    // User exec cannot show the running config.
    let out = t.command("show running-config", "core1>").await;
    assert!(out.starts_with("show running-config\r\n"), "echo: {out:?}");
    assert!(
        out.contains("% Invalid input detected at '^' marker."),
        "{out:?}"
    );

    // Wrong secret.
    t.send("enable\r").await;
    t.expect("Password: ").await;
    let out = t.command("nope", "core1>").await;
    assert!(out.contains("% Access denied"), "{out:?}");
    assert!(!out.contains("nope"), "password must not echo: {out:?}");

    // Right secret.
    t.send("enable\r").await;
    t.expect("Password: ").await;
    t.command("en-pass", "core1#").await;
    t.command("terminal length 0", "core1#").await;
    let out = t.command("show version", "core1#").await;
    assert!(
        out.contains("Cisco IOS") && out.contains("core1 uptime"),
        "{out:?}"
    );
    let out = t.command("sh ip int br", "core1#").await;
    assert!(out.contains("GigabitEthernet1/0/1"), "{out:?}");
    let out = t.command("bogus command", "core1#").await;
    assert!(out.contains("% Invalid input"), "{out:?}");
    // Empty line: just the prompt again.
    t.command("", "core1#").await;
    t.send("exit\r").await;
    assert!(matches!(
        t.read_until("never", MUST).await,
        Err(ReadEnd::Closed(_))
    ));
    let st = sim.stats("core1").unwrap();
    assert_eq!((st.connections, st.authenticated, st.shells), (1, 1, 1));
    sim.stop().await;
}

#[tokio::test]
async fn eos_enable_without_secret_and_ansi() {
    let sim = SshSim::start(vec![spec("leaf1", Platform::Eos)])
        .await
        .unwrap();
    let mut t = Term::open(sim.addr("leaf1").unwrap(), "admin", "secret").await;
    t.expect("leaf1>").await;
    let out = t.command("show running-config", "leaf1>").await;
    assert!(out.contains("privileged mode required"), "{out:?}");
    let out = t.command("enable", "leaf1#").await;
    assert!(out.contains('\x1b'), "EOS emits ANSI: {out:?}");
    t.command("terminal length 0", "leaf1#").await;
    let out = t.command("show running-config", "leaf1#").await;
    assert!(out.contains("hostname leaf1"), "{out:?}");
    let out = t.command("show version", "leaf1#").await;
    assert!(out.contains("Arista") && out.contains("leaf1"), "{out:?}");
    sim.stop().await;
}

#[tokio::test]
async fn junos_prompt_and_configuration() {
    let sim = SshSim::start(vec![spec("edge1", Platform::Junos)])
        .await
        .unwrap();
    let mut t = Term::open(sim.addr("edge1").unwrap(), "admin", "secret").await;
    let p = "admin@edge1> ";
    t.expect(p).await;
    let out = t.command("set cli screen-length 0", p).await;
    assert!(out.contains("Screen length set to 0"), "{out:?}");
    let out = t.command("show configuration", p).await;
    assert!(out.contains("host-name edge1;"), "{out:?}");
    assert!(!out.contains("---(more)---"));
    let out = t.command("show interfaces terse", p).await;
    assert!(out.contains("ge-0/0/0"), "{out:?}");
    let out = t.command("enable", p).await;
    assert!(out.contains("unknown command."), "{out:?}");
    sim.stop().await;
}

#[tokio::test]
async fn paging_until_terminal_length_0() {
    let mut s = spec("sw1", Platform::Ios);
    s.enable_secret = Some("en".into());
    let sim = SshSim::start(vec![s]).await.unwrap();
    let mut t = Term::open(sim.addr("sw1").unwrap(), "admin", "secret").await;
    t.expect("sw1>").await;
    t.send("enable\r").await;
    t.expect("Password: ").await;
    t.command("en", "sw1#").await;

    t.send("show running-config\r").await;
    let page1 = t.expect(" --More-- ").await;
    // Echo line + 24 lines of output.
    assert_eq!(page1.matches("\r\n").count(), 25, "{page1:?}");
    t.send(" ").await;
    let page2 = t.expect(" --More-- ").await;
    assert!(page2.starts_with('\x08'), "marker erased: {page2:?}");
    t.send("\r").await;
    let line = t.expect(" --More-- ").await;
    assert_eq!(line.matches("\r\n").count(), 1, "{line:?}");
    t.send("q").await;
    t.expect("sw1#").await;

    t.command("terminal length 0", "sw1#").await;
    t.command("terminal width 511", "sw1#").await;
    let out = t.command("show running-config", "sw1#").await;
    assert!(!out.contains("--More--"), "paging disabled");
    assert!(out.contains("hostname sw1") && out.ends_with("end\r\nsw1#"));
    sim.stop().await;
}

#[tokio::test]
async fn junos_paging_marker() {
    let sim = SshSim::start(vec![spec("j1", Platform::Junos)])
        .await
        .unwrap();
    let mut t = Term::open(sim.addr("j1").unwrap(), "admin", "secret").await;
    t.expect("admin@j1> ").await;
    t.send("show configuration\r").await;
    t.expect("---(more)---").await;
    t.send("q").await;
    let out = t.expect("admin@j1> ").await;
    assert!(out.starts_with("\r\x1b[K"), "{out:?}");
    // `| no-more` skips the pager for one command.
    let out = t
        .command("show configuration | no-more", "admin@j1> ")
        .await;
    assert!(!out.contains("---(more)---"));
    sim.stop().await;
}

#[tokio::test]
async fn large_config_arrives_complete() {
    let mut s = spec("big1", Platform::Eos);
    s.config_bytes = 2 * 1024 * 1024;
    s.latency_ms = 50;
    let sim = SshSim::start(vec![s]).await.unwrap();
    let mut t = Term::open(sim.addr("big1").unwrap(), "admin", "secret").await;
    t.expect("big1>").await;
    t.command("enable", "big1#").await;
    t.command("terminal length 0", "big1#").await;
    let out = t.command("show running-config", "big1#").await;
    assert!(out.len() > 2 * 1024 * 1024, "{}", out.len());
    assert!(out.contains("hostname big1"));
    assert!(out.ends_with("end\r\nbig1#"));
    sim.stop().await;
}

#[tokio::test]
async fn wrong_password_is_rejected() {
    let mut faulty = spec("moved1", Platform::Ios);
    faulty.fault = Fault::WrongPassword;
    let sim = SshSim::start(vec![spec("sw1", Platform::Ios), faulty])
        .await
        .unwrap();
    let (mut h, _) = connect(sim.addr("sw1").unwrap(), Preferred::default())
        .await
        .unwrap();
    let r = h.authenticate_password("admin", "wrong").await.unwrap();
    assert!(!r.success());
    let (mut h, _) = connect(sim.addr("moved1").unwrap(), Preferred::default())
        .await
        .unwrap();
    let r = h.authenticate_password("admin", "secret").await.unwrap();
    assert!(
        !r.success(),
        "wrong_password rejects even the right password"
    );
    assert_eq!(sim.stats("moved1").unwrap().auth_rejected, 1);
    sim.stop().await;
}

#[tokio::test]
async fn no_prompt_never_prompts() {
    let mut s = spec("mute1", Platform::Ios);
    s.fault = Fault::NoPrompt;
    let sim = SshSim::start(vec![s]).await.unwrap();
    let mut t = Term::open(sim.addr("mute1").unwrap(), "admin", "secret").await;
    t.send("\r").await;
    match t.read_until("mute1>", MUST_NOT).await {
        Err(ReadEnd::Timeout(text)) => assert!(!text.contains("mute1>"), "{text:?}"),
        other => panic!("expected silence, got {other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn hang_mid_output_stops_writing() {
    let mut s = spec("hang1", Platform::Junos);
    s.fault = Fault::HangMidOutput;
    s.config_bytes = 200_000;
    let sim = SshSim::start(vec![s]).await.unwrap();
    let mut t = Term::open(sim.addr("hang1").unwrap(), "admin", "secret").await;
    let p = "admin@hang1> ";
    t.expect(p).await;
    t.command("set cli screen-length 0", p).await;
    t.send("show configuration\r").await;
    // About half arrives ...
    let deadline = tokio::time::Instant::now() + MUST;
    loop {
        match t.read_until(p, Duration::from_millis(500)).await {
            Err(ReadEnd::Timeout(text)) => {
                let got = text.len();
                t.buf = text.into_bytes();
                if got >= 90_000 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "only {got} bytes before the hang"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // ... then nothing more, and the connection stays open.
    match t.read_until(p, MUST_NOT).await {
        Err(ReadEnd::Timeout(text)) => {
            assert!(text.len() < 110_000, "{}", text.len());
            assert!(!text.contains("routing-options"));
        }
        other => panic!("expected a hang, got {other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn disconnect_mid_output_drops_connection() {
    let mut s = spec("drop1", Platform::Ios);
    s.fault = Fault::DisconnectMidOutput;
    s.enable_secret = Some("en".into());
    s.config_bytes = 100_000;
    let sim = SshSim::start(vec![s]).await.unwrap();
    let mut t = Term::open(sim.addr("drop1").unwrap(), "admin", "secret").await;
    t.expect("drop1>").await;
    t.send("enable\r").await;
    t.expect("Password: ").await;
    t.command("en", "drop1#").await;
    t.command("terminal length 0", "drop1#").await;
    t.send("show running-config\r").await;
    match t.read_until("end\r\ndrop1#", MUST).await {
        Err(ReadEnd::Closed(text)) => {
            assert!(text.contains("hostname drop1"), "first half arrived");
            assert!(text.len() < 60_000, "{}", text.len());
        }
        other => panic!("expected a dropped connection, got {other:?}"),
    }
    sim.stop().await;
}

#[tokio::test]
async fn host_key_follows_seed() {
    let start = |seed: u64| async move {
        let mut s = spec("k1", Platform::Ios);
        s.host_key_seed = seed;
        SshSim::start(vec![s]).await.unwrap()
    };
    let sim = start(7).await;
    let fp1 = sim.host_key_fingerprint("k1");
    assert!(fp1.starts_with("SHA256:"), "{fp1}");
    let (_h, c) = connect(sim.addr("k1").unwrap(), Preferred::default())
        .await
        .unwrap();
    assert_eq!(c.seen_key.lock().unwrap().clone(), Some(fp1.clone()));
    sim.stop().await;
    let sim = start(7).await;
    assert_eq!(sim.host_key_fingerprint("k1"), fp1);
    sim.stop().await;
    let sim = start(8).await;
    assert_ne!(sim.host_key_fingerprint("k1"), fp1);
    sim.stop().await;
}

#[tokio::test]
async fn legacy_only_device_needs_legacy_client() {
    let mut s = spec("old1", Platform::Ios);
    s.legacy_only = true;
    s.host_key_seed = 42;
    let sim = SshSim::start(vec![s]).await.unwrap();
    let addr = sim.addr("old1").unwrap();
    assert!(
        connect(addr, Preferred::default()).await.is_err(),
        "modern-only client must fail key exchange"
    );
    let (mut h, c) = connect(addr, legacy_preferred()).await.expect("legacy kex");
    assert_eq!(
        c.seen_key.lock().unwrap().clone(),
        Some(sim.host_key_fingerprint("old1"))
    );
    assert!(
        h.authenticate_password("admin", "secret")
            .await
            .unwrap()
            .success()
    );
    let mut t = Term::shell(h).await;
    t.expect("old1>").await;
    sim.stop().await;
}

#[tokio::test]
async fn exec_is_refused() {
    let sim = SshSim::start(vec![spec("sw1", Platform::Ios)])
        .await
        .unwrap();
    let (mut h, _) = connect(sim.addr("sw1").unwrap(), Preferred::default())
        .await
        .unwrap();
    assert!(
        h.authenticate_password("admin", "secret")
            .await
            .unwrap()
            .success()
    );
    let mut ch = h.channel_open_session().await.unwrap();
    ch.exec(true, "show version").await.unwrap();
    let mut failed = false;
    while let Ok(Some(msg)) = timeout(MUST, ch.wait()).await {
        match msg {
            ChannelMsg::Failure => failed = true,
            ChannelMsg::Data { .. } => panic!("exec must not run"),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    assert!(failed);
    sim.stop().await;
}

#[tokio::test]
async fn hostile_input_does_not_break_the_device() {
    let sim = SshSim::start(vec![spec("sw1", Platform::Eos)])
        .await
        .unwrap();
    let mut t = Term::open(sim.addr("sw1").unwrap(), "admin", "secret").await;
    t.expect("sw1>").await;
    t.ch.data(&[0xff, 0xfe, 0xc3, b'\r'][..]).await.unwrap();
    t.expect("sw1>").await;
    let huge = "x".repeat(100_000);
    t.send(&huge).await;
    t.send("\r").await;
    let out = t.expect("sw1>").await;
    assert!(out.contains("% Invalid input"));
    assert!(out.len() < 10_000, "line capped: {}", out.len());
    t.send("\x03").await;
    t.expect("sw1>").await;
    // stop() ends open sessions.
    timeout(MUST, sim.stop()).await.expect("stop");
    assert!(matches!(
        t.read_until("never", MUST).await,
        Err(ReadEnd::Closed(_))
    ));
}

#[tokio::test]
async fn many_devices_and_sessions() {
    let specs: Vec<_> = (0..50)
        .map(|i| {
            let mut s = spec(&format!("d{i:03}"), Platform::Ios);
            s.host_key_seed = i;
            s
        })
        .collect();
    let sim = SshSim::start(specs).await.unwrap();
    let mut tasks = Vec::new();
    for (name, addr) in sim.addrs() {
        tasks.push(tokio::spawn(async move {
            let mut t = Term::open(addr, "admin", "secret").await;
            t.expect(&format!("{name}>")).await;
            let out = t.command("show version", &format!("{name}>")).await;
            assert!(out.contains(&name));
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(sim.stats("d007").unwrap().shells, 1);
    sim.stop().await;
}
