//! Server functions of `/admin`. Founders manage workspaces, users and
//! memberships; founders and admins manage API keys. Each function checks the
//! signed-in viewer's role itself.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::accounts;
#[cfg(feature = "ssr")]
use crate::api::ssr::{bad_request, not_found, refusal};
use crate::model::Loaded;
#[cfg(feature = "ssr")]
use crate::model::Role;
use crate::model::{ApiKeySummary, UserSummary, Viewer, WorkspaceSummary};
#[cfg(feature = "ssr")]
use crate::store::StoreError;
#[cfg(feature = "ssr")]
use axum::http::StatusCode;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminData {
    pub viewer: Viewer,
    pub workspaces: Vec<WorkspaceSummary>,
    /// Founders only.
    pub users: Option<Vec<UserSummary>>,
    pub keys: Vec<ApiKeySummary>,
    /// What the viewer's last action did, shown this once.
    pub notice: Option<Notice>,
}

/// The outcome of an admin action. The forms post without JavaScript: the
/// server runs the action, keeps its outcome for the session, and sends the
/// browser back to `/admin`, which shows it once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Notice {
    Done(String),
    /// Why it failed, and what its form held, to be shown again.
    Failed(String, Typed),
    /// A new API key's secret.
    NewKey(String),
    /// A webhook endpoint's new signing secret.
    NewSecret(String),
}

/// What a failed form held: its action (the server function's path) and
/// fields, passwords left out. The page fills the form with it again, to be
/// corrected rather than typed anew.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Typed {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// Fields never kept: the account and user forms' passwords.
pub const SECRET_FIELDS: &[&str] = &["password", "current", "repeated"];

impl Typed {
    /// The form `action` of a failed notice, if it was that one's.
    pub fn of(notice: &Option<Notice>, action: &str) -> Typed {
        match notice {
            Some(Notice::Failed(_, typed)) if typed.action == action => typed.clone(),
            _ => Typed::default(),
        }
    }

    /// What field `name` held (empty when it held nothing).
    pub fn value(&self, name: &str) -> String {
        self.fields.iter().find(|(field, _)| field == name).map(|(_, value)| value.clone()).unwrap_or_default()
    }

    /// Whether field `name` held `value` (a select's option, a ticked box).
    pub fn holds(&self, name: &str, value: &str) -> bool {
        self.fields.iter().any(|(field, held)| field == name && held == value)
    }
}

/// Everything `/admin` shows; members get a 404.
#[server]
pub async fn admin_overview() -> Result<Loaded<AdminData>, ServerFnError> {
    ssr::platform_page(|viewer, ctx| async move {
        let store = &ctx.store;
        let workspaces = store.workspaces().await.map_err(failed)?;
        let users = match viewer.role {
            Role::Founder => Some(store.users().await.map_err(failed)?),
            _ => None,
        };
        let keys = store.api_keys().await.map_err(failed)?;
        let workspaces = workspaces.into_iter().map(|w| WorkspaceSummary { slug: w.slug, name: w.name }).collect();
        let notice = ssr::take_notice(&ctx).await;
        Ok(AdminData { viewer, workspaces, users, keys, notice })
    })
    .await
}

#[server]
pub async fn create_workspace(slug: String, name: String) -> Result<String, ServerFnError> {
    ssr::noted(Notice::Done, async move {
        let (actor, ctx) = ssr::require(Role::Founder).await?;
        let workspace = accounts::add_workspace(ctx.store.as_ref(), &actor, &slug, &name).await.map_err(refused)?;
        Ok(format!("Workspace {} created.", workspace.slug))
    })
    .await
}

#[server]
pub async fn create_user(
    email: String,
    name: String,
    role: String,
    workspace: String,
    brand: String,
    password: String,
) -> Result<String, ServerFnError> {
    ssr::noted(Notice::Done, async move {
        let (actor, ctx) = ssr::require(Role::Founder).await?;
        let role: Role = role.parse().map_err(bad_request)?;
        let account = accounts::NewAccount { email: email.clone(), name, role, workspace, brand, password };
        accounts::add_user(ctx.store.as_ref(), ctx.credentials.as_ref(), &actor, account).await.map_err(refused)?;
        Ok(format!("User {} created.", email.trim()))
    })
    .await
}

/// Changes a user's role and whether they may sign in.
#[server]
pub async fn update_user(user_id: i64, role: String, disabled: bool) -> Result<String, ServerFnError> {
    ssr::noted(Notice::Done, async move {
        let (actor, ctx) = ssr::require(Role::Founder).await?;
        let role: Role = role.parse().map_err(bad_request)?;
        accounts::update_user(ctx.store.as_ref(), &actor, user_id, Some(role), Some(disabled))
            .await
            .map_err(refused)?;
        Ok("User updated.".into())
    })
    .await
}

#[server]
pub async fn grant_membership(user_id: i64, workspace: String, brand: String) -> Result<String, ServerFnError> {
    ssr::noted(Notice::Done, async move {
        let (actor, ctx) = ssr::require(Role::Founder).await?;
        let user = ssr::user(&ctx, user_id).await?;
        let change =
            accounts::grant_membership(ctx.store.as_ref(), &actor, &user, &workspace, &brand).await.map_err(refused)?;
        Ok(format!("{change}."))
    })
    .await
}

#[server]
pub async fn revoke_membership(user_id: i64, workspace: String) -> Result<String, ServerFnError> {
    ssr::noted(Notice::Done, async move {
        let (actor, ctx) = ssr::require(Role::Founder).await?;
        let user = ssr::user(&ctx, user_id).await?;
        accounts::revoke_membership(ctx.store.as_ref(), &actor, &user, &workspace).await.map_err(refused)?;
        Ok(format!("Membership of {workspace} removed."))
    })
    .await
}

/// Creates a key; the answer carries the secret, shown once.
#[server]
pub async fn create_key(workspace: String, scopes: String, name: String) -> Result<String, ServerFnError> {
    ssr::noted(Notice::NewKey, async move {
        let (actor, ctx) = ssr::require(Role::Admin).await?;
        let store = ctx.store.as_ref();
        let key = accounts::create_key(store, ctx.credentials.as_ref(), &actor, &workspace, &scopes, &name)
            .await
            .map_err(refused)?;
        Ok(key.secret)
    })
    .await
}

#[server]
pub async fn revoke_key(key_id: i64) -> Result<String, ServerFnError> {
    ssr::noted(Notice::Done, async move {
        let (actor, ctx) = ssr::require(Role::Admin).await?;
        accounts::revoke_key(ctx.store.as_ref(), &actor, key_id).await.map_err(refused)?;
        Ok("Key revoked.".into())
    })
    .await
}

/// A store failure as the browser may see it: conflicts and absences by
/// name, anything else logged and summarised.
#[cfg(feature = "ssr")]
fn failed(err: StoreError) -> ServerFnError {
    match err {
        StoreError::Conflict(_) | StoreError::ChangedMeanwhile(_) => refusal(StatusCode::CONFLICT, err),
        StoreError::NotFound(_) => not_found(err),
        other => crate::api::ssr::internal(other),
    }
}

/// An account operation's refusal as the browser may see it.
#[cfg(feature = "ssr")]
pub(crate) fn refused(err: accounts::AccountError) -> ServerFnError {
    match err {
        accounts::AccountError::Refused(message) => bad_request(message),
        accounts::AccountError::Store(err) => failed(err),
    }
}

#[cfg(feature = "ssr")]
pub use ssr::keep_posted_form;

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use axum::http::header::SET_COOKIE;
    use axum::http::HeaderMap;
    use leptos::prelude::*;
    use tower_sessions::Session;

    use axum::response::IntoResponse;

    use super::{failed, Notice, Typed, SECRET_FIELDS};
    use crate::audit::{Actor, Origin};
    use crate::context::{ServerContext, NOTICE_LIFETIME};
    use crate::cookies;
    use crate::model::{Loaded, Role, Viewer};
    use crate::store::UserRecord;

    async fn session_id() -> Option<String> {
        let session: Session = leptos_axum::extract().await.ok()?;
        Some(session.id()?.to_string())
    }

    /// Runs an action, keeps its outcome (`done` of its answer, or the
    /// failure with what its form held) for the session's next `/admin`
    /// view, and passes it on: to a script calling the action, the answer
    /// is the same.
    pub async fn noted(
        done: fn(String) -> Notice,
        action: impl std::future::Future<Output = Result<String, ServerFnError>>,
    ) -> Result<String, ServerFnError> {
        let result = action.await;
        if let (Ok(ctx), Some(session)) = (crate::api::ssr::server_context(), session_id().await) {
            let notice = match &result {
                Ok(text) => done(text.clone()),
                Err(err) => Notice::Failed(crate::api::failure_text(err), typed().await),
            };
            match ctx.notices.put(&session, &notice).await {
                Ok(key) => set_notice_cookie(&key, NOTICE_LIFETIME.as_secs(), ctx.notices.secure_cookie()),
                Err(err) => tracing::error!(error = %err, "could not keep the notice of an admin action"),
            }
        }
        result
    }

    /// The fields of a posted form, read by [`keep_posted_form`] before
    /// the server function took the body.
    #[derive(Clone, Debug)]
    pub struct PostedForm {
        pub path: String,
        pub fields: Vec<(String, String)>,
    }

    /// The largest form body kept (the forms' fields are short).
    const MAX_KEPT_FORM_BYTES: usize = 64 * 1024;

    /// Keeps a form-encoded POST's fields beside the request, for a failure
    /// notice to show them again ([`noted`]); the body goes on unchanged.
    /// Only a server function's, and only when the body says its length (a
    /// form the browser sends does).
    pub async fn keep_posted_form(
        request: axum::extract::Request,
        next: axum::middleware::Next,
    ) -> axum::response::Response {
        use axum::http::{header, Method};
        let is_form = request.method() == Method::POST
            && request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        let small = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            .is_some_and(|len| len <= MAX_KEPT_FORM_BYTES);
        // Server functions only: not the API, not the sign-in (its password).
        let path = request.uri().path();
        let server_function = path.starts_with("/api/") && !path.starts_with("/api/v1/");
        if !is_form || !small || !server_function {
            return next.run(request).await;
        }
        let (mut parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_KEPT_FORM_BYTES).await else {
            return (axum::http::StatusCode::BAD_REQUEST, "could not read the form").into_response();
        };
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        parts.extensions.insert(PostedForm { path: parts.uri.path().to_owned(), fields });
        next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
    }

    /// What the request's form held, passwords left out.
    async fn typed() -> Typed {
        let Ok(axum::Extension(posted)) = leptos_axum::extract::<axum::Extension<PostedForm>>().await else {
            return Typed::default();
        };
        // A value longer than any form field's is not shown again.
        let kept = |(name, value): &(String, String)| !SECRET_FIELDS.contains(&name.as_str()) && value.len() <= 4_096;
        let fields = posted.fields.into_iter().filter(kept).collect();
        Typed { action: posted.path, fields }
    }

    pub async fn take_notice(ctx: &ServerContext) -> Option<Notice> {
        let headers: HeaderMap = leptos_axum::extract().await.ok()?;
        let key = cookies::read(&headers, NOTICE_COOKIE)?.to_owned();
        set_notice_cookie("", 0, ctx.notices.secure_cookie());
        ctx.notices.take(&session_id().await?, &key).await
    }

    /// The notice's key travels in this cookie, to the next `/admin` view.
    const NOTICE_COOKIE: &str = "trail_notice";

    /// Sets the notice cookie (an empty `key` with `max_age` 0 removes it).
    fn set_notice_cookie(key: &str, max_age: u64, secure: bool) {
        let Some(response) = use_context::<leptos_axum::ResponseOptions>() else { return };
        if let Some(value) = cookies::set(NOTICE_COOKIE, key, "/", max_age, secure) {
            response.append_header(SET_COOKIE, value);
        }
    }

    /// A page for founders and admins: signed out, the sign-in; a member, a
    /// 404 (as for anything they may not see); else what `build` makes of
    /// the viewer.
    pub async fn platform_page<T, F, Fut>(build: F) -> Result<Loaded<T>, ServerFnError>
    where
        F: FnOnce(Viewer, ServerContext) -> Fut,
        Fut: std::future::Future<Output = Result<T, ServerFnError>>,
    {
        let Some((viewer, ctx)) = crate::api::ssr::current_viewer().await? else {
            return Ok(Loaded::SignedOut);
        };
        if !viewer.role.is_platform() {
            return Ok(Loaded::NotFound);
        }
        Ok(Loaded::Found(build(viewer, ctx).await?))
    }

    /// The signed-in viewer, if their role is at least `least` (founder > admin), as
    /// the actor of what they do, with where the request came from.
    pub async fn require(least: Role) -> Result<(Actor, ServerContext), ServerFnError> {
        let (viewer, ctx) = crate::api::ssr::require_viewer().await?;
        let allowed = match least {
            Role::Founder => viewer.role == Role::Founder,
            Role::Admin => viewer.role.is_platform(),
            Role::Provider | Role::Client => true,
        };
        if !allowed {
            // As a page they may not see: not there for them.
            return Err(crate::api::ssr::not_found("not found"));
        }
        Ok((Actor::viewer(&viewer, origin().await), ctx))
    }

    /// Where the request being served came from (the server attaches it).
    pub async fn origin() -> Origin {
        leptos_axum::extract::<axum::Extension<Origin>>().await.map(|origin| origin.0).unwrap_or_default()
    }

    pub async fn user(ctx: &ServerContext, user_id: i64) -> Result<UserRecord, ServerFnError> {
        ctx.store.user_by_id(user_id).await.map_err(failed)?.ok_or_else(|| crate::api::ssr::not_found("no such user"))
    }
}
