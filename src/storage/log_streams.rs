//! Statements of log streams (migration `log_streams`).

use app::model::{Destination, LogStream, Micros, StreamPosition};
use app::store::{LogStreamTarget, NewLogStream};
use uuid::Uuid;

use super::statement::Sql;

fn select(q: &mut Sql<'_, '_>) {
    q.push(
        "SELECT s.id, w.slug AS workspace, s.workspace_id, s.destination, s.target, s.secret, s.cursor_tx, \
         s.cursor_id, s.exported, s.last_export_at, s.last_error, s.created_at \
         FROM log_streams s LEFT JOIN workspaces w ON w.id = s.workspace_id",
    );
}

pub fn all(q: &mut Sql<'_, '_>) {
    select(q);
    q.push(" ORDER BY s.id");
}

pub fn one(q: &mut Sql<'_, '_>, id: i64) {
    select(q);
    q.push(" WHERE s.id = ").bind(id);
}

pub fn create<'a>(q: &mut Sql<'_, 'a>, new: &'a NewLogStream) {
    q.push("INSERT INTO log_streams (workspace_id, destination, target, secret, created_at) VALUES (");
    q.bind(new.workspace_id).push(", ").bind(new.destination.as_str()).push(", ").bind(new.target.as_str());
    q.push(", ").bind(new.secret.as_deref()).push(", ").bind(new.created_at.0).push(") RETURNING id");
}

pub fn remove(q: &mut Sql<'_, '_>, id: i64) {
    q.push("DELETE FROM log_streams WHERE id = ").bind(id);
}

/// Moves the cursor forward only (a slower exporter cannot move it back).
pub fn advance(q: &mut Sql<'_, '_>, id: i64, position: StreamPosition, count: i64, at: Micros) {
    q.push("UPDATE log_streams SET cursor_tx = ").bind(position.commit_tx).push(", cursor_id = ").bind(position.id);
    q.push(", exported = exported + ").bind(count).push(", last_export_at = ").bind(at.0);
    q.push(", last_error = NULL WHERE id = ").bind(id);
    q.push(" AND (cursor_tx < ").bind(position.commit_tx);
    q.push(" OR (cursor_tx = ").bind(position.commit_tx).push(" AND cursor_id < ").bind(position.id).push("))");
}

pub fn error<'a>(q: &mut Sql<'_, 'a>, id: i64, error: Option<&'a str>) {
    q.push("UPDATE log_streams SET last_error = ").bind(error).push(" WHERE id = ").bind(id);
}

#[derive(sqlx::FromRow)]
pub struct LogStreamRow {
    id: i64,
    workspace: Option<String>,
    workspace_id: Option<i64>,
    destination: String,
    target: String,
    secret: Option<String>,
    cursor_tx: i64,
    cursor_id: Uuid,
    exported: i64,
    last_export_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
}

impl From<LogStreamRow> for LogStreamTarget {
    fn from(row: LogStreamRow) -> Self {
        let destination = if row.destination == "http" { Destination::Http } else { Destination::Directory };
        LogStreamTarget {
            stream: LogStream {
                id: row.id,
                workspace: row.workspace,
                workspace_id: row.workspace_id,
                destination,
                target: row.target,
                position: StreamPosition { commit_tx: row.cursor_tx, id: row.cursor_id },
                exported: row.exported,
                last_export_at: row.last_export_at.map(Micros),
                last_error: row.last_error,
                created_at: Micros(row.created_at),
            },
            secret: row.secret,
        }
    }
}
