//! SQLite: a WAL file with one writer connection and a pool of readers.
//! Commits are durable (`synchronous = FULL`): an acknowledged record survives
//! a crash of the process or of the machine. Each group commit is staged in
//! `events_recent` and moved into `events` in bulk (migration `recent_events`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use app::store::{InsertOutcome, NewRecord, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::rollup;
use super::sql::{Dialect, INSERT_COLUMNS, INSERT_COLUMN_COUNT};

/// Rows per INSERT statement. Powers of two up to this keep the number of
/// distinct (cached) statements small. Bigger statements gain little and their
/// cached programs cost memory (measured: 256 rows peaked 13 MiB above 64 rows
/// during ingest, at the same throughput).
const MAX_ROWS_PER_STATEMENT: usize = 128;
const WRITER_CACHE_KIB: u32 = 8 * 1024;
const WAL_CHECKPOINT_PAGES: u32 = 10_000;
/// Staged records moved into `events` per statement (see `move_staged`).
const MOVE_STATEMENT_ROWS: usize = 1_000;

/// Reader connections: two per core, at least 4. Each holds a page cache, its
/// prepared statements and its thread's allocations: on 2 cores, 8 readers
/// held 23-28 MiB more than 4 and served no more pages (measured in turns).
fn readers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    (2 * cores).clamp(4, 16)
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    keys: super::key_cache::KeyCache,
    /// Records in `events_recent`, waiting to be moved into `events`.
    staged: AtomicUsize,
    /// They are moved once there are this many (`Config::sqlite_stage_rows`).
    move_at: usize,
}

impl SqliteStore {
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
        // The writer keeps the indexes' hot pages in memory: with SQLite's 2 MiB
        // default, ingest spent ~8 % of its time re-reading them from the OS.
        // A longer WAL between checkpoints copies a page rewritten by several
        // group commits into the database once (+5-10 % ingest).
        let writer_options = options
            .clone()
            .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES.to_string());
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(writer_options).await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(readers()).connect_with(options.read_only(true)).await?;
        let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events_recent").fetch_one(&writer).await?;
        Ok(SqliteStore { writer, reader, keys: Default::default(), staged: AtomicUsize::new(staged as usize), move_at })
    }

    /// SQLite has one writer; a second would wait for the first's lock.
    const CONCURRENT_WRITES: usize = 1;

    fn pools(&self) -> [(&'static str, &SqlitePool); 2] {
        [("writer", &self.writer), ("reader", &self.reader)]
    }

    /// The session store reads through these too, and writes through the writer.
    pub(super) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub(super) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    async fn insert_records_impl(&self, requests: &[Vec<NewRecord>]) -> StoreResult<Vec<InsertOutcome>> {
        let mut conn = self.writer.acquire().await?;
        // IMMEDIATE takes the write lock now, so no reader upgrade can deadlock.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let written = write_group(&mut conn, requests).await;
        let (outcomes, inserted) = commit_or_roll_back(&mut conn, written).await?;
        self.staged.fetch_add(inserted, Ordering::Relaxed);
        Ok(outcomes)
    }

    /// Moves the staged records into `events` in one transaction, once enough
    /// have gathered. Runs on the writer between groups, after their answers.
    async fn compact_impl(&self) -> StoreResult<()> {
        if self.staged.load(Ordering::Relaxed) < self.move_at {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut conn = self.writer.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let moved = move_staged(&mut conn).await;
        let moved = commit_or_roll_back(&mut conn, moved).await?;
        self.staged.fetch_sub(moved, Ordering::Relaxed);
        tracing::info!(moved, ms = started.elapsed().as_millis() as u64, "moved staged records into events");
        Ok(())
    }
}

/// Ends the transaction `written` ran in: commits if it succeeded, else rolls
/// back. Its result, or the commit's error.
async fn commit_or_roll_back<T>(conn: &mut SqliteConnection, written: sqlx::Result<T>) -> sqlx::Result<T> {
    let committed = match written {
        Ok(value) => sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| value),
        Err(err) => Err(err),
    };
    if committed.is_err() {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    committed
}

/// `events_recent` into `events`, in the order received; the number moved.
/// One statement per `MOVE_STATEMENT_ROWS`: inside a transaction SQLite keeps
/// the original of every page a statement changes (to undo just that
/// statement), in memory here (`temp_store`), so one statement for 50,000
/// records grew the server by 100-300 MiB.
async fn move_staged(conn: &mut SqliteConnection) -> sqlx::Result<usize> {
    let (first, last): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM events_recent").fetch_one(&mut *conn).await?;
    let (Some(first), Some(last)) = (first, last) else { return Ok(0) };
    let copy = format!(
        "INSERT INTO events ({INSERT_COLUMNS}) SELECT {INSERT_COLUMNS} FROM events_recent \
         WHERE seq >= ? AND seq < ? ORDER BY seq"
    );
    for from in (first..=last).step_by(MOVE_STATEMENT_ROWS) {
        sqlx::query(&copy).bind(from).bind(from + MOVE_STATEMENT_ROWS as i64).execute(&mut *conn).await?;
    }
    let deleted = sqlx::query("DELETE FROM events_recent").execute(&mut *conn).await?;
    Ok(deleted.rows_affected() as usize)
}

super::impl_store!(SqliteStore, Sqlite, Dialect::Sqlite, "sqlite");

/// Stages the group's new records; their outcomes and how many were new.
async fn write_group(
    conn: &mut SqliteConnection,
    requests: &[Vec<NewRecord>],
) -> sqlx::Result<(Vec<InsertOutcome>, usize)> {
    let records: Vec<&NewRecord> = requests.iter().flatten().collect();
    let mut inserted = HashSet::with_capacity(records.len());
    let mut rest = records.as_slice();
    while !rest.is_empty() {
        let take = statement_rows(rest.len());
        let (chunk, tail) = rest.split_at(take);
        let mut query = sqlx::query_scalar::<Sqlite, Uuid>(insert_sql(take));
        for record in chunk {
            query = bind_record(query, record);
        }
        inserted.extend(query.fetch_all(&mut *conn).await?);
        rest = tail;
    }

    let rollups = rollup::aggregate(records.iter().copied(), &inserted);
    write_rollups(conn, &rollups).await?;

    let mut existing = HashMap::new();
    for (workspace_id, event_id) in super::skipped(requests, &inserted) {
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
    Ok((super::outcomes(requests, &inserted, &existing), inserted.len()))
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Runs `INSERT INTO table (columns) VALUES (...), (...) tail` over `rows`,
/// in statements of up to `MAX_ROWS_PER_STATEMENT / 2` rows (fewer statements,
/// same SQL shapes). `bind` binds one row's values, borrowed from the row.
async fn upsert_all<T>(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &str,
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(SqliteQuery<'q>, &'q T) -> SqliteQuery<'q>,
) -> sqlx::Result<()> {
    let one_row = format!("({})", vec!["?"; columns.split(',').count()].join(", "));
    let mut rest = rows;
    while !rest.is_empty() {
        let take = statement_rows(rest.len().min(MAX_ROWS_PER_STATEMENT / 2));
        let (chunk, tail_rows) = rest.split_at(take);
        let sql = format!("INSERT INTO {table} ({columns}) VALUES {} {tail}", vec![one_row.as_str(); take].join(", "));
        chunk.iter().fold(sqlx::query(&sql), &bind).execute(&mut *conn).await?;
        rest = tail_rows;
    }
    Ok(())
}

fn bind_counts<'q>(query: SqliteQuery<'q>, counts: &rollup::RollupCounts) -> SqliteQuery<'q> {
    let d = &counts.durations;
    let query = query.bind(counts.records).bind(d.count).bind(d.sum).bind(d.max);
    d.buckets.iter().fold(query, |q, n| q.bind(*n))
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
        |q, (k, c)| {
            let q = q
                .bind(k.workspace_id)
                .bind(k.hour)
                .bind(k.brand.as_str())
                .bind(k.kind)
                .bind(k.key.as_str())
                .bind(k.severity)
                .bind(k.visibility)
                .bind(k.status)
                .bind(k.provider.as_str());
            bind_counts(q, c)
        },
    )
    .await?;

    let platform: Vec<_> = rollups.platform.iter().collect();
    let tail = rollup::platform_upsert_tail(Dialect::Sqlite);
    upsert_all(conn, "rollup_platform_hourly", rollup::PLATFORM_COLUMNS, &tail, &platform, |q, (k, c)| {
        let q =
            q.bind(k.hour).bind(k.kind).bind(k.key.as_str()).bind(k.severity).bind(k.status).bind(k.provider.as_str());
        bind_counts(q, c)
    })
    .await?;

    for (counts, tables) in rollups.actor_counts() {
        let scoped: Vec<_> = counts.scoped.iter().collect();
        let tail = rollup::actor_upsert_tail(tables.scoped);
        upsert_all(conn, tables.scoped, rollup::ACTOR_COLUMNS, &tail, &scoped, |q, (k, n)| {
            q.bind(k.workspace_id)
                .bind(k.hour)
                .bind(k.brand.as_str())
                .bind(k.visibility)
                .bind(k.actor.as_str())
                .bind(**n)
        })
        .await?;
        let platform: Vec<_> = counts.platform.iter().collect();
        let tail = rollup::platform_actor_upsert_tail(tables.platform);
        upsert_all(conn, tables.platform, rollup::PLATFORM_ACTOR_COLUMNS, &tail, &platform, |q, ((hour, actor), n)| {
            q.bind(*hour).bind(actor.as_str()).bind(**n)
        })
        .await?;
    }
    Ok(())
}

/// The largest power of two not above `remaining` or the statement maximum.
fn statement_rows(remaining: usize) -> usize {
    let cap = remaining.min(MAX_ROWS_PER_STATEMENT);
    1 << (usize::BITS - 1 - cap.leading_zeros())
}

/// Stages `rows` records (a power of two) and returns the new ones' ids. A
/// record whose (workspace, event_id) is in either table is a duplicate:
/// `events` is checked here, `events_recent` by its unique index.
fn insert_sql(rows: usize) -> &'static str {
    static STATEMENTS: OnceLock<Vec<String>> = OnceLock::new();
    let statements = STATEMENTS.get_or_init(|| {
        let one_row = format!("({})", vec!["?"; INSERT_COLUMN_COUNT].join(", "));
        (0..=MAX_ROWS_PER_STATEMENT.trailing_zeros())
            .map(|power| {
                let values = vec![one_row.as_str(); 1 << power].join(", ");
                format!(
                    "INSERT INTO events_recent ({INSERT_COLUMNS}) SELECT * FROM (VALUES {values}) AS v \
                     WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = v.{} AND e.event_id = v.{}) \
                     ON CONFLICT (workspace_id, event_id) DO NOTHING RETURNING id",
                    values_column("workspace_id"),
                    values_column("event_id")
                )
            })
            .collect()
    });
    &statements[rows.trailing_zeros() as usize]
}

/// SQLite's name for an inserted column in `VALUES` used as a table.
fn values_column(name: &str) -> String {
    let position = INSERT_COLUMNS.split(',').position(|c| c.trim() == name).expect("an insert column");
    format!("column{}", position + 1)
}

type InsertQuery<'q> = sqlx::query::QueryScalar<'q, Sqlite, Uuid, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_record<'q>(query: InsertQuery<'q>, r: &'q NewRecord) -> InsertQuery<'q> {
    query
        .bind(r.id)
        .bind(r.workspace_id)
        .bind(r.event_id.as_deref())
        .bind(r.brand.as_deref())
        .bind(r.kind.as_str())
        .bind(r.key.as_str())
        .bind(r.message.as_deref())
        .bind(r.context.as_deref())
        .bind(r.entity_type.as_deref())
        .bind(r.entity_id.as_deref())
        .bind(r.actor_type.as_str())
        .bind(r.actor_id.as_deref())
        .bind(r.actor_email.as_deref())
        .bind(r.actor_name.as_deref())
        .bind(r.actor_label.as_deref())
        .bind(r.ip.as_deref())
        .bind(r.user_agent.as_deref())
        .bind(r.visibility.as_str())
        .bind(r.severity.rank())
        .bind(r.status.map(|s| s.as_str()))
        .bind(r.duration_ms)
        .bind(r.provider.as_deref())
        .bind(r.error_message.as_deref())
        .bind(r.error_stack.as_deref())
        .bind(r.correlation_id.as_deref())
        .bind(r.payload.as_deref())
        .bind(r.diff.as_deref())
        .bind(r.occurred_at.0)
        .bind(r.received_at.0)
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
    fn insert_sql_has_one_placeholder_per_value() {
        let sql = insert_sql(4);
        assert_eq!(sql.matches('?').count(), 4 * INSERT_COLUMN_COUNT);
        assert_eq!(INSERT_COLUMNS.split(',').count(), INSERT_COLUMN_COUNT);
    }
}
