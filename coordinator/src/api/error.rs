//! API errors and how they are rendered: a status code and a JSON body
//! `{"error": "...", "field": "..."}` naming what is wrong.

use crate::engine::EngineError;
use crate::plan::PlanError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum ApiError {
    Invalid(PlanError),
    TooLarge(usize),
    BadRequest(String),
    Unauthorized,
    NotFound(String),
    Unavailable(String),
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(id) => ApiError::NotFound(format!("no job {id:?}")),
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Invalid(e) => (
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": e.to_string(), "field": e.field }),
            ),
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::json!({
                    "error": format!("request body is larger than the {limit}-byte limit")
                }),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, serde_json::json!({ "error": m })),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({ "error": "missing or wrong bearer token" }),
            ),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, serde_json::json!({ "error": m })),
            ApiError::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "error": m }),
            ),
        };
        (status, Json(body)).into_response()
    }
}
