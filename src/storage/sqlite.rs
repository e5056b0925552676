//! SQLite: a WAL file with one writer connection and a pool of readers.
//! Commits are durable (`synchronous = FULL`): an acknowledged record survives
//! a crash of the process or of the machine. Each group commit is staged in
//! `events_recent` and moved into `events` in bulk (migration `recent_events`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::store::{InsertOutcome, Job, JobGuard, NewRecord, StoreResult};
use sqlx::query_builder::Separated;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::columns::{self, Value, RECORD_COLUMNS};
use super::outcomes::{outcomes, skipped};
use super::rollup;
use super::search;
use super::sql_store::Use;
use super::statement::Dialect;

/// Rows per INSERT statement. Powers of two up to this keep the number of
/// distinct (cached) statements small. Bigger statements gained no throughput
/// and their cached programs cost memory (docs/performance.md).
const MAX_ROWS_PER_STATEMENT: usize = 128;
const WRITER_CACHE_KIB: u32 = 8 * 1024;
const WAL_CHECKPOINT_PAGES: u32 = 10_000;
/// Staged records moved into `events` per statement (see `move_staged`).
const MOVE_STATEMENT_ROWS: usize = 1_000;

/// Reader connections: two per core, at least 4. Each holds a page cache, its
/// prepared statements and its thread's allocations: on 2 cores, 8 readers
/// held more memory than 4 and served no more pages (docs/performance.md).
fn readers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    (2 * cores).clamp(4, 16)
}

pub struct SqliteDb {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Records in `events_recent`, waiting to be moved into `events`.
    staged: AtomicUsize,
    /// They are moved once there are this many (`Config::sqlite_stage_rows`).
    move_at: usize,
    /// Held while this process purges, checks the chains, exports log
    /// streams: one at a time each.
    purging: Arc<tokio::sync::Mutex<()>>,
    checking: Arc<tokio::sync::Mutex<()>>,
    exporting: Arc<tokio::sync::Mutex<()>>,
    alerting: Arc<tokio::sync::Mutex<()>>,
}

/// Fails unless the file `url` names exists (an in-memory database never does).
pub fn must_exist(url: &str) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::from_str(url)?;
    let path = options.get_filename();
    if !path.is_file() {
        anyhow::bail!("no database at {}", path.display());
    }
    Ok(())
}

impl SqliteDb {
    /// Opens the file (creating it) and migrates. Staged records move into
    /// `events` once `move_at` have gathered.
    pub async fn open(url: &str, move_at: usize) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        // The writer keeps the indexes' hot pages in memory: with SQLite's small
        // default cache, ingest spent much of its time re-reading them from the
        // OS. A longer WAL between checkpoints copies a page rewritten by several
        // group commits into the database once (docs/performance.md).
        let writer_options = options
            .clone()
            .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string());
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(writer_options).await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        // Staged records number past every record of `events` (migration
        // `search`), also after rows were loaded into it behind the server's back.
        sqlx::query(
            "INSERT INTO sqlite_sequence (name, seq) SELECT 'events_recent', 0 \
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_recent')",
        )
        .execute(&writer)
        .await?;
        sqlx::query(
            "UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(seq), 0) FROM events)) \
             WHERE name = 'events_recent'",
        )
        .execute(&writer)
        .await?;
        let reader = SqlitePoolOptions::new().max_connections(readers()).connect_with(options.read_only(true)).await?;
        let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events_recent").fetch_one(&writer).await?;
        let (purging, checking, exporting, alerting) = Default::default();
        let staged = AtomicUsize::new(staged as usize);
        Ok(SqliteDb { writer, reader, staged, move_at, purging, checking, exporting, alerting })
    }

    /// SQLite has one writer; a second would wait for the first's lock.
    pub const CONCURRENT_WRITES: usize = 1;

    pub fn pools(&self) -> [(&'static str, &SqlitePool); 2] {
        [("writer", &self.writer), ("reader", &self.reader)]
    }

    /// Reads go to the reader pool, writes to the one writer connection. The
    /// session store uses them the same way.
    pub fn pool(&self, to: Use) -> &SqlitePool {
        match to {
            Use::Read | Use::Replica | Use::Stream => &self.reader,
            Use::Write => &self.writer,
        }
    }

    /// IMMEDIATE takes the write lock at once, so no reader upgrade can deadlock.
    pub async fn begin(&self) -> sqlx::Result<sqlx::Transaction<'static, Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// A job's lock: a SQLite database has one writing process, so a lock
    /// within it is enough.
    pub fn job_lock(&self, job: Job) -> Option<JobGuard> {
        let lock = match job {
            Job::Purge => &self.purging,
            Job::IntegrityCheck => &self.checking,
            Job::LogStreams => &self.exporting,
            Job::Alerts => &self.alerting,
        };
        let guard = lock.clone().try_lock_owned().ok()?;
        Some(JobGuard(Box::new(guard)))
    }

    /// Counts records a committed transaction staged, towards the next move.
    pub fn staged(&self, records: usize) {
        self.staged.fetch_add(records, Ordering::Relaxed);
    }

    /// Moves the staged records into `events` in one transaction, once enough
    /// have gathered. Runs on the writer between groups, after their answers.
    pub async fn compact(&self) -> StoreResult<()> {
        if self.staged.load(Ordering::Relaxed) < self.move_at {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut tx = self.begin().await?;
        let moved = move_staged(&mut tx).await?;
        tx.commit().await?;
        self.staged.fetch_sub(moved, Ordering::Relaxed);
        tracing::info!(moved, ms = started.elapsed().as_millis() as u64, "moved staged records into events");
        Ok(())
    }
}

/// `events_recent` into `events`, in the order received; the number moved.
/// One statement per `MOVE_STATEMENT_ROWS`: inside a transaction SQLite keeps
/// the original of every page a statement changes (to undo just that
/// statement), in memory here (`temp_store`), so one statement for a whole
/// stage grew the server by hundreds of MiB (docs/performance.md).
async fn move_staged(conn: &mut SqliteConnection) -> sqlx::Result<usize> {
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM events_recent").fetch_one(&mut *conn).await?;
    let (Some(first), Some(last)) = (first, last) else { return Ok(0) };
    // `seq` too: the record's search document is filed under it.
    let columns = format!("seq, {}, commit_tx", columns::names());
    let copy = format!(
        "INSERT INTO events ({columns}) SELECT {columns} FROM events_recent WHERE seq >= ? AND seq < ? ORDER BY seq"
    );
    for from in (first..=last).step_by(MOVE_STATEMENT_ROWS) {
        sqlx::query(&copy).bind(from).bind(from + MOVE_STATEMENT_ROWS as i64).execute(&mut *conn).await?;
    }
    let deleted = sqlx::query("DELETE FROM events_recent").execute(&mut *conn).await?;
    Ok(deleted.rows_affected() as usize)
}

/// Stages the group's new records; their outcomes and the ids of the new ones.
pub async fn write_group(
    conn: &mut SqliteConnection,
    requests: &[Vec<NewRecord>],
    indexed: bool,
) -> sqlx::Result<(Vec<InsertOutcome>, HashSet<Uuid>)> {
    let records: Vec<&NewRecord> = requests.iter().flatten().collect();
    let mut inserted = HashSet::with_capacity(records.len());
    let commit_tx = next_commit_tx(conn).await?;
    let mut documents: Vec<(i64, String)> = Vec::with_capacity(records.len());
    let mut rest = records.as_slice();
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(statement_rows(rest.len()));
        let rows: Vec<(i64, Uuid)> = stage(chunk, commit_tx).build_query_as().fetch_all(&mut *conn).await?;
        if indexed {
            let by_id: HashMap<Uuid, &NewRecord> = chunk.iter().map(|r| (r.id, *r)).collect();
            documents.extend(rows.iter().filter_map(|(seq, id)| {
                Some((*seq, search::document(&search::Searchable::of(by_id.get(id)?), Dialect::Sqlite)))
            }));
        }
        inserted.extend(rows.into_iter().map(|(_, id)| id));
        rest = tail;
    }
    index(conn, &documents).await?;

    let rollups = rollup::aggregate(records.iter().copied(), &inserted);
    write_rollups(conn, &rollups).await?;

    let mut existing = HashMap::new();
    for (workspace_id, event_id) in skipped(requests, &inserted) {
        let id: Uuid = sqlx::query_scalar(
            "SELECT id FROM events WHERE workspace_id = ?1 AND event_id = ?2 \
             UNION ALL SELECT id FROM events_recent WHERE workspace_id = ?1 AND event_id = ?2",
        )
        .bind(workspace_id)
        .bind(event_id)
        .fetch_one(&mut *conn)
        .await?;
        existing.insert((workspace_id, event_id.to_owned()), id);
    }
    Ok((outcomes(requests, &inserted, &existing), inserted))
}

/// Files the search `documents` of records stored under their `seq`, in
/// statements of up to `MAX_ROWS_PER_STATEMENT`.
async fn index(conn: &mut SqliteConnection, documents: &[(i64, String)]) -> sqlx::Result<()> {
    let mut rest = documents;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(statement_rows(rest.len()));
        let mut query = QueryBuilder::<Sqlite>::new("INSERT INTO events_search (rowid, doc) ");
        query.push_values(chunk, |mut row, (seq, document)| {
            row.push_bind(*seq).push_bind(document.as_str());
        });
        query.build().execute(&mut *conn).await?;
        rest = tail;
    }
    Ok(())
}

/// Indexes the `limit` newest records below the backlog's mark (migration
/// `search`) and lowers it past them; how many were indexed, `None` once
/// none is left. A record indexed before (a reindex) loses its old words first.
pub async fn index_backlog(conn: &mut SqliteConnection, limit: usize) -> sqlx::Result<Option<usize>> {
    let below: Option<i64> = sqlx::query_scalar("SELECT below FROM search_backfill").fetch_optional(&mut *conn).await?;
    let Some(below) = below else { return Ok(None) };
    let columns = search::searched_columns(Dialect::Sqlite);
    let select = format!(
        "SELECT * FROM (SELECT {columns} FROM events e WHERE e.seq < ?1 ORDER BY e.seq DESC LIMIT ?2) \
         UNION ALL SELECT * FROM (SELECT {columns} FROM events_recent e WHERE e.seq < ?1 ORDER BY e.seq DESC LIMIT ?2) \
         ORDER BY seq DESC LIMIT ?2"
    );
    let rows: Vec<search::StoredSearchable> =
        sqlx::query_as(&select).bind(below).bind(limit as i64).fetch_all(&mut *conn).await?;
    let documents: Vec<(i64, String)> = rows
        .iter()
        .filter_map(|row| Some((row.position.seq()?, search::document(&row.searchable(), Dialect::Sqlite))))
        .collect();
    let Some(lowest) = documents.last().map(|(seq, _)| *seq) else {
        sqlx::query("DELETE FROM search_backfill").execute(&mut *conn).await?;
        return Ok(None);
    };
    sqlx::query("DELETE FROM events_search WHERE rowid >= ? AND rowid < ?")
        .bind(lowest)
        .bind(below)
        .execute(&mut *conn)
        .await?;
    index(conn, &documents).await?;
    sqlx::query("UPDATE search_backfill SET below = ?").bind(lowest).execute(&mut *conn).await?;
    Ok(Some(documents.len()))
}

/// Marks every record to be indexed again; their words serve until then.
pub async fn reindex(conn: &mut SqliteConnection) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO search_backfill (id, below) SELECT 1, MAX(seq) + 1 \
         FROM (SELECT MAX(seq) AS seq FROM events UNION ALL SELECT MAX(seq) FROM events_recent) HAVING MAX(seq) > 0",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

type Row<'b, 'q> = Separated<'b, 'q, Sqlite, &'static str>;

/// Runs `INSERT INTO table (columns) VALUES (...), (...) tail` over `rows`,
/// in statements of up to `MAX_ROWS_PER_STATEMENT / 2` rows (fewer statements,
/// same SQL shapes). `bind` binds one row's values, borrowed from the row.
async fn upsert_all<T>(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &str,
    tail: &str,
    rows: &[T],
    bind: impl for<'b, 'q> Fn(&mut Row<'b, 'q>, &'q T),
) -> sqlx::Result<()> {
    let mut rest = rows;
    while !rest.is_empty() {
        let (chunk, tail_rows) = rest.split_at(statement_rows(rest.len().min(MAX_ROWS_PER_STATEMENT / 2)));
        let mut query = QueryBuilder::new(format!("INSERT INTO {table} ({columns}) "));
        query.push_values(chunk, |mut row, values| bind(&mut row, values)).push(" ").push(tail);
        query.build().execute(&mut *conn).await?;
        rest = tail_rows;
    }
    Ok(())
}

fn bind_counts<'q>(row: &mut Row<'_, 'q>, counts: &'q rollup::RollupCounts) {
    let d = &counts.durations;
    row.push_bind(counts.records).push_bind(d.count).push_bind(d.sum).push_bind(d.max);
    for n in d.buckets {
        row.push_bind(n);
    }
}

/// Adds a group's counts to the roll-up tables, in multi-row upserts.
async fn write_rollups(conn: &mut SqliteConnection, rollups: &rollup::Rollups) -> sqlx::Result<()> {
    let rows: Vec<_> = rollups.rows.iter().collect();
    upsert_all(
        conn,
        "rollup_hourly",
        rollup::ROLLUP_COLUMNS,
        &rollup::rollup_upsert_tail(Dialect::Sqlite),
        &rows,
        |row, (k, c)| {
            row.push_bind(k.workspace_id).push_bind(k.hour).push_bind(k.brand.as_str()).push_bind(k.kind);
            row.push_bind(k.key.as_str()).push_bind(k.severity).push_bind(k.visibility).push_bind(k.status);
            row.push_bind(k.provider.as_str());
            bind_counts(row, c)
        },
    )
    .await?;

    let platform: Vec<_> = rollups.platform.iter().collect();
    let tail = rollup::platform_upsert_tail(Dialect::Sqlite);
    upsert_all(conn, "rollup_platform_hourly", rollup::PLATFORM_COLUMNS, &tail, &platform, |row, (k, c)| {
        row.push_bind(k.hour).push_bind(k.kind).push_bind(k.key.as_str()).push_bind(k.severity);
        row.push_bind(k.status).push_bind(k.provider.as_str());
        bind_counts(row, c)
    })
    .await?;

    for (counts, tables) in rollups.actor_counts() {
        let scoped: Vec<_> = counts.scoped.iter().collect();
        let tail = rollup::actor_upsert_tail(tables.scoped);
        upsert_all(conn, tables.scoped, rollup::ACTOR_COLUMNS, &tail, &scoped, |row, (k, n)| {
            row.push_bind(k.workspace_id).push_bind(k.hour).push_bind(k.brand.as_str()).push_bind(k.visibility);
            row.push_bind(k.actor.as_str()).push_bind(**n);
        })
        .await?;
        let platform: Vec<_> = counts.platform.iter().collect();
        let tail = rollup::platform_actor_upsert_tail(tables.platform);
        upsert_all(
            conn,
            tables.platform,
            rollup::PLATFORM_ACTOR_COLUMNS,
            &tail,
            &platform,
            |row, ((hour, actor), n)| {
                row.push_bind(*hour).push_bind(actor.as_str()).push_bind(**n);
            },
        )
        .await?;
    }
    Ok(())
}

/// The largest power of two not above `remaining` or the statement maximum.
fn statement_rows(remaining: usize) -> usize {
    let cap = remaining.min(MAX_ROWS_PER_STATEMENT);
    1 << (usize::BITS - 1 - cap.leading_zeros())
}

/// The number of this write transaction in commit order (migration
/// `commit_order`), counted inside the transaction, which holds SQLite's one
/// write lock: even another process writing the same file cannot take the
/// same number or commit out of order.
async fn next_commit_tx(conn: &mut SqliteConnection) -> sqlx::Result<i64> {
    let (n,): (i64,) =
        super::statement::for_sqlite(super::records::next_commit_tx).build_query_as().fetch_one(&mut *conn).await?;
    Ok(n)
}

/// Stages `records` as written by transaction `commit_tx` and returns the new
/// ones' ids. A record whose (workspace, event_id) is in either table is a
/// duplicate: `events` is checked here, `events_recent` by its unique index.
fn stage<'q>(records: &[&'q NewRecord], commit_tx: i64) -> QueryBuilder<'q, Sqlite> {
    let mut query =
        QueryBuilder::new(format!("INSERT INTO events_recent ({}, commit_tx) SELECT *, ", columns::names()));
    query.push_bind(commit_tx).push(" FROM (");
    query.push_values(records, |mut row, record| {
        for column in &RECORD_COLUMNS {
            bind_column(&mut row, column.value, record);
        }
    });
    query.push(format_args!(
        ") AS v WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = v.{} AND e.event_id = v.{}) \
         ON CONFLICT (workspace_id, event_id) DO NOTHING RETURNING seq, id",
        values_column("workspace_id"),
        values_column("event_id")
    ));
    query
}

fn bind_column<'q>(row: &mut Row<'_, 'q>, value: Value, record: &'q NewRecord) {
    match value {
        Value::Uuid(read) => row.push_bind(read(record)),
        Value::BigInt(read) => row.push_bind(read(record)),
        Value::NullableBigInt(read) => row.push_bind(read(record)),
        Value::SmallInt(read) => row.push_bind(read(record)),
        Value::Text(read) | Value::Json(read) => row.push_bind(read(record)),
    };
}

/// SQLite's name for a column of `VALUES` used as a table.
fn values_column(name: &str) -> String {
    format!("column{}", columns::position(name).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_take_the_largest_power_of_two() {
        assert_eq!(statement_rows(1), 1);
        assert_eq!(statement_rows(3), 2);
        assert_eq!(statement_rows(MAX_ROWS_PER_STATEMENT - 1), MAX_ROWS_PER_STATEMENT / 2);
        assert_eq!(statement_rows(MAX_ROWS_PER_STATEMENT), MAX_ROWS_PER_STATEMENT);
        assert_eq!(statement_rows(5000), MAX_ROWS_PER_STATEMENT);
    }

    #[test]
    fn staging_binds_every_column_of_every_record() {
        let record = columns::sample_record();
        let sql = stage(&[&record, &record], 7).into_sql();
        assert_eq!(sql.matches('?').count(), 2 * RECORD_COLUMNS.len() + 1, "and the transaction's number");
        assert!(sql.contains("WHERE e.workspace_id = v.column2 AND e.event_id = v.column3"), "{sql}");
    }
}
