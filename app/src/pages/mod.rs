pub mod admin;
pub mod entity;
pub mod event;
pub mod feed;
pub mod health;
pub mod login;
pub mod not_found;
pub mod stats;
