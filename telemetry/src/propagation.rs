//! W3C trace context (`traceparent`, `tracestate`) in and out of NATS
//! message headers and plain header lists.

use opentelemetry::propagation::{Extractor, Injector};
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct NatsInjector<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsExtractor<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

struct PairsExtractor<'a>(&'a [(String, String)]);

impl Extractor for PairsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Writes the trace context of `span` into NATS headers.
pub fn inject_nats(span: &tracing::Span, headers: &mut async_nats::HeaderMap) {
    let cx = span.context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut NatsInjector(headers))
    });
}

/// Reads a trace context from NATS headers (an empty context when absent).
pub fn context_from_nats(headers: Option<&async_nats::HeaderMap>) -> opentelemetry::Context {
    match headers {
        Some(h) => opentelemetry::global::get_text_map_propagator(|p| p.extract(&NatsExtractor(h))),
        None => opentelemetry::Context::new(),
    }
}

/// Reads a trace context from `(name, value)` pairs, e.g. HTTP headers.
pub fn context_from_pairs(pairs: &[(String, String)]) -> opentelemetry::Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&PairsExtractor(pairs)))
}

/// The `traceparent` value of `span`, if it has a valid trace context.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let mut h = async_nats::HeaderMap::new();
    inject_nats(span, &mut h);
    h.get("traceparent").map(|v| v.as_str().to_string())
}

/// The trace id of `span` (32 hex digits), if it has a valid trace context.
pub fn trace_id_of(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// Records the trace id of `span` in its `trace_id` field (declared
/// `trace_id = tracing::field::Empty`), so every log line inside it names
/// the trace. Call it once the span's parent is set.
pub fn record_trace_id(span: &tracing::Span) {
    if let Some(id) = trace_id_of(span) {
        span.record("trace_id", tracing::field::display(&id));
    }
}

/// Makes the trace context found in `pairs` the parent of `span`.
pub fn set_parent_from_pairs(span: &tracing::Span, pairs: &[(String, String)]) {
    let _ = span.set_parent(context_from_pairs(pairs));
}

/// Makes the trace context found in NATS `headers` the parent of `span`.
pub fn set_parent_from_nats(span: &tracing::Span, headers: Option<&async_nats::HeaderMap>) {
    let _ = span.set_parent(context_from_nats(headers));
}
