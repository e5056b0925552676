//! Statements over workspaces, users, memberships and API keys, and the rows
//! they read that are not model types.

use std::collections::HashMap;

use app::model::{Membership, Micros, Role};
use app::store::{ApiKeyRecord, NewApiKey, NewUser, UserRecord, UserSummary};

use super::statement::Sql;

const USER_COLUMNS: &str = "id, email, name, role, password_hash, disabled, password_version";

pub fn create_workspace<'a>(q: &mut Sql<'_, 'a>, slug: &'a str, name: &'a str) {
    q.push("INSERT INTO workspaces (slug, name, created_at) VALUES (").bind(slug).push(", ").bind(name);
    q.push(", ").bind(Micros::now().0).push(") RETURNING id, slug, name");
}

pub fn workspace_by_slug<'a>(q: &mut Sql<'_, 'a>, slug: &'a str) {
    q.push("SELECT id, slug, name FROM workspaces WHERE slug = ").bind(slug);
}

pub fn workspaces(q: &mut Sql<'_, '_>) {
    q.push("SELECT id, slug, name FROM workspaces ORDER BY slug");
}

pub fn create_user<'a>(q: &mut Sql<'_, 'a>, user: &'a NewUser) {
    q.push("INSERT INTO users (email, name, role, password_hash, created_at) VALUES (").bind(user.email.as_str());
    q.push(", ").bind(user.name.as_deref()).push(", ").bind(user.role.as_str());
    q.push(", ").bind(user.password_hash.as_str()).push(", ").bind(Micros::now().0).push(") RETURNING id");
}

pub fn user_by_email<'a>(q: &mut Sql<'_, 'a>, email: &'a str) {
    q.push(format_args!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower(")).bind(email).push(")");
}

pub fn user_by_id(q: &mut Sql<'_, '_>, id: i64) {
    q.push(format_args!("SELECT {USER_COLUMNS} FROM users WHERE id = ")).bind(id);
}

pub fn users(q: &mut Sql<'_, '_>) {
    q.push(format_args!("SELECT {USER_COLUMNS} FROM users ORDER BY lower(email)"));
}

/// Sets the role and whether the user may sign in, if both are still as
/// `before` says: a change made meanwhile is not overwritten unseen.
/// Disabling ends the user's sessions as a new password does (their
/// version moves on), so enabling them again does not bring those back.
pub fn update_user(q: &mut Sql<'_, '_>, before: &UserRecord, role: Role, disabled: bool) {
    q.push("UPDATE users SET role = ").bind(role.as_str()).push(", disabled = ").bind(disabled);
    if disabled && !before.disabled {
        q.push(", password_version = password_version + 1");
    }
    q.push(" WHERE id = ").bind(before.id).push(" AND role = ").bind(before.role.as_str());
    q.push(" AND disabled = ").bind(before.disabled);
}

/// A user's brand limits ([`LimitRow`]), by workspace.
pub fn brand_limits(q: &mut Sql<'_, '_>, user_id: i64) {
    q.push("SELECT w.slug AS workspace, m.brand FROM memberships m JOIN workspaces w ON w.id = m.workspace_id ");
    q.push("WHERE m.brand IS NOT NULL AND m.user_id = ").bind(user_id).push(" ORDER BY w.slug");
}

/// A membership's brand limit, as [`brand_limits`] reads it.
#[derive(sqlx::FromRow)]
pub struct LimitRow {
    pub workspace: String,
    pub brand: String,
}

/// Sets a user's password (its hash) if the one it replaces is still
/// `before` (a reset meanwhile is not overwritten unseen); the new
/// password version ([`VersionRow`]).
pub fn set_password<'a>(q: &mut Sql<'_, 'a>, user_id: i64, password_hash: &'a str, before: &'a str) {
    q.push("UPDATE users SET password_hash = ").bind(password_hash);
    q.push(", password_version = password_version + 1 WHERE id = ").bind(user_id);
    q.push(" AND password_hash = ").bind(before).push(" RETURNING password_version");
}

/// A user's password version, as [`set_password`] returns it.
#[derive(sqlx::FromRow)]
pub struct VersionRow {
    pub password_version: i64,
}

/// Removes a user's brand limits.
pub fn lift_brands(q: &mut Sql<'_, '_>, user_id: i64) {
    q.push("UPDATE memberships SET brand = NULL WHERE brand IS NOT NULL AND user_id = ").bind(user_id);
}

/// The brand of a membership ([`BrandRow`]), if the membership exists.
pub fn membership_brand(q: &mut Sql<'_, '_>, user_id: i64, workspace_id: i64) {
    q.push("SELECT brand FROM memberships WHERE user_id = ").bind(user_id);
    q.push(" AND workspace_id = ").bind(workspace_id);
}

pub fn add_membership<'a>(q: &mut Sql<'_, 'a>, user_id: i64, workspace_id: i64, brand: Option<&'a str>) {
    q.push("INSERT INTO memberships (user_id, workspace_id, brand) VALUES (").bind(user_id);
    q.push(", ").bind(workspace_id).push(", ").bind(brand);
    q.push(") ON CONFLICT (user_id, workspace_id) DO UPDATE SET brand = excluded.brand");
}

/// Removes a membership, returning its brand ([`BrandRow`]).
pub fn remove_membership(q: &mut Sql<'_, '_>, user_id: i64, workspace_id: i64) {
    q.push("DELETE FROM memberships WHERE user_id = ").bind(user_id).push(" AND workspace_id = ").bind(workspace_id);
    q.push(" RETURNING brand");
}

/// Every membership with its workspace's slug ([`MembershipRow`]).
pub fn memberships(q: &mut Sql<'_, '_>) {
    q.push(
        "SELECT m.user_id, m.workspace_id, w.slug AS workspace, m.brand FROM memberships m \
         JOIN workspaces w ON w.id = m.workspace_id ORDER BY w.slug",
    );
}

/// One user joined with each of their memberships ([`UserMembershipRow`]).
pub fn user_with_memberships(q: &mut Sql<'_, '_>, user_id: i64) {
    q.push(
        "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.disabled, u.password_version, m.workspace_id, \
         w.slug AS workspace, m.brand FROM users u LEFT JOIN memberships m ON m.user_id = u.id \
         LEFT JOIN workspaces w ON w.id = m.workspace_id WHERE u.id = ",
    )
    .bind(user_id)
    .push(" ORDER BY w.slug");
}

const API_KEY_SUMMARY: &str =
    "SELECT k.id, w.slug AS workspace, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at, k.revoked_at \
     FROM api_keys k LEFT JOIN workspaces w ON w.id = k.workspace_id";

pub fn api_keys(q: &mut Sql<'_, '_>) {
    q.push(format_args!("{API_KEY_SUMMARY} ORDER BY k.created_at DESC, k.id DESC"));
}

pub fn api_key(q: &mut Sql<'_, '_>, id: i64) {
    q.push(format_args!("{API_KEY_SUMMARY} WHERE k.id = ")).bind(id);
}

pub fn create_api_key<'a>(q: &mut Sql<'_, 'a>, key: &'a NewApiKey) {
    q.push("INSERT INTO api_keys (workspace_id, name, prefix, key_hash, scopes, created_at) VALUES (");
    q.bind(key.workspace_id).push(", ").bind(key.name.as_str()).push(", ").bind(key.prefix.as_str());
    q.push(", ").bind(key.key_hash.as_str()).push(", ").bind(key.scopes.join(","));
    q.push(", ").bind(Micros::now().0).push(") RETURNING id");
}

/// The key with its workspace ([`ApiKeyRow`]).
pub fn api_key_by_hash<'a>(q: &mut Sql<'_, 'a>, key_hash: &'a str) {
    q.push(
        "SELECT k.id, k.workspace_id, w.slug AS workspace, k.scopes, k.revoked_at, k.last_used_at \
         FROM api_keys k LEFT JOIN workspaces w ON w.id = k.workspace_id WHERE k.key_hash = ",
    )
    .bind(key_hash);
}

/// Revoked at `at` unless it already was.
pub fn revoke_api_key(q: &mut Sql<'_, '_>, id: i64, at: Micros) {
    q.push("UPDATE api_keys SET revoked_at = ").bind(at.0).push(" WHERE id = ").bind(id);
    q.push(" AND revoked_at IS NULL");
}

pub fn touch_api_key(q: &mut Sql<'_, '_>, id: i64, at: Micros) {
    q.push("UPDATE api_keys SET last_used_at = ").bind(at.0).push(" WHERE id = ").bind(id);
}

/// A membership's brand.
#[derive(sqlx::FromRow)]
pub struct BrandRow {
    pub brand: Option<String>,
}

/// A membership with its user, for listing every user at once.
#[derive(sqlx::FromRow)]
pub struct MembershipRow {
    user_id: i64,
    #[sqlx(flatten)]
    membership: Membership,
}

/// Each user with their memberships.
pub fn user_summaries(users: Vec<UserRecord>, memberships: Vec<MembershipRow>) -> Vec<UserSummary> {
    let mut by_user: HashMap<i64, Vec<Membership>> = HashMap::new();
    for row in memberships {
        by_user.entry(row.user_id).or_default().push(row.membership);
    }
    users
        .into_iter()
        .map(|u| {
            let memberships = by_user.remove(&u.id).unwrap_or_default();
            summary(u, memberships)
        })
        .collect()
}

fn summary(user: UserRecord, memberships: Vec<Membership>) -> UserSummary {
    UserSummary {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        disabled: user.disabled,
        password_version: user.password_version,
        memberships,
    }
}

/// A user joined with one of their memberships, if any.
#[derive(sqlx::FromRow)]
pub struct UserMembershipRow {
    #[sqlx(flatten)]
    user: UserRecord,
    workspace_id: Option<i64>,
    workspace: Option<String>,
    brand: Option<String>,
}

/// The one user of `rows` with every membership the rows hold.
pub fn user_summary(rows: Vec<UserMembershipRow>) -> Option<UserSummary> {
    let user = rows.first()?.user.clone();
    let memberships = rows
        .into_iter()
        .filter_map(|row| {
            Some(Membership { workspace_id: row.workspace_id?, workspace: row.workspace?, brand: row.brand })
        })
        .collect();
    Some(summary(user, memberships))
}

/// An `api_keys` row as selected by [`api_key_by_hash`].
#[derive(sqlx::FromRow)]
pub struct ApiKeyRow {
    id: i64,
    workspace_id: Option<i64>,
    workspace: Option<String>,
    scopes: String,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKeyRecord {
    fn from(row: ApiKeyRow) -> Self {
        ApiKeyRecord {
            id: row.id,
            workspace_id: row.workspace_id,
            workspace: row.workspace,
            scopes: row.scopes.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            revoked: row.revoked_at.is_some(),
            last_used_at: row.last_used_at.map(Micros),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::statement::{sql_of, Dialect};

    #[test]
    fn updates_bind_the_value_then_the_row() {
        let before = UserRecord {
            id: 3,
            email: "a@b.c".into(),
            name: None,
            role: Role::Client,
            password_hash: String::new(),
            disabled: false,
            password_version: 0,
        };
        let sql = sql_of(Dialect::Postgres, |q| update_user(q, &before, Role::Admin, true));
        assert_eq!(
            sql,
            "UPDATE users SET role = $1, disabled = $2, password_version = password_version + 1 \
             WHERE id = $3 AND role = $4 AND disabled = $5"
        );
        let sql = sql_of(Dialect::Postgres, |q| update_user(q, &before, Role::Admin, false));
        assert_eq!(sql, "UPDATE users SET role = $1, disabled = $2 WHERE id = $3 AND role = $4 AND disabled = $5");
        let sql = sql_of(Dialect::Sqlite, |q| revoke_api_key(q, 3, Micros(1)));
        assert_eq!(sql, "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
    }

    #[test]
    fn a_membership_is_granted_once_and_its_brand_replaced() {
        let sql = sql_of(Dialect::Postgres, |q| add_membership(q, 1, 2, Some("nike")));
        assert_eq!(
            sql,
            "INSERT INTO memberships (user_id, workspace_id, brand) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, workspace_id) DO UPDATE SET brand = excluded.brand"
        );
    }

    #[test]
    fn users_are_found_by_email_in_any_case() {
        let sql = sql_of(Dialect::Sqlite, |q| user_by_email(q, "A@B.C"));
        assert!(sql.ends_with("WHERE lower(email) = lower(?)"), "{sql}");
    }
}
