//! `diag.sleep`: a task that needs no device. It sleeps `ms` milliseconds
//! (stopping early when cancelled), can fail on purpose (`fail`), and can fail
//! retryably on its first `transient_failures` attempts: the pipeline's test
//! and benchmark load.

use super::{OpCtx, OpError};
use outpost_kinds::ErrorClass;
use std::time::{Duration, Instant};

use outpost_kinds::diag::SleepParams as Params;

pub async fn run(ctx: &OpCtx) -> Result<serde_json::Value, OpError> {
    let p: Params = ctx.params()?;
    if ctx.attempt <= p.transient_failures {
        return Err(OpError::retryable(
            ErrorClass::Transient,
            format!(
                "simulated transient failure {} of {}",
                ctx.attempt, p.transient_failures
            ),
        ));
    }
    let started = Instant::now();
    if p.ms > 0 {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(p.ms)) => {}
            _ = ctx.cancel.cancelled() => return Err(OpError::Cancelled),
        }
    }
    if p.fail {
        return Err(OpError::permanent(
            ErrorClass::Requested,
            "failed on purpose (params.fail)",
        ));
    }
    Ok(serde_json::json!({
        "slept_ms": started.elapsed().as_millis() as u64,
        "attempt": ctx.attempt,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    fn ctx(params: serde_json::Value, attempt: u32) -> (OpCtx, CancellationToken) {
        let (tx, _rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        (
            OpCtx::detached("", params, attempt, cancel.clone(), tx),
            cancel,
        )
    }

    #[tokio::test]
    async fn transient_failures_are_retryable_until_the_attempt_passes_them() {
        let p = serde_json::json!({"ms": 0, "transient_failures": 2});
        let (c1, _) = ctx(p.clone(), 1);
        assert!(matches!(run(&c1).await, Err(OpError::Retryable { .. })));
        let (c3, _) = ctx(p, 3);
        assert_eq!(run(&c3).await.unwrap()["attempt"], 3);
    }

    #[tokio::test]
    async fn fail_is_permanent_and_bad_params_are_named() {
        let (c, _) = ctx(serde_json::json!({"fail": true}), 1);
        assert!(
            matches!(run(&c).await, Err(OpError::Permanent { kind, .. }) if kind == ErrorClass::Requested)
        );
        let (c, _) = ctx(serde_json::json!({"ms": "soon"}), 1);
        match run(&c).await {
            Err(OpError::Permanent { kind, message }) => {
                assert_eq!(kind, ErrorClass::Params);
                assert!(message.contains("invalid type"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn cancel_stops_the_sleep() {
        let (c, cancel) = ctx(serde_json::json!({"ms": 3_600_000}), 1);
        cancel.cancel();
        assert_eq!(run(&c).await, Err(OpError::Cancelled));
    }
}
