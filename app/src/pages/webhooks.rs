//! `/admin/webhooks`: the endpoints, their recent deliveries, and (for
//! founders) adding, removing, rotating, a test message and "retry now".

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::admin::{notice_view, typed_options, workspace_options, ConfirmedForm, PostForm};
use crate::admin_api::Typed;
use crate::components::{loaded_view, ListHead, PageTitle, TopBar};
use crate::format::absolute_time;
use crate::model::{Delivery, FeedParams, LogStream, Micros, Role, WebhookEndpoint, WebhookFormat};
use crate::webhooks::{
    webhooks_overview, AddWebhook, EnableWebhookEndpoint, RemoveWebhookEndpoint, RetryMessage, RotateWebhookSecret,
    SendTestMessage, WebhooksData,
};

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| webhooks_overview());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(data.await, |data| view! { <WebhooksView data/> }.into_any())
            })}
        </Suspense>
    }
}

#[component]
fn WebhooksView(data: WebhooksData) -> impl IntoView {
    let WebhooksData { viewer, workspaces, endpoints, log_streams, notice } = data;
    let is_founder = viewer.role == Role::Founder;
    // A refused endpoint comes back as typed.
    let typed = Typed::of(&notice, AddWebhook::PATH);
    let options = workspace_options(&workspaces, "every workspace", &typed.value("workspace"));
    let formats: Vec<&str> = WebhookFormat::ALL.iter().map(|f| f.as_str()).collect();
    let formats = typed_options(&formats, &typed, "format");
    let list = if endpoints.is_empty() {
        view! { <p class="muted">"No endpoints yet."</p> }.into_any()
    } else {
        endpoints
            .into_iter()
            .map(|(endpoint, deliveries)| view! { <EndpointView endpoint deliveries is_founder/> })
            .collect_view()
            .into_any()
    };
    view! {
        <PageTitle text="Webhooks"/>
        <TopBar viewer/>
        <main id="main" class="page admin">
            <h1>"Webhooks"</h1>
            {notice.clone().map(notice_view)}
            <p class="muted">
                "Records and alerts go to these endpoints signed per Standard Webhooks, and are retried until \
                 delivered (docs/webhooks.md)."
            </p>
            {list}
            {is_founder.then(|| view! {
                <PostForm to=AddWebhook::PATH class="inline" label="Add a webhook endpoint">
                    <label>"URL" <input name="url" type="url" required size="40" placeholder="https://…"
                        value=typed.value("url")/></label>
                    <label>"Workspace" <select name="workspace">
                        {options}
                    </select></label>
                    <label>"Format" <select name="format">{formats}</select></label>
                    <label>"Records (search)" <input name="records" size="24" placeholder="severity:>=error"
                        value=typed.value("records")/></label>
                    <label>"Description" <input name="description" size="20" value=typed.value("description")/></label>
                    <label><input type="checkbox" name="no_alerts" value="on" checked=typed.holds("no_alerts", "on")/>
                        " no alerts"</label>
                    <button type="submit" class="primary">"Add"</button>
                </PostForm>
            })}
            <LogStreamsView streams=log_streams/>
        </main>
    }
}

/// The log streams, read-only: `trail log-stream` manages them.
#[component]
fn LogStreamsView(streams: Vec<LogStream>) -> impl IntoView {
    let when = |at: Option<crate::model::Micros>| at.map(absolute_time).unwrap_or_else(|| "—".into());
    let rows = streams
        .into_iter()
        .map(|s| {
            view! {
                <tr data-stream=s.id>
                    <td>{format!("#{}", s.id)}</td>
                    <td>{s.destination.as_str()}</td>
                    <td><code>{s.target.clone()}</code></td>
                    <td>{s.workspace.clone().unwrap_or_else(|| "every workspace".into())}</td>
                    <td>{s.exported}</td>
                    <td>{when(s.last_export_at)}</td>
                    <td>{s.last_error.clone().unwrap_or_else(|| "—".into())}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="log-streams">
            <h2>"Log streams"</h2>
            <p class="muted">"Every record, exported continuously; managed with " <code>"trail log-stream"</code> "."</p>
            <table class="list">
                <ListHead columns=&["Stream", "Destination", "Target", "Workspace", "Exported", "Last export", "Last error"]/>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

#[component]
fn EndpointView(endpoint: WebhookEndpoint, deliveries: Vec<Delivery>, is_founder: bool) -> impl IntoView {
    let id = endpoint.id.to_string();
    let unread = endpoint.records.as_deref().and_then(|q| FeedParams::saved_search(q, Micros::now()).err());
    let state = match (&endpoint.enabled, &endpoint.disabled_reason) {
        (true, _) if endpoint.failing_since.is_some() => "enabled, failing".to_owned(),
        (true, _) => "enabled".to_owned(),
        (false, Some(why)) => format!("disabled: {why}"),
        (false, None) => "disabled".to_owned(),
    };
    let rows = deliveries.into_iter().map(|d| view! { <DeliveryRow delivery=d is_founder/> }).collect_view();
    let disabled = !endpoint.enabled;
    let actions = is_founder.then(|| {
        let (a, b, c, d) = (id.clone(), id.clone(), id.clone(), id.clone());
        view! {
            <div class="actions">
                {disabled.then(|| view! {
                    <PostForm to=EnableWebhookEndpoint::PATH class="inline" label="Enable the endpoint">
                        <input type="hidden" name="id" value=d/>
                        <button type="submit" class="primary">"Enable"</button>
                    </PostForm>
                })}
                <PostForm to=SendTestMessage::PATH class="inline" label="Send a test message">
                    <input type="hidden" name="id" value=a/>
                    <button type="submit">"Send a test message"</button>
                </PostForm>
                <ConfirmedForm to=RotateWebhookSecret::PATH action="Rotate the secret"
                    question=format!("A new secret for endpoint #{}? The old one keeps signing for 24 hours.", endpoint.id)>
                    <input type="hidden" name="id" value=b/>
                </ConfirmedForm>
                <ConfirmedForm to=RemoveWebhookEndpoint::PATH action="Remove"
                    question=format!("Remove endpoint #{}? Its queued messages go with it.", endpoint.id)>
                    <input type="hidden" name="id" value=c/>
                </ConfirmedForm>
            </div>
        }
    });
    view! {
        <section class="endpoint" data-endpoint=id>
            <h2>{format!("#{} ", endpoint.id)}<code>{endpoint.url.clone()}</code></h2>
            <p>
                {state} " · " {endpoint.format.as_str()} " · "
                {endpoint.workspace.clone().unwrap_or_else(|| "every workspace".into())} " · records: "
                {endpoint.records.clone().unwrap_or_else(|| "none".into())}
                {unread.map(|why| view! {
                    <span class="alert" role="alert">
                        " No longer understood (" {why} "): it takes no records. Remove it and add it again."
                    </span>
                })}
                {(!endpoint.alerts).then_some(" · no alerts")}
                {(!endpoint.description.is_empty()).then(|| format!(" · {}", endpoint.description))}
            </p>
            {actions}
            <table class="list">
                <ListHead columns=&["Message", "Kind", "Status", "Attempts", "Last answer", "Last attempt", "Next attempt", ""]/>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
}

#[component]
fn DeliveryRow(delivery: Delivery, is_founder: bool) -> impl IntoView {
    let answer = match (delivery.last_status, delivery.last_error.clone()) {
        (Some(status), _) => status.to_string(),
        (None, Some(error)) => error,
        (None, None) => "—".into(),
    };
    let when = |at: Option<crate::model::Micros>| at.map(absolute_time).unwrap_or_else(|| "—".into());
    let message = delivery.id.clone();
    let retry = (is_founder && delivery.status != "delivered").then(move || {
        view! {
            <PostForm to=RetryMessage::PATH class="inline" label="Retry now">
                <input type="hidden" name="id" value=message/>
                <button type="submit">"Retry now"</button>
            </PostForm>
        }
    });
    view! {
        <tr>
            <td><code>{delivery.id.clone()}</code></td>
            <td>{delivery.kind.clone()}</td>
            <td>{delivery.status.clone()}</td>
            <td>{delivery.attempts}</td>
            <td>{answer}</td>
            <td>{when(delivery.last_attempt_at)}</td>
            <td>{when(delivery.next_attempt_at)}</td>
            <td>{retry}</td>
        </tr>
    }
}
