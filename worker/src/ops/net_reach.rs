//! `net.reach`: a TCP connect from inside the zone to `target:port`, the
//! first thing an operator checks. Reports the connect latency, or why the
//! address could not be reached (`dns`, `refused`, `timeout`,
//! `unreachable`, `io`). The answer is the result: failures are permanent,
//! retrying a reachability check would only hide it.

use super::{OpCtx, OpError};
use outpost_kinds::ErrorClass;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

use outpost_kinds::diag::ReachParams as Params;

pub async fn run(ctx: &OpCtx) -> Result<serde_json::Value, OpError> {
    let p: Params = ctx.params()?;
    p.validate()
        .map_err(|e| OpError::permanent(ErrorClass::Params, e.to_string()))?;
    let timeout = Duration::from_millis(p.timeout_ms.clamp(1, 60_000));
    let deadline = tokio::time::Instant::now() + timeout;
    let host = ctx.target.as_str();
    let addrs: Vec<SocketAddr> = tokio::select! {
        r = tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, p.port))) => match r {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => return Err(OpError::permanent(ErrorClass::Dns, format!("cannot resolve {host:?}: {e}"))),
            Err(_) => return Err(OpError::permanent(ErrorClass::Timeout, format!("resolving {host:?} took longer than {} ms", timeout.as_millis()))),
        },
        _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
    };
    let Some(addr) = addrs.first().copied() else {
        return Err(OpError::permanent(
            ErrorClass::Dns,
            format!("{host:?} has no address"),
        ));
    };
    let started = Instant::now();
    let result = tokio::select! {
        r = tokio::time::timeout_at(deadline, TcpStream::connect(addr)) => r,
        _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
    };
    let latency = started.elapsed();
    match result {
        Ok(Ok(stream)) => {
            drop(stream);
            Ok(serde_json::json!({
                "address": addr.ip().to_string(),
                "port": p.port,
                "latency_ms": (latency.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            }))
        }
        Ok(Err(e)) => {
            let kind = match e.kind() {
                ErrorKind::ConnectionRefused => ErrorClass::Refused,
                ErrorKind::TimedOut => ErrorClass::Timeout,
                ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                    ErrorClass::Unreachable
                }
                _ => ErrorClass::Io,
            };
            Err(OpError::permanent(kind, format!("connect to {addr}: {e}")))
        }
        Err(_) => Err(OpError::permanent(
            ErrorClass::Timeout,
            format!(
                "connect to {addr}: no answer within {} ms",
                timeout.as_millis()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    fn ctx(target: &str, params: serde_json::Value) -> OpCtx {
        let (tx, _rx) = mpsc::unbounded_channel();
        OpCtx::detached(target, params, 1, CancellationToken::new(), tx)
    }

    #[tokio::test]
    async fn open_port_reports_latency() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let out = run(&ctx("127.0.0.1", serde_json::json!({"port": port})))
            .await
            .unwrap();
        assert_eq!(out["port"], port);
        assert!(out["latency_ms"].as_f64().unwrap() >= 0.0);
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = run(&ctx("127.0.0.1", serde_json::json!({"port": port})))
            .await
            .unwrap_err();
        assert!(
            matches!(e, OpError::Permanent { ref kind, .. } if *kind == ErrorClass::Refused),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn missing_port_is_a_params_error() {
        let e = run(&ctx("127.0.0.1", serde_json::json!({})))
            .await
            .unwrap_err();
        assert!(
            matches!(e, OpError::Permanent { ref kind, ref message } if *kind == ErrorClass::Params && message.contains("port")),
            "{e:?}"
        );
    }
}
