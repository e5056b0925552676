//! Live subscriptions to new records (`GET /api/v1/events/stream`).
//!
//! Subscribers with the same scope and filter share a *group*: one task per
//! group reads what was committed after the group's position, once per wake
//! (the store's commit signal), and hands each record, encoded once as an
//! event, to every member. A thousand dashboards of one founder cost one
//! query per commit, not a thousand. Records are always read from the
//! database, after their commit, through the same scoped statements as every
//! other read.
//!
//! A member's queue is bounded by bytes: one that has [`QUEUE_BYTES`]
//! waiting is dropped from its group and told to resume (`lagged`), and so
//! is every member that is behind at all while the events held on the
//! server pass [`SERVER_BYTES`]: a slow client can never grow the server's
//! memory. How many streams a server and a reader may open is bounded too
//! ([`StreamLimits`]). docs/architecture.md,
//! "Live stream", explains why a position is never skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::model::{EventFilter, Micros, StreamPosition};
use app::store::{DynStore, Scope, StoreResult};
use axum::body::Bytes;
use tokio::sync::{mpsc, watch};

use crate::api::record::ApiRecord;
use crate::api::sse;
use crate::api::stream_ids::StreamIds;
use crate::auth::reader::Principal;

/// Records read per query, by a group and by a subscriber catching up.
pub const BATCH: usize = 500;
/// Bytes of events a member may have waiting before it is dropped as too
/// slow (one event is always let in, however large).
pub const QUEUE_BYTES: usize = 4 << 20;
/// Bytes of events the server may hold for its streams (each counted once,
/// however many queues share it) before members that are behind are dropped.
pub const SERVER_BYTES: usize = 256 << 20;
/// How soon a group asks again, at first, when records wait behind a
/// transaction that is still running (PostgreSQL). The commit that ends a
/// writer's transaction wakes the group anyway; this is for transactions
/// that commit no records (sessions, keys) or roll back, so it doubles up
/// to [`HELD_BACK_LONGEST`] while they last.
const HELD_BACK_RETRY: Duration = Duration::from_millis(20);
const HELD_BACK_LONGEST: Duration = Duration::from_millis(320);
/// A group reads even without a wake this often: a lost notification
/// delays a record by this much at most.
const POLL_EVERY: Duration = Duration::from_secs(5);
/// How long a group waits after a failed read.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// A committed record, ready to send: its position and its event, encoded
/// once for every member. Made by [`Hub::item`], counted in the server's
/// bytes held until the last queue or stream lets go of it.
#[derive(Debug)]
pub struct Item {
    pub position: StreamPosition,
    pub event: Bytes,
    /// The record's `occurred_at` (none for a position alone), for members'
    /// own `since`.
    occurred_at: Option<Micros>,
    held: Arc<AtomicUsize>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.held.fetch_sub(self.event.len(), Ordering::Relaxed);
    }
}

/// How many streams may be open at once.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// On this server.
    pub per_server: usize,
    /// Per API key or session.
    pub per_reader: usize,
}

/// Why a stream was not opened.
#[derive(Debug, PartialEq)]
pub enum Refused {
    ServerFull,
    ReaderFull,
}

/// Every group of this server.
pub struct Hub {
    store: DynStore,
    groups: tokio::sync::Mutex<Vec<Arc<Group>>>,
    limits: StreamLimits,
    /// Open streams, per reader.
    open: Arc<Mutex<OpenStreams>>,
    /// Bytes of the events alive now (see [`SERVER_BYTES`]).
    held: Arc<AtomicUsize>,
    /// Set when the server stops: every stream ends.
    closing: watch::Sender<bool>,
    ids: StreamIds,
}

#[derive(Default)]
struct OpenStreams {
    per_reader: HashMap<Principal, usize>,
    total: usize,
}

struct Group {
    scope: Scope,
    filter: EventFilter,
    /// The members, and the position of the last record handed to them.
    members: Mutex<Members>,
}

struct Members {
    list: Vec<Member>,
    position: StreamPosition,
}

struct Member {
    /// Records that occurred before this are not this member's: a group
    /// leaves `since` to its members, since a relative one (`since=1h`)
    /// differs for every stream to the microsecond.
    since: Option<Micros>,
    queue: mpsc::UnboundedSender<Arc<Item>>,
    /// Bytes of events queued and not yet taken.
    waiting: Arc<AtomicUsize>,
    lagged: Arc<AtomicBool>,
}

/// A member's end: the records its group reads, in order.
pub struct Membership {
    queue: mpsc::UnboundedReceiver<Arc<Item>>,
    waiting: Arc<AtomicUsize>,
    lagged: Arc<AtomicBool>,
    /// Every record after this position is queued for the member.
    pub from: StreamPosition,
}

impl Membership {
    /// The next record; `None` once the group dropped this member.
    pub async fn next(&mut self) -> Option<Arc<Item>> {
        let item = self.queue.recv().await?;
        Some(self.taken(item))
    }

    /// The next record if one is queued already.
    pub fn ready(&mut self) -> Option<Arc<Item>> {
        let item = self.queue.try_recv().ok()?;
        Some(self.taken(item))
    }

    fn taken(&self, item: Arc<Item>) -> Arc<Item> {
        self.waiting.fetch_sub(item.event.len(), Ordering::Relaxed);
        item
    }

    /// Whether the group dropped this member for falling behind.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }
}

/// An open stream, counted against the [`StreamLimits`] until dropped.
pub struct Admission {
    open: Arc<Mutex<OpenStreams>>,
    reader: Principal,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total -= 1;
        if let Some(count) = open.per_reader.get_mut(&self.reader) {
            *count -= 1;
            if *count == 0 {
                open.per_reader.remove(&self.reader);
            }
        }
    }
}

impl Hub {
    pub fn new(store: DynStore, limits: StreamLimits, ids: StreamIds) -> Arc<Hub> {
        let closing = watch::channel(false).0;
        let (groups, open, held) = Default::default();
        Arc::new(Hub { store, groups, limits, open, held, closing, ids })
    }

    /// How the streams' event ids are sealed and opened.
    pub fn ids(&self) -> &StreamIds {
        &self.ids
    }

    /// Counts a new stream of `reader`, unless the server or the reader has
    /// as many open as the limits allow.
    pub fn admit(&self, reader: &Principal) -> Result<Admission, Refused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.limits.per_server {
            return Err(Refused::ServerFull);
        }
        let count = open.per_reader.entry(reader.clone()).or_default();
        if *count >= self.limits.per_reader {
            return Err(Refused::ReaderFull);
        }
        *count += 1;
        open.total += 1;
        Ok(Admission { open: self.open.clone(), reader: reader.clone() })
    }

    /// A record's event.
    pub fn item(&self, position: StreamPosition, record: app::model::EventDetail) -> Arc<Item> {
        let occurred_at = Some(record.row.occurred_at);
        let json = serde_json::to_string(&ApiRecord::from(record)).unwrap_or_else(|err| {
            // ApiRecord holds only strings, numbers and JSON already parsed.
            tracing::error!(error = %err, "a record could not be serialized");
            "{}".to_owned()
        });
        let id = self.ids.seal(position);
        self.held_item(position, occurred_at, sse::Event { id: Some(&id), data: Some(&json), ..Default::default() })
    }

    /// Nothing else up to `position` matches: an event with only its id
    /// (the client's `Last-Event-ID` moves on; no need to read up to here again).
    pub fn position_only(&self, position: StreamPosition) -> Arc<Item> {
        let id = self.ids.seal(position);
        let event =
            sse::Event { id: Some(&id), comment: Some("nothing else matches up to here"), ..Default::default() };
        self.held_item(position, None, event)
    }

    fn held_item(&self, position: StreamPosition, occurred_at: Option<Micros>, event: sse::Event<'_>) -> Arc<Item> {
        let event = event.encode();
        self.held.fetch_add(event.len(), Ordering::Relaxed);
        Arc::new(Item { position, event, occurred_at, held: self.held.clone() })
    }

    /// Ends every stream (the server is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// How many groups serve the open streams.
    pub async fn groups(&self) -> usize {
        self.groups.lock().await.len()
    }

    /// Changes to `true` when the server stops.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Joins the group of `scope` and `filter` (starting it if there is none).
    /// The member is sent every record after `Membership::from`; a
    /// subscriber resuming from further back reads the rest itself.
    pub async fn join(self: &Arc<Self>, scope: &Scope, filter: &EventFilter) -> StoreResult<Membership> {
        let since = filter.since;
        let filter = EventFilter { since: None, ..filter.clone() };
        let mut groups = self.groups.lock().await;
        let group = match groups.iter().find(|g| g.scope == *scope && g.filter == filter) {
            Some(group) => group.clone(),
            None => {
                // Under the lock, before any member reads: nothing committed
                // after this position can be missed by both.
                let position = self.store.stream_start().await?;
                let members = Mutex::new(Members { list: Vec::new(), position });
                let group = Arc::new(Group { scope: scope.clone(), filter, members });
                groups.push(group.clone());
                tokio::spawn(self.clone().run(group.clone()));
                group
            }
        };
        let (queue, receiver) = mpsc::unbounded_channel();
        let (waiting, lagged) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let mut members = group.members();
        members.list.push(Member { since, queue, waiting: waiting.clone(), lagged: lagged.clone() });
        crate::metrics::stream_subscribers(1);
        Ok(Membership { queue: receiver, waiting, lagged, from: members.position })
    }

    /// A group's task: reads after its position on every wake and hands the
    /// records to the members, until none is left. Only this task moves
    /// the position.
    async fn run(self: Arc<Self>, group: Arc<Group>) {
        let mut commits = self.store.commits();
        let mut held_back_retry = HELD_BACK_RETRY;
        loop {
            commits.borrow_and_update();
            let position = group.members().position;
            let (full, held_back) = match self.store.stream_after(&group.scope, &group.filter, position, BATCH).await {
                Ok(batch) => {
                    let full = batch.records.len() == BATCH;
                    let items: Vec<Arc<Item>> = batch.records.into_iter().map(|(p, r)| self.item(p, r)).collect();
                    let over_budget = self.held.load(Ordering::Relaxed) > SERVER_BYTES;
                    group.hand_out(&items, batch.through, over_budget);
                    (full, batch.held_back)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the live stream could not read new records");
                    tokio::time::sleep(RETRY_AFTER_ERROR).await;
                    (false, false)
                }
            };
            if self.leave_if_empty(&group).await {
                return;
            }
            if full {
                continue;
            }
            let wait = if held_back {
                let wait = held_back_retry;
                held_back_retry = (held_back_retry * 2).min(HELD_BACK_LONGEST);
                wait
            } else {
                held_back_retry = HELD_BACK_RETRY;
                POLL_EVERY
            };
            tokio::select! {
                // An error: the store is gone (the server stops); just poll.
                Ok(()) = commits.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Removes `group` if it has no members left; whether it did.
    async fn leave_if_empty(&self, group: &Arc<Group>) -> bool {
        let mut groups = self.groups.lock().await;
        if !group.members().list.is_empty() {
            return false;
        }
        groups.retain(|g| !Arc::ptr_eq(g, group));
        true
    }
}

impl Group {
    fn members(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `items` for every member and moves the position past them
    /// (and on to `through`, what the read covered: a view that rarely
    /// matches does not read everything since its last match again);
    /// drops members that left or have too much waiting, or any waiting at
    /// all when the server holds too much (`over_budget`); they are told to
    /// resume. Under the members' lock, so that a member joining now gets
    /// exactly what follows the position it is told.
    fn hand_out(&self, items: &[Arc<Item>], through: Option<StreamPosition>, over_budget: bool) {
        let mut members = self.members();
        let last = items.last().map(|item| item.position);
        members.position = last.into_iter().chain(through).chain([members.position]).max().expect("one at least");
        let before = members.list.len();
        members.list.retain(|member| {
            let before_since = |item: &Item| item.occurred_at.zip(member.since).is_some_and(|(at, since)| at < since);
            for item in items.iter().filter(|item| !before_since(item)) {
                let before = member.waiting.fetch_add(item.event.len(), Ordering::Relaxed);
                if before > 0 && (over_budget || before + item.event.len() > QUEUE_BYTES) {
                    member.lagged.store(true, Ordering::Relaxed);
                    crate::metrics::stream_lagged();
                    return false;
                }
                if member.queue.send(item.clone()).is_err() {
                    return false; // the stream is gone
                }
            }
            !member.queue.is_closed()
        });
        crate::metrics::stream_subscribers(members.list.len() as i64 - before as i64);
    }
}
