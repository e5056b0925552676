//! Who is calling: API keys for programs, password sign-in for people.

pub mod api_key;
pub mod client_address;
pub mod notices;
pub mod password;
pub mod reader;
pub mod throttle;
pub mod web;

use app::context::{Credentials, GeneratedKey};
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// SHA-256 of `text`, in hex: how keys, sessions' ids (for notices) and
/// sign-in throttle keys are stored.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// HMAC-SHA256 of `parts`, one after the other, under `key`: webhook
/// signatures, keys derived from the signing key, log-stream batch ids.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    parts.iter().for_each(|part| mac.update(part));
    mac.finalize().into_bytes().into()
}

/// What server functions use to make password hashes and API keys.
pub struct ServerCredentials;

#[async_trait]
impl Credentials for ServerCredentials {
    async fn hash_password(&self, password: String) -> Result<String, String> {
        password::hash(password).await.map_err(|e| e.to_string())
    }

    fn new_key(&self) -> GeneratedKey {
        api_key::generate()
    }

    fn new_webhook_secret(&self) -> String {
        crate::webhooks::signature::Secret::generate().encode()
    }
}
