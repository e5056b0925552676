//! One error type for the HTTP API. Internals are logged, never sent.

use app::store::StoreError;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
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
    #[error("a valid API key is needed (Authorization: Bearer …), or for reads a signed-in session")]
    Unauthorized,
    /// Two different API keys in one request: no rights are guessed at.
    #[error("two different API keys (Authorization and X-API-Key): send one")]
    TwoKeys,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    /// The request is fine, but the state of things does not allow it.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{} invalid field(s); nothing was stored", .0.len())]
    Invalid(Vec<FieldError>),
    /// The caller holds as many of something as it may.
    #[error("{0}")]
    TooManyRequests(String),
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
            Error::Unauthorized | Error::TwoKeys => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(err) if err.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(err) if err.is_bad_text() => StatusCode::BAD_REQUEST,
            Error::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            Error::Store(StoreError::Conflict(_) | StoreError::ChangedMeanwhile(_)) => StatusCode::CONFLICT,
            Error::Store(StoreError::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Store(StoreError::Database(_)) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            _ if status.is_server_error() => {
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    tracing::warn!(error = %self, "request refused: service unavailable");
                } else {
                    tracing::error!(error = ?self, "request failed");
                }
                status.canonical_reason().unwrap_or("error").to_lowercase()
            }
            Error::Store(err) if err.is_bad_text() => "text must not contain the NUL character (U+0000)".to_owned(),
            _ => self.to_string(),
        };
        let errors = match self {
            Error::Invalid(errors) => Some(errors),
            _ => None,
        };
        let body = ErrorBody { error: ErrorInfo { status: status.as_u16(), message }, errors };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// What a `503` asks the client to wait before trying again.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Bad query strings and paths answer in the one error shape, not axum's plain text.
impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::BadRequest(rejection.body_text())
    }
}

/// `axum::extract::Query`, rejecting bad input as an [`Error`].
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

/// `axum::extract::Path`, rejecting bad input as an [`Error`].
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

/// A panic in a handler, caught by the server's outermost layer: logged, and
/// answered as a `500` in the one error shape instead of a dropped connection.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    Error::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}

/// A dashboard call (server function) whose arguments could not be read
/// answers 400, where leptos answers every error 500: the arguments are the
/// caller's fault. Errors of the functions themselves carry their own
/// status (`app::api::ssr::refusal`).
pub async fn bad_server_fn_arguments(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    /// How leptos writes an error reading a call's arguments.
    const ARGUMENT_ERRORS: [&[u8]; 3] = [b"Args|", b"Deserialization|", b"MissingArg|"];
    /// Far above any such message.
    const MAX_ERROR_BYTES: usize = 64 * 1024;
    let response = next.run(request).await;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR || !response.headers().contains_key("serverfnerror") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BYTES).await else {
        return Error::Internal(anyhow::anyhow!("an unreadable server function error")).into_response();
    };
    if ARGUMENT_ERRORS.iter().any(|prefix| bytes.starts_with(prefix)) {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
