//! API errors and how they are rendered: a status code and a JSON body
//! `{"error": "...", "field": "..."}` naming what is wrong.

use crate::engine::EngineError;
use crate::plan::PlanError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub enum ApiError {
    Invalid(PlanError),
    TooLarge(usize),
    BadRequest(String),
    Unauthorized,
    Forbidden(String),
    UnsupportedMediaType(String),
    Timeout(String),
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
            ApiError::Unauthorized => {
                let body = serde_json::json!({ "error": "missing or wrong bearer token" });
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer realm=\"outpost\"")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, serde_json::json!({ "error": m })),
            ApiError::UnsupportedMediaType(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                serde_json::json!({ "error": m }),
            ),
            ApiError::Timeout(m) => (
                StatusCode::REQUEST_TIMEOUT,
                serde_json::json!({ "error": m }),
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
