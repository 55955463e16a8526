//! Which tasks of a job are traced. One job is one trace; a job of 20 000
//! tasks would otherwise be 20 000 task spans in it, more than a trace UI
//! shows and, for tasks that do no device work, a fifth of the fleet's CPU
//! (the observability benchmark). So the coordinator traces a job's first
//! tasks and a steady share of the rest (`OUTPOST_TRACE_TASKS_FIRST`,
//! default 16; `OUTPOST_TRACE_TASKS_RATIO`, default 0.01), and every task
//! whose id is not a plain number after the job's (workflow steps, plans).
//! Only a traced task's message carries `traceparent`; a worker runs the
//! others [`untraced`], making no span for the trace exporter (their log
//! lines are unchanged). A failed task that was not traced still appears
//! in its job's trace: the coordinator records it from its result
//! ([`crate::record_failed_task`]). The choice hashes the task id, so
//! every coordinator makes the same one, before and after a restart.

use std::future::Future;
use std::sync::OnceLock;

tokio::task_local! {
    static UNTRACED: bool;
}

/// Spans and warnings made now are kept from the trace exporter.
pub fn untraced_now() -> bool {
    UNTRACED.try_with(|u| *u).unwrap_or(false)
}

/// Runs `f` with its spans kept from the trace exporter.
pub fn untraced<F: Future>(f: F) -> impl Future<Output = F::Output> {
    UNTRACED.scope(true, f)
}

/// Calls `f` (which makes a span, say) untraced.
pub fn untraced_sync<R>(f: impl FnOnce() -> R) -> R {
    UNTRACED.sync_scope(true, f)
}

/// The most verbose level the log output takes, set once at start
/// ([`crate::init`]); unset, every level counts as taken.
static LOG_LEVEL: OnceLock<tracing::level_filters::LevelFilter> = OnceLock::new();

pub(crate) fn set_log_level(max: tracing::level_filters::LevelFilter) {
    let _ = LOG_LEVEL.set(max);
}

/// Whether the log output takes spans and events at `level`. An untraced
/// task makes its span only then: a span refused by the exporter's filter
/// (a per-layer filter that decides per span) is still made by the
/// registry underneath, which costs a slot and an enter and exit at every
/// poll, for nothing when no log line shows it.
pub fn logs_take(level: tracing::Level) -> bool {
    LOG_LEVEL.get().is_none_or(|max| level <= *max)
}

/// The trace exporter's filter: refuses what is made [`untraced`]. Asked
/// afresh for every span and event (never cached per callsite, as a
/// `filter_fn` would be: the same span is traced in one task and not in
/// the next).
#[derive(Debug, Clone, Copy, Default)]
pub struct NotUntraced;

impl<S> tracing_subscriber::layer::Filter<S> for NotUntraced {
    fn enabled(
        &self,
        _: &tracing::Metadata<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        !untraced_now()
    }

    fn callsite_enabled(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
}

/// How many of a job's tasks are traced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskSampling {
    /// Tasks numbered below this are all traced.
    pub first: u64,
    /// The share of the others traced, from 0 to 1.
    pub ratio: f64,
}

impl Default for TaskSampling {
    fn default() -> Self {
        TaskSampling {
            first: 16,
            ratio: 0.01,
        }
    }
}

impl TaskSampling {
    /// From `OUTPOST_TRACE_TASKS_FIRST` and `OUTPOST_TRACE_TASKS_RATIO`;
    /// the error names the variable and what it holds.
    pub fn from_env() -> Result<TaskSampling, String> {
        let mut s = TaskSampling::default();
        if let Ok(v) = std::env::var("OUTPOST_TRACE_TASKS_FIRST") {
            s.first = v.trim().parse().map_err(|_| {
                format!("OUTPOST_TRACE_TASKS_FIRST={v:?} is not a whole number of tasks")
            })?;
        }
        if let Ok(v) = std::env::var("OUTPOST_TRACE_TASKS_RATIO") {
            s.ratio = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    format!("OUTPOST_TRACE_TASKS_RATIO={v:?} is not a number from 0 to 1")
                })?;
        }
        Ok(s)
    }

    /// Whether task `task_id` of job `job_id` is traced.
    pub fn traced(&self, job_id: &str, task_id: &str) -> bool {
        let number = task_id
            .strip_prefix(job_id)
            .and_then(|rest| rest.strip_prefix('-'))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok());
        let Some(n) = number else {
            return true;
        };
        if n < self.first {
            return true;
        }
        // FNV-1a: the same on every coordinator and every run.
        let hash = task_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % 1_000_000) < (self.ratio * 1_000_000.0) as u64
    }
}

/// The process's sampling, from the environment (the default when it does
/// not parse: binaries check [`TaskSampling::from_env`] at start).
pub fn configured() -> &'static TaskSampling {
    static S: OnceLock<TaskSampling> = OnceLock::new();
    S.get_or_init(|| TaskSampling::from_env().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_tasks_and_a_share_of_the_rest_are_traced() {
        let s = TaskSampling::default();
        let job = "01abc";
        for i in 0..16 {
            assert!(s.traced(job, &format!("{job}-{i:05}")));
        }
        let traced = (16..100_016)
            .filter(|i| s.traced(job, &format!("{job}-{i:05}")))
            .count();
        assert!((700..1300).contains(&traced), "{traced} of 100 000 traced");
        // The same answer every time.
        let again = (16..100_016)
            .filter(|i| s.traced(job, &format!("{job}-{i:05}")))
            .count();
        assert_eq!(traced, again);
        // Workflow steps and other ids are always traced.
        assert!(s.traced(job, &format!("{job}-h0003-flash")));
        assert!(s.traced(job, &format!("{job}-plan")));
        assert!(s.traced(job, "another-7"));
        let none = TaskSampling {
            first: 0,
            ratio: 0.0,
        };
        assert!(!none.traced(job, &format!("{job}-00001")));
        let all = TaskSampling {
            first: 0,
            ratio: 1.0,
        };
        assert!((0..1000).all(|i| all.traced(job, &format!("{job}-{i}"))));
    }

    #[tokio::test]
    async fn only_what_runs_untraced_is_untraced() {
        assert!(!untraced_now());
        assert!(untraced(async { untraced_now() }).await);
        assert!(untraced_sync(untraced_now));
        assert!(!untraced_now());
    }

    #[test]
    fn the_exporters_filter_sees_each_span_of_one_callsite_afresh() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tracing_subscriber::filter::{self, FilterExt};
        use tracing_subscriber::{Layer, layer::SubscriberExt};
        struct Count(Arc<AtomicUsize>);
        impl<S: tracing::Subscriber> Layer<S> for Count {
            fn on_new_span(
                &self,
                _: &tracing::span::Attributes<'_>,
                _: &tracing::span::Id,
                _: tracing_subscriber::layer::Context<'_, S>,
            ) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let seen = Arc::new(AtomicUsize::new(0));
        let subscriber = tracing_subscriber::registry().with(
            Count(seen.clone()).with_filter(
                filter::LevelFilter::INFO
                    .and(filter::filter_fn(|m| m.is_span()))
                    .and(NotUntraced),
            ),
        );
        tracing::subscriber::with_default(subscriber, || {
            let make = || drop(tracing::info_span!("task.run"));
            for i in 0..6 {
                if i % 2 == 0 {
                    make();
                } else {
                    untraced_sync(make);
                }
            }
        });
        assert_eq!(seen.load(Ordering::Relaxed), 3);
    }
}
