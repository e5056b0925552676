//! What server functions get from the server, provided as Leptos context:
//! the store, the credentials the server makes, and the admin page's one-time
//! notices. Kept apart from the storage contract, which knows nothing of pages.

use std::sync::Arc;

use async_trait::async_trait;

use crate::admin_api::Notice;
use crate::store::DynStore;

/// Secrets the server crate makes (argon2 hashes, API keys), for server functions.
#[async_trait]
pub trait Credentials: Send + Sync + 'static {
    async fn hash_password(&self, password: String) -> Result<String, String>;
    /// A new random key; only its hash is stored.
    fn new_key(&self) -> GeneratedKey;
    /// A new webhook signing secret (`whsec_…`).
    fn new_webhook_secret(&self) -> String;
}

/// A freshly made API key: the secret (shown once) and what is stored.
pub struct GeneratedKey {
    pub secret: String,
    /// The first characters, to recognise the key in a list.
    pub prefix: String,
    pub hash: String,
}

/// Checks a signed-in person's password (before a new one replaces it),
/// counted against sign-in's limits, so a copied session cannot guess it.
#[async_trait]
pub trait PasswordCheck: Send + Sync + 'static {
    /// Whether `password` is the one `hash` was made of; an error (in
    /// words) when too many attempts failed or they cannot be counted.
    async fn check(
        &self,
        account: &str,
        address: Option<std::net::IpAddr>,
        hash: String,
        password: String,
    ) -> Result<bool, String>;
}

/// Whether the server may post to a URL (a webhook endpoint, a log stream):
/// the rule the sender applies at every connection, checked at creation too.
#[async_trait]
pub trait Destinations: Send + Sync + 'static {
    /// Why `url` is refused, if it is.
    async fn check(&self, url: &str) -> Result<(), String>;
}

/// Everything a server function needs from the server, provided as context.
#[derive(Clone)]
pub struct ServerContext {
    pub store: DynStore,
    pub credentials: Arc<dyn Credentials>,
    pub passwords: Arc<dyn PasswordCheck>,
    pub destinations: Arc<dyn Destinations>,
    pub notices: Arc<dyn Notices>,
}

/// The admin pages' one-time notices, per session. A notice may carry a new
/// API key's secret, so the server keeps it sealed (the database alone cannot
/// read it) for a few minutes at most; the browser holds the key to open it,
/// in a cookie. Any server on the database can then show it, once.
/// How long a notice waits for the page that shows it (and its cookie lives).
pub const NOTICE_LIFETIME: std::time::Duration = std::time::Duration::from_secs(300);

#[async_trait]
pub trait Notices: Send + Sync + 'static {
    /// Keeps `notice` for `session`; the key to it, for the browser to keep.
    async fn put(&self, session: &str, notice: &Notice) -> Result<String, String>;
    /// The notice kept for `session` under `key`, once.
    async fn take(&self, session: &str, key: &str) -> Option<Notice>;
    /// Whether the key's cookie is marked `Secure` (sent over HTTPS only).
    fn secure_cookie(&self) -> bool;
}
