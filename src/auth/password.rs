//! Argon2id password hashes, computed off the async runtime.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// Argon2id as configured (the OWASP minimum: 19 MiB, two passes) takes 19 MiB
/// and tens of milliseconds per hash. Beyond this many at once, hashes wait
/// their turn: a burst of sign-ins or guesses then costs at most this many times
/// 19 MiB, not 19 MiB per request (and 2 cores run no more than 2 anyway).
const CONCURRENT_HASHES: usize = 2;
static HASHING: Semaphore = Semaphore::const_new(CONCURRENT_HASHES);

/// Runs `work` on the blocking pool once a hashing permit is free. The permit
/// goes with the work, so a request dropped while it runs still holds it.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let permit = HASHING.acquire().await?;
    Ok(tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await?)
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    hashing(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))
    })
    .await?
}

/// Checks `password` against `hash`; with no hash (unknown user) it still does
/// the same work, so timing does not tell which emails exist.
pub async fn verify(hash: Option<String>, password: String) -> bool {
    hashing(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(parsed) = PasswordHash::new(&hash) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && hash != DUMMY_HASH
    })
    .await
    .unwrap_or(false)
}

/// A valid argon2id hash of a random password nobody knows.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0vOzyOZoLx8H7bfOUldpUS9ZD8oGVJPBMQxk0lwrkAw";

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = super::hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(super::verify(Some(hash.clone()), "correct horse".into()).await);
        assert!(!super::verify(Some(hash), "wrong".into()).await);
        assert!(!super::verify(None, "anything".into()).await);
    }

    #[tokio::test]
    async fn no_more_than_the_bound_of_hashes_run_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks = (0..8).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            super::hashing(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(30));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        });
        for done in futures_util::future::join_all(tasks).await {
            done.unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=super::CONCURRENT_HASHES).contains(&most), "{most} hashes ran at once");
    }
}
