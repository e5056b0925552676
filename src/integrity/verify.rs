//! `trail verify` and the server's background check: walks every chain link
//! by link, checks each record against its link and each link against the
//! one before, then checks every digest's signature and head. Reports, per
//! chain, what is valid and, for each problem, which link and record.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use app::model::{
    ChainHead, ChainId, ChainLink, Digest, DigestQuery, DigestsOf, KeptLinks, Kind, SeqSet, StoredRecord,
};
use app::store::{Store, StoreResult};
use ed25519_dalek::VerifyingKey;
use uuid::Uuid;

use super::signing::{signature_holds, signed_by};
use crate::storage::canonical::{self, Hash, GENESIS};
use crate::storage::SignedCut;

/// Links read per round trip.
const BATCH: usize = 10_000;
/// Records in no chain reported at most (each is named).
const MAX_UNLINKED: usize = 1_000;
/// Suspect links kept for classifying broken links; past this they are
/// reported as broken without looking for where they belong.
const MAX_SUSPECTS: usize = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// The record no longer matches the content its link recorded.
    Changed,
    /// A link does not follow from the one before it, and belongs nowhere else.
    LinkBroken,
    /// The record is gone; its link is still there.
    Missing,
    /// Links from `seq` through this one are gone, with their records.
    Gap { through: i64 },
    /// A record in no chain: written behind Trail's back.
    Inserted,
    /// An intact link moved: it follows from the link at `belongs_after`.
    OutOfOrder { belongs_after: i64 },
    /// A digest signed links up to `signed`; the chain now ends before.
    TailCut { signed: i64 },
    /// The link a digest signed has another hash now.
    DigestMismatch,
    /// A digest whose signature fails (or was made with another key).
    BadSignature,
    /// A digest does not name the signature of the digest before it.
    DigestOutOfChain,
    /// Links through `seq` are gone as if purged, but no valid signature
    /// vouches for the cut.
    UnsignedCut,
    /// The record is stored more than once (the copies may differ).
    Duplicated,
    /// Links go on past the chain's head (at `head`): appended behind
    /// Trail's back.
    PastHead { head: i64 },
    /// The chain's head names another hash than its last link's.
    HeadChanged,
    /// The chain has links but no head.
    HeadMissing,
    /// A copy of a digest kept outside the database signed this link, and
    /// the database no longer holds that digest.
    DigestRemoved,
    /// The database's digest differs from the copy kept outside it.
    DigestReplaced,
    /// A copy kept outside the database is not signed by the key.
    CopyNotSigned,
    /// A link behind the retention cut that the cut did not keep: slipped
    /// in where no chain links it.
    BehindCut,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub seq: Option<i64>,
    pub record: Option<Uuid>,
    pub finding: Finding,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(seq) = self.seq {
            write!(f, "link {seq}")?;
        }
        if let Some(record) = self.record {
            write!(f, "{}record {record}", if self.seq.is_some() { ", " } else { "" })?;
        }
        let what = match &self.finding {
            Finding::Changed => "changed: the record no longer matches its link".to_owned(),
            Finding::LinkBroken => "broken: the link does not follow from the one before it".to_owned(),
            Finding::Missing => "missing: the record was removed".to_owned(),
            Finding::Gap { through } => format!("missing: links through {through} were removed with their records"),
            Finding::Inserted => "inserted: the record is in no chain".to_owned(),
            Finding::OutOfOrder { belongs_after } => format!("out of order: it belongs after link {belongs_after}"),
            Finding::TailCut { signed } => format!("tail cut: a digest signed links up to {signed}"),
            Finding::DigestMismatch => "digest mismatch: the signed head has another hash now".to_owned(),
            Finding::BadSignature => "digest signature fails".to_owned(),
            Finding::DigestOutOfChain => "digest out of chain: the digest before it is missing or replaced".to_owned(),
            Finding::UnsignedCut => "removed without a signed retention cut: links through here are gone".to_owned(),
            Finding::Duplicated => "duplicated: the record is stored more than once".to_owned(),
            Finding::PastHead { head } => format!("appended: links go on past the chain's head at {head}"),
            Finding::HeadChanged => "head changed: the chain's head names another hash than this link's".to_owned(),
            Finding::HeadMissing => "head missing: the chain has links but no head".to_owned(),
            Finding::DigestRemoved => "digest removed: a copy kept outside signed this link".to_owned(),
            Finding::DigestReplaced => "digest replaced: it differs from the copy kept outside".to_owned(),
            Finding::CopyNotSigned => "the copy's signature fails (another key, or a damaged copy)".to_owned(),
            Finding::BehindCut => "behind the retention cut: a link the cut did not keep (slipped in)".to_owned(),
        };
        let named = self.seq.is_some() || self.record.is_some();
        write!(f, "{}{what}", if named { ": " } else { "" })
    }
}

/// Where a chain's walk may resume: the last link found valid.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Resume {
    pub seq: i64,
    pub hash: Hash,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChainReport {
    pub chain: ChainId,
    pub workspace: String,
    /// Records checked and valid.
    pub valid: u64,
    /// The chain's last link, and its hash (`None` when the walk read none).
    pub last: i64,
    pub last_hash: Option<Hash>,
    /// Links up to this one were removed by retention.
    pub removed_through: i64,
    /// Links after the cut whose records retention removed (kept for their hashes).
    pub removed_after: u64,
    pub digests_valid: u64,
    pub problems: Vec<Problem>,
    /// Where the next incremental walk starts, if nothing was wrong.
    pub resume: Option<Resume>,
}

impl ChainReport {
    pub fn name(&self) -> String {
        format!("{}/{}", self.workspace, self.chain.kind)
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub chains: Vec<ChainReport>,
    /// Records in no chain whose workspace or kind names none: (workspace, kind, id).
    pub strays: Vec<(i64, String, Uuid)>,
}

impl Report {
    pub fn problems(&self) -> usize {
        self.chains.iter().map(|c| c.problems.len()).sum::<usize>() + self.strays.len()
    }

    pub fn valid(&self) -> u64 {
        self.chains.iter().map(|c| c.valid).sum()
    }

    pub fn digests_valid(&self) -> u64 {
        self.chains.iter().map(|c| c.digests_valid).sum()
    }

    /// One line: what was checked, what was wrong.
    pub fn summary(&self) -> String {
        format!(
            "{} chains, {} records valid, {} digests valid, {} problems",
            self.chains.len(),
            self.valid(),
            self.digests_valid(),
            self.problems()
        )
    }

    /// Every problem, as a line naming its chain.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let chains = self.chains.iter().flat_map(|c| c.problems.iter().map(move |p| format!("{}: {p}", c.name())));
        chains.chain(self.stray_lines())
    }

    /// The records of no chain there can be (a kind no record has), a line each.
    pub fn stray_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.strays.iter().map(|(workspace_id, kind, id)| {
            format!("workspace {workspace_id}, kind {kind:?}: record {id}: inserted: the record is in no chain")
        })
    }

    /// Where each clean chain's next walk may start.
    pub fn resume_points(&self) -> HashMap<ChainId, Resume> {
        self.chains.iter().filter_map(|c| c.resume.map(|r| (c.chain, r))).collect()
    }
}

/// What to check: every workspace or one, from the start of each chain or
/// from where an earlier walk ended (`resume`; digests are always all checked).
pub struct Scope<'a> {
    pub workspace_id: Option<i64>,
    pub resume: &'a HashMap<ChainId, Resume>,
    /// Copies of digests kept outside the database (`/api/v1/digests`):
    /// each must still be there, unchanged, and its link with it. They
    /// show a chain rolled back with its digests, or removed whole.
    pub copies: &'a [Digest],
}

pub async fn verify(
    store: &dyn Store,
    trusted: &VerifyingKey,
    scope: Scope<'_>,
    workspace_names: &HashMap<i64, String>,
) -> StoreResult<Report> {
    let wanted = |chain: &ChainId| scope.workspace_id.is_none_or(|id| id == chain.workspace_id);
    let name =
        |workspace_id: i64| workspace_names.get(&workspace_id).cloned().unwrap_or_else(|| workspace_id.to_string());
    let heads = store.chain_heads().await?;
    let mut digests: BTreeMap<ChainId, Vec<Digest>> = BTreeMap::new();
    let of = match &scope.workspace_id {
        Some(id) => DigestsOf::Workspaces(std::slice::from_ref(id)),
        None => DigestsOf::All,
    };
    for digest in store.digests(DigestQuery::of(of)).await? {
        digests.entry(digest.chain()).or_default().push(digest);
    }
    let mut copies: BTreeMap<ChainId, Vec<&Digest>> = BTreeMap::new();
    for copy in scope.copies.iter().filter(|copy| wanted(&copy.chain())) {
        copies.entry(copy.chain()).or_default().push(copy);
    }
    // Every chain with a head, a digest or a copy: a deleted head still has
    // its digests, a chain removed whole its copies.
    let mut chains: BTreeMap<ChainId, Option<&ChainHead>> =
        digests.keys().chain(copies.keys()).map(|chain| (*chain, None)).collect();
    chains.extend(heads.iter().map(|head| (head.chain(), Some(head))));
    // A chain with links but none of those (its head deleted before its
    // first digest): one look per workspace and kind that has no chain.
    for workspace_id in workspace_names.keys().copied() {
        for kind in Kind::ALL.iter().copied() {
            let chain = ChainId { workspace_id, kind };
            if wanted(&chain) && !chains.contains_key(&chain) && !store.chain_links(chain, 0, 1).await?.is_empty() {
                chains.insert(chain, None);
            }
        }
    }

    let mut report = Report::default();
    let empty = Vec::new();
    let walk_of = |chain: ChainId, head: Option<ChainHead>| {
        let signed = digests.get(&chain).unwrap_or(&empty);
        let copies = copies.get(&chain).cloned().unwrap_or_default();
        let resume = resumes(scope.resume.get(&chain).copied(), head.as_ref());
        walk_chain(store, chain, head, signed, copies, resume, trusted, name(chain.workspace_id))
    };
    for (chain, head) in chains.iter().filter(|(chain, _)| wanted(chain)) {
        report.chains.push(walk_of(*chain, head.cloned()).await?);
    }
    // The heads as they are once every chain was read. A chain whose cut
    // changed meanwhile (a purge committed, or someone changed it) and shows
    // problems is walked again against the cut as it is now, a few times
    // at most: no problem is forgiven on a cut the walk did not use.
    let mut heads: HashMap<ChainId, ChainHead> = HashMap::new();
    let mut walked: HashMap<ChainId, Option<ChainHead>> =
        chains.iter().map(|(chain, head)| (*chain, head.cloned())).collect();
    for _ in 0..REWALKS {
        heads = store.chain_heads().await?.into_iter().map(|h| (h.chain(), h)).collect();
        let mut again = false;
        for chain_report in report.chains.iter_mut().filter(|c| !c.problems.is_empty()) {
            let (before, now) = (walked.get(&chain_report.chain).cloned().flatten(), heads.get(&chain_report.chain));
            if !same_cut(before.as_ref(), now) {
                *chain_report = walk_of(chain_report.chain, now.cloned()).await?;
                walked.insert(chain_report.chain, now.cloned());
                again = true;
            }
        }
        if !again {
            break;
        }
    }
    forgive_concurrent_purges(&heads, &mut report, trusted);
    check_heads(&heads, &mut report);

    for (id, workspace_id, kind) in store.unlinked_records(scope.workspace_id, MAX_UNLINKED).await? {
        let Ok(kind) = kind.parse() else {
            report.strays.push((workspace_id, kind, id));
            continue;
        };
        let chain = ChainId { workspace_id, kind };
        let at = match report.chains.iter().position(|c| c.chain == chain) {
            Some(at) => at,
            None => {
                report.chains.push(ChainReport::empty(chain, name(workspace_id)));
                report.chains.len() - 1
            }
        };
        let found = &mut report.chains[at];
        found.problems.push(Problem { seq: None, record: Some(id), finding: Finding::Inserted });
        found.resume = None;
    }
    Ok(report)
}

/// How many times a chain whose cut moved while it was walked is walked again.
const REWALKS: usize = 3;

/// Whether two reads of a chain's head name the same cut.
fn same_cut(a: Option<&ChainHead>, b: Option<&ChainHead>) -> bool {
    let cut = |h: Option<&ChainHead>| {
        h.map(|h| {
            (h.cut_seq, h.cut_hash.clone(), h.cut_at, h.cut_signature.clone(), h.cut_holes.clone(), h.cut_kept.clone())
        })
    };
    cut(a) == cut(b)
}

/// One chain's walk, from `resume` or its start, against `head` as read.
#[allow(clippy::too_many_arguments)]
async fn walk_chain(
    store: &dyn Store,
    chain: ChainId,
    head: Option<ChainHead>,
    signed: &[Digest],
    copies: Vec<&Digest>,
    resume: Option<Resume>,
    trusted: &VerifyingKey,
    workspace: String,
) -> StoreResult<ChainReport> {
    let head = head.as_ref();
    let (lost, copy_problems) = compare_copies(signed, copies, trusted);
    let mut walk = Walk::new(head, signed, &lost, resume, trusted);
    for Problem { seq, record, finding } in copy_problems {
        walk.problem(seq, record, finding);
    }
    let mut after = resume.map_or(0, |r| r.seq);
    loop {
        let links = store.chain_links(chain, after, BATCH).await?;
        let (Some(first), Some(last)) = (links.first(), links.last()) else { break };
        let (contents, duplicated) = contents(store.linked_records(chain, first.seq, last.seq).await?).await;
        after = last.seq;
        for link in links {
            if duplicated.contains(&link.record_id) {
                walk.problem(Some(link.seq), Some(link.record_id), Finding::Duplicated);
            }
            let content = contents.get(&link.record_id).copied();
            walk.step(link, content);
        }
    }
    Ok(walk.finish(chain, workspace, head, signed, &lost, trusted))
}

/// A chain's copies held against its digests: the validly signed copies
/// the database lost (their links are checked as a digest's would be), and
/// a problem for each copy that is missing, different or not signed.
fn compare_copies(signed: &[Digest], copies: Vec<&Digest>, trusted: &VerifyingKey) -> (Vec<Digest>, Vec<Problem>) {
    let (mut lost, mut problems) = (Vec::new(), Vec::new());
    let by_seq: HashMap<i64, &Digest> = signed.iter().map(|digest| (digest.seq, digest)).collect();
    for copy in copies {
        let problem = |finding| Problem { seq: Some(copy.seq), record: None, finding };
        if !signed_by(copy, trusted) {
            problems.push(problem(Finding::CopyNotSigned));
            continue;
        }
        match by_seq.get(&copy.seq) {
            None => {
                problems.push(problem(Finding::DigestRemoved));
                lost.push(copy.clone());
            }
            Some(digest) if *digest != copy => problems.push(problem(Finding::DigestReplaced)),
            Some(_) => {}
        }
    }
    (lost, problems)
}

/// Each chain's head, read after its walk, against the last link the walk
/// read: a head behind it means links were appended behind Trail's back;
/// at it, the head must name its hash (ingest continues from the head).
/// A head past it is a record appended since the walk.
fn check_heads(heads: &HashMap<ChainId, ChainHead>, report: &mut Report) {
    for chain in &mut report.chains {
        let Some(head) = heads.get(&chain.chain) else {
            // Ingest would number the chain's next link 1 again, and fail.
            if chain.last > 0 {
                chain.problems.push(Problem { seq: None, record: None, finding: Finding::HeadMissing });
                chain.resume = None;
            }
            continue;
        };
        let (seq, finding) = if head.seq < chain.last {
            (head.seq + 1, Finding::PastHead { head: head.seq })
        } else if head.seq == chain.last
            && head.seq > 0
            && chain.last_hash.is_some_and(|last| as_hash(&head.hash) != Some(last))
        {
            (head.seq, Finding::HeadChanged)
        } else {
            continue; // as it should be: the chain keeps its resume point
        };
        chain.problems.push(Problem { seq: Some(seq), record: None, finding });
        chain.resume = None;
    }
}

/// The content hash of each record, on every core (the canonical form and
/// its SHA-256 are most of a walk's work), and the ids stored more than once.
async fn contents(records: Vec<StoredRecord>) -> (HashMap<Uuid, Hash>, HashSet<Uuid>) {
    let mut seen = HashSet::with_capacity(records.len());
    let duplicated: HashSet<Uuid> = records.iter().filter(|r| !seen.insert(r.id)).map(|r| r.id).collect();
    let hashed = tokio::task::spawn_blocking(move || {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let part = records.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let parts: Vec<_> = records
                .chunks(part)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter().map(|r| (r.id, canonical::content_of(&r.canonical))).collect::<Vec<(Uuid, Hash)>>()
                    })
                })
                .collect();
            parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|_| Vec::new())).collect()
        })
    });
    // A record whose hash could not be made is reported missing, never skipped.
    (hashed.await.unwrap_or_default(), duplicated)
}

/// A purge that committed while the chains were read removes links and
/// records between the reads: what went up to a chain's new cut, or into
/// its holes, is retention's, not a problem, if the new cut's signature
/// holds. Nothing at or behind the cut the walk itself used is forgiven.
fn forgive_concurrent_purges(heads: &HashMap<ChainId, ChainHead>, report: &mut Report, trusted: &VerifyingKey) {
    if report.problems() == 0 {
        return;
    }
    let holds = |message: &[u8], signature: &str| signature_holds(message, signature, trusted);
    for chain in &mut report.chains {
        let Some(Some(cut)) = heads.get(&chain.chain).map(|head| SignedCut::of(head, &holds)) else { continue };
        let walked_from = chain.removed_through;
        // Links `from` to `through` all went with the new cut: after the cut
        // the walk used, or links that cut kept and the new one no longer
        // lists. A purge never deletes a hole's link but in its cut.
        let cut_over = |from: i64, through: i64| {
            through <= cut.seq
                && (from > walked_from || (cut.whole && (from..=through).all(|s| !cut.kept.0.contains_key(&s))))
        };
        chain.problems.retain(|p| match (p.finding.clone(), p.seq) {
            (Finding::Gap { through } | Finding::TailCut { signed: through }, Some(from)) => !cut_over(from, through),
            // A record removed since: by the new cut, or into its holes.
            (Finding::Missing, Some(seq)) => !(cut_over(seq, seq) || (seq > walked_from && cut.holes.contains(seq))),
            _ => true,
        });
        chain.removed_through = walked_from.max(cut.seq);
    }
}

impl ChainReport {
    fn empty(chain: ChainId, workspace: String) -> ChainReport {
        ChainReport {
            chain,
            workspace,
            valid: 0,
            last: 0,
            last_hash: None,
            removed_through: 0,
            removed_after: 0,
            digests_valid: 0,
            problems: Vec::new(),
            resume: None,
        }
    }
}

/// A link whose check against the link before it failed, kept to find out
/// whether it moved or was rewritten.
struct Suspect {
    seq: i64,
    record: Uuid,
    content: Vec<u8>,
    hash: Vec<u8>,
    /// The hash of the link before it in the walk.
    shown_previous: Hash,
    /// Whether the link after it failed its check too.
    next_broken: bool,
}

/// One chain's walk, link by link.
struct Walk {
    cut_seq: i64,
    /// A cut that keeps its chain whole: behind it, only the links it lists
    /// in `kept`; after it, `holes` are links whose records it removed.
    whole_cut: bool,
    kept: KeptLinks,
    holes: SeqSet,
    holes_seen: u64,
    kept_seen: BTreeSet<i64>,
    /// The walk reads the chain from its first link (not from a resume point).
    from_start: bool,
    /// The next link's seq, and the hash it must follow from (`None` after a gap).
    next_seq: i64,
    previous: Option<Hash>,
    /// The hashes links may legitimately follow from besides their
    /// predecessor: the genesis and the cut.
    anchors: Vec<(i64, Hash)>,
    signed_heads: HashMap<i64, String>,
    last: i64,
    last_hash: Option<Hash>,
    valid: u64,
    problems: Vec<Problem>,
    suspects: Vec<Suspect>,
    /// Whether the previous link is the last suspect.
    previous_suspect: bool,
    last_valid: Option<Resume>,
    /// The head says retention cut the chain, but no valid signature says so.
    unsigned_cut: bool,
}

fn as_hash(bytes: &[u8]) -> Option<Hash> {
    Hash::try_from(bytes).ok()
}

impl Walk {
    /// `resume` must not lie before the chain's cut (see [`resumes`]). A
    /// cut counts only if its signature holds; else the walk starts at the
    /// chain's beginning and what is gone is reported.
    /// `lost`: digests only copies kept outside still hold; their links are
    /// checked as the database's digests' are.
    fn new(
        head: Option<&ChainHead>,
        digests: &[Digest],
        lost: &[Digest],
        resume: Option<Resume>,
        trusted: &VerifyingKey,
    ) -> Walk {
        let holds = |message: &[u8], signature: &str| signature_holds(message, signature, trusted);
        let (cut, unsigned_cut) = match head.map(|head| SignedCut::of(head, &holds)) {
            Some(Some(cut)) => (cut, false),
            Some(None) => (SignedCut::default(), true),
            None => (SignedCut::default(), false),
        };
        let SignedCut { seq: cut_seq, hash: cut_hash, whole: whole_cut, kept, holes } = cut;
        let mut anchors = vec![(0, GENESIS)];
        anchors.extend(cut_hash.map(|hash| (cut_seq, hash)));
        let start = match resume {
            Some(r) => (r.seq + 1, Some(r.hash)),
            None if cut_seq > 0 => (cut_seq + 1, cut_hash),
            None => (1, Some(GENESIS)),
        };
        Walk {
            cut_seq,
            whole_cut,
            kept,
            holes,
            holes_seen: 0,
            kept_seen: BTreeSet::new(),
            from_start: resume.is_none(),
            next_seq: start.0,
            previous: start.1,
            anchors,
            signed_heads: digests.iter().chain(lost).map(|d| (d.seq, d.head.clone())).collect(),
            last: resume.map_or(0, |r| r.seq),
            last_hash: resume.map(|r| r.hash),
            valid: 0,
            problems: Vec::new(),
            suspects: Vec::new(),
            previous_suspect: false,
            last_valid: resume,
            unsigned_cut,
        }
    }

    fn problem(&mut self, seq: Option<i64>, record: Option<Uuid>, finding: Finding) {
        self.problems.push(Problem { seq, record, finding });
    }

    /// `content`: the hash of the stored record the link points at, if there is one.
    fn step(&mut self, link: ChainLink, content: Option<Hash>) {
        self.last = link.seq;
        self.last_hash = as_hash(&link.hash);
        if link.seq <= self.cut_seq && self.whole_cut {
            // Behind a whole cut only the links it lists, as it signed them.
            match self.kept.0.get(&link.seq) {
                None => {
                    self.problem(Some(link.seq), Some(link.record_id), Finding::BehindCut);
                    return;
                }
                Some(kept) if kept.hash != hex::encode(&link.hash) || kept.content != hex::encode(&link.content) => {
                    self.problem(Some(link.seq), Some(link.record_id), Finding::LinkBroken);
                    return;
                }
                Some(_) => _ = self.kept_seen.insert(link.seq),
            }
        }
        let content_ok = match content {
            // Its record purged, its link kept for the chain's sake.
            None if self.holes.contains(link.seq) => {
                self.holes_seen += 1;
                false
            }
            None => {
                self.problem(Some(link.seq), Some(link.record_id), Finding::Missing);
                false
            }
            Some(content) if content.as_slice() != link.content.as_slice() => {
                self.problem(Some(link.seq), Some(link.record_id), Finding::Changed);
                false
            }
            Some(_) => true,
        };
        // A link older than the cut that a purge kept (an older cut's, or
        // one a cut lists): checked for its content only.
        if link.seq <= self.cut_seq {
            self.valid += u64::from(content_ok);
            return;
        }
        if link.seq > self.next_seq {
            let finding = if self.unsigned_cut && self.next_seq == 1 {
                Finding::UnsignedCut
            } else {
                Finding::Gap { through: link.seq - 1 }
            };
            let seq = if finding == Finding::UnsignedCut { link.seq - 1 } else { self.next_seq };
            self.problem(Some(seq), None, finding);
            self.previous = None;
        }
        let linked = self.previous.is_none_or(|previous| canonical::link(&previous, &link.content) == link.hash[..]);
        let mut suspect = false;
        if !linked {
            if self.previous_suspect {
                if let Some(last) = self.suspects.last_mut() {
                    last.next_broken = true;
                }
            }
            suspect = self.suspects.len() < MAX_SUSPECTS;
            if suspect {
                self.suspects.push(Suspect {
                    seq: link.seq,
                    record: link.record_id,
                    content: link.content.clone(),
                    hash: link.hash.clone(),
                    shown_previous: self.previous.unwrap_or(GENESIS),
                    next_broken: false,
                });
            } else {
                self.problem(Some(link.seq), Some(link.record_id), Finding::LinkBroken);
            }
        }
        self.previous_suspect = suspect;
        if let Some(head) = self.signed_heads.get(&link.seq) {
            if *head != hex::encode(&link.hash) {
                self.problem(Some(link.seq), Some(link.record_id), Finding::DigestMismatch);
            }
        }
        if content_ok && linked {
            self.valid += 1;
        }
        self.previous = as_hash(&link.hash);
        self.next_seq = link.seq + 1;
        if self.problems.is_empty() && self.suspects.is_empty() {
            self.last_valid = self.previous.map(|hash| Resume { seq: link.seq, hash });
        }
    }

    /// Sorts out the suspects: a link that follows from another link than
    /// the one before it, with the link after it broken too, moved; one that
    /// follows from no link there is was rewritten.
    fn classify(&mut self) {
        let mut candidates: HashMap<Hash, i64> = self.anchors.iter().map(|(seq, hash)| (*hash, *seq)).collect();
        for s in &self.suspects {
            candidates.extend(as_hash(&s.hash).map(|hash| (hash, s.seq)));
            candidates.entry(s.shown_previous).or_insert(s.seq - 1);
        }
        for s in std::mem::take(&mut self.suspects) {
            let belongs_after = candidates
                .iter()
                .find(|(hash, _)| canonical::link(&hash[..], &s.content) == s.hash[..])
                .map(|(_, seq)| *seq);
            let finding = match belongs_after {
                Some(after) if s.next_broken => Finding::OutOfOrder { belongs_after: after },
                // Its own link is intact: the link before it is the one that moved.
                Some(_) => continue,
                None => Finding::LinkBroken,
            };
            self.problem(Some(s.seq), Some(s.record), finding);
        }
    }

    fn finish(
        mut self,
        chain: ChainId,
        workspace: String,
        head: Option<&ChainHead>,
        digests: &[Digest],
        lost: &[Digest],
        trusted: &VerifyingKey,
    ) -> ChainReport {
        self.classify();
        // A head claiming a cut no signature vouches for, wherever the walk began.
        if self.unsigned_cut && !self.problems.iter().any(|p| p.finding == Finding::UnsignedCut) {
            let cut = head.map_or(0, |h| h.cut_seq);
            self.problem((cut > 0).then_some(cut), None, Finding::UnsignedCut);
        }
        // Every link the cut signed as kept, and every hole, is still there.
        if self.from_start {
            let lost: Vec<i64> = self.kept.0.keys().copied().filter(|seq| !self.kept_seen.contains(seq)).collect();
            for seq in lost {
                self.problem(Some(seq), None, Finding::Gap { through: seq });
            }
        }
        let end = self.last.max(self.cut_seq);
        if let Some(hole) = self.holes.last().filter(|&hole| hole > end) {
            self.problem(Some(end + 1), None, Finding::Gap { through: hole });
        }
        if let Some(head) = head.filter(|h| h.seq > end) {
            self.problem(Some(end + 1), None, Finding::Gap { through: head.seq });
        }
        if let Some(signed) = digests.iter().chain(lost).map(|d| d.seq).filter(|&seq| seq > end).max() {
            self.problem(Some(end + 1), None, Finding::TailCut { signed });
        }
        let mut digests_valid = 0;
        let mut previous: Option<&str> = None;
        for digest in digests {
            let signed = signed_by(digest, trusted);
            if !signed {
                self.problem(Some(digest.seq), None, Finding::BadSignature);
            }
            let in_chain = digest.previous.as_deref() == previous;
            if !in_chain {
                self.problem(Some(digest.seq), None, Finding::DigestOutOfChain);
            }
            digests_valid += u64::from(signed && in_chain);
            previous = Some(&digest.signature);
        }
        self.problems.sort_by_key(|p| p.seq.unwrap_or(i64::MAX));
        self.problems.dedup();
        let clean = self.problems.is_empty();
        ChainReport {
            chain,
            workspace,
            valid: self.valid,
            last: self.last,
            last_hash: self.last_hash,
            removed_through: self.cut_seq,
            removed_after: self.holes_seen,
            digests_valid,
            problems: self.problems,
            resume: if clean { self.last_valid } else { None },
        }
    }
}

/// A resume point, unless retention has cut the chain past it since.
fn resumes(resume: Option<Resume>, head: Option<&ChainHead>) -> Option<Resume> {
    resume.filter(|r| r.seq >= head.map_or(0, |h| h.cut_seq))
}
