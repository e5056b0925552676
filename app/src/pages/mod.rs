pub mod account;
pub mod admin;
pub mod alerts;
pub mod entity;
pub mod event;
pub mod feed;
pub mod health;
pub mod login;
pub mod not_found;
pub mod retention;
pub mod stats;
pub mod webhooks;

use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// The page's URL query, each value decoded once (`model::query_pairs`).
pub fn use_query_pairs() -> Memo<Vec<(String, String)>> {
    let location = use_location();
    Memo::new(move |_| location.search.with(|search| crate::model::query_pairs(search)))
}
