//! `GET /api/v1/sites`: each site, whether its leaf link is up (and since
//! when), and how many events wait at the site and tasks at the hub.

use super::AppState;
use axum::Json;
use axum::extract::State;

pub async fn list(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = &state.sites;
    let views = crate::sites::status::views(
        &state.bus.client,
        s.hub_domain.as_deref(),
        &s.config,
        &s.registry,
    )
    .await;
    Json(serde_json::json!({ "sites": views }))
}
