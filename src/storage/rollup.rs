//! Hourly roll-ups: maintained in the ingest transaction from the records
//! actually inserted, read by stats in O(buckets).

use std::collections::{BTreeMap, HashMap, HashSet};

use app::model::{
    duration_bucket, Bar, Durations, Micros, NamedCount, OperationStats, Stats, StatsWindow, DURATION_BUCKETS, HOUR_US,
};
use app::store::{NewRecord, Scope};
use uuid::Uuid;

use super::sql::{Arg, Conditions, Dialect, Query};

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
    pub actors: BTreeMap<ActorKey, i64>,
    pub platform: BTreeMap<PlatformKey, RollupCounts>,
    /// (hour, actor) → records
    pub platform_actors: BTreeMap<(i64, String), i64>,
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
            let d = &mut counts.durations;
            d.count += 1;
            d.sum += ms;
            d.max = d.max.max(ms);
            d.buckets[duration_bucket(ms)] += 1;
        }
        if let Some(actor) = &r.actor_id {
            let key = ActorKey { workspace_id: r.workspace_id, hour, brand, visibility: r.visibility.as_str(), actor: actor.clone() };
            *rollups.actors.entry(key).or_default() += 1;
        }
    }
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
    for (k, records) in &rollups.actors {
        *rollups.platform_actors.entry((k.hour, k.actor.clone())).or_default() += records;
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
    counts_upsert_tail(dialect, "rollup_hourly", "workspace_id, hour, brand, kind, key, severity, visibility, status, provider")
}

pub fn platform_upsert_tail(dialect: Dialect) -> String {
    counts_upsert_tail(dialect, "rollup_platform_hourly", "hour, kind, key, severity, status, provider")
}

pub const PLATFORM_ACTOR_COLUMNS: &str = "hour, actor, records";

pub const PLATFORM_ACTOR_UPSERT_TAIL: &str =
    "ON CONFLICT (hour, actor) DO UPDATE SET records = rollup_actor_platform_hourly.records + excluded.records";

fn counts_upsert_tail(dialect: Dialect, table: &str, conflict: &str) -> String {
    let max = match dialect {
        Dialect::Sqlite => "max",
        Dialect::Postgres => "GREATEST",
    };
    let mut sets: Vec<String> = ["records", "duration_count", "duration_sum"]
        .iter()
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    sets.push(format!("duration_max = {max}({table}.duration_max, excluded.duration_max)"));
    sets.extend((0..DURATION_BUCKETS).map(|i| format!("d{i:02} = {table}.d{i:02} + excluded.d{i:02}")));
    format!("ON CONFLICT ({conflict}) DO UPDATE SET {}", sets.join(", "))
}

pub const ACTOR_UPSERT_TAIL: &str = "ON CONFLICT (workspace_id, hour, brand, visibility, actor) \
     DO UPDATE SET records = rollup_actor_hourly.records + excluded.records";

/// The WHERE clause shared by every stats query: scope, workspace, hours.
/// Platform-wide tables have no scope columns: they serve unscoped reads only.
fn stats_conditions(dialect: Dialect, scope: &Scope, workspace: Option<&str>, first_hour: i64, platform_tables: bool) -> Conditions {
    let mut c = Conditions::with_alias(dialect, "r");
    if !platform_tables {
        c.scope(scope);
        if let Some(slug) = workspace {
            c.push("r.workspace_id = (SELECT id FROM workspaces WHERE slug = ?)", [Arg::Text(slug.to_owned())]);
        }
    }
    c.push("r.hour >= ?", [Arg::Int(first_hour)]);
    c
}

fn sum(column: &str) -> String {
    format!("CAST(SUM({column}) AS BIGINT)")
}

/// The queries behind one stats answer.
pub struct StatsQueries {
    /// (bar, severity, records)
    pub bars: Query,
    /// (key, records), most first
    pub keys: Query,
    /// (actor, records), most first, ten
    pub actors: Query,
    /// (provider, key, status, records, duration_count, duration_sum, duration_max, d00..d11)
    pub actions: Query,
}

pub fn stats_queries(dialect: Dialect, scope: &Scope, workspace: Option<&str>, window: StatsWindow, now: Micros) -> StatsQueries {
    let first_hour = window.first_hour(now);
    // Everything, unfiltered: the platform-wide tables hold the same sums in far fewer rows.
    let platform_tables = *scope == Scope::Platform && workspace.is_none();
    let (counts_table, actors_table) = if platform_tables {
        ("rollup_platform_hourly", "rollup_actor_platform_hourly")
    } else {
        ("rollup_hourly", "rollup_actor_hourly")
    };
    let query = |sql: String, extra: &[Arg]| {
        let c = stats_conditions(dialect, scope, workspace, first_hour, platform_tables);
        let sql = sql.replace("{where}", &c.where_clause()).replace("{counts}", counts_table).replace("{actors}", actors_table);
        let mut args = c.into_args();
        args.extend_from_slice(extra);
        Query { sql: dialect.finish(&sql), args }
    };
    let bar = window.bar_hours();
    let buckets: Vec<String> = (0..DURATION_BUCKETS).map(|i| format!("{} AS d{i:02}", sum(&format!("r.d{i:02}")))).collect();
    StatsQueries {
        bars: query(
            format!("SELECT r.hour / {bar} AS bar, r.severity, {} FROM {{counts}} r {{where}} GROUP BY r.hour / {bar}, r.severity", sum("r.records")),
            &[],
        ),
        keys: query(
            format!("SELECT r.key, {} AS n FROM {{counts}} r {{where}} GROUP BY r.key ORDER BY n DESC, r.key", sum("r.records")),
            &[],
        ),
        actors: query(
            format!(
                "SELECT r.actor, {} AS n FROM {{actors}} r {{where}} GROUP BY r.actor ORDER BY n DESC, r.actor LIMIT 10",
                sum("r.records")
            ),
            &[],
        ),
        actions: query(
            format!(
                "SELECT r.provider, r.key, r.status, {} AS records, {} AS duration_count, {} AS duration_sum, \
                 CAST(MAX(r.duration_max) AS BIGINT) AS duration_max, {} FROM {{counts}} r \
                 {{where}} AND r.kind = 'action' GROUP BY r.provider, r.key, r.status",
                sum("r.records"),
                sum("r.duration_count"),
                sum("r.duration_sum"),
                buckets.join(", ")
            ),
            &[],
        ),
    }
}

/// One row of the actions query.
#[derive(Debug, sqlx::FromRow)]
pub struct ActionRow {
    pub provider: String,
    pub key: String,
    pub status: String,
    pub records: i64,
    pub duration_count: i64,
    pub duration_sum: i64,
    pub duration_max: i64,
    pub d00: i64,
    pub d01: i64,
    pub d02: i64,
    pub d03: i64,
    pub d04: i64,
    pub d05: i64,
    pub d06: i64,
    pub d07: i64,
    pub d08: i64,
    pub d09: i64,
    pub d10: i64,
    pub d11: i64,
}

impl ActionRow {
    fn durations(&self) -> Durations {
        Durations {
            count: self.duration_count,
            sum: self.duration_sum,
            max: self.duration_max,
            buckets: [
                self.d00, self.d01, self.d02, self.d03, self.d04, self.d05, self.d06, self.d07, self.d08, self.d09,
                self.d10, self.d11,
            ],
        }
    }
}

/// Puts the query results together.
pub fn assemble(
    window: StatsWindow,
    now: Micros,
    bars: Vec<(i64, i16, i64)>,
    keys: Vec<(String, i64)>,
    actors: Vec<(String, i64)>,
    actions: Vec<ActionRow>,
) -> Stats {
    let bar_hours = window.bar_hours();
    let first_bar = window.first_hour(now).div_euclid(bar_hours);
    let count = (window.hours() / bar_hours) as usize;
    let mut stats = Stats {
        window,
        since: Micros(first_bar * bar_hours * HOUR_US),
        bar_hours,
        bars: (0..count)
            .map(|i| Bar { start: Micros((first_bar + i as i64) * bar_hours * HOUR_US), by_severity: [0; 4] })
            .collect(),
        ..Default::default()
    };
    for (bar, severity, records) in bars {
        let (Ok(i), Ok(s)) = (usize::try_from(bar - first_bar), usize::try_from(severity)) else { continue };
        if let Some(slot) = stats.bars.get_mut(i).and_then(|b| b.by_severity.get_mut(s)) {
            *slot += records;
        }
        stats.records += records;
        match severity {
            1 => stats.warnings += records,
            2 => stats.errors += records,
            3 => stats.critical += records,
            _ => {}
        }
    }
    stats.error_rate = if stats.records > 0 { (stats.errors + stats.critical) as f64 / stats.records as f64 } else { 0.0 };
    stats.by_key = keys.into_iter().map(|(name, count)| NamedCount { name, count }).collect();
    stats.top_actors = actors.into_iter().map(|(name, count)| NamedCount { name, count }).collect();

    let mut by_provider: HashMap<String, OperationStats> = HashMap::new();
    let mut by_operation: HashMap<String, OperationStats> = HashMap::new();
    for row in &actions {
        let durations = row.durations();
        stats.actions.add(&row.status, row.records, &durations);
        let provider = if row.provider.is_empty() { "(none)".to_owned() } else { row.provider.clone() };
        by_provider
            .entry(provider.clone())
            .or_insert_with(|| OperationStats { name: provider.clone(), ..Default::default() })
            .add(&row.status, row.records, &durations);
        let operation = format!("{} · {provider}", row.key);
        by_operation
            .entry(operation.clone())
            .or_insert_with(|| OperationStats { name: operation, ..Default::default() })
            .add(&row.status, row.records, &durations);
    }
    stats.actions.name = "all".into();
    stats.by_provider = by_provider.into_values().collect();
    stats.by_provider.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    stats.slowest = by_operation.into_values().filter(|o| o.durations.count > 0).collect();
    stats.slowest.sort_by(|a, b| b.p95_ms.cmp(&a.p95_ms).then(b.count.cmp(&a.count)).then(a.name.cmp(&b.name)));
    stats.slowest.truncate(10);
    stats
}
