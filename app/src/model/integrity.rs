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
    /// A cut that keeps its chain whole (`None`: one made before, which
    /// deleted links out of order): the links after `cut_seq` whose records
    /// a purge removed, kept for their hashes ([`SeqSet`] text).
    pub cut_holes: Option<String>,
    /// Links behind such a cut that an older cut left there ([`SeqSet`]).
    pub cut_kept: Option<String>,
}

/// Sequence numbers of a chain's links, written as ranges (`1-5,7,9-12`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqSet(pub std::collections::BTreeSet<i64>);

impl SeqSet {
    pub fn encode(&self) -> String {
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for &seq in &self.0 {
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == seq => *end = seq,
                _ => ranges.push((seq, seq)),
            }
        }
        let range = |(start, end): (i64, i64)| match start == end {
            true => start.to_string(),
            false => format!("{start}-{end}"),
        };
        ranges.into_iter().map(range).collect::<Vec<_>>().join(",")
    }

    /// `None` for text that is not such a list.
    pub fn decode(text: &str) -> Option<SeqSet> {
        let mut set = std::collections::BTreeSet::new();
        for part in text.split(',').filter(|part| !part.is_empty()) {
            let (start, end) = part.split_once('-').unwrap_or((part, part));
            let (start, end): (i64, i64) = (start.parse().ok()?, end.parse().ok()?);
            if start < 1 || end < start || end - start > 10_000_000 {
                return None;
            }
            set.extend(start..=end);
        }
        Some(SeqSet(set))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_sets_are_written_as_ranges_and_read_back() {
        let set = SeqSet([1, 2, 3, 5, 7, 8].into_iter().collect());
        assert_eq!(set.encode(), "1-3,5,7-8");
        assert_eq!(SeqSet::decode("1-3,5,7-8"), Some(set));
        assert_eq!(SeqSet::decode(""), Some(SeqSet::default()));
        for bad in ["x", "3-1", "0", "-1", "1-", "1,,a"] {
            assert_eq!(SeqSet::decode(bad), None, "{bad}");
        }
    }
}
