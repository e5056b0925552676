//! The webhook outbox's side of ingest: every transaction that writes
//! records also queues a message for each endpoint whose records filter
//! matches one, so a record acknowledged is a message that will be sent
//! (a crash between the commit and the send loses nothing).

use app::model::Micros;
use app::store::Scope;

use super::records;
use super::sql_store::Tx;
use super::webhooks::{self, RouteRow};
use crate::saved_search::{self, Owner};

/// Endpoints per statement: SQLite allows 500 terms in a compound SELECT.
const ROUTES_PER_STATEMENT: usize = 100;

/// An endpoint that takes records, with its filter parsed once.
struct Route {
    endpoint_id: i64,
    scope: Scope,
    filter: app::model::EventFilter,
}

impl Route {
    /// `None` for a filter that no longer parses (`saved_search`).
    fn of(row: RouteRow) -> Option<Route> {
        let filter = saved_search::filter(Owner::WebhookEndpoint, row.id, row.records, Micros::now())?;
        let scope = Scope::whole_workspace(row.workspace_id);
        Some(Route { endpoint_id: row.id, scope, filter })
    }
}

/// Queues the messages of the records `tx` wrote, every endpoint's in one
/// statement. The endpoints are read in the same transaction: one created a
/// moment ago, through any server, takes every record committed after it.
pub async fn queue(tx: &mut Tx) -> sqlx::Result<()> {
    let routes: Vec<RouteRow> = tx.fetch_all(webhooks::record_routes).await?;
    let routes: Vec<Route> = routes.into_iter().filter_map(Route::of).collect();
    if routes.is_empty() {
        return Ok(());
    }
    let now = Micros::now();
    for routes in routes.chunks(ROUTES_PER_STATEMENT) {
        queue_for(tx, routes, now).await?;
    }
    Ok(())
}

/// One statement for `routes`' messages.
async fn queue_for(tx: &mut Tx, routes: &[Route], now: Micros) -> sqlx::Result<()> {
    tx.execute(|q| {
        q.push("INSERT INTO webhook_messages (id, endpoint_id, record_id, kind, next_attempt_at, created_at) ");
        q.push(format_args!("SELECT {}, m.endpoint_id, m.id, 'record', ", webhooks::new_message_id(q.dialect())));
        q.bind(now.0).push(", ").bind(now.0).push(" FROM (");
        q.join(routes, " UNION ALL ", |q, route| {
            q.push("SELECT ").bind(route.endpoint_id).push(" AS endpoint_id, r.id FROM (");
            records::written_here(q, &route.scope, &route.filter, route.endpoint_id);
            q.push(") r");
        });
        q.push(") m");
    })
    .await?;
    Ok(())
}
