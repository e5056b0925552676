//! The query text both backends share. Queries are written with `?`
//! placeholders; PostgreSQL renumbers them to `$n`. Every read is built from a
//! scope and a filter here, so there is one query path for the feed.

use app::model::{EventFilter, Order};
use app::store::{Page, Scope};
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Case-insensitive LIKE.
    fn ilike(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// A JSON column as text.
    fn json_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }

    /// The tables that hold records: SQLite stages recent commits in a second
    /// table (migration `recent_events`); a record is in exactly one of them.
    pub fn record_tables(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &["events", "events_recent"],
            Dialect::Postgres => &["events"],
        }
    }

    /// Finishes query text for this backend.
    pub fn finish(self, sql: &str) -> String {
        match self {
            Dialect::Sqlite => sql.to_owned(),
            Dialect::Postgres => number_placeholders(sql),
        }
    }
}

/// `?, ?` → `$1, $2`. Our query text never holds a literal `?`.
fn number_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// A value bound to a placeholder.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Int(i64),
    Text(String),
    Uuid(Uuid),
    /// Nullable values keep their SQL type, which PostgreSQL needs for NULL.
    OptInt(Option<i64>),
    OptText(Option<String>),
}

/// Query text and its arguments, in placeholder order.
#[derive(Debug)]
pub struct Query {
    pub sql: String,
    pub args: Vec<Arg>,
}

/// The columns of a feed row (`app::model::EventRow`).
pub const ROW_COLUMNS: &str = "e.id, w.slug AS workspace, e.brand, e.kind, e.key, e.message, e.context, \
     e.entity_type, e.entity_id, e.actor_type, e.actor_id, e.actor_email, e.actor_name, e.actor_label, \
     e.visibility, e.severity, e.status, e.duration_ms, e.provider, e.correlation_id, e.occurred_at, e.received_at";

/// A conjunction of conditions with their arguments.
pub(crate) struct Conditions {
    dialect: Dialect,
    /// The alias of the table the scope applies to (`e` events, `r` roll-ups).
    alias: &'static str,
    parts: Vec<String>,
    args: Vec<Arg>,
}

impl Conditions {
    fn new(dialect: Dialect) -> Self {
        Self::with_alias(dialect, "e")
    }

    pub(crate) fn with_alias(dialect: Dialect, alias: &'static str) -> Self {
        Conditions { dialect, alias, parts: Vec::new(), args: Vec::new() }
    }

    pub(crate) fn into_args(self) -> Vec<Arg> {
        self.args
    }

    pub(crate) fn push(&mut self, sql: impl Into<String>, args: impl IntoIterator<Item = Arg>) {
        self.parts.push(sql.into());
        self.args.extend(args);
    }

    /// What the viewer may see: their workspaces, brand and visibilities.
    pub(crate) fn scope(&mut self, scope: &Scope) {
        let a = self.alias;
        let Scope::Grants(grants) = scope else { return };
        if grants.is_empty() {
            self.push("1 = 0", []);
            return;
        }
        let mut alternatives = Vec::with_capacity(grants.len());
        for grant in grants {
            let marks = vec!["?"; grant.visibilities.len()].join(", ");
            let mut sql = format!("({a}.workspace_id = ? AND {a}.visibility IN ({marks})");
            self.args.push(Arg::Int(grant.workspace_id));
            self.args.extend(grant.visibilities.iter().map(|v| Arg::Text(v.as_str().to_owned())));
            if let Some(brand) = &grant.brand {
                sql.push_str(&format!(" AND {a}.brand = ?"));
                self.args.push(Arg::Text(brand.clone()));
            }
            sql.push(')');
            alternatives.push(sql);
        }
        self.parts.push(format!("({})", alternatives.join(" OR ")));
    }

    fn filter(&mut self, f: &EventFilter) {
        let text = |s: &str| Arg::Text(s.to_owned());
        if let Some(slug) = &f.workspace {
            self.push("e.workspace_id = (SELECT id FROM workspaces WHERE slug = ?)", [text(slug)]);
        }
        if let Some(brand) = &f.brand {
            self.push("e.brand = ?", [text(brand)]);
        }
        if let Some(kind) = f.kind {
            self.push("e.kind = ?", [text(kind.as_str())]);
        }
        if let Some(key) = &f.key {
            match key.strip_suffix('*') {
                Some(prefix) if !prefix.is_empty() => {
                    // A range, not LIKE, so the key index serves it on both backends.
                    self.push("e.key >= ? AND e.key < ?", [text(prefix), Arg::Text(prefix_upper_bound(prefix))]);
                }
                Some(_) => {}
                None => self.push("e.key = ?", [text(key)]),
            }
        }
        if let Some(severity) = f.severity {
            self.push("e.severity = ?", [Arg::Int(severity.rank().into())]);
        }
        if let Some(severity) = f.min_severity {
            self.push("e.severity >= ?", [Arg::Int(severity.rank().into())]);
        }
        if f.errors_only {
            self.push("e.severity >= 1", []);
        }
        if let Some(status) = f.status {
            self.push("e.status = ?", [text(status.as_str())]);
        }
        if let Some(actor) = &f.actor {
            let column = if actor.contains('@') { "e.actor_email" } else { "e.actor_id" };
            self.push(format!("{column} = ?"), [text(actor)]);
        }
        if let Some(entity_type) = &f.entity_type {
            self.push("e.entity_type = ?", [text(entity_type)]);
        }
        if let Some(entity_id) = &f.entity_id {
            self.push("e.entity_id = ?", [text(entity_id)]);
        }
        if let Some(visibility) = f.visibility {
            self.push("e.visibility = ?", [text(visibility.as_str())]);
        }
        if let Some(provider) = &f.provider {
            self.push("e.provider = ?", [text(provider)]);
        }
        if let Some(correlation_id) = &f.correlation_id {
            self.push("e.correlation_id = ?", [text(correlation_id)]);
        }
        if let Some(since) = f.since {
            self.push("e.occurred_at >= ?", [Arg::Int(since.0)]);
        }
        if let Some(until) = f.until {
            self.push("e.occurred_at < ?", [Arg::Int(until.0)]);
        }
        if let Some(q) = f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let pattern = format!("%{}%", escape_like(q));
            let like = self.dialect.ilike();
            let columns = ["e.message", "e.key", "e.actor_id", "e.actor_email", "e.actor_name", "e.entity_id"];
            let alternatives: Vec<String> = columns.iter().map(|c| format!("{c} {like} ? ESCAPE '\\'")).collect();
            self.push(format!("({})", alternatives.join(" OR ")), columns.iter().map(|_| Arg::Text(pattern.clone())));
        }
    }

    /// Rows after the page's cursor, in the page's order.
    fn after_cursor(&mut self, page: &Page) {
        if let Some(c) = page.cursor {
            let op = match page.order {
                Order::NewestFirst => "<",
                Order::OldestFirst => ">",
            };
            self.push(format!("(e.occurred_at, e.id) {op} (?, ?)"), [Arg::Int(c.occurred_at), Arg::Uuid(c.id)]);
        }
    }

    pub(crate) fn where_clause(&self) -> String {
        if self.parts.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.parts.join(" AND "))
        }
    }
}

/// The smallest string greater than every string starting with `prefix`.
fn prefix_upper_bound(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    // Only reachable for a prefix of char::MAX; nothing sorts above it.
    char::MAX.to_string()
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The feed: one page by (occurred_at, id) after the cursor.
pub fn list_events(dialect: Dialect, scope: &Scope, filter: &EventFilter, page: Page) -> Query {
    paged(dialect, ROW_COLUMNS, scope, filter, page)
}

/// Like `list_events`, with every column of the record.
pub fn list_event_details(dialect: Dialect, scope: &Scope, filter: &EventFilter, page: Page) -> Query {
    paged(dialect, &detail_columns(dialect), scope, filter, page)
}

fn paged(dialect: Dialect, columns: &str, scope: &Scope, filter: &EventFilter, page: Page) -> Query {
    let mut c = Conditions::new(dialect);
    c.scope(scope);
    c.filter(filter);
    c.after_cursor(&page);
    let direction = match page.order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    select_records(dialect, columns, c, Some(Sorted { columns: &["occurred_at", "id"], direction, limit: page.limit }))
}

/// The order and length of a page of records.
struct Sorted {
    /// Columns of the record, unqualified.
    columns: &'static [&'static str],
    direction: &'static str,
    limit: usize,
}

impl Sorted {
    /// `ORDER BY … LIMIT n`, the columns prefixed by `qualifier`.
    fn clause(&self, qualifier: &str) -> String {
        let keys: Vec<String> = self.columns.iter().map(|c| format!("{qualifier}{c} {}", self.direction)).collect();
        format!(" ORDER BY {} LIMIT {}", keys.join(", "), self.limit)
    }
}

/// `SELECT columns` over every table that holds records, with the workspace
/// joined as `w`. PostgreSQL has one table. SQLite's writer stages commits in
/// `events_recent` (migration `recent_events`), so its reads are a UNION ALL of
/// one arm per table, each sorted and limited on its own indexes and the
/// whole sorted and limited again; the conditions' arguments repeat per arm.
fn select_records(dialect: Dialect, columns: &str, conditions: Conditions, sorted: Option<Sorted>) -> Query {
    let where_clause = conditions.where_clause();
    let arm_order = sorted.as_ref().map(|s| s.clause("e.")).unwrap_or_default();
    let arm = |table: &str| {
        format!("SELECT {columns} FROM {table} e JOIN workspaces w ON w.id = e.workspace_id {where_clause}{arm_order}")
    };
    let tables = dialect.record_tables();
    let sql = match tables {
        [table] => arm(table),
        _ => {
            let arms: Vec<String> = tables.iter().map(|table| format!("SELECT * FROM ({})", arm(table))).collect();
            arms.join(" UNION ALL ") + &sorted.as_ref().map(|s| s.clause("")).unwrap_or_default()
        }
    };
    let arm_args = conditions.into_args();
    let args = tables.iter().flat_map(|_| arm_args.iter().cloned()).collect();
    Query { sql: dialect.finish(&sql), args }
}

fn detail_columns(dialect: Dialect) -> String {
    format!(
        "{ROW_COLUMNS}, e.event_id, e.ip, e.user_agent, e.error_message, e.error_stack, {} AS payload, {} AS diff",
        dialect.json_text("e.payload"),
        dialect.json_text("e.diff")
    )
}

/// One record by id, within the scope.
pub fn event_by_id(dialect: Dialect, scope: &Scope, id: Uuid) -> Query {
    let mut c = Conditions::new(dialect);
    c.push("e.id = ?", [Arg::Uuid(id)]);
    c.scope(scope);
    select_records(dialect, &detail_columns(dialect), c, None)
}

/// Records whose UUIDv7 id is after `after`: received since then, newest first.
pub fn events_received_after(
    dialect: Dialect,
    scope: &Scope,
    filter: &EventFilter,
    after: Uuid,
    limit: usize,
) -> Query {
    let mut c = Conditions::new(dialect);
    c.push("e.id > ?", [Arg::Uuid(after)]);
    c.scope(scope);
    c.filter(filter);
    select_records(dialect, ROW_COLUMNS, c, Some(Sorted { columns: &["id"], direction: "DESC", limit }))
}

/// The columns written for one record, in the order of `insert_values`.
pub const INSERT_COLUMNS: &str = "id, workspace_id, event_id, brand, kind, key, message, context, entity_type, \
     entity_id, actor_type, actor_id, actor_email, actor_name, actor_label, ip, user_agent, visibility, severity, \
     status, duration_ms, provider, error_message, error_stack, correlation_id, payload, diff, occurred_at, received_at";

pub const INSERT_COLUMN_COUNT: usize = 29;

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{Kind, Visibility};
    use app::store::Grant;

    #[test]
    fn postgres_placeholders_are_numbered_in_order() {
        assert_eq!(number_placeholders("a = ? AND b IN (?, ?)"), "a = $1 AND b IN ($2, $3)");
    }

    #[test]
    fn prefix_bound_covers_exactly_the_prefix() {
        let upper = prefix_upper_bound("track_");
        assert_eq!(upper, "track`");
        assert!("track_publish" < upper.as_str() && "track_publish" >= "track_");
        assert!("trackz" >= upper.as_str());
    }

    #[test]
    fn member_scope_limits_workspace_visibility_and_brand() {
        let scope = Scope::Grants(vec![Grant {
            workspace_id: 7,
            brand: Some("nike".into()),
            visibilities: vec![Visibility::Client],
        }]);
        let q = list_events(Dialect::Postgres, &scope, &EventFilter::default(), Page::newest(10));
        assert!(q.sql.contains("(e.workspace_id = $1 AND e.visibility IN ($2) AND e.brand = $3)"), "{}", q.sql);
        assert_eq!(q.args, vec![Arg::Int(7), Arg::Text("client".into()), Arg::Text("nike".into())]);
    }

    #[test]
    fn a_viewer_without_grants_matches_nothing() {
        let q = list_events(Dialect::Sqlite, &Scope::Grants(vec![]), &EventFilter::default(), Page::newest(10));
        assert!(q.sql.contains("WHERE 1 = 0"));
    }

    #[test]
    fn sqlite_reads_both_record_tables_and_postgres_one() {
        let filter = EventFilter { kind: Some(Kind::Audit), ..Default::default() };
        let q = list_events(Dialect::Sqlite, &Scope::Platform, &filter, Page::newest(5));
        let arm = "FROM events_recent e JOIN workspaces w ON w.id = e.workspace_id WHERE e.kind = ? \
                   ORDER BY e.occurred_at DESC, e.id DESC LIMIT 5)";
        assert!(q.sql.starts_with("SELECT * FROM (SELECT e.id"), "{}", q.sql);
        assert!(q.sql.contains(arm), "{}", q.sql);
        assert!(q.sql.ends_with(") ORDER BY occurred_at DESC, id DESC LIMIT 5"), "{}", q.sql);
        assert_eq!(q.args, vec![Arg::Text("audit".into()), Arg::Text("audit".into())]);

        let q = list_events(Dialect::Postgres, &Scope::Platform, &filter, Page::newest(5));
        assert!(!q.sql.contains("events_recent") && !q.sql.contains("UNION"), "{}", q.sql);
        assert_eq!(q.args, vec![Arg::Text("audit".into())]);
    }

    #[test]
    fn filters_become_conditions_with_arguments() {
        let filter = EventFilter {
            kind: Some(Kind::Audit),
            key: Some("track_*".into()),
            errors_only: true,
            q: Some("50%".into()),
            ..Default::default()
        };
        let q = list_events(Dialect::Sqlite, &Scope::Platform, &filter, Page::newest(5));
        assert!(q.sql.contains("e.kind = ? AND e.key >= ? AND e.key < ? AND e.severity >= 1"), "{}", q.sql);
        assert_eq!(q.args[3], Arg::Text("%50\\%%".into()));
        assert!(q.sql.ends_with("LIMIT 5"));
    }
}
