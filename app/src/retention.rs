//! Retention settings: founders set a period per kind, as the platform default
//! or for one workspace; admins read them (`/admin/retention`). The operation
//! exists once, for the page and `trail retention set`, and is audited.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin_api::Notice;
use crate::model::{Loaded, Retention, Viewer};

/// What `/admin/retention` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionData {
    pub viewer: Viewer,
    pub workspaces: Vec<String>,
    pub retention: Retention,
    pub notice: Option<Notice>,
}

/// The settings, for founders and admins; members get a 404.
#[server]
pub async fn retention_overview() -> Result<Loaded<RetentionData>, ServerFnError> {
    crate::admin_api::ssr::platform_page(|viewer, ctx| async move {
        let internal = crate::api::ssr::internal;
        let workspaces = ctx.store.workspaces().await.map_err(internal)?.into_iter().map(|w| w.slug).collect();
        let retention = ctx.store.retention().await.map_err(internal)?;
        let notice = crate::admin_api::ssr::take_notice(&ctx).await;
        Ok(RetentionData { viewer, workspaces, retention, notice })
    })
    .await
}

/// Sets a kind's period (`workspace` empty: the platform default); founders only.
#[server]
pub async fn set_retention(workspace: String, kind: String, period: String) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        let kind = kind.parse().map_err(crate::api::ssr::bad_request)?;
        let period = period.parse().map_err(crate::api::ssr::bad_request)?;
        set_period(ctx.store.as_ref(), &actor, &workspace, kind, period).await.map_err(crate::admin_api::refused)
    })
    .await
}

#[cfg(feature = "ssr")]
pub use operation::set_period;

#[cfg(feature = "ssr")]
mod operation {
    use serde_json::json;

    use crate::accounts::{self, AccountError};
    use crate::audit::{Actor, Entry};
    use crate::model::{Kind, Period};
    use crate::store::{Applied, Change, Store};

    /// Sets how long `kind` records are kept in `workspace` (empty: the
    /// platform default); what was done, in words.
    pub async fn set_period(
        store: &dyn Store,
        actor: &Actor,
        workspace: &str,
        kind: Kind,
        period: Period,
    ) -> Result<String, AccountError> {
        let workspace = match workspace.trim() {
            "" => None,
            slug => Some(accounts::workspace(store, slug).await?),
        };
        let scope = workspace.as_ref().map_or("the platform default".to_owned(), |w| format!("workspace {}", w.slug));
        let message = format!("{kind} records of {scope} are kept {period}");
        let audit = |applied: &Applied| match applied {
            Applied::RetentionSet { before } if *before != Some(period) => {
                let show = |period: &Option<Period>| period.map_or(json!("default"), |p| json!(p.to_string()));
                let entity = format!("{}/{kind}", workspace.as_ref().map_or("*", |w| w.slug.as_str()));
                let entry = Entry::new("retention.changed", "retention", entity, message.clone())
                    .diff(json!({ "period": show(before) }), json!({ "period": show(&Some(period)) }));
                vec![actor.record(entry)]
            }
            _ => Vec::new(),
        };
        let change = Change::SetRetention { workspace_id: workspace.as_ref().map(|w| w.id), kind, period };
        store.apply(change, &audit).await?;
        Ok(message)
    }
}
