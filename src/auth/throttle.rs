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
//! gets no more checks than the limit, however many are queued. Attempts are
//! counted in the database, one at a time across servers, so switching
//! between servers behind a load balancer gains a guesser nothing.

use std::net::IpAddr;
use std::time::Duration;

use app::model::Micros;
use app::store::{AttemptLimit, DynStore, StoreError};

use super::sha256_hex;

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

/// Counts attempts in the database (`Store::count_attempt`), so that every
/// server behind a load balancer sees every server's failures.
pub struct LoginThrottle {
    store: DynStore,
    limits: Limits,
    /// One count at a time from this server: a flood of sign-ins waits
    /// here, not on database connections waiting for the count's lock.
    counting: tokio::sync::Mutex<()>,
}

/// A sign-in attempt under way, already counted as a failure.
#[must_use = "report a right password with `LoginThrottle::succeeded`"]
pub struct Attempt {
    pair: String,
    /// The attempt's rows under the address and the account.
    counted: Vec<i64>,
}

/// Why an attempt may not go ahead.
#[derive(Debug)]
pub enum Refused {
    /// A limit is reached.
    Throttled,
    /// The attempts could not be counted.
    Store(StoreError),
}

fn before(now: Micros, window: Duration) -> Micros {
    Micros(now.0 - window.as_micros() as i64)
}

impl LoginThrottle {
    pub fn new(store: DynStore, limits: Limits) -> Self {
        LoginThrottle { store, limits, counting: tokio::sync::Mutex::new(()) }
    }

    /// Counts an attempt for `account` from `address`, or refuses it if a limit is reached.
    pub async fn begin(&self, account: &str, address: IpAddr) -> Result<Attempt, Refused> {
        let account = format!("account:{}", account.trim().to_lowercase());
        let address = format!("address:{}", address_key(address));
        // Stored hashed: a fixed length whatever was typed (NUL, megabytes).
        let pair = sha256_hex(&format!("{account}|{address}"));
        let (account, address) = (sha256_hex(&account), sha256_hex(&address));
        let now = Micros::now();
        let known = self.store.known_since(&pair).await.map_err(Refused::Store)?;
        let known = known.is_some_and(|at| at >= before(now, self.limits.known_address_for));
        let limit = |key: &String, limit: Limit| AttemptLimit {
            key: key.clone(),
            since: before(now, limit.window),
            most: limit.failures as i64,
        };
        let mut limits =
            vec![limit(&pair, self.limits.per_account_and_address), limit(&address, self.limits.per_address)];
        if !known {
            limits.push(limit(&account, self.limits.per_account));
        }
        let keys = [address, account, pair.clone()];
        let forget = before(now, self.longest_window());
        let _turn = self.counting.lock().await;
        match self.store.count_attempt(&limits, &keys, now, forget).await.map_err(Refused::Store)? {
            Some(mut counted) => {
                counted.truncate(2); // the pair's own row goes with the pair's forgiveness
                Ok(Attempt { pair, counted })
            }
            None => Err(Refused::Throttled),
        }
    }

    /// The attempt's password was right: it was no failure, the pair's earlier
    /// failures are forgiven, and the address is known for this account.
    pub async fn succeeded(&self, attempt: Attempt) -> Result<(), StoreError> {
        self.store.attempt_succeeded(&attempt.counted, &attempt.pair, &attempt.pair, Micros::now()).await
    }

    fn longest_window(&self) -> Duration {
        let l = &self.limits;
        l.per_account_and_address.window.max(l.per_address.window).max(l.per_account.window)
    }
}

/// A signed-in person's password, checked as a sign-in is: counted, and
/// refused once a limit is reached.
#[async_trait::async_trait]
impl app::context::PasswordCheck for LoginThrottle {
    async fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        hash: String,
        password: String,
    ) -> Result<bool, String> {
        let address = address.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let attempt = self.begin(account, address).await.map_err(|refused| match refused {
            Refused::Throttled => "too many wrong passwords: wait a while and try again".to_owned(),
            Refused::Store(err) => {
                tracing::error!(error = %err, "counting a password check failed");
                "the password cannot be checked now; try again shortly".to_owned()
            }
        })?;
        let right = super::password::verify(Some(hash), password).await;
        if right {
            if let Err(err) = self.succeeded(attempt).await {
                tracing::error!(error = %err, "forgiving a right password's attempt failed");
            }
        } else {
            drop(attempt); // counted as a failure already
        }
        Ok(right)
    }
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

    /// A throttle on a fresh SQLite database (kept alive by the directory).
    async fn throttle(limits: Limits) -> (tempfile::TempDir, LoginThrottle) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("trail.db").display());
        let db = crate::storage::sqlite_for_tests(&url).await;
        (dir, LoginThrottle::new(db, limits))
    }

    fn throttled(result: Result<Attempt, Refused>) -> bool {
        matches!(result, Err(Refused::Throttled))
    }

    #[tokio::test]
    async fn an_attempt_counts_before_its_outcome_is_known() {
        let (_db, throttle) = throttle(limits(3, 100, 100, Duration::from_secs(60))).await;
        // Three attempts in flight at once use up the pair's limit.
        let mut pending = Vec::new();
        for _ in 0..3 {
            pending.push(throttle.begin("a@x", ip("1.1.1.1")).await.unwrap());
        }
        assert!(throttled(throttle.begin("a@x", ip("1.1.1.1")).await));
        assert!(throttle.begin("A@X ", ip("2.2.2.2")).await.is_ok(), "another address is not affected");
    }

    #[tokio::test]
    async fn a_right_password_takes_its_attempt_back_and_forgives_the_pair() {
        let (_db, throttle) = throttle(limits(3, 100, 100, Duration::from_secs(60))).await;
        let _ = throttle.begin("a@x", ip("1.1.1.1")).await.unwrap();
        let _ = throttle.begin("a@x", ip("1.1.1.1")).await.unwrap();
        throttle.succeeded(throttle.begin("a@x", ip("1.1.1.1")).await.unwrap()).await.unwrap();
        for _ in 0..3 {
            let _ = throttle.begin("a@x", ip("1.1.1.1")).await.unwrap();
        }
        assert!(throttled(throttle.begin("a@x", ip("1.1.1.1")).await));
    }

    #[tokio::test]
    async fn failures_from_elsewhere_spare_an_address_that_signed_in_before() {
        let (_db, throttle) = throttle(limits(100, 100, 5, Duration::from_secs(60))).await;
        throttle.succeeded(throttle.begin("a@x", ip("1.1.1.1")).await.unwrap()).await.unwrap();
        for n in 0..5 {
            let _ = throttle.begin("a@x", format!("10.0.0.{n}").parse().unwrap()).await.unwrap();
        }
        assert!(
            throttled(throttle.begin("a@x", ip("9.9.9.9")).await),
            "the account-wide limit holds for new addresses"
        );
        assert!(throttle.begin("a@x", ip("1.1.1.1")).await.is_ok(), "but not for the known one");
    }

    #[tokio::test]
    async fn one_address_trying_many_accounts_is_limited() {
        let (_db, throttle) = throttle(limits(100, 3, 100, Duration::from_secs(60))).await;
        for n in 0..3 {
            let _ = throttle.begin(&format!("user{n}@x"), ip("1.1.1.1")).await.unwrap();
        }
        assert!(throttled(throttle.begin("other@x", ip("1.1.1.1")).await));
        assert!(throttle.begin("other@x", ip("1.1.1.2")).await.is_ok());
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(address_key(ip("2001:db8:1:2:aaaa::1")), address_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(address_key(ip("2001:db8:1:2::1")), address_key(ip("2001:db8:1:3::1")));
        assert_eq!(address_key(ip("::ffff:1.2.3.4")), "1.2.3.4");
    }

    #[tokio::test]
    async fn failures_expire() {
        // The second attempt must start within the window of the first (two
        // database round trips apart, slow on a loaded machine).
        let window = Duration::from_secs(2);
        let (_db, throttle) = throttle(limits(1, 10, 10, window)).await;
        let _ = throttle.begin("a@x", ip("1.1.1.1")).await.unwrap();
        assert!(throttled(throttle.begin("a@x", ip("1.1.1.1")).await));
        tokio::time::sleep(window + Duration::from_millis(100)).await;
        assert!(throttle.begin("a@x", ip("1.1.1.1")).await.is_ok());
    }
}
