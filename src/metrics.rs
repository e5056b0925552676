//! The service's instruments, through the `metrics` facade and rendered by
//! `metrics-exporter-prometheus` (`GET /metrics`, in `api`): ingest outcomes,
//! request latency by kind of route, batch and group-commit sizes, pool use.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const LATENCY_BOUNDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
const SIZE_BOUNDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0, 10_000.0];

const INGEST_REQUESTS: &str = "trail_ingest_requests_total";
const INGEST_RECORDS: &str = "trail_ingest_records_total";
const BATCH_RECORDS: &str = "trail_ingest_batch_records";
const GROUP_REQUESTS: &str = "trail_group_commit_requests";
const GROUP_RECORDS: &str = "trail_group_commit_records";
const REQUEST_DURATION: &str = "trail_http_request_duration_seconds";
const POOL_CONNECTIONS: &str = "trail_db_pool_connections";
const STREAM_SUBSCRIBERS: &str = "trail_stream_subscribers";
const STREAM_LAGGED: &str = "trail_stream_lagged_total";

/// The process's recorder, installed on first use: when a server is built
/// (there is one per process, however many servers the tests start in it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = [
            (REQUEST_DURATION, LATENCY_BOUNDS),
            (BATCH_RECORDS, SIZE_BOUNDS),
            (GROUP_REQUESTS, SIZE_BOUNDS),
            (GROUP_RECORDS, SIZE_BOUNDS),
        ];
        // Histograms with buckets, as Prometheus expects (else they would be summaries).
        let handle = buckets
            .into_iter()
            .try_fold(PrometheusBuilder::new(), |builder, (name, bounds)| {
                builder.set_buckets_for_metric(Matcher::Full(name.into()), bounds)
            })
            .and_then(PrometheusBuilder::install_recorder)
            .expect("the metrics recorder is installed once, with valid buckets");
        describe_counter!(INGEST_REQUESTS, "Ingest requests by outcome.");
        describe_counter!(INGEST_RECORDS, "Records received, stored or duplicate.");
        describe_histogram!(BATCH_RECORDS, "Records per ingest request.");
        describe_histogram!(GROUP_REQUESTS, "Requests written per group commit.");
        describe_histogram!(GROUP_RECORDS, "Records written per group commit.");
        describe_histogram!(REQUEST_DURATION, Unit::Seconds, "Request latency by kind of route.");
        describe_gauge!(POOL_CONNECTIONS, "Database connections per pool.");
        describe_gauge!(STREAM_SUBSCRIBERS, "Live streams open on this server.");
        describe_counter!(STREAM_LAGGED, "Live streams ended because the client fell behind.");
        handle
    })
}

/// An ingest request whose records were committed.
pub fn ingested(stored: usize, duplicates: usize, batch: usize) {
    counter!(INGEST_REQUESTS, "outcome" => "accepted").increment(1);
    counter!(INGEST_RECORDS, "result" => "stored").increment(stored as u64);
    counter!(INGEST_RECORDS, "result" => "duplicate").increment(duplicates as u64);
    histogram!(BATCH_RECORDS).record(batch as f64);
}

/// An ingest request answered with an error status.
fn ingest_refused(status: u16) {
    let outcome = match status {
        401 | 403 => "unauthorized",
        400..=499 => "rejected",
        _ => "failed",
    };
    counter!(INGEST_REQUESTS, "outcome" => outcome).increment(1);
}

pub fn group_committed(requests: usize, records: usize) {
    histogram!(GROUP_REQUESTS).record(requests as f64);
    histogram!(GROUP_RECORDS).record(records as f64);
}

/// Live streams opened (positive) or ended (negative).
pub fn stream_subscribers(change: i64) {
    gauge!(STREAM_SUBSCRIBERS).increment(change as f64);
}

/// A live stream ended because its client fell behind.
pub fn stream_lagged() {
    counter!(STREAM_LAGGED).increment(1);
}

/// The pools' current use: (pool, open connections, idle ones).
pub fn pools(pools: &[(&'static str, u32, usize)]) {
    for &(pool, open, idle) in pools {
        let busy = (open as usize).saturating_sub(idle);
        gauge!(POOL_CONNECTIONS, "pool" => pool, "state" => "busy").set(busy as f64);
        gauge!(POOL_CONNECTIONS, "pool" => pool, "state" => "idle").set(idle as f64);
    }
}

/// Which part of the service a request belongs to, for latency by kind.
fn route_of(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (&Method::POST, "/api/v1/events") => "ingest",
        (_, "/api/v1/events/stream") => "stream",
        (_, p) if p.starts_with("/api/v1/") => "read",
        (_, p) if p.starts_with("/api/") && !p.starts_with("/api/system") => "server_fn",
        (&Method::GET, "/" | "/admin" | "/health") => "page",
        (&Method::GET, p) if p.starts_with("/events/") || p.starts_with("/entities/") => "page",
        _ => "other",
    }
}

/// Times every request by kind of route; counts refused ingests.
pub async fn track(request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map_or(request.uri().path(), MatchedPath::as_str);
    let route = route_of(request.method(), path);
    let started = Instant::now();
    let response = next.run(request).await;
    histogram!(REQUEST_DURATION, "route" => route).record(started.elapsed().as_secs_f64());
    if route == "ingest" && !response.status().is_success() {
        ingest_refused(response.status().as_u16());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_grouped_by_kind() {
        assert_eq!(route_of(&Method::POST, "/api/v1/events"), "ingest");
        assert_eq!(route_of(&Method::GET, "/api/v1/events"), "read");
        assert_eq!(route_of(&Method::GET, "/api/v1/events/stream"), "stream");
        assert_eq!(route_of(&Method::POST, "/api/load_feed"), "server_fn");
        assert_eq!(route_of(&Method::GET, "/api/system/health"), "other");
        assert_eq!(route_of(&Method::GET, "/entities/track/1"), "page");
    }
}
