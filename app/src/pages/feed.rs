//! `/`: the viewer's activity feed, newest first, live.

use std::collections::HashSet;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::Redirect;
use uuid::Uuid;

use crate::api::{feed_updates, load_feed, load_more, FeedStart};
use crate::format::{absolute_time, relative_time};
use crate::model::{EventFilter, EventRow, Micros, Viewer};

const REFRESH_EVERY: Duration = Duration::from_secs(10);

#[component]
pub fn FeedPage() -> impl IntoView {
    let start = Resource::new(|| (), |_| load_feed(EventFilter::default()));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match start.await {
                    Ok(Some(start)) => view! { <Feed start/> }.into_any(),
                    Ok(None) => view! { <Redirect path="/login"/> }.into_any(),
                    Err(err) => view! { <p class="alert" role="alert">{err.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Keeps the rows of `incoming` that are not shown yet, in their order.
fn unseen(shown: &[EventRow], incoming: Vec<EventRow>) -> Vec<EventRow> {
    let known: HashSet<Uuid> = shown.iter().map(|r| r.id).collect();
    incoming.into_iter().filter(|r| !known.contains(&r.id)).collect()
}

fn newest_received_ms(rows: &[EventRow]) -> Option<i64> {
    rows.iter().map(|r| r.received_at.0 / 1_000).max()
}

#[component]
fn Feed(start: FeedStart) -> impl IntoView {
    let FeedStart { viewer, page, server_time } = start;
    let filter = StoredValue::new(EventFilter::default());
    let newest_ms = RwSignal::new(newest_received_ms(&page.rows).unwrap_or(server_time.0 / 1_000));
    let rows = RwSignal::new(page.rows);
    let next_cursor = RwSignal::new(page.next_cursor);
    let fresh = RwSignal::new(HashSet::<Uuid>::new());
    let paused = RwSignal::new(false);
    let now = RwSignal::new(server_time);
    let loading_more = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);

    let poll = move || {
        spawn_local(async move {
            match feed_updates(filter.get_value(), newest_ms.get_untracked()).await {
                Ok(incoming) => {
                    let new_rows = rows.with_untracked(|shown| unseen(shown, incoming));
                    problem.set(None);
                    if new_rows.is_empty() {
                        return;
                    }
                    if let Some(ms) = newest_received_ms(&new_rows) {
                        newest_ms.update(|n| *n = (*n).max(ms));
                    }
                    fresh.update(|f| f.extend(new_rows.iter().map(|r| r.id)));
                    rows.update(|shown| {
                        let older = std::mem::take(shown);
                        *shown = new_rows;
                        shown.extend(older);
                    });
                }
                Err(err) => problem.set(Some(format!("Live updates failed: {err}"))),
            }
        });
    };

    // Runs only in the browser: tick the clock and poll while not paused.
    Effect::new(move |_| {
        now.set(Micros::now());
        let handle = set_interval_with_handle(
            move || {
                now.set(Micros::now());
                if !paused.get_untracked() {
                    poll();
                }
            },
            REFRESH_EVERY,
        )
        .ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });

    let on_load_more = move |_| {
        let Some(cursor) = next_cursor.get_untracked() else { return };
        loading_more.set(true);
        spawn_local(async move {
            match load_more(filter.get_value(), cursor).await {
                Ok(page) => {
                    let older = rows.with_untracked(|shown| unseen(shown, page.rows));
                    rows.update(|shown| shown.extend(older));
                    next_cursor.set(page.next_cursor);
                }
                Err(err) => problem.set(Some(format!("Could not load more: {err}"))),
            }
            loading_more.set(false);
        });
    };

    view! {
        <TopBar viewer/>
        <main class="page">
            <div class="toolbar">
                <h1>"Activity"</h1>
                <span class="spacer"></span>
                <span class="live" class:paused=move || paused.get() aria-live="polite">
                    {move || if paused.get() { "Paused" } else { "Live · every 10 s" }}
                </span>
                <button
                    type="button"
                    class="secondary"
                    aria-pressed=move || paused.get().to_string()
                    on:click=move |_| paused.update(|p| *p = !*p)
                >
                    {move || if paused.get() { "Resume" } else { "Pause" }}
                </button>
            </div>
            {move || problem.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            <Show
                when=move || rows.with(|r| !r.is_empty())
                fallback=|| view! { <p class="empty">"No activity yet. Records sent to the ingest API appear here."</p> }
            >
                <ol class="feed" aria-label="Activity feed">
                    <For each=move || rows.get() key=|row| row.id let:row>
                        <FeedRow row now is_fresh=fresh/>
                    </For>
                </ol>
            </Show>
            <Show when=move || next_cursor.with(Option::is_some)>
                <div class="more">
                    <button type="button" class="secondary" on:click=on_load_more disabled=move || loading_more.get()>
                        {move || if loading_more.get() { "Loading…" } else { "Load more" }}
                    </button>
                </div>
            </Show>
        </main>
    }
}

#[component]
pub fn TopBar(viewer: Viewer) -> impl IntoView {
    let who = viewer.name.clone().unwrap_or_else(|| viewer.email.clone());
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Trail"</a>
            <span class="spacer"></span>
            <span class="who" title=viewer.email.clone()>
                {who} " " <span class="badge role">{viewer.role.as_str()}</span>
            </span>
            <form method="post" action="/logout">
                <button type="submit" class="link">"Sign out"</button>
            </form>
        </header>
    }
}

#[component]
fn FeedRow(row: EventRow, now: RwSignal<Micros>, is_fresh: RwSignal<HashSet<Uuid>>) -> impl IntoView {
    let id = row.id;
    let occurred = row.occurred_at;
    let severity = row.severity.as_str();
    let actor = row.actor_display().map(str::to_owned);
    let entity = row.entity_display();
    let status = row.status.clone();
    view! {
        <li class=format!("row sev-{severity}") class:fresh=move || is_fresh.with(|f| f.contains(&id)) data-id=id.to_string()>
            <time class="time" datetime=occurred.to_rfc3339() title=absolute_time(occurred)>
                {move || relative_time(occurred, now.get())}
            </time>
            <span class=format!("badge sev sev-{severity}")>{severity}</span>
            <span class="badge kind">{row.kind.as_str()}</span>
            <code class="key">{row.key}</code>
            <span class="message">{row.message}</span>
            <span class="actor">{actor}</span>
            <span class="entity">{entity}</span>
            <span class="meta">
                {status.map(|s| view! { <span class=format!("status status-{s}")>{s.clone()}</span> })}
                <span class="workspace">{row.workspace}</span>
            </span>
        </li>
    }
}
