//! Limits on password guessing, after the OWASP authentication cheat sheet.
//!
//! Three counters of failed sign-ins, each a sliding window:
//! - per account and address: 5 in 15 minutes. The guesser is stopped, and
//!   nobody else is affected.
//! - per address: 50 in 15 minutes, over any accounts (one address trying many
//!   accounts). Behind a reverse proxy this is the client's address only when
//!   the proxy is trusted (`TRAIL_TRUSTED_PROXIES`), so one user cannot lock out
//!   everyone behind it.
//! - per account: 100 in an hour, from every address together (a guesser with
//!   many addresses). It does not apply to an address that signed in to this
//!   account successfully in the last 30 days, so failures from elsewhere never
//!   lock out a person who has the password and has used it from there before.
//!
//! An attempt is counted when it starts, before its password is hashed, and
//! taken back when the password proves right: a burst of concurrent guesses
//! gets no more checks than the limit, however many are queued.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// One sliding-window limit.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub failures: usize,
    pub window: Duration,
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub per_account_and_address: Limit,
    pub per_address: Limit,
    pub per_account: Limit,
    /// How long a successful sign-in from an address exempts it from the
    /// account-wide limit.
    pub known_address_for: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Limits {
            per_account_and_address: Limit { failures: 5, window: minutes(15) },
            per_address: Limit { failures: 50, window: minutes(15) },
            per_account: Limit { failures: 100, window: minutes(60) },
            known_address_for: minutes(30 * 24 * 60),
        }
    }
}

/// Tracked keys beyond which expired entries are swept.
const MAX_TRACKED: usize = 100_000;

#[derive(Default)]
struct Counts {
    failures: HashMap<String, VecDeque<Instant>>,
    /// (account, address) pairs that signed in, and when last.
    known: HashMap<String, Instant>,
}

pub struct LoginThrottle {
    counts: Mutex<Counts>,
    limits: Limits,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(Limits::default())
    }
}

/// A sign-in attempt under way, already counted as a failure.
#[must_use = "report a right password with `LoginThrottle::succeeded`"]
pub struct Attempt {
    pair: String,
    address: String,
    account: String,
}

/// The attempt was refused before any password check.
#[derive(Debug, PartialEq)]
pub struct Throttled;

impl LoginThrottle {
    pub fn new(limits: Limits) -> Self {
        LoginThrottle { counts: Mutex::new(Counts::default()), limits }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent whatever panicked while holding them.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an attempt for `account` from `address`, or refuses it if a limit is reached.
    pub fn begin(&self, account: &str, address: IpAddr) -> Result<Attempt, Throttled> {
        let account = format!("account:{}", account.trim().to_lowercase());
        let address = format!("address:{}", address_key(address));
        let pair = format!("{account}|{address}");
        let now = Instant::now();
        let mut counts = self.counts();
        if counts.failures.len() > MAX_TRACKED {
            let longest = self.longest_window();
            counts.failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < longest));
            let known_for = self.limits.known_address_for;
            counts.known.retain(|_, at| now.duration_since(*at) < known_for);
        }
        let known = counts.known.get(&pair).is_some_and(|at| now.duration_since(*at) < self.limits.known_address_for);
        let mut checks = vec![(&pair, self.limits.per_account_and_address), (&address, self.limits.per_address)];
        if !known {
            checks.push((&account, self.limits.per_account));
        }
        for (key, limit) in checks {
            if recent(&mut counts.failures, key, limit.window, now) >= limit.failures {
                return Err(Throttled);
            }
        }
        for key in [&pair, &address, &account] {
            counts.failures.entry(key.clone()).or_default().push_back(now);
        }
        Ok(Attempt { pair, address, account })
    }

    /// The attempt's password was right: it was no failure, the pair's earlier
    /// failures are forgiven, and the address is known for this account.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut counts = self.counts();
        for key in [&attempt.address, &attempt.account] {
            if let Some(times) = counts.failures.get_mut(key) {
                times.pop_back();
            }
        }
        counts.failures.remove(&attempt.pair);
        counts.known.insert(attempt.pair, Instant::now());
    }

    fn longest_window(&self) -> Duration {
        let l = &self.limits;
        l.per_account_and_address.window.max(l.per_address.window).max(l.per_account.window)
    }
}

/// Failures of `key` within `window`, dropping older ones.
fn recent(failures: &mut HashMap<String, VecDeque<Instant>>, key: &str, window: Duration, now: Instant) -> usize {
    failures.get_mut(key).map_or(0, |times| {
        while times.front().is_some_and(|t| now.duration_since(*t) >= window) {
            times.pop_front();
        }
        times.len()
    })
}

/// An IPv6 client controls a whole /64, so that is what one address is.
fn address_key(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limits(pair: usize, address: usize, account: usize, window: Duration) -> Limits {
        Limits {
            per_account_and_address: Limit { failures: pair, window },
            per_address: Limit { failures: address, window },
            per_account: Limit { failures: account, window },
            known_address_for: Duration::from_secs(3600),
        }
    }

    #[test]
    fn an_attempt_counts_before_its_outcome_is_known() {
        let throttle = LoginThrottle::new(limits(3, 100, 100, Duration::from_secs(60)));
        // Three attempts in flight at once use up the pair's limit.
        let _pending: Vec<Attempt> = (0..3).map(|_| throttle.begin("a@x", ip("1.1.1.1")).unwrap()).collect();
        assert_eq!(throttle.begin("a@x", ip("1.1.1.1")).err(), Some(Throttled));
        assert!(throttle.begin("A@X ", ip("2.2.2.2")).is_ok(), "another address is not affected");
    }

    #[test]
    fn a_right_password_takes_its_attempt_back_and_forgives_the_pair() {
        let throttle = LoginThrottle::new(limits(3, 100, 100, Duration::from_secs(60)));
        let _ = throttle.begin("a@x", ip("1.1.1.1")).unwrap();
        let _ = throttle.begin("a@x", ip("1.1.1.1")).unwrap();
        throttle.succeeded(throttle.begin("a@x", ip("1.1.1.1")).unwrap());
        for _ in 0..3 {
            let _ = throttle.begin("a@x", ip("1.1.1.1")).unwrap();
        }
        assert!(throttle.begin("a@x", ip("1.1.1.1")).is_err());
    }

    #[test]
    fn failures_from_elsewhere_spare_an_address_that_signed_in_before() {
        let throttle = LoginThrottle::new(limits(100, 100, 5, Duration::from_secs(60)));
        throttle.succeeded(throttle.begin("a@x", ip("1.1.1.1")).unwrap());
        for n in 0..5 {
            let _ = throttle.begin("a@x", format!("10.0.0.{n}").parse().unwrap()).unwrap();
        }
        assert!(throttle.begin("a@x", ip("9.9.9.9")).is_err(), "the account-wide limit holds for new addresses");
        assert!(throttle.begin("a@x", ip("1.1.1.1")).is_ok(), "but not for the known one");
    }

    #[test]
    fn one_address_trying_many_accounts_is_limited() {
        let throttle = LoginThrottle::new(limits(100, 3, 100, Duration::from_secs(60)));
        for n in 0..3 {
            let _ = throttle.begin(&format!("user{n}@x"), ip("1.1.1.1")).unwrap();
        }
        assert!(throttle.begin("other@x", ip("1.1.1.1")).is_err());
        assert!(throttle.begin("other@x", ip("1.1.1.2")).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), address_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(address_key(ip("2001:db8:1:2::1")), address_key(ip("2001:db8:1:3::1")));
        assert_eq!(address_key(ip("::ffff:1.2.3.4")), "1.2.3.4");
    }

    #[test]
    fn failures_expire() {
        let throttle = LoginThrottle::new(limits(1, 10, 10, Duration::from_millis(20)));
        let _ = throttle.begin("a@x", ip("1.1.1.1")).unwrap();
        assert!(throttle.begin("a@x", ip("1.1.1.1")).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(throttle.begin("a@x", ip("1.1.1.1")).is_ok());
    }
}
