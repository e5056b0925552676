//! `/entities/{type}/{id}`: who changed what on one thing, and when.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::{load_timeline, Loaded, Timeline};
use crate::components::{loaded_view, DiffTable, TopBar, When};
use crate::model::{entity_href, EventDetail, Micros, Order};

#[component]
pub fn EntityPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let (t, id) = params.with(|p| (p.get("type").unwrap_or_default(), p.get("id").unwrap_or_default()));
        let order = match query.with(|q| q.get("order")).as_deref() {
            Some("oldest") => Order::OldestFirst,
            _ => Order::NewestFirst,
        };
        (t, id, order)
    };
    let timeline = Resource::new(key, |(t, id, order)| load_timeline(t, id, order, None));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (entity_type, entity_id, order) = key();
                loaded_view(timeline.await, move |timeline| {
                    view! { <EntityTimeline timeline entity_type entity_id order/> }.into_any()
                })
            })}
        </Suspense>
    }
}

#[component]
fn EntityTimeline(timeline: Timeline, entity_type: String, entity_id: String, order: Order) -> impl IntoView {
    let Timeline { viewer, records, next_cursor } = timeline;
    let records = RwSignal::new(records);
    let next_cursor = RwSignal::new(next_cursor);
    let problem = RwSignal::new(None::<String>);
    let now = Signal::stored(Micros::now());
    let base = entity_href(&entity_type, &entity_id);
    let (t, id) = (StoredValue::new(entity_type.clone()), StoredValue::new(entity_id.clone()));
    let on_more = move |_| {
        let Some(cursor) = next_cursor.get_untracked() else { return };
        spawn_local(async move {
            match load_timeline(t.get_value(), id.get_value(), order, Some(cursor)).await {
                Ok(Loaded::Found(more)) => {
                    records.update(|r| r.extend(more.records));
                    next_cursor.set(more.next_cursor);
                }
                Ok(_) => next_cursor.set(None),
                Err(err) => problem.set(Some(format!("Could not load more: {err}"))),
            }
        });
    };
    view! {
        <TopBar viewer/>
        <main class="page">
            <p class="crumbs"><a href="/">"← Activity"</a></p>
            <div class="toolbar">
                <h1>"History of " <code>{format!("{entity_type}/{entity_id}")}</code></h1>
                <span class="spacer"></span>
                <nav aria-label="Order" class="segmented">
                    <a href=base.clone() aria-current=(order == Order::NewestFirst).then_some("page")>"Newest first"</a>
                    <a href=format!("{base}?order=oldest") aria-current=(order == Order::OldestFirst).then_some("page")>
                        "Oldest first"
                    </a>
                </nav>
            </div>
            {move || problem.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            <ol class="timeline" aria-label="Entity history">
                <For each=move || records.get() key=|r| r.row.id let:record>
                    <TimelineEntry record now/>
                </For>
            </ol>
            <Show when=move || next_cursor.with(Option::is_some)>
                <div class="more"><button type="button" class="secondary" on:click=on_more>"Load more"</button></div>
            </Show>
        </main>
    }
}

#[component]
fn TimelineEntry(record: EventDetail, now: Signal<Micros>) -> impl IntoView {
    let diff = record.diff_rows();
    let row = record.row;
    let severity = row.severity.as_str();
    let who = row.actor_display().map(str::to_owned).unwrap_or_else(|| row.actor_type.as_str().to_owned());
    view! {
        <li class=format!("entry sev-{severity}")>
            <div class="entry-head">
                <When at=row.occurred_at now/>
                <span class=format!("badge sev sev-{severity}")>{severity}</span>
                <a class="key" href=row.href()>{row.key.clone()}</a>
                <span class="actor">"by " {who}</span>
            </div>
            <p class="message">{row.message.clone()}</p>
            {(!diff.is_empty()).then(|| view! { <DiffTable rows=diff/> })}
        </li>
    }
}
