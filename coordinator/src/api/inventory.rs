//! `GET /api/v1/inventory/redfish`: the iDRACs discoveries found, with
//! their identity, zone and pinned certificate fingerprint.

use super::{ApiError, AppState};
use axum::Json;
use axum::extract::State;
use serde_json::Value;

pub async fn redfish(State(state): State<AppState>) -> Result<Json<Vec<Value>>, ApiError> {
    let store = state
        .bus
        .js
        .get_key_value(outpost_proto::names::INVENTORY_BUCKET)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    crate::redfish::inventory::list(&store)
        .await
        .map(Json)
        .map_err(ApiError::Unavailable)
}
