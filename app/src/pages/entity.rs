//! `/entities/{type}/{id}` (or `/entities?type=…&id=…`): who changed what
//! on one thing, and when.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use super::use_query_pairs;
use crate::api::{load_timeline, MoreOf, Timeline};
use crate::components::{loaded_view, PageTitle, TimelineEntry, TopBar};
use crate::islands::LoadMore;
use crate::model::{query_value, EntityRef, Micros, Order};

#[component]
pub fn EntityPage() -> impl IntoView {
    let path = use_location().pathname;
    let query = use_query_pairs();
    let key = move || {
        let entity = query.with(|q| path.with(|path| EntityRef::of_url(path, q))).unwrap_or_default();
        let order = match query.with(|q| query_value(q, "order")).as_deref() {
            Some("oldest") => Order::OldestFirst,
            _ => Order::NewestFirst,
        };
        // A "Load more" link followed without JavaScript.
        let cursor = query.with(|q| query_value(q, "cursor"));
        (entity, order, cursor)
    };
    let timeline = Resource::new(key, |(entity, order, cursor)| load_timeline(entity, order, cursor));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (entity, order, _) = key();
                loaded_view(timeline.await, move |timeline| view! { <EntityTimeline timeline entity order/> }.into_any())
            })}
        </Suspense>
    }
}

#[component]
fn EntityTimeline(timeline: Timeline, entity: EntityRef, order: Order) -> impl IntoView {
    let Timeline { viewer, records, next_cursor, notice } = timeline;
    let now = Micros::now();
    let (base, oldest) = (entity.href(Order::NewestFirst), entity.href(Order::OldestFirst));
    let this_order = if order == Order::OldestFirst { oldest.clone() } else { base.clone() };
    let title = format!("{}/{}", entity.entity_type, entity.entity_id);
    let within = entity.workspace.clone().map(|workspace| view! { " in " <span class="workspace">{workspace}</span> });
    let entries = records.into_iter().map(|record| view! { <TimelineEntry record now/> }).collect_view();
    let more = next_cursor.map(|cursor| {
        let of = MoreOf::Timeline { entity, order };
        view! { <LoadMore of cursor list=TIMELINE_LIST.to_owned() href=this_order/> }
    });
    view! {
        <PageTitle text=format!("History of {title}")/>
        <TopBar viewer/>
        <main id="main" class="page">
            <p class="crumbs"><a href="/">"← Activity"</a></p>
            <div class="toolbar">
                <h1>"History of " <code>{title}</code> {within}</h1>
                <span class="spacer"></span>
                <nav aria-label="Order" class="segmented">
                    <a href=base.clone() aria-current=(order == Order::NewestFirst).then_some("page")>"Newest first"</a>
                    <a href=oldest aria-current=(order == Order::OldestFirst).then_some("page")>
                        "Oldest first"
                    </a>
                </nav>
            </div>
            {notice.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            <ol class="timeline" aria-label="Entity history">{entries}</ol>
            {more}
        </main>
    }
}

/// The timeline's list, rendered by the server.
const TIMELINE_LIST: &str = "ol.timeline";
