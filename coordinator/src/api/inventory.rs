//! `GET /api/v1/inventory/redfish`: the iDRACs discoveries found, with
//! their identity, zone and pinned certificate fingerprint.

use super::{ApiError, AppState};
use crate::redfish::pin_stores::PinStores;
use async_nats::jetstream::kv;
use axum::Json;
use axum::extract::State;
use serde_json::Value;

/// The inventory bucket and the zones' pins (a site's zones' at the site).
async fn buckets(state: &AppState) -> Result<(kv::Store, PinStores), ApiError> {
    let open = |name: &'static str| async move {
        state
            .bus
            .js
            .get_key_value(name)
            .await
            .map_err(|e| ApiError::Unavailable(format!("{name}: {e}")))
    };
    let pins = PinStores::new(
        state.bus.client.clone(),
        open(outpost_proto::layout::PINS_BUCKET).await?,
        state.sites.routes.clone(),
    );
    Ok((open(outpost_proto::layout::INVENTORY_BUCKET).await?, pins))
}

pub async fn redfish(State(state): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    let (store, pins) = buckets(&state).await?;
    crate::redfish::inventory::list(&store, &pins)
        .await
        .map(Json)
        .map_err(ApiError::Unavailable)
}

/// Which iDRAC port a pin request is about (default 443).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinQuery {
    #[serde(default)]
    port: Option<u16>,
}

/// `PUT /api/v1/inventory/redfish/{address}/pin?port=` with
/// `{"sha256": "…"}`: pins that certificate; `DELETE` forgets the pin, so
/// the next connection pins what it sees.
pub async fn set_pin(
    State(state): State<AppState>,
    axum::extract::Path(address): axum::extract::Path<String>,
    query: Result<axum::extract::Query<PinQuery>, axum::extract::rejection::QueryRejection>,
    method: axum::http::Method,
    body: axum::body::Bytes,
) -> Result<Json<outpost_api::pin::PinAnswer>, ApiError> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let port = q.port.unwrap_or(443);
    let sha = if method == axum::http::Method::DELETE {
        None
    } else {
        let b: outpost_api::pin::PinRequest = serde_json::from_slice(&body).map_err(|e| {
            ApiError::BadRequest(format!(
                "pin body: {e}; expected {{\"sha256\": \"<64 hex digits>\"}}"
            ))
        })?;
        Some(b.sha256)
    };
    let (store, pins) = buckets(&state).await?;
    use crate::redfish::inventory::{PinError, set_pin};
    let zone = address
        .parse::<std::net::IpAddr>()
        .ok()
        .and_then(|ip| state.zones.place_ip(None, ip).ok());
    match set_pin(
        &store,
        &pins,
        &address,
        port,
        zone.as_deref(),
        sha.as_deref(),
    )
    .await
    {
        Ok((old, new)) => {
            tracing::warn!(address = %address, port, old = ?old, new = ?new, "iDRAC certificate pin changed by an operator");
            Ok(Json(outpost_api::pin::PinAnswer {
                address,
                port,
                previous_sha256: old,
                cert_sha256: new,
            }))
        }
        Err(e @ PinError::NotFound { .. }) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ PinError::BadFingerprint(_)) => Err(ApiError::BadRequest(e.to_string())),
        Err(PinError::Unavailable(m)) => Err(ApiError::Unavailable(m)),
    }
}
