//! Old iDRACs' TLS against the Redfish client: a 1024-bit RSA factory
//! certificate (served by OpenSSL) is read with its pin and still refused
//! once it changes; a TLS-1.0-only iDRAC is refused at once with a message
//! naming `legacy_tls`, and read over OpenSSL once it is set, pins
//! included; legacy TLS reads a modern iDRAC as well; and a real `openssl s_server -tls1` at security level 0,
//! serving a static service root, is identified as an iDRAC with
//! `legacy_tls` and refused without.

use outpost_sim::redfish::{IdracSpec, RedfishSim, TlsProfile};
use outpost_worker::ops::redfish::client::Client;
use outpost_worker::ops::redfish::error::RedfishError;
use outpost_worker::ops::redfish::identify::{Identity, identify};
use outpost_worker::ops::redfish::tls::Pin;
use std::time::Duration;

const USER: &str = "root";
const PASS: &str = "calvin-legacy";
const SYSTEM: &str = "/redfish/v1/Systems/System.Embedded.1";

async fn sim(ip: &str, tls: TlsProfile) -> RedfishSim {
    let mut s = IdracSpec::new(format!("{ip}:0").parse().unwrap(), USER, PASS, 7);
    s.tls = tls;
    RedfishSim::start(vec![s]).await.unwrap()
}

fn client(sim: &RedfishSim, pin: Pin, legacy: bool) -> Client {
    let a = sim.addrs()[0];
    Client::open(
        &a.ip().to_string(),
        a.port(),
        pin,
        legacy,
        USER,
        PASS,
        Duration::from_secs(10),
    )
    .unwrap()
}

/// Logs in and reads the system; the client's fingerprint and the result.
async fn read(mut c: Client) -> (Option<String>, Result<String, RedfishError>) {
    let r = match c.login().await {
        Ok(()) => c
            .get(SYSTEM)
            .await
            .map(|v| v["SKU"].as_str().unwrap_or_default().to_string()),
        Err(e) => Err(e),
    };
    c.logout().await;
    (c.certificate(), r)
}

#[tokio::test]
async fn a_1024_bit_certificate_is_read_with_its_pin_and_refused_once_changed() {
    let sim = sim("127.0.0.1", TlsProfile::WeakKey).await;
    let a = sim.addrs()[0];
    let fp = sim.fingerprint(a).unwrap();
    let tag = sim.device(a).unwrap().spec.service_tag.clone();

    let (seen, r) = read(client(&sim, Pin::FirstUse, false)).await;
    assert_eq!(r.as_deref(), Ok(tag.as_str()), "first use");
    assert_eq!(seen.as_deref(), Some(fp.as_str()));
    let (_, r) = read(client(&sim, Pin::Expect(fp.clone()), false)).await;
    assert_eq!(r.as_deref(), Ok(tag.as_str()), "pinned");
    let (_, r) = read(client(&sim, Pin::Off, false)).await;
    assert_eq!(r.as_deref(), Ok(tag.as_str()), "pinning off");

    // A new weak certificate is still a changed one, whatever its key.
    sim.rotate_certificate(a).unwrap();
    let (_, r) = read(client(&sim, Pin::Expect(fp.clone()), false)).await;
    match r {
        Err(RedfishError::CertChanged {
            pinned, presented, ..
        }) => {
            assert_eq!(pinned, fp);
            assert_eq!(presented, sim.fingerprint(a).unwrap());
        }
        other => panic!("expected cert_changed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tls_1_0_idrac_is_refused_at_once_and_read_with_legacy_tls() {
    let sim = sim("127.0.0.1", TlsProfile::Tls10).await;
    let a = sim.addrs()[0];
    let fp = sim.fingerprint(a).unwrap();
    let tag = sim.device(a).unwrap().spec.service_tag.clone();

    let (_, r) = read(client(&sim, Pin::FirstUse, false)).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind(), outpost_kinds::ErrorClass::Tls, "{e}");
    assert!(!e.retryable(), "{e}");
    let m = e.to_string();
    assert!(
        m.contains(&a.to_string()) && m.contains("TLS 1.0/1.1") && m.contains("legacy_tls"),
        "{m}"
    );

    let (seen, r) = read(client(&sim, Pin::FirstUse, true)).await;
    assert_eq!(r.as_deref(), Ok(tag.as_str()), "legacy, first use");
    assert_eq!(seen.as_deref(), Some(fp.as_str()));
    let (_, r) = read(client(&sim, Pin::Expect(fp.clone()), true)).await;
    assert_eq!(r.as_deref(), Ok(tag.as_str()), "legacy, pinned");

    // Several requests on one client: the connection is kept alive or
    // opened again, the session is reused.
    let mut c = client(&sim, Pin::Expect(fp.clone()), true);
    c.login().await.unwrap();
    for _ in 0..3 {
        c.get(SYSTEM).await.unwrap();
    }
    c.logout().await;

    sim.rotate_certificate(a).unwrap();
    let (_, r) = read(client(&sim, Pin::Expect(fp.clone()), true)).await;
    match r {
        Err(RedfishError::CertChanged {
            pinned, presented, ..
        }) => {
            assert_eq!(pinned, fp);
            assert_eq!(presented, sim.fingerprint(a).unwrap());
        }
        other => panic!("expected cert_changed, got {other:?}"),
    }
}

#[tokio::test]
async fn legacy_tls_also_reads_a_modern_idrac() {
    // A zone's opt-in covers its iDRAC9s too: OpenSSL negotiates TLS 1.3.
    let sim = sim("127.0.0.1", TlsProfile::Modern).await;
    let a = sim.addrs()[0];
    let tag = sim.device(a).unwrap().spec.service_tag.clone();
    let (seen, r) = read(client(&sim, Pin::FirstUse, true)).await;
    assert_eq!(r.as_deref(), Ok(tag.as_str()));
    assert_eq!(seen, sim.fingerprint(a));
}

/// `openssl s_server -tls1 -cipher DEFAULT:@SECLEVEL=0 -WWW` on a free
/// port, serving `redfish/v1` from a directory (Debian's `openssl`).
struct SServer {
    child: tokio::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn s_server() -> SServer {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/O=Dell Inc./CN=idrac-legacy",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command (Debian's openssl package)")
        .success();
    assert!(ok, "openssl req failed");
    std::fs::create_dir(dir.path().join("redfish")).unwrap();
    std::fs::write(
        dir.path().join("redfish/v1"),
        serde_json::to_vec(&serde_json::json!({
            "@odata.id": "/redfish/v1",
            "@odata.type": "#ServiceRoot.v1_6_0.ServiceRoot",
            "Id": "RootService",
            "Name": "Root Service",
            "RedfishVersion": "1.0.2",
            "Vendor": "Dell",
            "Oem": {"Dell": {"ManagerMACAddress": "d0:8e:79:00:00:07"}},
            "Systems": {"@odata.id": "/redfish/v1/Systems"},
            "Managers": {"@odata.id": "/redfish/v1/Managers"},
        }))
        .unwrap(),
    )
    .unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = tokio::process::Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            "cert.pem",
            "-key",
            "key.pem",
            "-tls1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-WWW",
            "-quiet",
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_server");
    // Wait for it to listen.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "s_server never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    SServer {
        child,
        port,
        _dir: dir,
    }
}

#[tokio::test]
async fn openssl_s_server_tls1_is_identified_with_legacy_tls_only() {
    let srv = s_server().await;
    let open = |legacy| {
        Client::open(
            "127.0.0.1",
            srv.port,
            Pin::FirstUse,
            legacy,
            "",
            "",
            Duration::from_secs(10),
        )
        .unwrap()
    };
    let Err(e) = open(false).service_root().await else {
        panic!("a modern client is refused")
    };
    assert_eq!(e.kind(), outpost_kinds::ErrorClass::Tls, "{e}");
    assert!(e.to_string().contains("legacy_tls"), "{e}");

    let c = open(true);
    let Ok(a) = c.service_root().await else {
        panic!("the legacy service root answers")
    };
    assert_eq!(a.status, 200);
    let body: Option<serde_json::Value> = serde_json::from_slice(&a.body).ok();
    assert_eq!(
        identify(
            a.status,
            a.server.as_deref(),
            body.as_ref(),
            a.challenge.as_deref()
        ),
        Identity::Idrac
    );
    assert!(c.certificate().is_some());
}
