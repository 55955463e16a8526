//! The first two stages of `redfish.discover` against real sockets: a
//! closed port (refused), a filtered one (a listener whose backlog is full
//! never completes the handshake, like a firewall that drops), and an open
//! port that does not speak HTTPS/Redfish.

use outpost_kinds::ErrorClass;
use outpost_worker::ops::{Kind, OpCtx, run};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn closed_filtered_and_not_redfish_are_told_apart() {
    // 127.5.0.1: backlog 1, never accepted, then filled: new SYNs are dropped.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.5.0.1:0".parse().unwrap()).unwrap();
    let port = sock.local_addr().unwrap().port();
    let full = sock.listen(1).unwrap();
    let mut held = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(("127.5.0.1", port)),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
    }
    // 127.5.0.3: answers plain text, not TLS.
    let plain = tokio::net::TcpListener::bind(("127.5.0.3", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = plain.accept().await {
            let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
        }
    });
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let params = json!({
        "slice": ["127.5.0.1-127.5.0.3"],
        "port": port,
        "connect_timeout_ms": 500,
        "http_timeout_ms": 2000,
    });
    // A vault with a default credential: none is needed below the
    // authenticated stage, but a discovery checks its credential first.
    let dir = tempfile::tempdir().unwrap();
    let mut v = outpost_vault::Vault::create(
        &dir.path().join("v.vault"),
        "pw",
        outpost_vault::VaultParams::for_tests(),
    )
    .unwrap();
    v.add(outpost_vault::Credential {
        name: "idrac".into(),
        username: "root".into(),
        password: outpost_vault::Secret::new("calvin"),
        enable_secret: None,
        is_default: true,
    })
    .unwrap();
    let mut env = outpost_worker::ops::OpEnv::detached();
    env.credentials = outpost_worker::credentials::Credentials::Vault(std::sync::Arc::new(v));
    let ctx = OpCtx::detached_with(
        "t",
        "127.5.0.1-127.5.0.3",
        params,
        1,
        CancellationToken::new(),
        std::sync::Arc::new(env),
        tx,
    );
    let out = run(Kind::RedfishDiscover, &ctx)
        .await
        .expect("discovery runs");
    assert_eq!(out["scanned"], 3, "{out}");
    assert_eq!(out["filtered"], 1, "{out}");
    assert_eq!(out["closed"], 1, "{out}");
    assert_eq!(out["open"], 1, "{out}");
    assert_eq!(out["redfish"], 0, "{out}");
    // The plain-text answer is reported, not dropped.
    assert_eq!(out["errors"][0]["address"], "127.5.0.3", "{out}");
    assert_eq!(out["errors"][0]["class"], "tls", "{out}");
    drop(full);
    drop(held);
}

#[tokio::test]
async fn a_malformed_slice_is_a_permanent_params_error() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let ctx = OpCtx::detached(
        "x",
        json!({"slice": ["10.0.0.9-10.0.0.1"]}),
        1,
        CancellationToken::new(),
        tx,
    );
    let e = run(Kind::RedfishDiscover, &ctx).await.unwrap_err();
    assert!(
        matches!(e, outpost_worker::ops::OpError::Permanent { ref kind, .. } if *kind == ErrorClass::Params),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_unknown_credential_fails_before_any_probe() {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    // No vault at all: the credential cannot be opened, and nothing is probed.
    let ctx = OpCtx::detached(
        "127.5.0.9",
        json!({"slice": ["127.5.0.9"], "port": 1, "credentials": ["idarc"]}),
        1,
        CancellationToken::new(),
        tx,
    );
    let e = run(Kind::RedfishDiscover, &ctx).await.unwrap_err();
    assert!(
        matches!(e, outpost_worker::ops::OpError::Permanent { ref kind, ref message }
            if *kind == ErrorClass::UnknownCredential && message.contains("idarc")),
        "{e:?}"
    );
}
