//! The coordinator's front door while it may or may not lead: one router
//! that hands every request to the full API once this coordinator holds
//! the leader lease, and until then answers `/healthz` and `/metrics`
//! itself (role `standby`, who leads) and forwards everything else to the
//! leader's API, after the same Host, origin and token checks the leader
//! makes. A forwarded request carries a marker, so two coordinators that
//! both believe the other leads answer 503 instead of forwarding in a loop.

use crate::api::guard::{self, HostPolicy};
use crate::api::{ApiError, MAX_BODY};
use crate::leader::{self, Holder};
use async_nats::jetstream::kv;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt;

/// The header a forwarding standby adds (its coordinator id).
pub const FORWARDED_BY: &str = "x-outpost-forwarded-by";

/// How long a standby waits to connect to the leader.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a standby waits for the leader's response head.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// What the front door needs.
pub struct Front {
    /// The full API, set once this coordinator leads.
    active: OnceLock<Router>,
    leases: kv::Store,
    me: Holder,
    token: Option<Arc<str>>,
    hosts: HostPolicy,
    client: reqwest::Client,
}

impl Front {
    pub fn new(
        leases: kv::Store,
        me: Holder,
        token: Option<Arc<str>>,
        hosts: HostPolicy,
    ) -> Result<Front, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the forwarding client: {e}"))?;
        Ok(Front {
            active: OnceLock::new(),
            leases,
            me,
            token,
            hosts,
            client,
        })
    }

    /// From now on every request goes to `api`.
    pub fn lead(&self, api: Router) {
        let _ = self.active.set(api);
    }
}

/// The router served for the whole life of the process.
pub fn router(front: Arc<Front>) -> Router {
    Router::new().fallback(handle).with_state(front)
}

async fn handle(State(front): State<Arc<Front>>, req: Request) -> Response {
    if let Some(api) = front.active.get() {
        return match api.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
    }
    match req.uri().path() {
        "/healthz" => health(&front).await,
        "/metrics" => metrics(),
        _ => match forward(&front, req).await {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
    }
}

async fn health(front: &Front) -> Response {
    let leader = leader::current(&front.leases).await;
    let (code, leader) = match leader {
        Ok(h) => (StatusCode::OK, serde_json::json!(h)),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "error": e.to_string() }),
        ),
    };
    (
        code,
        axum::Json(serde_json::json!({
            "status": if code.is_success() { "ok" } else { "leader lease unreadable" },
            "role": "standby",
            "id": front.me.id,
            "leader": leader,
        })),
    )
        .into_response()
}

fn metrics() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        "# HELP outpost_coordinator_leader 1 while this coordinator holds the leader lease.\n\
         # TYPE outpost_coordinator_leader gauge\n\
         outpost_coordinator_leader 0\n",
    )
        .into_response()
}

/// Headers that belong to one connection, not to the request.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

async fn forward(front: &Front, req: Request) -> Result<Response, ApiError> {
    // The checks the leader would make, made here against this
    // coordinator's own address: the leader then sees a same-site
    // request for its own host.
    if front.hosts.enforce {
        guard::check_headers(&front.hosts, req.headers())?;
    }
    if let Some(token) = &front.token
        && !crate::api::auth_ok(req.headers(), token)
    {
        return Err(ApiError::Unauthorized);
    }
    if req.headers().contains_key(FORWARDED_BY) {
        return Err(ApiError::Unavailable(
            "the leadership is changing hands; try again shortly".into(),
        ));
    }
    let holder = leader::current(&front.leases)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let Some(holder) = holder.filter(|h| h.id != front.me.id) else {
        return Err(ApiError::Unavailable(
            "no coordinator leads at the moment; try again shortly".into(),
        ));
    };
    let base = reqwest::Url::parse(&holder.api)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            ApiError::Unavailable(format!(
                "the leader {} advertises no usable API address",
                holder.id
            ))
        })?;
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = base
        .join(path)
        .map_err(|_| ApiError::BadRequest("the request path is not a URL path".into()))?;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge(MAX_BODY))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if hop_by_hop(name)
            || name == header::HOST
            || name == header::ORIGIN
            || name == "sec-fetch-site"
            || name == header::CONTENT_LENGTH
        {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if let Ok(v) = HeaderValue::from_str(&front.me.id) {
        headers.insert(FORWARDED_BY, v);
    }
    let sent = front
        .client
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send();
    let upstream = tokio::time::timeout(RESPONSE_TIMEOUT, sent)
        .await
        .map_err(|_| {
            ApiError::Unavailable(format!("the leader {} did not answer in time", holder.id))
        })?
        .map_err(|e| {
            ApiError::Unavailable(format!(
                "the leader {} at {} did not answer: {}",
                holder.id,
                holder.api,
                e.without_url()
            ))
        })?;
    let mut out = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    out.body(Body::from_stream(upstream.bytes_stream()))
        .map_err(|e| ApiError::Unavailable(format!("cannot relay the leader's answer: {e}")))
}
