//! The storage contract. Server functions and HTTP handlers call it; the
//! SQLite and PostgreSQL implementations live in the server crate
//! (`src/storage`). Every read takes a [`Scope`] so no unscoped read exists.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::model::{
    ActorType, AlertCondition, AlertRule, AlertState, AlertTotals, ChainHead, ChainId, ChainLink, Cursor, Delivery,
    Destination, Digest, DigestQuery, EventDetail, EventFilter, EventRow, IntegrityStatus, Kind, LogStream, Micros,
    Order, Period, Retention, Role, Severity, Stats, StatsWindow, Status, StoredRecord, StreamPosition, Viewer,
    Visibility, WebhookEndpoint, WebhookFormat,
};
pub use crate::model::{ApiKeySummary, UserSummary};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    /// Someone else changed it between reading and writing; nothing was done.
    #[error("{0} was changed meanwhile; try again")]
    ChangedMeanwhile(String),
    /// The database could not be reached (see [`StoreError::is_unavailable`]).
    #[error("the database is unavailable")]
    Unavailable,
}

impl StoreError {
    /// The database cannot be reached right now (stopped, restarting, out of
    /// connections, or every connection busy past the pool's short wait):
    /// nothing was done, and the same request may succeed shortly.
    pub fn is_unavailable(&self) -> bool {
        let err = match self {
            StoreError::Unavailable => return true,
            StoreError::Database(err) => err,
            _ => return false,
        };
        match err {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // PostgreSQL: connection exceptions (08), shutdown and crash
            // recovery (57P), resources (53); SQLite: busy or locked too long.
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code.starts_with("53")
                    || code == "5"
                    || code == "6"
            }),
            _ => false,
        }
    }

    /// Text the database cannot take (PostgreSQL refuses the NUL character,
    /// even to compare): the caller's input was wrong, not the store.
    pub fn is_bad_text(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("22021"))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// What a viewer may read, derived from the viewer alone.
#[derive(Clone, Debug, PartialEq)]
pub enum Scope {
    /// Founders and admins: every workspace, every visibility.
    Platform,
    /// Members: only these grants (none means nothing at all).
    Grants(Vec<Grant>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub workspace_id: i64,
    pub brand: Option<String>,
    pub visibilities: Vec<Visibility>,
}

impl Scope {
    /// Every record, of every visibility, of one workspace (`None`: of all):
    /// what a read key, a webhook endpoint or a log stream sees.
    pub fn whole_workspace(workspace_id: Option<i64>) -> Scope {
        match workspace_id {
            Some(workspace_id) => {
                Scope::Grants(vec![Grant { workspace_id, brand: None, visibilities: Visibility::ALL.to_vec() }])
            }
            None => Scope::Platform,
        }
    }

    pub fn for_viewer(viewer: &Viewer) -> Scope {
        let visibilities = match viewer.role {
            Role::Founder | Role::Admin => return Scope::Platform,
            Role::Provider => vec![Visibility::Internal, Visibility::Client],
            Role::Client => vec![Visibility::Client],
        };
        Scope::Grants(
            viewer
                .memberships
                .iter()
                .map(|m| Grant {
                    workspace_id: m.workspace_id,
                    // Providers see the whole workspace; a client's brand limit applies.
                    brand: if viewer.role == Role::Client { m.brand.clone() } else { None },
                    visibilities: visibilities.clone(),
                })
                .collect(),
        )
    }
}

/// A validated record ready to be written. Built by the ingest API and the demo.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRecord {
    pub id: Uuid,
    pub workspace_id: i64,
    pub event_id: Option<String>,
    pub brand: Option<String>,
    pub kind: Kind,
    pub key: String,
    pub message: Option<String>,
    pub context: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub actor_name: Option<String>,
    pub actor_label: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub visibility: Visibility,
    pub severity: Severity,
    pub status: Option<Status>,
    pub duration_ms: Option<i64>,
    pub provider: Option<String>,
    pub error_message: Option<String>,
    pub error_stack: Option<String>,
    pub correlation_id: Option<String>,
    /// JSON text.
    pub payload: Option<String>,
    /// JSON text: `{"old": {...}, "new": {...}}`.
    pub diff: Option<String>,
    pub occurred_at: Micros,
    pub received_at: Micros,
}

impl NewRecord {
    /// The hash chain the record is a link of.
    pub fn chain(&self) -> ChainId {
        ChainId { workspace_id: self.workspace_id, kind: self.kind }
    }
}

/// What happened to one ingest request's records.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InsertOutcome {
    /// One id per record, in request order; a duplicate gets the stored record's id.
    pub ids: Vec<Uuid>,
    pub duplicates: usize,
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Workspace {
    pub id: i64,
    pub slug: String,
    pub name: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
    /// How many times the password was set since the account was made.
    pub password_version: i64,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub password_hash: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyRecord {
    pub id: i64,
    /// `None`: the key spans workspaces and each record names its own.
    pub workspace_id: Option<i64>,
    /// The slug of `workspace_id`.
    pub workspace: Option<String>,
    pub scopes: Vec<String>,
    pub revoked: bool,
    pub last_used_at: Option<Micros>,
}

#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub workspace_id: Option<i64>,
    pub name: String,
    /// The first characters of the key, to recognise it in a list.
    pub prefix: String,
    pub key_hash: String,
    pub scopes: Vec<String>,
}

/// A webhook endpoint to create.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub workspace_id: Option<i64>,
    pub url: String,
    pub description: String,
    pub format: WebhookFormat,
    pub records: Option<String>,
    pub alerts: bool,
    /// `whsec_…`: kept, since signing needs it.
    pub secret: String,
    pub created_at: Micros,
}

/// A log stream to create.
#[derive(Clone, Debug)]
pub struct NewLogStream {
    pub workspace_id: Option<i64>,
    pub destination: Destination,
    pub target: String,
    /// HTTP: the batches' signing secret.
    pub secret: Option<String>,
    pub created_at: Micros,
}

/// An alert rule to create.
#[derive(Clone, Debug)]
pub struct NewAlertRule {
    pub name: String,
    pub workspace_id: Option<i64>,
    pub query: String,
    pub condition: AlertCondition,
    pub window_seconds: i64,
    pub cooldown_seconds: i64,
    pub endpoints: Vec<i64>,
    /// Where its counting starts: records committed before it are not counted.
    pub position: StreamPosition,
    /// The newest matching record's time when it was made (absence rules
    /// count from it, or from the rule's creation when there is none).
    pub last_match_at: Micros,
    pub created_at: Micros,
}

/// What one evaluation of a rule adds to its roll-up and state.
#[derive(Clone, Debug, Default)]
pub struct AlertFold {
    pub rule_id: i64,
    /// The position read before (the fold is dropped if another evaluator moved it).
    pub from: StreamPosition,
    /// Every matching record up to here is folded in.
    pub through: StreamPosition,
    /// Matching records by group and slot of the roll-up.
    pub slots: Vec<(i64, AlertTotals)>,
    /// Per group: the newest match's time and record, and how many matched.
    pub seen: Vec<AlertSeen>,
    /// The window's first slot; those before it are removed.
    pub window_slot: i64,
}

impl AlertFold {
    /// Nothing new was read.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.seen.is_empty() && self.from == self.through
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertSeen {
    pub group: String,
    pub last_match_at: Micros,
    pub last_record: Uuid,
    pub matches: i64,
}

/// A group of a rule starts or stops firing; `record` says so.
#[derive(Clone, Debug)]
pub struct AlertChange {
    pub rule_id: i64,
    pub group: String,
    pub firing: bool,
    pub at: Micros,
    pub record: NewRecord,
}

/// Decides from a rule's window totals (per group) and its states, after
/// its fold, which groups fire or resolve.
pub type DecideAlert<'a> = dyn Fn(i64, &[AlertTotals], &[AlertState]) -> Vec<AlertChange> + Send + Sync + 'a;

/// A log stream as its exporter needs it.
#[derive(Clone, Debug)]
pub struct LogStreamTarget {
    pub stream: LogStream,
    pub secret: Option<String>,
}

/// A change to workspaces, users, memberships or keys (see `Store::apply`).
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    CreateWorkspace {
        slug: &'a str,
        name: &'a str,
    },
    /// A user and, for member roles, their membership: (workspace id, brand).
    CreateUser {
        user: &'a NewUser,
        membership: Option<(i64, Option<&'a str>)>,
    },
    /// Sets what is given, keeps the rest.
    UpdateUser {
        user_id: i64,
        role: Option<Role>,
        disabled: Option<bool>,
    },
    GrantMembership {
        user_id: i64,
        workspace_id: i64,
        brand: Option<&'a str>,
    },
    RevokeMembership {
        user_id: i64,
        workspace_id: i64,
    },
    CreateApiKey(&'a NewApiKey),
    RevokeApiKey {
        id: i64,
        at: Micros,
    },
    /// A new password (its hash) for a user, in place of `before` (the
    /// hash the change was decided on).
    SetPassword {
        user_id: i64,
        password_hash: &'a str,
        before: &'a str,
    },
    /// A kind's period: the platform default (no workspace), or a workspace's override.
    SetRetention {
        workspace_id: Option<i64>,
        kind: Kind,
        period: Period,
    },
    /// A workspace's override removed: the platform default applies again.
    ClearRetention {
        workspace_id: i64,
        kind: Kind,
    },
    CreateWebhook(&'a NewWebhook),
    CreateLogStream(&'a NewLogStream),
    RemoveLogStream {
        id: i64,
    },
    RemoveWebhook {
        id: i64,
    },
    /// Enables a disabled endpoint again; its waiting messages go out.
    EnableWebhook {
        id: i64,
    },
    /// A new secret; the current one keeps signing until `previous_until`.
    RotateWebhook {
        id: i64,
        secret: &'a str,
        previous_until: Micros,
    },
    CreateAlertRule(&'a NewAlertRule),
    RemoveAlertRule {
        id: i64,
    },
}

/// What a [`Change`] did, read inside its transaction, so its audit records
/// tell the state before and after exactly.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Workspace(Workspace),
    User {
        id: i64,
    },
    UserUpdated {
        before: UserState,
        after: UserState,
        /// Brand limits lifted (`workspace/brand`): they hold for clients
        /// only, so a client given another role sees whole workspaces (the
        /// limits would have stood on the page while applying to nothing).
        brands_lifted: Vec<String>,
    },
    /// The membership's brand before (`None`: there was no membership) and now.
    MembershipGranted {
        before: Option<Option<String>>,
        brand: Option<String>,
    },
    MembershipRevoked {
        brand: Option<String>,
    },
    ApiKey {
        id: i64,
    },
    /// `None` when the key was revoked already.
    ApiKeyRevoked(Option<ApiKeySummary>),
    /// The password's new version.
    PasswordSet {
        version: i64,
    },
    /// The period set before (`None`: the workspace had no override).
    RetentionSet {
        before: Option<Period>,
    },
    /// The endpoint created, removed or rotated (as it was before a removal).
    Webhook(WebhookEndpoint),
    /// The log stream created or removed (as it was before a removal).
    LogStream(LogStream),
    /// The alert rule created or removed (as it was before a removal).
    AlertRule(AlertRule),
}

/// A message due to be sent, claimed by one sender until its lease ends.
#[derive(Clone, Debug)]
pub struct ClaimedMessage {
    /// `webhook-id`.
    pub id: String,
    pub endpoint: WebhookTarget,
    pub kind: MessageKind,
    /// A record's message is built from the record when sent.
    pub record_id: Option<Uuid>,
    pub body: Option<String>,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// Where a claimed message goes, and what signs it.
#[derive(Clone, Debug)]
pub struct WebhookTarget {
    pub id: i64,
    pub url: String,
    pub format: WebhookFormat,
    pub secret: String,
    /// The rotated-out secret, while it still signs.
    pub previous_secret: Option<String>,
    pub failing_since: Option<Micros>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Record,
    Alert,
    Test,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Record => "record",
            MessageKind::Alert => "alert",
            MessageKind::Test => "test",
        }
    }
}

/// What one attempt to send a message came to.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub at: Micros,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub next: AttemptNext,
    /// Whether the endpoint was tried (not a record that could not be read):
    /// only then does a failure count against the endpoint.
    pub endpoint_tried: bool,
}

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttemptNext {
    Delivered,
    /// Try again then.
    RetryAt(Micros),
    /// No attempt is left (or the record is gone): the message failed.
    Failed,
    /// The receiver said the endpoint is gone (`410`), or it failed for
    /// too long: the endpoint is disabled, and the message failed.
    DisableEndpoint,
}

/// A message to queue outside a record's transaction (a test, an alert).
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub endpoint_id: i64,
    pub kind: MessageKind,
    pub body: String,
    pub at: Micros,
}

/// The parts of a user an update changes.
#[derive(Clone, Debug, PartialEq)]
pub struct UserState {
    pub email: String,
    pub role: Role,
    pub disabled: bool,
}

/// Records of `kind` in the workspace received before `before` are past their period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cutoff {
    pub workspace_id: i64,
    pub kind: Kind,
    pub before: Micros,
}

/// What a purge removed from one workspace's records of one kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Purged {
    pub workspace_id: i64,
    pub kind: Kind,
    pub removed: u64,
}

/// Background work that one server at a time does, however many share the
/// database (`Store::job_lock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Job {
    /// The retention purge.
    Purge,
    /// The background verification of the chains.
    IntegrityCheck,
    /// The log streams' export.
    LogStreams,
    /// The alert rules' evaluation.
    Alerts,
}

/// Held while doing a [`Job`]; dropping it lets another server do it.
pub struct JobGuard(pub Box<dyn std::any::Any + Send>);

/// A job's turn kept across passes while there is work: taking it costs a
/// connection of its own on PostgreSQL, too much to take at every pass. A
/// server that stops lets it go with its connection.
pub struct Turn {
    job: Job,
    held: Option<JobGuard>,
}

impl Turn {
    pub fn new(job: Job) -> Self {
        Turn { job, held: None }
    }

    /// Whether this server does the job now: with `work` it takes the turn
    /// (unless another server has it); without, it lets the turn go.
    pub async fn hold(&mut self, store: &dyn Store, work: bool) -> bool {
        if !work {
            self.held = None;
            return false;
        }
        if self.held.is_none() {
            self.held = store.job_lock(self.job).await.ok().flatten();
        }
        self.held.is_some()
    }
}

/// Signs what the store vouches for: digests of chains, retention cuts.
pub trait Signer: Send + Sync {
    /// The Ed25519 signature of `message`, in hex.
    fn sign(&self, message: &[u8]) -> String;
    /// The public key that checks it, in hex.
    fn public_key(&self) -> String;
    /// Whether `signature` (hex) is this key's over `message`.
    fn verifies(&self, message: &[u8], signature: &str) -> bool;
}

/// Makes the audit records of an applied change.
pub type AuditOf<'a> = dyn Fn(&Applied) -> Vec<NewRecord> + Send + Sync + 'a;

/// One page in (occurred_at, id) order: the rows after `cursor` in `order`.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub cursor: Option<Cursor>,
    pub limit: usize,
    pub order: Order,
}

impl Page {
    /// The first `limit` rows, newest first.
    pub fn newest(limit: usize) -> Self {
        Page { cursor: None, limit, order: Order::NewestFirst }
    }

    /// `limit` rows and one more, which tells whether another page follows
    /// (see `finish_page`).
    pub fn probing(cursor: Option<Cursor>, limit: usize, order: Order) -> Self {
        Page { cursor, limit: limit + 1, order }
    }
}

/// Cuts the rows of a `Page::probing` back to `limit`; returns the encoded
/// cursor of the next page, if there is one.
pub fn finish_page<T>(rows: &mut Vec<T>, limit: usize, cursor_of: impl Fn(&T) -> Cursor) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|row| cursor_of(row).encode())
}

/// At most `most` sign-in attempts counted under `key` since `since`.
#[derive(Clone, Debug)]
pub struct AttemptLimit {
    pub key: String,
    pub since: Micros,
    pub most: i64,
}

/// Records after a position, in commit order: what the live stream sends next.
#[derive(Clone, Debug, Default)]
pub struct StreamBatch {
    pub records: Vec<(StreamPosition, EventDetail)>,
    /// Committed records exist that cannot be sent yet, because an older
    /// transaction is still running (PostgreSQL): ask again shortly.
    pub held_back: bool,
    /// When the batch was not cut short: every matching record up to this
    /// position is in it, so the next read may start here.
    pub through: Option<StreamPosition>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> &'static str;
    /// How many groups of records may be written at once: 1 where the
    /// database has a single writer (SQLite), more where it has row locks.
    fn concurrent_writes(&self) -> usize;
    /// A trivial query: is the database reachable?
    async fn ping(&self) -> StoreResult<()>;
    /// Connections per pool: (pool, open, idle).
    fn pool_use(&self) -> Vec<(&'static str, u32, usize)>;

    // Workspaces, users, keys.
    async fn workspace_by_slug(&self, slug: &str) -> StoreResult<Option<Workspace>>;
    async fn workspaces(&self) -> StoreResult<Vec<Workspace>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRecord>>;
    /// The user with their memberships, in one query.
    async fn user_summary(&self, user_id: i64) -> StoreResult<Option<UserSummary>>;
    /// Every user with their memberships, by email.
    async fn users(&self) -> StoreResult<Vec<UserSummary>>;
    async fn api_keys(&self) -> StoreResult<Vec<ApiKeySummary>>;
    /// Every webhook endpoint.
    async fn webhooks(&self) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Every log stream, with what its exporter needs.
    async fn log_streams(&self) -> StoreResult<Vec<LogStreamTarget>>;
    /// Log stream `id` exported `count` more records, up to `position`.
    /// Whether it moved: not when the stream was removed, or another
    /// exporter took it further.
    async fn advance_log_stream(&self, id: i64, position: StreamPosition, count: i64, at: Micros) -> StoreResult<bool>;
    /// Log stream `id` could not export (`None`: it can again).
    async fn log_stream_error(&self, id: i64, error: Option<&str>) -> StoreResult<()>;
    /// An endpoint's recent deliveries, newest first.
    async fn webhook_deliveries(&self, endpoint_id: i64, limit: usize) -> StoreResult<Vec<Delivery>>;
    /// Queues a message that is not a record's (those are queued with the record).
    async fn queue_message(&self, message: &NewMessage) -> StoreResult<String>;
    /// Makes message `id` due now (a pending or failed one, not one being
    /// sent); whether there was one.
    async fn retry_message_now(&self, id: &str, now: Micros) -> StoreResult<bool>;
    /// Claims up to `limit` messages due at `now` for this sender until
    /// `lease_until`, none of the endpoints `busy`; with several servers
    /// each message goes to one.
    async fn claim_messages(
        &self,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        busy: &[i64],
    ) -> StoreResult<Vec<ClaimedMessage>>;
    /// Records attempts' outcomes on their messages (and endpoints), in one
    /// transaction: a sender's round costs one write. The endpoints these
    /// outcomes disabled (each once: one disabled already is not again).
    async fn finish_attempts(&self, attempts: &[(ClaimedMessage, Attempt)]) -> StoreResult<Vec<i64>>;
    /// May answer from a copy up to a second old; a revocation through `apply` on the same store clears it.
    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;
    async fn touch_api_key(&self, id: i64, at: Micros) -> StoreResult<()>;
    /// Makes `change` and writes the records `audit` makes of what it did, in
    /// one transaction: a change that fails leaves no record, and a change
    /// that is made always has its records.
    async fn apply(&self, change: Change<'_>, audit: &AuditOf<'_>) -> StoreResult<Applied>;

    // Sign-in throttling (the server's `auth::throttle`), counted in the
    // database: every server sees every server's attempts.
    /// Counts an attempt under each of `keys` (their ids, in order), unless
    /// one of `limits` is reached (`None`). Attempts are counted one at a
    /// time, across servers; those before `forget_before` are dropped.
    async fn count_attempt(
        &self,
        limits: &[AttemptLimit],
        keys: &[String],
        now: Micros,
        forget_before: Micros,
    ) -> StoreResult<Option<Vec<i64>>>;
    /// A right password: takes back the attempts `ids`, forgets every
    /// attempt under `forgive`, and remembers that `known` signed in `now`.
    async fn attempt_succeeded(&self, ids: &[i64], forgive: &str, known: &str, now: Micros) -> StoreResult<()>;
    /// When the (account, address) `pair` last signed in.
    async fn known_since(&self, pair: &str) -> StoreResult<Option<Micros>>;

    // One-time notices (`crate::context::Notices`), sealed before they come here.
    /// Keeps a notice for `session` (a hash of its id) until `expires_at`,
    /// in place of any earlier one of the session.
    async fn put_notice(&self, id: &str, session: &str, sealed: &[u8], expires_at: Micros) -> StoreResult<()>;
    /// Removes and returns the notice, if it is `session`'s and not expired.
    async fn take_notice(&self, id: &str, session: &str) -> StoreResult<Option<Vec<u8>>>;

    // Retention.
    async fn retention(&self) -> StoreResult<Retention>;
    /// Deletes every record past its cutoff in one pass over the records in
    /// the order received, `window` records per transaction with `pause`
    /// between them, with their chain links; each chain's new cut is signed
    /// by `signer`. How many went, per workspace and kind.
    async fn purge(
        &self,
        cutoffs: &[Cutoff],
        window: usize,
        pause: Duration,
        signer: &dyn Signer,
    ) -> StoreResult<Vec<Purged>>;
    /// Whether this server may do `job` now: with several servers on one
    /// database, one at a time. It may while the guard lives.
    async fn job_lock(&self, job: Job) -> StoreResult<Option<JobGuard>>;

    // Integrity (docs/integrity.md): unscoped, for verification, digests and
    // proofs; a proof checks the reader's scope first.
    /// Every chain's head.
    async fn chain_heads(&self) -> StoreResult<Vec<ChainHead>>;
    /// Up to `limit` links of a chain after link `after`, in order.
    async fn chain_links(&self, chain: ChainId, after: i64, limit: usize) -> StoreResult<Vec<ChainLink>>;
    /// The records, as stored, that links `from..=to` of a chain point at.
    async fn linked_records(&self, chain: ChainId, from: i64, to: i64) -> StoreResult<Vec<StoredRecord>>;
    /// Up to `limit` records (of one workspace, or any) that are in no chain:
    /// id, workspace id, kind as stored.
    async fn unlinked_records(&self, workspace_id: Option<i64>, limit: usize) -> StoreResult<Vec<(Uuid, i64, String)>>;
    /// A record's chain and link.
    async fn link_of(&self, record_id: Uuid) -> StoreResult<Option<(ChainId, ChainLink)>>;
    /// Digests of some chains in order of chain and link ([`DigestQuery`]).
    async fn digests(&self, query: DigestQuery<'_>) -> StoreResult<Vec<Digest>>;
    /// Signs each chain (or just `chain`) that grew since its last digest,
    /// one signer at a time however many servers share the database; the new digests.
    async fn sign_heads(&self, signer: &dyn Signer, chain: Option<ChainId>) -> StoreResult<Vec<Digest>>;
    async fn integrity_status(&self) -> StoreResult<Option<IntegrityStatus>>;
    async fn set_integrity_status(&self, status: &IntegrityStatus) -> StoreResult<()>;

    // Records.
    /// Writes every request's records in one transaction (group commit).
    /// Duplicates by (workspace, event_id) are stored once.
    async fn insert_records(&self, requests: &[Vec<NewRecord>]) -> StoreResult<Vec<InsertOutcome>>;
    /// Indexes for search up to `limit` of the records stored before the
    /// index or marked by `reindex`; how many, `None` once none is left.
    async fn index_backlog(&self, limit: usize) -> StoreResult<Option<usize>>;
    /// Marks every record to be indexed for search again (after records were
    /// loaded into the database behind the server's back).
    async fn reindex(&self) -> StoreResult<()>;
    /// Upkeep the writer runs between groups, after answering them: SQLite
    /// moves its staged records into the main table once enough have gathered.
    async fn compact(&self) -> StoreResult<()>;
    /// The feed: newest first, within the scope and the filter.
    async fn list_events(&self, scope: &Scope, filter: &EventFilter, page: Page) -> StoreResult<Vec<EventRow>>;
    /// Records received after `after` (a UUIDv7 lower bound), newest first: the live feed's poll.
    async fn events_received_after(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        after: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>>;
    /// Like `list_events`, with every field (payload, diff, stack).
    async fn list_event_details(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: Page,
    ) -> StoreResult<Vec<EventDetail>>;
    /// One record, if the scope may see it.
    async fn event_by_id(&self, scope: &Scope, id: Uuid) -> StoreResult<Option<EventDetail>>;
    /// Records by id (those found), within the scope.
    async fn events_by_ids(&self, scope: &Scope, ids: &[Uuid]) -> StoreResult<Vec<EventDetail>>;
    // The live stream (docs/architecture.md, "Live stream").
    /// Changes after every commit that wrote records: through this server at
    /// once, through another on the same PostgreSQL database when its
    /// notification arrives. A wake-up only; the records are read from the database.
    fn commits(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Where a new subscription starts: after every record it will not be sent.
    async fn stream_start(&self) -> StoreResult<StreamPosition>;
    /// Up to `limit` records after `after` in commit order, within the scope
    /// and the filter, with every field. Never one that a transaction still
    /// running could be committed before.
    async fn stream_after(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        after: StreamPosition,
        limit: usize,
    ) -> StoreResult<StreamBatch>;
    /// Every alert rule with its endpoints and states.
    async fn alert_rules(&self) -> StoreResult<Vec<AlertRule>>;
    /// Folds each rule's new matches into its roll-up and state, then asks
    /// `decide` what fires or resolves and writes that with its records and
    /// their alert messages, all in one transaction. The changes made.
    async fn alert_round(&self, folds: &[AlertFold], decide: &DecideAlert<'_>) -> StoreResult<usize>;
    /// Totals, histogram, keys, actors and operations of a window, from the roll-ups.
    async fn stats(
        &self,
        scope: &Scope,
        workspace: Option<&str>,
        window: StatsWindow,
        now: Micros,
    ) -> StoreResult<Stats>;
}

pub type DynStore = Arc<dyn Store>;
