//! `/`: the viewer's activity feed, newest first, live, filtered by the URL.

use std::collections::HashSet;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};
use uuid::Uuid;

use crate::api::{feed_updates, load_feed, load_more, FeedStart};
use crate::components::{loaded_view, EventItem, TopBar};
use crate::model::{EventRow, FeedParams, Kind, Micros, Severity};
use crate::search::QUALIFIERS;

const REFRESH_EVERY: Duration = Duration::from_secs(10);

#[component]
pub fn FeedPage() -> impl IntoView {
    let query = use_query_map();
    let params = Memo::new(move |_| query.with(|q| FeedParams::from_query(|name| q.get(name))));
    let start = Resource::new(move || params.get(), load_feed);
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(start.await, |start| view! { <Feed start params=params.get_untracked()/> }.into_any())
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
fn Feed(start: FeedStart, params: FeedParams) -> impl IntoView {
    let FeedStart { viewer, page, filter, search_error, workspaces, server_time } = start;
    let platform = viewer.role.is_platform();
    let filter = StoredValue::new(filter);
    let newest_ms = RwSignal::new(newest_received_ms(&page.rows).unwrap_or(server_time.0 / 1_000));
    let rows = RwSignal::new(page.rows);
    let next_cursor = RwSignal::new(page.next_cursor);
    let fresh = RwSignal::new(HashSet::<Uuid>::new());
    let paused = RwSignal::new(false);
    let now = RwSignal::new(server_time);
    let loading_more = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let searchable = search_error.is_none();

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
        if !searchable {
            return;
        }
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
    let now: Signal<Micros> = now.into();
    // Only worth a control when there is a choice.
    let choosable_workspaces = if platform || workspaces.len() > 1 { workspaces } else { vec![] };

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
            <crate::pages::stats::StatsPanel params=params.clone()/>
            <FilterBar params=params.clone() workspaces=choosable_workspaces/>
            <p class="export">
                "Export this view: "
                <a href=format!("/api/v1/events/export?{}", params.export_query("csv")) download>"CSV"</a>
                " · "
                <a href=format!("/api/v1/events/export?{}", params.export_query("ndjson")) download>"NDJSON"</a>
            </p>
            {search_error.map(|text| view! { <p class="alert" role="alert">"Search not understood: " {text}</p> })}
            {move || problem.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            <Show
                when=move || rows.with(|r| !r.is_empty())
                fallback=move || searchable.then(|| view! { <p class="empty">"Nothing matches. Records sent to the ingest API appear here."</p> })
            >
                <ol class="feed" aria-label="Activity feed">
                    <For each=move || rows.get() key=|row| row.id let:row>
                        {
                            let id = row.id;
                            view! { <EventItem row now fresh=Signal::derive(move || fresh.with(|f| f.contains(&id)))/> }
                        }
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

/// The filters: a search box and controls. A plain GET form, so it works
/// before hydration; afterwards a change navigates without a reload.
#[component]
fn FilterBar(params: FeedParams, workspaces: Vec<String>) -> impl IntoView {
    let navigate = use_navigate();
    let current = StoredValue::new(params.clone());
    // A control's change navigates to the same parameters with that one changed.
    let apply = move |change: Box<dyn FnOnce(&mut FeedParams)>| {
        let mut next = current.get_value();
        change(&mut next);
        navigate(&format!("/?{}", next.to_query()), Default::default());
    };
    let apply = StoredValue::new(apply);
    let on_select = move |field: fn(&mut FeedParams) -> &mut String| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            apply.with_value(|apply| apply(Box::new(move |p| *field(p) = value)));
        }
    };
    let kinds: Vec<String> = Kind::ALL.iter().map(|k| k.as_str().to_owned()).collect();
    let severities: Vec<String> = Severity::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    let ranges: Vec<String> = FeedParams::RANGES.iter().map(|r| r.to_string()).collect();
    let has_workspaces = !workspaces.is_empty();
    let selected_workspace = params.workspace.clone();
    let errors = params.errors;
    let on_errors = move |ev: leptos::ev::Event| {
        let checked = event_target_checked(&ev);
        apply.with_value(|apply| apply(Box::new(move |p| p.errors = checked)));
    };
    let help = format!("Search: free text, or {}", QUALIFIERS.join(" "));
    let search_input = NodeRef::<leptos::html::Input>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let q = search_input.get().map(|input| input.value()).unwrap_or_default();
        apply.with_value(|apply| apply(Box::new(move |p| p.q = q.trim().to_owned())));
    };
    view! {
        <div class="filters">
            <form method="get" action="/" role="search" on:submit=on_submit>
                <div class="filter-row">
                    <label class="search">
                        <span class="visually-hidden">"Search"</span>
                        <input
                            node_ref=search_input
                            type="search"
                            name="q"
                            value=params.q.clone()
                            placeholder="key:track_* actor:u_12 severity:>=warning \"failed payment\""
                            title=help
                            autocomplete="off"
                        />
                    </label>
                    <button type="submit" class="primary">"Search"</button>
                </div>
                <div class="filter-row controls">
                    <Show when=move || has_workspaces>
                        <label>
                            "Workspace "
                            <select name="workspace" on:change=on_select(|p| &mut p.workspace)>
                                {options(workspaces.clone(), selected_workspace.clone(), "all")}
                            </select>
                        </label>
                    </Show>
                    <label>
                        "Kind "
                        <select name="kind" on:change=on_select(|p| &mut p.kind)>
                            {options(kinds, params.kind.clone(), "any")}
                        </select>
                    </label>
                    <label>
                        "Severity "
                        <select name="severity" on:change=on_select(|p| &mut p.severity)>
                            {options(severities, params.severity.clone(), "any")}
                        </select>
                    </label>
                    <label>
                        "Time "
                        <select name="range" on:change=on_select(|p| &mut p.range)>
                            {options(ranges, params.range.clone(), "all time")}
                        </select>
                    </label>
                    <label class="toggle">
                        <input type="checkbox" name="errors" value="1" checked=errors on:change=on_errors/>
                        " Errors only"
                    </label>
                </div>
            </form>
        </div>
    }
}

/// `<option>`s for a select: "any" (empty) and each value, `selected` marked.
fn options(values: Vec<String>, selected: String, any: &'static str) -> impl IntoView {
    let any_selected = selected.is_empty();
    std::iter::once(view! { <option value="" selected=any_selected>{any}</option> }.into_any())
        .chain(values.into_iter().map(move |value| {
            let is_selected = selected == value;
            let label = value.clone();
            view! { <option value=value selected=is_selected>{label}</option> }.into_any()
        }))
        .collect_view()
}
