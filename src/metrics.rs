//! Process metrics in the Prometheus text format (`GET /metrics`): ingest
//! outcomes, request latency, batch and group-commit sizes, pool use.
//! Process-wide counters, as Prometheus clients keep them.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use app::store::Scope;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::reader::Reader;
use crate::error::Error;
use crate::state::AppState;

/// A histogram with fixed upper bounds (cumulative when written).
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum in millionths, to stay an integer.
    sum_micro: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micro: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let slot = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_micro.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

const LATENCY_BOUNDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const SIZE_BOUNDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0, 10_000.0];

/// Which part of the service a request belongs to, for latency by kind.
#[derive(Clone, Copy)]
enum Route {
    Ingest,
    Read,
    Page,
    ServerFn,
    Other,
}

const ROUTES: [(Route, &str); 5] = [
    (Route::Ingest, "ingest"),
    (Route::Read, "read"),
    (Route::Page, "page"),
    (Route::ServerFn, "server_fn"),
    (Route::Other, "other"),
];

/// Outcomes of ingest requests.
pub const INGEST_OUTCOMES: [&str; 4] = ["accepted", "rejected", "unauthorized", "failed"];

pub struct Metrics {
    ingest_requests: [AtomicU64; 4],
    records_stored: AtomicU64,
    records_duplicate: AtomicU64,
    batch_size: Histogram,
    group_requests: Histogram,
    group_records: Histogram,
    latency: [Histogram; 5],
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    ingest_requests: Default::default(),
    records_stored: AtomicU64::new(0),
    records_duplicate: AtomicU64::new(0),
    batch_size: Histogram::new(SIZE_BOUNDS),
    group_requests: Histogram::new(SIZE_BOUNDS),
    group_records: Histogram::new(SIZE_BOUNDS),
    latency: std::array::from_fn(|_| Histogram::new(LATENCY_BOUNDS)),
});

impl Metrics {
    pub fn ingested(&self, stored: usize, duplicates: usize, batch: usize) {
        self.ingest_requests[0].fetch_add(1, Ordering::Relaxed);
        self.records_stored.fetch_add(stored as u64, Ordering::Relaxed);
        self.records_duplicate.fetch_add(duplicates as u64, Ordering::Relaxed);
        self.batch_size.observe(batch as f64);
    }

    /// An ingest request answered with an error status.
    pub fn ingest_refused(&self, status: u16) {
        let outcome = match status {
            401 | 403 => 2,
            400..=499 => 1,
            _ => 3,
        };
        self.ingest_requests[outcome].fetch_add(1, Ordering::Relaxed);
    }

    pub fn group_committed(&self, requests: usize, records: usize) {
        self.group_requests.observe(requests as f64);
        self.group_records.observe(records as f64);
    }

    fn render(&self, pools: &[(&'static str, u32, usize)]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = writeln!(out, "# HELP trail_ingest_requests_total Ingest requests by outcome.");
        let _ = writeln!(out, "# TYPE trail_ingest_requests_total counter");
        for (outcome, count) in INGEST_OUTCOMES.iter().zip(&self.ingest_requests) {
            let _ =
                writeln!(out, "trail_ingest_requests_total{{outcome=\"{outcome}\"}} {}", count.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP trail_ingest_records_total Records received, stored or duplicate.");
        let _ = writeln!(out, "# TYPE trail_ingest_records_total counter");
        let _ = writeln!(
            out,
            "trail_ingest_records_total{{result=\"stored\"}} {}",
            self.records_stored.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "trail_ingest_records_total{{result=\"duplicate\"}} {}",
            self.records_duplicate.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP trail_ingest_batch_records Records per ingest request.");
        let _ = writeln!(out, "# TYPE trail_ingest_batch_records histogram");
        self.batch_size.write(&mut out, "trail_ingest_batch_records", "");
        let _ = writeln!(out, "# HELP trail_group_commit_requests Requests written per group commit.");
        let _ = writeln!(out, "# TYPE trail_group_commit_requests histogram");
        self.group_requests.write(&mut out, "trail_group_commit_requests", "");
        let _ = writeln!(out, "# HELP trail_group_commit_records Records written per group commit.");
        let _ = writeln!(out, "# TYPE trail_group_commit_records histogram");
        self.group_records.write(&mut out, "trail_group_commit_records", "");
        let _ = writeln!(out, "# HELP trail_http_request_duration_seconds Request latency by kind of route.");
        let _ = writeln!(out, "# TYPE trail_http_request_duration_seconds histogram");
        for ((_, name), histogram) in ROUTES.iter().zip(&self.latency) {
            histogram.write(&mut out, "trail_http_request_duration_seconds", &format!("route=\"{name}\""));
        }
        let _ = writeln!(out, "# HELP trail_db_pool_connections Database connections per pool.");
        let _ = writeln!(out, "# TYPE trail_db_pool_connections gauge");
        for (pool, open, idle) in pools {
            let busy = (*open as usize).saturating_sub(*idle);
            let _ = writeln!(out, "trail_db_pool_connections{{pool=\"{pool}\",state=\"busy\"}} {busy}");
            let _ = writeln!(out, "trail_db_pool_connections{{pool=\"{pool}\",state=\"idle\"}} {idle}");
        }
        out
    }
}

fn route_of(method: &Method, path: &str) -> Route {
    match (method, path) {
        (&Method::POST, "/api/v1/events") => Route::Ingest,
        (_, p) if p.starts_with("/api/v1/") => Route::Read,
        (_, p) if p.starts_with("/api/") && !p.starts_with("/api/system") => Route::ServerFn,
        (&Method::GET, "/" | "/admin" | "/health") => Route::Page,
        (&Method::GET, p) if p.starts_with("/events/") || p.starts_with("/entities/") => Route::Page,
        _ => Route::Other,
    }
}

/// Times every request by kind of route; counts refused ingests.
pub async fn track(request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map_or(request.uri().path(), MatchedPath::as_str);
    let route = route_of(request.method(), path);
    let started = Instant::now();
    let response = next.run(request).await;
    METRICS.latency[route as usize].observe(started.elapsed().as_secs_f64());
    if matches!(route, Route::Ingest) && !response.status().is_success() {
        METRICS.ingest_refused(response.status().as_u16());
    }
    response
}

/// Platform-wide counts, like the health endpoint's: for readers of every
/// workspace only (a founder or admin session, or a spanning read key, which
/// Prometheus sends as `authorization: Bearer`).
pub async fn metrics(State(state): State<AppState>, Reader(scope): Reader) -> Result<impl IntoResponse, Error> {
    if scope != Scope::Platform {
        return Err(Error::Forbidden("metrics are for readers of every workspace".into()));
    }
    let body = METRICS.render(&state.store.pool_use());
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 5.0, 5.0, 50.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.write(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"1\"} 1\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"10\"} 3\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 4\n"));
        assert!(out.contains("x_sum{a=\"b\"} 60.5\n"));
        assert!(out.contains("x_count{a=\"b\"} 4\n"));
    }
}
