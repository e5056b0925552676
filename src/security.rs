//! Defence for cookie-authenticated requests: state-changing requests from
//! other sites are refused. (Password guessing: `auth::throttle`.)

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths authenticated by API key only (no cookies), so cross-site rules do not apply.
const KEY_ONLY_PATHS: &[&str] = &["/api/v1/events"];

/// Refuses a state-changing request that a browser says comes from another
/// site (`Sec-Fetch-Site`), or whose `Origin` is not this host. Requests
/// without either header do not come from a browser and carry no ambient
/// credentials worth forging.
pub async fn reject_cross_site(request: Request, next: Next) -> Response {
    let safe_method = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe_method || KEY_ONLY_PATHS.contains(&request.uri().path()) || is_same_site(&request) {
        return next.run(request).await;
    }
    tracing::warn!(path = %request.uri().path(), "cross-site request refused");
    (StatusCode::FORBIDDEN, "cross-site request refused").into_response()
}

fn is_same_site(request: &Request) -> bool {
    let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match (header(header::ORIGIN.as_str()), header(header::HOST.as_str())) {
        (Some(origin), Some(host)) => origin.split_once("://").is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}
