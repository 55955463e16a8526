//! `GET /api/v1/notifications`: the delivery records, newest first, each
//! with every attempt and what the receiver answered;
//! `POST /api/v1/notifications/test` with `{"channel": NAME}` sends a test
//! message to one channel and answers what its receiver said.

use super::{ApiError, AppState};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<crate::notify::deliver::Delivery>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let store = state
        .bus
        .js
        .get_key_value(outpost_proto::layout::NOTIFY_BUCKET)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    crate::notify::deliver::list(&store, q.limit.unwrap_or(100).clamp(1, 1000))
        .await
        .map(Json)
        .map_err(ApiError::Unavailable)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    channel: String,
}

pub async fn test(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let b: TestBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "test body: {e}; expected {{\"channel\": \"NAME\"}}"
        ))
    })?;
    let ch = state
        .notify
        .iter()
        .find(|c| c.cfg.name == b.channel)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no channel {:?} (configured: {})",
                b.channel,
                state
                    .notify
                    .iter()
                    .map(|c| c.cfg.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
    let msg = crate::notify::message::Message::test(&ch.cfg.name);
    let delivery = format!("{}.test.{}", ch.cfg.name, uuid::Uuid::now_v7().simple());
    let answer = match crate::notify::send::send(ch, &msg, &delivery).await {
        Ok(a) => json!({"channel": ch.cfg.name, "kind": ch.cfg.kind.as_str(), "delivered": true,
                        "code": a.code, "answer": a.text}),
        Err(e) => json!({"channel": ch.cfg.name, "kind": ch.cfg.kind.as_str(), "delivered": false,
                         "error": e.to_string()}),
    };
    Ok(Json(answer))
}
