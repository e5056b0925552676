//! The interactive parts of the pages: the only code the browser runs
//! (Leptos islands). Everything else is rendered on the server and works
//! without JavaScript; these find the server-rendered elements they enhance
//! and change them in place. Rows arrive as HTML the server rendered, so the
//! bundle carries no record rendering, dates or model types of its own.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{failure_text, feed_updates, load_more, MoreOf, NOT_SIGNED_IN};
use crate::model::FeedParams;

const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// The feed's list, rendered by the server.
pub const FEED_LIST: &str = "ol.feed";

/// The feed's heading and live controls. Unless paused, it follows
/// `/api/v1/events/stream` (with the page's filters) and, when a record
/// arrives, puts the records received since the newest one shown
/// (`newest_ms`), rendered by the server, in their place in the list.
/// Where the stream cannot be opened it polls every 10 s instead. Relative
/// times are kept current every 10 s. `live` is false when the search was
/// not understood: then there is nothing to follow. Signed out meanwhile
/// (elsewhere, or disabled), it stops and says so.
#[island]
pub fn LiveFeed(params: FeedParams, newest_ms: i64, live: bool) -> impl IntoView {
    let paused = RwSignal::new(false);
    let streaming = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let signed_out = RwSignal::new(false);
    let newest_ms = StoredValue::new(newest_ms);
    let stream_url = StoredValue::new(format!("/api/v1/events/stream?{}", params.stream_query()));
    let params = StoredValue::new(params);
    // One poll at a time; a wake during one asks for another after it.
    let (polling, again) = (StoredValue::new(false), StoredValue::new(false));
    let poll = move || {
        if polling.get_value() {
            again.set_value(true);
            return;
        }
        polling.set_value(true);
        spawn_local(async move {
            loop {
                again.set_value(false);
                match feed_updates(params.get_value(), newest_ms.get_value()).await {
                    Ok(update) => {
                        if let Some(ms) = update.newest_ms {
                            newest_ms.update_value(|n| *n = (*n).max(ms));
                        }
                        dom::insert_unseen(FEED_LIST, &update.html, dom::Place::InOrder);
                        problem.set(None);
                    }
                    Err(err) if failure_text(&err) == NOT_SIGNED_IN => {
                        signed_out.set(true);
                        break;
                    }
                    Err(err) => problem.set(Some(format!("Live updates failed: {}", failure_text(&err)))),
                }
                if !again.get_value() {
                    break;
                }
            }
            polling.set_value(false);
        });
    };
    let follow = move || {
        let on_message = move || {
            if !paused.get_untracked() {
                poll();
            }
        };
        streaming.set(false);
        // Once open, one poll: records committed after the page was rendered
        // and before the stream joined would come through neither.
        let on_state = move |open: bool| {
            streaming.set(open);
            if open && !paused.get_untracked() {
                poll();
            }
        };
        stream_url.with_value(|url| dom::follow(url, on_message, on_state));
    };
    let stop = move || {
        dom::stop_following();
        streaming.set(false);
    };
    // Effects run only in the browser.
    Effect::new(move |_| {
        if !live {
            return;
        }
        if paused.get() || signed_out.get() {
            stop();
        } else {
            follow();
        }
    });
    Effect::new(move |_| {
        if !live {
            return;
        }
        let tick = move || {
            dom::refresh_times(FEED_LIST);
            if paused.get_untracked() || streaming.get_untracked() || signed_out.get_untracked() {
                return;
            }
            poll();
            // A stream the server refused (or lost for good) is tried again.
            if !dom::following() {
                follow();
            }
        };
        let handle = set_interval_with_handle(tick, REFRESH_EVERY).ok();
        on_cleanup(move || {
            if let Some(handle) = handle {
                handle.clear();
            }
        });
    });
    let toggle = move |_| {
        let resuming = paused.get_untracked();
        paused.set(!resuming);
        if resuming {
            poll(); // what arrived while paused
        }
    };
    // Without JavaScript nothing refreshes: the status and its button
    // appear once the island runs.
    let running = RwSignal::new(false);
    Effect::new(move |_| running.set(true));
    let controls = live.then(|| {
        view! {
            <Show when=move || running.get()>
            <span class="live" class:paused=move || paused.get() || signed_out.get() aria-live="polite">
                {move || match (signed_out.get(), paused.get(), streaming.get()) {
                    (true, _, _) => "Stopped",
                    (false, true, _) => "Paused",
                    (false, false, true) => "Live",
                    (false, false, false) => "Live · every 10 s",
                }}
            </span>
            <Show when=move || !signed_out.get()>
                // Its label says what it does; no `aria-pressed` beside
                // a label that changes ("Resume, pressed" said it twice).
                <button type="button" class="secondary" on:click=toggle>
                    {move || if paused.get() { "Resume" } else { "Pause" }}
                </button>
            </Show>
            </Show>
        }
    });
    view! {
        <div class="toolbar">
            <h1>"Activity"</h1>
            <span class="spacer"></span>
            {controls}
        </div>
        {move || problem.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
        <Show when=move || signed_out.get()>
            <p class="alert" role="alert">
                "You are signed out, so live updates stopped. " <a href="/login">"Sign in again"</a>
            </p>
        </Show>
    }
}

/// "Load more" under a server-rendered list (`list` is its selector):
/// appends the page of `of` after `cursor`, then offers the next one.
/// Without JavaScript it is a link to the page `href` with the cursor,
/// which the server renders (that page alone).
#[island]
pub fn LoadMore(of: MoreOf, cursor: String, list: String, href: String) -> impl IntoView {
    let cursor = RwSignal::new(Some(cursor));
    let loading = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let of = StoredValue::new(of);
    let list = StoredValue::new(list);
    let href = StoredValue::new(href);
    let next_href = move || {
        let after = cursor.get().unwrap_or_default();
        href.with_value(|href| crate::model::with_query(href, &[("cursor", &after)]))
    };
    let on_click = move |event: leptos::ev::MouseEvent| {
        // A click that opens another tab or window follows the link.
        if event.ctrl_key() || event.meta_key() || event.shift_key() || event.button() != 0 {
            return;
        }
        event.prevent_default();
        let Some(after) = cursor.get_untracked() else { return };
        if loading.get_untracked() {
            return;
        }
        loading.set(true);
        spawn_local(async move {
            match load_more(of.get_value(), after).await {
                Ok(page) => {
                    list.with_value(|list| dom::insert_unseen(list, &page.html, dom::Place::Last));
                    cursor.set(page.next_cursor);
                    problem.set(None);
                }
                Err(err) => problem.set(Some(format!("Could not load more: {}", failure_text(&err)))),
            }
            loading.set(false);
        });
    };
    view! {
        {move || problem.get().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
        <Show when=move || cursor.with(Option::is_some)>
            // Rows arriving live that belong past the list's end are left to it.
            <div class="more" data-continues=list.get_value()>
                <a class="button secondary" href=next_href on:click=on_click aria-busy=move || loading.get().to_string()>
                    {move || if loading.get() { "Loading…" } else { "Load more" }}
                </a>
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
    use web_sys::{Element, Event, EventSource, HtmlFormElement, HtmlTemplateElement, NodeList};

    use crate::format::relative_age;

    pub enum Place {
        /// Where the feed's order (newest first) puts each row.
        InOrder,
        Last,
    }

    /// The page's `EventSource` and its handlers (dropped with it). Only
    /// ever touched in the browser, which has one thread.
    struct Follow {
        source: EventSource,
        _handlers: [Closure<dyn Fn(Event)>; 3],
    }

    thread_local! {
        static FOLLOWING: std::cell::RefCell<Option<Follow>> = const { std::cell::RefCell::new(None) };
    }

    /// Opens `url` in place of any stream open before: `on_message` for
    /// each record, `on_state(open)` when the connection opens or fails. The
    /// browser reconnects by itself, sending `Last-Event-ID`, after a
    /// dropped connection.
    pub fn follow(url: &str, on_message: impl Fn() + 'static, on_state: impl Fn(bool) + Clone + 'static) {
        stop_following();
        let Ok(source) = EventSource::new(url) else { return };
        let on_open = on_state.clone();
        let handlers = [
            Closure::<dyn Fn(Event)>::new(move |_| on_message()),
            Closure::<dyn Fn(Event)>::new(move |_| on_open(true)),
            Closure::<dyn Fn(Event)>::new(move |_| on_state(false)),
        ];
        source.set_onmessage(Some(handlers[0].as_ref().unchecked_ref()));
        source.set_onopen(Some(handlers[1].as_ref().unchecked_ref()));
        source.set_onerror(Some(handlers[2].as_ref().unchecked_ref()));
        FOLLOWING.with_borrow_mut(|f| *f = Some(Follow { source, _handlers: handlers }));
    }

    /// Whether a stream is open or being reopened by the browser (not
    /// refused for good, not stopped).
    pub fn following() -> bool {
        FOLLOWING.with_borrow(|f| f.as_ref().is_some_and(|f| f.source.ready_state() != EventSource::CLOSED))
    }

    pub fn stop_following() {
        if let Some(follow) = FOLLOWING.with_borrow_mut(Option::take) {
            follow.source.close();
        }
    }

    fn find(selector: &str) -> Option<Element> {
        document().query_selector(selector).ok().flatten()
    }

    /// The elements a `query_selector_all` found (none if it failed).
    fn elements(found: Result<NodeList, JsValue>) -> Vec<Element> {
        let Ok(nodes) = found else { return vec![] };
        (0..nodes.length()).filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok()).collect()
    }

    /// A feed row's place in the feed's order, newest first: when it
    /// occurred, then its id (hex text sorts as the id does).
    fn order_key(row: &Element) -> (i64, String) {
        let occurred = row.get_attribute("data-occurred").and_then(|t| t.parse().ok()).unwrap_or(i64::MIN);
        (occurred, row.get_attribute("data-id").unwrap_or_default())
    }

    /// Puts each of `rows` before the first of the rows `list` shows
    /// (`shown`, in its order) that is older. One older than all of them
    /// belongs to a later page if the list goes on (`continues`): "Load
    /// more" brings it in its turn.
    fn insert_in_order(list: &Element, mut shown: Vec<Element>, rows: Vec<Element>, continues: bool) {
        let mut keys: Vec<(i64, String)> = shown.iter().map(order_key).collect();
        for row in rows {
            let key = order_key(&row);
            let at = keys.partition_point(|shown| *shown > key);
            let placed = match shown.get(at) {
                Some(older) => list.insert_before(&row, Some(older)).is_ok(),
                None if continues => false,
                None => list.append_child(&row).is_ok(),
            };
            if placed {
                keys.insert(at, key);
                shown.insert(at, row);
            }
        }
    }

    /// Puts the rows of `html` that `list` does not show yet (by `data-id`)
    /// in their place, or at its end.
    pub fn insert_unseen(selector: &str, html: &str, place: Place) {
        let Some(list) = find(selector) else { return };
        let Ok(template) = document().create_element("template") else { return };
        template.set_inner_html(html);
        let fragment = template.unchecked_into::<HtmlTemplateElement>().content();
        // The rows shown, read once: what is new, and where it goes.
        let shown = elements(list.query_selector_all("[data-id]"));
        let ids: std::collections::HashSet<String> =
            shown.iter().filter_map(|row| row.get_attribute("data-id")).collect();
        let unseen: Vec<Element> = elements(fragment.query_selector_all("[data-id]"))
            .into_iter()
            .filter(|row| row.get_attribute("data-id").is_none_or(|id| !ids.contains(&id)))
            .collect();
        if unseen.is_empty() {
            return;
        }
        match place {
            Place::InOrder => {
                let continues = find(&format!("[data-continues=\"{selector}\"]")).is_some();
                insert_in_order(&list, shown, unseen, continues);
            }
            Place::Last => unseen.iter().for_each(|row| _ = list.append_child(row)),
        }
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
