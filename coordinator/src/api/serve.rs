//! Serving the API over HTTP/1.1 with bounded resources: at most
//! `max_connections` connections (the ones beyond get a 503 and are
//! closed), a deadline for each request head that also ends idle
//! keep-alive connections (slowloris), and a drain on shutdown that waits
//! for open responses under a deadline.

use super::ApiConfig;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long open responses may take to finish once shutdown began.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Connection counters for `/metrics`.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    pub open: AtomicU64,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets
/// open requests finish (at most [`DRAIN_DEADLINE`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cfg: &ApiConfig,
    metrics: Arc<HttpMetrics>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(cfg.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout())
        .keep_alive(true);
    let conns = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of descriptors or a connection reset before accept:
                // back off a little instead of spinning.
                tracing::warn!(error = %e, "cannot accept an HTTP connection");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                limit = cfg.max_connections,
                "HTTP connection refused: connection limit reached"
            );
            refuse(tcp, cfg.max_connections);
            continue;
        };
        metrics.accepted.fetch_add(1, Ordering::Relaxed);
        // Small SSE writes must not wait for delayed ACKs (Nagle).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let stop = shutdown.clone();
        let metrics = metrics.clone();
        conns.spawn(async move {
            metrics.open.fetch_add(1, Ordering::Relaxed);
            tokio::pin!(conn);
            let done = tokio::select! {
                r = conn.as_mut() => Some(r),
                _ = stop.cancelled() => None,
            };
            let result = match done {
                Some(r) => r,
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "HTTP connection ended");
            }
            metrics.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    conns.close();
    if tokio::time::timeout(DRAIN_DEADLINE, conns.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = conns.len(),
            "HTTP connections still open after the drain deadline: dropped"
        );
    }
}

/// Answers 503 on a connection over the limit, without reading from it,
/// and closes it. The write cannot block: the socket is new and its send
/// buffer empty.
fn refuse(tcp: TcpStream, limit: usize) {
    let body = format!(
        "{{\"error\":\"the coordinator serves at most {limit} HTTP connections at once; retry later\"}}"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.try_write(answer.as_bytes());
    if let Ok(std) = tcp.into_std() {
        let _ = std.shutdown(std::net::Shutdown::Both);
    }
}
