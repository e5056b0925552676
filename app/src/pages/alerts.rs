//! `/admin/alerts`: the alert rules, whether each fires, and (for founders
//! and admins) adding and removing them.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::admin::{notice_view, workspace_options, ConfirmedForm, PostForm};
use crate::admin_api::Typed;
use crate::alerts::{alerts_overview, AddAlertRule, AlertsData, RemoveAlert};
use crate::components::{loaded_view, ListHead, PageTitle, TopBar};
use crate::format::absolute_time;
use crate::model::{span_text, AlertRule, FeedParams, Micros};

#[component]
pub fn AlertsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| alerts_overview());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(data.await, |data| view! { <AlertsView data/> }.into_any())
            })}
        </Suspense>
    }
}

#[component]
fn AlertsView(data: AlertsData) -> impl IntoView {
    let AlertsData { viewer, workspaces, rules, endpoints, notice } = data;
    // A refused rule comes back as typed.
    let typed = Typed::of(&notice, AddAlertRule::PATH);
    let options = workspace_options(&workspaces, "every workspace", &typed.value("workspace"));
    let conditions = [
        ("match", "each matching record"),
        ("count", "more than N matching records in the window"),
        ("error_rate", "error rate above P % (of N records at least)"),
        ("avg_duration", "average duration above T ms, per provider"),
        ("p95_duration", "p95 duration above T ms, per provider"),
        ("absent", "no matching record in the window"),
    ]
    .map(|(value, text)| view! { <option value=value selected=typed.holds("condition", value)>{text}</option> })
    .collect_view();
    let known = endpoints.iter().map(|(id, url)| format!("{id}: {url}")).collect::<Vec<_>>().join(" · ");
    let list = if rules.is_empty() {
        view! { <p class="muted">"No alert rules yet."</p> }.into_any()
    } else {
        let rows = rules.into_iter().map(|rule| view! { <RuleRow rule/> }).collect_view();
        view! {
            <table class="list">
                <ListHead columns=&["Rule", "Workspace", "Search", "Condition", "Cool-down", "Endpoints", "State", ""]/>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <PageTitle text="Alert rules"/>
        <TopBar viewer/>
        <main id="main" class="page admin">
            <h1>"Alert rules"</h1>
            {notice.clone().map(notice_view)}
            <p class="muted">
                "A rule fires once when its condition starts and once when it resolves; both are records in the \
                 trail workspace, sent to the rule's webhook endpoints (docs/webhooks.md)."
            </p>
            {list}
            <PostForm to=AddAlertRule::PATH class="inline" label="Add an alert rule">
                <label>"Name" <input name="name" required size="20" value=typed.value("name")/></label>
                <label>"Workspace" <select name="workspace">
                    {options}
                </select></label>
                <label>"Search" <input name="query" size="24" placeholder="severity:>=error key:payment.*"
                    value=typed.value("query")/></label>
                <label>"Condition" <select name="condition">{conditions}</select></label>
                <label>"Threshold" <input name="threshold" size="6" placeholder="N, P or T"
                    value=typed.value("threshold")/></label>
                <label>"Fewest records" <input name="min_records" size="4" placeholder="0"
                    value=typed.value("min_records")/></label>
                <label>"Window" <input name="window" size="4" placeholder="5m" value=typed.value("window")/></label>
                <label>"Cool-down" <input name="cooldown" size="4" placeholder="5m" value=typed.value("cooldown")/></label>
                <label>"Endpoints" <input name="endpoints" size="8" placeholder="ids; none: all" title=known
                    value=typed.value("endpoints")/></label>
                <button type="submit" class="primary">"Add"</button>
            </PostForm>
        </main>
    }
}

#[component]
fn RuleRow(rule: AlertRule) -> impl IntoView {
    let firing: Vec<String> = rule
        .firing()
        .map(|s| {
            let since = s.changed_at.map(absolute_time).unwrap_or_default();
            if s.group.is_empty() {
                format!("firing since {since}")
            } else {
                format!("{} firing since {since}", s.group)
            }
        })
        .collect();
    let state = if firing.is_empty() { "quiet".to_owned() } else { firing.join("; ") };
    let endpoints = if rule.endpoints.is_empty() {
        "every endpoint taking alerts".to_owned()
    } else {
        rule.endpoints.iter().map(|id| format!("#{id}")).collect::<Vec<_>>().join(", ")
    };
    let id = rule.id.to_string();
    let is_firing = !firing.is_empty();
    let unread = FeedParams::saved_search(&rule.query, Micros::now()).err();
    let hidden = id.clone();
    let remove = view! {
        <ConfirmedForm to=RemoveAlert::PATH action="Remove"
            question=format!("Remove rule #{} {}? It fires no more, and an alert it has firing is never resolved.", rule.id, rule.name)>
            <input type="hidden" name="id" value=hidden/>
        </ConfirmedForm>
    };
    view! {
        <tr data-rule=id class:firing=is_firing>
            <td>{format!("#{} {}", rule.id, rule.name)}</td>
            <td>{rule.workspace.clone().unwrap_or_else(|| "every workspace".into())}</td>
            <td>
                <code>{if rule.query.is_empty() { "every record".to_owned() } else { rule.query.clone() }}</code>
                {unread.map(|why| view! {
                    <p class="alert" role="alert">
                        "No longer understood (" {why} "): the rule neither fires nor resolves. Remove it and add it again."
                    </p>
                })}
            </td>
            <td>{rule.condition.describe(rule.window_seconds)}</td>
            <td>{span_text(rule.cooldown_seconds)}</td>
            <td>{endpoints}</td>
            <td>{state}</td>
            <td>{remove}</td>
        </tr>
    }
}
