//! Names of the NATS message headers Outpost reads and writes.

/// JetStream de-duplication id.
pub const MSG_ID: &str = "Nats-Msg-Id";
/// W3C trace context, carried so one trace spans API → dispatch → worker.
pub const TRACEPARENT: &str = "traceparent";
/// W3C trace state, carried beside `traceparent`.
pub const TRACESTATE: &str = "tracestate";
