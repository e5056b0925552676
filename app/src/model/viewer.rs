//! Who is looking, and the accounts the admin page lists.

use serde::{Deserialize, Serialize};

use super::{Micros, Role};

/// The signed-in person, as the dashboard needs to know them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// Workspaces the viewer is a member of (empty for platform roles, who see all).
    pub memberships: Vec<Membership>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct Membership {
    pub workspace_id: i64,
    pub workspace: String,
    /// A client limited to one brand of the workspace.
    pub brand: Option<String>,
}

/// A workspace as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceSummary {
    pub slug: String,
    pub name: String,
}

/// A user as the admin page lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub disabled: bool,
    /// How many times the password was set: a session signed in under
    /// another number is over.
    pub password_version: i64,
    pub memberships: Vec<Membership>,
}

/// An API key as the admin page lists it (never the secret, never the hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ApiKeySummary {
    pub id: i64,
    pub workspace: Option<String>,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "i64"))]
    pub created_at: Micros,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A workspace named on the command line: trimmed, and a slug. An empty
/// `--workspace ''` is refused, never read as "every workspace".
pub fn parse_slug(text: &str) -> Result<String, String> {
    let slug = text.trim();
    valid_slug(slug)?;
    Ok(slug.to_owned())
}

/// Workspace slugs: 1-64 lowercase letters, digits, `-` or `_`, starting with a letter or digit.
pub fn valid_slug(slug: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && slug.starts_with(|c: char| c.is_ascii_alphanumeric());
    ok.then_some(()).ok_or_else(|| {
        format!(
            "workspace slug {slug:?} must be 1-64 lowercase letters, digits, - or _, starting with a letter or digit"
        )
    })
}
