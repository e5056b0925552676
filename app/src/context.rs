//! What server functions get from the server, provided as Leptos context:
//! the store, the credentials the server makes, and the admin page's one-time
//! notices. Kept apart from the storage contract, which knows nothing of pages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::admin_api::Notice;
use crate::store::DynStore;

/// Secrets the server crate makes (argon2 hashes, API keys), for server functions.
#[async_trait]
pub trait Credentials: Send + Sync + 'static {
    async fn hash_password(&self, password: String) -> Result<String, String>;
    /// A new random key; only its hash is stored.
    fn new_key(&self) -> GeneratedKey;
}

/// A freshly made API key: the secret (shown once) and what is stored.
pub struct GeneratedKey {
    pub secret: String,
    /// The first characters, to recognise the key in a list.
    pub prefix: String,
    pub hash: String,
}

/// Everything a server function needs from the server, provided as context.
#[derive(Clone)]
pub struct ServerContext {
    pub store: DynStore,
    pub credentials: Arc<dyn Credentials>,
    pub notices: Arc<Notices>,
}

/// The admin pages' one-time notices, per session. In memory only: one may
/// carry a new API key's secret, which is never written anywhere.
#[derive(Default)]
pub struct Notices(Mutex<HashMap<String, (Instant, Notice)>>);

impl Notices {
    /// A notice not taken within this time is dropped.
    const LIFETIME: Duration = Duration::from_secs(300);

    fn entries(&self) -> MutexGuard<'_, HashMap<String, (Instant, Notice)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn put(&self, session: String, notice: Notice) {
        let mut entries = self.entries();
        entries.retain(|_, (at, _)| at.elapsed() < Self::LIFETIME);
        entries.insert(session, (Instant::now(), notice));
    }

    pub fn take(&self, session: &str) -> Option<Notice> {
        let (at, notice) = self.entries().remove(session)?;
        (at.elapsed() < Self::LIFETIME).then_some(notice)
    }
}
