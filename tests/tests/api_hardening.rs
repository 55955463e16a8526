//! What a web page an operator happens to visit must not be able to do to
//! a token-less coordinator on loopback (cross-site request forgery, DNS
//! rebinding), sloppy documents the API must refuse, and the bearer
//! token's answer; against a real coordinator and nats-server.

use anyhow::{Context, Result};
use outpost_tests::fleet::Fleet;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DOC: &str = r#"{"type":"diag.sleep","zone":"beta","params":{"count":1,"ms":1}}"#;

/// `host:port` of the fleet's API.
fn addr(fleet: &Fleet) -> String {
    fleet.api.base.trim_start_matches("http://").to_string()
}

/// Sends `head` (lines without the final blank line) and `body` over a
/// fresh connection; returns the status and the whole answer.
async fn raw(addr: &str, head: &[String], body: &str) -> Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = head.join("\r\n");
    req.push_str(&format!(
        "\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .context("answer did not end")??;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status line in {text:?}"))?;
    Ok((status, text))
}

async fn post(fleet: &Fleet, headers: &[(&str, &str)], body: &str) -> Result<(u16, Value)> {
    let mut r = reqwest::Client::new()
        .post(format!("{}/api/v1/jobs", fleet.api.base))
        .body(body.to_string());
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

#[tokio::test]
async fn browser_requests_are_refused_without_a_token() -> Result<()> {
    let fleet = Fleet::start().await?;
    let json_ct = ("content-type", "application/json");
    // Bodies a page can send without a preflight.
    for ct in [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, body) = post(&fleet, &[("content-type", ct)], DOC).await?;
        assert_eq!(status, 415, "{ct}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("application/json")),
            "{ct}: {body}"
        );
    }
    let (status, body) = post(&fleet, &[], DOC).await?;
    assert_eq!(status, 415, "no content type: {body}");
    let (status, _) = post(
        &fleet,
        &[("content-type", "application/x-www-form-urlencoded")],
        "type=diag.sleep&zone=beta",
    )
    .await?;
    assert_eq!(status, 415, "a form");
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/jobs/x/cancel", fleet.api.base))
        .header("content-type", "text/plain")
        .send()
        .await?;
    assert_eq!(r.status(), 415, "cancel with a text/plain body");

    // Another site's page: its Origin, or the browser's Sec-Fetch-Site.
    for origin in [
        "http://evil.example",
        "http://evil.example:8080",
        "null",
        "http://localhost:1",
        "http://127.0.0.1:1",
    ] {
        let (status, body) = post(&fleet, &[json_ct, ("origin", origin)], DOC).await?;
        assert_eq!(status, 403, "Origin {origin}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("Origin")),
            "{origin}: {body}"
        );
    }
    let (status, body) = post(&fleet, &[json_ct, ("sec-fetch-site", "cross-site")], DOC).await?;
    assert_eq!(status, 403, "{body}");

    // DNS rebinding: a foreign name resolving to loopback is refused, for reads too.
    let a = addr(&fleet);
    let port = a.rsplit(':').next().unwrap_or_default().to_string();
    for host in [format!("evil.example:{port}"), "evil.example".to_string()] {
        for (method, body) in [("GET /api/v1/jobs", ""), ("POST /api/v1/jobs", DOC)] {
            let (status, text) = raw(
                &a,
                &[
                    format!("{method} HTTP/1.1"),
                    format!("host: {host}"),
                    "content-type: application/json".into(),
                ],
                body,
            )
            .await?;
            assert_eq!(status, 403, "{method} with Host {host}: {text}");
            assert!(text.contains("not an address of this API"), "{text}");
        }
    }
    let (status, text) = raw(
        &a,
        &[
            "GET /api/v1/jobs HTTP/1.1".into(),
            format!("host: localhost:{port}"),
        ],
        "",
    )
    .await?;
    assert_eq!(status, 200, "localhost on the API's port: {text}");

    // Nothing was created by any of them.
    assert_eq!(fleet.api.list_jobs().await?, Vec::<Value>::new());

    // The API's own page (same origin), and a plain client, are served.
    let origin = format!("http://{a}");
    let (status, body) = post(
        &fleet,
        &[
            json_ct,
            ("origin", &origin),
            ("sec-fetch-site", "same-origin"),
        ],
        DOC,
    )
    .await?;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &fleet,
        &[("content-type", "application/json; charset=utf-8")],
        DOC,
    )
    .await?;
    assert_eq!(status, 201, "{body}");
    assert_eq!(fleet.api.list_jobs().await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn trailing_data_after_the_document_is_refused() -> Result<()> {
    let fleet = Fleet::start().await?;
    for body in [
        format!("{DOC}garbage"),
        format!("{DOC}{DOC}"),
        format!("{DOC}\n{DOC}\n"),
        format!("{DOC} ]"),
        format!("{DOC}\0"),
    ] {
        let r = fleet.api.post_raw("/api/v1/jobs", body.clone()).await?;
        assert_eq!(r.status, 400, "{body:?}: {:?}", r.body);
        let e = r.body["error"].as_str().unwrap_or_default();
        assert!(
            e.contains("after the job document"),
            "{body:?}: the error does not name the problem: {e}"
        );
    }
    assert_eq!(fleet.api.list_jobs().await?, Vec::<Value>::new());
    let r = fleet
        .api
        .post_raw("/api/v1/jobs", format!(" \n{DOC}\r\n\t "))
        .await?;
    assert_eq!(
        r.status, 201,
        "whitespace around the document: {:?}",
        r.body
    );
    Ok(())
}

#[tokio::test]
async fn wrong_token_answers_401_with_a_bearer_challenge() -> Result<()> {
    let fleet = Fleet::start_with_token(Some("t0ken-under-test")).await?;
    let url = format!("{}/api/v1/jobs", fleet.api.base);
    let http = reqwest::Client::new();
    for auth in [None, Some("Bearer nope"), Some("Basic t0ken-under-test")] {
        let mut r = http.get(&url);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await?;
        assert_eq!(r.status(), 401, "{auth:?}");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(challenge.starts_with("Bearer"), "{auth:?}: {challenge:?}");
    }
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = http
            .get(&url)
            .header("authorization", format!("{scheme} t0ken-under-test"))
            .send()
            .await?;
        assert_eq!(r.status(), 200, "scheme {scheme}");
    }
    // A job submitted with the token and a proper body is accepted.
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1}}))
        .await?;
    assert!(!id.is_empty());
    Ok(())
}

/// A fleet whose API has the `[api]` keys `api` (an inline table's body).
async fn fleet_with_api(api: &str) -> Result<Fleet> {
    Fleet::start_with(outpost_tests::fleet::FleetOptions {
        extra_config: Some(format!("api = {{ {api} }}")),
        ..Default::default()
    })
    .await
}

/// Opens a connection and sends the start of a request head, never its end.
async fn half_open(addr: &str) -> Result<tokio::net::TcpStream> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /api/v1/jobs HTTP/1.1\r\nHost: x").await?;
    Ok(s)
}

/// Waits until the server closes `s` (end of stream or reset); how long it took.
async fn closed_within(mut s: tokio::net::TcpStream, deadline: Duration) -> Result<Duration> {
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(start + deadline, s.read(&mut buf)).await {
            Err(_) => anyhow::bail!("connection still open after {deadline:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn half_open_connections_are_closed_after_the_header_timeout() -> Result<()> {
    let fleet = fleet_with_api("header_read_timeout_ms = 2000").await?;
    let a = addr(&fleet);
    let mut conns = Vec::new();
    for _ in 0..3000 {
        conns.push(half_open(&a).await?);
    }
    // The API keeps answering during the flood.
    let r = fleet.api.get("/api/v1/jobs").await?;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = fleet
        .api
        .submit_ok(&json!({"type": "diag.sleep", "zone": "beta", "params": {"count": 1}}))
        .await?;
    assert!(!id.is_empty());
    // Every half-open connection is closed by the server, none long after the timeout.
    let waits = futures::future::join_all(
        conns
            .into_iter()
            .map(|c| closed_within(c, Duration::from_secs(60))),
    )
    .await;
    let mut slowest = Duration::ZERO;
    for w in waits {
        slowest = slowest.max(w?);
    }
    eprintln!("3000 half-open connections closed, the last after {slowest:?}");
    // 2 s configured; hyper's own default would be 30 s.
    assert!(slowest < Duration::from_secs(25), "{slowest:?}");
    // A kept-alive connection that goes idle is closed too.
    let mut s = tokio::net::TcpStream::connect(&a).await?;
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await?;
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    let idle = closed_within(s, Duration::from_secs(60)).await?;
    assert!(
        idle >= Duration::from_millis(1500),
        "closed too early: {idle:?}"
    );
    let metrics = fleet.api.get("/metrics").await?.body;
    let text = metrics.as_str().unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.starts_with("outpost_http_connections_open ")
                && l.split(' ')
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|n| n <= 2)),
        "connections still counted open: {text}"
    );
    Ok(())
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_cleanly() -> Result<()> {
    let fleet = fleet_with_api("max_connections = 20, header_read_timeout_ms = 120000").await?;
    let a = addr(&fleet);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(half_open(&a).await?);
    }
    // The 21st gets a 503 naming the limit, and is closed.
    let (status, text) = raw(
        &a,
        &["GET /healthz HTTP/1.1".into(), format!("host: {a}")],
        "",
    )
    .await?;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("at most 20 HTTP connections"), "{text}");
    // Once some close, new connections are served again.
    held.truncate(10);
    outpost_tests::wait_until(
        "a connection below the cap is served",
        Duration::from_secs(60),
        async || match raw(
            &a,
            &["GET /healthz HTTP/1.1".into(), format!("host: {a}")],
            "",
        )
        .await
        {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await?;
    let metrics = fleet.api.get("/metrics").await?.body;
    let text = metrics.as_str().unwrap_or_default();
    assert!(
        text.lines()
            .any(|l| l.starts_with("outpost_http_connections_refused_total ") && !l.ends_with(" 0")),
        "{text}"
    );
    Ok(())
}
