//! `/account`: the signed-in person's own account, whatever their role:
//! who they are, and a new password (which signs out their other
//! sessions). A founder sets anyone's anew with `trail user password`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin_api::Notice;
use crate::model::{Loaded, Viewer};

/// What `/account` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountData {
    pub viewer: Viewer,
    pub notice: Option<Notice>,
}

#[server]
pub async fn account_overview() -> Result<Loaded<AccountData>, ServerFnError> {
    let Some((viewer, ctx)) = crate::api::ssr::current_viewer().await? else {
        return Ok(Loaded::SignedOut);
    };
    let notice = crate::admin_api::ssr::take_notice(&ctx).await;
    Ok(Loaded::Found(AccountData { viewer, notice }))
}

/// Sets the viewer's own password, given the current one. This session
/// stays signed in; every other one of theirs is signed out.
#[server]
pub async fn change_password(current: String, password: String, repeated: String) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Client).await?;
        let (viewer, _) = crate::api::ssr::require_viewer().await?;
        let bad_request = crate::api::ssr::bad_request;
        let user = crate::admin_api::ssr::user(&ctx, viewer.user_id).await?;
        if password != repeated {
            return Err(bad_request("the new password and its repetition differ"));
        }
        if !ctx.credentials.verify_password(user.password_hash.clone(), current).await {
            return Err(bad_request("the current password is not right"));
        }
        crate::accounts::set_password(ctx.store.as_ref(), ctx.credentials.as_ref(), &actor, &user, password)
            .await
            .map_err(crate::admin_api::refused)?;
        // Signed in anew, after the change: this session is not one "from before".
        let session: tower_sessions::Session = leptos_axum::extract().await?;
        crate::api::ssr::restamp_session(&session).await.map_err(|err| {
            tracing::error!(error = %err, "keeping the session after a password change failed");
            ServerFnError::new("the password was changed; sign in again")
        })?;
        Ok("Your password was changed. Your other sessions are signed out.".to_owned())
    })
    .await
}
