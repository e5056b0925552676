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

/// Sets the viewer's own password, given the current one (checked as a
/// sign-in is: counted, throttled, and a wrong one recorded). This
/// session stays signed in, under a new id; every other one of theirs,
/// and any copy of this one's cookie, is signed out.
#[server]
pub async fn change_password(current: String, password: String, repeated: String) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        use crate::audit::{Actor, Entry};
        // Any signed-in person, for their own account.
        let (viewer, ctx) = crate::api::ssr::require_viewer().await?;
        let user = crate::admin_api::ssr::user(&ctx, viewer.user_id).await?;
        if password != repeated {
            return Err(crate::api::ssr::bad_request("the new password and its repetition differ"));
        }
        let origin = crate::admin_api::ssr::origin().await;
        let address = origin.ip.as_deref().and_then(|ip| ip.parse().ok());
        let actor = Actor::viewer(&viewer, origin);
        let unchanged = password == current;
        let checked = ctx.passwords.check(&user.email, address, user.password_hash.clone(), current).await;
        if !checked.map_err(|why| crate::api::ssr::bad_request(&why))? {
            let entry = Entry::new(
                "user.password_change_refused",
                "user",
                user.id,
                format!("{} gave a wrong current password to change it", user.email),
            )
            .warning();
            if let Err(err) = ctx.store.insert_records(&[vec![actor.record(entry)]]).await {
                tracing::error!(error = %err, "could not record a refused password change");
            }
            return Err(crate::api::ssr::bad_request("the current password is not right"));
        }
        // Said only once the current one was checked: it tells what that is.
        if unchanged {
            return Err(crate::api::ssr::bad_request("the new password is the current one: choose another"));
        }
        let version =
            crate::accounts::set_password(ctx.store.as_ref(), ctx.credentials.as_ref(), &actor, &user, password)
                .await
                .map_err(crate::admin_api::refused)?;
        let session: tower_sessions::Session = leptos_axum::extract().await?;
        crate::api::ssr::keep_after_new_password(&session, version).await.map_err(|err| {
            tracing::error!(error = %err, "keeping the session after a password change failed");
            ServerFnError::new("the password was changed; sign in again with it")
        })?;
        Ok("Your password was changed. Your other sessions are signed out.".to_owned())
    })
    .await
}
