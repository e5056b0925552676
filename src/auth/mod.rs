//! Who is calling: API keys for programs, password sign-in for people.

pub mod api_key;
pub mod password;
pub mod web;
