//! One error type for the HTTP API. Internals are logged, never sent.

use app::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// One problem with one item of an ingest batch.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FieldError {
    pub index: usize,
    pub field: String,
    pub message: String,
}

/// The body of every error answer of the HTTP API.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorInfo,
    /// For 422: one entry per bad field of the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorInfo {
    pub status: u16,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{} invalid field(s); nothing was stored", .0.len())]
    Invalid(Vec<FieldError>),
    #[error("service unavailable")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            Error::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            Error::Store(StoreError::Database(_)) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
            status.canonical_reason().unwrap_or("error").to_lowercase()
        } else {
            self.to_string()
        };
        let errors = match self {
            Error::Invalid(errors) => Some(errors),
            _ => None,
        };
        let body = ErrorBody { error: ErrorInfo { status: status.as_u16(), message }, errors };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
