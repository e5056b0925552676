//! Password sign-in for the dashboard: plain form posts, so they work before
//! hydration. Sessions live server-side; the cookie only carries their id.
//! Signing out is a POST too (`GET /logout` is a page with the button), so
//! another site cannot sign anyone out with a link.

use app::api::ssr::{session_user, viewer_of};
use app::audit::{Actor, Entry, Origin};
use app::model::safe_next;
use app::pages::login::{tried_email_cookie, tried_email_kept};
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::HeaderMap;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Extension, Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::client_address::ClientAddress;
use crate::auth::password;
use crate::auth::throttle::Refused;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/login", post(login)).route("/logout", post(logout))
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    /// Where the person was going before the sign-in page (same-site paths only).
    #[serde(default)]
    next: String,
}

/// Back to the sign-in page with an error, keeping where the person was
/// going and the email they typed.
fn refused(state: &AppState, error: &str, form: &LoginForm) -> Response {
    let next = safe_next(&form.next).unwrap_or("");
    let back = Redirect::to(&format!("/login?{}", app::model::query_string(&[("error", error), ("next", next)])));
    // As an audit record holds it: trimmed, bounded.
    let email = tried_email_cookie(&email_tried(&form.email), state.config.cookie_secure);
    (AppendHeaders(email.map(|cookie| (SET_COOKIE, cookie))), back).into_response()
}

/// Writes an audit record of a sign-in or sign-out; false if it could not be written.
async fn audit(state: &AppState, actor: &Actor, entry: Entry) -> bool {
    match state.committer.submit(vec![actor.record(entry)]).await {
        Ok(_) => true,
        Err(err) => {
            tracing::error!(error = %err, "writing a sign-in's audit record failed");
            false
        }
    }
}

/// The email someone typed, as an audit record may hold it.
fn email_tried(email: &str) -> String {
    email.trim().replace('\0', "").chars().take(MAX_EMAIL_CHARS).collect()
}

const MAX_EMAIL_CHARS: usize = 320;

#[tracing::instrument(skip_all, fields(email = %form.email, address = %address))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Extension(origin): Extension<Origin>,
    session: Session,
    headers: HeaderMap,
    Form(mut form): Form<LoginForm>,
) -> Response {
    let tried = email_tried(&form.email);
    let stranger = Actor::stranger(&tried, origin.clone());
    let attempt = match state.login_throttle.begin(&form.email, address).await {
        Ok(attempt) => attempt,
        Err(Refused::Throttled) => {
            tracing::warn!("sign-in throttled");
            let entry =
                Entry::new("auth.throttled", "email", &tried, format!("Sign-in as {tried} throttled")).warning();
            audit(&state, &stranger, entry).await;
            return refused(&state, "throttled", &form);
        }
        Err(Refused::Store(err)) => {
            tracing::error!(error = %err, "counting a sign-in attempt failed");
            return refused(&state, "unavailable", &form);
        }
    };
    // No account's email holds a NUL, and PostgreSQL cannot compare one.
    let email = form.email.trim();
    let user = if email.contains('\0') { Ok(None) } else { state.store.user_by_email(email).await };
    let user = match user {
        Ok(user) => user.filter(|u| !u.disabled),
        Err(err) => {
            tracing::error!(error = %err, "sign-in lookup failed");
            return refused(&state, "unavailable", &form);
        }
    };
    let verified =
        password::verify(user.as_ref().map(|u| u.password_hash.clone()), std::mem::take(&mut form.password)).await;
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!("sign-in refused");
        let entry = Entry::new("auth.sign_in_failed", "email", &tried, format!("Sign-in as {tried} refused")).warning();
        audit(&state, &stranger, entry).await;
        return refused(&state, "credentials", &form);
    };
    // A sign-in that cannot be recorded does not happen.
    let actor = Actor::person(user.id, &user.email, user.name.as_deref(), origin);
    let entry = Entry::new("auth.sign_in", "user", user.id, format!("{} signed in", user.email));
    if !audit(&state, &actor, entry).await {
        return refused(&state, "unavailable", &form);
    }
    if let Err(err) = app::api::ssr::begin_session(&session, user.id, user.password_version).await {
        tracing::error!(error = %err, "storing the session failed");
        return refused(&state, "unavailable", &form);
    }
    if let Err(err) = state.login_throttle.succeeded(attempt).await {
        // Signed in all the same; the attempt stays counted as a failure.
        tracing::error!(error = %err, "forgiving a right password's attempt failed");
    }
    tracing::info!(user_id = user.id, "signed in");
    // Only when one was kept: the session's cookie stays the one `Set-Cookie`.
    let forget_email = tried_email_kept(&headers).then(|| tried_email_cookie("", state.config.cookie_secure)).flatten();
    (AppendHeaders(forget_email.map(|cookie| (SET_COOKIE, cookie))), Redirect::to(safe_next(&form.next).unwrap_or("/")))
        .into_response()
}

/// Ends the session; a sign-out is recorded only for a session that was
/// still signed in (not one past its lifetime or its person's password).
async fn logout(State(state): State<AppState>, Extension(origin): Extension<Origin>, session: Session) -> Response {
    let signed_in = session_user(&session).await.ok().flatten();
    if let Err(err) = session.flush().await {
        tracing::error!(error = %err, "ending the session failed");
        return Redirect::to("/login").into_response();
    }
    let viewer = match signed_in {
        Some(signed_in) => viewer_of(state.store.as_ref(), signed_in).await.ok().flatten(),
        None => None,
    };
    if let Some(viewer) = viewer {
        let actor = Actor::person(viewer.user_id, &viewer.email, viewer.name.as_deref(), origin);
        let message = format!("{} signed out", viewer.email);
        audit(&state, &actor, Entry::new("auth.sign_out", "user", viewer.user_id, message)).await;
    }
    Redirect::to("/login").into_response()
}
