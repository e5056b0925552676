//! PostgreSQL: a connection pool; a group of records is one INSERT over
//! UNNEST of column arrays, in one transaction, into partitions of `events`
//! that exist before it runs (`partitions.rs`).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;

use app::model::DURATION_BUCKETS;
use app::store::{InsertOutcome, Job, JobGuard, NewRecord};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Encode, PgConnection, PgPool, Postgres, QueryBuilder, Type};
use uuid::Uuid;

use super::chain::NewLink;
use super::columns::{self, Value, RECORD_COLUMNS};
use super::outcomes::{outcomes, skipped};
use super::partitions::Partitions;
use super::rollup;
use super::search;
use super::sql_store::Use;
use super::statement::Dialect;

const POOL_SIZE: u32 = 16;
/// How long a request waits for a connection. While the database is down the
/// pool keeps trying to connect for this long, so it is also how soon a
/// request learns of an outage (and answers 503): short, since a healthy
/// pool hands out a connection in microseconds.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(750);

/// The advisory lock one purging server holds ("trail" and 1).
const PURGE_LOCK: i64 = 0x7472_6169_6c00_0001;
const CHECK_LOCK: i64 = 0x7472_6169_6c00_0006;
const LOG_STREAMS_LOCK: i64 = 0x7472_6169_6c00_0007;
const ALERTS_LOCK: i64 = 0x7472_6169_6c00_0008;
/// The transaction lock of the one server signing digests ("trail" and 2).
pub const DIGEST_LOCK: i64 = 0x7472_6169_6c00_0002;
/// The transaction lock of a batch of the upgrade's chaining ("trail" and 3).
pub const BACKFILL_LOCK: i64 = 0x7472_6169_6c00_0003;
/// Sign-in attempts are counted one at a time, across servers.
pub const SIGN_IN_LOCK: i64 = 0x7472_6169_6c00_0005;

/// A pool on `url`. No JIT: Trail's queries are short, and PostgreSQL
/// compiled the stats aggregates each time their estimated cost passed
/// jit_above_cost, which cost more than the queries themselves.
async fn connect(url: &str, size: u32) -> sqlx::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
    PgPoolOptions::new().max_connections(size).acquire_timeout(ACQUIRE_TIMEOUT).connect_with(options).await
}

/// Connections of the live stream's own pool (`Use::Stream`).
const STREAM_POOL_SIZE: u32 = 4;

pub struct PgDb {
    pool: PgPool,
    /// The live stream's reads, on the primary.
    stream: PgPool,
    /// A streaming replica for reads that may lag (`Use::Replica`).
    replica: Option<PgPool>,
    partitions: Partitions,
}

impl PgDb {
    /// Opens the database at `url` and migrates it; reads that may lag go
    /// to `read_url`, a streaming replica of it, if given.
    pub async fn open(url: &str, read_url: Option<&str>) -> anyhow::Result<Self> {
        let pool = connect(url, POOL_SIZE).await?;
        let stream = connect(url, STREAM_POOL_SIZE).await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        let partitions = Partitions::default();
        partitions.ensure_current(&pool).await?;
        let replica = match read_url {
            Some(read_url) => {
                Some(connect(read_url, POOL_SIZE).await.context("connecting to TRAIL_DATABASE_READ_URL")?)
            }
            None => None,
        };
        Ok(PgDb { pool, stream, replica, partitions })
    }

    /// The partitions of `events` this process knows of.
    pub fn partitions(&self) -> &Partitions {
        &self.partitions
    }

    /// Groups written at once: PostgreSQL commits them in parallel, and one
    /// writer left its WAL flushes and other cores idle (docs/performance.md).
    pub const CONCURRENT_WRITES: usize = 4;

    /// The primary: writes, and every read but those that may lag.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The replica for `Use::Replica`, if there is one; the stream's own
    /// pool for `Use::Stream`; else the primary.
    pub fn pool_for(&self, to: Use) -> &PgPool {
        match (to, &self.replica) {
            (Use::Replica, Some(replica)) => replica,
            (Use::Stream, _) => &self.stream,
            _ => &self.pool,
        }
    }

    pub fn pools(&self) -> Vec<(&'static str, &PgPool)> {
        let mut pools = vec![("pool", &self.pool), ("stream", &self.stream)];
        pools.extend(self.replica.as_ref().map(|replica| ("replica", replica)));
        pools
    }

    /// A job's advisory lock, on a connection of its own that never goes
    /// back to the pool: closing it releases the lock however the job ends.
    pub async fn job_lock(&self, job: Job) -> sqlx::Result<Option<JobGuard>> {
        let key = match job {
            Job::Purge => PURGE_LOCK,
            Job::IntegrityCheck => CHECK_LOCK,
            Job::LogStreams => LOG_STREAMS_LOCK,
            Job::Alerts => ALERTS_LOCK,
        };
        let mut conn = self.pool.acquire().await?.detach();
        let (locked,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut conn).await?;
        Ok(locked.then(|| JobGuard(Box::new(conn))))
    }
}

/// Writes the group's records and roll-ups; their outcomes and the ids of the new ones.
pub async fn write_group(
    tx: &mut PgConnection,
    requests: &[Vec<NewRecord>],
    indexed: bool,
) -> sqlx::Result<(Vec<InsertOutcome>, HashSet<Uuid>)> {
    // In key order, like the roll-ups: concurrent groups that repeat an
    // event_id wait for each other in one order and cannot deadlock.
    let mut records: Vec<&NewRecord> = requests.iter().flatten().collect();
    records.sort_by(|a, b| (a.workspace_id, &a.event_id).cmp(&(b.workspace_id, &b.event_id)));
    let claimed = claim_event_ids(tx, &records).await?;
    // Each new record once: a retried request may repeat one in the group.
    let mut seen = HashSet::new();
    records.retain(|r| (r.event_id.is_none() || claimed.contains(&r.id)) && seen.insert(r.id));
    let inserted: HashSet<Uuid> = if records.is_empty() {
        HashSet::new()
    } else {
        insert(&records, indexed).build_query_scalar::<Uuid>().fetch_all(&mut *tx).await?.into_iter().collect()
    };

    let rollups = rollup::aggregate(requests.iter().flatten(), &inserted);
    write_rollups(tx, &rollups).await?;

    let skipped = skipped(requests, &inserted);
    let mut existing = HashMap::new();
    if !skipped.is_empty() {
        let (workspaces, event_ids): (Vec<i64>, Vec<&str>) = skipped.into_iter().unzip();
        let mut query = Unnest::new("SELECT e.workspace_id, e.event_id, e.record_id FROM event_ids e JOIN UNNEST(");
        query.array(workspaces, "bigint[]").array(event_ids, "text[]");
        let mut query = query
            .finish(" AS d (workspace_id, event_id) ON e.workspace_id = d.workspace_id AND e.event_id = d.event_id");
        let rows: Vec<(i64, String, Uuid)> = query.build_query_as().fetch_all(&mut *tx).await?;
        existing.extend(rows.into_iter().map(|(w, e, id)| ((w, e), id)));
    }
    Ok((outcomes(requests, &inserted, &existing), inserted))
}

/// A statement over `UNNEST` of bound arrays, one per column.
struct Unnest<'q> {
    query: QueryBuilder<'q, Postgres>,
    arrays: usize,
}

impl<'q> Unnest<'q> {
    /// `head` ends where the arrays begin, with `UNNEST(`.
    fn new(head: impl Into<String>) -> Self {
        Unnest { query: QueryBuilder::new(head), arrays: 0 }
    }

    /// Binds `values` as the next array, cast to `sql_type`.
    fn array<T>(&mut self, values: Vec<T>, sql_type: &str) -> &mut Self
    where
        Vec<T>: 'q + Encode<'q, Postgres> + Type<Postgres>,
    {
        if self.arrays > 0 {
            self.query.push(", ");
        }
        self.arrays += 1;
        self.query.push_bind(values).push(format_args!("::{sql_type}"));
        self
    }

    /// Closes `UNNEST(…)` and appends `tail`.
    fn finish(mut self, tail: &str) -> QueryBuilder<'q, Postgres> {
        self.query.push(")").push(tail);
        self.query
    }
}

/// Claims the producers' ids of `records` in `event_ids` (unique per
/// workspace across every partition, which an index of the partitioned
/// `events` cannot be); the ids of the records that claimed theirs. First in
/// the group's transaction: it locks nothing of `events` while it waits for
/// a writer (or a purge) that holds the same producer's id.
async fn claim_event_ids(tx: &mut PgConnection, records: &[&NewRecord]) -> sqlx::Result<HashSet<Uuid>> {
    let claims: Vec<(&NewRecord, &str)> = records.iter().filter_map(|r| Some((*r, r.event_id.as_deref()?))).collect();
    if claims.is_empty() {
        return Ok(HashSet::new());
    }
    let mut query = Unnest::new("INSERT INTO event_ids (workspace_id, event_id, record_id) SELECT * FROM UNNEST(");
    query
        .array(claims.iter().map(|(r, _)| r.workspace_id).collect(), "bigint[]")
        .array(claims.iter().map(|(_, event_id)| *event_id).collect(), "text[]")
        .array(claims.iter().map(|(r, _)| r.id).collect(), "uuid[]");
    let mut claimed = query.finish(" ON CONFLICT DO NOTHING RETURNING record_id");
    Ok(claimed.build_query_scalar::<Uuid>().fetch_all(tx).await?.into_iter().collect())
}

/// Inserts `records` (new, each once) and returns their ids.
fn insert<'q>(records: &[&'q NewRecord], indexed: bool) -> QueryBuilder<'q, Postgres> {
    let names = columns::names();
    // JSON travels as text and is stored as jsonb.
    let select: Vec<String> = RECORD_COLUMNS
        .iter()
        .map(|c| match c.value {
            Value::Json(_) => format!("{}::jsonb", c.name),
            _ => c.name.to_owned(),
        })
        .collect();
    // And each record's search document, as its words (`search::document`).
    let mut query = Unnest::new(format!(
        "INSERT INTO events ({names}, search) SELECT {}, search::tsvector FROM UNNEST(",
        select.join(", ")
    ));
    for column in &RECORD_COLUMNS {
        let sql_type = column.value.pg_array();
        match column.value {
            Value::Uuid(read) => query.array(records.iter().map(|r| read(r)).collect(), sql_type),
            Value::BigInt(read) => query.array(records.iter().map(|r| read(r)).collect(), sql_type),
            Value::NullableBigInt(read) => query.array(records.iter().map(|r| read(r)).collect(), sql_type),
            Value::SmallInt(read) => query.array(records.iter().map(|r| read(r)).collect(), sql_type),
            Value::Text(read) | Value::Json(read) => query.array(records.iter().map(|r| read(r)).collect(), sql_type),
        };
    }
    let documents =
        records.iter().map(|r| indexed.then(|| search::document(&search::Searchable::of(r), Dialect::Postgres)));
    query.array(documents.collect::<Vec<Option<String>>>(), "text[]");
    query.finish(&format!(" AS t ({names}, search) RETURNING id"))
}

/// Indexes the `limit` records after the backlog's mark (migration
/// `search`), by id, and moves it past them; how many were indexed, `None`
/// once none is left.
pub async fn index_backlog(tx: &mut PgConnection, limit: usize) -> sqlx::Result<Option<usize>> {
    let mark: Option<(Uuid, Uuid)> =
        sqlx::query_as("SELECT after, through FROM search_backfill FOR UPDATE").fetch_optional(&mut *tx).await?;
    let Some((after, through)) = mark else { return Ok(None) };
    let columns = search::searched_columns(Dialect::Postgres);
    let rows: Vec<search::StoredSearchable> = sqlx::query_as(&format!(
        "SELECT {columns} FROM events e WHERE e.id > $1 AND e.id <= $2 ORDER BY e.id LIMIT $3"
    ))
    .bind(after)
    .bind(through)
    .bind(limit as i64)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = rows.iter().filter_map(|row| row.position.id()).collect();
    let Some(last) = ids.last().copied() else {
        sqlx::query("DELETE FROM search_backfill").execute(&mut *tx).await?;
        return Ok(None);
    };
    let mut query = Unnest::new("UPDATE events e SET search = d.doc::tsvector FROM UNNEST(");
    query
        .array(ids.clone(), "uuid[]")
        .array(rows.iter().map(|row| row.kind.clone()).collect(), "text[]")
        .array(rows.iter().map(|row| search::document(&row.searchable(), Dialect::Postgres)).collect(), "text[]");
    query.finish(" AS d (id, kind, doc) WHERE e.kind = d.kind AND e.id = d.id").build().execute(&mut *tx).await?;
    sqlx::query("UPDATE search_backfill SET after = $1").bind(last).execute(&mut *tx).await?;
    Ok(Some(ids.len()))
}

/// Marks every record to be indexed again; their documents serve until then.
pub async fn reindex(tx: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO search_backfill (id, after, through) \
         SELECT 1, '00000000-0000-0000-0000-000000000000', id FROM events ORDER BY id DESC LIMIT 1 \
         ON CONFLICT (id) DO UPDATE SET after = excluded.after, through = excluded.through",
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Appends a group's chain links: one statement over arrays.
pub async fn insert_links(tx: &mut PgConnection, links: &[NewLink]) -> sqlx::Result<()> {
    let mut query = Unnest::new(
        "INSERT INTO chain_links (workspace_id, kind, seq, record_id, content, hash) SELECT * FROM UNNEST(",
    );
    query
        .array(links.iter().map(|l| l.chain.workspace_id).collect(), "bigint[]")
        .array(links.iter().map(|l| l.chain.kind.as_str()).collect(), "text[]")
        .array(links.iter().map(|l| l.seq).collect(), "bigint[]")
        .array(links.iter().map(|l| l.record_id).collect(), "uuid[]")
        .array(links.iter().map(|l| l.content.as_slice()).collect(), "bytea[]")
        .array(links.iter().map(|l| l.hash.as_slice()).collect(), "bytea[]");
    query.finish("").build().execute(tx).await?;
    Ok(())
}

/// Binds the count columns of `counts`, one array per column, in the order
/// of the roll-up tables: records, duration count, sum and max, buckets.
fn count_arrays<'c>(query: &mut Unnest<'_>, counts: impl Iterator<Item = &'c rollup::RollupCounts> + Clone) {
    let column = |f: &dyn Fn(&rollup::RollupCounts) -> i64| counts.clone().map(f).collect::<Vec<i64>>();
    query
        .array(column(&|c| c.records), "bigint[]")
        .array(column(&|c| c.durations.count), "bigint[]")
        .array(column(&|c| c.durations.sum), "bigint[]")
        .array(column(&|c| c.durations.max), "bigint[]");
    for i in 0..DURATION_BUCKETS {
        query.array(column(&|c| c.durations.buckets[i]), "bigint[]");
    }
}

/// `INSERT INTO table (columns) SELECT * FROM UNNEST(`.
fn upsert_head(table: &str, columns: &str) -> String {
    format!("INSERT INTO {table} ({columns}) SELECT * FROM UNNEST(")
}

/// Adds a group's counts to the roll-up tables: one statement per table.
async fn write_rollups(tx: &mut PgConnection, rollups: &rollup::Rollups) -> sqlx::Result<()> {
    if !rollups.rows.is_empty() {
        let (keys, counts): (Vec<_>, Vec<_>) = rollups.rows.iter().unzip();
        let text = |f: fn(&rollup::RollupKey) -> &str| keys.iter().map(|k| f(k)).collect::<Vec<&str>>();
        let mut query = Unnest::new(upsert_head("rollup_hourly", rollup::ROLLUP_COLUMNS));
        query
            .array(keys.iter().map(|k| k.workspace_id).collect(), "bigint[]")
            .array(keys.iter().map(|k| k.hour).collect(), "bigint[]")
            .array(text(|k| &k.brand), "text[]")
            .array(text(|k| k.kind), "text[]")
            .array(text(|k| &k.key), "text[]")
            .array(keys.iter().map(|k| k.severity).collect(), "smallint[]")
            .array(text(|k| k.visibility), "text[]")
            .array(text(|k| k.status), "text[]")
            .array(text(|k| &k.provider), "text[]");
        count_arrays(&mut query, counts.into_iter());
        query.finish(&format!(" {}", rollup::rollup_upsert_tail(Dialect::Postgres))).build().execute(&mut *tx).await?;
    }
    if !rollups.platform.is_empty() {
        let (keys, counts): (Vec<_>, Vec<_>) = rollups.platform.iter().unzip();
        let text = |f: fn(&rollup::PlatformKey) -> &str| keys.iter().map(|k| f(k)).collect::<Vec<&str>>();
        let mut query = Unnest::new(upsert_head("rollup_platform_hourly", rollup::PLATFORM_COLUMNS));
        query
            .array(keys.iter().map(|k| k.hour).collect(), "bigint[]")
            .array(text(|k| k.kind), "text[]")
            .array(text(|k| &k.key), "text[]")
            .array(keys.iter().map(|k| k.severity).collect(), "smallint[]")
            .array(text(|k| k.status), "text[]")
            .array(text(|k| &k.provider), "text[]");
        count_arrays(&mut query, counts.into_iter());
        let tail = format!(" {}", rollup::platform_upsert_tail(Dialect::Postgres));
        query.finish(&tail).build().execute(&mut *tx).await?;
    }
    for (counts, tables) in rollups.actor_counts() {
        write_actor_counts(tx, counts, tables).await?;
    }
    Ok(())
}

async fn write_actor_counts(
    tx: &mut PgConnection,
    counts: &rollup::ActorCounts,
    tables: &rollup::ActorTables,
) -> sqlx::Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let mut query = Unnest::new(upsert_head(tables.platform, rollup::PLATFORM_ACTOR_COLUMNS));
    query
        .array(counts.platform.keys().map(|(hour, _)| *hour).collect(), "bigint[]")
        .array(counts.platform.keys().map(|(_, actor)| actor.as_str()).collect(), "text[]")
        .array(counts.platform.values().copied().collect(), "bigint[]");
    let tail = format!(" {}", rollup::platform_actor_upsert_tail(tables.platform));
    query.finish(&tail).build().execute(&mut *tx).await?;

    let mut query = Unnest::new(upsert_head(tables.scoped, rollup::ACTOR_COLUMNS));
    let keys = || counts.scoped.keys();
    query
        .array(keys().map(|k| k.workspace_id).collect(), "bigint[]")
        .array(keys().map(|k| k.hour).collect(), "bigint[]")
        .array(keys().map(|k| k.brand.as_str()).collect(), "text[]")
        .array(keys().map(|k| k.visibility).collect(), "text[]")
        .array(keys().map(|k| k.actor.as_str()).collect(), "text[]")
        .array(counts.scoped.values().copied().collect(), "bigint[]");
    let tail = format!(" {}", rollup::actor_upsert_tail(tables.scoped));
    query.finish(&tail).build().execute(&mut *tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_one_array_per_column() {
        let record = columns::sample_record();
        let sql = insert(&[&record, &record], true).into_sql();
        assert_eq!(sql.matches('$').count(), RECORD_COLUMNS.len() + 1, "and the search documents");
        assert!(sql.contains("FROM UNNEST($1::uuid[], $2::bigint[], $3::text[]"), "{sql}");
        assert!(sql.contains("payload::jsonb, diff::jsonb, occurred_at"), "{sql}");
        assert!(
            sql.ends_with(
                "$29::bigint[], $30::text[]) AS t (id, workspace_id, event_id, brand, kind, key, message, context, \
             entity_type, entity_id, actor_type, actor_id, actor_email, actor_name, actor_label, ip, user_agent, \
             visibility, severity, status, duration_ms, provider, error_message, error_stack, correlation_id, \
             payload, diff, occurred_at, received_at, search) RETURNING id"
            ),
            "{sql}"
        );
    }
}
