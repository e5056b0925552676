use leptos::prelude::*;

use super::use_query_pairs;
use crate::components::PageTitle;
use crate::model::query_value;

/// A plain HTML form posting to the server's `/login` handler, so signing in
/// works before (and without) hydration.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_pairs();
    let error = move || {
        query.with(|q| query_value(q, "error")).map(|code| match code.as_str() {
            "throttled" => "Too many failed attempts. Wait a few minutes, then try again.",
            "unavailable" => "Signing in is unavailable right now. Try again shortly.",
            _ => "Wrong email or password.",
        })
    };
    let next = move || query.with(|q| query_value(q, "next")).filter(|next| crate::model::safe_next(next).is_some());
    // After a refusal the email is filled in again, and the password is next.
    let email = tried_email();
    let email_focused = email.is_none();
    view! {
        <PageTitle text="Sign in"/>
        <main class="centered login">
            <form class="card login-form" method="post" action="/login">
                <h1 class="brand">"Trail"</h1>
                <p class="muted">"Sign in to see your activity feed."</p>
                {move || error().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required autofocus=email_focused value=email/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required autofocus=!email_focused/>
                </label>
                {move || next().map(|next| view! { <input type="hidden" name="next" value=next/> })}
                <button type="submit" class="primary">"Sign in"</button>
            </form>
        </main>
    }
}

/// The email of a refused sign-in, kept for the form's next view in a
/// cookie for `/login` alone: not in the address, so it stays out of the
/// browser's history and the access logs.
#[cfg(feature = "ssr")]
const TRIED_EMAIL_COOKIE: &str = "trail_login_email";
#[cfg(feature = "ssr")]
const TRIED_EMAIL_SECONDS: u64 = 600;

/// The `Set-Cookie` that keeps `email` for the sign-in form (an empty one
/// removes it: after a sign-in).
#[cfg(feature = "ssr")]
pub fn tried_email_cookie(email: &str, secure: bool) -> Option<axum::http::HeaderValue> {
    let encoded = percent_encoding::utf8_percent_encode(email, percent_encoding::NON_ALPHANUMERIC).to_string();
    let max_age = if email.is_empty() { 0 } else { TRIED_EMAIL_SECONDS };
    crate::cookies::set(TRIED_EMAIL_COOKIE, &encoded, "/login", max_age, secure)
}

/// Whether the request brings a kept email.
#[cfg(feature = "ssr")]
pub fn tried_email_kept(headers: &axum::http::HeaderMap) -> bool {
    crate::cookies::read(headers, TRIED_EMAIL_COOKIE).is_some()
}

fn tried_email() -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        let parts = use_context::<axum::http::request::Parts>()?;
        let encoded = crate::cookies::read(&parts.headers, TRIED_EMAIL_COOKIE)?;
        let email = percent_encoding::percent_decode_str(encoded).decode_utf8().ok()?.into_owned();
        // A page holding someone's email is kept by no cache.
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            let no_store = axum::http::HeaderValue::from_static("no-store");
            response.insert_header(axum::http::header::CACHE_CONTROL, no_store);
        }
        Some(email)
    }
    #[cfg(not(feature = "ssr"))]
    None
}

/// `GET /logout`: a confirmation with the button. Signing out is a POST with
/// the same-origin check, so a link on another site cannot sign anyone out.
#[component]
pub fn LogoutPage() -> impl IntoView {
    view! {
        <PageTitle text="Sign out"/>
        <main class="centered login">
            <form class="card login-form" method="post" action="/logout">
                <h1 class="brand">"Trail"</h1>
                <p class="muted">"Sign out of Trail on this browser?"</p>
                <button type="submit" class="primary">"Sign out"</button>
                <a href="/">"Back to the activity feed"</a>
            </form>
        </main>
    }
}
