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

/// Sets a kind's period (`workspace` empty: the platform default); founders
/// only. A period that keeps some workspace's records a shorter time than
/// now deletes the older ones within the hour: it needs `confirm`, and is
/// refused with the workspaces it would touch until then.
#[server]
pub async fn set_retention(
    workspace: String,
    kind: String,
    period: String,
    confirm: Option<String>,
) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Founder).await?;
        let kind = kind.parse().map_err(crate::api::ssr::bad_request)?;
        let keep: crate::model::Keep = period.parse().map_err(crate::api::ssr::bad_request)?;
        // The checkbox's own value: any other is no tick.
        if confirm.as_deref() != Some(CONFIRMED) {
            let internal = crate::api::ssr::internal;
            let slugs: Vec<String> =
                ctx.store.workspaces().await.map_err(internal)?.into_iter().map(|w| w.slug).collect();
            let retention = ctx.store.retention().await.map_err(internal)?;
            let chosen = Some(workspace.trim()).filter(|slug| !slug.is_empty());
            let shortened = retention.shortened(&slugs, chosen, kind, keep);
            if !shortened.is_empty() {
                return Err(crate::api::ssr::bad_request(format!(
                    "This keeps {kind} records of {} a shorter time than now: those older are deleted within the hour. Tick \"{DELETE_OLDER}\" and save again to go ahead.",
                    shortened.join(", ")
                )));
            }
        }
        set_period(ctx.store.as_ref(), &actor, &workspace, kind, keep).await.map_err(crate::admin_api::refused)
    })
    .await
}

/// The retention form's confirmation, as its checkbox says it.
pub const DELETE_OLDER: &str = "Delete older records";
/// The value the ticked checkbox sends.
pub const CONFIRMED: &str = "yes";

#[cfg(feature = "ssr")]
pub use operation::set_period;

#[cfg(feature = "ssr")]
mod operation {
    use serde_json::json;

    use crate::accounts::{self, AccountError};
    use crate::audit::{Actor, Entry};
    use crate::model::{Keep, Kind, Period};
    use crate::store::{Applied, Change, Store};

    /// Sets how long `kind` records are kept in `workspace` (empty: the
    /// platform default; `Keep::Default` removes a workspace's own
    /// period); what was done, in words.
    pub async fn set_period(
        store: &dyn Store,
        actor: &Actor,
        workspace: &str,
        kind: Kind,
        keep: Keep,
    ) -> Result<String, AccountError> {
        let workspace = match workspace.trim() {
            "" => None,
            slug => Some(accounts::workspace(store, slug).await?),
        };
        let (period, change) = match (keep, &workspace) {
            (Keep::For(period), _) => {
                (Some(period), Change::SetRetention { workspace_id: workspace.as_ref().map(|w| w.id), kind, period })
            }
            (Keep::Default, Some(w)) => (None, Change::ClearRetention { workspace_id: w.id, kind }),
            (Keep::Default, None) => {
                return Err(AccountError::Refused(
                    "the platform default is a number of days or \"forever\"; \"default\" is for a workspace".into(),
                ))
            }
        };
        let scope = workspace.as_ref().map_or("the platform default".to_owned(), |w| format!("workspace {}", w.slug));
        let message = match period {
            Some(period) => format!("{kind} records of {scope} are kept {period}"),
            None => format!("{kind} records of {scope} are kept as the platform default says"),
        };
        let audit = |applied: &Applied| match applied {
            Applied::RetentionSet { before } if *before != period => {
                let show = |period: &Option<Period>| period.map_or(json!("default"), |p| json!(p.to_string()));
                let entity = format!("{}/{kind}", workspace.as_ref().map_or("*", |w| w.slug.as_str()));
                let entry = Entry::new("retention.changed", "retention", entity, message.clone())
                    .diff(json!({ "period": show(before) }), json!({ "period": show(&period) }));
                vec![actor.record(entry)]
            }
            _ => Vec::new(),
        };
        store.apply(change, &audit).await?;
        Ok(message)
    }
}
