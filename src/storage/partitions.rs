//! PostgreSQL's partitions of `events` (migration `partitioned_events`):
//! each kind's records in ranges of their UUIDv7 ids, that is of the time
//! they were received (28 days of events or actions, 364 of audits).
//!
//! Writers make sure that the partition of each record they write, and the
//! one after it, exist before they write, so an insert never fails for want
//! of one and the next partition is made a span ahead. Retention drops
//! a partition whose records are all past their period, with their links
//! and producers' ids, in one transaction that signs the chains' new cuts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use app::model::{Kind, Micros};
use app::store::{Cutoff, NewRecord, Signer};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres};
use uuid::Uuid;

use super::chain;
use super::retention::PurgedRow;
use super::sql_store::Tx;

/// How long dropping a partition waits for the readers of `events` before it
/// leaves the partition to the batched pass: while it waits, new readers
/// queue behind it, so this bounds how long a drop can hold up a read.
const DROP_LOCK_TIMEOUT: &str = "200ms";

/// One partition: a kind's records with ids minted in [`starts`, `ends`) ms.
#[derive(sqlx::FromRow)]
struct Partition {
    kind: Kind,
    starts: i64,
    ends: i64,
    name: String,
}

/// Partitions by kind: where each starts → where it ends.
type Known = HashMap<Kind, BTreeMap<i64, i64>>;

/// The partitions this process knows to exist.
#[derive(Default)]
pub struct Partitions {
    known: Mutex<Known>,
}

impl Partitions {
    /// Makes the partitions that `records` go to, and the one after each,
    /// unless this process knows of them already.
    pub async fn ensure<'r>(&self, pool: &PgPool, records: impl Iterator<Item = &'r NewRecord>) -> sqlx::Result<()> {
        for (kind, ms) in self.unknown(records) {
            self.ensure_span(pool, kind, ms).await?;
        }
        Ok(())
    }

    /// The current partition of every kind, and the next, unless known.
    pub async fn ensure_now(&self, pool: &PgPool) -> sqlx::Result<()> {
        let now = Micros::now().0 / 1_000;
        for &kind in Kind::ALL {
            self.ensure_span(pool, kind, now).await?;
        }
        Ok(())
    }

    /// The partition of `kind` holding `ms`, and the next, unless known.
    async fn ensure_span(&self, pool: &PgPool, kind: Kind, ms: i64) -> sqlx::Result<()> {
        let ends = match self.span_of(kind, ms) {
            Some(ends) => ends,
            None => self.make(pool, kind, ms).await?,
        };
        if self.span_of(kind, ends).is_none() {
            self.make(pool, kind, ends).await?;
        }
        Ok(())
    }

    /// The current partition of every kind, and the next.
    pub async fn ensure_current(&self, pool: &PgPool) -> sqlx::Result<()> {
        let now = Micros::now().0 / 1_000;
        for &kind in Kind::ALL {
            let ends = self.make(pool, kind, now).await?;
            self.make(pool, kind, ends).await?;
        }
        Ok(())
    }

    /// For each record whose partition, or the one after it, this process
    /// does not know: the kind and a millisecond that partition holds.
    fn unknown<'r>(&self, records: impl Iterator<Item = &'r NewRecord>) -> Vec<(Kind, i64)> {
        let known = self.known.lock().expect("partitions lock");
        let mut wanted = Vec::new();
        for record in records {
            let ms = minted_ms(record.id);
            match span_in(&known, record.kind, ms) {
                Some(ends) if span_in(&known, record.kind, ends).is_some() => {}
                Some(ends) => wanted.push((record.kind, ends)),
                None => wanted.push((record.kind, ms)),
            }
        }
        wanted
    }

    /// Forgets every partition: some were dropped by another process.
    pub fn forget(&self) {
        self.known.lock().expect("partitions lock").clear();
    }

    /// Where the known partition of `kind` holding `ms` ends.
    fn span_of(&self, kind: Kind, ms: i64) -> Option<i64> {
        span_in(&self.known.lock().expect("partitions lock"), kind, ms)
    }

    /// Makes (if missing) the partition of `kind` holding `ms`; where it ends.
    async fn make(&self, pool: &PgPool, kind: Kind, ms: i64) -> sqlx::Result<i64> {
        let partition: Partition =
            sqlx::query_as("SELECT kind, starts, ends, name FROM trail_ensure_partition($1, $2)")
                .bind(kind.as_str())
                .bind(ms)
                .fetch_one(pool)
                .await?;
        let mut known = self.known.lock().expect("partitions lock");
        known.entry(kind).or_default().insert(partition.starts, partition.ends);
        Ok(partition.ends)
    }
}

/// Where the partition of `kind` in `known` that holds `ms` ends.
fn span_in(known: &Known, kind: Kind, ms: i64) -> Option<i64> {
    let (_, &ends) = known.get(&kind)?.range(..=ms).next_back()?;
    (ms < ends).then_some(ends)
}

/// The millisecond a UUIDv7 was minted in (its first 48 bits).
fn minted_ms(id: Uuid) -> i64 {
    (id.as_u128() >> 80) as i64
}

/// Whether `err` is an insert that found no partition for its row: a check
/// violation on a table of records (which have no CHECK constraints).
pub fn is_missing_partition(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else { return false };
    let table = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().and_then(|pg| pg.table());
    db.code().as_deref() == Some("23514") && table.is_some_and(|table| table.starts_with("events"))
}

/// Every partition, oldest first within each kind.
async fn list(pool: &PgPool) -> sqlx::Result<Vec<Partition>> {
    sqlx::query_as("SELECT kind, starts, ends, name FROM event_partitions ORDER BY kind, starts").fetch_all(pool).await
}

/// Drops each partition whose records are all past their period; what it
/// removed, one row per workspace and kind with its count. A partition that
/// the readers of `events` hold longer than [`DROP_LOCK_TIMEOUT`] is left
/// to the purge's batched pass.
pub async fn drop_expired(
    pool: &PgPool,
    cutoffs: &[Cutoff],
    signer: &dyn Signer,
) -> sqlx::Result<Vec<(i64, Kind, u64)>> {
    let mut removed = Vec::new();
    for partition in list(pool).await? {
        // Received before `ends` (give or take the moment between minting an
        // id and reading the clock): no record can be past a later cutoff.
        let latest = cutoffs.iter().filter(|c| c.kind == partition.kind).map(|c| c.before.0).max();
        if latest.is_none_or(|latest| partition.ends.saturating_mul(1_000) > latest) {
            continue;
        }
        match drop_one(pool, &partition, cutoffs, signer).await {
            Ok(Some(counts)) => removed.extend(counts),
            Ok(None) => {}
            // Lock not available in time, or a deadlock PostgreSQL broke.
            Err(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("55P03" | "40P01")) => {
                tracing::info!(partition = partition.name, "the readers of events held it; its records go in batches");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(removed)
}

/// Drops `partition` if every record in it is past its cutoff.
async fn drop_one(
    pool: &PgPool,
    partition: &Partition,
    cutoffs: &[Cutoff],
    signer: &dyn Signer,
) -> sqlx::Result<Option<Vec<(i64, Kind, u64)>>> {
    let table = &partition.name;
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")).execute(&mut *tx).await?;
    // Nothing may be written to it meanwhile (none would be: its time has passed).
    sqlx::query(&format!("LOCK TABLE {table} IN SHARE MODE")).execute(&mut *tx).await?;
    let (workspaces, befores): (Vec<i64>, Vec<i64>) =
        cutoffs.iter().filter(|c| c.kind == partition.kind).map(|c| (c.workspace_id, c.before.0)).unzip();
    let (kept,): (bool,) = sqlx::query_as(&format!(
        "SELECT EXISTS (SELECT 1 FROM {table} e WHERE NOT EXISTS (SELECT 1 FROM UNNEST($1::bigint[], $2::bigint[]) \
         AS r (workspace_id, cutoff) WHERE r.workspace_id = e.workspace_id AND e.received_at < r.cutoff))"
    ))
    .bind(&workspaces)
    .bind(&befores)
    .fetch_one(&mut *tx)
    .await?;
    if kept {
        return Ok(None);
    }
    let counts: Vec<(i64, i64)> =
        sqlx::query_as(&format!("SELECT workspace_id, COUNT(*) FROM {table} GROUP BY workspace_id"))
            .fetch_all(&mut *tx)
            .await?;
    let forget = format!(
        "DELETE FROM event_ids d USING {table} e WHERE e.event_id IS NOT NULL AND d.workspace_id = e.workspace_id \
         AND d.event_id = e.event_id AND d.record_id = e.id"
    );
    by_key(&mut tx, sqlx::query(&forget)).await?;
    let mut tx = Tx::Postgres(tx);
    // The links go before the DROP, which stops every reader and writer of
    // `events` until the commit; the chains' heads are locked last: a writer
    // locks its partition's parent (which DROP waits for) before it locks
    // the heads it extends.
    let purged = chain::purged_in_table(&mut tx, table).await?;
    let planned = chain::plan_cuts(&mut tx, purged, signer).await?;
    tx.execute(|q| _ = q.push(format_args!("DROP TABLE {table}"))).await?;
    tx.execute(|q| _ = q.push("DELETE FROM event_partitions WHERE name = ").bind(table.as_str())).await?;
    chain::sign_cuts(&mut tx, planned, signer).await?;
    tx.commit().await?;
    tracing::info!(partition = table, "dropped: every record in it was past its period");
    Ok(Some(counts.into_iter().map(|(workspace_id, n)| (workspace_id, partition.kind, n as u64)).collect()))
}

/// Forgets the producers' ids of records a purge removes.
pub async fn forget_event_ids(tx: &mut PgConnection, purged: &[PurgedRow]) -> sqlx::Result<()> {
    let with_ids: Vec<(&PurgedRow, &str)> =
        purged.iter().filter_map(|row| Some((row, row.event_id.as_deref()?))).collect();
    if with_ids.is_empty() {
        return Ok(());
    }
    let workspaces: Vec<i64> = with_ids.iter().map(|(row, _)| row.workspace_id).collect();
    let event_ids: Vec<&str> = with_ids.iter().map(|(_, event_id)| *event_id).collect();
    let records: Vec<Uuid> = with_ids.iter().map(|(row, _)| row.id).collect();
    let forget = sqlx::query(
        "DELETE FROM event_ids d USING UNNEST($1::bigint[], $2::text[], $3::uuid[]) AS u (workspace_id, event_id, id) \
         WHERE d.workspace_id = u.workspace_id AND d.event_id = u.event_id AND d.record_id = u.id",
    );
    by_key(tx, forget.bind(&workspaces).bind(&event_ids).bind(&records)).await?;
    Ok(())
}

/// Runs `statement`, a join into `event_ids`, as one primary-key lookup per
/// row: PostgreSQL otherwise hashed a sequential read of all of `event_ids`
/// (128 ms for 4,000 ids among 200,000; 45 ms so). The join settings are
/// set back to what they were, for the rest of the transaction.
async fn by_key(tx: &mut PgConnection, statement: Query<'_, Postgres, PgArguments>) -> sqlx::Result<()> {
    let (hash, merge): (String, String) =
        sqlx::query_as("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')")
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)")
        .execute(&mut *tx)
        .await?;
    statement.execute(&mut *tx).await?;
    sqlx::query("SELECT set_config('enable_hashjoin', $1, true), set_config('enable_mergejoin', $2, true)")
        .bind(hash)
        .bind(merge)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_v7_tells_the_millisecond_it_was_minted_in() {
        let id = Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 1_764_892_800, 123_000_000));
        assert_eq!(minted_ms(id), 1_764_892_800_123);
    }

    #[test]
    fn a_known_span_answers_for_its_milliseconds_only() {
        let partitions = Partitions::default();
        partitions.known.lock().unwrap().entry(Kind::Event).or_default().insert(1_000, 2_000);
        assert_eq!(partitions.span_of(Kind::Event, 1_000), Some(2_000));
        assert_eq!(partitions.span_of(Kind::Event, 1_999), Some(2_000));
        assert_eq!(partitions.span_of(Kind::Event, 2_000), None);
        assert_eq!(partitions.span_of(Kind::Event, 999), None);
        assert_eq!(partitions.span_of(Kind::Audit, 1_500), None);
    }
}
