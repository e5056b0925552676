pub mod feed;
pub mod login;
pub mod not_found;
