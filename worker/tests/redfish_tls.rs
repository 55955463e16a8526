//! Certificate pinning against a real TLS server with a self-signed
//! certificate, as iDRACs have: trusted on first use with its fingerprint
//! reported, accepted while it stays the same, refused once it changes,
//! and accepted regardless when the zone opted out.

use outpost_worker::ops::redfish::tls::{Pin, PinningVerifier, fingerprint};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS server with a fresh self-signed certificate; returns its port and fingerprint.
async fn server() -> (u16, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["idrac.local".to_string()]).unwrap();
    let der = ck.cert.der().clone();
    let fp = fingerprint(der.as_ref());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"hello").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, fp)
}

async fn connect(port: u16, pin: Pin) -> (Result<String, String>, Option<String>) {
    let verifier = PinningVerifier::new(pin);
    let connector = tokio_rustls::TlsConnector::from(Arc::new(verifier.client_config()));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = ServerName::try_from("idrac.local").unwrap();
    let r = match connector.connect(name, tcp).await {
        Ok(mut tls) => {
            let mut s = String::new();
            tls.read_to_string(&mut s)
                .await
                .map(|_| s)
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    (r, verifier.seen())
}

#[tokio::test]
async fn pins_on_first_use_and_refuses_a_changed_certificate() {
    let (port, fp) = server().await;
    let (r, seen) = connect(port, Pin::FirstUse).await;
    assert_eq!(r.as_deref(), Ok("hello"));
    assert_eq!(seen.as_deref(), Some(fp.as_str()));

    let (r, _) = connect(port, Pin::Expect(fp.clone())).await;
    assert_eq!(r.as_deref(), Ok("hello"));

    // Same address, another certificate (the device was replaced, or a man in the middle).
    let (other_port, other_fp) = server().await;
    assert_ne!(fp, other_fp);
    let (r, seen) = connect(other_port, Pin::Expect(fp.clone())).await;
    let err = r.unwrap_err();
    assert!(err.contains("certificate changed"), "{err}");
    assert_eq!(seen.as_deref(), Some(other_fp.as_str()));

    let (r, _) = connect(other_port, Pin::Off).await;
    assert_eq!(r.as_deref(), Ok("hello"));
}
