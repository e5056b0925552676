//! Accounts: the rules for users, memberships and API-key scopes, and (on the
//! server) the operations that apply them. The admin page's server functions,
//! the CLI and `trail demo` all call these, so each operation exists once and
//! every caller refuses the same things.

use crate::model::Role;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const KEY_SCOPES: &[&str] = &["ingest", "read"];

/// A new user's email and password, before anything is stored.
pub fn check_new_user(email: &str, password: &str) -> Result<(), String> {
    if !email.trim().contains('@') {
        return Err(format!("{:?} is not an email address", email.trim()));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("the password must have at least {MIN_PASSWORD_CHARS} characters"));
    }
    Ok(())
}

/// The membership a role needs (empty text means none given): platform roles
/// see every workspace and name none; members name one; a brand limits
/// clients only. `Some((workspace, brand))` for members.
pub fn membership<'a>(
    role: Role,
    workspace: &'a str,
    brand: &'a str,
) -> Result<Option<(&'a str, Option<&'a str>)>, String> {
    let (workspace, brand) = (workspace.trim(), brand.trim());
    if role.is_platform() {
        if !workspace.is_empty() || !brand.is_empty() {
            return Err(format!("a {role} sees every workspace; give no workspace or brand"));
        }
        return Ok(None);
    }
    if workspace.is_empty() {
        return Err(format!("a {role} belongs to a workspace; give one"));
    }
    if !brand.is_empty() && role != Role::Client {
        return Err(format!("a brand limits clients only; a {role} sees the whole workspace"));
    }
    Ok(Some((workspace, Some(brand).filter(|b| !b.is_empty()))))
}

/// `ingest,read` into known scopes, each once; at least one.
pub fn parse_scopes(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !KEY_SCOPES.contains(&scope) {
            return Err(format!("unknown scope {scope:?}; expected {}", KEY_SCOPES.join(", ")));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(format!("give at least one scope: {}", KEY_SCOPES.join(", ")));
    }
    Ok(scopes)
}

#[cfg(feature = "ssr")]
pub use operations::*;

#[cfg(feature = "ssr")]
mod operations {
    use super::{check_new_user, membership, parse_scopes};
    use crate::context::Credentials;
    use crate::model::{valid_slug, Role};
    use crate::store::{NewUser, Store, StoreError, UserRecord, Workspace};

    /// Why an account operation did not happen.
    #[derive(Debug, thiserror::Error)]
    pub enum AccountError {
        /// The request breaks a rule (or names something that does not exist); the message says which.
        #[error("{0}")]
        Refused(String),
        #[error(transparent)]
        Store(#[from] StoreError),
    }

    type Result<T> = std::result::Result<T, AccountError>;

    fn refused(message: impl Into<String>) -> AccountError {
        AccountError::Refused(message.into())
    }

    /// A user to create; empty text is "not given".
    pub struct NewAccount {
        pub email: String,
        pub name: String,
        pub role: Role,
        pub workspace: String,
        pub brand: String,
        pub password: String,
    }

    /// A key just made: its secret (shown once, stored nowhere), where it
    /// applies and what it may do.
    pub struct IssuedKey {
        pub secret: String,
        pub workspace: Option<Workspace>,
        pub scopes: Vec<String>,
    }

    pub async fn workspace(store: &dyn Store, slug: &str) -> Result<Workspace> {
        store.workspace_by_slug(slug.trim()).await?.ok_or_else(|| refused(format!("no workspace {:?}", slug.trim())))
    }

    /// Creates a workspace; its name defaults to its slug.
    pub async fn add_workspace(store: &dyn Store, slug: &str, name: &str) -> Result<Workspace> {
        let slug = slug.trim();
        valid_slug(slug).map_err(refused)?;
        let name = if name.trim().is_empty() { slug } else { name.trim() };
        Ok(store.create_workspace(slug, name).await?)
    }

    /// The membership `accounts::membership` says the role needs, with the workspace's id.
    async fn membership_for(
        store: &dyn Store,
        role: Role,
        workspace: &str,
        brand: &str,
    ) -> Result<Option<(i64, Option<String>)>> {
        let Some((slug, brand)) = membership(role, workspace, brand).map_err(refused)? else { return Ok(None) };
        Ok(Some((self::workspace(store, slug).await?.id, brand.map(str::to_owned))))
    }

    /// Creates a user and, for member roles, their membership; the user's id.
    pub async fn add_user(store: &dyn Store, credentials: &dyn Credentials, account: NewAccount) -> Result<i64> {
        check_new_user(&account.email, &account.password).map_err(refused)?;
        let membership = membership_for(store, account.role, &account.workspace, &account.brand).await?;
        let password_hash = credentials.hash_password(account.password).await.map_err(refused)?;
        let name = Some(account.name.trim().to_owned()).filter(|n| !n.is_empty());
        let user = NewUser { email: account.email.trim().to_owned(), name, role: account.role, password_hash };
        let user_id = store.create_user(&user).await?;
        if let Some((workspace_id, brand)) = membership {
            store.add_membership(user_id, workspace_id, brand.as_deref()).await?;
        }
        Ok(user_id)
    }

    /// Adds `user` to a workspace (a client optionally limited to a brand).
    pub async fn grant_membership(store: &dyn Store, user: &UserRecord, workspace: &str, brand: &str) -> Result<()> {
        let Some((workspace_id, brand)) = membership_for(store, user.role, workspace, brand).await? else {
            return Err(refused(format!("a {} sees every workspace already", user.role)));
        };
        Ok(store.add_membership(user.id, workspace_id, brand.as_deref()).await?)
    }

    /// Creates an API key for one workspace (or, with an empty slug, every one).
    pub async fn create_key(
        store: &dyn Store,
        credentials: &dyn Credentials,
        workspace: &str,
        scopes: &str,
        name: &str,
    ) -> Result<IssuedKey> {
        let scopes = parse_scopes(scopes).map_err(refused)?;
        let workspace = match workspace.trim() {
            "" => None,
            slug => Some(self::workspace(store, slug).await?),
        };
        let name = Some(name.trim().to_owned()).filter(|n| !n.is_empty());
        let secret = credentials.issue_key(workspace.clone(), scopes.clone(), name).await.map_err(refused)?;
        Ok(IssuedKey { secret, workspace, scopes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memberships_follow_the_role() {
        assert_eq!(membership(Role::Founder, "", " "), Ok(None));
        assert!(membership(Role::Admin, "acme", "").is_err());
        assert_eq!(membership(Role::Provider, " acme ", ""), Ok(Some(("acme", None))));
        assert!(membership(Role::Provider, "acme", "nike").is_err());
        assert!(membership(Role::Client, "", "nike").is_err());
        assert_eq!(membership(Role::Client, "acme", "nike"), Ok(Some(("acme", Some("nike")))));
    }

    #[test]
    fn new_users_and_scopes_are_checked() {
        assert!(check_new_user("maya@example.com", "long enough").is_ok());
        assert!(check_new_user("maya", "long enough").is_err());
        assert!(check_new_user("maya@example.com", "short").is_err());
        assert_eq!(parse_scopes("ingest, read,ingest").unwrap(), vec!["ingest", "read"]);
        assert!(parse_scopes("ingest,admin").unwrap_err().contains("admin"));
        assert!(parse_scopes(" , ").is_err());
    }
}
