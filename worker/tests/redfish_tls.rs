//! Certificate pinning against a real TLS server with a self-signed
//! certificate, as iDRACs have: trusted on first use with its fingerprint
//! reported, accepted while it stays the same, refused once it changes,
//! and accepted regardless when the zone opted out. Legacy keys and
//! algorithms from OpenSSL servers (a 1024-bit RSA key over TLS 1.2 and
//! 1.3, SHA-1 handshake signatures) are accepted by the pin, never in
//! place of it.

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

/// An OpenSSL server with a fresh self-signed RSA certificate of `bits`,
/// TLS `version` only, signing its handshake with `sigalgs` (OpenSSL
/// syntax) when given; returns its port and fingerprint.
async fn openssl_server(
    bits: u32,
    version: openssl::ssl::SslVersion,
    sigalgs: Option<&str>,
) -> (u16, String) {
    use openssl::ssl::{Ssl, SslContext, SslMethod};
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(bits).unwrap()).unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "idrac.local").unwrap();
    let name = name.build();
    let mut b = openssl::x509::X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    let (from, until) = (
        openssl::asn1::Asn1Time::days_from_now(0).unwrap(),
        openssl::asn1::Asn1Time::days_from_now(30).unwrap(),
    );
    b.set_not_before(&from).unwrap();
    b.set_not_after(&until).unwrap();
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let cert = b.build();
    let fp = fingerprint(&cert.to_der().unwrap());
    let mut ctx = SslContext::builder(SslMethod::tls_server()).unwrap();
    ctx.set_min_proto_version(Some(version)).unwrap();
    ctx.set_max_proto_version(Some(version)).unwrap();
    ctx.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
    if let Some(algs) = sigalgs {
        ctx.set_sigalgs_list(algs).unwrap();
    }
    ctx.set_certificate(&cert).unwrap();
    ctx.set_private_key(&key).unwrap();
    let ctx = ctx.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let ssl = Ssl::new(&ctx).unwrap();
            tokio::spawn(async move {
                let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                if std::pin::Pin::new(&mut tls).accept().await.is_ok() {
                    let _ = tls.write_all(b"hello").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, fp)
}

#[tokio::test]
async fn legacy_keys_and_algorithms_are_accepted_by_the_pin_only() {
    use openssl::ssl::SslVersion;
    for (bits, version, sigalgs) in [
        (1024, SslVersion::TLS1_2, None),
        (1024, SslVersion::TLS1_2, Some("RSA-PSS+SHA256")),
        (1024, SslVersion::TLS1_3, None),
        (2048, SslVersion::TLS1_2, Some("RSA+SHA1")),
    ] {
        let what = format!("{bits} bits, {version:?}, {sigalgs:?}");
        let (port, fp) = openssl_server(bits, version, sigalgs).await;
        let (r, seen) = connect(port, Pin::FirstUse).await;
        assert_eq!(r.as_deref(), Ok("hello"), "first use: {what}");
        assert_eq!(seen.as_deref(), Some(fp.as_str()), "{what}");
        let (r, _) = connect(port, Pin::Expect(fp.clone())).await;
        assert_eq!(r.as_deref(), Ok("hello"), "pinned: {what}");
        let (r, _) = connect(port, Pin::Off).await;
        assert_eq!(r.as_deref(), Ok("hello"), "pinning off: {what}");
        let (r, _) = connect(port, Pin::Expect("00".repeat(32))).await;
        let err = r.unwrap_err();
        assert!(err.contains("certificate changed"), "{what}: {err}");
    }
}
