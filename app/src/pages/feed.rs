//! `/`: the viewer's activity feed, newest first, live, filtered by the URL.

use leptos::prelude::*;

use super::use_query_pairs;
use crate::api::{load_feed, newest_received_ms, FeedStart, MoreOf};
use crate::components::{loaded_view, EventItem, PageTitle, TopBar};
use crate::islands::{LiveFeed, LoadMore, SubmitOnChange, FEED_LIST};
use crate::model::{query_value, FeedParams, Kind, Severity};
use crate::search::{understood, QUALIFIERS, SYNTAX};

#[component]
pub fn FeedPage() -> impl IntoView {
    let query = use_query_pairs();
    let params = Memo::new(move |_| query.with(|q| FeedParams::from_query(|name| query_value(q, name))));
    let cursor = Memo::new(move |_| query.with(|q| query_value(q, "cursor")));
    let unread = Memo::new(move |_| query.with(|q| FeedParams::unread(q)));
    let start = Resource::new(move || (params.get(), cursor.get()), |(params, cursor)| load_feed(params, cursor));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(start.await, |start| {
                    view! { <Feed start params=params.get_untracked() unread=unread.get_untracked()/> }.into_any()
                })
            })}
        </Suspense>
    }
}

/// The feed; a later page (a "Load more" link followed without
/// JavaScript) is not live.
#[component]
fn Feed(start: FeedStart, params: FeedParams, unread: Vec<String>) -> impl IntoView {
    let FeedStart { viewer, page, search_error, later, notice, workspaces, server_time } = start;
    let platform = viewer.role.is_platform();
    let newest_ms = newest_received_ms(&page.rows).unwrap_or(server_time.0 / 1_000);
    let understood = search_error.is_none();
    let live = understood && !later;
    let first_page = format!("/?{}", params.to_query());
    let empty = page.rows.is_empty();
    // Only worth a control when there is a choice.
    let choosable_workspaces = if platform || workspaces.len() > 1 { workspaces } else { vec![] };
    let rows = page.rows.into_iter().map(|row| view! { <EventItem row now=server_time/> }).collect_view();
    let more = page.next_cursor.map(|cursor| {
        view! { <LoadMore of=MoreOf::Feed(params.clone()) cursor list=FEED_LIST.to_owned() href=first_page.clone()/> }
    });

    view! {
        <PageTitle text="Activity"/>
        <TopBar viewer/>
        <main id="main" class="page">
            <LiveFeed params=params.clone() newest_ms live/>
            <crate::pages::stats::StatsPanel params=params.clone()/>
            <FilterBar params=params.clone() workspaces=choosable_workspaces understood/>
            // Only a view the page understood: the export would read its parts otherwise.
            {understood.then(|| view! {
                <p class="export">
                    "Export this view: "
                    <a href=format!("/api/v1/events/export?{}", params.export_query("csv")) download>"CSV"</a>
                    " · "
                    <a href=format!("/api/v1/events/export?{}", params.export_query("ndjson")) download>"NDJSON"</a>
                </p>
            })}
            // The search or a filter of the address (`kind=bogus`): the message names which.
            {search_error.map(|text| view! { <p class="alert" role="alert">"Not understood: " {text}</p> })}
            {notice.map(|text| view! { <p class="alert" role="alert">{text}</p> })}
            {(!unread.is_empty()).then(|| view! {
                <p class="alert" role="alert">{format!(
                    "Not used on this page: {}. The search box takes them as qualifiers (actor:…, key:…; see its help).",
                    unread.join(", ")
                )}</p>
            })}
            {(empty && live).then(|| view! { <p class="empty">{empty_text(&params)}</p> })}
            {later.then(|| view! { <p class="crumbs"><a href=first_page.clone()>"← Newest records (live)"</a></p> })}
            // Always there, so live records have a place to go.
            <ol class="feed" aria-label="Activity feed">{rows}</ol>
            {more}
        </main>
    }
}

/// The filters: a search box and controls in a plain GET form, so the URL
/// is the view; with JavaScript a control's change applies at once.
#[component]
fn FilterBar(params: FeedParams, workspaces: Vec<String>, understood: bool) -> impl IntoView {
    let kinds: Vec<String> = Kind::ALL.iter().map(|k| k.as_str().to_owned()).collect();
    let severities: Vec<String> = Severity::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    let ranges: Vec<String> = FeedParams::RANGES.iter().map(|r| r.to_string()).collect();
    let help = format!("Search: free text, or {}", QUALIFIERS.join(" "));
    // The stats window is not a control here; the form carries it along.
    let window =
        (!params.window.is_empty()).then(|| view! { <input type="hidden" name="window" value=params.window.clone()/> });
    let workspace = (!workspaces.is_empty()).then(|| {
        view! {
            <label>
                "Workspace "
                <select name="workspace">{options(workspaces, params.workspace.clone(), "all")}</select>
            </label>
        }
    });
    view! {
        <div class="filters">
            <form method="get" action="/" role="search">
                <SubmitOnChange/>
                {window}
                <div class="filter-row">
                    <label class="search">
                        <span class="visually-hidden">"Search"</span>
                        <input
                            type="search"
                            name="q"
                            value=params.q.clone()
                            placeholder="key:track_* actor:u_12 severity:>=warning \"failed payment\""
                            title=help
                            autocomplete="off"
                        />
                    </label>
                    <button type="submit" class="primary">"Search"</button>
                    <button type="button" class="help-button" popovertarget="search-help" aria-label="Syntax help">
                        "?"
                    </button>
                    <SearchHelp/>
                </div>
                {understood.then(|| view! { <Understood q=params.q.clone()/> })}
                <div class="filter-row controls">
                    {workspace}
                    <label>
                        "Kind "
                        <select name="kind">{options(kinds, params.kind.clone(), "any")}</select>
                    </label>
                    <label>
                        "Severity "
                        <select name="severity">{options(severities, params.severity.clone(), "any")}</select>
                    </label>
                    <label>
                        "Time "
                        <select name="range">{options(ranges, params.range.clone(), "all time")}</select>
                    </label>
                    <label class="toggle">
                        <input type="checkbox" name="errors" value="1" checked=params.errors/>
                        " Errors only"
                    </label>
                </div>
            </form>
        </div>
    }
}

/// The syntax, in a popover the `?` button opens (no script needed).
#[component]
fn SearchHelp() -> impl IntoView {
    let rows = SYNTAX
        .iter()
        .map(|(example, meaning)| view! { <dt><code>{*example}</code></dt><dd>{*meaning}</dd> })
        .collect_view();
    view! {
        <div id="search-help" class="search-help" popover role="dialog" aria-label="Search syntax">
            <h2>"Search syntax"</h2>
            <p>"Words match whole words, found by the search index; every part must hold."</p>
            <dl>{rows}</dl>
        </div>
    }
}

/// How the search box read the current search, part by part.
#[component]
fn Understood(q: String) -> impl IntoView {
    let parts = understood(&q);
    (!parts.is_empty()).then(|| {
        let items = parts
            .into_iter()
            .map(|(name, value)| view! { <li><span class="name">{name}</span> " " <code>{value}</code></li> })
            .collect_view();
        view! { <ul class="understood" aria-label="Search understood as">{items}</ul> }
    })
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

/// What an empty feed says: a filtered view matched nothing; an unfiltered
/// one has nothing the viewer may see yet.
fn empty_text(params: &FeedParams) -> &'static str {
    let filtered =
        FeedParams { window: String::new(), q: params.q.trim().to_owned(), ..params.clone() } != FeedParams::default();
    match filtered {
        true => "Nothing matches these filters.",
        false => "Nothing here yet: new records appear as they arrive.",
    }
}
