//! `/admin/retention`: how long each kind of record is kept, by default and
//! per workspace. Founders change it; admins read it.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::admin::{notice_view, typed_options, workspace_options, PostForm};
use crate::admin_api::Typed;
use crate::components::{loaded_view, PageTitle, TopBar};
use crate::model::{Kind, Retention, Role};
use crate::retention::{retention_overview, RetentionData, SetRetention, CONFIRMED, DELETE_OLDER};

#[component]
pub fn RetentionPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| retention_overview());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(data.await, |data| view! { <RetentionView data/> }.into_any())
            })}
        </Suspense>
    }
}

/// One cell: the period, marked when it is the default's.
fn cell(retention: &Retention, workspace: Option<&str>, kind: Kind) -> impl IntoView {
    let text = match (retention.rule(workspace, kind), workspace) {
        (Some(rule), _) => rule.period.to_string(),
        (None, Some(_)) => format!("{} (default)", retention.default_period(kind)),
        (None, None) => retention.default_period(kind).to_string(),
    };
    view! { <td>{text}</td> }
}

#[component]
fn RetentionView(data: RetentionData) -> impl IntoView {
    let RetentionData { viewer, workspaces, retention, notice } = data;
    let is_founder = viewer.role == Role::Founder;
    let row = |label: String, workspace: Option<&str>| {
        let cells = Kind::ALL.iter().map(|kind| cell(&retention, workspace, *kind)).collect_view();
        view! { <tr><th scope="row">{label}</th>{cells}</tr> }
    };
    let mut rows = vec![row("Platform default".into(), None).into_any()];
    rows.extend(workspaces.iter().map(|slug| row(slug.clone(), Some(slug)).into_any()));
    // A refused change (one that asks for the tick first) comes back as typed.
    let typed = Typed::of(&notice, SetRetention::PATH);
    let options = workspace_options(&workspaces, "platform default", &typed.value("workspace"));
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let kinds = typed_options(&kinds, &typed, "kind");
    let period = typed.value("period");
    view! {
        <PageTitle text="Retention"/>
        <TopBar viewer/>
        <main id="main" class="page admin">
            <h1>"Retention"</h1>
            {notice.map(notice_view)}
            <p class="muted">
                "Records older than their period (by the time Trail received them) are removed every hour. "
                "A workspace's period set to “default” follows the platform default again. A shorter period than "
                "now deletes records: it asks you to tick “" {DELETE_OLDER} "” first, and names the workspaces."
            </p>
            <table class="list">
                <thead>
                    <tr>
                        <th scope="col">"Workspace"</th>
                        {Kind::ALL.iter().map(|k| view! { <th scope="col">{k.as_str()}</th> }).collect_view()}
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            {is_founder.then(|| view! {
                <PostForm to=SetRetention::PATH class="inline" label="Set a retention period">
                    <label>"Workspace" <select name="workspace">
                        {options}
                    </select></label>
                    <label>"Kind" <select name="kind">{kinds}</select></label>
                    <label>"Keep (days, forever, or default)"
                        <input name="period" required size="8" placeholder="90" value=period/></label>
                    <label class="check"><input type="checkbox" name="confirm" value=CONFIRMED/> {DELETE_OLDER}</label>
                    <button type="submit" class="primary">"Save"</button>
                </PostForm>
            })}
        </main>
    }
}
