//! The interactive parts of the pages: the only code the browser runs
//! (Leptos islands). Everything else is rendered on the server and works
//! without JavaScript; these find the server-rendered elements they enhance
//! and change them in place. Rows arrive as HTML the server rendered, so the
//! bundle carries no record rendering, dates or model types of its own.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{feed_updates, load_more, MoreOf};
use crate::model::FeedParams;

const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// The feed's list, rendered by the server.
pub const FEED_LIST: &str = "ol.feed";

/// The feed's heading and live controls. Every 10 s it keeps the relative
/// times current and, unless paused, prepends the records received since the
/// newest one shown (`newest_ms`). `live` is false when the search was not
/// understood: then there is nothing to poll.
#[island]
pub fn LiveFeed(params: FeedParams, newest_ms: i64, live: bool) -> impl IntoView {
    let paused = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let newest_ms = StoredValue::new(newest_ms);
    let params = StoredValue::new(params);
    let poll = move || {
        spawn_local(async move {
            match feed_updates(params.get_value(), newest_ms.get_value()).await {
                Ok(update) => {
                    if let Some(ms) = update.newest_ms {
                        newest_ms.update_value(|n| *n = (*n).max(ms));
                    }
                    dom::insert_unseen(FEED_LIST, &update.html, dom::Place::First);
                    problem.set(None);
                }
                Err(err) => problem.set(Some(format!("Live updates failed: {err}"))),
            }
        });
    };
    // Effects run only in the browser.
    Effect::new(move |_| {
        if !live {
            return;
        }
        let tick = move || {
            dom::refresh_times(FEED_LIST);
            if !paused.get_untracked() {
                poll();
            }
        };
        let handle = set_interval_with_handle(tick, REFRESH_EVERY).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
    view! {
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
    }
}

/// "Load more" under a server-rendered list (`list` is its selector):
/// appends the page of `of` after `cursor`, then offers the next one.
#[island]
pub fn LoadMore(of: MoreOf, cursor: String, list: String) -> impl IntoView {
    let cursor = RwSignal::new(Some(cursor));
    let loading = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let of = StoredValue::new(of);
    let list = StoredValue::new(list);
    let on_click = move |_| {
        let Some(after) = cursor.get_untracked() else { return };
        loading.set(true);
        spawn_local(async move {
            match load_more(of.get_value(), after).await {
                Ok(page) => {
                    list.with_value(|list| dom::insert_unseen(list, &page.html, dom::Place::Last));
                    cursor.set(page.next_cursor);
                    problem.set(None);
                }
                Err(err) => problem.set(Some(format!("Could not load more: {err}"))),
            }
            loading.set(false);
        });
    };
    view! {
        {move || problem.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
        <Show when=move || cursor.with(Option::is_some)>
            <div class="more">
                <button type="button" class="secondary" on:click=on_click disabled=move || loading.get()>
                    {move || if loading.get() { "Loading…" } else { "Load more" }}
                </button>
            </div>
        </Show>
    }
}

/// Placed in a form: submits it when one of its selects or checkboxes
/// changes, so a filter applies at once. Without JavaScript the form's
/// submit button does the same.
#[island]
pub fn SubmitOnChange() -> impl IntoView {
    let anchor = NodeRef::<leptos::html::Span>::new();
    Effect::new(move |_| {
        if let Some(anchor) = anchor.get() {
            dom::submit_on_change(&anchor);
        }
    });
    view! { <span hidden node_ref=anchor></span> }
}

/// The histogram's readout: the numbers of the bar under the pointer (each
/// bar's `<title>`), and `idle` otherwise.
#[island]
pub fn HistogramReadout(idle: String) -> impl IntoView {
    let text = RwSignal::new(idle.clone());
    let readout = NodeRef::<leptos::html::Span>::new();
    Effect::new(move |_| {
        if let Some(readout) = readout.get() {
            let idle = idle.clone();
            dom::on_bar_hover(&readout, move |bar| text.set(bar.unwrap_or_else(|| idle.clone())));
        }
    });
    view! { <span class="readout" aria-live="polite" node_ref=readout>{move || text.get()}</span> }
}

/// Work on the server-rendered document. Called from effects, so only ever
/// in the browser.
mod dom {
    use leptos::prelude::document;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    use web_sys::{Element, Event, HtmlFormElement, HtmlTemplateElement, NodeList};

    use crate::format::relative_age;

    pub enum Place {
        First,
        Last,
    }

    fn find(selector: &str) -> Option<Element> {
        document().query_selector(selector).ok().flatten()
    }

    /// The elements a `query_selector_all` found (none if it failed).
    fn elements(found: Result<NodeList, JsValue>) -> Vec<Element> {
        let Ok(nodes) = found else { return vec![] };
        (0..nodes.length()).filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok()).collect()
    }

    /// Puts the rows of `html` that `list` does not show yet (by `data-id`)
    /// at its start or end.
    pub fn insert_unseen(list: &str, html: &str, place: Place) {
        let Some(list) = find(list) else { return };
        let Ok(template) = document().create_element("template") else { return };
        template.set_inner_html(html);
        let rows = template.unchecked_into::<HtmlTemplateElement>().content();
        for row in elements(rows.query_selector_all("[data-id]")) {
            let id = row.get_attribute("data-id").unwrap_or_default();
            if list.query_selector(&format!("[data-id=\"{id}\"]")).ok().flatten().is_some() {
                row.remove();
            }
        }
        if rows.child_element_count() == 0 {
            return;
        }
        let _ = match place {
            Place::First => list.prepend_with_node_1(&rows),
            Place::Last => list.append_with_node_1(&rows),
        };
        // "Nothing matches" is no longer true.
        if let Some(empty) = find("p.empty") {
            empty.remove();
        }
    }

    /// Rewrites the relative times in `list` from their `datetime`.
    pub fn refresh_times(list: &str) {
        let Some(list) = find(list) else { return };
        let now_ms = js_sys::Date::now();
        for time in elements(list.query_selector_all("time[datetime]")) {
            let at_ms = js_sys::Date::parse(&time.get_attribute("datetime").unwrap_or_default());
            if at_ms.is_nan() {
                continue;
            }
            if let Some(label) = relative_age(((now_ms - at_ms) / 1_000.0) as i64) {
                time.set_text_content(Some(&label));
            }
        }
    }

    /// Listens for as long as the page lives.
    fn listen(target: &Element, event: &str, handler: impl Fn(Event) + 'static) {
        let handler = Closure::<dyn Fn(Event)>::new(handler);
        let _ = target.add_event_listener_with_callback(event, handler.as_ref().unchecked_ref());
        handler.forget();
    }

    fn event_element(event: &Event) -> Option<Element> {
        event.target()?.dyn_into::<Element>().ok()
    }

    pub fn submit_on_change(inside: &Element) {
        let Some(form) = inside.closest("form").ok().flatten() else { return };
        let submit: HtmlFormElement = form.clone().unchecked_into();
        listen(&form, "change", move |event| {
            let Some(control) = event_element(&event) else { return };
            if control.tag_name() == "SELECT" || control.get_attribute("type").as_deref() == Some("checkbox") {
                let _ = submit.request_submit();
            }
        });
    }

    /// Calls `show` with the `<title>` of the histogram bar the pointer
    /// enters, and with `None` when it leaves the chart.
    pub fn on_bar_hover(readout: &Element, show: impl Fn(Option<String>) + 'static) {
        let chart =
            readout.closest("figure").ok().flatten().and_then(|figure| figure.query_selector("svg").ok().flatten());
        let Some(chart) = chart else { return };
        let show = std::rc::Rc::new(show);
        let on_leave = show.clone();
        listen(&chart, "mouseover", move |event| {
            let title = event_element(&event)
                .and_then(|target| target.closest("g.column").ok().flatten())
                .and_then(|column| column.query_selector("title").ok().flatten())
                .and_then(|title| title.text_content());
            show(title);
        });
        listen(&chart, "mouseleave", move |_| on_leave(None));
    }
}
