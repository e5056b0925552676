//! WHERE clauses: what a viewer may see (the scope), the feed's filters and
//! its keyset cursor. Every read of records or roll-ups is limited here, so
//! there is one place that decides what a viewer can read.

use app::model::{Cursor, EventFilter, FieldCondition, FieldTest, Order, Severity, Status};
use app::store::{Page, Scope};

use super::numbers::FieldNumber;
use super::search::{self, IndexQuery};
use super::statement::{Dialect, Sql};

/// A conjunction written straight into a statement: the first condition
/// opens the WHERE clause, each later one is joined with AND.
pub struct Conditions<'q, 's, 'a> {
    q: &'q mut Sql<'s, 'a>,
    /// The alias of the table the conditions apply to (`e` records, `r` roll-ups).
    alias: &'static str,
    started: bool,
    index_use: IndexUse,
}

/// How a read uses the search index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexUse {
    /// Each record the read comes to, in its own order, is tested: against
    /// its own words (PostgreSQL) or the index's matches gathered once
    /// (SQLite). Right for reads bounded otherwise (the live feed, an
    /// outbox) and on SQLite after a page's stretches.
    #[default]
    Check,
    /// The index's matches are the records read, then sorted: right when few
    /// match (a walk in time order would pass most records to find them).
    Drive,
    /// PostgreSQL, many matches: this many of the read's next records, in
    /// its order, are tested against their own words (`records::stretch`);
    /// a page short of full goes on in longer stretches, then lets the index
    /// drive (`SqlStore::page_of`). PostgreSQL's own choice for common
    /// words, a walk in time order, passed every record of a partition the
    /// words are not in (`stripe`, only in provider actions, 0.9 s at 1 M:
    /// docs/performance.md). On SQLite, the stretch's size in each
    /// record table, before its end and bounds are known
    /// (`records::stretch_end`, `records::stretch_bounds`).
    Stretch(usize),
    /// SQLite, many matches: the read stops at its stretch's last record,
    /// `end` (none when the read ends within the stretch), and tests each
    /// record against the index's matches of `seq` `low` to `high`,
    /// gathered once (FTS5 seeks to a rowid, so a range costs its own
    /// matches, where gathering all of a word in 20 % of 10 M records took
    /// 0.6 s), or, outside them (a record stored out of time order, or since
    /// the bounds were read), against its own words.
    Bounded { low: i64, high: i64, end: Option<Cursor> },
}

/// Below this many matches the index drives a page's read (`IndexUse`): a
/// page then sorts at most about this many records, where a walk in time
/// order would pass ~50 ÷ (matches ÷ records) records
/// (docs/performance.md). SQLite counts the matches; PostgreSQL's planner
/// estimates them from the `search` column's statistics.
pub const DRIVE_BELOW: i64 = 5_000;

/// A page's first stretch, per record of the page
/// (`IndexUse::Stretch`): the page fills from it when 1 in 400 records
/// match (a page of 50: 20,400 records). Per record, so an export's large
/// pages fill from theirs as a page of 50 does.
pub const STRETCH_PER_RECORD: usize = 400;

/// Stretches a page tests before the index drives (PostgreSQL) or its
/// matches are all gathered (SQLite), each four times the last (a page of
/// 50: 20,400, then 81,600 records).
pub const STRETCHES: u32 = 2;

/// SQLite: at most one in this many of a stretch's records, those of the
/// lowest `seq` when they lie far below the rest (stored out of time order:
/// a late batch, Trail's own records), are tested against their own words,
/// each an FTS5 lookup, rather than widen the range of matches gathered
/// down to them (at 10 M, the benchmark's 52 records of its setup are the
/// newest: with them in the range a page took 0.5 s, without 3 ms).
pub const STRAGGLERS_ONE_IN: usize = 100;

/// SQLite: its stretches are at most this long in each record table (an
/// export's pages of 1,000 too): a stretch's bounds are read over all of it, where PostgreSQL's
/// read of a stretch stops when the page is full.
pub const MAX_SQLITE_STRETCH: usize = 81_600;

/// SQLite: `SELECT COUNT(*)` of the records the index finds for `query`,
/// counting no further than `DRIVE_BELOW`.
pub fn count_sqlite_matches(q: &mut Sql<'_, '_>, query: &IndexQuery) {
    q.push("SELECT COUNT(*) FROM (SELECT 1 FROM events_search WHERE events_search MATCH ").bind(query.fts5());
    q.push(format_args!(" LIMIT {DRIVE_BELOW}) AS found"));
}

/// `e.search @@ '…'::tsquery`: a literal, not a parameter, so the planner
/// weighs the words' frequencies, where a generic plan for a parameter
/// walked in time order for every search.
fn postgres_match(query: &IndexQuery) -> String {
    format!("e.search @@ {}::tsquery", query.tsquery_literal())
}

impl<'q, 's, 'a> Conditions<'q, 's, 'a> {
    pub fn new(q: &'q mut Sql<'s, 'a>, alias: &'static str) -> Self {
        Conditions { q, alias, started: false, index_use: IndexUse::Check }
    }

    /// How the free text, address, agent and payload conditions use the index.
    pub fn index_use(&mut self, index_use: IndexUse) -> &mut Self {
        self.index_use = index_use;
        self
    }

    /// Starts the next condition and returns the statement to write it in.
    pub fn and(&mut self) -> &mut Sql<'s, 'a> {
        self.q.push(if self.started { " AND " } else { " WHERE " });
        self.started = true;
        self.q
    }

    /// The aliased column: `e.key`.
    fn column(&self, name: &str) -> String {
        format!("{}.{name}", self.alias)
    }

    /// What the viewer may see: their workspaces, brand and visibilities.
    pub fn scope(&mut self, scope: &'a Scope) -> &mut Self {
        let Scope::Grants(grants) = scope else { return self };
        let (workspace, visibility, brand) =
            (self.column("workspace_id"), self.column("visibility"), self.column("brand"));
        let q = self.and();
        if grants.is_empty() {
            q.push("1 = 0");
            return self;
        }
        q.push("(");
        q.join(grants, " OR ", |q, grant| {
            q.push(format_args!("({workspace} = ")).bind(grant.workspace_id);
            q.push(format_args!(" AND {visibility} IN ("));
            q.join(&grant.visibilities, ", ", |q, v| {
                q.bind(v.as_str());
            });
            q.push(")");
            if let Some(b) = &grant.brand {
                q.push(format_args!(" AND {brand} = ")).bind(b.as_str());
            }
            q.push(")");
        });
        q.push(")");
        self
    }

    /// The workspace named by `slug`.
    pub fn workspace(&mut self, slug: &'a str) -> &mut Self {
        let column = self.column("workspace_id");
        self.and().push(format_args!("{column} = (SELECT id FROM workspaces WHERE slug = ")).bind(slug).push(")");
        self
    }

    /// The feed's filters, on records (`e`).
    pub fn filter(&mut self, f: &'a EventFilter) -> &mut Self {
        self.unsearched(f).searched(f)
    }

    /// The filter's conditions on the record's own columns.
    pub fn unsearched(&mut self, f: &'a EventFilter) -> &mut Self {
        if let Some(slug) = &f.workspace {
            self.workspace(slug);
        }
        let equal = |c: &mut Self, column: &str, value: &'a str| {
            c.and().push(format_args!("e.{column} = ")).bind(value);
        };
        if let Some(brand) = &f.brand {
            equal(self, "brand", brand);
        }
        if let Some(kind) = f.kind {
            equal(self, "kind", kind.as_str());
        }
        if let Some(key) = &f.key {
            match key.strip_suffix('*') {
                Some(prefix) if !prefix.is_empty() => {
                    // A range, not LIKE, so the key index serves it on both backends.
                    let upper = prefix_upper_bound(prefix);
                    self.and().push("e.key >= ").bind(prefix).push(" AND e.key < ").bind(upper);
                }
                Some(_) => {}
                None => equal(self, "key", key),
            }
        }
        if let Some(severity) = f.severity {
            self.and().push("e.severity = ").bind(severity.rank());
        }
        if let Some(severity) = f.min_severity {
            self.and().push("e.severity >= ").bind(severity.rank());
        }
        if f.errors_only {
            self.and().push("e.severity >= 1");
        }
        if f.failures_only {
            let rank = Severity::Error.rank();
            let failed = Status::ALL.iter().filter(|status| status.is_failure()).map(|status| status.as_str());
            let q = self.and().push("(e.severity >= ").bind(rank).push(" OR e.status IN (");
            q.join(failed, ", ", |q, status| _ = q.bind(status)).push("))");
        }
        if let Some(status) = f.status {
            equal(self, "status", status.as_str());
        }
        if let Some(actor) = &f.actor {
            if actor.contains('@') {
                // An email: the actor's email, or an id that is one
                // (`actor_id:` is the id alone).
                let q = self.and().push("(e.actor_email = ").bind(actor.as_str());
                q.push(" OR e.actor_id = ").bind(actor.as_str()).push(")");
            } else {
                equal(self, "actor_id", actor);
            }
        }
        for (column, value) in [
            ("actor_id", &f.actor_id),
            ("entity_type", &f.entity_type),
            ("entity_id", &f.entity_id),
            ("provider", &f.provider),
            ("correlation_id", &f.correlation_id),
        ] {
            if let Some(value) = value {
                equal(self, column, value);
            }
        }
        if let Some(visibility) = f.visibility {
            equal(self, "visibility", visibility.as_str());
        }
        if let Some(since) = f.since {
            self.and().push("e.occurred_at >= ").bind(since.0);
        }
        if let Some(until) = f.until {
            self.and().push("e.occurred_at < ").bind(until.0);
        }
        self
    }

    /// The filter's conditions the search index serves: free text, address,
    /// agent, payload fields (and their exact values, checked).
    pub fn searched(&mut self, f: &'a EventFilter) -> &mut Self {
        if let Some(query) = IndexQuery::of(f) {
            self.indexed(query);
        }
        for condition in &f.payload {
            self.payload_field(condition);
        }
        self
    }

    /// Records the search index finds for `query` (free text, address, user
    /// agent, the payload fields' values or marks), as `index_use` says.
    fn indexed(&mut self, query: IndexQuery) {
        let index_use = self.index_use;
        let q = self.and();
        match q.dialect() {
            // Driven: the matches are looked up by `seq`. Tested (`+`: not
            // by `seq`): the read keeps its own order and index and tests each
            // record against the matches, gathered once (an FTS5 lookup per
            // record, `rowid = e.seq`, took 0.3 ms each: docs/performance.md).
            Dialect::Sqlite => {
                let matches = "SELECT rowid FROM events_search WHERE events_search MATCH ";
                match index_use {
                    IndexUse::Drive => q.push(format_args!("e.seq IN ({matches}")).bind(query.fts5()).push(")"),
                    IndexUse::Bounded { low, high, .. } => {
                        q.push(format_args!("(+e.seq IN ({matches}")).bind(query.fts5());
                        q.push(" AND rowid BETWEEN ").bind(low).push(" AND ").bind(high);
                        q.push(") OR (e.seq NOT BETWEEN ").bind(low).push(" AND ").bind(high);
                        q.push(format_args!(" AND EXISTS ({matches}")).bind(query.fts5());
                        q.push(" AND rowid = e.seq)))")
                    }
                    IndexUse::Check | IndexUse::Stretch(_) => {
                        q.push(format_args!("+e.seq IN ({matches}")).bind(query.fts5()).push(")")
                    }
                }
            }
            // How it is read is the page's order (`records::list_events`).
            Dialect::Postgres => q.push(postgres_match(&query)),
        };
    }

    /// A payload field's exact test, checked on the records the index found
    /// by the field's value (or, for a comparison, its mark).
    fn payload_field(&mut self, condition: &'a FieldCondition) {
        let q = self.and();
        let dialect = q.dialect();
        let field = |q: &mut Sql<'s, 'a>| match dialect {
            Dialect::Sqlite => {
                let path: String = condition.path.iter().map(|key| format!(".\"{key}\"")).collect();
                q.push("e.payload, ").bind(format!("${path}"));
            }
            Dialect::Postgres => {
                q.push("e.payload #> ARRAY[").join(&condition.path, ", ", |q, key| _ = q.bind(key.as_str()));
                q.push("]::text[]");
            }
        };
        // A number's value: NULL for anything else.
        let number = |q: &mut Sql<'s, 'a>| match dialect {
            Dialect::Sqlite => {
                q.push("(CASE WHEN json_type(");
                field(q);
                q.push(") IN ('integer', 'real') THEN json_extract(");
                field(q);
                q.push(") END)");
            }
            Dialect::Postgres => {
                q.push("(CASE WHEN jsonb_typeof(");
                field(q);
                q.push(") = 'number' THEN (");
                field(q);
                q.push(")::text::numeric END)");
            }
        };
        // Exactly as written on PostgreSQL; on SQLite an integer stays one
        // (ids beyond 2^53 too, `…67.0` among them), as the index writes it.
        let bind_number = |q: &mut Sql<'s, 'a>, n: FieldNumber| match dialect {
            Dialect::Sqlite => match n.integer() {
                Some(integer) => _ = q.bind(integer),
                None => _ = q.bind(n.float()),
            },
            Dialect::Postgres => _ = q.push("CAST(").bind(n.exact().to_owned()).push(" AS numeric)"),
        };
        match &condition.test {
            FieldTest::Compare(op, n) => {
                number(q);
                q.push(format_args!(" {} ", op.as_str()));
                // The parser let only numbers through; anything else finds nothing.
                match FieldNumber::parse(n) {
                    Some(n) => bind_number(q, n),
                    None => _ = q.push("NULL"),
                }
            }
            FieldTest::Equals(value) => {
                q.push("(");
                match dialect {
                    Dialect::Sqlite => {
                        q.push("(json_type(");
                        field(q);
                        q.push(") = 'text' AND json_extract(");
                        field(q);
                        q.push(") = ").bind(value.as_str()).push(")");
                    }
                    Dialect::Postgres => {
                        field(q);
                        q.push(" = to_jsonb(CAST(").bind(value.as_str()).push(" AS text))");
                    }
                }
                if let Some(n) = FieldNumber::parse(value) {
                    q.push(" OR ");
                    number(q);
                    q.push(" = ");
                    bind_number(q, n);
                }
                if let Some(b) = search::field_boolean(value) {
                    q.push(" OR ");
                    match dialect {
                        Dialect::Sqlite => {
                            q.push("json_type(");
                            field(q);
                            q.push(format_args!(") = '{b}'"));
                        }
                        Dialect::Postgres => {
                            field(q);
                            q.push(format_args!(" = '{b}'::jsonb"));
                        }
                    }
                }
                q.push(")");
            }
        }
    }

    /// Records after the page's cursor, in the page's order.
    pub fn after_cursor(&mut self, page: &Page) -> &mut Self {
        if let Some(c) = page.cursor {
            let op = match page.order {
                Order::NewestFirst => "<",
                Order::OldestFirst => ">",
            };
            self.compare_position(op, c);
        }
        self
    }

    /// Records up to a stretch's last record, `end`, in the page's order.
    pub fn through(&mut self, page: &Page, end: Option<Cursor>) -> &mut Self {
        if let Some(end) = end {
            let op = match page.order {
                Order::NewestFirst => ">=",
                Order::OldestFirst => "<=",
            };
            self.compare_position(op, end);
        }
        self
    }

    fn compare_position(&mut self, op: &str, c: Cursor) {
        let q = self.and().push(format_args!("(e.occurred_at, e.id) {op} ("));
        q.bind(c.occurred_at).push(", ").bind(c.id).push(")");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::statement::{sql_of, Dialect};
    use app::model::{Kind, Visibility};
    use app::store::Grant;

    #[test]
    fn prefix_bound_covers_exactly_the_prefix() {
        let upper = prefix_upper_bound("track_");
        assert_eq!(upper, "track`");
        assert!("track_publish" < upper.as_str() && "track_publish" >= "track_");
        assert!("trackz" >= upper.as_str());
    }

    #[test]
    fn member_scope_limits_workspace_visibility_and_brand() {
        let scope = Scope::Grants(vec![
            Grant { workspace_id: 7, brand: Some("nike".into()), visibilities: vec![Visibility::Client] },
            Grant { workspace_id: 8, brand: None, visibilities: vec![Visibility::Internal, Visibility::Client] },
        ]);
        let sql = sql_of(Dialect::Postgres, |q| {
            Conditions::new(q, "e").scope(&scope);
        });
        assert_eq!(
            sql,
            " WHERE ((e.workspace_id = $1 AND e.visibility IN ($2) AND e.brand = $3) OR \
             (e.workspace_id = $4 AND e.visibility IN ($5, $6)))"
        );
    }

    #[test]
    fn a_viewer_without_grants_matches_nothing_and_the_platform_everything() {
        let none = Scope::Grants(vec![]);
        assert_eq!(sql_of(Dialect::Sqlite, |q| _ = Conditions::new(q, "e").scope(&none)), " WHERE 1 = 0");
        assert_eq!(sql_of(Dialect::Sqlite, |q| _ = Conditions::new(q, "e").scope(&Scope::Platform)), "");
    }

    #[test]
    fn filters_become_conditions_with_placeholders() {
        let filter = EventFilter {
            kind: Some(Kind::Audit),
            key: Some("track_*".into()),
            errors_only: true,
            q: Some("50%".into()),
            ..Default::default()
        };
        let sql = sql_of(Dialect::Sqlite, |q| _ = Conditions::new(q, "e").filter(&filter));
        assert_eq!(
            sql,
            " WHERE e.kind = ? AND e.key >= ? AND e.key < ? AND e.severity >= 1 AND \
             +e.seq IN (SELECT rowid FROM events_search WHERE events_search MATCH ?)"
        );
        let sql = sql_of(Dialect::Sqlite, |q| _ = Conditions::new(q, "e").index_use(IndexUse::Drive).filter(&filter));
        assert!(sql.ends_with(" AND e.seq IN (SELECT rowid FROM events_search WHERE events_search MATCH ?)"), "{sql}");
        let sql = sql_of(Dialect::Postgres, |q| _ = Conditions::new(q, "e").index_use(IndexUse::Drive).filter(&filter));
        assert!(sql.ends_with(" AND e.search @@ '50'::tsquery"), "{sql}");
        let sql = sql_of(Dialect::Postgres, |q| _ = Conditions::new(q, "e").filter(&filter));
        assert!(sql.ends_with(" AND e.search @@ '50'::tsquery"), "{sql}");
    }

    #[test]
    fn payload_fields_are_checked_exactly_on_what_the_index_found() {
        let mut filter = EventFilter::default();
        app::search::apply("payload.data.email:bob@example.com payload.n:>=10", &mut filter, app::model::Micros(0))
            .unwrap();
        let sql = sql_of(Dialect::Sqlite, |q| _ = Conditions::new(q, "e").filter(&filter));
        assert!(
            sql.starts_with(
                " WHERE +e.seq IN (SELECT rowid FROM events_search WHERE events_search MATCH ?) \
             AND ((json_type(e.payload, ?) = 'text' AND json_extract(e.payload, ?) = ?)) AND \
             (CASE WHEN json_type(e.payload, ?) IN ('integer', 'real') THEN json_extract(e.payload, ?) END) >= ?"
            ),
            "{sql}"
        );
        let sql = sql_of(Dialect::Postgres, |q| _ = Conditions::new(q, "e").filter(&filter));
        assert!(sql.contains("(e.payload #> ARRAY[$1, $2]::text[] = to_jsonb(CAST($3 AS text)))"), "{sql}");
        assert!(
            sql.ends_with("THEN (e.payload #> ARRAY[$5]::text[])::text::numeric END) >= CAST($6 AS numeric)"),
            "{sql}"
        );
    }

    #[test]
    fn the_cursor_continues_in_the_page_order() {
        let cursor = app::model::Cursor { occurred_at: 5, id: uuid::Uuid::nil() };
        let page = Page::probing(Some(cursor), 10, Order::OldestFirst);
        let sql = sql_of(Dialect::Postgres, |q| _ = Conditions::new(q, "e").after_cursor(&page));
        assert_eq!(sql, " WHERE (e.occurred_at, e.id) > ($1, $2)");
    }
}
