//! One way to keep a subscription alive: run it, and when it fails (a NATS
//! restart, a consumer deleted under it) log why and run it again after a
//! growing delay, until it ends of itself or shutdown.

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs `attempt` until it returns `Ok` or `stop` is cancelled; `what`
/// names it in the log.
pub async fn resubscribing<F, Fut>(what: &'static str, stop: &CancellationToken, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut delay = Duration::from_millis(100);
    while !stop.is_cancelled() {
        match attempt().await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(subscription = what, error = %e, "subscription interrupted; resubscribing");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
}
