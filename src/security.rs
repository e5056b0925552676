//! Defences for cookie-authenticated requests: state-changing requests from
//! other sites are refused, and password guessing is throttled.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// Counts failed sign-ins per account and per address in a sliding window.
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    window: Duration,
    per_account: usize,
    per_address: usize,
}

/// Tracked keys beyond which old entries are swept.
const MAX_TRACKED: usize = 100_000;

impl Default for LoginThrottle {
    /// 5 failures per account and 20 per address in 15 minutes.
    fn default() -> Self {
        LoginThrottle::new(Duration::from_secs(15 * 60), 5, 20)
    }
}

impl LoginThrottle {
    pub fn new(window: Duration, per_account: usize, per_address: usize) -> Self {
        LoginThrottle { failures: Mutex::new(HashMap::new()), window, per_account, per_address }
    }

    fn keys(account: &str, address: &str) -> [String; 2] {
        [format!("account:{}", account.trim().to_lowercase()), format!("address:{address}")]
    }

    /// Whether another attempt for this account from this address must wait.
    pub fn is_blocked(&self, account: &str, address: &str) -> bool {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle lock");
        let [account_key, address_key] = Self::keys(account, address);
        let recent = |key: &str, failures: &mut HashMap<String, VecDeque<Instant>>| {
            failures.get_mut(key).map_or(0, |times| {
                times.retain(|t| now.duration_since(*t) < self.window);
                times.len()
            })
        };
        recent(&account_key, &mut failures) >= self.per_account || recent(&address_key, &mut failures) >= self.per_address
    }

    pub fn record_failure(&self, account: &str, address: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("throttle lock");
        if failures.len() > MAX_TRACKED {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        for key in Self::keys(account, address) {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// A successful sign-in clears the account's count (not the address's).
    pub fn record_success(&self, account: &str, address: &str) {
        let [account_key, _] = Self::keys(account, address);
        self.failures.lock().expect("throttle lock").remove(&account_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_and_addresses_are_limited_separately() {
        let throttle = LoginThrottle::new(Duration::from_secs(60), 2, 3);
        throttle.record_failure("a@x", "1.1.1.1");
        assert!(!throttle.is_blocked("a@x", "1.1.1.1"));
        throttle.record_failure("A@x ", "2.2.2.2");
        assert!(throttle.is_blocked("a@x", "9.9.9.9"), "the account is limited from any address");
        assert!(!throttle.is_blocked("b@x", "1.1.1.1"));
        throttle.record_failure("c@x", "1.1.1.1");
        throttle.record_failure("d@x", "1.1.1.1");
        assert!(throttle.is_blocked("e@x", "1.1.1.1"), "the address is limited for any account");
        throttle.record_success("a@x", "2.2.2.2");
        assert!(!throttle.is_blocked("a@x", "2.2.2.2"));
    }

    #[test]
    fn failures_expire() {
        let throttle = LoginThrottle::new(Duration::from_millis(20), 1, 10);
        throttle.record_failure("a@x", "1.1.1.1");
        assert!(throttle.is_blocked("a@x", "1.1.1.1"));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!throttle.is_blocked("a@x", "1.1.1.1"));
    }
}
