//! While the database cannot be reached, one group at a time finds out; the
//! other requests are refused at once (503) instead of each waiting for the
//! pool's timeout in turn behind the writers. The first group to get through
//! again closes the breaker.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long after a failure the next group tries the database again.
const COOL_DOWN: Duration = Duration::from_millis(250);
/// A probe that has not reported by then is taken for lost; another may try.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// The database answered last time: every group goes.
    Closed,
    /// It was unreachable: groups are refused until `until`.
    Open { until: Instant },
    /// One group is finding out whether it is back.
    Probing { since: Instant },
}

pub struct Breaker(Mutex<State>);

impl Default for Breaker {
    fn default() -> Self {
        Breaker(Mutex::new(State::Closed))
    }
}

impl Breaker {
    /// Whether a group may go to the database now.
    pub fn admit(&self) -> bool {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match *state {
            State::Closed => true,
            State::Open { until } if now < until => false,
            State::Probing { since } if now.duration_since(since) < PROBE_TIMEOUT => false,
            State::Open { .. } | State::Probing { .. } => {
                *state = State::Probing { since: now };
                true
            }
        }
    }

    /// What an admitted group found: the database unreachable, or not.
    pub fn record(&self, unreachable: bool) {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *state = if unreachable { State::Open { until: Instant::now() + COOL_DOWN } } else { State::Closed };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records a failure and asks at once: whether the group may go. A try
    /// this thread was held up in past the cool-down (a loaded machine)
    /// tells nothing, and is made again.
    fn fail_and_ask_at_once(breaker: &Breaker) -> bool {
        for _ in 0..100 {
            let failed = Instant::now();
            breaker.record(true);
            let admitted = breaker.admit();
            if failed.elapsed() < COOL_DOWN {
                return admitted;
            }
        }
        panic!("never asked within {COOL_DOWN:?} of a failure in 100 tries");
    }

    #[test]
    fn one_probe_at_a_time_while_the_database_is_away() {
        let breaker = Breaker::default();
        assert!(breaker.admit() && breaker.admit(), "closed: everyone goes");
        assert!(!fail_and_ask_at_once(&breaker), "open: refused at once");
        std::thread::sleep(COOL_DOWN + Duration::from_millis(20));
        assert!(breaker.admit(), "after the cool-down, one probe goes");
        assert!(!breaker.admit(), "and only one");
        assert!(!fail_and_ask_at_once(&breaker), "the probe failed: open again");
        std::thread::sleep(COOL_DOWN + Duration::from_millis(20));
        assert!(breaker.admit());
        breaker.record(false);
        assert!(breaker.admit() && breaker.admit(), "the probe got through: closed");
    }
}
