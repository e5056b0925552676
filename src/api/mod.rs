//! `/api/v1`: programs read everything people can, within the same scopes.

mod export;
pub mod openapi;
pub mod query;
pub mod record;

use app::model::{EventDetail, EventFilter, Micros, Order, Severity, Stats, StatsWindow};
use app::store::{finish_page, Page, Scope};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::reader::Reader;
use crate::error::{Error, Path, Query, Result};
use crate::state::AppState;
use query::ReadQuery;
use record::ApiRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/events", get(list_events).post(crate::ingest::ingest))
        .route("/api/v1/events/{id}", get(one_event))
        .route("/api/v1/events/failed/recent", get(failed_recent))
        .route("/api/v1/events/export", get(export::export))
        .route("/api/v1/entities/{entity_type}/{entity_id}/timeline", get(timeline))
        .route("/api/v1/stats", get(stats))
        .route("/api/system/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/v1/events/counts", get(counts_by_key))
        // Programs get a JSON 404 for a path the API does not have, not the dashboard's page.
        .route("/api/{*rest}", axum::routing::any(|| async { Error::NotFound }))
}

/// Platform-wide counts, like the health endpoint's: for readers of every
/// workspace only (a founder or admin session, or a spanning read key, which
/// Prometheus sends as `authorization: Bearer`).
async fn metrics(State(state): State<AppState>, Reader(scope): Reader) -> Result<impl axum::response::IntoResponse> {
    if scope != Scope::Platform {
        return Err(Error::Forbidden("metrics are for readers of every workspace".into()));
    }
    crate::metrics::pools(&state.store.pool_use());
    let body = crate::metrics::handle().render();
    Ok(([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body))
}

/// `healthy` and `degraded` answer 200, `unhealthy` 503. Anyone may ask (load
/// balancers do); counts and details only for readers who see every workspace.
async fn health(
    State(state): State<AppState>,
    reader: Result<Reader, Error>,
) -> (axum::http::StatusCode, Json<app::health::Health>) {
    let mut health = app::health::check(state.store.as_ref()).await;
    if !matches!(reader, Ok(Reader(Scope::Platform))) {
        health = health.public();
    }
    let status = match health.status {
        app::health::HealthStatus::Unhealthy => axum::http::StatusCode::SERVICE_UNAVAILABLE,
        _ => axum::http::StatusCode::OK,
    };
    (status, Json(health))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatsQuery {
    /// `1h`, `24h` (default), `7d` or `30d`.
    window: Option<String>,
    workspace: Option<String>,
}

impl StatsQuery {
    fn window(&self) -> Result<StatsWindow> {
        self.window.as_deref().map_or(Ok(StatsWindow::Day), |w| StatsWindow::parse(w).map_err(Error::BadRequest))
    }
}

/// Totals, histogram, keys, actors and provider operations of a window, from the roll-ups.
async fn stats(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>> {
    let window = query.window()?;
    Ok(Json(state.store.stats(&scope, query.workspace.as_deref(), window, Micros::now()).await?))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct KeyCounts {
    window: StatsWindow,
    by_key: Vec<app::model::NamedCount>,
}

/// How many records of each key the window holds, most first.
async fn counts_by_key(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Query(query): Query<StatsQuery>,
) -> Result<Json<KeyCounts>> {
    let window = query.window()?;
    let stats = state.store.stats(&scope, query.workspace.as_deref(), window, Micros::now()).await?;
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
    Reader(scope): Reader,
    Query(query): Query<ReadQuery>,
) -> Result<Json<RecordPage>> {
    let filter = query.filter(Micros::now())?;
    Ok(Json(page_of(&state, &scope, &filter, &query, Order::NewestFirst).await?))
}

async fn one_event(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path(id): Path<String>,
) -> Result<Json<ApiRecord>> {
    let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
    let record = state.store.event_by_id(&scope, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(record.into()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TimelineQuery {
    /// `asc` (oldest first) or `desc` (newest first, the default).
    order: Option<String>,
    #[serde(flatten)]
    page: ReadQuery,
}

async fn timeline(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Path((entity_type, entity_id)): Path<(String, String)>,
    Query(query): Query<TimelineQuery>,
) -> Result<Json<RecordPage>> {
    let order = match query.order.as_deref() {
        None | Some("" | "desc") => Order::NewestFirst,
        Some("asc") => Order::OldestFirst,
        Some(other) => return Err(Error::BadRequest(format!("order: expected asc or desc, got {other:?}"))),
    };
    if entity_type.contains('\0') || entity_id.contains('\0') {
        return Err(Error::NotFound); // no stored text holds it
    }
    let filter = EventFilter { entity_type: Some(entity_type), entity_id: Some(entity_id), ..Default::default() };
    let page = page_of(&state, &scope, &filter, &query.page, order).await?;
    if page.events.is_empty() && query.page.cursor.is_none() {
        return Err(Error::NotFound);
    }
    Ok(Json(page))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RecentQuery {
    minutes: Option<i64>,
    #[serde(flatten)]
    page: ReadQuery,
}

/// Errors and failed operations of the last `minutes` (default 60), newest first.
async fn failed_recent(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Query(query): Query<RecentQuery>,
) -> Result<Json<RecordPage>> {
    let minutes = query.minutes.unwrap_or(60);
    if !(1..=7 * 24 * 60).contains(&minutes) {
        return Err(Error::BadRequest("minutes: expected 1 to 10080".into()));
    }
    let now = Micros::now();
    let mut filter = query.page.filter(now)?;
    filter.min_severity = Some(Severity::Error);
    filter.since = Some(Micros(now.0 - minutes * 60_000_000));
    Ok(Json(page_of(&state, &scope, &filter, &query.page, Order::NewestFirst).await?))
}
