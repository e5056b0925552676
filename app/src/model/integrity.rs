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

/// Sequence numbers of a chain's links, as ranges (`1-5,7,9-12`), kept as
/// ranges: a purge may leave millions in a few.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqSet(Vec<(i64, i64)>);

impl SeqSet {
    /// From ranges in any order (overlapping or touching ones merge).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i64, i64)>) -> SeqSet {
        let mut ranges: Vec<(i64, i64)> = ranges.into_iter().filter(|(start, end)| start <= end).collect();
        ranges.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some((_, last)) if start <= last.saturating_add(1) => *last = (*last).max(end),
                _ => merged.push((start, end)),
            }
        }
        SeqSet(merged)
    }

    pub fn from_seqs(seqs: impl IntoIterator<Item = i64>) -> SeqSet {
        SeqSet::from_ranges(seqs.into_iter().map(|seq| (seq, seq)))
    }

    pub fn contains(&self, seq: i64) -> bool {
        self.range_of(seq).is_some()
    }

    /// The range holding `seq`.
    fn range_of(&self, seq: i64) -> Option<(i64, i64)> {
        let at = self.0.partition_point(|(_, end)| *end < seq);
        self.0.get(at).copied().filter(|(start, _)| *start <= seq)
    }

    /// Where a run starting right after `seq` ends (`seq` itself if none does).
    pub fn run_after(&self, seq: i64) -> i64 {
        self.range_of(seq + 1).map_or(seq, |(_, end)| end)
    }

    pub fn union(&self, other: &SeqSet) -> SeqSet {
        SeqSet::from_ranges(self.0.iter().chain(&other.0).copied())
    }

    /// The part after `seq`.
    pub fn after(&self, seq: i64) -> SeqSet {
        SeqSet(self.0.iter().filter(|(_, end)| *end > seq).map(|&(start, end)| (start.max(seq + 1), end)).collect())
    }

    /// The part up to `seq`.
    pub fn through(&self, seq: i64) -> SeqSet {
        SeqSet(self.0.iter().filter(|(start, _)| *start <= seq).map(|&(start, end)| (start, end.min(seq))).collect())
    }

    pub fn ranges(&self) -> &[(i64, i64)] {
        &self.0
    }

    pub fn len(&self) -> u64 {
        self.0.iter().map(|(start, end)| (end - start + 1) as u64).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn last(&self) -> Option<i64> {
        self.0.last().map(|(_, end)| *end)
    }

    pub fn encode(&self) -> String {
        let range = |&(start, end): &(i64, i64)| match start == end {
            true => start.to_string(),
            false => format!("{start}-{end}"),
        };
        self.0.iter().map(range).collect::<Vec<_>>().join(",")
    }

    /// `None` for text that is not such a list, in ascending order.
    pub fn decode(text: &str) -> Option<SeqSet> {
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for part in text.split(',').filter(|part| !part.is_empty()) {
            let (start, end) = part.split_once('-').unwrap_or((part, part));
            let (start, end): (i64, i64) = (start.parse().ok()?, end.parse().ok()?);
            let after_last = ranges.last().is_none_or(|(_, last)| start > last.saturating_add(1));
            if start < 1 || end < start || !after_last {
                return None;
            }
            ranges.push((start, end));
        }
        Some(SeqSet(ranges))
    }
}

/// Links an older cut left behind a newer one, by `seq`, with their link
/// and content hashes (hex): `3:<hash>:<content>,5:…`. The cut signs them,
/// so each link, and the record it points at, must stay as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeptLinks(pub std::collections::BTreeMap<i64, KeptLink>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptLink {
    pub hash: String,
    pub content: String,
}

impl KeptLinks {
    pub fn encode(&self) -> String {
        let link = |(seq, link): (&i64, &KeptLink)| format!("{seq}:{}:{}", link.hash, link.content);
        self.0.iter().map(link).collect::<Vec<_>>().join(",")
    }

    pub fn decode(text: &str) -> Option<KeptLinks> {
        let is_hash = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        let mut links = std::collections::BTreeMap::new();
        for part in text.split(',').filter(|part| !part.is_empty()) {
            let mut fields = part.split(':');
            let (seq, hash, content) = (fields.next()?, fields.next()?, fields.next()?);
            let seq: i64 = seq.parse().ok().filter(|seq| *seq >= 1)?;
            let link = KeptLink { hash: hash.to_owned(), content: content.to_owned() };
            if fields.next().is_some() || !is_hash(hash) || !is_hash(content) || links.insert(seq, link).is_some() {
                return None;
            }
        }
        Some(KeptLinks(links))
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
    fn seq_sets_are_kept_and_written_as_ranges() {
        let set = SeqSet::from_seqs([8, 1, 2, 3, 5, 7]);
        assert_eq!(set.encode(), "1-3,5,7-8");
        assert_eq!(SeqSet::decode("1-3,5,7-8"), Some(set.clone()));
        assert_eq!(SeqSet::decode(""), Some(SeqSet::default()));
        for bad in ["x", "3-1", "0", "-1", "1-", "1,,a", "5,3", "1-3,2"] {
            assert_eq!(SeqSet::decode(bad), None, "{bad}");
        }
        assert!(set.contains(2) && set.contains(8) && !set.contains(4) && !set.contains(9));
        assert_eq!((set.run_after(0), set.run_after(3), set.run_after(4), set.run_after(6)), (3, 3, 5, 8));
        assert_eq!(set.after(2).encode(), "3,5,7-8");
        assert_eq!(set.through(7).encode(), "1-3,5,7");
        assert_eq!(set.union(&SeqSet::from_ranges([(4, 4), (9, 1_000_000_000), (6, 6)])).encode(), "1-1000000000");
        assert_eq!(SeqSet::decode("1-1000000000").unwrap().len(), 1_000_000_000, "ranges are not spelt out");
    }

    #[test]
    fn kept_links_carry_their_hashes() {
        let (hash, content) = ("ab".repeat(32), "cd".repeat(32));
        let kept = KeptLinks::decode(&format!("3:{hash}:{content},5:{hash}:{content}")).unwrap();
        assert_eq!(kept.0.len(), 2);
        assert_eq!(kept.0[&3], KeptLink { hash: hash.clone(), content: content.clone() });
        assert_eq!(KeptLinks::decode(&kept.encode()), Some(kept));
        for bad in [
            "3".to_owned(),
            format!("3:{hash}"),
            format!("0:{hash}:{content}"),
            format!("3:{hash}:{content},3:{hash}:{content}"),
            format!("3:{hash}:xyz"),
            format!("3:{hash}:{content}:9"),
        ] {
            assert_eq!(KeptLinks::decode(&bad), None, "{bad}");
        }
    }
}
