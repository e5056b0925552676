use leptos::prelude::*;

use super::use_query_pairs;
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
    view! {
        <main class="centered login">
            <form class="card login-form" method="post" action="/login">
                <h1 class="brand">"Trail"</h1>
                <p class="muted">"Sign in to see your activity feed."</p>
                {move || error().map(|text| view! { <p class="alert" role="alert">{text}</p> })}
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                {move || next().map(|next| view! { <input type="hidden" name="next" value=next/> })}
                <button type="submit" class="primary">"Sign in"</button>
            </form>
        </main>
    }
}

/// `GET /logout`: a confirmation with the button. Signing out is a POST with
/// the same-origin check, so a link on another site cannot sign anyone out.
#[component]
pub fn LogoutPage() -> impl IntoView {
    view! {
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
