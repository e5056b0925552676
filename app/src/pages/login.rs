use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// A plain HTML form posting to the server's `/login` handler, so signing in
/// works before (and without) hydration.
#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let failed = move || query.read().get("error").is_some();
    view! {
        <main class="centered login">
            <form class="card login-form" method="post" action="/login">
                <h1 class="brand">"Trail"</h1>
                <p class="muted">"Sign in to see your activity feed."</p>
                <Show when=failed>
                    <p class="alert" role="alert">"Wrong email or password."</p>
                </Show>
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit" class="primary">"Sign in"</button>
            </form>
        </main>
    }
}
