//! Pieces several pages share.

use leptos::prelude::*;

use crate::format::{absolute_time, relative_time};
use crate::model::{DiffRow, EventDetail, EventRow, Loaded, Micros, Viewer};
use crate::pages::not_found::NotFound;

/// Renders a page load: the page, a 404, or the way to /login. Pages are
/// the viewer's own (and `/admin` may show a new key's secret): no cache
/// may keep them.
pub fn loaded_view<T>(result: Result<Loaded<T>, ServerFnError>, page: impl FnOnce(T) -> AnyView) -> AnyView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        use axum::http::header::{HeaderValue, CACHE_CONTROL};
        response.insert_header(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    match result {
        Ok(Loaded::Found(value)) => page(value),
        Ok(Loaded::NotFound) => view! { <NotFound/> }.into_any(),
        Ok(Loaded::SignedOut) => to_sign_in(),
        Err(err) => view! { <p class="alert" role="alert">{crate::api::failure_text(&err)}</p> }.into_any(),
    }
}

/// Sends a signed-out visitor to `/login`, remembering where they were going.
/// On the server that is a real `303` (pages that need a session render
/// in full before their first byte), so it works without JavaScript, for
/// curl, monitors and link previews alike.
fn to_sign_in() -> AnyView {
    #[cfg(feature = "ssr")]
    {
        use axum::http::header::{HeaderValue, LOCATION};
        let here = use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
            .unwrap_or_else(|| "/".to_owned());
        let target = match crate::model::safe_next(&here) {
            Some(next) if next != "/" => format!("/login?{}", crate::model::query_string(&[("next", next)])),
            _ => "/login".to_owned(),
        };
        if let (Some(response), Ok(location)) =
            (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(&target))
        {
            response.set_status(axum::http::StatusCode::SEE_OTHER);
            response.insert_header(LOCATION, location);
        }
        view! { <p>"Sign in to continue: " <a href=target>"sign in"</a></p> }.into_any()
    }
    #[cfg(not(feature = "ssr"))]
    view! { <leptos_router::components::Redirect path="/login"/> }.into_any()
}

/// A list table's header row: one column heading each (empty: an
/// unnamed column, such as one of buttons).
#[component]
pub fn ListHead(columns: &'static [&'static str]) -> impl IntoView {
    let headings = columns.iter().map(|name| view! { <th scope="col">{*name}</th> }).collect_view();
    view! {
        <thead>
            <tr>{headings}</tr>
        </thead>
    }
}

/// The page's title, as tabs, history and screen readers name it.
#[component]
pub fn PageTitle(#[prop(into)] text: String) -> impl IntoView {
    view! { <leptos_meta::Title text=format!("{text} · Trail")/> }
}

#[component]
pub fn TopBar(viewer: Viewer) -> impl IntoView {
    let who = viewer.name.clone().unwrap_or_else(|| viewer.email.clone());
    let platform = viewer.role.is_platform();
    view! {
        // Keyboard users skip the top bar's links to the page's own content.
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/">"Trail"</a>
            <nav aria-label="Main">
                <a href="/">"Activity"</a>
                <Show when=move || platform>
                    <a href="/health">"Health"</a>
                    <a href="/admin">"Admin"</a>
                </Show>
            </nav>
            <span class="spacer"></span>
            <a class="who" href="/account" title=format!("{}: your account", viewer.email)>
                <bdi>{who}</bdi> " " <span class="badge role">{viewer.role.as_str()}</span>
            </a>
            <form method="post" action="/logout">
                <button type="submit" class="link">"Sign out"</button>
            </form>
        </header>
    }
}

/// A relative time, with the exact time on hover. The live feed's island
/// keeps it current in the browser (from `datetime`).
#[component]
pub fn When(at: Micros, now: Micros) -> impl IntoView {
    view! {
        <time class="time" datetime=at.to_rfc3339() title=absolute_time(at)>
            {relative_time(at, now)}
        </time>
    }
}

/// One record in a list: links to its detail page and its entity's timeline.
/// `fresh` marks a row the live feed has just added.
#[component]
pub fn EventItem(row: EventRow, now: Micros, #[prop(optional)] fresh: bool) -> impl IntoView {
    let severity = row.severity.as_str();
    let actor = row.actor_display().map(str::to_owned);
    // Always a cell, empty without an entity: the row is a grid, and a
    // missing cell would move the ones after it a column to the left.
    let entity = match (row.entity_display(), row.entity_href()) {
        (Some(label), Some(href)) => view! { <a class="entity" href=href>{label}</a> }.into_any(),
        (label, _) => view! { <span class="entity">{label}</span> }.into_any(),
    };
    let status = row.status.map(|s| view! { <span class=format!("status status-{s}")>{s.as_str()}</span> });
    view! {
        <li
            class=format!("row sev-{severity}")
            class:fresh=fresh
            data-id=row.id.to_string()
            data-occurred=row.occurred_at.0.to_string()
        >
            <When at=row.occurred_at now/>
            <span class=format!("badge sev sev-{severity}")>{severity}</span>
            <span class="badge kind">{row.kind.as_str()}</span>
            <a class="key" href=row.href()>{row.key.clone()}</a>
            <span class="message">{row.message.clone()}</span>
            <span class="actor">{actor}</span>
            {entity}
            <span class="meta">{status} <span class="workspace">{row.workspace.clone()}</span></span>
        </li>
    }
}

/// A diff as a table: each field's value before and after, changes marked.
#[component]
pub fn DiffTable(rows: Vec<DiffRow>) -> impl IntoView {
    view! {
        <table class="diff">
            <thead>
                <tr><th scope="col">"Field"</th><th scope="col">"Before"</th><th scope="col">"After"</th></tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|row| {
                        let change = row.change.as_str();
                        view! {
                            <tr class=format!("change-{change}")>
                                <th scope="row">
                                    {row.field} <span class="visually-hidden">{format!(" ({change})")}</span>
                                </th>
                                <td class="old">{row.old}</td>
                                <td class="new">{row.new}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// One record of an entity's history, with its diff.
#[component]
pub fn TimelineEntry(record: EventDetail, now: Micros) -> impl IntoView {
    let diff = record.diff_rows();
    let row = record.row;
    let severity = row.severity.as_str();
    let who = row.actor_display().map(str::to_owned).unwrap_or_else(|| row.actor_type.as_str().to_owned());
    view! {
        <li class=format!("entry sev-{severity}") data-id=row.id.to_string()>
            <div class="entry-head">
                <When at=row.occurred_at now/>
                <span class=format!("badge sev sev-{severity}")>{severity}</span>
                <a class="key" href=row.href()>{row.key.clone()}</a>
                <span class="actor">"by " {who}</span>
                <span class="workspace">{row.workspace.clone()}</span>
            </div>
            <p class="message">{row.message.clone()}</p>
            {(!diff.is_empty()).then(|| view! { <DiffTable rows=diff/> })}
        </li>
    }
}
