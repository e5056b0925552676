//! `/api/v1`: programs read everything people can, within the same scopes.

mod export;
mod integrity;
pub mod openapi;
pub mod query;
pub mod record;
pub mod sse;
mod stream;
pub mod stream_ids;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use app::model::{EventDetail, EventFilter, Micros, Order, Stats, StatsWindow};
use app::store::{finish_page, Page, Scope};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::reader::Reader;
use crate::error::{Error, Path, Query, Result};
use crate::state::AppState;
use query::ReadQuery;
use record::ApiRecord;

/// The HTTP API and its OpenAPI document (`openapi.rs`), generated from these routes.
pub fn router() -> Router<AppState> {
    let api = ApiRouter::new()
        .api_route(
            "/api/v1/events",
            get_with(list_events, |op| op.summary("Records, newest first, filtered"))
                .post_with(crate::ingest::ingest, openapi::ingest_docs),
        )
        .api_route("/api/v1/events/stream", get_with(stream::stream, stream::stream_docs))
        .api_route("/api/v1/events/{id}", get_with(one_event, |op| openapi::not_found(op.summary("One record"))))
        .api_route(
            "/api/v1/events/failed/recent",
            get_with(failed_recent, |op| op.summary("Errors and failed operations of the last minutes")),
        )
        .api_route("/api/v1/events/export", get_with(export::export, export::export_docs))
        .api_route("/api/v1/events/{id}/proof", get_with(integrity::event_proof, integrity::proof_docs))
        .api_route("/api/v1/digests", get_with(integrity::digests, integrity::digests_docs))
        .api_route(
            "/api/v1/entities/{entity_type}/{entity_id}/timeline",
            get_with(timeline, |op| openapi::not_found(op.summary("An entity's history"))),
        )
        .api_route(
            "/api/v1/stats",
            get_with(stats, |op| op.summary("Totals, histogram, keys, actors and operations of a window")),
        )
        .api_route("/api/v1/events/counts", get_with(counts_by_key, |op| op.summary("Records per key in a window")))
        .api_route("/api/system/health", get_with(health, health_docs))
        .api_route("/metrics", get_with(metrics, metrics_docs));
    openapi::finish(api)
        // Programs get a JSON 404 for a path the API does not have, not the dashboard's page.
        .route("/api/{*rest}", axum::routing::any(|| async { Error::NotFound }))
}

/// Platform-wide counts, like the health endpoint's: for readers of every
/// workspace only (a founder or admin session, or a spanning read key, which
/// Prometheus sends as `authorization: Bearer`).
async fn metrics(State(state): State<AppState>, Reader { scope, .. }: Reader) -> Result<Response> {
    if scope != Scope::Platform {
        return Err(Error::Forbidden("metrics are for readers of every workspace".into()));
    }
    crate::metrics::pools(&state.store.pool_use());
    let body = crate::metrics::handle().render();
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}

fn metrics_docs(op: TransformOperation) -> TransformOperation {
    let op = op.summary("Prometheus text format (readers of every workspace)");
    openapi::text_response(op, "metrics", &["text/plain"])
}

/// `healthy` and `degraded` answer 200, `unhealthy` 503. Anyone may ask (load
/// balancers do); counts and details only for readers who see every workspace.
async fn health(
    State(state): State<AppState>,
    reader: Result<Reader, Error>,
) -> (axum::http::StatusCode, Json<app::health::Health>) {
    let mut health = app::health::check(state.store.as_ref()).await;
    if !matches!(reader, Ok(Reader { scope: Scope::Platform, .. })) {
        health = health.public();
    }
    let status = match health.status {
        app::health::HealthStatus::Unhealthy => axum::http::StatusCode::SERVICE_UNAVAILABLE,
        _ => axum::http::StatusCode::OK,
    };
    (status, Json(health))
}

fn health_docs(op: TransformOperation) -> TransformOperation {
    op.summary("healthy, degraded (200) or unhealthy (503)")
        .response_with::<200, Json<app::health::Health>, _>(|r| r.description("healthy or degraded"))
        .response_with::<503, Json<app::health::Health>, _>(|r| r.description("unhealthy"))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
struct StatsQuery {
    /// `1h`, `24h` (the default), `7d` or `30d`.
    #[schemars(with = "Option<StatsWindow>")]
    window: Option<String>,
    /// Workspace slug.
    workspace: Option<String>,
}

impl StatsQuery {
    fn window(&self) -> Result<StatsWindow> {
        match query::given(&self.window) {
            None => Ok(StatsWindow::Day),
            Some(w) => StatsWindow::parse(w).map_err(Error::BadRequest),
        }
    }

    fn workspace(&self) -> Result<Option<String>> {
        query::text("workspace", &self.workspace)
    }
}

/// Totals, histogram, keys, actors and provider operations of a window, from the roll-ups.
async fn stats(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>> {
    let window = query.window()?;
    Ok(Json(state.store.stats(&scope, query.workspace()?.as_deref(), window, Micros::now()).await?))
}

/// Records per key in a window, most first.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct KeyCounts {
    window: StatsWindow,
    by_key: Vec<app::model::NamedCount>,
}

/// How many records of each key the window holds, most first.
async fn counts_by_key(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Query(query): Query<StatsQuery>,
) -> Result<Json<KeyCounts>> {
    let window = query.window()?;
    let stats = state.store.stats(&scope, query.workspace()?.as_deref(), window, Micros::now()).await?;
    Ok(Json(KeyCounts { window, by_key: stats.by_key }))
}

/// A page of records and where the next one starts.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RecordPage {
    pub events: Vec<ApiRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// One page of `filter` in `scope`, asking for one extra row to learn whether more exist.
pub async fn page_of(
    state: &AppState,
    scope: &Scope,
    filter: &EventFilter,
    query: &ReadQuery,
    order: Order,
) -> Result<RecordPage> {
    let limit = query.limit()?;
    let page = Page::probing(query.cursor()?, limit, order);
    let mut rows: Vec<EventDetail> = state.store.list_event_details(scope, filter, page).await?;
    let next_cursor = finish_page(&mut rows, limit, |r| r.row.cursor());
    Ok(RecordPage { events: rows.into_iter().map(ApiRecord::from).collect(), next_cursor })
}

async fn list_events(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Query(query): Query<ReadQuery>,
) -> Result<Json<RecordPage>> {
    let filter = query.filter(Micros::now())?;
    Ok(Json(page_of(&state, &scope, &filter, &query, Order::NewestFirst).await?))
}

#[derive(Deserialize, JsonSchema)]
struct EventPath {
    /// The record's id.
    #[schemars(length(min = 1))]
    id: String,
}

async fn one_event(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Path(EventPath { id }): Path<EventPath>,
) -> Result<Json<ApiRecord>> {
    let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
    let record = state.store.event_by_id(&scope, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(record.into()))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
struct TimelineQuery {
    /// `asc` (oldest first) or `desc` (newest first, the default).
    #[schemars(schema_with = "query::sort_order")]
    order: Option<String>,
    #[serde(flatten)]
    page: ReadQuery,
}

#[derive(Deserialize, JsonSchema)]
struct EntityPath {
    #[schemars(length(min = 1))]
    entity_type: String,
    #[schemars(length(min = 1))]
    entity_id: String,
}

async fn timeline(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Path(EntityPath { entity_type, entity_id }): Path<EntityPath>,
    Query(query): Query<TimelineQuery>,
) -> Result<Json<RecordPage>> {
    let order = match query::given(&query.order) {
        None | Some("desc") => Order::NewestFirst,
        Some("asc") => Order::OldestFirst,
        Some(other) => return Err(Error::BadRequest(format!("order: expected asc or desc, got {other:?}"))),
    };
    if entity_type.contains('\0') || entity_id.contains('\0') {
        return Err(Error::NotFound); // no stored text holds it
    }
    let entity = EventFilter::of_entity(entity_type, entity_id);
    // The read API's filters narrow the timeline; the path names the entity.
    let mut filter = query.page.filter(Micros::now())?;
    for (name, asked, named) in [
        ("entity_type", &mut filter.entity_type, &entity.entity_type),
        ("entity_id", &mut filter.entity_id, &entity.entity_id),
    ] {
        if asked.as_ref().is_some_and(|asked| Some(asked) != named.as_ref()) {
            return Err(Error::BadRequest(format!("{name}: the path names another entity")));
        }
        asked.clone_from(named);
    }
    let page = page_of(&state, &scope, &filter, &query.page, order).await?;
    // An entity without a record the reader may see is not found, past a
    // cursor too; one whose records the filters or the cursor leave out
    // has an empty page.
    if page.events.is_empty() {
        let narrowed = filter != entity || query.page.cursor()?.is_some();
        let seen = narrowed && !state.store.list_events(&scope, &entity, Page::newest(1)).await?.is_empty();
        if !seen {
            return Err(Error::NotFound);
        }
    }
    Ok(Json(page))
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
struct RecentQuery {
    /// How far back, 1 to 10080 (default 60).
    // Text, read here: a bad or blank value is answered as every parameter is.
    #[schemars(with = "Option<u16>", range(min = 1, max = 10080))]
    minutes: Option<String>,
    #[serde(flatten)]
    page: ReadQuery,
}

/// `failed/recent` looks back at most a week.
const MAX_RECENT_MINUTES: i64 = 7 * 24 * 60;

/// Errors and failed operations of the last `minutes` (default 60), newest first.
async fn failed_recent(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Query(query): Query<RecentQuery>,
) -> Result<Json<RecordPage>> {
    let minutes = match query::given(&query.minutes) {
        None => 60,
        Some(text) => text.parse::<i64>().ok().filter(|m| (1..=MAX_RECENT_MINUTES).contains(m)).ok_or_else(|| {
            Error::BadRequest(format!("minutes: expected a number from 1 to {MAX_RECENT_MINUTES}, got {text:?}"))
        })?,
    };
    let now = Micros::now();
    // On top of the read API's filters, which narrow it further.
    let mut filter = query.page.filter(now)?;
    filter.failures_only = true;
    filter.since = filter.since.max(Some(Micros(now.0 - minutes * 60_000_000)));
    // An `until` before the minutes looked back leaves nothing.
    app::search::check_satisfiable(&filter).map_err(Error::BadRequest)?;
    Ok(Json(page_of(&state, &scope, &filter, &query.page, Order::NewestFirst).await?))
}
