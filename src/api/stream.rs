//! `GET /api/v1/events/stream`: new records as Server-Sent Events, with the
//! filters and search syntax of `/api/v1/events` and the reader's scope.
//!
//! Each event's `id` is its position in commit order. A new client joins its
//! group (`crate::live`) and is sent what the group reads after the group's
//! position. A client that reconnects with `Last-Event-ID` (or
//! `last_event_id`) first reads what was committed since, then joins and
//! reads once more, so that nothing committed meanwhile falls between the
//! two; what it gets twice is dropped by position.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use aide::transform::TransformOperation;
use app::model::{EventFilter, Micros, StreamPosition};
use app::store::Scope;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures_util::{FutureExt as _, Stream};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_stream::StreamExt as _;

use super::openapi;
use super::query::FilterQuery;
use super::sse;
use crate::auth::reader::{Principal, Reader};
use crate::error::{Error, Query, Result};
use crate::live::{Admission, Item, Membership, Refused, BATCH};
use crate::state::AppState;

/// A comment goes out this often when nothing else does, so proxies and
/// clients see the connection is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long a client waits before reconnecting (the `retry` field).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);
/// How often an open stream asks again what its reader may see: a revoked
/// key, a session signed out, a disabled person or a changed role ends it.
const RECHECK_EVERY: Duration = Duration::from_secs(2);
/// Events that wait for a stream go out together, up to about this many bytes.
const CHUNK_BYTES: usize = 256 << 10;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct StreamQuery {
    #[serde(flatten)]
    filters: FilterQuery,
    /// Resume after this event (the `id` of an event this stream sent), for
    /// clients that cannot send the `Last-Event-ID` header. The header wins.
    last_event_id: Option<String>,
}

pub async fn stream(
    State(state): State<AppState>,
    Reader { scope, principal, .. }: Reader,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
) -> Result<Response> {
    let admission = state.live.admit(&principal).map_err(|refused| match refused {
        Refused::ServerFull => Error::Unavailable,
        Refused::ReaderFull => Error::TooManyRequests(format!(
            "this {} has {} live streams open already: close one first",
            principal.kind(),
            state.config.max_streams_per_reader
        )),
    })?;
    let now = Micros::now();
    // `since` is kept even in the past: it bounds `occurred_at`, which a
    // producer may set back (a backfill), not when records arrive.
    let filter = query.filters.filter(now)?;
    // A new subscriber joins before the answer, so that every record
    // committed once the client has it is sent.
    let (last, next) = match resume_after(&state, &headers, query.last_event_id.as_deref())? {
        // A position past every record committed (from another database, or
        // before a restore) would skip what comes until the stream caught up.
        Some(position) if !reached(&state, position).await? => {
            return Err(Error::BadRequest(
                "Last-Event-ID: no record this server holds has that position yet: reconnect without it".into(),
            ));
        }
        Some(position) => (position, Phase::CatchingUp),
        None => {
            let member = state.live.join(&scope, &filter).await?;
            (member.from, Phase::Live(member))
        }
    };
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.reset(); // the first check after RECHECK_EVERY, not at once
    let follow = Follow {
        closing: state.live.closing(),
        state,
        _admission: admission,
        principal,
        recheck,
        scope,
        filter,
        last,
        pending: VecDeque::new(),
        phase: Phase::Greeting(Box::new(next)),
    };
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-cache"),
        // Tells nginx and the like not to buffer the stream.
        (header::HeaderName::from_static("x-accel-buffering"), "no"),
    ];
    Ok((headers, Body::from_stream(follow.chunks())).into_response())
}

pub fn stream_docs(op: TransformOperation) -> TransformOperation {
    let op = op.summary("New records as Server-Sent Events, resumable with Last-Event-ID").description(
        "Each record is a `message` event: `id` is its position (send it back as `Last-Event-ID` to resume), \
         `data` the record as `/api/v1/events` returns it. A comment goes out every 15 s when nothing else does. \
         A client that falls too far behind gets a `lagged` event and is disconnected: reconnect to resume.",
    );
    openapi::text_response(op, "an endless stream of events", &["text/event-stream"])
        .response_with::<400, Error, _>(|r| r.description("a bad filter, or a Last-Event-ID no record has reached"))
        .response_with::<429, Error, _>(|r| r.description("this key or session has its most streams open already"))
        .response_with::<503, Error, _>(|r| r.description("this server has its most streams open already"))
}

/// Whether the records committed reach `position`. The horizon is read
/// through a cache a few milliseconds old: a position another server just
/// sent is asked once more after it.
async fn reached(state: &AppState, position: StreamPosition) -> Result<bool> {
    if position <= state.store.stream_start().await? {
        return Ok(true);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(position <= state.store.stream_start().await?)
}

/// Where to resume: the `Last-Event-ID` header, else the parameter; blank is none.
fn resume_after(state: &AppState, headers: &HeaderMap, parameter: Option<&str>) -> Result<Option<StreamPosition>> {
    let (name, value) = match headers.get("last-event-id") {
        Some(value) => ("Last-Event-ID", value.to_str().unwrap_or("\u{fffd}")),
        None => ("last_event_id", parameter.unwrap_or_default()),
    };
    if value.trim().is_empty() {
        return Ok(None);
    }
    state
        .live
        .ids()
        .open(value)
        .map(Some)
        .ok_or_else(|| Error::BadRequest(format!("{name}: expected the id of an event this stream sent")))
}

/// One subscriber's stream. A new one has joined its group and is live from
/// the group's position, reading nothing itself; one that resumes reads
/// what was committed since first.
struct Follow {
    state: AppState,
    closing: watch::Receiver<bool>,
    /// Counts this stream against the limits while it is open.
    _admission: Admission,
    principal: Principal,
    recheck: tokio::time::Interval,
    scope: Scope,
    filter: EventFilter,
    /// The last position sent (or where the subscription starts).
    last: StreamPosition,
    pending: VecDeque<Arc<Item>>,
    phase: Phase,
}

/// What a live stream woke up for.
enum Woke {
    Item(Option<Arc<Item>>),
    Closing,
    Recheck,
}

enum Phase {
    /// The first event, then the phase inside.
    Greeting(Box<Phase>),
    /// Reading what was committed after `last`, before joining the group.
    CatchingUp,
    /// Reading once more after joining, while the group queues what follows.
    Joined(Membership),
    Live(Membership),
    Lagged,
    Ended,
}

impl Follow {
    /// The stream's chunks, with a heartbeat whenever nothing else went out
    /// for [`HEARTBEAT`] (while live, catching up or checking alike).
    fn chunks(self) -> impl Stream<Item = std::result::Result<Bytes, Infallible>> {
        let chunks = futures_util::stream::unfold(self, |mut follow| async move {
            let chunk = follow.next().await?;
            Some((chunk, follow))
        });
        // A timeout yields an error and keeps the stream going where it was.
        let mut quiet = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        quiet.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        chunks.timeout_repeating(quiet).map(|chunk| Ok(chunk.unwrap_or_else(|_| heartbeat())))
    }

    /// What to send next: every event waiting, as one chunk.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(chunk) = self.take_pending() {
                return Some(chunk);
            }
            match std::mem::replace(&mut self.phase, Phase::Ended) {
                Phase::Greeting(next) => {
                    self.phase = *next;
                    // With an id, so a client that reconnects before its first
                    // record resumes from here.
                    let id = self.state.live.ids().seal(self.last);
                    let greeting = sse::Event {
                        id: Some(&id),
                        retry: Some(RECONNECT_AFTER),
                        comment: Some("connected"),
                        ..Default::default()
                    };
                    return Some(greeting.encode());
                }
                phase @ (Phase::CatchingUp | Phase::Joined(_)) => {
                    // A long catch-up checks its reader as often as a live stream.
                    if self.recheck.tick().now_or_never().is_some() {
                        if let Some(end) = self.reader_changed().await {
                            return Some(end);
                        }
                    }
                    match self.catch_up(phase).await {
                        Ok(next) => self.phase = next,
                        Err(err) => return Some(failed(&err)),
                    }
                }
                Phase::Live(mut member) => {
                    let woke = tokio::select! {
                        item = member.next() => Woke::Item(item),
                        _ = self.closing.wait_for(|closing| *closing) => Woke::Closing,
                        _ = self.recheck.tick() => Woke::Recheck,
                    };
                    match woke {
                        Woke::Item(Some(item)) => {
                            self.pending.push_back(item);
                            let mut bytes = 0;
                            while bytes < CHUNK_BYTES {
                                let Some(item) = member.ready() else { break };
                                bytes += item.event.len();
                                self.pending.push_back(item);
                            }
                            self.phase = Phase::Live(member);
                        }
                        Woke::Item(None) if member.lagged() => self.phase = Phase::Lagged,
                        Woke::Item(None) | Woke::Closing => {}
                        Woke::Recheck => match self.reader_changed().await {
                            Some(end) => return Some(end),
                            None => self.phase = Phase::Live(member),
                        },
                    }
                }
                Phase::Lagged => return Some(lagged(&self.state.live.ids().seal(self.last))),
                Phase::Ended => return None,
            }
        }
    }

    /// The stream's last event if its reader may no longer see what it asked
    /// for (a revoked key, a changed role or membership); reconnecting reads
    /// with what the reader may see now, if anything.
    async fn reader_changed(&self) -> Option<Bytes> {
        match self.principal.still_sees(&self.state, &self.scope).await {
            true => None,
            false => Some(ended("what this reader may see has changed: reconnect")),
        }
    }

    /// The events waiting that were not sent yet, as one chunk.
    fn take_pending(&mut self) -> Option<Bytes> {
        let mut fresh = Vec::new();
        while let Some(item) = self.pending.pop_front() {
            // Sent already, by the other read.
            if item.position > self.last {
                self.last = item.position;
                fresh.push(item);
            }
        }
        match fresh.as_slice() {
            [] => None,
            [one] => Some(one.event.clone()),
            many => {
                let mut chunk = Vec::with_capacity(many.iter().map(|item| item.event.len()).sum());
                for item in many {
                    chunk.extend_from_slice(&item.event);
                }
                Some(chunk.into())
            }
        }
    }

    /// Reads a batch after `last`; joins the group, then goes live, once a
    /// read comes back short (nothing more is committed).
    async fn catch_up(&mut self, phase: Phase) -> Result<Phase> {
        let store = &self.state.store;
        let batch = store.stream_after(&self.scope, &self.filter, self.last, BATCH).await?;
        let more = batch.records.len() == BATCH;
        self.pending.extend(batch.records.into_iter().map(|(position, record)| self.state.live.item(position, record)));
        if let Some(through) = batch.through {
            // Nothing else up to there matches: the next read starts past it.
            self.pending.push_back(self.state.live.position_only(through));
        }
        Ok(match phase {
            _ if more => phase,
            Phase::Joined(member) => Phase::Live(member),
            _ => Phase::Joined(self.state.live.join(&self.scope, &self.filter).await?),
        })
    }
}

fn heartbeat() -> Bytes {
    sse::comment("heartbeat")
}

/// The last event of a stream: its type and what it says.
fn last_event(kind: &str, body: serde_json::Value) -> Bytes {
    sse::Event { kind: Some(kind), data: Some(&body.to_string()), ..Default::default() }.encode()
}

/// The last event of a client that fell too far behind.
fn lagged(last_event_id: &str) -> Bytes {
    let body = serde_json::json!({
        "error": "this client fell too far behind and was disconnected: reconnect with Last-Event-ID to resume",
        "last_event_id": last_event_id,
    });
    last_event("lagged", body)
}

/// The last event of a stream whose reader may no longer see what it asked for.
fn ended(why: &str) -> Bytes {
    last_event("ended", serde_json::json!({ "error": why }))
}

/// The last event of a stream the database failed.
fn failed(err: &Error) -> Bytes {
    tracing::warn!(error = %err, "a live stream failed");
    last_event("failed", serde_json::json!({ "error": "the stream failed: reconnect with Last-Event-ID to resume" }))
}
