//! The one implementation of `app::store::Store`: each method builds its
//! statement once (the builders in `accounts`, `records`, `rollup`) and runs
//! it on whichever backend is open. Only opening, inserting records and
//! SQLite's staging differ per backend (`sqlite.rs`, `postgres.rs`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use app::model::{
    AlertRule, ChainHead, ChainId, ChainLink, Cursor, Delivery, Digest, DigestQuery, EventDetail, EventFilter,
    EventRow, IntegrityStatus, Kind, Micros, Retention, Stats, StatsWindow, StoredRecord, StreamPosition,
    WebhookEndpoint,
};
use app::store::{
    AlertFold, ApiKeyRecord, ApiKeySummary, Applied, Attempt, AttemptLimit, AttemptNext, AuditOf, Change,
    ClaimedMessage, Cutoff, DecideAlert, InsertOutcome, Job, JobGuard, LogStreamTarget, NewMessage, NewRecord, Page,
    Purged, Scope, Signer, Store, StoreError, StoreResult, StreamBatch, UserRecord, UserSummary, Workspace,
};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Postgres, Sqlite};
use tokio::sync::watch;
use uuid::Uuid;

use super::canonical::{self, StoredRow};
use super::columns::stored_list;
use super::commit_signal::CommitSignal;
use super::conditions::{
    count_sqlite_matches, IndexUse, DRIVE_BELOW, MAX_SQLITE_STRETCH, STRETCHES, STRETCH_PER_RECORD,
};
use super::horizon::SharedHorizon;
use super::key_cache::{KeyCache, Lookup};
use super::outbox;
use super::postgres::{self, PgDb};
use super::search::IndexQuery;
use super::sqlite::{self, SqliteDb};
use super::statement::{for_postgres, for_sqlite, power_of_two_chunks, Bindable, Dialect, Sql};
use super::{
    accounts, alerts, attempts, chain, changes, log_streams, notices, partitions, records, retention, rollup, webhooks,
};

pub enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// Which connections a statement runs on: SQLite reads through a pool of
/// readers and writes through its one writer; PostgreSQL has one pool, and
/// optionally a streaming replica (`TRAIL_DATABASE_READ_URL`).
#[derive(Clone, Copy, Debug)]
pub enum Use {
    /// A read that must see every commit so far: accounts, keys, sessions'
    /// users, the chains, the live stream and the live feed's poll.
    Read,
    /// The live stream's reads: on PostgreSQL a few connections of their
    /// own, so that many streams cannot take the connections ingest needs.
    Stream,
    /// A read of records that may lag a moment behind the primary: pages,
    /// stats, exports (not one record: a proof reads its link on the primary). Successive reads through one replica
    /// never go back in time, so "load more" never skips what the first
    /// page's read had seen.
    Replica,
    Write,
}

/// Records chained per transaction when an existing database is upgraded.
const BACKFILL_BATCH: usize = 5_000;

pub struct SqlStore {
    backend: Backend,
    keys: KeyCache,
    commits: CommitSignal,
    /// PostgreSQL: the live stream's horizon, read once per wake.
    horizon: SharedHorizon,
    /// What each ingested record adds besides itself.
    derived: Derived,
}

/// What ingest writes besides each record: always both, but in a
/// benchmark's baseline (`Config::unchained_for_benchmark`,
/// `Config::unindexed_for_benchmark`).
#[derive(Clone, Copy, Debug)]
pub struct Derived {
    /// Its link in its hash chain.
    pub chained: bool,
    /// Its search document.
    pub indexed: bool,
}

impl Derived {
    pub const ALL: Derived = Derived { chained: true, indexed: true };
}

/// A row type both backends can decode.
pub trait Row: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

impl<T> Row for T where T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

/// Builds a statement into the backend's builder.
pub trait Build<'a>: for<'s> FnOnce(&mut Sql<'s, 'a>) + Send {}

impl<'a, F> Build<'a> for F where F: for<'s> FnOnce(&mut Sql<'s, 'a>) + Send {}

impl SqlStore {
    pub fn new(backend: Backend, derived: Derived) -> Self {
        let commits = match &backend {
            Backend::Sqlite(_) => CommitSignal::local(),
            Backend::Postgres(db) => CommitSignal::shared(db.pool()),
        };
        let (keys, horizon) = Default::default();
        SqlStore { backend, keys, commits, horizon, derived }
    }

    /// PostgreSQL: the live stream's horizon and whether records wait above
    /// it, shared by the groups one commit woke.
    async fn stream_horizon(&self) -> StoreResult<(i64, bool)> {
        let read = || async { self.fetch_one(Use::Stream, records::stream_horizon).await };
        Ok(self.horizon.get(self.commits.count(), read).await?)
    }

    pub async fn fetch_all<'a, T: Row>(&self, to: Use, build: impl Build<'a>) -> sqlx::Result<Vec<T>> {
        match &self.backend {
            Backend::Sqlite(db) => for_sqlite(build).build_query_as().fetch_all(db.pool(to)).await,
            Backend::Postgres(db) => for_postgres(build).build_query_as().fetch_all(db.pool_for(to)).await,
        }
    }

    pub async fn fetch_optional<'a, T: Row>(&self, to: Use, build: impl Build<'a>) -> sqlx::Result<Option<T>> {
        match &self.backend {
            Backend::Sqlite(db) => for_sqlite(build).build_query_as().fetch_optional(db.pool(to)).await,
            Backend::Postgres(db) => for_postgres(build).build_query_as().fetch_optional(db.pool_for(to)).await,
        }
    }

    pub async fn fetch_one<'a, T: Row>(&self, to: Use, build: impl Build<'a>) -> sqlx::Result<T> {
        self.fetch_optional(to, build).await?.ok_or(sqlx::Error::RowNotFound)
    }

    fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A transaction on the writer.
    async fn begin(&self) -> sqlx::Result<Tx> {
        Ok(match &self.backend {
            Backend::Sqlite(db) => Tx::Sqlite(db.begin().await?),
            Backend::Postgres(db) => Tx::Postgres(db.pool().begin().await?),
        })
    }

    /// Runs a statement on the writer; how many rows it changed.
    pub async fn execute<'a>(&self, build: impl Build<'a>) -> sqlx::Result<u64> {
        Ok(match &self.backend {
            Backend::Sqlite(db) => for_sqlite(build).build().execute(db.pool(Use::Write)).await?.rows_affected(),
            Backend::Postgres(db) => for_postgres(build).build().execute(db.pool()).await?.rows_affected(),
        })
    }
}

impl SqlStore {
    /// Chains the records stored before chains existed (once, after the
    /// migration that made them), in batches by id, oldest table first. With
    /// several servers starting on one PostgreSQL database, their batches
    /// take turns (a transaction lock), each chaining what is still unchained.
    pub async fn backfill_chains(&self) -> StoreResult<u64> {
        let pending: Option<(i32,)> =
            self.fetch_optional(Use::Write, |q| _ = q.push("SELECT pending FROM chain_backfill")).await?;
        if pending.is_none() {
            return Ok(0);
        }
        let mut chained = 0;
        let columns = stored_list(self.dialect());
        for table in self.dialect().record_tables() {
            let mut after = None;
            loop {
                let mut tx = self.begin().await?;
                tx.lock_on_postgres(postgres::BACKFILL_LOCK).await?;
                let rows: Vec<StoredRow> =
                    tx.fetch_all(|q| chain::unlinked(q, &[table], &columns, None, after, BACKFILL_BATCH)).await?;
                let Some(last) = rows.last() else { break };
                after = Some(last.0.id);
                let mut appends = Vec::with_capacity(rows.len());
                for StoredRow(record) in &rows {
                    let chain = record.chain.ok_or_else(|| {
                        StoreError::NotFound(format!("the workspace or kind of record {} (cannot chain it)", record.id))
                    })?;
                    appends.push(chain::Append {
                        record_id: record.id,
                        chain,
                        content: canonical::content_of(&record.canonical),
                    });
                }
                chain::append(&mut tx, &appends).await?;
                tx.commit().await?;
                chained += rows.len() as u64;
            }
        }
        self.execute(|q| _ = q.push("DELETE FROM chain_backfill")).await?;
        Ok(chained)
    }

    /// How a page of `of` uses the search index: driven by it when it finds
    /// few records (SQLite counts them, up to `DRIVE_BELOW`; PostgreSQL's
    /// planner estimates them), else tested in the read's order, a stretch
    /// at a time.
    async fn index_use(&self, of: records::PageOf<'_>) -> StoreResult<IndexUse> {
        let Some(query) = IndexQuery::of(of.filter) else { return Ok(IndexUse::Check) };
        let matches = match &self.backend {
            Backend::Sqlite(_) => {
                let (found,): (i64,) = self.fetch_one(Use::Replica, |q| count_sqlite_matches(q, &query)).await?;
                found as f64
            }
            Backend::Postgres(_) => {
                let (plan,): (sqlx::types::Json<serde_json::Value>,) =
                    self.fetch_one(Use::Replica, |q| records::estimate_matches(q, of)).await?;
                plan.0[0]["Plan"]["Plan Rows"].as_f64().unwrap_or_else(|| {
                    tracing::warn!(plan = %plan.0, "no estimate in the plan: the page is read a stretch at a time");
                    f64::INFINITY
                })
            }
        };
        Ok(if matches < DRIVE_BELOW as f64 {
            IndexUse::Drive
        } else {
            IndexUse::Stretch(of.page.limit * STRETCH_PER_RECORD)
        })
    }

    /// A page of records as `read` writes it, the search index used as
    /// `index_use` says. With many matches, stretches of the read, each four
    /// times the last, until the page is full or the read ends; what is left
    /// after the last, driven by the index (PostgreSQL) or tested against
    /// all its matches (SQLite).
    async fn page_of<T: Row>(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: Page,
        read: for<'a> fn(&mut Sql<'_, 'a>, records::PageOf<'a>),
    ) -> StoreResult<Vec<T>> {
        let of = |index_use, page| records::PageOf { scope, filter, index_use, page };
        let index_use = self.index_use(of(IndexUse::Check, page)).await?;
        let IndexUse::Stretch(first) = index_use else {
            return Ok(self.fetch_all(Use::Replica, |q| read(q, of(index_use, page))).await?);
        };
        let mut rows: Vec<T> = Vec::new();
        let mut rest = page;
        for records in (0..STRETCHES).map(|n| first * 4_usize.pow(n)) {
            let (found, end) = self.read_stretch(of(index_use, rest), records, read).await?;
            rows.extend(found);
            if rows.len() >= page.limit {
                return Ok(rows);
            }
            let Some(end) = end else { return Ok(rows) };
            rest = Page { cursor: Some(end), limit: page.limit - rows.len(), ..page };
        }
        let last = match self.backend {
            Backend::Sqlite(_) => IndexUse::Check,
            Backend::Postgres(_) => IndexUse::Drive,
        };
        rows.extend(self.fetch_all(Use::Replica, |q| read(q, of(last, rest))).await?);
        Ok(rows)
    }

    /// The page's records among the read's next `records` (a stretch) and
    /// the stretch's last record, where the page goes on; none when the read
    /// ends within it (or, on PostgreSQL, when the page is full).
    async fn read_stretch<T: Row>(
        &self,
        of: records::PageOf<'_>,
        records: usize,
        read: for<'a> fn(&mut Sql<'_, 'a>, records::PageOf<'a>),
    ) -> StoreResult<(Vec<T>, Option<Cursor>)> {
        let cursor = |(occurred_at, id): (i64, Uuid)| Cursor { occurred_at, id };
        Ok(match &self.backend {
            Backend::Sqlite(_) => {
                let records = records.min(MAX_SQLITE_STRETCH);
                let end: Option<(i64, Uuid)> =
                    self.fetch_optional(Use::Replica, |q| records::stretch_end(q, of, records)).await?;
                let end = end.map(cursor);
                // A record stored after the bounds are read lies above them:
                // it is tested against its own words (`IndexUse::Bounded`).
                let (low, high): (Option<i64>, Option<i64>) =
                    self.fetch_one(Use::Replica, |q| records::stretch_bounds(q, of, end)).await?;
                let (Some(low), Some(high)) = (low, high) else { return Ok((Vec::new(), end)) };
                let bounded = records::PageOf { index_use: IndexUse::Bounded { low, high, end }, ..of };
                (self.fetch_all(Use::Replica, |q| read(q, bounded)).await?, end)
            }
            Backend::Postgres(_) => {
                let stretch = records::PageOf { index_use: IndexUse::Stretch(records), ..of };
                let found: Vec<T> = self.fetch_all(Use::Replica, |q| read(q, stretch)).await?;
                if found.len() >= of.page.limit {
                    return Ok((found, None));
                }
                let end: Option<(i64, Uuid)> =
                    self.fetch_optional(Use::Replica, |q| records::stretch_end(q, of, records)).await?;
                (found, end.map(cursor))
            }
        })
    }

    /// Writes a group's records in `tx`, each new one appended to its chain
    /// (but in the benchmark's baseline); their outcomes and how many were new.
    /// The caller makes the records' partitions first, before its
    /// transaction begins (`Partitions::ensure`).
    async fn write(&self, tx: &mut Tx, requests: &[Vec<NewRecord>]) -> sqlx::Result<(Vec<InsertOutcome>, usize)> {
        let (outcomes, mut inserted) = tx.insert_records(requests, self.derived.indexed).await?;
        let count = inserted.len();
        if self.derived.chained {
            // Each new record once, in the order given (a retried request may repeat one).
            let new: Vec<chain::Append> =
                requests.iter().flatten().filter(|r| inserted.remove(&r.id)).map(chain::Append::of).collect();
            chain::append(tx, &new).await?;
        }
        if count > 0 {
            outbox::queue(tx).await?;
        }
        Ok((outcomes, count))
    }

    async fn write_and_commit(&self, requests: &[Vec<NewRecord>]) -> sqlx::Result<(Vec<InsertOutcome>, usize)> {
        if let Backend::Postgres(db) = &self.backend {
            db.partitions().ensure(db.pool(), requests.iter().flatten()).await?;
        }
        let mut tx = self.begin().await?;
        let written = self.write(&mut tx, requests).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// After a commit that wrote `records` new records: SQLite counts them
    /// towards the next move, and the live stream wakes.
    fn committed(&self, records: usize) {
        if records == 0 {
            return;
        }
        if let Backend::Sqlite(db) = &self.backend {
            db.staged(records);
        }
        self.commits.committed();
    }

    /// One pass over `table` in the order received (positions of type `P`),
    /// a window at a time, until the records are all within their periods
    /// (received after every cutoff, give or take a clock step).
    #[allow(clippy::too_many_arguments)]
    async fn purge_table<P>(
        &self,
        table: &str,
        cutoffs: &[Cutoff],
        window: usize,
        pause: Duration,
        horizon: i64,
        signer: &dyn Signer,
    ) -> StoreResult<Vec<retention::PurgedRow>>
    where
        P: for<'a> Bindable<'a> + Copy + Send + Sync + Unpin,
        (P,): Row,
    {
        let mut deleted = Vec::new();
        let mut after: Option<P> = None;
        loop {
            let to: Option<(P,)> =
                self.fetch_optional(Use::Write, |q| retention::window_end(q, table, after, window)).await?;
            let to = to.map(|(position,)| position);
            let (start,): (Option<i64>,) =
                self.fetch_one(Use::Write, |q| retention::window_start(q, table, after, to)).await?;
            match start {
                Some(start) if start < horizon => {}
                // The end of the table, or nothing older than the cutoffs from here on.
                _ => break,
            }
            // The records and their links go in one transaction, with the
            // chains' cuts moved past them: what remains still verifies.
            let mut tx = self.begin().await?;
            let mut removed = Vec::new();
            for chunk in cutoffs.chunks(retention::CUTOFFS_PER_STATEMENT) {
                let rows: Vec<retention::PurgedRow> =
                    tx.fetch_all(|q| retention::purge_window(q, table, chunk, after, to)).await?;
                removed.extend(rows);
            }
            let ids: Vec<Uuid> = removed.iter().map(|row| row.id).collect();
            chain::cut(&mut tx, &ids, signer).await?;
            if let Tx::Postgres(pg) = &mut tx {
                partitions::forget_event_ids(pg, &removed).await?;
            }
            tx.commit().await?;
            deleted.extend(removed);
            let Some(to) = to else { break };
            after = Some(to);
            tokio::time::sleep(pause).await;
        }
        Ok(deleted)
    }
}

/// A transaction on whichever backend is open, with the same helpers.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn fetch_all<'a, T: Row>(&mut self, build: impl Build<'a>) -> sqlx::Result<Vec<T>> {
        match self {
            Tx::Sqlite(tx) => for_sqlite(build).build_query_as().fetch_all(&mut **tx).await,
            Tx::Postgres(tx) => for_postgres(build).build_query_as().fetch_all(&mut **tx).await,
        }
    }

    pub async fn fetch_optional<'a, T: Row>(&mut self, build: impl Build<'a>) -> sqlx::Result<Option<T>> {
        match self {
            Tx::Sqlite(tx) => for_sqlite(build).build_query_as().fetch_optional(&mut **tx).await,
            Tx::Postgres(tx) => for_postgres(build).build_query_as().fetch_optional(&mut **tx).await,
        }
    }

    pub async fn fetch_one<'a, T: Row>(&mut self, build: impl Build<'a>) -> sqlx::Result<T> {
        self.fetch_optional(build).await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// How many rows the statement changed.
    pub async fn execute<'a>(&mut self, build: impl Build<'a>) -> sqlx::Result<u64> {
        Ok(match self {
            Tx::Sqlite(tx) => for_sqlite(build).build().execute(&mut **tx).await?.rows_affected(),
            Tx::Postgres(tx) => for_postgres(build).build().execute(&mut **tx).await?.rows_affected(),
        })
    }

    /// Writes records as the ingest path does; their outcomes and the ids of the new ones.
    async fn insert_records(
        &mut self,
        requests: &[Vec<NewRecord>],
        indexed: bool,
    ) -> sqlx::Result<(Vec<InsertOutcome>, HashSet<Uuid>)> {
        match self {
            Tx::Sqlite(tx) => sqlite::write_group(tx, requests, indexed).await,
            Tx::Postgres(tx) => postgres::write_group(tx, requests, indexed).await,
        }
    }

    /// PostgreSQL: waits for the transaction lock `key` (released at commit).
    /// SQLite's writer transactions exclude each other already.
    pub async fn lock_on_postgres(&mut self, key: i64) -> sqlx::Result<()> {
        if let Tx::Postgres(_) = self {
            self.execute(|q| _ = q.push("SELECT pg_advisory_xact_lock(").bind(key).push(")")).await?;
        }
        Ok(())
    }

    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}

/// Writes attempts' outcomes on their messages and endpoints.
async fn finish_attempts(tx: &mut Tx, attempts: &[(ClaimedMessage, Attempt)]) -> sqlx::Result<Vec<i64>> {
    // One outcome per message (the latest), should a lapsed claim have sent
    // one twice: an UPDATE … FROM applies just one of its matching rows.
    let mut latest: Vec<(ClaimedMessage, Attempt)> = Vec::with_capacity(attempts.len());
    for (message, attempt) in attempts {
        match latest.iter_mut().find(|(m, _)| m.id == message.id) {
            Some(kept) if kept.1.at <= attempt.at => *kept = (message.clone(), attempt.clone()),
            Some(_) => {}
            None => latest.push((message.clone(), attempt.clone())),
        }
    }
    for chunk in power_of_two_chunks(&latest, webhooks::OUTCOMES_PER_STATEMENT) {
        tx.execute(|q| webhooks::finish_messages(q, chunk)).await?;
    }
    let mut disabled = Vec::new();
    for (message, attempt) in &latest {
        if attempt.endpoint_tried {
            let changed = tx.execute(|q| webhooks::finish_endpoint(q, message.endpoint.id, attempt)).await?;
            if attempt.next == AttemptNext::DisableEndpoint && changed > 0 {
                disabled.push(message.endpoint.id);
            }
        }
    }
    Ok(disabled)
}

/// Maps a unique-constraint violation to `Conflict(what)`.
pub(super) fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(err),
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    fn concurrent_writes(&self) -> usize {
        match self.backend {
            Backend::Sqlite(_) => SqliteDb::CONCURRENT_WRITES,
            Backend::Postgres(_) => PgDb::CONCURRENT_WRITES,
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        self.fetch_one::<(i32,)>(Use::Read, |q| _ = q.push("SELECT 1")).await?;
        Ok(())
    }

    fn pool_use(&self) -> Vec<(&'static str, u32, usize)> {
        match &self.backend {
            Backend::Sqlite(db) => db.pools().map(|(name, pool)| (name, pool.size(), pool.num_idle())).into(),
            Backend::Postgres(db) => {
                db.pools().into_iter().map(|(name, pool)| (name, pool.size(), pool.num_idle())).collect()
            }
        }
    }

    async fn workspace_by_slug(&self, slug: &str) -> StoreResult<Option<Workspace>> {
        Ok(self.fetch_optional(Use::Read, |q| accounts::workspace_by_slug(q, slug)).await?)
    }

    async fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        Ok(self.fetch_all(Use::Read, accounts::workspaces).await?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self.fetch_optional(Use::Read, |q| accounts::user_by_email(q, email)).await?)
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRecord>> {
        Ok(self.fetch_optional(Use::Read, |q| accounts::user_by_id(q, id)).await?)
    }

    async fn user_summary(&self, user_id: i64) -> StoreResult<Option<UserSummary>> {
        let rows = self.fetch_all(Use::Read, |q| accounts::user_with_memberships(q, user_id)).await?;
        Ok(accounts::user_summary(rows))
    }

    async fn users(&self) -> StoreResult<Vec<UserSummary>> {
        let users = self.fetch_all(Use::Read, accounts::users).await?;
        let memberships = self.fetch_all(Use::Read, accounts::memberships).await?;
        Ok(accounts::user_summaries(users, memberships))
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKeySummary>> {
        Ok(self.fetch_all(Use::Read, accounts::api_keys).await?)
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        let rows: Vec<webhooks::EndpointRow> = self.fetch_all(Use::Read, webhooks::endpoints).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn alert_rules(&self) -> StoreResult<Vec<AlertRule>> {
        let rules = self.fetch_all(Use::Read, alerts::rules).await?;
        let links = self.fetch_all(Use::Read, |q| alerts::endpoints(q, None)).await?;
        let states = self.fetch_all(Use::Read, |q| alerts::states(q, None)).await?;
        Ok(alerts::assemble(rules, links, states))
    }

    async fn alert_round(&self, folds: &[AlertFold], decide: &DecideAlert<'_>) -> StoreResult<usize> {
        // With nothing new, most rounds change nothing: they are judged on a
        // reader first, so they do not queue for SQLite's one writer.
        if folds.iter().all(AlertFold::is_empty) {
            let mut changes = false;
            for fold in folds {
                let totals = self.fetch_all(Use::Read, |q| alerts::window(q, fold.rule_id, fold.window_slot)).await?;
                let states = self.fetch_all(Use::Read, |q| alerts::states(q, Some(fold.rule_id))).await?;
                changes |= !alerts::judged(decide, fold.rule_id, totals, states).is_empty();
            }
            if !changes {
                return Ok(0);
            }
        }
        if let Backend::Postgres(db) = &self.backend {
            db.partitions().ensure_now(db.pool()).await?;
        }
        let mut tx = self.begin().await?;
        let mut decided = Vec::new();
        for fold in folds {
            if fold.from != fold.through && tx.execute(|q| alerts::move_cursor(q, fold)).await? == 0 {
                continue; // another evaluator counted these
            }
            for slots in fold.slots.chunks(alerts::SLOTS_PER_STATEMENT) {
                tx.execute(|q| alerts::add_to_slots(q, fold.rule_id, slots)).await?;
            }
            tx.execute(|q| alerts::drop_slots(q, fold.rule_id, fold.window_slot)).await?;
            for seen in &fold.seen {
                tx.execute(|q| alerts::see(q, fold.rule_id, seen)).await?;
            }
            let totals = tx.fetch_all(|q| alerts::window(q, fold.rule_id, fold.window_slot)).await?;
            let states = tx.fetch_all(|q| alerts::states(q, Some(fold.rule_id))).await?;
            decided.extend(alerts::judged(decide, fold.rule_id, totals, states));
        }
        // A change another evaluator made already is not made (or said) twice.
        let mut changes = Vec::with_capacity(decided.len());
        for change in decided {
            if tx.execute(|q| alerts::change(q, &change)).await? > 0 {
                changes.push(change);
            }
        }
        // Before the records' own messages are queued (see `queue_alert`).
        let now = Micros::now();
        let records: Vec<NewRecord> = changes.iter().map(|c| c.record.clone()).collect();
        let staged = if records.is_empty() { 0 } else { self.write(&mut tx, &[records]).await?.1 };
        for change in &changes {
            tx.execute(|q| alerts::queue_alert(q, change.rule_id, change.record.id, now)).await?;
        }
        tx.commit().await?;
        self.committed(staged);
        Ok(changes.len())
    }

    async fn log_streams(&self) -> StoreResult<Vec<LogStreamTarget>> {
        let rows: Vec<log_streams::LogStreamRow> = self.fetch_all(Use::Read, log_streams::all).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn advance_log_stream(&self, id: i64, position: StreamPosition, count: i64, at: Micros) -> StoreResult<bool> {
        Ok(self.execute(|q| log_streams::advance(q, id, position, count, at)).await? > 0)
    }

    async fn log_stream_error(&self, id: i64, error: Option<&str>) -> StoreResult<()> {
        self.execute(|q| log_streams::error(q, id, error)).await?;
        Ok(())
    }

    async fn webhook_deliveries(&self, endpoint_id: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        let rows: Vec<webhooks::DeliveryRow> =
            self.fetch_all(Use::Read, |q| webhooks::deliveries(q, endpoint_id, limit)).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn queue_message(&self, message: &NewMessage) -> StoreResult<String> {
        let id = webhooks::message_id();
        self.execute(|q| webhooks::queue_message(q, &id, message)).await?;
        Ok(id)
    }

    async fn retry_message_now(&self, id: &str, now: Micros) -> StoreResult<bool> {
        Ok(self.execute(|q| webhooks::retry_now(q, id, now)).await? > 0)
    }

    async fn claim_messages(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        busy: &[i64],
    ) -> StoreResult<Vec<ClaimedMessage>> {
        let ids: Vec<(String,)> =
            self.fetch_all(Use::Write, |q| webhooks::claim(q, now, lease_until, limit, busy)).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
        let rows: Vec<webhooks::ClaimedRow> = self.fetch_all(Use::Write, |q| webhooks::claimed(q, &ids)).await?;
        Ok(rows.into_iter().map(|row| row.into_claimed(now)).collect())
    }

    async fn finish_attempts(&self, attempts: &[(ClaimedMessage, Attempt)]) -> StoreResult<Vec<i64>> {
        let mut tx = self.begin().await?;
        let disabled = finish_attempts(&mut tx, attempts).await?;
        tx.commit().await?;
        Ok(disabled)
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let generation = match self.keys.lookup(key_hash) {
            Lookup::Hit(record) => return Ok(Some(record)),
            Lookup::Miss(generation) => generation,
        };
        let row: Option<accounts::ApiKeyRow> =
            self.fetch_optional(Use::Read, |q| accounts::api_key_by_hash(q, key_hash)).await?;
        let record: Option<ApiKeyRecord> = row.map(Into::into);
        if let Some(record) = &record {
            self.keys.store(key_hash, record, generation);
        }
        Ok(record)
    }

    async fn touch_api_key(&self, id: i64, at: Micros) -> StoreResult<()> {
        self.keys.touched(id, at);
        self.execute(|q| accounts::touch_api_key(q, id, at)).await?;
        Ok(())
    }

    async fn apply(&self, change: Change<'_>, audit: &AuditOf<'_>) -> StoreResult<Applied> {
        // The audit records are made once the change is, and minted now.
        // Their partitions are made before the transaction: attaching one
        // takes a lock on `workspaces` (the foreign key) that a transaction
        // which changed a workspace holds until its end.
        if let Backend::Postgres(db) = &self.backend {
            db.partitions().ensure_now(db.pool()).await?;
        }
        let mut tx = self.begin().await?;
        let applied = changes::apply(&mut tx, change).await?;
        let records = audit(&applied);
        let staged = if records.is_empty() { 0 } else { self.write(&mut tx, &[records]).await?.1 };
        let committed = tx.commit().await;
        if matches!(change, Change::RevokeApiKey { .. }) {
            // After the commit, and before answering: no request that starts
            // once the revocation is acknowledged gets the old record.
            self.keys.revoked();
        }
        committed?;
        self.committed(staged);
        Ok(applied)
    }

    async fn count_attempt(
        &self,
        limits: &[AttemptLimit],
        keys: &[String],
        now: Micros,
        forget_before: Micros,
    ) -> StoreResult<Option<Vec<i64>>> {
        let mut tx = self.begin().await?;
        tx.lock_on_postgres(postgres::SIGN_IN_LOCK).await?;
        tx.execute(|q| attempts::forget_before(q, forget_before)).await?;
        for limit in limits {
            let (count,): (i64,) = tx.fetch_one(|q| attempts::count_since(q, &limit.key, limit.since)).await?;
            if count >= limit.most {
                return Ok(None);
            }
        }
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            let (id,): (i64,) = tx.fetch_one(|q| attempts::insert(q, key, now)).await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(Some(ids))
    }

    async fn attempt_succeeded(&self, ids: &[i64], forgive: &str, known: &str, now: Micros) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if !ids.is_empty() {
            tx.execute(|q| attempts::take_back(q, ids)).await?;
        }
        tx.execute(|q| attempts::forgive(q, forgive)).await?;
        tx.execute(|q| attempts::remember_known(q, known, now)).await?;
        Ok(tx.commit().await?)
    }

    async fn known_since(&self, pair: &str) -> StoreResult<Option<Micros>> {
        let at: Option<(i64,)> = self.fetch_optional(Use::Read, |q| attempts::known_at(q, pair)).await?;
        Ok(at.map(|(at,)| Micros(at)))
    }

    async fn put_notice(&self, id: &str, session: &str, sealed: &[u8], expires_at: Micros) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute(|q| notices::drop_stale(q, session, Micros::now())).await?;
        tx.execute(|q| notices::put(q, id, session, sealed, expires_at)).await?;
        Ok(tx.commit().await?)
    }

    async fn take_notice(&self, id: &str, session: &str) -> StoreResult<Option<Vec<u8>>> {
        let taken: Option<(Vec<u8>,)> =
            self.fetch_optional(Use::Write, |q| notices::take(q, id, session, Micros::now())).await?;
        Ok(taken.map(|(sealed,)| sealed))
    }

    async fn retention(&self) -> StoreResult<Retention> {
        Ok(retention::retention(self.fetch_all(Use::Read, retention::rules).await?))
    }

    async fn purge(
        &self,
        cutoffs: &[Cutoff],
        window: usize,
        pause: Duration,
        signer: &dyn Signer,
    ) -> StoreResult<Vec<Purged>> {
        let Some(latest) = cutoffs.iter().map(|c| c.before.0).max() else { return Ok(Vec::new()) };
        let horizon = latest + retention::CLOCK_MARGIN_US;
        let mut counts: HashMap<(i64, Kind), u64> = HashMap::new();
        // PostgreSQL: whole partitions first, the rest in batches.
        if let Backend::Postgres(db) = &self.backend {
            for (workspace_id, kind, removed) in partitions::drop_expired(db.pool(), cutoffs, signer).await? {
                *counts.entry((workspace_id, kind)).or_default() += removed;
            }
            db.partitions().forget();
        }
        // SQLite's staged records first: any moved into `events` meanwhile
        // are then still ahead of the pass over `events`.
        for table in self.dialect().record_tables().iter().rev() {
            let deleted = match self.backend {
                Backend::Sqlite(_) => self.purge_table::<i64>(table, cutoffs, window, pause, horizon, signer).await?,
                Backend::Postgres(_) => {
                    self.purge_table::<Uuid>(table, cutoffs, window, pause, horizon, signer).await?
                }
            };
            for row in deleted {
                *counts.entry((row.workspace_id, row.kind)).or_default() += 1;
            }
        }
        let purged = counts.into_iter().map(|((workspace_id, kind), removed)| Purged { workspace_id, kind, removed });
        Ok(purged.collect())
    }

    async fn job_lock(&self, job: Job) -> StoreResult<Option<JobGuard>> {
        match &self.backend {
            Backend::Sqlite(db) => Ok(db.job_lock(job)),
            Backend::Postgres(db) => Ok(db.job_lock(job).await?),
        }
    }

    async fn chain_heads(&self) -> StoreResult<Vec<ChainHead>> {
        Ok(self.fetch_all(Use::Read, chain::heads).await?)
    }

    async fn chain_links(&self, chain: ChainId, after: i64, limit: usize) -> StoreResult<Vec<ChainLink>> {
        Ok(self.fetch_all(Use::Read, |q| chain::links(q, chain, after, limit)).await?)
    }

    async fn linked_records(&self, chain: ChainId, from: i64, to: i64) -> StoreResult<Vec<StoredRecord>> {
        let rows: Vec<StoredRow> = self.fetch_all(Use::Read, |q| chain::linked_records(q, chain, from, to)).await?;
        Ok(rows.into_iter().map(|StoredRow(record)| record).collect())
    }

    async fn unlinked_records(&self, workspace_id: Option<i64>, limit: usize) -> StoreResult<Vec<(Uuid, i64, String)>> {
        let tables = self.dialect().record_tables();
        Ok(self
            .fetch_all(Use::Read, |q| {
                chain::unlinked(q, tables, &chain::unlinked_ids(self.dialect()), workspace_id, None, limit)
            })
            .await?)
    }

    async fn link_of(&self, record_id: Uuid) -> StoreResult<Option<(ChainId, ChainLink)>> {
        let row: Option<chain::LinkRow> = self.fetch_optional(Use::Read, |q| chain::link_of(q, record_id)).await?;
        Ok(row.map(|row| (ChainId { workspace_id: row.workspace_id, kind: row.kind }, row.link)))
    }

    async fn digests(&self, query: DigestQuery<'_>) -> StoreResult<Vec<Digest>> {
        Ok(self.fetch_all(Use::Read, |q| chain::digests(q, query)).await?)
    }

    async fn sign_heads(&self, signer: &dyn Signer, chain: Option<ChainId>) -> StoreResult<Vec<Digest>> {
        let mut tx = self.begin().await?;
        // One signer at a time: each digest names the one before it.
        tx.lock_on_postgres(postgres::DIGEST_LOCK).await?;
        let signed_at = Micros::now().0;
        let heads: Vec<chain::Unsigned> = tx.fetch_all(|q| chain::heads_with_last_digest(q, chain)).await?;
        let mut signed = Vec::new();
        for head in heads.into_iter().filter(|h| h.signed_seq.is_none_or(|seq| seq < h.seq)) {
            let mut digest = Digest {
                workspace_id: head.workspace_id,
                kind: head.kind,
                seq: head.seq,
                head: hex::encode(&head.hash),
                signed_at,
                previous: head.previous,
                signature: String::new(),
                public_key: signer.public_key(),
            };
            digest.signature = signer.sign(&canonical::digest_statement(&digest));
            tx.execute(|q| chain::insert_digest(q, &digest)).await?;
            signed.push(digest);
        }
        tx.commit().await?;
        Ok(signed)
    }

    async fn integrity_status(&self) -> StoreResult<Option<IntegrityStatus>> {
        Ok(self.fetch_optional(Use::Read, chain::integrity_status).await?)
    }

    async fn set_integrity_status(&self, status: &IntegrityStatus) -> StoreResult<()> {
        self.execute(|q| chain::set_integrity_status(q, status)).await?;
        Ok(())
    }

    async fn insert_records(&self, requests: &[Vec<NewRecord>]) -> StoreResult<Vec<InsertOutcome>> {
        if requests.iter().all(Vec::is_empty) {
            return Ok(requests.iter().map(|_| InsertOutcome::default()).collect());
        }
        let (outcomes, inserted) = match self.write_and_commit(requests).await {
            // Another process dropped a partition this one still knew of.
            Err(err) if partitions::is_missing_partition(&err) => {
                if let Backend::Postgres(db) = &self.backend {
                    db.partitions().forget();
                }
                self.write_and_commit(requests).await?
            }
            written => written?,
        };
        self.committed(inserted);
        Ok(outcomes)
    }

    async fn index_backlog(&self, limit: usize) -> StoreResult<Option<usize>> {
        let mut tx = self.begin().await?;
        let indexed = match &mut tx {
            Tx::Sqlite(tx) => sqlite::index_backlog(tx, limit).await?,
            Tx::Postgres(tx) => postgres::index_backlog(tx, limit).await?,
        };
        tx.commit().await?;
        Ok(indexed)
    }

    async fn reindex(&self) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        match &mut tx {
            Tx::Sqlite(tx) => sqlite::reindex(tx).await?,
            Tx::Postgres(tx) => postgres::reindex(tx).await?,
        }
        tx.commit().await?;
        Ok(())
    }

    async fn compact(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(db) => db.compact().await,
            // PostgreSQL writes records straight into `events`: nothing is staged.
            Backend::Postgres(_) => Ok(()),
        }
    }

    async fn list_events(&self, scope: &Scope, filter: &EventFilter, page: Page) -> StoreResult<Vec<EventRow>> {
        self.page_of(scope, filter, page, records::list_events).await
    }

    async fn events_received_after(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        after: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        Ok(self.fetch_all(Use::Read, |q| records::events_received_after(q, scope, filter, after, limit)).await?)
    }

    async fn list_event_details(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: Page,
    ) -> StoreResult<Vec<EventDetail>> {
        self.page_of(scope, filter, page, records::list_event_details).await
    }

    async fn event_by_id(&self, scope: &Scope, id: Uuid) -> StoreResult<Option<EventDetail>> {
        Ok(self.fetch_optional(Use::Read, |q| records::event_by_id(q, scope, id)).await?)
    }

    async fn events_by_ids(&self, scope: &Scope, ids: &[Uuid]) -> StoreResult<Vec<EventDetail>> {
        let mut found = Vec::with_capacity(ids.len());
        for ids in power_of_two_chunks(ids, 1_024) {
            found.extend(self.fetch_all::<EventDetail>(Use::Read, |q| records::events_by_ids(q, scope, ids)).await?);
        }
        Ok(found)
    }

    fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    async fn stream_start(&self) -> StoreResult<StreamPosition> {
        let commit_tx = match &self.backend {
            Backend::Sqlite(_) => {
                let (last,): (i64,) = self.fetch_one(Use::Stream, records::last_commit_tx).await?;
                last
            }
            Backend::Postgres(_) => {
                let (horizon, _) = self.stream_horizon().await?;
                horizon - 1
            }
        };
        Ok(StreamPosition { commit_tx, id: Uuid::max() })
    }

    async fn stream_after(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        after: StreamPosition,
        limit: usize,
    ) -> StoreResult<StreamBatch> {
        let (rows, horizon, held_back): (Vec<records::Positioned>, i64, bool) = match &self.backend {
            // SQLite commits one transaction at a time: what a reader sees is
            // complete up to the last transaction's number, read in the same
            // snapshot (a read transaction).
            Backend::Sqlite(db) => {
                let mut tx = db.pool(Use::Stream).begin().await?;
                let (last,): (i64,) = for_sqlite(records::last_commit_tx).build_query_as().fetch_one(&mut *tx).await?;
                let rows = for_sqlite(|q| records::stream_after(q, scope, filter, after, last + 1, limit))
                    .build_query_as()
                    .fetch_all(&mut *tx)
                    .await?;
                tx.rollback().await?;
                (rows, last + 1, false)
            }
            Backend::Postgres(_) => {
                let (horizon, held_back) = self.stream_horizon().await?;
                let rows = self
                    .fetch_all(Use::Stream, |q| records::stream_after(q, scope, filter, after, horizon, limit))
                    .await?;
                (rows, horizon, held_back)
            }
        };
        // A short batch holds every matching record below the horizon.
        let through = (rows.len() < limit).then_some(StreamPosition { commit_tx: horizon - 1, id: Uuid::max() });
        let records = rows.into_iter().map(|row| (row.position(), row.detail)).collect();
        Ok(StreamBatch { records, held_back, through })
    }

    async fn stats(
        &self,
        scope: &Scope,
        workspace: Option<&str>,
        window: StatsWindow,
        now: Micros,
    ) -> StoreResult<Stats> {
        let rows = self.fetch_all(Use::Replica, |q| rollup::stats(q, scope, workspace, window, now)).await?;
        Ok(rollup::assemble(window, now, rows))
    }
}
