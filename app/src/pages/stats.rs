//! The stats panel of `/`: totals, a histogram stacked by severity (SVG,
//! rendered on the server, readable without JavaScript), keys, actors and
//! provider operations.

use leptos::prelude::*;

use crate::api::load_stats;
use crate::format::absolute_time;
use crate::islands::HistogramReadout;
use crate::model::{Bar, FeedParams, Micros, NamedCount, OperationStats, Severity, Stats, StatsWindow};

#[component]
pub fn StatsPanel(params: FeedParams) -> impl IntoView {
    // The feed's workspace, chosen or typed (`workspace:acme` in the search).
    let workspace = match params.to_filter(Micros::now()) {
        Ok(filter) => filter.workspace.unwrap_or_default(),
        Err(_) => params.workspace.clone(),
    };
    // A ranking's link keeps the panel: this workspace, this window.
    let counted = FeedParams { workspace: workspace.clone(), window: params.window.clone(), ..Default::default() };
    // A window not understood is said like a search not understood, and
    // asks the server nothing.
    let bad_window = match params.window.as_str() {
        "" => None,
        window => StatsWindow::parse(window).err(),
    };
    let key = (params.window.clone(), workspace.clone());
    // Only for a window understood: a resource loads as soon as it is made.
    let stats = bad_window
        .is_none()
        .then(|| Resource::new(move || key.clone(), |(window, workspace)| load_stats(window, workspace)));
    let body = move || {
        let counted = counted.clone();
        Suspend::new(async move {
            let Some(stats) = stats else { return ().into_any() };
            match stats.await {
                Ok(stats) => view! { <StatsBody stats counted/> }.into_any(),
                Err(err) => {
                    let text = format!("Stats unavailable: {}", crate::api::failure_text(&err));
                    view! { <p class="alert" role="alert">{text}</p> }.into_any()
                }
            }
        })
    };
    view! {
        <section class="stats" aria-labelledby="stats-title">
            <WindowPicker params workspace/>
            {match bad_window {
                Some(message) => view! { <p class="alert" role="alert">{message}</p> }.into_any(),
                None => view! {
                    <Suspense fallback=|| view! { <p class="loading">"Loading stats…"</p> }>{body}</Suspense>
                }
                .into_any(),
            }}
        </section>
    }
}

#[component]
fn WindowPicker(params: FeedParams, workspace: String) -> impl IntoView {
    let current = if params.window.is_empty() { "24h".to_owned() } else { params.window.clone() };
    let links = StatsWindow::ALL
        .iter()
        .map(|w| {
            let label = w.as_str();
            let selected = label == current;
            // A link that keeps the other parameters.
            let target = format!("/?{}", FeedParams { window: label.to_owned(), ..params.clone() }.to_query());
            view! { <a href=target aria-current=selected.then_some("true")>{label}</a> }
        })
        .collect_view();
    // The panel counts the workspace chosen (in the list or the search),
    // not the rest of the search or the other filters, and as of the
    // page's load: it says so.
    let scope = match workspace.as_str() {
        "" => "every record you may see".to_owned(),
        workspace => format!("every record of {workspace} you may see"),
    };
    view! {
        <div class="toolbar">
            <h2 id="stats-title">"Overview"</h2>
            <span class="muted">{format!("{scope}, as of this page's load; the rest of the search and the other filters aside")}</span>
            <span class="spacer"></span>
            <nav class="segmented" aria-label="Stats window">{links}</nav>
        </div>
    }
}

/// Rows of the provider table, and of the full key list, before the rest is
/// summed in one row.
pub const PANEL_PROVIDERS: usize = 8;
pub const PANEL_KEYS: usize = 50;

/// The first `rows` items and, if there are more, the rest folded into one.
pub fn top_and_rest<T: Clone>(items: &[T], rows: usize, fold: impl Fn(&[T]) -> T) -> (Vec<T>, Option<T>) {
    if items.len() <= rows {
        return (items.to_vec(), None);
    }
    (items[..rows].to_vec(), Some(fold(&items[rows..])))
}

fn percent(rate: f64) -> String {
    format!("{:.1} %", rate * 100.0)
}

fn ms(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{v:.0} ms"))
}

#[component]
fn StatsBody(stats: Stats, counted: FeedParams) -> impl IntoView {
    let tiles = [
        ("Records", stats.records.to_string(), ""),
        ("Warnings", stats.warnings.to_string(), "sev-warning"),
        ("Errors", stats.errors.to_string(), "sev-error"),
        ("Critical", stats.critical.to_string(), "sev-critical"),
        ("Error rate", percent(stats.error_rate), ""),
    ]
    .into_iter()
    .map(|(label, value, class)| view! { <div class=format!("tile {class}")><span class="value">{value}</span> <span class="label">{label}</span></div> })
    .collect_view();
    let actions = stats.actions.clone();
    // However many distinct values producers send, the panel stays a panel.
    let (mut providers, other_providers) = top_and_rest(&stats.by_provider, PANEL_PROVIDERS, |rest| {
        let mut other = OperationStats { name: format!("{} others", rest.len()), ..Default::default() };
        for o in rest {
            other.merge(o);
        }
        other
    });
    providers.extend(other_providers);
    let (keys, other_keys) = top_and_rest(&stats.by_key, PANEL_KEYS, |rest| NamedCount {
        name: rest.len().to_string(),
        count: rest.iter().map(|k| k.count).sum(),
        label: None,
    });
    view! {
        <div class="tiles">{tiles}</div>
        <Histogram bars=stats.bars.clone() bar_hours=stats.bar_hours/>
        <div class="stat-grid">
            <Ranking title="Top keys" items=stats.by_key.iter().take(8).cloned().collect() link="key" counted=counted.clone() since=stats.since/>
            <Ranking title="Top actors" items=stats.top_actors.clone() link="actor_id" counted=counted.clone() since=stats.since/>
            <div class="card-section">
                <h3>"Provider operations"</h3>
                <p class="muted">
                    {format!(
                        "{} ok · {} failed · {} timed out · {} retried · avg {} · p95 {}",
                        actions.success, actions.failure, actions.timeout, actions.retry,
                        ms(actions.average_ms), ms(actions.p95_ms.map(|v| v as f64))
                    )}
                </p>
                <Operations items=providers caption="By provider"/>
                <Operations items=stats.slowest.iter().take(5).cloned().collect() caption="Slowest (p95)"/>
            </div>
        </div>
        <details class="card-section">
            <summary>{format!("Counts by key ({})", stats.by_key.len())}</summary>
            <Ranking title="" items=keys link="key" counted since=stats.since/>
            {other_keys.map(|other| view! { <p class="muted other">{format!("and {} more keys: {} records", other.name, other.count)}</p> })}
        </details>
    }
}

#[component]
/// Names and counts, each a link to the records it counted: the panel's
/// workspace, from the window's first bar on (`since`, whole hours or days).
fn Ranking(
    title: &'static str,
    items: Vec<NamedCount>,
    link: &'static str,
    counted: FeedParams,
    since: Micros,
) -> impl IntoView {
    let rows = items
        .into_iter()
        .map(|item| {
            let q = format!("{link}:{} after:{}", crate::search::quote(&item.name), since.to_rfc3339());
            let feed = FeedParams { q, ..counted.clone() };
            let href = format!("/?{}", feed.to_query());
            // A label (an actor's name) first, the id it counts by beside it.
            let shown = match &item.label {
                Some(label) => {
                    view! { <bdi>{label.clone()}</bdi> " " <span class="muted">{item.name.clone()}</span> }.into_any()
                }
                None => view! { <bdi>{item.name.clone()}</bdi> }.into_any(),
            };
            view! { <li><a href=href>{shown}</a> <span class="count">{item.count}</span></li> }
        })
        .collect_view();
    view! {
        <div class="card-section">
            {(!title.is_empty()).then(|| view! { <h3>{title}</h3> })}
            <ol class="ranking">{rows}</ol>
        </div>
    }
}

#[component]
fn Operations(items: Vec<OperationStats>, caption: &'static str) -> impl IntoView {
    let rows = items
        .into_iter()
        .map(|o| {
            view! {
                <tr>
                    <th scope="row">{o.name}</th>
                    <td>{o.count}</td>
                    <td>{o.failure + o.timeout}</td>
                    <td>{ms(o.average_ms)}</td>
                    <td>{ms(o.p95_ms.map(|v| v as f64))}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="ops">
            <caption>{caption}</caption>
            <thead><tr><th scope="col">""</th><th scope="col">"runs"</th><th scope="col">"failed"</th><th scope="col">"avg"</th><th scope="col">"p95"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

const SEVERITY_CLASSES: [&str; 4] = ["info", "warning", "error", "critical"];

/// Stacked bars in SVG. Each bar has a `<title>` (a tooltip without
/// JavaScript); with it, hovering also shows the numbers below.
#[component]
fn Histogram(bars: Vec<Bar>, bar_hours: i64) -> impl IntoView {
    let (width, height) = (720.0_f64, 120.0_f64);
    let peak = bars.iter().map(|b| b.by_severity.iter().sum::<i64>()).max().unwrap_or(0).max(1) as f64;
    let slot = width / bars.len().max(1) as f64;
    let describe = move |bar: &Bar| {
        let when = if bar_hours >= 24 {
            bar.start.to_datetime().format("%Y-%m-%d").to_string()
        } else {
            absolute_time(bar.start)
        };
        let parts: Vec<String> =
            Severity::ALL.iter().zip(bar.by_severity).map(|(s, n)| format!("{n} {}", s.as_str())).collect();
        format!("{when}: {}", parts.join(", "))
    };
    let columns = bars
        .iter()
        .enumerate()
        .map(|(i, bar)| {
            let x = i as f64 * slot + 1.0;
            let mut y = height;
            let segments = bar
                .by_severity
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(s, n)| {
                    let h = (*n as f64 / peak * (height - 4.0)).max(1.0);
                    y -= h;
                    view! { <rect x=x y=y width=(slot - 2.0).max(1.0) height=h class=format!("bar-{}", SEVERITY_CLASSES[s])></rect> }
                })
                .collect_view();
            view! {
                <g class="column">
                    <title>{describe(bar)}</title>
                    <rect x=x - 1.0 y=0 width=slot height=height class="hit"></rect>
                    {segments}
                </g>
            }
        })
        .collect_view();
    let first = bars.first().map(|b| absolute_time(b.start)).unwrap_or_default();
    view! {
        <figure class="histogram">
            <svg viewBox=format!("0 0 {width} {height}") preserveAspectRatio="none" role="img"
                aria-label=format!("Records per {} by severity, since {first}", if bar_hours >= 24 { "day" } else { "hour" })>
                {columns}
            </svg>
            <figcaption>
                <span class="legend">
                    {SEVERITY_CLASSES.iter().map(|c| view! { <span class=format!("key-{c}")>{*c}</span> }).collect_view()}
                </span>
                <HistogramReadout idle=format!("since {first}")/>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::top_and_rest;

    #[test]
    fn the_rest_is_folded_into_one_row() {
        let sum = |rest: &[i64]| rest.iter().sum();
        assert_eq!(top_and_rest(&[5, 4, 3], 3, sum), (vec![5, 4, 3], None));
        assert_eq!(top_and_rest(&[5, 4, 3, 2, 1], 2, sum), (vec![5, 4], Some(6)));
    }
}
