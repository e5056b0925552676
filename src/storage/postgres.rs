//! PostgreSQL: a connection pool; a group of records is one INSERT over
//! UNNEST of column arrays, in one transaction.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use app::store::{InsertOutcome, NewRecord, StoreResult};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use uuid::Uuid;

use super::rollup;
use super::sql::{Dialect, INSERT_COLUMNS};

const POOL_SIZE: u32 = 16;
/// How long a request waits for a connection. While the database is down the
/// pool keeps trying to connect for this long, so it is also how soon a
/// request learns of an outage (and answers 503): short, since a healthy
/// pool hands out a connection in microseconds.
const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(750);

pub struct PgStore {
    pool: PgPool,
    keys: super::key_cache::KeyCache,
}

impl PgStore {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        // No JIT: Trail's queries are short, and PostgreSQL compiled the stats
        // aggregates each time their estimated cost passed jit_above_cost,
        // which cost more than the queries themselves.
        let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool, keys: Default::default() })
    }

    /// Groups written at once: PostgreSQL commits them in parallel, and one
    /// writer left its WAL flushes and other cores idle (64-client ingest ran
    /// at a third of 64 connections doing one INSERT each).
    const CONCURRENT_WRITES: usize = 4;

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn pools(&self) -> [(&'static str, &PgPool); 1] {
        [("pool", &self.pool)]
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL writes records straight into `events`: nothing is staged.
    async fn compact_impl(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn insert_records_impl(&self, requests: &[Vec<NewRecord>]) -> StoreResult<Vec<InsertOutcome>> {
        let mut tx = self.pool.begin().await?;
        // In key order, like the roll-ups: concurrent groups that repeat an
        // event_id wait for each other in one order and cannot deadlock.
        let mut records: Vec<&NewRecord> = requests.iter().flatten().collect();
        records.sort_by(|a, b| (a.workspace_id, &a.event_id).cmp(&(b.workspace_id, &b.event_id)));
        let columns = Columns::from_records(records.into_iter());
        let inserted: HashSet<Uuid> = columns
            .bind(sqlx::query_scalar::<Postgres, Uuid>(insert_sql()))
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();

        let rollups = rollup::aggregate(requests.iter().flatten(), &inserted);
        write_rollups(&mut tx, &rollups).await?;

        let skipped = super::skipped(requests, &inserted);
        let mut existing = HashMap::new();
        if !skipped.is_empty() {
            let (workspaces, event_ids): (Vec<i64>, Vec<&str>) = skipped.into_iter().unzip();
            let rows: Vec<(i64, String, Uuid)> = sqlx::query_as(
                "SELECT e.workspace_id, e.event_id, e.id FROM events e \
                 JOIN UNNEST($1::bigint[], $2::text[]) AS d (workspace_id, event_id) \
                 ON e.workspace_id = d.workspace_id AND e.event_id = d.event_id",
            )
            .bind(&workspaces)
            .bind(&event_ids)
            .fetch_all(&mut *tx)
            .await?;
            existing.extend(rows.into_iter().map(|(w, e, id)| ((w, e), id)));
        }
        tx.commit().await?;
        Ok(super::outcomes(requests, &inserted, &existing))
    }
}

super::impl_store!(PgStore, Postgres, Dialect::Postgres, "postgres");

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// The 16 count columns of a roll-up (records, duration count, sum and max,
/// 12 histogram buckets) as array placeholders, numbered from `first`.
fn count_array_params(first: usize) -> String {
    (first..first + 4 + app::model::DURATION_BUCKETS).map(|n| format!("${n}::bigint[]")).collect::<Vec<_>>().join(", ")
}

/// Binds the count columns of `counts`, one array per column, in `count_array_params` order.
fn bind_count_arrays<'q, 'c>(
    query: PgQuery<'q>,
    counts: impl Iterator<Item = &'c rollup::RollupCounts> + Clone,
) -> PgQuery<'q> {
    let column = |f: &dyn Fn(&rollup::RollupCounts) -> i64| counts.clone().map(f).collect::<Vec<i64>>();
    let query = query
        .bind(column(&|c| c.records))
        .bind(column(&|c| c.durations.count))
        .bind(column(&|c| c.durations.sum))
        .bind(column(&|c| c.durations.max));
    (0..app::model::DURATION_BUCKETS).fold(query, |q, i| q.bind(column(&|c| c.durations.buckets[i])))
}

/// Adds a group's counts to the roll-up tables: one statement per table.
async fn write_rollups(tx: &mut sqlx::PgConnection, rollups: &rollup::Rollups) -> sqlx::Result<()> {
    if !rollups.rows.is_empty() {
        let rows: Vec<_> = rollups.rows.iter().collect();
        let texts =
            |f: &dyn Fn(&rollup::RollupKey) -> String| -> Vec<String> { rows.iter().map(|(k, _)| f(k)).collect() };
        let sql = format!(
            "INSERT INTO rollup_hourly ({}) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], \
             $5::text[], $6::smallint[], $7::text[], $8::text[], $9::text[], {}) {}",
            rollup::ROLLUP_COLUMNS,
            count_array_params(10),
            rollup::rollup_upsert_tail(Dialect::Postgres)
        );
        let query = sqlx::query(&sql)
            .bind(rows.iter().map(|(k, _)| k.workspace_id).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.hour).collect::<Vec<_>>())
            .bind(texts(&|k| k.brand.clone()))
            .bind(texts(&|k| k.kind.to_owned()))
            .bind(texts(&|k| k.key.clone()))
            .bind(rows.iter().map(|(k, _)| k.severity).collect::<Vec<_>>())
            .bind(texts(&|k| k.visibility.to_owned()))
            .bind(texts(&|k| k.status.to_owned()))
            .bind(texts(&|k| k.provider.clone()));
        bind_count_arrays(query, rows.iter().map(|(_, c)| *c)).execute(&mut *tx).await?;
    }
    if !rollups.platform.is_empty() {
        let rows: Vec<_> = rollups.platform.iter().collect();
        let sql = format!(
            "INSERT INTO rollup_platform_hourly ({}) SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::smallint[], \
             $5::text[], $6::text[], {}) {}",
            rollup::PLATFORM_COLUMNS,
            count_array_params(7),
            rollup::platform_upsert_tail(Dialect::Postgres)
        );
        let query = sqlx::query(&sql)
            .bind(rows.iter().map(|(k, _)| k.hour).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.kind.to_owned()).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.key.clone()).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.severity).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.status.to_owned()).collect::<Vec<_>>())
            .bind(rows.iter().map(|(k, _)| k.provider.clone()).collect::<Vec<_>>());
        bind_count_arrays(query, rows.iter().map(|(_, c)| *c)).execute(&mut *tx).await?;
    }
    for (counts, tables) in rollups.actor_counts() {
        write_actor_counts(tx, counts, tables).await?;
    }
    Ok(())
}

async fn write_actor_counts(
    tx: &mut sqlx::PgConnection,
    counts: &rollup::ActorCounts,
    tables: &rollup::ActorTables,
) -> sqlx::Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let (keys, records): (Vec<_>, Vec<i64>) = counts.platform.iter().map(|(k, n)| (k, *n)).unzip();
    sqlx::query(&format!(
        "INSERT INTO {table} ({}) SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[]) {}",
        rollup::PLATFORM_ACTOR_COLUMNS,
        rollup::platform_actor_upsert_tail(tables.platform),
        table = tables.platform,
    ))
    .bind(keys.iter().map(|(hour, _)| *hour).collect::<Vec<_>>())
    .bind(keys.iter().map(|(_, actor)| actor.as_str()).collect::<Vec<_>>())
    .bind(records)
    .execute(&mut *tx)
    .await?;
    let scoped: Vec<_> = counts.scoped.iter().collect();
    sqlx::query(&format!(
        "INSERT INTO {table} ({}) SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], \
         $5::text[], $6::bigint[]) {}",
        rollup::ACTOR_COLUMNS,
        rollup::actor_upsert_tail(tables.scoped),
        table = tables.scoped,
    ))
    .bind(scoped.iter().map(|(k, _)| k.workspace_id).collect::<Vec<_>>())
    .bind(scoped.iter().map(|(k, _)| k.hour).collect::<Vec<_>>())
    .bind(scoped.iter().map(|(k, _)| k.brand.as_str()).collect::<Vec<_>>())
    .bind(scoped.iter().map(|(k, _)| k.visibility).collect::<Vec<_>>())
    .bind(scoped.iter().map(|(k, _)| k.actor.as_str()).collect::<Vec<_>>())
    .bind(scoped.iter().map(|(_, n)| **n).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn insert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "INSERT INTO events ({INSERT_COLUMNS}) \
             SELECT id, workspace_id, event_id, brand, kind, key, message, context, entity_type, entity_id, \
                    actor_type, actor_id, actor_email, actor_name, actor_label, ip, user_agent, visibility, severity, \
                    status, duration_ms, provider, error_message, error_stack, correlation_id, \
                    payload::jsonb, diff::jsonb, occurred_at, received_at \
             FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], \
                         $15::text[], $16::text[], $17::text[], $18::text[], $19::smallint[], $20::text[], \
                         $21::bigint[], $22::text[], $23::text[], $24::text[], $25::text[], $26::text[], \
                         $27::text[], $28::bigint[], $29::bigint[]) \
                  AS t ({INSERT_COLUMNS}) \
             ON CONFLICT (workspace_id, event_id) DO NOTHING RETURNING id"
        )
    })
}

/// The records of a group as one array per column.
#[derive(Default)]
struct Columns<'a> {
    id: Vec<Uuid>,
    workspace_id: Vec<i64>,
    event_id: Vec<Option<&'a str>>,
    brand: Vec<Option<&'a str>>,
    kind: Vec<&'static str>,
    key: Vec<&'a str>,
    message: Vec<Option<&'a str>>,
    context: Vec<Option<&'a str>>,
    entity_type: Vec<Option<&'a str>>,
    entity_id: Vec<Option<&'a str>>,
    actor_type: Vec<&'static str>,
    actor_id: Vec<Option<&'a str>>,
    actor_email: Vec<Option<&'a str>>,
    actor_name: Vec<Option<&'a str>>,
    actor_label: Vec<Option<&'a str>>,
    ip: Vec<Option<&'a str>>,
    user_agent: Vec<Option<&'a str>>,
    visibility: Vec<&'static str>,
    severity: Vec<i16>,
    status: Vec<Option<&'static str>>,
    duration_ms: Vec<Option<i64>>,
    provider: Vec<Option<&'a str>>,
    error_message: Vec<Option<&'a str>>,
    error_stack: Vec<Option<&'a str>>,
    correlation_id: Vec<Option<&'a str>>,
    payload: Vec<Option<&'a str>>,
    diff: Vec<Option<&'a str>>,
    occurred_at: Vec<i64>,
    received_at: Vec<i64>,
}

impl<'a> Columns<'a> {
    fn from_records(records: impl Iterator<Item = &'a NewRecord>) -> Self {
        let mut c = Columns::default();
        for r in records {
            c.id.push(r.id);
            c.workspace_id.push(r.workspace_id);
            c.event_id.push(r.event_id.as_deref());
            c.brand.push(r.brand.as_deref());
            c.kind.push(r.kind.as_str());
            c.key.push(&r.key);
            c.message.push(r.message.as_deref());
            c.context.push(r.context.as_deref());
            c.entity_type.push(r.entity_type.as_deref());
            c.entity_id.push(r.entity_id.as_deref());
            c.actor_type.push(r.actor_type.as_str());
            c.actor_id.push(r.actor_id.as_deref());
            c.actor_email.push(r.actor_email.as_deref());
            c.actor_name.push(r.actor_name.as_deref());
            c.actor_label.push(r.actor_label.as_deref());
            c.ip.push(r.ip.as_deref());
            c.user_agent.push(r.user_agent.as_deref());
            c.visibility.push(r.visibility.as_str());
            c.severity.push(r.severity.rank());
            c.status.push(r.status.map(|s| s.as_str()));
            c.duration_ms.push(r.duration_ms);
            c.provider.push(r.provider.as_deref());
            c.error_message.push(r.error_message.as_deref());
            c.error_stack.push(r.error_stack.as_deref());
            c.correlation_id.push(r.correlation_id.as_deref());
            c.payload.push(r.payload.as_deref());
            c.diff.push(r.diff.as_deref());
            c.occurred_at.push(r.occurred_at.0);
            c.received_at.push(r.received_at.0);
        }
        c
    }

    fn bind<'q>(
        &'q self,
        query: sqlx::query::QueryScalar<'q, Postgres, Uuid, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryScalar<'q, Postgres, Uuid, sqlx::postgres::PgArguments> {
        query
            .bind(&self.id)
            .bind(&self.workspace_id)
            .bind(&self.event_id)
            .bind(&self.brand)
            .bind(&self.kind)
            .bind(&self.key)
            .bind(&self.message)
            .bind(&self.context)
            .bind(&self.entity_type)
            .bind(&self.entity_id)
            .bind(&self.actor_type)
            .bind(&self.actor_id)
            .bind(&self.actor_email)
            .bind(&self.actor_name)
            .bind(&self.actor_label)
            .bind(&self.ip)
            .bind(&self.user_agent)
            .bind(&self.visibility)
            .bind(&self.severity)
            .bind(&self.status)
            .bind(&self.duration_ms)
            .bind(&self.provider)
            .bind(&self.error_message)
            .bind(&self.error_stack)
            .bind(&self.correlation_id)
            .bind(&self.payload)
            .bind(&self.diff)
            .bind(&self.occurred_at)
            .bind(&self.received_at)
    }
}
