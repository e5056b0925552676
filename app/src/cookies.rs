//! The dashboard's small cookies besides the session's: how one is read
//! from a request and written to a response, in one place.

use axum::http::header::{HeaderValue, COOKIE};
use axum::http::HeaderMap;

/// The value of cookie `name` in `headers`, if set and not empty.
pub fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, value)| *found == name && !value.is_empty())
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value: `value` for `max_age` seconds under `path`, kept
/// from scripts; an empty `value` with `max_age` 0 removes the cookie.
/// `value` must be cookie-safe (hex, or percent-encoded).
pub fn set(name: &str, value: &str, path: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_by_its_whole_name() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("xtrail=1; trail= ; trail_notice=ab.cd"));
        headers.append(COOKIE, HeaderValue::from_static("other=2"));
        assert_eq!(read(&headers, "trail_notice"), Some("ab.cd"));
        assert_eq!(read(&headers, "other"), Some("2"));
        assert_eq!(read(&headers, "trail"), None, "an empty value is no cookie");
        assert_eq!(read(&headers, "rail"), None);
    }

    #[test]
    fn a_cookie_is_written_with_its_limits() {
        let value = set("n", "v", "/login", 60, true).unwrap();
        assert_eq!(value, "n=v; Path=/login; Max-Age=60; HttpOnly; SameSite=Lax; Secure");
        assert_eq!(set("n", "v\n", "/", 0, false), None);
    }
}
