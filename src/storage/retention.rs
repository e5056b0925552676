//! Statements over the retention settings, and the purge of records past
//! their period.

use app::model::{Kind, Micros, Period, Retention, RetentionRule};

use super::statement::Sql;

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

/// Deletes up to `limit` records of `table` of one workspace and kind received
/// before `before`: a bounded transaction, so ingest and reads go on between them.
pub fn purge(q: &mut Sql<'_, '_>, table: &str, workspace_id: i64, kind: Kind, before: Micros, limit: usize) {
    q.push(format_args!("DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE workspace_id = "));
    q.bind(workspace_id).push(" AND kind = ").bind(kind.as_str()).push(" AND received_at < ").bind(before.0);
    q.push(" LIMIT ").bind(limit as i64).push(")");
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
    fn a_purge_deletes_one_bounded_batch_by_received_time() {
        let sql = sql_of(Dialect::Postgres, |q| purge(q, "events", 3, Kind::Event, Micros(5), 1000));
        assert_eq!(
            sql,
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE workspace_id = $1 AND kind = $2 \
             AND received_at < $3 LIMIT $4)"
        );
    }

    #[test]
    fn the_default_is_updated_and_an_override_upserted() {
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
