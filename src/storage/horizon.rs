//! PostgreSQL: how far the live stream may read (`records::stream_horizon`),
//! read once for all the groups a commit woke. Fifty groups woken at once
//! would otherwise ask fifty times, and while writers overlap (a horizon held
//! back) ask again every few milliseconds each.
//!
//! Reusing a read is safe whatever its age: every transaction below its
//! horizon had ended when it was read, so nothing below it can still
//! appear. Its age only costs latency, which is what the reuse rule bounds.
//! Reads are made one at a time and the newest is kept, so a horizon handed
//! out is never below one handed out before: a stream that resumes, joins
//! its group and reads once more relies on that to reach the group's position.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A read is reused for this long at most (for the groups asking again
/// while a transaction that commits no records holds the horizon back).
const FRESH: Duration = Duration::from_millis(10);

#[derive(Default)]
pub struct SharedHorizon {
    last: Mutex<Option<Read>>,
}

struct Read {
    /// The commit signal's count when the caller that read asked (before
    /// the read began).
    commits: u64,
    /// When the read ended: one that took long is still reused by those
    /// that waited for it.
    at: Instant,
    horizon: (i64, bool),
}

impl SharedHorizon {
    /// The horizon and whether records wait above it: the last read if it
    /// began after every commit signalled so far (`commits`, the signal's
    /// count now) and is fresh, else a new one by `read`. Callers that
    /// arrive during a read wait for it.
    pub async fn get<E, Fut>(&self, commits: u64, read: impl FnOnce() -> Fut) -> Result<(i64, bool), E>
    where
        Fut: Future<Output = Result<(i64, bool), E>>,
    {
        let mut last = self.last.lock().await;
        if let Some(last) = last.as_ref().filter(|r| r.commits == commits && r.at.elapsed() < FRESH) {
            return Ok(last.horizon);
        }
        let horizon = read().await?;
        *last = Some(Read { commits, at: Instant::now(), horizon });
        Ok(horizon)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A read that counts itself and answers `horizon`.
    async fn counted(reads: &AtomicUsize, horizon: i64) -> Result<(i64, bool), ()> {
        reads.fetch_add(1, Ordering::Relaxed);
        Ok((horizon, false))
    }

    #[tokio::test]
    async fn a_read_is_reused_until_a_commit_is_signalled_or_it_grows_old() {
        // Reused only within FRESH (10 ms): a try this thread was held up in
        // for longer (a loaded machine) tells nothing, and is made again.
        let mut tries = 0;
        let (shared, reads) = loop {
            tries += 1;
            assert!(tries <= 100, "no two calls within {FRESH:?} in 100 tries");
            let (shared, reads) = (SharedHorizon::default(), AtomicUsize::new(0));
            let started = Instant::now();
            assert_eq!(shared.get(7, || counted(&reads, 100)).await, Ok((100, false)));
            let again = shared.get(7, || counted(&reads, 101)).await;
            if started.elapsed() < FRESH {
                assert_eq!(again, Ok((100, false)), "same wake: reused");
                break (shared, reads);
            }
        };
        assert_eq!(reads.load(Ordering::Relaxed), 1);
        assert_eq!(shared.get(8, || counted(&reads, 102)).await, Ok((102, false)), "a commit since: read again");
        tokio::time::sleep(FRESH).await;
        assert_eq!(shared.get(8, || counted(&reads, 103)).await, Ok((103, false)), "too old: read again");
        assert_eq!(reads.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let (shared, reads) = (SharedHorizon::default(), AtomicUsize::new(0));
        assert_eq!(shared.get(1, || async { Err::<(i64, bool), _>("down") }).await, Err("down"));
        let read = || async { counted(&reads, 5).await.map_err(|()| "down") };
        assert_eq!(shared.get(1, read).await, Ok((5, false)), "read again");
        assert_eq!(reads.load(Ordering::Relaxed), 1);
    }
}
