//! Statements over the retention settings, and the purge of records past
//! their period.

use app::model::{Kind, Period, Retention, RetentionRule};
use app::store::Cutoff;

use super::statement::{Bindable, Sql};

/// Every setting ([`RuleRow`]): the defaults (no workspace), then the overrides.
pub fn rules(q: &mut Sql<'_, '_>) {
    q.push(
        "SELECT NULL AS workspace, kind, days FROM retention_defaults UNION ALL \
         SELECT w.slug AS workspace, o.kind, o.days FROM retention_overrides o \
         JOIN workspaces w ON w.id = o.workspace_id",
    );
}

/// The stored period ([`DaysRow`]) of the default (no workspace) or a workspace's override.
pub fn period(q: &mut Sql<'_, '_>, workspace_id: Option<i64>, kind: Kind) {
    match workspace_id {
        None => _ = q.push("SELECT days FROM retention_defaults WHERE kind = ").bind(kind.as_str()),
        Some(id) => {
            q.push("SELECT days FROM retention_overrides WHERE workspace_id = ").bind(id);
            q.push(" AND kind = ").bind(kind.as_str());
        }
    }
}

pub fn set_period(q: &mut Sql<'_, '_>, workspace_id: Option<i64>, kind: Kind, period: Period) {
    match workspace_id {
        None => {
            q.push("UPDATE retention_defaults SET days = ").bind(period.days());
            q.push(" WHERE kind = ").bind(kind.as_str());
        }
        Some(id) => {
            q.push("INSERT INTO retention_overrides (workspace_id, kind, days) VALUES (").bind(id);
            q.push(", ").bind(kind.as_str()).push(", ").bind(period.days());
            q.push(") ON CONFLICT (workspace_id, kind) DO UPDATE SET days = excluded.days");
        }
    }
}

/// Removes a workspace's own period for `kind`.
pub fn clear_override(q: &mut Sql<'_, '_>, workspace_id: i64, kind: Kind) {
    q.push("DELETE FROM retention_overrides WHERE workspace_id = ").bind(workspace_id);
    q.push(" AND kind = ").bind(kind.as_str());
}

/// How far a record's `received_at` may run behind those received before it
/// (a clock stepped back) and still be found by the pass that reaches it.
pub const CLOCK_MARGIN_US: i64 = 3_600_000_000;
/// Cutoffs bound per statement (3 values each), within SQLite's 32,766.
pub const CUTOFFS_PER_STATEMENT: usize = 1_000;

/// The position after `after` that ends a window of `window` records, in the
/// order received ([`Position`] column); none when fewer remain.
pub fn window_end<'a, P: Bindable<'a>>(q: &mut Sql<'_, 'a>, table: &str, after: Option<P>, window: usize) {
    let position = q.dialect().position();
    q.push(format_args!("SELECT {position} FROM {table}"));
    if let Some(after) = after {
        q.push(format_args!(" WHERE {position} > ")).bind(after);
    }
    q.push(format_args!(" ORDER BY {position} LIMIT 1 OFFSET ")).bind(window as i64 - 1);
}

/// The earliest `received_at` of a window (`after`, `to`]; NULL when it is empty.
pub fn window_start<'a, P: Bindable<'a>>(q: &mut Sql<'_, 'a>, table: &str, after: Option<P>, to: Option<P>) {
    q.push(format_args!("SELECT MIN(received_at) FROM {table} WHERE TRUE"));
    window(q, "", after, to);
}

/// Deletes the window's records that are past their cutoff, returning the
/// workspace, kind and producer's id of each ([`PurgedRow`]).
pub fn purge_window<'a, P: Bindable<'a>>(
    q: &mut Sql<'_, 'a>,
    table: &str,
    cutoffs: &'a [Cutoff],
    after: Option<P>,
    to: Option<P>,
) {
    let position = q.dialect().position();
    q.push("WITH r (workspace_id, kind, cutoff) AS (VALUES ");
    for (n, cutoff) in cutoffs.iter().enumerate() {
        q.push(if n == 0 { "(" } else { ", (" }).bind(cutoff.workspace_id).push(", ").bind(cutoff.kind.as_str());
        q.push(", ").bind(cutoff.before.0).push(")");
    }
    // CROSS JOIN: SQLite then walks the window by position and matches each
    // record against the cutoffs; with a plain JOIN it chose to scan a
    // workspace's index once per cutoff, over every record of the workspace.
    q.push(format_args!(
        ") DELETE FROM {table} WHERE {position} IN (SELECT e.{position} FROM {table} e CROSS JOIN r \
         WHERE r.workspace_id = e.workspace_id AND r.kind = e.kind AND e.received_at < r.cutoff"
    ));
    window(q, "e.", after, to);
    q.push(") RETURNING id, workspace_id, kind, event_id");
}

/// ` AND position > after AND position <= to`, for the bounds given.
fn window<'a, P: Bindable<'a>>(q: &mut Sql<'_, 'a>, qualifier: &str, after: Option<P>, to: Option<P>) {
    let position = q.dialect().position();
    if let Some(after) = after {
        q.push(format_args!(" AND {qualifier}{position} > ")).bind(after);
    }
    if let Some(to) = to {
        q.push(format_args!(" AND {qualifier}{position} <= ")).bind(to);
    }
}

#[derive(sqlx::FromRow)]
pub struct PurgedRow {
    pub id: uuid::Uuid,
    pub workspace_id: i64,
    pub kind: Kind,
    pub event_id: Option<String>,
}

#[derive(sqlx::FromRow)]
pub struct RuleRow {
    workspace: Option<String>,
    kind: Kind,
    days: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub struct DaysRow {
    pub days: Option<i64>,
}

pub fn retention(rows: Vec<RuleRow>) -> Retention {
    let mut rules: Vec<RetentionRule> = rows
        .into_iter()
        .map(|row| RetentionRule { workspace: row.workspace, kind: row.kind, period: Period::from_days(row.days) })
        .collect();
    rules.sort_by(|a, b| (&a.workspace, a.kind.as_str()).cmp(&(&b.workspace, b.kind.as_str())));
    Retention { rules }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::statement::{sql_of, Dialect};

    #[test]
    fn a_purge_deletes_one_window_of_the_order_received() {
        let cutoffs = [
            Cutoff { workspace_id: 3, kind: Kind::Event, before: app::model::Micros(5) },
            Cutoff { workspace_id: 4, kind: Kind::Action, before: app::model::Micros(6) },
        ];
        let sql = sql_of(Dialect::Postgres, |q| purge_window(q, "events", &cutoffs, Some(uuid::Uuid::nil()), None));
        assert_eq!(
            sql,
            "WITH r (workspace_id, kind, cutoff) AS (VALUES ($1, $2, $3), ($4, $5, $6)) DELETE FROM events \
             WHERE id IN (SELECT e.id FROM events e CROSS JOIN r WHERE r.workspace_id = e.workspace_id \
             AND r.kind = e.kind AND e.received_at < r.cutoff AND e.id > $7) RETURNING id, workspace_id, kind, event_id"
        );
        let sql = sql_of(Dialect::Sqlite, |q| window_end(q, "events_recent", Some(7_i64), 500));
        assert_eq!(sql, "SELECT seq FROM events_recent WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?");
        let sql = sql_of(Dialect::Sqlite, |q| window_start::<i64>(q, "events", Some(1), Some(9)));
        assert_eq!(sql, "SELECT MIN(received_at) FROM events WHERE TRUE AND seq > ? AND seq <= ?");
    }

    #[test]
    fn the_default_is_updated_and_an_override_upserted_or_removed() {
        let sql = sql_of(Dialect::Sqlite, |q| clear_override(q, 2, Kind::Event));
        assert_eq!(sql, "DELETE FROM retention_overrides WHERE workspace_id = ? AND kind = ?");
        let sql = sql_of(Dialect::Sqlite, |q| set_period(q, None, Kind::Audit, Period::Forever));
        assert_eq!(sql, "UPDATE retention_defaults SET days = ? WHERE kind = ?");
        let sql = sql_of(Dialect::Postgres, |q| set_period(q, Some(2), Kind::Event, Period::Days(7)));
        assert_eq!(
            sql,
            "INSERT INTO retention_overrides (workspace_id, kind, days) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id, kind) DO UPDATE SET days = excluded.days"
        );
    }
}
