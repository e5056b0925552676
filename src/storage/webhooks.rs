//! Statements of webhook endpoints and their outbox (migration `webhooks`).

use app::model::{Delivery, Micros, WebhookEndpoint, WebhookFormat};
use app::store::{Attempt, AttemptNext, ClaimedMessage, MessageKind, NewMessage, NewWebhook, WebhookTarget};
use uuid::Uuid;

use super::statement::{Dialect, Sql};

/// A new message's id (`webhook-id`): the same on every attempt.
pub fn message_id() -> String {
    format!("msg_{}", Uuid::now_v7().simple())
}

/// A new message's id made by the database, for messages queued by a
/// statement: `msg_` and 32 random hex digits.
pub fn new_message_id(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "'msg_' || lower(hex(randomblob(16)))",
        Dialect::Postgres => "'msg_' || replace(gen_random_uuid()::text, '-', '')",
    }
}

const ENDPOINT_COLUMNS: &str = "ep.id, w.slug AS workspace, ep.workspace_id, ep.url, ep.description, ep.format, \
     ep.records, ep.alerts, ep.enabled, ep.disabled_reason, ep.failing_since, ep.previous_secret_until, ep.created_at";

fn select_endpoints(q: &mut Sql<'_, '_>) {
    q.push(format_args!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ep LEFT JOIN workspaces w ON w.id = ep.workspace_id"
    ));
}

pub fn endpoints(q: &mut Sql<'_, '_>) {
    select_endpoints(q);
    q.push(" ORDER BY ep.id");
}

pub fn endpoint(q: &mut Sql<'_, '_>, id: i64) {
    select_endpoints(q);
    q.push(" WHERE ep.id = ").bind(id);
}

/// The endpoints that take records, for the outbox.
pub fn record_routes(q: &mut Sql<'_, '_>) {
    q.push("SELECT id, workspace_id, records FROM webhook_endpoints WHERE enabled AND records IS NOT NULL");
}

pub fn create_endpoint<'a>(q: &mut Sql<'_, 'a>, new: &'a NewWebhook) {
    q.push(
        "INSERT INTO webhook_endpoints (workspace_id, url, description, format, records, alerts, secret, created_at) \
         VALUES (",
    );
    q.bind(new.workspace_id).push(", ").bind(new.url.as_str()).push(", ").bind(new.description.as_str());
    q.push(", ").bind(new.format.as_str()).push(", ").bind(new.records.as_deref()).push(", ").bind(new.alerts);
    q.push(", ").bind(new.secret.as_str()).push(", ").bind(new.created_at.0).push(") RETURNING id");
}

pub fn enable_endpoint(q: &mut Sql<'_, '_>, id: i64) {
    q.push("UPDATE webhook_endpoints SET enabled = ").bind(true);
    q.push(", disabled_reason = NULL, failing_since = NULL WHERE id = ").bind(id);
}

pub fn remove_endpoint(q: &mut Sql<'_, '_>, id: i64) {
    q.push("DELETE FROM webhook_endpoints WHERE id = ").bind(id);
}

/// The current secret becomes the previous one, signing until `previous_until`.
pub fn rotate_secret<'a>(q: &mut Sql<'_, 'a>, id: i64, secret: &'a str, previous_until: Micros) {
    q.push("UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = ").bind(previous_until.0);
    q.push(", secret = ").bind(secret).push(" WHERE id = ").bind(id);
}

pub fn queue_message<'a>(q: &mut Sql<'_, 'a>, id: &'a str, message: &'a NewMessage) {
    q.push("INSERT INTO webhook_messages (id, endpoint_id, body, kind, next_attempt_at, created_at) VALUES (");
    q.bind(id).push(", ").bind(message.endpoint_id).push(", ").bind(message.body.as_str());
    q.push(", ").bind(message.kind.as_str()).push(", ").bind(message.at.0).push(", ").bind(message.at.0).push(")");
}

/// Message `id` due now, unless delivered or being sent (its lease still
/// runs): freed from a live lease, it would go out twice at once. A message
/// already due keeps its time: moved to `now`, it could stay just ahead of a
/// sender's round that read the clock a moment before, retry after retry.
pub fn retry_now<'a>(q: &mut Sql<'_, 'a>, id: &'a str, now: Micros) {
    q.push("UPDATE webhook_messages SET status = 'pending', claimed_until = NULL, next_attempt_at = ");
    q.push("CASE WHEN next_attempt_at < ").bind(now.0).push(" THEN next_attempt_at ELSE ").bind(now.0).push(" END");
    q.push(" WHERE id = ").bind(id).push(" AND status <> 'delivered'");
    q.push(" AND (claimed_until IS NULL OR claimed_until < ").bind(now.0).push(")");
}

/// Leases up to `limit` due messages of enabled endpoints but the `busy`
/// ones to the caller; PostgreSQL skips rows another sender is claiming at
/// the same moment.
pub fn claim<'a>(q: &mut Sql<'_, 'a>, now: Micros, lease_until: Micros, limit: usize, busy: &'a [i64]) {
    q.push("UPDATE webhook_messages SET claimed_until = ").bind(lease_until.0);
    q.push(
        " WHERE id IN (SELECT m.id FROM webhook_messages m \
         JOIN webhook_endpoints ep ON ep.id = m.endpoint_id AND ep.enabled \
         WHERE m.status = 'pending' AND m.next_attempt_at <= ",
    )
    .bind(now.0);
    q.push(" AND (m.claimed_until IS NULL OR m.claimed_until < ").bind(now.0).push(")");
    if !busy.is_empty() {
        q.push(" AND m.endpoint_id NOT IN (");
        q.join(busy, ", ", |q, id| _ = q.bind(*id));
        q.push(")");
    }
    q.push(" ORDER BY m.next_attempt_at LIMIT ").bind(limit as i64);
    if q.dialect() == Dialect::Postgres {
        q.push(" FOR UPDATE OF m SKIP LOCKED");
    }
    q.push(") RETURNING id");
}

/// The claimed messages with their endpoints.
pub fn claimed<'a>(q: &mut Sql<'_, 'a>, ids: &'a [String]) {
    q.push(
        "SELECT m.id, m.kind, m.record_id, m.body, m.attempts, ep.id AS endpoint_id, ep.url, ep.format, ep.secret, \
         ep.previous_secret, ep.previous_secret_until, ep.failing_since \
         FROM webhook_messages m JOIN webhook_endpoints ep ON ep.id = m.endpoint_id WHERE m.id IN (",
    );
    q.join(ids, ", ", |q, id| _ = q.bind(id.as_str()));
    q.push(") ORDER BY m.next_attempt_at");
}

/// Attempts' outcomes per statement: 8 values each.
pub const OUTCOMES_PER_STATEMENT: usize = 512;

/// Writes attempts' outcomes on their messages, in one statement.
pub fn finish_messages<'a>(q: &mut Sql<'_, 'a>, attempts: &'a [(ClaimedMessage, Attempt)]) {
    q.push(
        "UPDATE webhook_messages SET status = v.column2, attempts = webhook_messages.attempts + v.column8, \
         claimed_until = NULL, last_attempt_at = v.column3, last_status = v.column4, last_error = v.column5, \
         last_duration_ms = v.column6, \
         delivered_at = CASE WHEN v.column2 = 'delivered' THEN v.column3 ELSE webhook_messages.delivered_at END, \
         next_attempt_at = COALESCE(v.column7, webhook_messages.next_attempt_at) FROM (VALUES ",
    );
    q.join(attempts, ", ", |q, (message, attempt)| {
        let (status, retry_at, counted) = match attempt.next {
            AttemptNext::Delivered => ("delivered", None, 1),
            AttemptNext::RetryAt(at) => ("pending", Some(at.0), 1),
            // Its endpoint is disabled: it waits, due once the endpoint is
            // enabled again, with the attempts of its schedule still its own.
            AttemptNext::DisableEndpoint => ("pending", Some(attempt.at.0), 0),
            AttemptNext::Failed => ("failed", None, 1),
        };
        q.push("(").bind(message.id.as_str()).push(", ").bind(status).push(", ").bind(attempt.at.0);
        q.push(", ").bind(attempt.status.map(i32::from)).push(", ").bind(attempt.error.as_deref());
        q.push(", ").bind(attempt.duration_ms).push(", ").bind(retry_at).push(", ").bind(counted).push(")");
    });
    q.push(") AS v WHERE webhook_messages.id = v.column1");
}

/// Writes an attempt's outcome on the endpoint: whether it is failing, since
/// when, and disabled when it must be (if enabled: a row changed says this
/// attempt disabled it).
pub fn finish_endpoint<'a>(q: &mut Sql<'_, 'a>, endpoint_id: i64, attempt: &'a Attempt) {
    q.push("UPDATE webhook_endpoints SET ");
    match attempt.next {
        AttemptNext::Delivered => _ = q.push("failing_since = NULL"),
        AttemptNext::RetryAt(_) | AttemptNext::Failed => {
            q.push("failing_since = COALESCE(failing_since, ").bind(attempt.at.0).push(")");
        }
        AttemptNext::DisableEndpoint => {
            q.push("enabled = ").bind(false).push(", disabled_reason = ").bind(attempt.error.as_deref());
        }
    }
    q.push(" WHERE id = ").bind(endpoint_id);
    match attempt.next {
        AttemptNext::Delivered => _ = q.push(" AND failing_since IS NOT NULL"), // only one that was failing
        AttemptNext::DisableEndpoint => _ = q.push(" AND enabled"),
        AttemptNext::RetryAt(_) | AttemptNext::Failed => {}
    }
}

pub fn deliveries(q: &mut Sql<'_, '_>, endpoint_id: i64, limit: usize) {
    q.push(
        "SELECT id, kind, status, attempts, last_status, last_error, last_attempt_at, next_attempt_at, created_at \
         FROM webhook_messages WHERE endpoint_id = ",
    )
    .bind(endpoint_id);
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ").bind(limit as i64);
}

fn format_of(text: &str) -> WebhookFormat {
    WebhookFormat::parse(text).unwrap_or(WebhookFormat::Trail) // the table's CHECK allows only these
}

#[derive(sqlx::FromRow)]
pub struct EndpointRow {
    id: i64,
    workspace: Option<String>,
    #[allow(dead_code)] // selected for the join; the slug is what is shown
    workspace_id: Option<i64>,
    url: String,
    description: String,
    format: String,
    records: Option<String>,
    alerts: bool,
    enabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<i64>,
    previous_secret_until: Option<i64>,
    created_at: i64,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id,
            workspace: row.workspace,
            url: row.url,
            description: row.description,
            format: format_of(&row.format),
            records: row.records,
            alerts: row.alerts,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since.map(Micros),
            previous_secret_until: row.previous_secret_until.map(Micros),
            created_at: Micros(row.created_at),
        }
    }
}

/// An endpoint that takes records: where and which.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RouteRow {
    pub id: i64,
    pub workspace_id: Option<i64>,
    pub records: String,
}

#[derive(sqlx::FromRow)]
pub struct ClaimedRow {
    id: String,
    kind: String,
    record_id: Option<Uuid>,
    body: Option<String>,
    attempts: i32,
    endpoint_id: i64,
    url: String,
    format: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
    failing_since: Option<i64>,
}

impl ClaimedRow {
    /// The message, with the previous secret only while it still signs at `now`.
    pub fn into_claimed(self, now: Micros) -> ClaimedMessage {
        let previous_secret = self.previous_secret.filter(|_| self.previous_secret_until.is_some_and(|t| t > now.0));
        let kind = match self.kind.as_str() {
            "alert" => MessageKind::Alert,
            "test" => MessageKind::Test,
            _ => MessageKind::Record,
        };
        ClaimedMessage {
            id: self.id,
            endpoint: WebhookTarget {
                id: self.endpoint_id,
                url: self.url,
                format: format_of(&self.format),
                secret: self.secret,
                previous_secret,
                failing_since: self.failing_since.map(Micros),
            },
            kind,
            record_id: self.record_id,
            body: self.body,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    id: String,
    kind: String,
    status: String,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    last_attempt_at: Option<i64>,
    next_attempt_at: i64,
    created_at: i64,
}

impl From<DeliveryRow> for Delivery {
    fn from(row: DeliveryRow) -> Self {
        let pending = row.status == "pending";
        Delivery {
            id: row.id,
            kind: row.kind,
            status: row.status,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
            last_attempt_at: row.last_attempt_at.map(Micros),
            next_attempt_at: pending.then_some(Micros(row.next_attempt_at)),
            created_at: Micros(row.created_at),
        }
    }
}
