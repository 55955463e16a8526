//! Tracing set-up shared by every Outpost binary: human-readable logs on
//! stderr, OpenTelemetry spans exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context carried in
//! NATS and HTTP headers so one trace spans API → dispatch → worker.
//!
//! It also pins the process-wide rustls crypto provider (ring, the one
//! async-nats uses), so the first TLS handshake cannot panic on a missing
//! or ambiguous provider.

pub mod finished;
pub mod metrics;
pub mod propagation;
pub mod sampling;

pub use finished::{FailedTask, record_failed_task};
pub use propagation::{
    context_from_nats, context_from_pairs, inject_nats, record_trace_id, set_parent_from_nats,
    set_parent_from_pairs, trace_id_of, traceparent_of,
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::filter::{self, FilterExt};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Keeps the tracer provider alive; flushes pending spans when dropped.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs logging and tracing for a binary named `service`.
///
/// Logs go to stderr, filtered by `RUST_LOG` (default `info`). Spans are
/// filtered apart from logs, by `OUTPOST_TRACE_FILTER` (default `info`), so
/// quieter logs do not cut traces; they always get real trace ids (so
/// `traceparent` propagates even without an exporter) and are exported
/// only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. `OUTPOST_TRACE_FILTER=off`
/// turns spans off (and with them the trace context a job carries).
pub fn init(service: &'static str) -> Telemetry {
    install_crypto_provider();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );

    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder_empty().with_service_name(service).build());
    let mut export_error = None;
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(e) => export_error = Some(e.to_string()),
        }
    }
    let provider = builder.build();
    let tracer = provider.tracer(service);
    let spans_off = std::env::var("OUTPOST_TRACE_FILTER").is_ok_and(|f| f.trim() == "off");
    if !spans_off {
        finished::set_tracer(tracer.clone());
    }

    let logs = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    sampling::set_log_level(
        logs.max_level_hint()
            .unwrap_or(tracing::level_filters::LevelFilter::TRACE),
    );
    let spans =
        EnvFilter::try_from_env("OUTPOST_TRACE_FILTER").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_filter(logs),
        )
        .with(
            // Cheap spans: no busy/idle timing and no OpenTelemetry context
            // made current at every poll (Outpost reads a span's context
            // explicitly, `propagation`), no source location or thread
            // attributes; log events become span events only from WARN up
            // (a task's "succeeded" line is its span's end).
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_tracked_inactivity(false)
                .with_context_activation(false)
                .with_location(false)
                .with_threads(false)
                .with_filter(
                    spans
                        .and(filter::filter_fn(|m| {
                            m.is_span() || *m.level() <= tracing::Level::WARN
                        }))
                        // A task the coordinator did not sample makes no span.
                        .and(sampling::NotUntraced),
                ),
        )
        .try_init();
    if let Some(e) = export_error {
        tracing::warn!(error = %e, "OTLP exporter could not be built; spans are not exported");
    }
    Telemetry { provider }
}

/// Installs ring as the process-wide rustls provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
