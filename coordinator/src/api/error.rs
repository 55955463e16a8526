//! API errors and how they are rendered: a status code and a JSON body
//! `{"error": "...", "field": "..."}` naming what is wrong.

use crate::engine::EngineError;
use crate::plan::PlanError;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use outpost_api::ErrorBody;

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
                ErrorBody {
                    error: e.to_string(),
                    field: Some(e.field),
                },
            ),
            ApiError::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorBody::new(format!(
                    "request body is larger than the {limit}-byte limit"
                )),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, ErrorBody::new(m)),
            ApiError::Unauthorized => {
                let body = ErrorBody::new("missing or wrong bearer token".into());
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer realm=\"outpost\"")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, ErrorBody::new(m)),
            ApiError::UnsupportedMediaType(m) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorBody::new(m))
            }
            ApiError::Timeout(m) => (StatusCode::REQUEST_TIMEOUT, ErrorBody::new(m)),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, ErrorBody::new(m)),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, ErrorBody::new(m)),
        };
        (status, Json(body)).into_response()
    }
}
