//! The admin pages' one-time notices, shared by every server on the database.
//!
//! A notice (which may hold a new API key's secret) is sealed with
//! ChaCha20-Poly1305 under a fresh key, and only the sealed bytes are stored,
//! for [`NOTICE_LIFETIME`] at most, under the SHA-256 of the session's id. The key
//! goes to the browser in a cookie with the notice's id. The next `/admin`
//! view, on whichever server, brings the cookie, removes the notice from the
//! database (only one reader can) and opens it. Neither the database nor the
//! cookie alone reveals the secret.

use app::admin_api::Notice;
use app::context::{Notices, NOTICE_LIFETIME};
use app::model::Micros;
use app::store::DynStore;
use async_trait::async_trait;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng};
use chacha20poly1305::{AeadCore, ChaCha20Poly1305, Key, Nonce};

use super::sha256_hex;

const NONCE_BYTES: usize = 12;

pub struct SealedNotices {
    store: DynStore,
    secure_cookie: bool,
}

impl SealedNotices {
    pub fn new(store: DynStore, secure_cookie: bool) -> Self {
        SealedNotices { store, secure_cookie }
    }
}

#[async_trait]
impl Notices for SealedNotices {
    async fn put(&self, session: &str, notice: &Notice) -> Result<String, String> {
        let plain = serde_json::to_vec(notice).map_err(|e| e.to_string())?;
        let key = ChaCha20Poly1305::generate_key(&mut OsRng);
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut sealed = nonce.to_vec();
        sealed.extend(ChaCha20Poly1305::new(&key).encrypt(&nonce, plain.as_slice()).map_err(|e| e.to_string())?);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let expires_at = Micros(Micros::now().0 + NOTICE_LIFETIME.as_micros() as i64);
        self.store.put_notice(&id, &sha256_hex(session), &sealed, expires_at).await.map_err(|e| e.to_string())?;
        Ok(format!("{id}.{}", hex::encode(key)))
    }

    async fn take(&self, session: &str, key: &str) -> Option<Notice> {
        let (id, key) = key.split_once('.')?;
        let key = hex::decode(key).ok().filter(|k| k.len() == 32)?;
        let sealed = match self.store.take_notice(id, &sha256_hex(session)).await {
            Ok(sealed) => sealed?,
            Err(err) => {
                tracing::error!(error = %err, "could not read an admin action's notice");
                return None;
            }
        };
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        let plain = cipher.decrypt(Nonce::from_slice(nonce), ciphertext).ok()?;
        serde_json::from_slice(&plain).ok()
    }

    fn secure_cookie(&self) -> bool {
        self.secure_cookie
    }
}
