//! Live subscriptions to new records (`GET /api/v1/events/stream`).
//!
//! Subscribers with the same scope and filter share a *group*: one task per
//! group reads what was committed after the group's position, once per wake
//! (the store's commit signal), and hands each record, serialized once, to
//! every member. A thousand dashboards of one founder cost one query per
//! commit, not a thousand. Records are always read from the database, after
//! their commit, through the same scoped statements as every other read.
//!
//! A member's queue is bounded: one that falls [`QUEUE`] records behind is
//! dropped from its group and told to resume (`lagged`), so a slow client
//! can never grow the server's memory. docs/architecture.md, "Live stream",
//! explains why a position is never skipped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use app::model::{EventFilter, StreamPosition};
use app::store::{DynStore, Scope, StoreResult};
use tokio::sync::{mpsc, watch};

use crate::api::record::ApiRecord;

/// Records read per query, by a group and by a subscriber catching up.
pub const BATCH: usize = 500;
/// Records a member may have waiting before it is dropped as too slow.
pub const QUEUE: usize = 2_000;
/// How soon a group asks again when records wait behind a transaction
/// that is still running (PostgreSQL).
const HELD_BACK_RETRY: Duration = Duration::from_millis(20);
/// A group reads even without a wake this often: a lost notification
/// delays a record by this much at most.
const POLL_EVERY: Duration = Duration::from_secs(5);
/// How long a group waits after a failed read.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// A committed record, ready to send: its position and its JSON (empty for
/// a position only: nothing else up to it matches).
#[derive(Debug)]
pub struct Item {
    pub position: StreamPosition,
    pub json: String,
}

impl Item {
    pub fn position_only(position: StreamPosition) -> Arc<Item> {
        Arc::new(Item { position, json: String::new() })
    }

    pub fn new(position: StreamPosition, record: app::model::EventDetail) -> Arc<Item> {
        let json = serde_json::to_string(&ApiRecord::from(record)).unwrap_or_else(|err| {
            // ApiRecord holds only strings, numbers and JSON already parsed.
            tracing::error!(error = %err, "a record could not be serialized");
            "{}".to_owned()
        });
        Arc::new(Item { position, json })
    }
}

/// Every group of this server.
pub struct Hub {
    store: DynStore,
    groups: tokio::sync::Mutex<Vec<Arc<Group>>>,
    /// Set when the server stops: every stream ends.
    closing: watch::Sender<bool>,
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
    queue: mpsc::Sender<Arc<Item>>,
    lagged: Arc<AtomicBool>,
}

/// A member's end: the records its group reads, in order.
pub struct Membership {
    pub queue: mpsc::Receiver<Arc<Item>>,
    /// Set when the group dropped this member for falling behind.
    pub lagged: Arc<AtomicBool>,
    /// Every record after this position is queued for the member.
    pub from: StreamPosition,
}

impl Hub {
    pub fn new(store: DynStore) -> Arc<Hub> {
        Arc::new(Hub { store, groups: Default::default(), closing: watch::channel(false).0 })
    }

    pub fn store(&self) -> &DynStore {
        &self.store
    }

    /// Ends every stream (the server is stopping).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Changes to `true` when the server stops.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Joins the group of `scope` and `filter` (starting it if there is none).
    /// The member is sent every record after `Membership::from`; a
    /// subscriber resuming from further back reads the rest itself.
    pub async fn join(self: &Arc<Self>, scope: &Scope, filter: &EventFilter) -> StoreResult<Membership> {
        let mut groups = self.groups.lock().await;
        let group = match groups.iter().find(|g| g.scope == *scope && g.filter == *filter) {
            Some(group) => group.clone(),
            None => {
                // Under the lock, before any member reads: nothing committed
                // after this position can be missed by both.
                let position = self.store.stream_start().await?;
                let members = Mutex::new(Members { list: Vec::new(), position });
                let group = Arc::new(Group { scope: scope.clone(), filter: filter.clone(), members });
                groups.push(group.clone());
                tokio::spawn(self.clone().run(group.clone()));
                group
            }
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut members = group.members();
        members.list.push(Member { queue, lagged: lagged.clone() });
        crate::metrics::stream_subscribers(1);
        Ok(Membership { queue: receiver, lagged, from: members.position })
    }

    /// A group's task: reads after its position on every wake and hands the
    /// records to the members, until none is left. Only this task moves
    /// the position.
    async fn run(self: Arc<Self>, group: Arc<Group>) {
        let mut commits = self.store.commits();
        loop {
            commits.borrow_and_update();
            let position = group.members().position;
            let (full, held_back) = match self.store.stream_after(&group.scope, &group.filter, position, BATCH).await {
                Ok(batch) => {
                    let full = batch.records.len() == BATCH;
                    let items: Vec<Arc<Item>> = batch.records.into_iter().map(|(p, r)| Item::new(p, r)).collect();
                    group.hand_out(&items, batch.through);
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
            let wait = if held_back { HELD_BACK_RETRY } else { POLL_EVERY };
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
    /// drops members that left or whose queue is full (they are told to
    /// resume). Under the members' lock, so that a member joining now gets
    /// exactly what follows the position it is told.
    fn hand_out(&self, items: &[Arc<Item>], through: Option<StreamPosition>) {
        let mut members = self.members();
        let last = items.last().map(|item| item.position);
        members.position = last.into_iter().chain(through).chain([members.position]).max().expect("one at least");
        let before = members.list.len();
        members.list.retain(|member| {
            for item in items {
                match member.queue.try_send(item.clone()) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        member.lagged.store(true, Ordering::Relaxed);
                        crate::metrics::stream_lagged();
                        return false;
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return false,
                }
            }
            !member.queue.is_closed()
        });
        crate::metrics::stream_subscribers(members.list.len() as i64 - before as i64);
    }
}
