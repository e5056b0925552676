//! The live stream's event ids. An id is a record's position in commit
//! order, which counts the transactions of every workspace: sent as it is,
//! it would tell any reader how busy the others are, and let one probe for
//! the newest position. So it is sealed (XChaCha20-Poly1305): opaque to the
//! reader, and no id can be made up. Every server on a database opens the
//! others' ids: the key is derived from the signing key they share.

use app::model::StreamPosition;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use uuid::Uuid;

use crate::integrity::signing::SigningKeys;

/// XChaCha20's: random nonces this long never repeat in practice, however
/// many events one key seals.
const NONCE_BYTES: usize = 24;
/// The commit's number (8 bytes) and the record's id (16).
const POSITION_BYTES: usize = 24;

pub struct StreamIds {
    cipher: XChaCha20Poly1305,
}

impl StreamIds {
    pub fn new(key: [u8; 32]) -> StreamIds {
        StreamIds { cipher: XChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    /// The ids of the servers that sign with `signing`.
    pub fn from_signing(signing: &SigningKeys) -> StreamIds {
        StreamIds::new(signing.derived_key("trail: live stream event ids"))
    }

    /// `position` as an event id.
    pub fn seal(&self, position: StreamPosition) -> String {
        let mut plain = [0; POSITION_BYTES];
        plain[..8].copy_from_slice(&position.commit_tx.to_be_bytes());
        plain[8..].copy_from_slice(position.id.as_bytes());
        // Random (the thread's CSPRNG: no system call per event), so equal
        // positions do not look equal either.
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let mut sealed = nonce.to_vec();
        // Encrypting a few bytes in memory has no way to fail.
        sealed.extend(self.cipher.encrypt(XNonce::from_slice(&nonce), plain.as_slice()).unwrap_or_default());
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The position an id this database's servers sent stands for; `None`
    /// for anything else.
    pub fn open(&self, id: &str) -> Option<StreamPosition> {
        let sealed = URL_SAFE_NO_PAD.decode(id.trim()).ok()?;
        if sealed.len() < NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let plain = self.cipher.decrypt(XNonce::from_slice(nonce), ciphertext).ok()?;
        let plain: [u8; POSITION_BYTES] = plain.try_into().ok()?;
        let commit_tx = i64::from_be_bytes(plain[..8].try_into().ok()?);
        let id = Uuid::from_slice(&plain[8..]).ok()?;
        (commit_tx >= 0).then_some(StreamPosition { commit_tx, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_opens_to_its_position_and_tells_nothing_else() {
        let ids = StreamIds::new([7; 32]);
        let position = StreamPosition { commit_tx: 41, id: Uuid::now_v7() };
        let (one, two) = (ids.seal(position), ids.seal(position));
        assert_ne!(one, two, "a fresh nonce each time: equal positions do not look equal");
        assert_eq!(ids.open(&one), Some(position));
        assert_eq!(ids.open(&format!(" {two} ")), Some(position));
        let raw = URL_SAFE_NO_PAD.decode(&one).unwrap();
        let clear = [&position.commit_tx.to_be_bytes()[..], position.id.as_bytes()].concat();
        assert!(!raw.windows(4).any(|w| clear.windows(4).any(|c| c == w)), "nothing of the position in clear");

        let mut forged = URL_SAFE_NO_PAD.decode(&one).unwrap();
        forged[NONCE_BYTES] ^= 1;
        assert_eq!(ids.open(&URL_SAFE_NO_PAD.encode(&forged)), None, "changed");
        assert_eq!(StreamIds::new([8; 32]).open(&one), None, "another database's key");
        for junk in ["", "29.0192f1d2c3b4a5968778695a4b3c2d1e", "!!", "AAAA"] {
            assert_eq!(ids.open(junk), None, "{junk:?}");
        }
    }
}
