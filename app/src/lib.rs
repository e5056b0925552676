#![recursion_limit = "256"]
//! What the browser sees: pages, components and the server functions they
//! call. Compiled for the server (`ssr`) and for the browser (`hydrate`).

pub mod account;
pub mod accounts;
pub mod admin_api;
pub mod alerts;
pub mod api;
#[cfg(feature = "ssr")]
pub mod audit;
pub mod components;
#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod cookies;
pub mod format;
pub mod health;
pub mod islands;
pub mod log_streams;
pub mod model;
pub mod pages;
pub mod retention;
pub mod search;
#[cfg(feature = "ssr")]
pub mod store;
pub mod webhooks;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use pages::{
    account::AccountPage,
    admin::AdminPage,
    alerts::AlertsPage,
    entity::EntityPage,
    event::EventPage,
    feed::FeedPage,
    health::HealthPage,
    login::{LoginPage, LogoutPage},
    not_found::NotFound,
    retention::RetentionPage,
    webhooks::WebhooksPage,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <meta name="description" content="Trail: activity and audit log"/>
                // Static tags live here, in the server-only shell: no hydration needed.
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/trail.css"/>
        <Title text="Trail"/>
        <Router>
            <Routes fallback=NotFound>
                // Async: the whole page (or the redirect to /login) is decided
                // before the first byte, so it is correct without JavaScript.
                <Route path=path!("/") view=FeedPage ssr=SsrMode::Async/>
                <Route path=path!("/events/:id") view=EventPage ssr=SsrMode::Async/>
                <Route path=path!("/entities/:type/:id") view=EntityPage ssr=SsrMode::Async/>
                <Route path=path!("/entities") view=EntityPage ssr=SsrMode::Async/>
                <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/retention") view=RetentionPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/webhooks") view=WebhooksPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/alerts") view=AlertsPage ssr=SsrMode::Async/>
                <Route path=path!("/health") view=HealthPage ssr=SsrMode::Async/>
                <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async/>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/logout") view=LogoutPage/>
            </Routes>
        </Router>
    }
}
