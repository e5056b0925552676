//! Types shared by the server and the browser: the record as the dashboard
//! sees it, the signed-in viewer, the filters of a feed query and the stats.
//! One file per concern; everything is re-exported here.

mod alert;
mod enums;
mod filter;
mod integrity;
mod log_stream;
mod record;
mod retention;
mod stats;
mod time;
mod viewer;
mod webhook;

pub use alert::*;
pub use enums::*;
pub use filter::*;
pub use integrity::*;
pub use log_stream::*;
pub use record::*;
pub use retention::*;
pub use stats::*;
pub use time::*;
pub use viewer::*;
pub use webhook::*;

use serde::{Deserialize, Serialize};

/// The reserved workspace of Trail's own records (created by a migration).
pub const PLATFORM_WORKSPACE: &str = "trail";

/// What a page load found: the page, nothing the viewer may see (404), or no
/// signed-in viewer (the page sends the browser to /login).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Loaded<T> {
    Found(T),
    NotFound,
    SignedOut,
}
