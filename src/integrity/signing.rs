//! The Ed25519 key that signs digests: read from a file, or made at first
//! start (mode 0600); and the bytes a digest's signature covers.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use app::model::Digest;
use app::store::Signer;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier, VerifyingKey};

use crate::storage::canonical;

pub struct SigningKeys {
    key: SigningKey,
}

impl SigningKeys {
    /// The key in `path`, made there first if the file does not exist. It
    /// appears whole or not at all: written to a file of its own, then linked
    /// into place (a second process racing to make it uses the first's).
    pub fn load_or_create(path: &Path) -> anyhow::Result<SigningKeys> {
        if let Some(keys) = Self::load(path)? {
            return Ok(keys);
        }
        let seed: [u8; 32] = rand::random();
        let draft = path.with_extension(format!("new-{}", uuid::Uuid::now_v7().simple()));
        let mut file = create_private(&draft).with_context(|| format!("creating {}", draft.display()))?;
        file.write_all(format!("{}\n", hex::encode(seed)).as_bytes())?;
        file.sync_all()?;
        let linked = std::fs::hard_link(&draft, path);
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "made a new signing key for digests");
                Ok(SigningKeys { key: SigningKey::from_bytes(&seed) })
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(path)?.context("the signing key file vanished")
            }
            Err(err) => Err(err).with_context(|| format!("creating the signing key {}", path.display())),
        }
    }

    /// The key in `path`, if the file exists.
    pub fn load(path: &Path) -> anyhow::Result<Option<SigningKeys>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(err).with_context(|| format!("reading the signing key {}", path.display())),
        };
        let seed = hex::decode(text.trim()).ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
        let Some(seed) = seed else {
            bail!("{} does not hold a signing key (64 hex digits)", path.display());
        };
        Ok(Some(SigningKeys { key: SigningKey::from_bytes(&seed) }))
    }

    /// The key in `path`, which the server made: commands never make one,
    /// since a new key would make every digest look forged.
    pub fn existing(path: &Path) -> anyhow::Result<SigningKeys> {
        Self::load(path)?.with_context(|| {
            format!(
                "no signing key at {} (the server makes it at first start; set TRAIL_SIGNING_KEY_FILE to its file)",
                path.display()
            )
        })
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// A key for `purpose` that every server holding this key derives
    /// alike (HMAC-SHA256 of the purpose under the secret), and that tells
    /// nothing of the secret.
    pub fn derived_key(&self, purpose: &str) -> [u8; 32] {
        crate::auth::hmac_sha256(self.key.as_bytes(), &[purpose.as_bytes()])
    }
}

impl Signer for SigningKeys {
    fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    fn public_key(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    fn verifies(&self, message: &[u8], signature: &str) -> bool {
        signature_holds(message, signature, &self.key.verifying_key())
    }
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// A public key given as 64 hex digits.
pub fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
    let key = bytes.and_then(|b| VerifyingKey::from_bytes(&b).ok());
    key.with_context(|| format!("{text:?} is not an Ed25519 public key (64 hex digits)"))
}

/// Whether `digest` was signed by `trusted` and says what it says.
pub fn signed_by(digest: &Digest, trusted: &VerifyingKey) -> bool {
    digest.public_key == hex::encode(trusted.as_bytes())
        && signature_holds(&canonical::digest_statement(digest), &digest.signature, trusted)
}

/// Whether `signature` (hex) is `trusted`'s over `message`.
pub fn signature_holds(message: &[u8], signature: &str, trusted: &VerifyingKey) -> bool {
    let signature = hex::decode(signature).ok().and_then(|b| Signature::from_slice(&b).ok());
    signature.is_some_and(|signature| trusted.verify(message, &signature).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Kind;

    fn digest() -> Digest {
        Digest {
            workspace_id: 1,
            kind: Kind::Audit,
            seq: 5,
            head: "ab".repeat(32),
            signed_at: 7,
            previous: None,
            signature: String::new(),
            public_key: String::new(),
        }
    }

    #[test]
    fn a_digest_verifies_until_a_field_or_the_key_changes() {
        let dir = tempfile_dir();
        let keys = SigningKeys::load_or_create(&dir.join("key")).unwrap();
        let again = SigningKeys::load_or_create(&dir.join("key")).unwrap();
        assert_eq!(keys.public_key(), again.public_key(), "the file's key is used once made");
        let mut d = digest();
        d.public_key = Signer::public_key(&keys);
        d.signature = keys.sign(&canonical::digest_statement(&d));
        assert!(signed_by(&d, &keys.public_key()));
        let other = SigningKeys { key: SigningKey::from_bytes(&[9; 32]) };
        assert!(!signed_by(&d, &other.public_key()));
        let mut changed = d.clone();
        changed.seq = 4;
        assert!(!signed_by(&changed, &keys.public_key()));
        assert_eq!(
            String::from_utf8(canonical::digest_statement(&d)).unwrap(),
            format!(r#"{{"head":"{}","kind":"audit","seq":5,"signed_at":7,"workspace_id":1}}"#, "ab".repeat(32))
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("trail-signing-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
