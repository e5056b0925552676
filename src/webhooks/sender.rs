//! Sends the outbox's messages: claims the due ones (with several servers,
//! each message is claimed by one), posts each signed, and records the
//! outcome — delivered, retried later on the schedule, or failed (then a
//! critical record says so). A `410` disables the endpoint, and so do five
//! days of failures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::audit::{Actor, Entry};
use app::model::{EventDetail, Micros, WebhookFormat, HOUR_US};
use app::store::{Attempt, AttemptNext, ClaimedMessage, DynStore, MessageKind, Scope};
use rand::Rng;
use serde_json::json;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::addresses::{refuse_private_literal, Guard};
use super::signature::{self, Secret};
use crate::api::record::ApiRecord;

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// A claim outlasts one attempt: a sender that dies lets its messages go then.
const LEASE: Duration = Duration::from_secs(60);
/// Messages claimed per statement.
const ROUND: usize = 32;
/// Messages being sent (or their outcomes written) at once.
const IN_FLIGHT: usize = 256;
/// Messages of one endpoint being sent at once, at most (one claim past
/// it): a receiver that hangs holds these, the other endpoints the rest.
const PER_ENDPOINT: usize = 32;
/// Due retries are looked for at least this often.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// The longest wait a `Retry-After` may ask for.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// An endpoint whose every attempt failed this long is disabled.
const FAILING_LIMIT_US: i64 = 5 * 24 * HOUR_US;

/// The specification's schedule: the wait after each failed attempt (the
/// first attempt is immediate), so ten attempts over about three days.
pub const DEFAULT_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// How the sender behaves (from the configuration).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The waits after each failed attempt.
    pub schedule: Vec<Duration>,
    /// Whether loopback, private and link-local addresses may be posted to.
    pub allow_private: bool,
    /// Where the dashboard is reachable, for links in Slack messages.
    pub public_url: String,
}

/// Starts the sender; it runs as long as the server does.
pub fn spawn(store: DynStore, client: reqwest::Client, settings: Settings) {
    tokio::spawn(run(store, client, Arc::new(settings)));
}

/// The HTTP client: no redirects (a receiver cannot point the request
/// elsewhere), and names resolved through [`Guard`].
pub fn client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        // Through a proxy the guard would see only the proxy's address.
        .no_proxy()
        .dns_resolver(Arc::new(Guard { allow_private }))
        .user_agent(concat!("Trail-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

async fn run(store: DynStore, client: reqwest::Client, settings: Arc<Settings>) {
    let mut commits = store.commits();
    // A place per message from its claim until its outcome is written: the
    // sender claims again as soon as any is free. An endpoint with
    // `PER_ENDPOINT` messages out is not claimed for until some come back.
    let places = Arc::new(Semaphore::new(IN_FLIGHT));
    let sending = Arc::new(Sending::default());
    let outcomes = spawn_recorder(store.clone());
    loop {
        let room = places.available_permits().min(ROUND);
        if room == 0 {
            drop(places.acquire().await); // wait until an outcome is written
            continue;
        }
        let now = Micros::now();
        let lease_until = Micros(now.0 + LEASE.as_micros() as i64);
        let claimed = match store.claim_messages(now, lease_until, room, &sending.busy()).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim webhook messages");
                Vec::new()
            }
        };
        let more_due = claimed.len() == room;
        let records = Arc::new(read_records(&store, &claimed).await);
        for message in claimed {
            let Ok(place) = places.clone().acquire_owned().await else { return };
            let (client, settings, outcomes, records) =
                (client.clone(), settings.clone(), outcomes.clone(), records.clone());
            let sent = sending.start(message.endpoint.id);
            tokio::spawn(async move {
                let body = body(&settings, &message, &records);
                let attempt = attempt(&client, &settings, &message, body).await;
                drop(sent);
                // The recorder ends only with the server.
                let _ = outcomes.send(Outcome { message, attempt, place });
            });
        }
        if !more_due {
            tokio::select! {
                // A commit may have queued messages (the store is gone: just wait).
                Ok(()) = commits.changed() => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    }
}

/// How many messages of each endpoint are being sent.
#[derive(Default)]
struct Sending(std::sync::Mutex<HashMap<i64, usize>>);

impl Sending {
    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<i64, usize>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The endpoints with `PER_ENDPOINT` messages out.
    fn busy(&self) -> Vec<i64> {
        self.counts().iter().filter(|(_, &n)| n >= PER_ENDPOINT).map(|(&id, _)| id).collect()
    }

    /// Counts a message of `endpoint` out until the guard is dropped.
    fn start(self: &Arc<Self>, endpoint: i64) -> SendingGuard {
        *self.counts().entry(endpoint).or_default() += 1;
        SendingGuard { sending: self.clone(), endpoint }
    }
}

struct SendingGuard {
    sending: Arc<Sending>,
    endpoint: i64,
}

impl Drop for SendingGuard {
    fn drop(&mut self) {
        let mut counts = self.sending.counts();
        if let Some(n) = counts.get_mut(&self.endpoint) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.endpoint);
            }
        }
    }
}

/// An attempt's outcome, holding its message's place until it is written.
struct Outcome {
    message: ClaimedMessage,
    attempt: Attempt,
    place: OwnedSemaphorePermit,
}

/// Writes outcomes as they come, those that came together in one
/// transaction (one writer: no burst of transactions to exhaust a pool).
/// The records of messages that failed for good are written beside, so
/// they never hold up the outcomes behind them; an endpoint disabled gets
/// one record, by the outcome that disabled it (the store says which).
fn spawn_recorder(store: DynStore) -> mpsc::UnboundedSender<Outcome> {
    let (sender, mut outcomes) = mpsc::unbounded_channel::<Outcome>();
    tokio::spawn(async move {
        let mut batch = Vec::new();
        while outcomes.recv_many(&mut batch, IN_FLIGHT).await > 0 {
            let (attempts, places): (Vec<_>, Vec<_>) =
                batch.drain(..).map(|o| ((o.message, o.attempt), o.place)).unzip();
            let mut disabled = match store.finish_attempts(&attempts).await {
                Ok(disabled) => disabled,
                Err(err) => {
                    // The claims lapse and the messages are tried again.
                    tracing::error!(error = %err, "could not record {} webhook attempts", attempts.len());
                    continue;
                }
            };
            drop(places);
            let failures: Vec<(ClaimedMessage, Attempt)> = attempts
                .into_iter()
                .filter(|(message, attempt)| match attempt.next {
                    AttemptNext::Failed => true,
                    AttemptNext::DisableEndpoint => {
                        let first = disabled.iter().position(|&id| id == message.endpoint.id);
                        first.map(|at| disabled.swap_remove(at)).is_some()
                    }
                    _ => false,
                })
                .collect();
            if !failures.is_empty() {
                let store = store.clone();
                tokio::spawn(async move {
                    for (message, attempt) in &failures {
                        report_failure(&store, message, attempt).await;
                    }
                });
            }
        }
    });
    sender
}

/// The records of a claim's messages, in one read.
async fn read_records(store: &DynStore, claimed: &[ClaimedMessage]) -> Result<HashMap<Uuid, EventDetail>, String> {
    let ids: Vec<Uuid> = claimed.iter().filter(|m| m.body.is_none()).filter_map(|m| m.record_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found = store.events_by_ids(&Scope::Platform, &ids).await.map_err(|err| err.to_string())?;
    Ok(found.into_iter().map(|record| (record.row.id, record)).collect())
}

/// One attempt at `message` with its `body`: what it came to and what follows.
async fn attempt(
    client: &reqwest::Client,
    settings: &Settings,
    message: &ClaimedMessage,
    body: Result<Option<String>, String>,
) -> Attempt {
    let started = Instant::now();
    let at = Micros::now();
    let finish = |status: Option<u16>, error: Option<String>, next: AttemptNext, endpoint_tried: bool| Attempt {
        at,
        status,
        error,
        duration_ms: started.elapsed().as_millis() as i64,
        next,
        endpoint_tried,
    };
    let body = match body {
        Ok(Some(body)) => body,
        Ok(None) => return finish(None, Some("the record is gone (purged)".into()), AttemptNext::Failed, false),
        Err(err) => {
            let next = retry_or_fail(message, settings, None, at);
            return finish(None, Some(format!("could not read the record: {err}")), next, false);
        }
    };
    let (status, retry_after, error) = match post(client, settings, message, body).await {
        Ok((status, retry_after)) => (Some(status), retry_after, None),
        Err(err) => (None, None, Some(err)),
    };
    let next = match status {
        Some(200..=299) => AttemptNext::Delivered,
        Some(410) => AttemptNext::DisableEndpoint,
        _ if failing_too_long(message, at) => AttemptNext::DisableEndpoint,
        _ => retry_or_fail(message, settings, retry_after, at),
    };
    let error = error.or_else(|| status.filter(|s| !(200..300).contains(s)).map(|s| format!("answered {s}")));
    finish(status, error, next, true)
}

fn failing_too_long(message: &ClaimedMessage, now: Micros) -> bool {
    message.endpoint.failing_since.is_some_and(|since| now.0 - since.0 >= FAILING_LIMIT_US)
}

/// The next attempt on the schedule (never sooner than a `Retry-After`),
/// with ±10 % jitter so that retries of one outage spread; or none left.
fn retry_or_fail(
    message: &ClaimedMessage,
    settings: &Settings,
    retry_after: Option<Duration>,
    now: Micros,
) -> AttemptNext {
    let Some(wait) = settings.schedule.get(message.attempts as usize) else { return AttemptNext::Failed };
    let jittered = wait.mul_f64(rand::thread_rng().gen_range(0.9..=1.1));
    let wait = retry_after.map_or(jittered, |asked| asked.min(LONGEST_RETRY_AFTER).max(jittered));
    AttemptNext::RetryAt(Micros(now.0.saturating_add(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX))))
}

/// The message's body, from its claim's `records`; `None` when its record is gone.
fn body(
    settings: &Settings,
    message: &ClaimedMessage,
    records: &Result<HashMap<Uuid, EventDetail>, String>,
) -> Result<Option<String>, String> {
    if let Some(body) = &message.body {
        return Ok(Some(body.clone()));
    }
    let Some(id) = message.record_id else { return Ok(None) };
    let Some(record) = records.as_ref().map_err(Clone::clone)?.get(&id) else { return Ok(None) };
    let record = ApiRecord::from(record.clone());
    Ok(Some(match message.endpoint.format {
        WebhookFormat::Trail => {
            let kind = if message.kind == MessageKind::Alert { "trail.alert" } else { "trail.record" };
            json!({ "type": kind, "timestamp": record.received_at, "data": record }).to_string()
        }
        WebhookFormat::Slack => {
            let link = format!("{}/events/{}", settings.public_url.trim_end_matches('/'), record.id);
            json!({ "text": slack_text(&record, &link) }).to_string()
        }
    }))
}

/// One line: severity, workspace, key and message, and a link to the record.
fn slack_text(record: &ApiRecord, link: &str) -> String {
    let severity = record.severity.as_str().to_uppercase();
    let message = slack_escaped(record.message.as_deref().unwrap_or(""));
    let (workspace, key) = (slack_escaped(&record.workspace), slack_escaped(&record.key));
    format!("[{severity}] {workspace} · {key}: {message} <{link}|open in Trail>")
}

/// Text Slack shows as it is: a record's `<!channel>` or `<https://…|label>`
/// would otherwise ping a whole channel or disguise a link. Slack's own
/// rule: escape `&`, `<` and `>`, and nothing else.
fn slack_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Posts the signed body; the status and any `Retry-After`, or why no answer came.
async fn post(
    client: &reqwest::Client,
    settings: &Settings,
    message: &ClaimedMessage,
    body: String,
) -> Result<(u16, Option<Duration>), String> {
    let secrets: Vec<Secret> = [Some(&message.endpoint.secret), message.endpoint.previous_secret.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|text| Secret::parse(text).ok())
        .collect();
    let signed =
        Signed { id: &message.id, secrets: &secrets, content_type: "application/json", body: body.into_bytes() };
    let response = signed.post(client, &message.endpoint.url, settings.allow_private).await?;
    let status = response.status().as_u16();
    let retry_after = matches!(status, 429 | 502 | 503 | 504)
        .then(|| response.headers().get("retry-after")?.to_str().ok()?.trim().parse::<u64>().ok())
        .flatten()
        .map(Duration::from_secs);
    Ok((status, retry_after))
}

/// A request signed per Standard Webhooks: a webhook message or a log
/// stream's batch.
pub struct Signed<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// Every secret in force signs.
    pub secrets: &'a [Secret],
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Signed<'_> {
    /// Posts it to `url` (refused for a private address written in it
    /// unless allowed; names are checked by the client's resolver), signed now.
    pub async fn post(
        self,
        client: &reqwest::Client,
        url: &str,
        allow_private: bool,
    ) -> Result<reqwest::Response, String> {
        refuse_private_literal(url, allow_private)?;
        let timestamp = Micros::now().0 / 1_000_000;
        client
            .post(url)
            .header("content-type", self.content_type)
            .header("webhook-id", self.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature::header(self.secrets, self.id, timestamp, &self.body))
            .body(self.body)
            .send()
            .await
            .map_err(describe)
    }
}

/// What went wrong, without the URL (it may carry a token in its path).
fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// A critical record says a message failed for good (or its endpoint was
/// disabled), in Trail's own workspace.
async fn report_failure(store: &DynStore, message: &ClaimedMessage, attempt: &Attempt) {
    let why = attempt.error.clone().unwrap_or_default();
    let (key, text) = match attempt.next {
        AttemptNext::DisableEndpoint => {
            ("webhook.endpoint_disabled", format!("webhook endpoint {} disabled: {why}", message.endpoint.id))
        }
        _ => ("webhook.failed", format!("webhook message {} failed for good: {why}", message.id)),
    };
    let payload = json!({
        "message": message.id, "endpoint": message.endpoint.id, "kind": message.kind.as_str(),
        "record": message.record_id, "attempts": message.attempts + 1, "last_status": attempt.status,
        "error": attempt.error,
    });
    let entry = Entry::new(key, "webhook", message.endpoint.id, text).critical().payload(payload);
    let record = Actor::system("webhook sender").record(entry);
    if let Err(err) = store.insert_records(&[vec![record]]).await {
        tracing::error!(error = %err, "could not record a failed webhook message");
    }
}

#[cfg(test)]
mod tests {
    use app::store::WebhookTarget;

    use super::*;

    fn message(attempts: u32, failing_since: Option<Micros>) -> ClaimedMessage {
        let endpoint = WebhookTarget {
            id: 1,
            url: "https://hooks.example.com/".into(),
            format: WebhookFormat::Trail,
            secret: Secret::generate().encode(),
            previous_secret: None,
            failing_since,
        };
        ClaimedMessage {
            id: "msg_1".into(),
            endpoint,
            kind: MessageKind::Record,
            record_id: None,
            body: None,
            attempts,
        }
    }

    fn settings() -> Settings {
        Settings { schedule: DEFAULT_SCHEDULE.to_vec(), allow_private: false, public_url: String::new() }
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter_then_fail() {
        let now = Micros(1_000_000_000_000);
        for (attempts, wait) in DEFAULT_SCHEDULE.iter().enumerate() {
            let AttemptNext::RetryAt(at) = retry_or_fail(&message(attempts as u32, None), &settings(), None, now)
            else {
                panic!("attempt {} is retried", attempts + 1);
            };
            let waited = Duration::from_micros((at.0 - now.0) as u64);
            assert!(waited >= wait.mul_f64(0.9) && waited <= wait.mul_f64(1.1), "{waited:?} for {wait:?}");
        }
        let last = message(DEFAULT_SCHEDULE.len() as u32, None);
        assert_eq!(retry_or_fail(&last, &settings(), None, now), AttemptNext::Failed, "ten attempts in all");
    }

    #[test]
    fn a_retry_after_longer_than_the_schedule_is_honoured() {
        let now = Micros(0);
        let asked = Duration::from_secs(120);
        let AttemptNext::RetryAt(at) = retry_or_fail(&message(0, None), &settings(), Some(asked), now) else {
            panic!("retried")
        };
        assert_eq!(at.0, asked.as_micros() as i64, "not the schedule's 5 s");
        let AttemptNext::RetryAt(at) = retry_or_fail(&message(0, None), &settings(), Some(Duration::MAX), now) else {
            panic!("retried")
        };
        assert_eq!(at.0, LONGEST_RETRY_AFTER.as_micros() as i64, "a day at most, and no overflow");
    }

    #[test]
    fn slack_shows_a_record_s_markup_as_text() {
        assert_eq!(
            slack_escaped("hi <!channel> <http://evil|click> & more"),
            "hi &lt;!channel&gt; &lt;http://evil|click&gt; &amp; more"
        );
    }

    #[test]
    fn five_days_of_failures_disable_the_endpoint() {
        let now = Micros(10 * FAILING_LIMIT_US);
        assert!(!failing_too_long(&message(3, None), now));
        assert!(!failing_too_long(&message(3, Some(Micros(now.0 - FAILING_LIMIT_US + 1))), now));
        assert!(failing_too_long(&message(3, Some(Micros(now.0 - FAILING_LIMIT_US))), now));
    }
}
