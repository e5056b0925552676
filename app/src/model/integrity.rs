//! The hash chains that make tampering evident: one per workspace and kind.
//! How a link is computed is the server's (`src/storage/canonical.rs`); these
//! are the stored shapes (docs/integrity.md).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Kind, Micros};

/// A chain: every record of one kind in one workspace, in the order committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChainId {
    pub workspace_id: i64,
    pub kind: Kind,
}

/// By workspace, then kind by name: the order SQL sorts them in, and so the
/// order PostgreSQL's writers lock chains' heads in.
impl Ord for ChainId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.workspace_id, self.kind.as_str()).cmp(&(other.workspace_id, other.kind.as_str()))
    }
}

impl PartialOrd for ChainId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Which chains' digests to read.
#[derive(Clone, Copy, Debug)]
pub enum DigestsOf<'a> {
    All,
    Workspaces(&'a [i64]),
    Chain(ChainId),
}

/// Which digests to read, in order of chain and link.
#[derive(Clone, Copy, Debug)]
pub struct DigestQuery<'a> {
    pub of: DigestsOf<'a>,
    /// From this digest on, that one included.
    pub from: Option<DigestPosition>,
    /// Signed at or after this time only (a mirror's next visit).
    pub signed_since: Option<Micros>,
    pub limit: Option<usize>,
}

impl<'a> DigestQuery<'a> {
    /// Every digest of `of`.
    pub fn of(of: DigestsOf<'a>) -> Self {
        DigestQuery { of, from: None, signed_since: None, limit: None }
    }
}

/// A digest's place in their order (by chain, then link): where a page of
/// digests reads from. Travels as an opaque string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DigestPosition {
    pub chain: ChainId,
    pub seq: i64,
}

impl DigestPosition {
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.chain.workspace_id, self.chain.kind.as_str(), self.seq)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let (workspace_id, kind, seq) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let chain = ChainId { workspace_id: workspace_id.parse().ok()?, kind: kind.parse().ok()? };
        Some(DigestPosition { chain, seq: seq.parse().ok()? })
    }
}

/// A record as stored, read back to be checked against its link.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    pub id: Uuid,
    /// `None` if its workspace or kind no longer reads as one.
    pub chain: Option<ChainId>,
    /// Its canonical form (RFC 8785 JSON; docs/integrity.md), as stored now.
    pub canonical: Vec<u8>,
}

/// A chain's last link, and where retention cut its oldest part.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ChainHead {
    pub workspace_id: i64,
    pub kind: Kind,
    pub seq: i64,
    pub hash: Vec<u8>,
    /// Links up to this one were removed by retention (0: none).
    pub cut_seq: i64,
    /// The hash of link `cut_seq`, from which the rest still verifies.
    pub cut_hash: Option<Vec<u8>>,
    /// When the cut was made, and its signature (hex) over the chain, link,
    /// hash and time: a cut nobody signed was not made by a purge.
    pub cut_at: Option<i64>,
    pub cut_signature: Option<String>,
}

impl ChainHead {
    pub fn chain(&self) -> ChainId {
        ChainId { workspace_id: self.workspace_id, kind: self.kind }
    }
}

/// One record's place in its chain.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ChainLink {
    pub seq: i64,
    pub record_id: Uuid,
    /// SHA-256 of the record's canonical form.
    pub content: Vec<u8>,
    /// SHA-256(previous link's hash ‖ content).
    pub hash: Vec<u8>,
}

/// A signed statement of a chain's head at a time (hex where binary).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow, schemars::JsonSchema))]
pub struct Digest {
    pub workspace_id: i64,
    pub kind: Kind,
    /// The chain's last link when signed.
    pub seq: i64,
    /// That link's hash.
    pub head: String,
    /// Microseconds since the Unix epoch.
    pub signed_at: i64,
    /// The signature of the chain's digest before this one (none for the first).
    pub previous: Option<String>,
    /// Ed25519 over the canonical form of the fields above.
    pub signature: String,
    pub public_key: String,
}

impl Digest {
    pub fn chain(&self) -> ChainId {
        ChainId { workspace_id: self.workspace_id, kind: self.kind }
    }
}

/// The last verification of every chain (`trail verify`, or the server's own).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct IntegrityStatus {
    pub checked_at: i64,
    /// Records found valid.
    pub records: i64,
    pub problems: i64,
    pub detail: String,
}
