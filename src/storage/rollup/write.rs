//! The write side: what a group of inserted records adds to the roll-ups,
//! and the upserts that add it (both backends write these rows).

use std::collections::{BTreeMap, HashSet};

use app::model::{Durations, Micros, DURATION_BUCKETS, HOUR_US};
use app::store::NewRecord;
use uuid::Uuid;

use super::block_of;
use crate::storage::statement::Dialect;

/// The dimensions of one `rollup_hourly` row ("" for none).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub workspace_id: i64,
    pub hour: i64,
    pub brand: String,
    pub kind: &'static str,
    pub key: String,
    pub severity: i16,
    pub visibility: &'static str,
    pub status: &'static str,
    pub provider: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RollupCounts {
    pub records: i64,
    pub durations: Durations,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActorKey {
    pub workspace_id: i64,
    pub hour: i64,
    pub brand: String,
    pub visibility: &'static str,
    pub actor: String,
}

/// The dimensions of one `rollup_platform_hourly` row: a `RollupKey` without
/// workspace, brand and visibility.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlatformKey {
    pub hour: i64,
    pub kind: &'static str,
    pub key: String,
    pub severity: i16,
    pub status: &'static str,
    pub provider: String,
}

/// What a group of records adds to the roll-ups. Ordered maps: every group
/// upserts rows in key order, so concurrent writers (PostgreSQL) lock them in
/// the same order and cannot deadlock.
#[derive(Debug, Default)]
pub struct Rollups {
    pub rows: BTreeMap<RollupKey, RollupCounts>,
    pub platform: BTreeMap<PlatformKey, RollupCounts>,
    /// Actor counts per hour.
    pub actors: ActorCounts,
    /// The same counts per block of [`ACTOR_BLOCK_HOURS`] (`hour` is the block's first hour).
    pub actor_blocks: ActorCounts,
}

/// Actor counts at one granularity, with and without the scope columns.
#[derive(Debug, Default)]
pub struct ActorCounts {
    pub scoped: BTreeMap<ActorKey, i64>,
    /// (hour, actor) → records, over every workspace, brand and visibility.
    pub platform: BTreeMap<(i64, String), i64>,
}

impl ActorCounts {
    /// The scoped counts with their platform-wide sums.
    fn from_scoped(scoped: BTreeMap<ActorKey, i64>) -> Self {
        let mut platform = BTreeMap::new();
        for (k, records) in &scoped {
            *platform.entry((k.hour, k.actor.clone())).or_default() += records;
        }
        ActorCounts { scoped, platform }
    }

    /// The same counts per block of [`ACTOR_BLOCK_HOURS`].
    fn in_blocks(&self) -> Self {
        let mut blocks = BTreeMap::new();
        for (k, records) in &self.scoped {
            *blocks.entry(ActorKey { hour: block_of(k.hour), ..k.clone() }).or_default() += records;
        }
        Self::from_scoped(blocks)
    }

    pub fn is_empty(&self) -> bool {
        self.scoped.is_empty()
    }
}

/// Where one granularity of actor counts is stored.
pub struct ActorTables {
    pub scoped: &'static str,
    pub platform: &'static str,
}

pub const HOURLY_ACTOR_TABLES: ActorTables =
    ActorTables { scoped: "rollup_actor_hourly", platform: "rollup_actor_platform_hourly" };
pub const BLOCK_ACTOR_TABLES: ActorTables =
    ActorTables { scoped: "rollup_actor_8h", platform: "rollup_actor_platform_8h" };

impl Rollups {
    /// Each granularity of actor counts with the tables it goes to.
    pub fn actor_counts(&self) -> [(&ActorCounts, &'static ActorTables); 2] {
        [(&self.actors, &HOURLY_ACTOR_TABLES), (&self.actor_blocks, &BLOCK_ACTOR_TABLES)]
    }
}

impl RollupCounts {
    fn add(&mut self, other: &RollupCounts) {
        self.records += other.records;
        self.durations.merge(&other.durations);
    }
}

pub fn hour_of(at: Micros) -> i64 {
    at.0.div_euclid(HOUR_US)
}

/// The roll-up counts of the records of a group that were inserted, each once.
pub fn aggregate<'a>(records: impl Iterator<Item = &'a NewRecord>, inserted: &HashSet<Uuid>) -> Rollups {
    let mut rollups = Rollups::default();
    let mut actors = BTreeMap::new();
    let mut pending = inserted.clone();
    for r in records.filter(|r| pending.remove(&r.id)) {
        let hour = hour_of(r.occurred_at);
        let brand = r.brand.clone().unwrap_or_default();
        let key = RollupKey {
            workspace_id: r.workspace_id,
            hour,
            brand: brand.clone(),
            kind: r.kind.as_str(),
            key: r.key.clone(),
            severity: r.severity.rank(),
            visibility: r.visibility.as_str(),
            status: r.status.map_or("", |s| s.as_str()),
            provider: r.provider.clone().unwrap_or_default(),
        };
        let counts = rollups.rows.entry(key).or_default();
        counts.records += 1;
        if let Some(ms) = r.duration_ms {
            counts.durations.add(ms);
        }
        if let Some(actor) = &r.actor_id {
            let key = ActorKey {
                workspace_id: r.workspace_id,
                hour,
                brand,
                visibility: r.visibility.as_str(),
                actor: actor.clone(),
            };
            *actors.entry(key).or_default() += 1;
        }
    }
    // Sums over the distinct keys, not per record: the platform-wide and block counts.
    rollups.actors = ActorCounts::from_scoped(actors);
    rollups.actor_blocks = rollups.actors.in_blocks();
    // The platform-wide tables sum the detailed rows over workspace, brand and visibility.
    for (k, counts) in &rollups.rows {
        let key = PlatformKey {
            hour: k.hour,
            kind: k.kind,
            key: k.key.clone(),
            severity: k.severity,
            status: k.status,
            provider: k.provider.clone(),
        };
        rollups.platform.entry(key).or_default().add(counts);
    }
    rollups
}

pub const ROLLUP_COLUMNS: &str = "workspace_id, hour, brand, kind, key, severity, visibility, status, provider, \
     records, duration_count, duration_sum, duration_max, d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11";
pub const ACTOR_COLUMNS: &str = "workspace_id, hour, brand, visibility, actor, records";
pub const PLATFORM_COLUMNS: &str = "hour, kind, key, severity, status, provider, \
     records, duration_count, duration_sum, duration_max, d00, d01, d02, d03, d04, d05, d06, d07, d08, d09, d10, d11";

/// `ON CONFLICT ... DO UPDATE` adding the new counts to the stored ones.
pub fn rollup_upsert_tail(dialect: Dialect) -> String {
    counts_upsert_tail(
        dialect,
        "rollup_hourly",
        "workspace_id, hour, brand, kind, key, severity, visibility, status, provider",
    )
}

pub fn platform_upsert_tail(dialect: Dialect) -> String {
    counts_upsert_tail(dialect, "rollup_platform_hourly", "hour, kind, key, severity, status, provider")
}

pub const PLATFORM_ACTOR_COLUMNS: &str = "hour, actor, records";

/// `ON CONFLICT ... DO UPDATE` for a platform actor table.
pub fn platform_actor_upsert_tail(table: &str) -> String {
    format!("ON CONFLICT (hour, actor) DO UPDATE SET records = {table}.records + excluded.records")
}

pub fn counts_upsert_tail(dialect: Dialect, table: &str, conflict: &str) -> String {
    let max = dialect.greatest();
    let mut sets: Vec<String> =
        ["records", "duration_count"].iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect();
    // Durations are at most a year each, yet a flood of them could pass the
    // largest number: the sum stops there (PostgreSQL would refuse the
    // commit, SQLite turn the column into a float).
    sets.push(format!(
        "duration_sum = CASE WHEN excluded.duration_sum > {max_sum} - {table}.duration_sum THEN {max_sum} \
         ELSE {table}.duration_sum + excluded.duration_sum END",
        max_sum = i64::MAX
    ));
    sets.push(format!("duration_max = {max}({table}.duration_max, excluded.duration_max)"));
    sets.extend((0..DURATION_BUCKETS).map(|i| format!("d{i:02} = {table}.d{i:02} + excluded.d{i:02}")));
    format!("ON CONFLICT ({conflict}) DO UPDATE SET {}", sets.join(", "))
}

/// `ON CONFLICT ... DO UPDATE` for a scoped actor table.
pub fn actor_upsert_tail(table: &str) -> String {
    format!(
        "ON CONFLICT (workspace_id, hour, brand, visibility, actor) DO UPDATE SET records = {table}.records + excluded.records"
    )
}
