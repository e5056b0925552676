//! API keys: random 256-bit secrets, stored as SHA-256 (a key has enough
//! entropy that a slow hash adds nothing, and verification stays one lookup).

use app::context::GeneratedKey;
use app::model::Micros;
use app::store::ApiKeyRecord;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;

use crate::error::Error;
use crate::state::AppState;

pub const KEY_PREFIX: &str = "trl_";
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY_US: i64 = 60_000_000;

pub fn generate() -> GeneratedKey {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    GeneratedKey { prefix: secret[..KEY_PREFIX.len() + 8].to_owned(), hash: hash_key(&secret), secret }
}

pub fn hash_key(secret: &str) -> String {
    super::sha256_hex(secret)
}

/// The caller's verified API key (`Authorization: Bearer` or `X-API-Key`),
/// and its hash (what it is stored and looked up under).
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub record: ApiKeyRecord,
    pub hash: String,
}

impl ApiKey {
    pub fn require_scope(&self, scope: &str) -> Result<(), Error> {
        if self.record.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("this API key lacks the {scope:?} scope")))
        }
    }
}

/// The key the request presents: in `Authorization: Bearer` or
/// `X-API-Key`. Two different ones are refused, not one of them picked: the
/// caller could not tell whose rights the request had.
fn presented_key(parts: &Parts) -> Result<&str, Error> {
    let values = |name| parts.headers.get_all(name).into_iter().filter_map(|v| v.to_str().ok()).map(str::trim);
    let bearer =
        values("authorization").filter_map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let mut keys = bearer.map(str::trim).chain(values("x-api-key")).filter(|k| !k.is_empty());
    let key = keys.next().ok_or(Error::Unauthorized)?;
    if keys.any(|other| other != key) {
        return Err(Error::TwoKeys);
    }
    Ok(key)
}

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let secret = presented_key(parts)?;
        let hash = hash_key(secret);
        let record = state.store.api_key_by_hash(&hash).await?.ok_or(Error::Unauthorized)?;
        if record.revoked {
            return Err(Error::Unauthorized);
        }
        let now = Micros::now();
        if record.last_used_at.is_none_or(|at| now.0 - at.0 > TOUCH_EVERY_US) {
            let store = state.store.clone();
            let id = record.id;
            tokio::spawn(async move {
                if let Err(err) = store.touch_api_key(id, now).await {
                    tracing::warn!(error = %err, "recording API key use failed");
                }
            });
        }
        Ok(ApiKey { record, hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_unique_and_hash_to_what_is_stored() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(KEY_PREFIX) && a.secret.len() == KEY_PREFIX.len() + 64);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(hash_key(&a.secret), a.hash);
    }
}
