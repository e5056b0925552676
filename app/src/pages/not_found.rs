use leptos::prelude::*;

use crate::components::PageTitle;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <PageTitle text="Not found"/>
        <main class="centered">
            <h1>"Not found"</h1>
            <p>"There is nothing here, or nothing you may see."</p>
            <a href="/">"Back to the feed"</a>
        </main>
    }
}
