//! Log streams (`trail stream`): every record of a workspace (or all),
//! exported continuously to a directory or an HTTP endpoint.

use serde::{Deserialize, Serialize};

use super::{Micros, StreamPosition};

/// Where a log stream writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    /// gzip NDJSON files under `YYYY/MM/DD/HH/`, each written whole before it appears.
    Directory,
    /// NDJSON batches posted to a URL, signed as webhooks are.
    Http,
}

impl Destination {
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Directory => "directory",
            Destination::Http => "http",
        }
    }
}

/// A log stream and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogStream {
    pub id: i64,
    /// `None`: every workspace.
    pub workspace: Option<String>,
    pub workspace_id: Option<i64>,
    pub destination: Destination,
    /// The directory or the URL.
    pub target: String,
    /// Every record up to here (in commit order) is exported.
    pub position: StreamPosition,
    pub exported: i64,
    pub last_export_at: Option<Micros>,
    pub last_error: Option<String>,
    pub created_at: Micros,
}
