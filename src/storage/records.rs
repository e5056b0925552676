//! Reads of records: the feed, its details, one record, and what arrived
//! since the live feed last looked. Every one is limited by a scope.

use app::audit::PLATFORM_WORKSPACE_ID;
use app::model::{Cursor, EventDetail, EventFilter, Order, StreamPosition};
use app::store::{Page, Scope};
use uuid::Uuid;

use super::columns::select_list;
use super::conditions::{Conditions, IndexUse, STRAGGLERS_ONE_IN};
use super::statement::{Dialect, Sql};

/// The order and length of a page of records.
#[derive(Clone, Copy)]
struct Sorted {
    /// Columns of the record, unqualified.
    columns: &'static [&'static str],
    direction: &'static str,
    limit: usize,
    /// Records skipped before the `limit`. SQLite's reads skip them in each
    /// record table's arm, and the union takes the first `limit` of what is
    /// left (`select_records`).
    offset: usize,
    /// Sorted by an expression of the first column, which no index yields:
    /// PostgreSQL then reads what the other conditions find (the search
    /// index's matches) and sorts them, where it may otherwise walk the
    /// column's index.
    unindexed: bool,
}

impl Sorted {
    fn by_time(page: &Page) -> Self {
        let direction = match page.order {
            Order::NewestFirst => "DESC",
            Order::OldestFirst => "ASC",
        };
        Sorted { columns: &["occurred_at", "id"], direction, limit: page.limit, offset: 0, unindexed: false }
    }

    /// ` ORDER BY … LIMIT n`, the columns prefixed by `qualifier`.
    fn push(&self, q: &mut Sql<'_, '_>, qualifier: &str) {
        q.push(" ORDER BY ");
        q.join(self.columns.iter().enumerate(), ", ", |q, (n, c)| {
            let plus = if n == 0 && self.unindexed { " + 0" } else { "" };
            q.push(format_args!("{qualifier}{c}{plus} {}", self.direction));
        });
        q.push(format_args!(" LIMIT {}", self.limit));
        if self.offset > 0 {
            q.push(format_args!(" OFFSET {}", self.offset));
        }
    }
}

/// What a page of the feed reads: the scope, the filter, how the filter
/// uses the search index, the page.
#[derive(Clone, Copy)]
pub struct PageOf<'a> {
    pub scope: &'a Scope,
    pub filter: &'a EventFilter,
    pub index_use: IndexUse,
    pub page: Page,
}

/// The feed: one page by (occurred_at, id) after the cursor.
pub fn list_events<'a>(q: &mut Sql<'_, 'a>, of: PageOf<'a>) {
    paged(q, false, of);
}

/// Like `list_events`, with every column of the record.
pub fn list_event_details<'a>(q: &mut Sql<'_, 'a>, of: PageOf<'a>) {
    paged(q, true, of);
}

fn paged<'a>(q: &mut Sql<'_, 'a>, detail: bool, of: PageOf<'a>) {
    let mut sorted = Sorted::by_time(&of.page);
    match (q.dialect(), of.index_use) {
        (Dialect::Postgres, IndexUse::Stretch(records)) => return stretch(q, Fields::of(detail), sorted, of, records),
        // SQLite's driven read is `e.seq IN (matches)`; PostgreSQL's is the
        // order no index yields.
        (Dialect::Postgres, IndexUse::Drive) => sorted.unindexed = true,
        _ => {}
    }
    select_records(q, Fields::of(detail), Some(sorted), |c| {
        c.index_use(of.index_use).scope(of.scope).filter(of.filter).after_cursor(&of.page);
        if let IndexUse::Bounded { end, .. } = of.index_use {
            c.through(&of.page, end);
        }
    });
}

/// Where a stretch of the read's next `records` (scope, the filter's own
/// columns, cursor; read without the search) ends: the (occurred_at, id) of
/// its last record, where the page goes on; none when the read ends within
/// it. SQLite's stretch is `records` of each record table, up to the
/// shallower of the two tables' ends: each table's end is a walk of its own
/// index, where merging the two tables' records in the read's order cost
/// most of a stretch's read (docs/performance.md).
pub fn stretch_end<'a>(q: &mut Sql<'_, 'a>, of: PageOf<'a>, records: usize) {
    let sorted = Sorted { limit: 1, offset: records.saturating_sub(1), ..Sorted::by_time(&of.page) };
    select_records(q, Fields::Cursor, Some(sorted), |c| {
        c.scope(of.scope).unsearched(of.filter).after_cursor(&of.page);
    });
}

/// SQLite: the range of `seq` whose matches a stretch's page is tested
/// against (`IndexUse::Bounded`), the stretch read up to its `end`
/// (`stretch_end`); no row's values when the stretch is empty. The range
/// is the stretch's, but for its lowest `seq`s (a `STRAGGLERS_ONE_IN`th at
/// most) when they lie further below the rest than the stretch is long.
pub fn stretch_bounds<'a>(q: &mut Sql<'_, 'a>, of: PageOf<'a>, end: Option<Cursor>) {
    // Materialized: `cut`'s order by `seq` would otherwise walk each table
    // by `seq`, past every record the stretch's conditions leave out.
    q.push("WITH s AS MATERIALIZED (");
    select_records(q, Fields::Seq, None, |c| {
        c.scope(of.scope).unsearched(of.filter).after_cursor(&of.page).through(&of.page, end);
    });
    q.push(format_args!(
        "), b AS (SELECT MIN(seq) AS least, MAX(seq) AS most, COUNT(*) AS n FROM s), \
         cut AS (SELECT seq FROM s ORDER BY seq LIMIT 1 OFFSET (SELECT n FROM b) / {STRAGGLERS_ONE_IN}) \
         SELECT CASE WHEN cut.seq - b.least > b.n THEN cut.seq ELSE b.least END, b.most FROM b LEFT JOIN cut ON 1"
    ));
}

/// PostgreSQL: the page among the read's next `records` (a stretch, read
/// without the search), tested against the search. When it is full it is
/// the page: no match comes before the stretch's end.
fn stretch<'a>(q: &mut Sql<'_, 'a>, fields: Fields, sorted: Sorted, of: PageOf<'a>, records: usize) {
    q.push(format_args!("SELECT {} FROM (", fields.list(q.dialect())));
    unsearched_read(q, of, records);
    q.push(format_args!(") {WITH_WORKSPACE}"));
    Conditions::new(q, "e").searched(of.filter);
    sorted.push(q, "e.");
}

/// PostgreSQL: a stretch's records read without the search (scope, the
/// filter's own columns, cursor), in the page's order, `limit` of them.
fn unsearched_read<'a>(q: &mut Sql<'_, 'a>, of: PageOf<'a>, limit: usize) {
    q.push("SELECT e.* FROM events e");
    Conditions::new(q, "e").scope(of.scope).unsearched(of.filter).after_cursor(&of.page);
    Sorted { limit, ..Sorted::by_time(&of.page) }.push(q, "e.");
}

/// PostgreSQL: the planner's plan, as JSON, of the records a page of `of`
/// may read (scope, filter, cursor): its `Plan Rows` estimates the matches.
/// Counting them took 55 ms for a common word at 1 M (the index hands over
/// every match first).
pub fn estimate_matches<'a>(q: &mut Sql<'_, 'a>, of: PageOf<'a>) {
    q.push("EXPLAIN (FORMAT JSON) SELECT 1 FROM events e");
    Conditions::new(q, "e").scope(of.scope).filter(of.filter).after_cursor(&of.page);
}

/// One record by id, within the scope.
pub fn event_by_id<'a>(q: &mut Sql<'_, 'a>, scope: &'a Scope, id: Uuid) {
    select_records(q, Fields::Detail, None, |c| {
        c.and().push("e.id = ").bind(id);
        c.scope(scope);
    });
}

/// Records by id, within the scope, in no particular order.
pub fn events_by_ids<'a>(q: &mut Sql<'_, 'a>, scope: &'a Scope, ids: &'a [Uuid]) {
    select_records(q, Fields::Detail, None, |c| {
        let q = c.and().push("e.id IN (");
        q.join(ids, ", ", |q, id| _ = q.bind(*id));
        q.push(")");
        c.scope(scope);
    });
}

/// Records whose UUIDv7 id is after `after`: received since then, newest first.
pub fn events_received_after<'a>(
    q: &mut Sql<'_, 'a>,
    scope: &'a Scope,
    filter: &'a EventFilter,
    after: Uuid,
    limit: usize,
) {
    let sorted = Sorted { columns: &["id"], direction: "DESC", limit, offset: 0, unindexed: false };
    select_records(q, Fields::Row, Some(sorted), |c| {
        c.and().push("e.id > ").bind(after);
        c.scope(scope).filter(filter);
    });
}

/// A record with its place in commit order: what the live stream sends.
#[derive(sqlx::FromRow)]
pub struct Positioned {
    #[sqlx(flatten)]
    pub detail: EventDetail,
    pub commit_tx: i64,
}

impl Positioned {
    pub fn position(&self) -> StreamPosition {
        StreamPosition { commit_tx: self.commit_tx, id: self.detail.row.id }
    }
}

/// Records after `after` in commit order, every column and the position,
/// of transactions numbered below `horizon`.
pub fn stream_after<'a>(
    q: &mut Sql<'_, 'a>,
    scope: &'a Scope,
    filter: &'a EventFilter,
    after: StreamPosition,
    horizon: i64,
    limit: usize,
) {
    let sorted = Sorted { columns: &["commit_tx", "id"], direction: "ASC", limit, offset: 0, unindexed: false };
    select_records(q, Fields::Positioned, Some(sorted), |c| {
        c.and().push("(e.commit_tx, e.id) > (").bind(after.commit_tx).push(", ").bind(after.id).push(")");
        c.and().push("e.commit_tx < ").bind(horizon);
        c.scope(scope).filter(filter);
    });
}

/// The ids of the records this transaction wrote that `scope` and `filter`
/// match: the webhook outbox's messages for endpoint `endpoint_id`, queued
/// in the records' transaction. Trail's records about that endpoint (its
/// failures) are left out, so a failing endpoint cannot feed itself.
pub fn written_here<'a>(q: &mut Sql<'_, 'a>, scope: &'a Scope, filter: &'a EventFilter, endpoint_id: i64) {
    let this_transaction = match q.dialect() {
        Dialect::Postgres => "pg_current_xact_id()::text::bigint",
        // Numbered at the transaction's start (`next_commit_tx`).
        Dialect::Sqlite => "(SELECT n FROM commit_counter)",
    };
    select_records(q, Fields::Id, None, |c| {
        c.and().push(format_args!("e.commit_tx = {this_transaction}"));
        let q = c.and().push("NOT (e.workspace_id = ").bind(PLATFORM_WORKSPACE_ID);
        q.push(" AND COALESCE(e.entity_type, '') = 'webhook' AND COALESCE(e.entity_id, '') = ");
        q.bind(endpoint_id.to_string()).push(")");
        c.scope(scope).filter(filter);
    });
}

/// SQLite: the number of the last write transaction that stored records.
pub fn last_commit_tx(q: &mut Sql<'_, '_>) {
    q.push("SELECT n FROM commit_counter");
}

/// SQLite: numbers the write transaction it runs in (migration `commit_order`).
pub fn next_commit_tx(q: &mut Sql<'_, '_>) {
    q.push("UPDATE commit_counter SET n = n + 1 RETURNING n");
}

/// PostgreSQL: the stream's horizon, below which every transaction that
/// could write records has ended, and whether records of later ones are
/// already committed (the stream cannot send those yet). It is the oldest
/// transaction still running in this database, else the snapshot's `xmax`
/// (one past the last that ended): transactions of other databases on the
/// same server write no records, and a long one there must not hold the
/// stream up. The statement's snapshot is taken before `pg_stat_activity` is
/// read, so a transaction that starts meanwhile is numbered at least `xmax`.
/// `backend_xid` is a 32-bit id, widened to 64 bits by its signed distance
/// from `xmax` (a running one may be above `xmax`, or in the epoch before).
/// Whether records wait is `MAX(commit_tx)` (one probe of each partition's
/// index): `EXISTS (… commit_tx >= horizon)` was planned as a scan of every
/// partition, 53 ms at 62k records, and delayed every delivery by as much.
pub fn stream_horizon(q: &mut Sql<'_, '_>) {
    q.push(
        "WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next), \
         h AS (SELECT LEAST(s.next, (SELECT MIN(s.next + ((((a.backend_xid::text::bigint - (s.next & 4294967295)) \
                 + 2147483648) & 4294967295) - 2147483648)) \
               FROM pg_stat_activity a WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL)) AS horizon \
               FROM s) \
         SELECT h.horizon, COALESCE((SELECT MAX(e.commit_tx) FROM events e) >= h.horizon, false) FROM h",
    );
}

/// Which columns a read selects.
#[derive(Clone, Copy)]
enum Fields {
    /// A feed row.
    Row,
    /// The whole record.
    Detail,
    /// The whole record and its place in commit order.
    Positioned,
    /// The id alone.
    Id,
    /// SQLite's `seq` alone.
    Seq,
    /// Where the record is in time: a page's cursor.
    Cursor,
}

impl Fields {
    fn of(detail: bool) -> Self {
        if detail {
            Fields::Detail
        } else {
            Fields::Row
        }
    }

    /// Whether the read joins the record's workspace (`w`): every read but
    /// a stretch's positions, the record's own columns.
    fn joins_workspace(self) -> bool {
        !matches!(self, Fields::Seq | Fields::Cursor)
    }

    fn list(self, dialect: Dialect) -> String {
        match self {
            Fields::Row => select_list(dialect, false),
            Fields::Detail => select_list(dialect, true),
            Fields::Positioned => format!("{}, e.commit_tx", select_list(dialect, true)),
            Fields::Id => "e.id".to_owned(),
            Fields::Seq => "e.seq".to_owned(),
            Fields::Cursor => "e.occurred_at, e.id".to_owned(),
        }
    }
}

/// Records `e` with their workspace `w` (its slug is a column of a row).
const WITH_WORKSPACE: &str = "e JOIN workspaces w ON w.id = e.workspace_id";

/// `SELECT` the `fields` of records over every table that
/// holds records, with the workspace joined as `w`. PostgreSQL has one table.
/// SQLite's writer stages commits in `events_recent` (migration
/// `recent_events`), so its reads are a UNION ALL of one arm per table, each
/// sorted and limited on its own indexes and the whole sorted and limited
/// again; `conditions` writes each arm's WHERE clause.
fn select_records<'a>(
    q: &mut Sql<'_, 'a>,
    fields: Fields,
    sorted: Option<Sorted>,
    conditions: impl Fn(&mut Conditions<'_, '_, 'a>),
) {
    let columns = fields.list(q.dialect());
    let from = if fields.joins_workspace() { WITH_WORKSPACE } else { "e" };
    let tables = q.dialect().record_tables();
    let union = tables.len() > 1;
    q.join(tables, " UNION ALL ", |q, table| {
        if union {
            q.push("SELECT * FROM (");
        }
        q.push(format_args!("SELECT {columns} FROM {table} {from}"));
        conditions(&mut Conditions::new(q, "e"));
        if let Some(sorted) = &sorted {
            sorted.push(q, "e.");
        }
        if union {
            q.push(")");
        }
    });
    if let (true, Some(sorted)) = (union, sorted) {
        Sorted { offset: 0, ..sorted }.push(q, "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::statement::{sql_of, Dialect};
    use app::model::Kind;

    #[test]
    fn sqlite_reads_both_record_tables_and_postgres_one() {
        let filter = EventFilter { kind: Some(Kind::Audit), ..Default::default() };
        let of =
            || PageOf { scope: &Scope::Platform, filter: &filter, index_use: IndexUse::Check, page: Page::newest(5) };
        let sql = sql_of(Dialect::Sqlite, |q| list_events(q, of()));
        let arm = "FROM events_recent e JOIN workspaces w ON w.id = e.workspace_id WHERE e.kind = ? \
                   ORDER BY e.occurred_at DESC, e.id DESC LIMIT 5)";
        assert!(sql.starts_with("SELECT * FROM (SELECT e.id"), "{sql}");
        assert!(sql.contains(arm), "{sql}");
        assert!(sql.ends_with(") ORDER BY occurred_at DESC, id DESC LIMIT 5"), "{sql}");
        assert_eq!(sql.matches('?').count(), 2, "the arm's values repeat per arm");

        let sql = sql_of(Dialect::Postgres, |q| list_events(q, of()));
        assert!(!sql.contains("events_recent") && !sql.contains("UNION"), "{sql}");
        assert!(sql.ends_with("WHERE e.kind = $1 ORDER BY e.occurred_at DESC, e.id DESC LIMIT 5"), "{sql}");
    }

    #[test]
    fn one_record_is_looked_up_by_id_within_the_scope() {
        let scope = Scope::Grants(vec![]);
        let sql = sql_of(Dialect::Postgres, |q| event_by_id(q, &scope, Uuid::nil()));
        assert!(sql.ends_with("WHERE e.id = $1 AND 1 = 0"), "{sql}");
        assert!(sql.contains("e.payload::text AS payload"), "{sql}");
    }

    #[test]
    fn the_live_feed_reads_by_id_newest_first() {
        let filter = EventFilter::default();
        let sql = sql_of(Dialect::Postgres, |q| events_received_after(q, &Scope::Platform, &filter, Uuid::nil(), 50));
        assert!(sql.ends_with("WHERE e.id > $1 ORDER BY e.id DESC LIMIT 50"), "{sql}");
    }

    #[test]
    fn postgres_tests_a_stretch_or_lets_the_index_drive() {
        let filter = EventFilter { kind: Some(Kind::Audit), q: Some("tide".into()), ..Default::default() };
        let scope = Scope::whole_workspace(Some(7));
        let cursor = Some(app::model::Cursor { occurred_at: 5, id: Uuid::nil() });
        let page = Page { cursor, ..Page::newest(51) };
        let of = |index_use| PageOf { scope: &scope, filter: &filter, index_use, page };
        // Scope, the filter's own columns and the cursor inside the stretch;
        // the search outside it.
        let read = "FROM events e WHERE ((e.workspace_id = $1 AND e.visibility IN ($2, $3, $4))) AND e.kind = $5 \
                    AND (e.occurred_at, e.id) < ($6, $7) ORDER BY e.occurred_at DESC, e.id DESC";
        let sql = sql_of(Dialect::Postgres, |q| list_events(q, of(IndexUse::Stretch(20_400))));
        let stretch = format!(
            "FROM (SELECT e.* {read} LIMIT 20400) e JOIN workspaces w ON w.id = e.workspace_id \
             WHERE e.search @@ 'tide'::tsquery ORDER BY e.occurred_at DESC, e.id DESC LIMIT 51"
        );
        assert!(sql.ends_with(&stretch), "{sql}");
        let sql = sql_of(Dialect::Postgres, |q| stretch_end(q, of(IndexUse::Check), 20_400));
        assert_eq!(sql, format!("SELECT e.occurred_at, e.id {read} LIMIT 1 OFFSET 20399"));

        let sql = sql_of(Dialect::Postgres, |q| list_events(q, of(IndexUse::Drive)));
        let driven = "AND e.search @@ 'tide'::tsquery AND (e.occurred_at, e.id) < ($6, $7) \
                      ORDER BY e.occurred_at + 0 DESC, e.id DESC LIMIT 51";
        assert!(sql.ends_with(driven), "{sql}");
        let sql = sql_of(Dialect::Sqlite, |q| list_events(q, of(IndexUse::Drive)));
        assert!(!sql.contains("+ 0"), "SQLite's driven read is its own: {sql}");

        let sql = sql_of(Dialect::Postgres, |q| estimate_matches(q, of(IndexUse::Check)));
        assert!(sql.starts_with("EXPLAIN (FORMAT JSON) SELECT 1 FROM events e WHERE ((e.workspace_id = $1"), "{sql}");
        assert!(sql.ends_with("AND e.search @@ 'tide'::tsquery AND (e.occurred_at, e.id) < ($6, $7)"), "{sql}");
    }

    #[test]
    fn sqlite_bounds_a_stretch_then_tests_it_against_a_range_of_matches() {
        let filter = EventFilter { kind: Some(Kind::Audit), q: Some("tide".into()), ..Default::default() };
        let scope = Scope::whole_workspace(Some(7));
        let of = |index_use| PageOf { scope: &scope, filter: &filter, index_use, page: Page::newest(51) };
        // Each table's own end, the shallower of the two taken.
        let sql = sql_of(Dialect::Sqlite, |q| stretch_end(q, of(IndexUse::Check), 20_400));
        assert!(sql.starts_with("SELECT * FROM (SELECT e.occurred_at, e.id FROM events e WHERE"), "{sql}");
        let arm_end = "AND e.kind = ? ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1 OFFSET 20399)";
        assert_eq!(sql.matches(arm_end).count(), 2, "{sql}");
        assert!(sql.ends_with(") ORDER BY occurred_at DESC, id DESC LIMIT 1"), "{sql}");
        assert!(!sql.contains("MATCH") && !sql.contains("JOIN workspaces"), "the stretch alone: {sql}");

        let end = Some(app::model::Cursor { occurred_at: 5, id: Uuid::nil() });
        let sql = sql_of(Dialect::Sqlite, |q| stretch_bounds(q, of(IndexUse::Check), end));
        assert!(sql.starts_with("WITH s AS MATERIALIZED (SELECT * FROM (SELECT e.seq FROM events e WHERE"), "{sql}");
        assert_eq!(sql.matches("AND e.kind = ? AND (e.occurred_at, e.id) >= (?, ?))").count(), 2, "{sql}");
        assert!(!sql.contains("MATCH") && !sql.contains("JOIN workspaces"), "the stretch alone: {sql}");
        assert!(
            sql.ends_with(
                "), b AS (SELECT MIN(seq) AS least, MAX(seq) AS most, COUNT(*) AS n FROM s), \
                 cut AS (SELECT seq FROM s ORDER BY seq LIMIT 1 OFFSET (SELECT n FROM b) / 100) \
                 SELECT CASE WHEN cut.seq - b.least > b.n THEN cut.seq ELSE b.least END, b.most \
                 FROM b LEFT JOIN cut ON 1"
            ),
            "{sql}"
        );
        let sql = sql_of(Dialect::Sqlite, |q| stretch_bounds(q, of(IndexUse::Check), None));
        assert!(!sql.contains(">= (?, ?)"), "the read ends within the stretch: {sql}");

        let bounded = |end| IndexUse::Bounded { low: 900, high: 1_000, end };
        let sql = sql_of(Dialect::Sqlite, |q| list_events(q, of(bounded(end))));
        let arm = "AND e.kind = ? AND (+e.seq IN (SELECT rowid FROM events_search WHERE events_search MATCH ? \
                   AND rowid BETWEEN ? AND ?) OR (e.seq NOT BETWEEN ? AND ? AND EXISTS (SELECT rowid \
                   FROM events_search WHERE events_search MATCH ? AND rowid = e.seq))) \
                   AND (e.occurred_at, e.id) >= (?, ?) ORDER BY e.occurred_at DESC, e.id DESC LIMIT 51)";
        assert!(sql.contains(arm), "{sql}");
        let sql = sql_of(Dialect::Sqlite, |q| list_events(q, of(bounded(None))));
        assert!(!sql.contains(">= (?, ?)"), "the read ends within the stretch: {sql}");
        let oldest = PageOf { page: Page { order: Order::OldestFirst, ..Page::newest(51) }, ..of(bounded(end)) };
        let sql = sql_of(Dialect::Sqlite, |q| list_events(q, oldest));
        assert!(sql.contains("AND (e.occurred_at, e.id) <= (?, ?) ORDER BY e.occurred_at ASC"), "{sql}");
    }
}
