//! Password sign-in for the dashboard: plain form posts, so they work before
//! hydration. Sessions live server-side; the cookie only carries their id.

use app::api::SESSION_USER_KEY;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use tower_sessions::Session;

use crate::auth::password;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/login", post(login)).route("/logout", post(logout).get(logout))
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

#[tracing::instrument(skip_all, fields(email = %form.email, %address))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let address = address.ip().to_string();
    let throttle = &state.login_throttle;
    if throttle.is_blocked(&form.email, &address) {
        tracing::warn!("sign-in throttled");
        return Redirect::to("/login?error=throttled").into_response();
    }
    let user = match state.store.user_by_email(form.email.trim()).await {
        Ok(user) => user.filter(|u| !u.disabled),
        Err(err) => {
            tracing::error!(error = %err, "sign-in lookup failed");
            return Redirect::to("/login?error=unavailable").into_response();
        }
    };
    let verified = password::verify(user.as_ref().map(|u| u.password_hash.clone()), form.password).await;
    let Some(user) = user.filter(|_| verified) else {
        throttle.record_failure(&form.email, &address);
        tracing::info!("sign-in refused");
        return Redirect::to("/login?error=credentials").into_response();
    };
    // A new session id at sign-in, so an id planted before cannot be reused.
    let signed_in = async {
        session.cycle_id().await?;
        session.insert(SESSION_USER_KEY, user.id).await
    };
    if let Err(err) = signed_in.await {
        tracing::error!(error = %err, "storing the session failed");
        return Redirect::to("/login?error=unavailable").into_response();
    }
    throttle.record_success(&form.email, &address);
    tracing::info!(user_id = user.id, "signed in");
    Redirect::to("/").into_response()
}

async fn logout(session: Session) -> Response {
    if let Err(err) = session.flush().await {
        tracing::error!(error = %err, "ending the session failed");
    }
    Redirect::to("/login").into_response()
}
