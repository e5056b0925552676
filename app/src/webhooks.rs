//! Webhook endpoints: the operations that create, remove and rotate them,
//! each self-audited. The admin page's server functions and the CLI call
//! these, so each exists once and every caller refuses the same things.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin_api::Notice;
use crate::model::{Delivery, Loaded, LogStream, Viewer, WebhookEndpoint};

/// Deliveries shown per endpoint.
pub const RECENT_DELIVERIES: usize = 10;

/// What `/admin/webhooks` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhooksData {
    pub viewer: Viewer,
    pub workspaces: Vec<String>,
    /// Each endpoint with its recent deliveries, newest first.
    pub endpoints: Vec<(WebhookEndpoint, Vec<Delivery>)>,
    /// The log streams and how far each got (managed with `trail log-stream`).
    pub log_streams: Vec<LogStream>,
    pub notice: Option<Notice>,
}

/// The endpoints, for founders and admins; members get a 404.
#[server]
pub async fn webhooks_overview() -> Result<Loaded<WebhooksData>, ServerFnError> {
    crate::admin_api::ssr::platform_page(|viewer, ctx| async move {
        let internal = crate::api::ssr::internal;
        let workspaces = ctx.store.workspaces().await.map_err(internal)?.into_iter().map(|w| w.slug).collect();
        let mut endpoints = Vec::new();
        for endpoint in ctx.store.webhooks().await.map_err(internal)? {
            let deliveries = ctx.store.webhook_deliveries(endpoint.id, RECENT_DELIVERIES).await.map_err(internal)?;
            endpoints.push((endpoint, deliveries));
        }
        let log_streams = ctx.store.log_streams().await.map_err(internal)?.into_iter().map(|t| t.stream).collect();
        let notice = crate::admin_api::ssr::take_notice(&ctx).await;
        Ok(WebhooksData { viewer, workspaces, endpoints, log_streams, notice })
    })
    .await
}

/// Adds an endpoint; its secret is shown once. Founders only.
#[server]
pub async fn add_webhook(
    url: String,
    workspace: String,
    format: String,
    records: String,
    description: String,
    #[server(default)] no_alerts: Option<String>,
) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::NewSecret, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        let format = crate::model::WebhookFormat::parse(&format).map_err(crate::api::ssr::bad_request)?;
        let request = WebhookRequest { url, workspace, format, records, alerts: no_alerts.is_none(), description };
        let created =
            create_webhook(ctx.store.as_ref(), ctx.credentials.as_ref(), ctx.destinations.as_ref(), &actor, request)
                .await
                .map_err(crate::admin_api::refused)?;
        Ok(created.secret)
    })
    .await
}

/// Removes an endpoint with its queued messages. Founders only.
#[server]
pub async fn remove_webhook_endpoint(id: i64) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        remove_webhook(ctx.store.as_ref(), &actor, id).await.map_err(crate::admin_api::refused)?;
        Ok(format!("Webhook endpoint {id} removed."))
    })
    .await
}

/// Enables a disabled endpoint again. Founders only.
#[server]
pub async fn enable_webhook_endpoint(id: i64) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        enable_webhook(ctx.store.as_ref(), &actor, id).await.map_err(crate::admin_api::refused)?;
        Ok(format!("Webhook endpoint {id} enabled."))
    })
    .await
}

/// A new secret for an endpoint, shown once. Founders only.
#[server]
pub async fn rotate_webhook_secret(id: i64) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::NewSecret, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        rotate_webhook(ctx.store.as_ref(), ctx.credentials.as_ref(), &actor, id)
            .await
            .map_err(crate::admin_api::refused)
    })
    .await
}

/// Queues a test message to an endpoint. Founders only.
#[server]
pub async fn send_test_message(id: i64) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (_, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        let message = queue_test(ctx.store.as_ref(), id).await.map_err(crate::admin_api::refused)?;
        Ok(format!("Test message {message} queued for endpoint {id}."))
    })
    .await
}

/// Makes a pending or failed message due now (one being sent now gets its
/// outcome first). Founders only.
#[server]
pub async fn retry_message(id: String) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (_, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        let now = crate::model::Micros::now();
        match ctx.store.retry_message_now(&id, now).await.map_err(crate::api::ssr::internal)? {
            true => Ok(format!("Message {id} is sent again now.")),
            false => Err(crate::api::ssr::not_found(format!(
                "no message {id} waiting or failed (a message being sent now is retried after its attempt)"
            ))),
        }
    })
    .await
}

#[cfg(feature = "ssr")]
pub use operation::*;

#[cfg(feature = "ssr")]
mod operation {
    use serde_json::json;

    use crate::accounts::{self, AccountError};
    use crate::audit::{Actor, Entry};
    use crate::context::{Credentials, Destinations};
    use crate::model::{check_webhook_records, Micros, WebhookEndpoint, WebhookFormat, HOUR_US};
    use crate::store::{Applied, Change, MessageKind, NewMessage, NewWebhook, Store};

    type Result<T> = std::result::Result<T, AccountError>;

    /// After a rotation the old secret still signs this long, so receivers
    /// can move to the new one without losing messages.
    pub const ROTATION_OVERLAP_US: i64 = 24 * HOUR_US;

    /// An endpoint to create; empty text is "not given".
    pub struct WebhookRequest {
        pub url: String,
        /// A workspace's slug; empty: every workspace.
        pub workspace: String,
        pub format: WebhookFormat,
        /// The records it receives, in the search syntax; empty: none.
        pub records: String,
        pub alerts: bool,
        pub description: String,
    }

    /// A new endpoint's id and its secret (shown this once).
    pub struct CreatedWebhook {
        pub id: i64,
        pub secret: String,
    }

    /// The longest URL an endpoint may have (browsers' and servers' common limit).
    pub const MAX_URL_CHARS: usize = 2_048;

    /// A web address: `http` or `https`, with a host.
    pub fn http_url(text: &str) -> std::result::Result<url::Url, String> {
        let text = text.trim();
        // The URL parser would drop tabs and newlines unsaid, and a NUL is
        // no part of any address.
        if text.chars().any(char::is_control) {
            return Err("the address must not hold control characters (a tab, a newline, NUL)".into());
        }
        if text.chars().count() > MAX_URL_CHARS {
            return Err(format!("the address is longer than {MAX_URL_CHARS} characters"));
        }
        let url = url::Url::parse(text).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{text:?}: an http or https address, not {:?}", url.scheme()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("{text:?}: the address names no host"));
        }
        Ok(url)
    }

    /// An endpoint's URL: `http` or `https`, a host, no user or password in it.
    pub fn check_url(text: &str) -> std::result::Result<String, String> {
        let url = http_url(text)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("an endpoint URL carries no user or password: the signature authenticates".to_owned());
        }
        Ok(url.to_string())
    }

    fn endpoint_json(endpoint: &WebhookEndpoint) -> serde_json::Value {
        json!({
            "id": endpoint.id, "url": endpoint.url, "workspace": endpoint.workspace,
            "format": endpoint.format, "records": endpoint.records, "alerts": endpoint.alerts,
        })
    }

    pub async fn create_webhook(
        store: &dyn Store,
        credentials: &dyn Credentials,
        destinations: &dyn Destinations,
        actor: &Actor,
        request: WebhookRequest,
    ) -> Result<CreatedWebhook> {
        let refused = |message: String| AccountError::Refused(message);
        let url = check_url(&request.url).map_err(refused)?;
        let records = check_webhook_records(&request.records).map_err(refused)?;
        accounts::check_label("description", &request.description).map_err(refused)?;
        let workspace = match request.workspace.trim() {
            "" => None,
            slug => Some(accounts::workspace(store, slug).await?),
        };
        // Last: it may wait for a name to resolve.
        destinations.check(&url).await.map_err(refused)?;
        let secret = credentials.new_webhook_secret();
        let new = NewWebhook {
            workspace_id: workspace.as_ref().map(|w| w.id),
            url,
            description: request.description.trim().to_owned(),
            format: request.format,
            records,
            alerts: request.alerts,
            secret: secret.clone(),
            created_at: Micros::now(),
        };
        let audit = |applied: &Applied| {
            let Applied::Webhook(endpoint) = applied else { return Vec::new() };
            let message = format!("webhook endpoint {} created for {}", endpoint.id, endpoint.url);
            let entry = Entry::new("webhook.created", "webhook", endpoint.id, message).payload(endpoint_json(endpoint));
            vec![actor.record(entry)]
        };
        match store.apply(Change::CreateWebhook(&new), &audit).await? {
            Applied::Webhook(endpoint) => Ok(CreatedWebhook { id: endpoint.id, secret }),
            other => unreachable!("creating a webhook applied as {other:?}"),
        }
    }

    /// Removes endpoint `id`, unless alert rules name it (they would send to
    /// every endpoint instead).
    pub async fn remove_webhook(store: &dyn Store, actor: &Actor, id: i64) -> Result<()> {
        let naming: Vec<String> = store
            .alert_rules()
            .await?
            .into_iter()
            .filter(|r| r.endpoints.contains(&id))
            .map(|r| r.id.to_string())
            .collect();
        if !naming.is_empty() {
            return Err(AccountError::Refused(format!(
                "alert rules {} send to webhook endpoint {id}: remove them first",
                naming.join(", ")
            )));
        }
        let audit = |applied: &Applied| {
            let Applied::Webhook(endpoint) = applied else { return Vec::new() };
            let message = format!("webhook endpoint {} removed ({})", endpoint.id, endpoint.url);
            vec![actor.record(
                Entry::new("webhook.removed", "webhook", endpoint.id, message).payload(endpoint_json(endpoint)),
            )]
        };
        store.apply(Change::RemoveWebhook { id }, &audit).await?;
        Ok(())
    }

    /// Enables endpoint `id` again (after a `410` or 5 days of failures).
    pub async fn enable_webhook(store: &dyn Store, actor: &Actor, id: i64) -> Result<()> {
        let endpoint = store.webhooks().await?.into_iter().find(|e| e.id == id);
        match endpoint {
            None => return Err(AccountError::Refused(format!("no webhook endpoint {id}"))),
            Some(endpoint) if endpoint.enabled => {
                return Err(AccountError::Refused(format!("webhook endpoint {id} is enabled already")))
            }
            Some(_) => {}
        }
        let audit = |applied: &Applied| {
            let Applied::Webhook(endpoint) = applied else { return Vec::new() };
            let message = format!("webhook endpoint {} enabled ({})", endpoint.id, endpoint.url);
            vec![actor.record(Entry::new("webhook.enabled", "webhook", endpoint.id, message))]
        };
        store.apply(Change::EnableWebhook { id }, &audit).await?;
        Ok(())
    }

    /// A new secret for endpoint `id` (shown this once); the old one signs
    /// too for [`ROTATION_OVERLAP_US`].
    pub async fn rotate_webhook(
        store: &dyn Store,
        credentials: &dyn Credentials,
        actor: &Actor,
        id: i64,
    ) -> Result<String> {
        let secret = credentials.new_webhook_secret();
        let previous_until = Micros(Micros::now().0 + ROTATION_OVERLAP_US);
        let audit = |applied: &Applied| {
            let Applied::Webhook(endpoint) = applied else { return Vec::new() };
            let message = format!("webhook endpoint {} has a new secret; the old one signs for 24 h", endpoint.id);
            vec![actor.record(Entry::new("webhook.rotated", "webhook", endpoint.id, message))]
        };
        store.apply(Change::RotateWebhook { id, secret: &secret, previous_until }, &audit).await?;
        Ok(secret)
    }

    /// Queues a test message to endpoint `id`, in its format; the message's id.
    pub async fn queue_test(store: &dyn Store, id: i64) -> Result<String> {
        let endpoint = store.webhooks().await?.into_iter().find(|e| e.id == id);
        let endpoint = endpoint.ok_or_else(|| AccountError::Refused(format!("no webhook endpoint {id}")))?;
        let text = format!("A test message from Trail to webhook endpoint {id}");
        let body = match endpoint.format {
            WebhookFormat::Trail => {
                json!({ "type": "trail.test", "timestamp": Micros::now(), "data": { "message": text } })
            }
            WebhookFormat::Slack => json!({ "text": text }),
        };
        let message =
            NewMessage { endpoint_id: id, kind: MessageKind::Test, body: body.to_string(), at: Micros::now() };
        Ok(store.queue_message(&message).await?)
    }

    #[cfg(test)]
    mod tests {
        use super::check_url;

        #[test]
        fn urls_are_http_with_a_host_and_no_credentials() {
            assert_eq!(check_url(" https://hooks.example.com/x ").unwrap(), "https://hooks.example.com/x");
            let long = format!("https://example.com/{}", "a".repeat(2_048));
            for bad in ["ftp://example.com", "not a url", "https://user:pw@example.com/", "file:///etc/passwd"]
                .into_iter()
                .chain(["https://example.com/\0", "https://exa\tmple.com/", long.as_str()])
            {
                assert!(check_url(bad).is_err(), "{bad}");
            }
        }
    }
}
