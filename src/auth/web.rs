//! Password sign-in for the dashboard: plain form posts, so they work before
//! hydration. Sessions live server-side; the cookie only carries their id.
//! Signing out is a POST too (`GET /logout` is a page with the button), so
//! another site cannot sign anyone out with a link.

use app::api::SESSION_USER_KEY;
use app::model::safe_next;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::client_address::ClientAddress;
use crate::auth::password;
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

/// Back to the sign-in page with an error, keeping where the person was going.
fn refused(error: &str, next: &str) -> Response {
    let next = safe_next(next).unwrap_or("");
    Redirect::to(&format!("/login?{}", app::model::query_string(&[("error", error), ("next", next)]))).into_response()
}

#[tracing::instrument(skip_all, fields(email = %form.email, address = %address))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let Ok(attempt) = state.login_throttle.begin(&form.email, address) else {
        tracing::warn!("sign-in throttled");
        return refused("throttled", &form.next);
    };
    // No account's email holds a NUL, and PostgreSQL cannot compare one.
    let email = form.email.trim();
    let user = if email.contains('\0') { Ok(None) } else { state.store.user_by_email(email).await };
    let user = match user {
        Ok(user) => user.filter(|u| !u.disabled),
        Err(err) => {
            tracing::error!(error = %err, "sign-in lookup failed");
            return refused("unavailable", &form.next);
        }
    };
    let verified = password::verify(user.as_ref().map(|u| u.password_hash.clone()), form.password).await;
    let Some(user) = user.filter(|_| verified) else {
        tracing::info!("sign-in refused");
        return refused("credentials", &form.next);
    };
    // A new session id at sign-in, so an id planted before cannot be reused.
    let signed_in = async {
        session.cycle_id().await?;
        session.insert(SESSION_USER_KEY, user.id).await
    };
    if let Err(err) = signed_in.await {
        tracing::error!(error = %err, "storing the session failed");
        return refused("unavailable", &form.next);
    }
    state.login_throttle.succeeded(attempt);
    tracing::info!(user_id = user.id, "signed in");
    Redirect::to(safe_next(&form.next).unwrap_or("/")).into_response()
}

async fn logout(session: Session) -> Response {
    if let Err(err) = session.flush().await {
        tracing::error!(error = %err, "ending the session failed");
    }
    Redirect::to("/login").into_response()
}
