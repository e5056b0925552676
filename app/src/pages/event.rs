//! `/events/{id}`: one record with everything, its diff, and its flow.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::{load_record, RecordView};
use crate::components::{loaded_view, DiffTable, EventItem, PageTitle, TopBar, When};
use crate::format::absolute_time;
use crate::model::{query_string, Micros};

#[component]
pub fn EventPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let record = Resource::new(id, load_record);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(record.await, |view| view! { <Record view/> }.into_any())
            })}
        </Suspense>
    }
}

/// A label and a value, left out when there is no value.
fn field(label: &'static str, value: Option<String>) -> Option<impl IntoView> {
    value.map(|value| view! { <dt>{label}</dt> <dd>{value}</dd> })
}

#[component]
fn Record(view: RecordView) -> impl IntoView {
    let RecordView { viewer, record, related, more_related } = view;
    let now = Micros::now();
    let row = record.row.clone();
    let diff = record.diff_rows();
    let payload = record.payload_pretty();
    let severity = row.severity.as_str();
    let entity = match (&row.entity_type, &row.entity_id, row.entity_href()) {
        (Some(t), Some(id), Some(href)) => Some(view! { <a href=href>{format!("{t}/{id}")}</a> }.into_any()),
        _ => row.entity_display().map(|label| label.into_any()),
    };
    let flow_href = row
        .correlation_id
        .as_ref()
        .map(|c| format!("/?{}", query_string(&[("q", &format!("correlation:{}", crate::search::quote(c)))])));
    let correlation = row.correlation_id.clone().zip(flow_href.clone()).map(|(c, href)| view! { <a href=href>{c}</a> });
    let has_error = record.error_message.is_some() || record.error_stack.is_some();
    let related_count = related.len();
    view! {
        <PageTitle text=row.key.clone()/>
        <TopBar viewer/>
        <main id="main" class="page record">
            <p class="crumbs"><a href="/">"← Activity"</a></p>
            <header class="record-head">
                <span class=format!("badge sev sev-{severity}")>{severity}</span>
                <span class="badge kind">{row.kind.as_str()}</span>
                <h1><code>{row.key.clone()}</code></h1>
            </header>
            <p class="lead">{row.message.clone()}</p>
            <p class="muted">
                <When at=row.occurred_at now/> " · " {absolute_time(row.occurred_at)} " · " {row.workspace.clone()}
                {row.brand.clone().map(|b| format!(" · brand {b}"))} " · " {row.visibility.as_str()}
            </p>
            <section aria-labelledby="who">
                <h2 id="who">"Who and where"</h2>
                <dl class="fields">
                    <dt>"Actor"</dt>
                    // Isolated: a name written right to left cannot turn the label around.
                    <dd><bdi>{row.actor_display().map(str::to_owned).unwrap_or_else(|| "—".into())}</bdi>
                        " (" {row.actor_type.as_str()} ")"</dd>
                    {field("Actor id", row.actor_id.clone())}
                    {field("Email", row.actor_email.clone())}
                    {field("Label", row.actor_label.clone())}
                    {field("IP", record.ip.clone())}
                    {field("User agent", record.user_agent.clone())}
                    {field("Context", row.context.clone())}
                    {entity.map(|e| view! { <dt>"Entity"</dt> <dd>{e}</dd> })}
                    {correlation.map(|c| view! { <dt>"Correlation"</dt> <dd>{c}</dd> })}
                    {field("Provider", row.provider.clone())}
                    {field("Status", row.status.map(|s| s.as_str().to_owned()))}
                    {field("Duration", row.duration_ms.map(|ms| format!("{ms} ms")))}
                    {field("Event id", record.event_id.clone())}
                    <dt>"Record id"</dt> <dd><code>{row.id.to_string()}</code></dd>
                    <dt>"Received"</dt> <dd>{absolute_time(row.received_at)}</dd>
                </dl>
            </section>
            <Show when=move || has_error>
                <section aria-labelledby="error" class="error-box">
                    <h2 id="error">"Error"</h2>
                    <p>{record.error_message.clone()}</p>
                    {record.error_stack.clone().map(|stack| view! { <pre class="stack">{stack}</pre> })}
                </section>
            </Show>
            {(!diff.is_empty()).then(|| view! {
                <section aria-labelledby="changes">
                    <h2 id="changes">"Changes"</h2>
                    <DiffTable rows=diff/>
                </section>
            })}
            {payload.map(|json| view! {
                <section aria-labelledby="payload">
                    <h2 id="payload">"Payload"</h2>
                    <pre class="json">{json}</pre>
                </section>
            })}
            {(related_count > 1).then(|| view! {
                <section aria-labelledby="flow">
                    <h2 id="flow">{match more_related {
                        true => format!("Same flow (its first {related_count} records)"),
                        false => format!("Same flow ({related_count} records)"),
                    }}</h2>
                    <ol class="feed" aria-label="Records with the same correlation id">
                        {related.into_iter().map(|r| view! { <EventItem row=r now/> }).collect_view()}
                    </ol>
                    {more_related.then(|| view! {
                        <p><a href=flow_href.clone()>"The whole flow, in the feed →"</a></p>
                    })}
                </section>
            })}
        </main>
    }
}
