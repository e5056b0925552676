//! The record's columns, defined once: each with its name, its SQL type and
//! how its value is read from a [`NewRecord`]. The INSERT column lists, the
//! PostgreSQL UNNEST arrays and casts, the binds and the SELECT lists of the
//! feed and the detail are all derived from [`RECORD_COLUMNS`].

use app::store::NewRecord;
use uuid::Uuid;

use super::statement::Dialect;

/// One column of `events` (and of SQLite's `events_recent`).
pub struct Column {
    pub name: &'static str,
    pub value: Value,
    /// Shown in a feed row (`app::model::EventRow`); every column is in the detail.
    pub in_row: bool,
}

/// A column's type, with the function that reads its value from a record.
#[derive(Clone, Copy)]
pub enum Value {
    Uuid(fn(&NewRecord) -> Uuid),
    BigInt(fn(&NewRecord) -> i64),
    NullableBigInt(fn(&NewRecord) -> Option<i64>),
    SmallInt(fn(&NewRecord) -> i16),
    /// NULL where absent. A NOT NULL column's function always returns `Some`.
    Text(for<'r> fn(&'r NewRecord) -> Option<&'r str>),
    /// JSON text, stored as `jsonb` by PostgreSQL.
    Json(for<'r> fn(&'r NewRecord) -> Option<&'r str>),
}

const fn column(name: &'static str, value: Value) -> Column {
    Column { name, value, in_row: true }
}

/// A column the feed row leaves out: the detail view shows it.
const fn detail_only(name: &'static str, value: Value) -> Column {
    Column { name, value, in_row: false }
}

pub const RECORD_COLUMNS: [Column; 29] = [
    column("id", Value::Uuid(|r| r.id)),
    column("workspace_id", Value::BigInt(|r| r.workspace_id)),
    detail_only("event_id", Value::Text(|r| r.event_id.as_deref())),
    column("brand", Value::Text(|r| r.brand.as_deref())),
    column("kind", Value::Text(|r| Some(r.kind.as_str()))),
    column("key", Value::Text(|r| Some(r.key.as_str()))),
    column("message", Value::Text(|r| r.message.as_deref())),
    column("context", Value::Text(|r| r.context.as_deref())),
    column("entity_type", Value::Text(|r| r.entity_type.as_deref())),
    column("entity_id", Value::Text(|r| r.entity_id.as_deref())),
    column("actor_type", Value::Text(|r| Some(r.actor_type.as_str()))),
    column("actor_id", Value::Text(|r| r.actor_id.as_deref())),
    column("actor_email", Value::Text(|r| r.actor_email.as_deref())),
    column("actor_name", Value::Text(|r| r.actor_name.as_deref())),
    column("actor_label", Value::Text(|r| r.actor_label.as_deref())),
    detail_only("ip", Value::Text(|r| r.ip.as_deref())),
    detail_only("user_agent", Value::Text(|r| r.user_agent.as_deref())),
    column("visibility", Value::Text(|r| Some(r.visibility.as_str()))),
    column("severity", Value::SmallInt(|r| r.severity.rank())),
    column("status", Value::Text(|r| r.status.map(|s| s.as_str()))),
    column("duration_ms", Value::NullableBigInt(|r| r.duration_ms)),
    column("provider", Value::Text(|r| r.provider.as_deref())),
    detail_only("error_message", Value::Text(|r| r.error_message.as_deref())),
    detail_only("error_stack", Value::Text(|r| r.error_stack.as_deref())),
    column("correlation_id", Value::Text(|r| r.correlation_id.as_deref())),
    detail_only("payload", Value::Json(|r| r.payload.as_deref())),
    detail_only("diff", Value::Json(|r| r.diff.as_deref())),
    column("occurred_at", Value::BigInt(|r| r.occurred_at.0)),
    column("received_at", Value::BigInt(|r| r.received_at.0)),
];

impl Value {
    /// The PostgreSQL type of an array of this column's values.
    pub fn pg_array(self) -> &'static str {
        match self {
            Value::Uuid(_) => "uuid[]",
            Value::BigInt(_) | Value::NullableBigInt(_) => "bigint[]",
            Value::SmallInt(_) => "smallint[]",
            Value::Text(_) | Value::Json(_) => "text[]",
        }
    }
}

/// `id, workspace_id, …`: every column, in order.
pub fn names() -> String {
    RECORD_COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// The SELECT list of a feed row (`detail` false) or a full record (true),
/// over records `e` joined with their workspace `w`.
pub fn select_list(dialect: Dialect, detail: bool) -> String {
    RECORD_COLUMNS
        .iter()
        .filter(|c| detail || c.in_row)
        .map(|c| match (c.name, c.value) {
            ("workspace_id", _) => "w.slug AS workspace".to_owned(),
            (name, Value::Json(_)) => format!("{} AS {name}", dialect.json_text(&format!("e.{name}"))),
            (name, _) => format!("e.{name}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every column as stored, with the workspace's id ([`NewRecord`] decodes
/// it), over records `e`: what the chain's content hash is checked against.
pub fn stored_list(dialect: Dialect) -> String {
    RECORD_COLUMNS
        .iter()
        .map(|c| match c.value {
            Value::Json(_) => format!("{} AS {}", dialect.json_text(&format!("e.{}", c.name)), c.name),
            _ if c.name == "id" => format!("{} AS id", dialect.checked_id("e.id")),
            _ => format!("e.{}", c.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The position (from 1) of a column in [`RECORD_COLUMNS`].
pub fn position(name: &str) -> Option<usize> {
    RECORD_COLUMNS.iter().position(|c| c.name == name).map(|i| i + 1)
}

/// A record with every field set, for tests of statements.
#[cfg(test)]
pub fn sample_record() -> NewRecord {
    use app::model::{ActorType, Kind, Micros, Severity, Status, Visibility};
    let text = |s: &str| Some(s.to_owned());
    NewRecord {
        id: Uuid::now_v7(),
        workspace_id: 1,
        event_id: text("evt_1"),
        brand: text("nike"),
        kind: Kind::Action,
        key: "invoice.sent".into(),
        message: text("sent"),
        context: text("billing"),
        entity_type: text("invoice"),
        entity_id: text("inv_1"),
        actor_type: ActorType::User,
        actor_id: text("u_1"),
        actor_email: text("a@example.com"),
        actor_name: text("Ada"),
        actor_label: text("ops"),
        ip: text("192.0.2.1"),
        user_agent: text("curl"),
        visibility: Visibility::Client,
        severity: Severity::Error,
        status: Some(Status::Failure),
        duration_ms: Some(12),
        provider: text("stripe"),
        error_message: text("declined"),
        error_stack: text("at line 1"),
        correlation_id: text("req_1"),
        payload: text("{}"),
        diff: text("{}"),
        occurred_at: Micros(1),
        received_at: Micros(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_in_order() {
        let names = names();
        assert!(names.starts_with("id, workspace_id, event_id, brand, kind, key,"), "{names}");
        assert!(names.ends_with("payload, diff, occurred_at, received_at"), "{names}");
        let mut sorted: Vec<&str> = RECORD_COLUMNS.iter().map(|c| c.name).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), RECORD_COLUMNS.len());
        assert_eq!(position("event_id"), Some(3));
    }

    #[test]
    fn every_field_of_a_record_has_its_column() {
        let record = sample_record();
        for column in &RECORD_COLUMNS {
            let present = match column.value {
                Value::Uuid(_) | Value::BigInt(_) | Value::SmallInt(_) => true,
                Value::NullableBigInt(read) => read(&record).is_some(),
                Value::Text(read) | Value::Json(read) => read(&record).is_some(),
            };
            assert!(present, "{} reads nothing from a full record", column.name);
        }
    }

    #[test]
    fn the_feed_row_leaves_out_the_detail_columns() {
        let row = select_list(Dialect::Postgres, false);
        assert!(row.starts_with("e.id, w.slug AS workspace, e.brand, e.kind,"), "{row}");
        assert!(!row.contains("payload") && !row.contains("e.ip"), "{row}");
        let detail = select_list(Dialect::Postgres, true);
        assert!(detail.contains("e.payload::text AS payload, e.diff::text AS diff"), "{detail}");
        assert!(select_list(Dialect::Sqlite, true).contains("e.payload AS payload"));
        // Stored rows are decoded by position (`canonical::StoredRow`).
        let stored = stored_list(Dialect::Postgres);
        let names: Vec<&str> =
            stored.split(", ").map(|c| c.rsplit(' ').next().unwrap().trim_start_matches("e.")).collect();
        assert_eq!(names, RECORD_COLUMNS.iter().map(|c| c.name).collect::<Vec<_>>(), "{stored}");
    }
}
