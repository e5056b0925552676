//! The hash chains (docs/integrity.md): appending a group's new records to
//! their chains inside the group's transaction, cutting links with the
//! records a purge removes, and the statements that read chains and digests.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use app::model::{
    ChainHead, ChainId, ChainLink, Digest, DigestPosition, DigestQuery, DigestsOf, IntegrityStatus, KeptLink,
    KeptLinks, Kind, Micros, SeqSet,
};
use app::store::{NewRecord, Signer};
use uuid::Uuid;

use super::canonical::{self, Hash, WholeCut, GENESIS};
use super::columns::stored_list;
use super::sql_store::Tx;
use super::statement::{Dialect, Sql};

/// Links per SQLite INSERT: 6 values each, well within SQLite's 32,766.
const LINKS_PER_STATEMENT: usize = 1_000;
/// Records per statement where a list of ids is bound.
const IDS_PER_STATEMENT: usize = 1_000;

/// A record to append to its chain: which, and the hash of its canonical form.
pub struct Append {
    pub record_id: Uuid,
    pub chain: ChainId,
    pub content: Hash,
}

impl Append {
    pub fn of(record: &NewRecord) -> Append {
        Append { record_id: record.id, chain: record.chain(), content: canonical::content(record) }
    }
}

pub struct NewLink {
    pub chain: ChainId,
    pub seq: i64,
    pub record_id: Uuid,
    pub content: Hash,
    pub hash: Hash,
}

/// Appends records (new, in the order given) to the ends of their chains.
/// PostgreSQL's writers lock the heads they extend, in one order, so two
/// groups append to a chain one after the other; SQLite has one writer.
pub async fn append(tx: &mut Tx, records: &[Append]) -> sqlx::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let chains: Vec<ChainId> = records.iter().map(|r| r.chain).collect::<BTreeSet<_>>().into_iter().collect();
    tx.execute(|q| ensure_heads(q, &chains)).await?;
    let heads: Vec<ChainHead> = tx.fetch_all(|q| heads_for_update(q, &chains)).await?;
    let mut ends: HashMap<ChainId, (i64, Hash)> = HashMap::new();
    for head in heads {
        let hash = Hash::try_from(head.hash.as_slice()).map_err(|_| {
            sqlx::Error::Decode(format!("the head of chain {:?} is damaged: run trail verify", head.chain()).into())
        })?;
        ends.insert(head.chain(), (head.seq, hash));
    }

    let mut links = Vec::with_capacity(records.len());
    for record in records {
        let (seq, previous) = ends.entry(record.chain).or_insert((0, GENESIS));
        *seq += 1;
        *previous = canonical::link(previous.as_slice(), &record.content);
        links.push(NewLink {
            chain: record.chain,
            seq: *seq,
            record_id: record.record_id,
            content: record.content,
            hash: *previous,
        });
    }
    match tx {
        // One statement over arrays: the heads stay locked until the commit,
        // so this is time the other writers wait.
        Tx::Postgres(pg) => super::postgres::insert_links(pg, &links).await?,
        Tx::Sqlite(_) => {
            for chunk in links.chunks(LINKS_PER_STATEMENT) {
                tx.execute(|q| insert_links(q, chunk)).await?;
            }
        }
    }
    let ends: Vec<(ChainId, i64, Hash)> = ends.into_iter().map(|(chain, (seq, hash))| (chain, seq, hash)).collect();
    tx.execute(|q| set_heads(q, &ends)).await?;
    Ok(())
}

/// A chain's cut as its signature vouches for it (`SignedCut::of`).
#[derive(Clone, Debug, Default)]
pub struct SignedCut {
    pub seq: i64,
    pub hash: Option<Hash>,
    /// Made by a purge that keeps chains whole (holes and kept listed).
    pub whole: bool,
    pub holes: SeqSet,
    pub kept: KeptLinks,
}

impl SignedCut {
    /// The head's cut if its signature holds (`holds(statement, signature)`);
    /// `None` when the head claims a cut no valid signature vouches for.
    pub fn of(head: &ChainHead, holds: &dyn Fn(&[u8], &str) -> bool) -> Option<SignedCut> {
        let claimed = head.cut_seq > 0 || head.cut_holes.as_deref().is_some_and(|holes| !holes.is_empty());
        let signed = match head.cut_holes.as_deref() {
            Some(holes) => Self::whole(head, holes, head.cut_kept.as_deref().unwrap_or(""), holds),
            None if head.cut_seq == 0 => Some(SignedCut::default()),
            None => Self::older(head, holds),
        };
        match signed {
            None if !claimed => Some(SignedCut::default()),
            signed => signed,
        }
    }

    fn whole(head: &ChainHead, holes: &str, kept: &str, holds: &dyn Fn(&[u8], &str) -> bool) -> Option<SignedCut> {
        let hash = match head.cut_hash.as_deref() {
            Some(bytes) => Some(Hash::try_from(bytes).ok()?),
            None if head.cut_seq == 0 => None,
            None => return None,
        };
        let statement = whole_cut_statement(head.chain(), head.cut_seq, hash, head.cut_at?, holes, kept);
        holds(&statement, head.cut_signature.as_deref()?).then_some(())?;
        let (holes, kept) = (SeqSet::decode(holes)?, KeptLinks::decode(kept)?);
        Some(SignedCut { seq: head.cut_seq, hash, whole: true, holes, kept })
    }

    /// A cut made before cuts kept chains whole.
    fn older(head: &ChainHead, holds: &dyn Fn(&[u8], &str) -> bool) -> Option<SignedCut> {
        let hash = Hash::try_from(head.cut_hash.as_deref()?).ok()?;
        let statement =
            canonical::cut_statement(head.workspace_id, head.kind, head.cut_seq, &hex::encode(hash), head.cut_at?);
        holds(&statement, head.cut_signature.as_deref()?).then_some(())?;
        Some(SignedCut { seq: head.cut_seq, hash: Some(hash), ..SignedCut::default() })
    }
}

/// What a whole cut of `chain` at `seq` signs (its hash hex, empty when
/// nothing is cut yet).
fn whole_cut_statement(chain: ChainId, seq: i64, hash: Option<Hash>, cut_at: i64, holes: &str, kept: &str) -> Vec<u8> {
    let hash = hash.map(hex::encode).unwrap_or_default();
    canonical::whole_cut_statement(&WholeCut {
        workspace_id: chain.workspace_id,
        kind: chain.kind,
        seq,
        hash: &hash,
        cut_at,
        holes,
        kept,
    })
}

/// Why a purge stops at `chain`: something about it only tampering makes.
fn damaged(chain: ChainId, what: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("chain {chain:?}: {what}: run trail verify; the purge stopped here"))
}

/// A chain's new cut, worked out and its links deleted, not yet signed.
pub struct PlannedCut {
    chain: ChainId,
    seq: i64,
    hash: Option<Hash>,
    holes: SeqSet,
    kept: KeptLinks,
}

/// The links of records a purge deleted (in the same transaction): each
/// chain's cut moves over them as far as they run on from it, the rest stay
/// as holes ([`plan_cuts`], [`sign_cuts`]).
pub async fn cut(tx: &mut Tx, record_ids: &[Uuid], signer: &dyn Signer) -> sqlx::Result<()> {
    let mut seqs: BTreeMap<ChainId, Vec<i64>> = BTreeMap::new();
    for ids in record_ids.chunks(IDS_PER_STATEMENT) {
        for link in tx.fetch_all::<PurgedLink>(|q| links_of_records(q, ids)).await? {
            seqs.entry(ChainId { workspace_id: link.workspace_id, kind: link.kind }).or_default().push(link.seq);
        }
    }
    let purged = seqs.into_iter().map(|(chain, seqs)| (chain, SeqSet::from_seqs(seqs))).collect();
    let planned = plan_cuts(tx, purged, signer).await?;
    sign_cuts(tx, planned, signer).await
}

/// PostgreSQL: the links of every record in `table` (a partition about to
/// be dropped), per chain, as runs (islands of consecutive `seq`).
pub async fn purged_in_table(tx: &mut Tx, table: &str) -> sqlx::Result<BTreeMap<ChainId, SeqSet>> {
    let runs: Vec<PurgedRun> = tx
        .fetch_all(|q| {
            _ = q.push(format_args!(
                "SELECT workspace_id, kind, MIN(seq) AS first, MAX(seq) AS last FROM \
                 (SELECT l.workspace_id, l.kind, l.seq, \
                  l.seq - ROW_NUMBER() OVER (PARTITION BY l.workspace_id, l.kind ORDER BY l.seq) AS island \
                  FROM chain_links l JOIN {table} e ON e.id = l.record_id) AS numbered \
                 GROUP BY workspace_id, kind, island"
            ))
        })
        .await?;
    let mut ranges: BTreeMap<ChainId, Vec<(i64, i64)>> = BTreeMap::new();
    for run in runs {
        ranges
            .entry(ChainId { workspace_id: run.workspace_id, kind: run.kind })
            .or_default()
            .push((run.first, run.last));
    }
    Ok(ranges.into_iter().map(|(chain, ranges)| (chain, SeqSet::from_ranges(ranges))).collect())
}

/// Works out each chain's new cut and deletes the links it passes: the
/// purged links (and holes earlier purges left) that run on from the cut,
/// and purged links an older cut left behind it. Only a cut whose
/// signature holds is built on: a purge must not sign what someone changed.
/// Reads the heads without locking them (only a purge, one at a time, moves
/// cuts), so that PostgreSQL can do this before it drops a partition.
pub async fn plan_cuts(
    tx: &mut Tx,
    purged: BTreeMap<ChainId, SeqSet>,
    signer: &dyn Signer,
) -> sqlx::Result<Vec<PlannedCut>> {
    let chains: Vec<ChainId> = purged.keys().copied().collect();
    let mut planned = Vec::with_capacity(chains.len());
    for heads in chains.chunks(IDS_PER_STATEMENT) {
        let found = tx.fetch_all::<ChainHead>(|q| heads_of(q, heads)).await?;
        if let Some(headless) = heads.iter().find(|chain| !found.iter().any(|head| head.chain() == **chain)) {
            return Err(damaged(*headless, "its head is missing"));
        }
        for head in found {
            let chain = head.chain();
            let damaged = |what: &str| damaged(chain, what);
            let old = SignedCut::of(&head, &|message, signature| signer.verifies(message, signature))
                .ok_or_else(|| damaged("its cut is not signed by this server's key"))?;
            let now = purged.get(&chain).cloned().unwrap_or_default();
            // Links behind a whole cut that it does not list were slipped in:
            // purged now, their evidence would go with them.
            let behind = now.through(old.seq);
            if old.whole && behind.ranges().iter().any(|&(a, b)| (a..=b).any(|s| !old.kept.0.contains_key(&s))) {
                return Err(damaged("links behind its cut that the cut does not list"));
            }
            let gone = now.union(&old.holes);
            let seq = gone.run_after(old.seq);
            let hash = match seq > old.seq {
                true => {
                    let (hash,): (Vec<u8>,) = tx
                        .fetch_optional(|q| link_hash(q, chain, seq))
                        .await?
                        .ok_or_else(|| damaged("a link the cut passes is missing"))?;
                    Some(Hash::try_from(hash.as_slice()).map_err(|_| damaged("a link's hash is damaged"))?)
                }
                false => old.hash,
            };
            tx.execute(|q| delete_through(q, chain, old.seq, seq)).await?;
            for &(first, last) in behind.ranges() {
                tx.execute(|q| delete_through(q, chain, first - 1, last)).await?;
            }
            let kept = match old.whole {
                // Carried on, less what this purge removed.
                true => KeptLinks(old.kept.0.into_iter().filter(|(kept, _)| !behind.contains(*kept)).collect()),
                // Once, from an older cut: the links it left behind.
                false => links_left_behind(tx, chain, seq).await?,
            };
            planned.push(PlannedCut { chain, seq, hash, holes: gone.after(seq), kept });
        }
    }
    Ok(planned)
}

/// The links left up to `through` (by a cut made before cuts kept chains
/// whole), as the new cut signs them.
async fn links_left_behind(tx: &mut Tx, chain: ChainId, through: i64) -> sqlx::Result<KeptLinks> {
    let links: Vec<(i64, Vec<u8>, Vec<u8>)> = tx.fetch_all(|q| links_through(q, chain, through)).await?;
    let kept = |(seq, hash, content): (i64, Vec<u8>, Vec<u8>)| {
        let whole = seq >= 1 && hash.len() == 32 && content.len() == 32;
        whole.then(|| (seq, KeptLink { hash: hex::encode(hash), content: hex::encode(content) }))
    };
    let found = links.len();
    let links: BTreeMap<i64, KeptLink> = links.into_iter().filter_map(kept).collect();
    if links.len() != found {
        return Err(damaged(chain, "a link behind its cut is damaged"));
    }
    Ok(KeptLinks(links))
}

/// Signs each planned cut and writes it to its head, locking the heads in
/// the order writers do.
pub async fn sign_cuts(tx: &mut Tx, planned: Vec<PlannedCut>, signer: &dyn Signer) -> sqlx::Result<()> {
    let chains: Vec<ChainId> = planned.iter().map(|cut| cut.chain).collect();
    for chunk in chains.chunks(IDS_PER_STATEMENT) {
        tx.fetch_all::<ChainHead>(|q| heads_for_update(q, chunk)).await?;
    }
    let at = Micros::now().0;
    for cut in planned {
        let (holes, kept) = (cut.holes.encode(), cut.kept.encode());
        let statement = whole_cut_statement(cut.chain, cut.seq, cut.hash, at, &holes, &kept);
        let signed = Cut { seq: cut.seq, hash: cut.hash, at, signature: signer.sign(&statement), holes, kept };
        tx.execute(|q| set_cut(q, cut.chain, &signed)).await?;
    }
    Ok(())
}

/// A chain's new cut, signed ([`canonical::whole_cut_statement`]).
struct Cut {
    seq: i64,
    hash: Option<Hash>,
    at: i64,
    signature: String,
    holes: String,
    kept: String,
}

/// A link whose record a purge removes.
#[derive(sqlx::FromRow)]
struct PurgedLink {
    workspace_id: i64,
    kind: Kind,
    seq: i64,
}

/// A run of consecutive links whose records a partition held.
#[derive(sqlx::FromRow)]
struct PurgedRun {
    workspace_id: i64,
    kind: Kind,
    first: i64,
    last: i64,
}

fn links_of_records<'a>(q: &mut Sql<'_, 'a>, record_ids: &'a [Uuid]) {
    q.push("SELECT workspace_id, kind, seq FROM chain_links WHERE record_id IN (");
    q.join(record_ids, ", ", |q, id| _ = q.bind(*id));
    q.push(")");
}

fn link_hash(q: &mut Sql<'_, '_>, chain: ChainId, seq: i64) {
    q.push("SELECT hash FROM chain_links WHERE ");
    chain_is(q, "", chain);
    q.push(" AND seq = ").bind(seq);
}

/// The links after `after` up to `through`.
fn delete_through(q: &mut Sql<'_, '_>, chain: ChainId, after: i64, through: i64) {
    q.push("DELETE FROM chain_links WHERE ");
    chain_is(q, "", chain);
    q.push(" AND seq > ").bind(after).push(" AND seq <= ").bind(through);
}

/// The links left up to `through`, with their hashes.
fn links_through(q: &mut Sql<'_, '_>, chain: ChainId, through: i64) {
    q.push("SELECT seq, hash, content FROM chain_links WHERE ");
    chain_is(q, "", chain);
    q.push(" AND seq <= ").bind(through).push(" ORDER BY seq");
}

/// `(workspace_id = ? AND kind = ?)`: one chain.
fn chain_is<'a>(q: &mut Sql<'_, 'a>, qualifier: &str, chain: ChainId) {
    q.push(format_args!("{qualifier}workspace_id = ")).bind(chain.workspace_id);
    q.push(format_args!(" AND {qualifier}kind = ")).bind(chain.kind.as_str());
}

/// A head at link 0 for each chain that has none.
fn ensure_heads<'a>(q: &mut Sql<'_, 'a>, chains: &'a [ChainId]) {
    q.push("INSERT INTO chain_heads (workspace_id, kind, seq, hash) VALUES ");
    q.join(chains, ", ", |q, chain| {
        q.push("(").bind(chain.workspace_id).push(", ").bind(chain.kind.as_str());
        q.push(", 0, ").bind(GENESIS.as_slice()).push(")");
    });
    q.push(" ON CONFLICT (workspace_id, kind) DO NOTHING");
}

const HEAD_COLUMNS: &str =
    "workspace_id, kind, seq, hash, cut_seq, cut_hash, cut_at, cut_signature, cut_holes, cut_kept";

fn heads_for_update<'a>(q: &mut Sql<'_, 'a>, chains: &'a [ChainId]) {
    heads_of(q, chains);
    if q.dialect() == Dialect::Postgres {
        q.push(" FOR UPDATE");
    }
}

/// The heads of `chains`, in the order writers lock them.
fn heads_of<'a>(q: &mut Sql<'_, 'a>, chains: &'a [ChainId]) {
    q.push(format_args!("SELECT {HEAD_COLUMNS} FROM chain_heads WHERE "));
    q.join(chains, " OR ", |q, chain| {
        q.push("(");
        chain_is(q, "", *chain);
        q.push(")");
    });
    q.push(" ORDER BY workspace_id, kind");
}

fn insert_links<'a>(q: &mut Sql<'_, 'a>, links: &'a [NewLink]) {
    q.push("INSERT INTO chain_links (workspace_id, kind, seq, record_id, content, hash) VALUES ");
    q.join(links, ", ", |q, link| {
        q.push("(").bind(link.chain.workspace_id).push(", ").bind(link.chain.kind.as_str());
        q.push(", ").bind(link.seq).push(", ").bind(link.record_id);
        q.push(", ").bind(link.content.as_slice()).push(", ").bind(link.hash.as_slice()).push(")");
    });
}

/// The new ends of the chains a group extended, in one statement (a group
/// of many workspaces touches many chains). Their rows exist (`ensure_heads`).
fn set_heads<'a>(q: &mut Sql<'_, 'a>, ends: &'a [(ChainId, i64, Hash)]) {
    q.push("INSERT INTO chain_heads (workspace_id, kind, seq, hash) VALUES ");
    q.join(ends, ", ", |q, (chain, seq, hash)| {
        q.push("(").bind(chain.workspace_id).push(", ").bind(chain.kind.as_str()).push(", ").bind(*seq);
        q.push(", ").bind(hash.as_slice()).push(")");
    });
    q.push(" ON CONFLICT (workspace_id, kind) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
}

/// Under the head's lock, and purges run one at a time: the cut is the
/// one [`plan_cuts`] read, moved on.
fn set_cut<'a>(q: &mut Sql<'_, 'a>, chain: ChainId, cut: &'a Cut) {
    q.push("UPDATE chain_heads SET cut_seq = ")
        .bind(cut.seq)
        .push(", cut_hash = ")
        .bind(cut.hash.as_ref().map(|h| h.as_slice()));
    q.push(", cut_at = ").bind(cut.at).push(", cut_signature = ").bind(cut.signature.as_str());
    q.push(", cut_holes = ").bind(cut.holes.as_str()).push(", cut_kept = ").bind(cut.kept.as_str());
    q.push(" WHERE ");
    chain_is(q, "", chain);
}

/// Every chain's head ([`ChainHead`]).
pub fn heads(q: &mut Sql<'_, '_>) {
    q.push(format_args!("SELECT {HEAD_COLUMNS} FROM chain_heads ORDER BY workspace_id, kind"));
}

/// Up to `limit` links ([`ChainLink`]) of a chain after link `after`.
pub fn links(q: &mut Sql<'_, '_>, chain: ChainId, after: i64, limit: usize) {
    let record_id = q.dialect().checked_id("record_id");
    q.push(format_args!("SELECT seq, {record_id} AS record_id, content, hash FROM chain_links WHERE "));
    chain_is(q, "", chain);
    q.push(" AND seq > ").bind(after).push(format_args!(" ORDER BY seq LIMIT {limit}"));
}

/// The stored records ([`NewRecord`]) of links `from..=to` of a chain, from every record table.
pub fn linked_records(q: &mut Sql<'_, '_>, chain: ChainId, from: i64, to: i64) {
    let columns = stored_list(q.dialect());
    q.join(q.dialect().record_tables(), " UNION ALL ", |q, table| {
        q.push(format_args!("SELECT {columns} FROM {table} e WHERE e.id IN (SELECT record_id FROM chain_links WHERE "));
        chain_is(q, "", chain);
        q.push(" AND seq >= ").bind(from).push(" AND seq <= ").bind(to).push(")");
    });
}

/// Records no link of their own chain points at, by id after `after`, at
/// most `limit` per table: `columns` of them (over `e`), from `tables`, of
/// one workspace or all. A link in another chain, or before a chain's
/// first (seq 0 or less, where no walk looks), links nothing.
pub fn unlinked<'a>(
    q: &mut Sql<'_, 'a>,
    tables: &[&str],
    columns: &str,
    workspace_id: Option<i64>,
    after: Option<Uuid>,
    limit: usize,
) {
    let postgres = q.dialect() == Dialect::Postgres;
    q.join(tables, " UNION ALL ", |q, table| {
        q.push(format_args!(
            "SELECT * FROM (SELECT {columns} FROM {table} e \
             WHERE NOT EXISTS (SELECT 1 FROM chain_links l WHERE l.record_id = e.id \
             AND l.workspace_id = e.workspace_id AND l.kind = e.kind AND l.seq >= 1)"
        ));
        if let Some(workspace_id) = workspace_id {
            q.push(" AND e.workspace_id = ").bind(workspace_id);
        }
        if let Some(after) = after {
            q.push(" AND e.id > ").bind(after);
        }
        q.push(format_args!(" ORDER BY e.id LIMIT {limit})"));
        if postgres {
            q.push(" AS u");
        }
    });
}

/// The columns of [`unlinked`] that name a record and its chain.
pub fn unlinked_ids(dialect: Dialect) -> String {
    format!("{}, e.workspace_id, e.kind", dialect.checked_id("e.id"))
}

/// A record's link, with its chain ([`LinkRow`]).
pub fn link_of(q: &mut Sql<'_, '_>, record_id: Uuid) {
    q.push("SELECT workspace_id, kind, seq, record_id, content, hash FROM chain_links WHERE record_id = ")
        .bind(record_id);
}

#[derive(sqlx::FromRow)]
pub struct LinkRow {
    pub workspace_id: i64,
    pub kind: Kind,
    #[sqlx(flatten)]
    pub link: ChainLink,
}

const DIGEST_COLUMNS: &str = "workspace_id, kind, seq, head, signed_at, previous, signature, public_key";

/// Digests ([`Digest`]) of some chains in order ([`DigestQuery`]).
pub fn digests(q: &mut Sql<'_, '_>, DigestQuery { of, from, signed_since, limit }: DigestQuery<'_>) {
    q.push(format_args!("SELECT {DIGEST_COLUMNS} FROM digests WHERE "));
    match of {
        DigestsOf::All => _ = q.push("TRUE"),
        DigestsOf::Workspaces([]) => _ = q.push("FALSE"),
        DigestsOf::Workspaces(ids) => {
            q.push("workspace_id IN (").join(ids.iter().copied(), ", ", |q, id| _ = q.bind(id)).push(")");
        }
        DigestsOf::Chain(chain) => chain_is(q, "", chain),
    }
    if let Some(DigestPosition { chain, seq }) = from {
        // The key's order, row by row (both databases compare row values so).
        q.push(" AND (workspace_id, kind, seq) >= (").bind(chain.workspace_id).push(", ");
        q.bind(chain.kind.as_str()).push(", ").bind(seq).push(")");
    }
    if let Some(since) = signed_since {
        q.push(" AND signed_at >= ").bind(since.0);
    }
    q.push(" ORDER BY workspace_id, kind, seq");
    if let Some(limit) = limit {
        q.push(format_args!(" LIMIT {limit}"));
    }
}

/// Each chain's head (or one chain's) with its last digest's link and signature ([`Unsigned`]).
pub fn heads_with_last_digest(q: &mut Sql<'_, '_>, chain: Option<ChainId>) {
    let last = |column: &str| {
        format!(
            "(SELECT d.{column} FROM digests d WHERE d.workspace_id = h.workspace_id AND d.kind = h.kind \
             ORDER BY d.seq DESC LIMIT 1)"
        )
    };
    q.push(format_args!(
        "SELECT h.workspace_id, h.kind, h.seq, h.hash, {} AS signed_seq, {} AS previous FROM chain_heads h \
         WHERE h.seq > 0",
        last("seq"),
        last("signature")
    ));
    if let Some(chain) = chain {
        q.push(" AND ");
        chain_is(q, "h.", chain);
    }
    q.push(" ORDER BY h.workspace_id, h.kind");
}

#[derive(sqlx::FromRow)]
pub struct Unsigned {
    pub workspace_id: i64,
    pub kind: Kind,
    pub seq: i64,
    pub hash: Vec<u8>,
    pub signed_seq: Option<i64>,
    pub previous: Option<String>,
}

pub fn insert_digest<'a>(q: &mut Sql<'_, 'a>, d: &'a Digest) {
    q.push(format_args!("INSERT INTO digests ({DIGEST_COLUMNS}) VALUES ("));
    q.bind(d.workspace_id).push(", ").bind(d.kind.as_str()).push(", ").bind(d.seq).push(", ").bind(d.head.as_str());
    q.push(", ").bind(d.signed_at).push(", ").bind(d.previous.as_deref()).push(", ").bind(d.signature.as_str());
    q.push(", ").bind(d.public_key.as_str()).push(") ON CONFLICT (workspace_id, kind, seq) DO NOTHING");
}

pub fn integrity_status(q: &mut Sql<'_, '_>) {
    q.push("SELECT checked_at, records, problems, detail FROM integrity_status WHERE id = 1");
}

pub fn set_integrity_status<'a>(q: &mut Sql<'_, 'a>, s: &'a IntegrityStatus) {
    q.push("INSERT INTO integrity_status (id, checked_at, records, problems, detail) VALUES (1, ");
    q.bind(s.checked_at).push(", ").bind(s.records).push(", ").bind(s.problems).push(", ").bind(s.detail.as_str());
    q.push(
        ") ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at, records = excluded.records, \
         problems = excluded.problems, detail = excluded.detail",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::statement::sql_of;

    #[test]
    fn postgres_locks_the_heads_it_extends_in_one_order() {
        let chains = [ChainId { workspace_id: 1, kind: Kind::Audit }, ChainId { workspace_id: 2, kind: Kind::Event }];
        let sql = sql_of(Dialect::Postgres, |q| heads_for_update(q, &chains));
        assert!(
            sql.ends_with(
                "WHERE (workspace_id = $1 AND kind = $2) OR (workspace_id = $3 AND kind = $4) \
             ORDER BY workspace_id, kind FOR UPDATE"
            ),
            "{sql}"
        );
        let sql = sql_of(Dialect::Sqlite, |q| heads_for_update(q, &chains));
        assert!(sql.ends_with("ORDER BY workspace_id, kind"), "{sql}");
    }

    #[test]
    fn a_groups_chain_ends_are_set_in_one_statement() {
        let chain = |workspace_id| ChainId { workspace_id, kind: Kind::Event };
        let ends = [(chain(1), 4, GENESIS), (chain(2), 9, GENESIS)];
        let sql = sql_of(Dialect::Postgres, |q| set_heads(q, &ends));
        assert_eq!(
            sql,
            "INSERT INTO chain_heads (workspace_id, kind, seq, hash) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8) \
             ON CONFLICT (workspace_id, kind) DO UPDATE SET seq = excluded.seq, hash = excluded.hash"
        );
    }

    #[test]
    fn sqlite_finds_linked_and_unlinked_records_in_both_tables() {
        let chain = ChainId { workspace_id: 1, kind: Kind::Audit };
        let sql = sql_of(Dialect::Sqlite, |q| linked_records(q, chain, 1, 10));
        assert_eq!(sql.matches("SELECT record_id FROM chain_links").count(), 2, "{sql}");
        assert!(sql.contains("FROM events_recent e WHERE e.id IN"), "{sql}");
        let ids = unlinked_ids(Dialect::Postgres);
        let sql = sql_of(Dialect::Postgres, |q| unlinked(q, &["events"], &ids, Some(3), None, 5));
        assert_eq!(
            sql,
            "SELECT * FROM (SELECT e.id, e.workspace_id, e.kind FROM events e WHERE NOT EXISTS \
             (SELECT 1 FROM chain_links l WHERE l.record_id = e.id AND l.workspace_id = e.workspace_id \
             AND l.kind = e.kind AND l.seq >= 1) AND e.workspace_id = $1 ORDER BY e.id LIMIT 5) AS u"
        );
    }
}
