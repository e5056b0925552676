//! Defence for cookie-authenticated requests: state-changing requests from
//! other sites are refused, and no other site may frame a page. (Password
//! guessing: `auth::throttle`.)

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths authenticated by API key only (no cookies), so cross-site rules do not apply.
const KEY_ONLY_PATHS: &[&str] = &["/api/v1/events"];

/// Refuses a state-changing request that a browser says comes from another
/// site (`Sec-Fetch-Site`), or whose `Origin` (or, without one, `Referer`)
/// is not this host. Browsers send `Origin` with every POST (`null` when
/// the page hides where it is: refused), so a request with none of them
/// comes from a program, which holds no victim's cookie to forge with.
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
    let from = header(header::ORIGIN.as_str()).or_else(|| header(header::REFERER.as_str()));
    match (from, header(header::HOST.as_str())) {
        (Some(from), Some(host)) => authority_of(from).is_some_and(|from| from.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// `host[:port]` of an origin or an address (`http://host:port/path?q`).
fn authority_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    rest.split(['/', '?', '#']).next()
}

/// Headers every response carries, unless its handler set its own: no other
/// site may show a page in a frame (a signed-in admin tricked into clicking
/// a hidden "revoke" or "remove" button), and no browser reads a response
/// as another type than it says.
const PROTECTIVE_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("frame-ancestors 'none'")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    // Addresses hold searches (an email, an invoice number): not for other sites.
    (header::REFERRER_POLICY, HeaderValue::from_static("same-origin")),
];

pub async fn protective_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in PROTECTIVE_HEADERS {
        headers.entry(name).or_insert(value);
    }
    response
}
