//! `/health`: the system's health for founders and admins.

use leptos::prelude::*;

use crate::api::load_health;
use crate::components::{loaded_view, PageTitle, TopBar};
use crate::format::absolute_time;
use crate::health::{Health, HealthStatus};

#[component]
pub fn HealthPage() -> impl IntoView {
    let health = Resource::new(|| (), |_| load_health());
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                loaded_view(health.await, |(viewer, health)| view! { <PageTitle text="Health"/> <TopBar viewer/> <HealthView health/> }.into_any())
            })}
        </Suspense>
    }
}

fn status_text(status: HealthStatus) -> &'static str {
    match status {
        HealthStatus::Healthy => "healthy",
        HealthStatus::Degraded => "degraded",
        HealthStatus::Unhealthy => "unhealthy",
    }
}

#[component]
fn HealthView(health: Health) -> impl IntoView {
    let overall = status_text(health.status);
    let checks = health
        .checks
        .into_iter()
        .map(|c| {
            let status = status_text(c.status);
            view! { <tr><th scope="row">{c.name}</th><td><span class=format!("badge health-{status}")>{status}</span></td><td>{c.detail}</td></tr> }
        })
        .collect_view();
    view! {
        <main id="main" class="page">
            <div class="toolbar">
                <h1>"System health"</h1>
                <span class=format!("badge health-{overall}")>{overall}</span>
                <span class="spacer"></span>
                <span class="muted">{format!("{} · checked {}", health.backend, absolute_time(health.checked_at))}</span>
            </div>
            <table class="list">
                <thead><tr><th scope="col">"Check"</th><th scope="col">"Status"</th><th scope="col">"Detail"</th></tr></thead>
                <tbody>{checks}</tbody>
            </table>
            <p class="muted">"Machine-readable: " <a href="/api/system/health">"/api/system/health"</a> " · " <a href="/metrics">"/metrics"</a> " · " <a href="/api/openapi.json">"/api/openapi.json"</a></p>
        </main>
    }
}
