//! The read side: one statement for a whole stats answer over the roll-ups,
//! and the answer assembled from its rows.

use std::collections::HashMap;
use std::ops::Range;

use app::model::{Bar, Durations, Micros, NamedCount, OperationStats, Stats, StatsWindow, DURATION_BUCKETS, HOUR_US};
use app::store::Scope;

use super::{block_of, ActorTables, ACTOR_BLOCK_HOURS, BLOCK_ACTOR_TABLES, HOURLY_ACTOR_TABLES};
use crate::storage::conditions::Conditions;
use crate::storage::statement::{Dialect, Sql};

/// The WHERE clause shared by every stats query: scope, workspace, hours.
/// Platform-wide tables have no scope columns: they serve unscoped reads only.
fn stats_conditions<'c, 's, 'a>(
    q: &'c mut Sql<'s, 'a>,
    scope: &'a Scope,
    workspace: Option<&'a str>,
    hours: Range<i64>,
    platform_tables: bool,
) -> Conditions<'c, 's, 'a> {
    let mut c = Conditions::new(q, "r");
    if !platform_tables {
        c.scope(scope);
        if let Some(slug) = workspace {
            c.workspace(slug);
        }
    }
    c.and().push("r.hour >= ").bind(hours.start).push(" AND r.hour < ").bind(hours.end);
    c
}

/// The end of a window: none. Records dated ahead of the clock count too. A
/// bound on both sides still matters: PostgreSQL plans a prepared statement
/// generically after a few runs, and it expects `hour >= $1` alone to match a
/// third of the table and scans all of it; a two-sided range it reads by index.
const NO_END: i64 = i64::MAX;

pub fn sum(column: &str) -> String {
    format!("CAST(SUM({column}) AS BIGINT)")
}

/// A sum that may pass the largest number (durations): it stops there.
/// SQLite's `SUM` fails past it (and a `CASE` around it still runs it), so
/// the sum is its float `TOTAL`, exact up to 2^53 (285,000 years of
/// milliseconds) and only ever read for an average; PostgreSQL's `SUM` of
/// bigints is a numeric.
fn capped_sum(column: &str, dialect: Dialect) -> String {
    let max = i64::MAX;
    match dialect {
        Dialect::Sqlite => {
            format!("CASE WHEN TOTAL({column}) > 9.2e18 THEN {max} ELSE CAST(TOTAL({column}) AS INTEGER) END")
        }
        Dialect::Postgres => format!("CAST(LEAST(SUM({column}), {max}) AS BIGINT)"),
    }
}

/// The parts of one stats answer, each a branch of the stats statement.
const PART_BAR: &str = "bar";
const PART_KEY: &str = "key";
const PART_ACTOR: &str = "actor";
const PART_ACTION: &str = "action";

/// The count columns of a stats row after `records`, in order.
pub fn duration_columns() -> Vec<String> {
    let mut columns: Vec<String> = ["duration_count", "duration_sum", "duration_max"].map(String::from).into();
    columns.extend((0..DURATION_BUCKETS).map(|i| format!("d{i:02}")));
    columns
}

/// The duration columns merged over a GROUP BY (sums, and the largest
/// maximum), each named as the column; `qualifier` prefixes the columns read.
pub fn merged_durations(qualifier: &str, dialect: Dialect) -> Vec<String> {
    duration_columns()
        .iter()
        .map(|c| match c.as_str() {
            "duration_max" => format!("CAST(MAX({qualifier}{c}) AS BIGINT) AS {c}"),
            "duration_sum" => format!("{} AS {c}", capped_sum(&format!("{qualifier}{c}"), dialect)),
            _ => format!("{} AS {c}", sum(&format!("{qualifier}{c}"))),
        })
        .collect()
}

/// One statement for a whole stats answer: four GROUP BYs over the roll-ups,
/// joined by UNION ALL into rows of one shape ([`StatsRow`]), so a stats
/// answer costs one round trip instead of four.
pub fn stats<'a>(q: &mut Sql<'_, 'a>, scope: &'a Scope, workspace: Option<&'a str>, window: StatsWindow, now: Micros) {
    let first_hour = window.first_hour(now);
    // Everything, unfiltered: the platform-wide tables hold the same sums in far fewer rows.
    let platform_tables = *scope == Scope::Platform && workspace.is_none();
    let counts = if platform_tables { "rollup_platform_hourly" } else { "rollup_hourly" };
    let actor_table_of = |tables: &ActorTables| if platform_tables { tables.platform } else { tables.scoped };
    let conditions = |q: &mut Sql<'_, 'a>, hours: Range<i64>| {
        stats_conditions(q, scope, workspace, hours, platform_tables);
    };
    let zeros = |columns: usize| vec!["CAST(0 AS BIGINT)"; columns].join(", ");
    let durations = duration_columns();
    let no_durations = zeros(durations.len());
    let bar = window.bar_hours();
    let records = sum("r.records");

    // The first branch names the columns.
    let named_zeros: Vec<String> = durations.iter().map(|c| format!("CAST(0 AS BIGINT) AS {c}")).collect();
    q.push(format_args!(
        "SELECT '{PART_BAR}' AS part, r.hour / {bar} AS bar, CAST(r.severity AS BIGINT) AS severity, '' AS name, \
         '' AS provider, '' AS status, {records} AS records, {} FROM {counts} r",
        named_zeros.join(", "),
    ));
    conditions(q, first_hour..NO_END);
    q.push(format_args!(" GROUP BY r.hour / {bar}, r.severity"));

    q.push(format_args!(
        " UNION ALL SELECT '{PART_KEY}', {}, r.key, '', '', {records}, {no_durations} FROM {counts} r",
        zeros(2)
    ));
    conditions(q, first_hour..NO_END);
    q.push(" GROUP BY r.key");

    let action_sums = merged_durations("r.", q.dialect());
    q.push(format_args!(
        " UNION ALL SELECT '{PART_ACTION}', {}, r.key, r.provider, r.status, {records}, {} FROM {counts} r",
        zeros(2),
        action_sums.join(", "),
    ));
    stats_conditions(q, scope, workspace, first_hour..NO_END, platform_tables).and().push("r.kind = 'action'");
    q.push(" GROUP BY r.provider, r.key, r.status");

    let (hours, sign, blocks) = actor_hours_and_blocks(first_hour);
    q.push(format_args!(
        " UNION ALL SELECT * FROM (SELECT '{PART_ACTOR}', {}, r.actor, '', '', {records} AS n, {no_durations} FROM (\
         SELECT r.actor, {sign}r.records AS records FROM {} r",
        zeros(2),
        actor_table_of(&HOURLY_ACTOR_TABLES),
    ));
    conditions(q, hours);
    q.push(format_args!(" UNION ALL SELECT r.actor, r.records FROM {} r", actor_table_of(&BLOCK_ACTOR_TABLES)));
    conditions(q, blocks..NO_END);
    q.push(format_args!(") r GROUP BY r.actor HAVING {records} > 0 ORDER BY n DESC, r.actor LIMIT 10) top_actors"));
}

/// How top actors read a window from `first_hour` on: whole blocks from the
/// returned block on, and the hourly rows of the returned hours, added (sign
/// "") or subtracted ("-"). Where the window starts in a block, the hours of
/// that block inside the window are added to the blocks after it if they are
/// at most half a block; otherwise that whole block is read and its hours
/// before the window are subtracted. At most half a block of hourly rows per
/// actor: a 24 h window starting 6 hours before a block read 6 hourly rows and
/// 3 blocks per actor, and now reads 2 and 4 (docs/performance.md).
fn actor_hours_and_blocks(first_hour: i64) -> (Range<i64>, &'static str, i64) {
    let first_whole_block = block_of(first_hour + ACTOR_BLOCK_HOURS - 1);
    if first_whole_block - first_hour <= ACTOR_BLOCK_HOURS / 2 {
        (first_hour..first_whole_block, "", first_whole_block)
    } else {
        let cut_block = first_whole_block - ACTOR_BLOCK_HOURS;
        (cut_block..first_hour, "-", cut_block)
    }
}

/// One row of the stats statement. Columns a part does not use hold `''` or 0.
#[derive(Debug, sqlx::FromRow)]
pub struct StatsRow {
    /// Which answer the row belongs to: `PART_*`.
    pub part: String,
    pub bar: i64,
    pub severity: i64,
    /// The key (keys, actions) or the actor (actors).
    pub name: String,
    pub provider: String,
    pub status: String,
    pub records: i64,
    #[sqlx(flatten)]
    pub durations: DurationColumns,
}

/// The duration columns of a roll-up (`rollup_hourly`, `alert_buckets`), summed.
#[derive(Debug, Default, sqlx::FromRow)]
pub struct DurationColumns {
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

impl From<&DurationColumns> for Durations {
    fn from(c: &DurationColumns) -> Self {
        Durations {
            count: c.duration_count,
            sum: c.duration_sum,
            max: c.duration_max,
            buckets: [c.d00, c.d01, c.d02, c.d03, c.d04, c.d05, c.d06, c.d07, c.d08, c.d09, c.d10, c.d11],
        }
    }
}

impl StatsRow {
    fn durations(&self) -> Durations {
        Durations::from(&self.durations)
    }
}

/// Puts the query results together.
pub fn assemble(window: StatsWindow, now: Micros, rows: Vec<StatsRow>) -> Stats {
    let (mut bars, mut keys, mut actors, mut actions) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match row.part.as_str() {
            PART_BAR => bars.push((row.bar, row.severity, row.records)),
            PART_KEY => keys.push(NamedCount { name: row.name, count: row.records, label: None }),
            PART_ACTOR => actors.push(NamedCount { name: row.name, count: row.records, label: None }),
            PART_ACTION => actions.push(row),
            _ => {}
        }
    }
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
        // Records dated ahead of the server's clock (ingest takes up to an
        // hour ahead) count in the last bar, so the bars add up to the total.
        let bar = bar.min(first_bar + count as i64 - 1);
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
    stats.error_rate =
        if stats.records > 0 { (stats.errors + stats.critical) as f64 / stats.records as f64 } else { 0.0 };
    // Most first, then by name: the order the branches' rows do not keep.
    for named in [&mut keys, &mut actors] {
        named.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    }
    stats.by_key = keys;
    stats.top_actors = actors;

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
        let operation = format!("{} · {provider}", row.name);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::statement::{sql_of, Dialect};

    #[test]
    fn one_statement_answers_every_part_of_the_stats() {
        let scope = Scope::Grants(vec![app::store::Grant {
            workspace_id: 1,
            brand: None,
            visibilities: vec![app::model::Visibility::Client],
        }]);
        let now = Micros(1_000 * HOUR_US);
        let sql = sql_of(Dialect::Postgres, |q| stats(q, &scope, Some("acme"), StatsWindow::Day, now));
        assert_eq!(sql.matches(" UNION ALL ").count(), 4, "{sql}");
        assert!(sql.contains("FROM rollup_hourly r WHERE ((r.workspace_id = $1 AND r.visibility IN ($2))) \
             AND r.workspace_id = (SELECT id FROM workspaces WHERE slug = $3) AND r.hour >= $4 AND r.hour < $5 GROUP BY"), "{sql}");
        assert!(sql.contains("AND r.kind = 'action' GROUP BY r.provider"), "{sql}");
        // Everything, unscoped: the platform-wide tables, with no scope columns.
        let sql = sql_of(Dialect::Sqlite, |q| stats(q, &Scope::Platform, None, StatsWindow::Day, now));
        assert!(sql.contains("FROM rollup_platform_hourly r WHERE r.hour >= ? AND r.hour < ? GROUP BY"), "{sql}");
        assert!(!sql.contains("workspace_id"), "{sql}");
    }

    #[test]
    fn records_dated_ahead_count_in_the_last_bar() {
        let now = Micros(1_000 * HOUR_US + 5);
        let bar = |bar: i64, records: i64| StatsRow {
            part: PART_BAR.into(),
            bar,
            severity: 2,
            name: String::new(),
            provider: String::new(),
            status: String::new(),
            records,
            durations: DurationColumns::default(),
        };
        let stats = assemble(StatsWindow::Day, now, vec![bar(999, 1), bar(1_000, 2), bar(1_001, 4)]);
        assert_eq!(stats.bars.len(), 24);
        let in_bars: i64 = stats.bars.iter().map(|b| b.by_severity.iter().sum::<i64>()).sum();
        assert_eq!((stats.records, in_bars, stats.errors), (7, 7, 7));
        assert_eq!(stats.bars.last().unwrap().by_severity[2], 6, "this hour's and the next's");
    }

    #[test]
    fn top_actors_read_at_most_half_a_block_of_hours() {
        // Starting on a block: blocks only.
        assert_eq!(actor_hours_and_blocks(16), (16..16, "", 16));
        // Three hours before a block: added.
        assert_eq!(actor_hours_and_blocks(13), (13..16, "", 16));
        // Four: still added (half a block).
        assert_eq!(actor_hours_and_blocks(12), (12..16, "", 16));
        // Six hours before a block: its block whole, minus the two before the window.
        assert_eq!(actor_hours_and_blocks(10), (8..10, "-", 8));
        assert_eq!(actor_hours_and_blocks(-7), (-8..-7, "-", -8));
    }
}
