//! The webhook outbox's side of ingest: every transaction that writes
//! records also queues a message for each endpoint whose records filter
//! matches one, so a record acknowledged is a message that will be sent
//! (a crash between the commit and the send loses nothing).

use app::model::{FeedParams, Micros};
use app::store::Scope;
use uuid::Uuid;

use super::records;
use super::sql_store::Tx;
use super::webhooks::{self, RouteRow};

/// Messages per statement.
const ROWS_PER_STATEMENT: usize = 1_000;

/// An endpoint that takes records, with its filter parsed once.
struct Route {
    endpoint_id: i64,
    scope: Scope,
    filter: app::model::EventFilter,
}

impl Route {
    /// `None` for a filter that no longer parses (it was checked when set).
    fn of(row: RouteRow) -> Option<Route> {
        let params = FeedParams { q: row.records, ..FeedParams::default() };
        let filter = params.to_filter(Micros::now()).ok()?;
        let scope = Scope::whole_workspace(row.workspace_id);
        Some(Route { endpoint_id: row.id, scope, filter })
    }
}

/// Queues the messages of the records `tx` wrote. The endpoints are read in
/// the same transaction: one created a moment ago, through any server, takes
/// every record committed after it.
pub async fn queue(tx: &mut Tx) -> sqlx::Result<()> {
    let routes: Vec<RouteRow> = tx.fetch_all(webhooks::record_routes).await?;
    let now = Micros::now();
    for route in routes.into_iter().filter_map(Route::of) {
        let ids: Vec<(Uuid,)> =
            tx.fetch_all(|q| records::written_here(q, &route.scope, &route.filter, route.endpoint_id)).await?;
        let ids: Vec<Uuid> = ids.into_iter().map(|(id,)| id).collect();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            tx.execute(|q| webhooks::queue_records(q, route.endpoint_id, chunk, now)).await?;
        }
    }
    Ok(())
}
