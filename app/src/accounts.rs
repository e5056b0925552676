//! Accounts: the rules for users, memberships and API-key scopes, and (on the
//! server) the operations that apply them. The admin page's server functions,
//! the CLI and `trail demo` all call these, so each operation exists once and
//! every caller refuses the same things.

use crate::model::Role;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const KEY_SCOPES: &[&str] = &["ingest", "read"];

/// The most characters of a name, an email, a brand or a description.
pub const MAX_LABEL_CHARS: usize = 256;

/// A name, an email, a brand or a description as Trail keeps it (trimmed):
/// at most `MAX_LABEL_CHARS`, without control characters (a NUL among
/// them, which PostgreSQL refuses to store and SQLite would keep) or marks
/// that turn the direction of the text around it (one name could then read
/// as another on the admin page).
pub fn check_label(field: &str, text: &str) -> Result<(), String> {
    let text = text.trim();
    if text.chars().count() > MAX_LABEL_CHARS || text.chars().any(|c| c.is_control() || is_direction_mark(c)) {
        return Err(format!(
            "{field}: at most {MAX_LABEL_CHARS} characters, without control characters or direction marks"
        ));
    }
    Ok(())
}

/// A new user's email and password, before anything is stored.
pub fn check_new_user(email: &str, password: &str) -> Result<(), String> {
    check_label("email", email)?;
    if !is_email_address(email.trim()) {
        return Err(format!("{:?} is not an email address (name@domain, without spaces)", email.trim()));
    }
    check_password(password)
}

/// Whether a role fits the number of workspaces a user would belong to: a
/// client belongs to one workspace (PRODUCT.md), never to two tenants at
/// once. (A member of none sees nothing: the safe way round, and the step
/// between moving a client, or making an admin a member, and granting.)
pub fn check_memberships(role: Role, email: &str, workspaces: usize) -> Result<(), String> {
    if role == Role::Client && workspaces > 1 {
        return Err(format!(
            "a client belongs to one workspace, and {email} would belong to {workspaces}: remove the others first"
        ));
    }
    Ok(())
}

/// Unicode's direction embeddings, overrides and isolates: they turn the
/// text after them around. (The plain marks, U+200E, U+200F and U+061C,
/// which right-to-left names use, only place neutral characters.)
fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A password as it may be set.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("the password must have at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.trim().is_empty() || password.contains('\0') {
        return Err("the password must not be only spaces, nor hold the NUL character".into());
    }
    Ok(())
}

/// `name@domain`: both parts there, one `@`, no spaces. (Quoted names,
/// which may hold spaces and `@`, are not taken: no one signs in with one.)
fn is_email_address(text: &str) -> bool {
    match text.split_once('@') {
        Some((name, domain)) => {
            !name.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The membership a role needs (empty text means none given): platform roles
/// see every workspace and name none; members name one; a brand limits
/// clients only. `Some((workspace, brand))` for members.
pub fn membership<'a>(
    role: Role,
    workspace: &'a str,
    brand: &'a str,
) -> Result<Option<(&'a str, Option<&'a str>)>, String> {
    let raw_brand = brand;
    let (workspace, brand) = (workspace.trim(), brand.trim());
    check_label("brand", brand)?;
    if role.is_platform() {
        if !workspace.is_empty() || !brand.is_empty() {
            return Err(format!("{} sees every workspace; give no workspace or brand", role.with_article()));
        }
        return Ok(None);
    }
    if workspace.is_empty() {
        return Err(format!("{} belongs to a workspace; give one", role.with_article()));
    }
    if !brand.is_empty() && role != Role::Client {
        return Err(format!("a brand limits clients only; {} sees the whole workspace", role.with_article()));
    }
    // Taken as none, a blank brand would show a client every brand.
    if role == Role::Client && brand.is_empty() && !raw_brand.is_empty() {
        return Err("the brand is blank: leave it empty for every brand of the workspace, or name one".into());
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
    use serde_json::{json, Value};

    use super::{check_label, check_memberships, check_new_user, check_password, membership, parse_scopes};
    use crate::audit::{Actor, Entry, PLATFORM_WORKSPACE};
    use crate::context::Credentials;
    use crate::model::{valid_slug, Micros, Role};
    use crate::store::{Applied, Change, NewApiKey, NewRecord, NewUser, Store, StoreError, UserRecord, Workspace};

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
        pub id: i64,
        pub secret: String,
        pub workspace: Option<Workspace>,
        pub scopes: Vec<String>,
    }

    pub async fn workspace(store: &dyn Store, slug: &str) -> Result<Workspace> {
        store.workspace_by_slug(slug.trim()).await?.ok_or_else(|| refused(format!("no workspace {:?}", slug.trim())))
    }

    /// A workspace that people and keys may be given: any but Trail's own,
    /// which only founders and admins see and only Trail writes to.
    async fn member_workspace(store: &dyn Store, slug: &str) -> Result<Workspace> {
        if slug.trim() == PLATFORM_WORKSPACE {
            return Err(refused(format!(
                "the workspace {PLATFORM_WORKSPACE:?} holds Trail's own audit records: no member or key can be given it"
            )));
        }
        workspace(store, slug).await
    }

    /// Creates a workspace; its name defaults to its slug.
    pub async fn add_workspace(store: &dyn Store, actor: &Actor, slug: &str, name: &str) -> Result<Workspace> {
        let slug = slug.trim();
        valid_slug(slug).map_err(refused)?;
        if slug == PLATFORM_WORKSPACE {
            return Err(refused(format!(
                "the workspace slug {PLATFORM_WORKSPACE:?} is reserved for Trail's own records"
            )));
        }
        check_label("name", name).map_err(refused)?;
        let name = if name.trim().is_empty() { slug } else { name.trim() };
        let audit = |applied: &Applied| match applied {
            Applied::Workspace(ws) => vec![actor.record(
                Entry::new("workspace.created", "workspace", &ws.slug, format!("Workspace {} created", ws.slug))
                    .diff(json!({}), json!({ "slug": ws.slug, "name": ws.name })),
            )],
            _ => Vec::new(),
        };
        match store.apply(Change::CreateWorkspace { slug, name }, &audit).await? {
            Applied::Workspace(workspace) => Ok(workspace),
            other => unreachable!("creating a workspace applied as {other:?}"),
        }
    }

    /// The membership `accounts::membership` says the role needs: the workspace and the brand.
    async fn membership_for(
        store: &dyn Store,
        role: Role,
        workspace: &str,
        brand: &str,
    ) -> Result<Option<(Workspace, Option<String>)>> {
        let Some((slug, brand)) = membership(role, workspace, brand).map_err(refused)? else { return Ok(None) };
        Ok(Some((member_workspace(store, slug).await?, brand.map(str::to_owned))))
    }

    /// A membership as audit records show it.
    fn membership_json(workspace: &Workspace, brand: &Option<String>) -> Value {
        json!({ "workspace": workspace.slug, "brand": brand })
    }

    fn membership_granted(
        actor: &Actor,
        user_id: i64,
        email: &str,
        workspace: &Workspace,
        before: Option<&Option<String>>,
        brand: &Option<String>,
    ) -> NewRecord {
        let old = before.map_or(json!({}), |before| membership_json(workspace, before));
        let message = membership_change(email, &workspace.slug, before, brand);
        actor.record(
            Entry::new("membership.granted", "user", user_id, message).diff(old, membership_json(workspace, brand)),
        )
    }

    /// A membership's change in words, naming a brand limit that was lifted
    /// or moved: it changes what a client sees.
    fn membership_change(
        email: &str,
        workspace: &str,
        before: Option<&Option<String>>,
        brand: &Option<String>,
    ) -> String {
        let limit = |brand: &Option<String>| match brand {
            Some(brand) => format!("brand {brand} only"),
            None => "every brand".to_owned(),
        };
        let limited = if brand.is_some() { format!(" ({})", limit(brand)) } else { String::new() };
        match before {
            None => format!("{email} now belongs to {workspace}{limited}"),
            Some(old) if old == brand => format!("{email} already belongs to {workspace}{limited}"),
            Some(old) => format!("{email} now sees {} of {workspace}, no longer {}", limit(brand), limit(old)),
        }
    }

    /// Creates a user and, for member roles, their membership; the user's id.
    pub async fn add_user(
        store: &dyn Store,
        credentials: &dyn Credentials,
        actor: &Actor,
        account: NewAccount,
    ) -> Result<i64> {
        check_new_user(&account.email, &account.password).map_err(refused)?;
        check_label("name", &account.name).map_err(refused)?;
        let membership = membership_for(store, account.role, &account.workspace, &account.brand).await?;
        let password_hash = credentials.hash_password(account.password).await.map_err(refused)?;
        let name = Some(account.name.trim().to_owned()).filter(|n| !n.is_empty());
        let user = NewUser { email: account.email.trim().to_owned(), name, role: account.role, password_hash };
        let audit = |applied: &Applied| {
            let Applied::User { id } = *applied else { return Vec::new() };
            let new = json!({ "email": user.email, "name": user.name, "role": user.role });
            let message = format!("User {} created as {}", user.email, user.role);
            let mut records = vec![actor.record(Entry::new("user.created", "user", id, message).diff(json!({}), new))];
            if let Some((workspace, brand)) = &membership {
                records.push(membership_granted(actor, id, &user.email, workspace, None, brand));
            }
            records
        };
        let change = Change::CreateUser {
            user: &user,
            membership: membership.as_ref().map(|(workspace, brand)| (workspace.id, brand.as_deref())),
        };
        match store.apply(change, &audit).await? {
            Applied::User { id } => Ok(id),
            other => unreachable!("creating a user applied as {other:?}"),
        }
    }

    /// Sets a user's role and whether they may sign in (what is given; the
    /// rest stays). Nobody demotes or disables themselves.
    pub async fn update_user(
        store: &dyn Store,
        actor: &Actor,
        user_id: i64,
        role: Option<Role>,
        disabled: Option<bool>,
    ) -> Result<()> {
        if actor.is_user(user_id) && (disabled == Some(true) || role.is_some_and(|role| role != Role::Founder)) {
            return Err(refused("you cannot demote or disable yourself"));
        }
        if let (Some(role), Some(user)) = (role, store.user_summary(user_id).await?) {
            if role != user.role {
                check_memberships(role, &user.email, user.memberships.len()).map_err(refused)?;
            }
        }
        let audit = |applied: &Applied| {
            let Applied::UserUpdated { before, after, brands_lifted } = applied else { return Vec::new() };
            let mut records = Vec::new();
            if before.role != after.role {
                let mut message = format!("{} is now {}, was {}", after.email, after.role, before.role);
                if !brands_lifted.is_empty() {
                    message.push_str(&format!(" (no longer limited to {})", brands_lifted.join(", ")));
                }
                let (mut old, mut new) = (json!({ "role": before.role }), json!({ "role": after.role }));
                if !brands_lifted.is_empty() {
                    (old["brands"], new["brands"]) = (json!(brands_lifted), json!([]));
                }
                let entry = Entry::new("user.role_changed", "user", user_id, message).diff(old, new);
                records.push(actor.record(entry));
            }
            if before.disabled != after.disabled {
                let (key, message) = match after.disabled {
                    true => ("user.disabled", format!("{} may no longer sign in", after.email)),
                    false => ("user.enabled", format!("{} may sign in again", after.email)),
                };
                let entry = Entry::new(key, "user", user_id, message)
                    .diff(json!({ "disabled": before.disabled }), json!({ "disabled": after.disabled }));
                records.push(actor.record(entry));
            }
            records
        };
        store.apply(Change::UpdateUser { user_id, role, disabled }, &audit).await?;
        Ok(())
    }

    /// Gives `user` a new password, in place of the one their record holds
    /// (a change made meanwhile, such as a reset, fails with "try again").
    /// Every session signed in under the old one ends (`password_version`);
    /// the record says who did it, never the password. The new version.
    pub async fn set_password(
        store: &dyn Store,
        credentials: &dyn Credentials,
        actor: &Actor,
        user: &UserRecord,
        password: String,
    ) -> Result<i64> {
        check_password(&password).map_err(refused)?;
        let password_hash = credentials.hash_password(password).await.map_err(refused)?;
        let message = match actor.is_user(user.id) {
            true => format!("{} changed their password", user.email),
            false => format!("{}'s password was set anew", user.email),
        };
        let audit = |applied: &Applied| match applied {
            Applied::PasswordSet { .. } => {
                vec![actor.record(Entry::new("user.password_changed", "user", user.id, message.clone()))]
            }
            _ => Vec::new(),
        };
        let change =
            Change::SetPassword { user_id: user.id, password_hash: &password_hash, before: &user.password_hash };
        match store.apply(change, &audit).await? {
            Applied::PasswordSet { version, .. } => Ok(version),
            other => unreachable!("setting a password applied as {other:?}"),
        }
    }

    /// Adds `user` to a workspace (a client optionally limited to a brand).
    pub async fn grant_membership(
        store: &dyn Store,
        actor: &Actor,
        user: &UserRecord,
        workspace: &str,
        brand: &str,
    ) -> Result<String> {
        let Some((workspace, brand)) = membership_for(store, user.role, workspace, brand).await? else {
            return Err(refused(format!("{} sees every workspace already", user.role.with_article())));
        };
        let others = member_of(store, user.id).await?.into_iter().filter(|id| *id != workspace.id).count();
        check_memberships(user.role, &user.email, others + 1).map_err(refused)?;
        let audit = |applied: &Applied| match applied {
            Applied::MembershipGranted { before, .. } if before.as_ref() != Some(&brand) => {
                vec![membership_granted(actor, user.id, &user.email, &workspace, before.as_ref(), &brand)]
            }
            _ => Vec::new(),
        };
        let change = Change::GrantMembership { user_id: user.id, workspace_id: workspace.id, brand: brand.as_deref() };
        match store.apply(change, &audit).await? {
            Applied::MembershipGranted { before, .. } => {
                Ok(membership_change(&user.email, &workspace.slug, before.as_ref(), &brand))
            }
            other => unreachable!("granting a membership applied as {other:?}"),
        }
    }

    /// Takes `user` out of a workspace.
    pub async fn revoke_membership(store: &dyn Store, actor: &Actor, user: &UserRecord, workspace: &str) -> Result<()> {
        let workspace = self::workspace(store, workspace).await?;
        let audit = |applied: &Applied| match applied {
            Applied::MembershipRevoked { brand } => {
                let message = format!("{} no longer belongs to {}", user.email, workspace.slug);
                let entry = Entry::new("membership.revoked", "user", user.id, message)
                    .diff(membership_json(&workspace, brand), json!({}));
                vec![actor.record(entry)]
            }
            _ => Vec::new(),
        };
        store.apply(Change::RevokeMembership { user_id: user.id, workspace_id: workspace.id }, &audit).await?;
        Ok(())
    }

    /// The workspaces (ids) `user_id` belongs to.
    async fn member_of(store: &dyn Store, user_id: i64) -> Result<Vec<i64>> {
        let user = store.user_summary(user_id).await?;
        Ok(user.map(|u| u.memberships.into_iter().map(|m| m.workspace_id).collect()).unwrap_or_default())
    }

    /// A key as audit records show it: never its secret or hash.
    fn key_json(id: i64, prefix: &str, scopes: &str, workspace: Option<&str>) -> Value {
        json!({ "id": id, "prefix": prefix, "scopes": scopes, "workspace": workspace })
    }

    /// Creates an API key for one workspace (or, with an empty slug, every one).
    pub async fn create_key(
        store: &dyn Store,
        credentials: &dyn Credentials,
        actor: &Actor,
        workspace: &str,
        scopes: &str,
        name: &str,
    ) -> Result<IssuedKey> {
        let scopes = parse_scopes(scopes).map_err(refused)?;
        check_label("name", name).map_err(refused)?;
        let workspace = match workspace.trim() {
            "" => None,
            slug => Some(member_workspace(store, slug).await?),
        };
        let secret = credentials.new_key();
        let name =
            Some(name.trim()).filter(|n| !n.is_empty()).map_or_else(|| format!("key {}", secret.prefix), str::to_owned);
        let key = NewApiKey {
            workspace_id: workspace.as_ref().map(|w| w.id),
            name,
            prefix: secret.prefix,
            key_hash: secret.hash,
            scopes: scopes.clone(),
        };
        let audit = |applied: &Applied| {
            let Applied::ApiKey { id } = *applied else { return Vec::new() };
            let slug = workspace.as_ref().map(|w| w.slug.as_str());
            let message = format!("API key {} created ({})", key.prefix, key.scopes.join(", "));
            let entry = Entry::new("api_key.created", "api_key", id, message).payload(key_json(
                id,
                &key.prefix,
                &key.scopes.join(","),
                slug,
            ));
            vec![actor.record(entry)]
        };
        match store.apply(Change::CreateApiKey(&key), &audit).await? {
            Applied::ApiKey { id } => Ok(IssuedKey { id, secret: secret.secret, workspace, scopes }),
            other => unreachable!("creating a key applied as {other:?}"),
        }
    }

    /// Revokes a key (a key revoked already stays as it was).
    pub async fn revoke_key(store: &dyn Store, actor: &Actor, id: i64) -> Result<()> {
        let audit = |applied: &Applied| match applied {
            Applied::ApiKeyRevoked(Some(key)) => {
                let entry = Entry::new("api_key.revoked", "api_key", key.id, format!("API key {} revoked", key.prefix))
                    .payload(key_json(key.id, &key.prefix, &key.scopes, key.workspace.as_deref()));
                vec![actor.record(entry)]
            }
            _ => Vec::new(),
        };
        store.apply(Change::RevokeApiKey { id, at: Micros::now() }, &audit).await?;
        Ok(())
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
        assert_eq!(membership(Role::Client, "acme", ""), Ok(Some(("acme", None))), "every brand");
        assert!(
            check_memberships(Role::Provider, "p@x", 2).is_ok() && check_memberships(Role::Client, "c@x", 1).is_ok()
        );
        assert!(check_memberships(Role::Provider, "p@x", 0).is_ok(), "none: sees nothing");
        assert!(check_memberships(Role::Client, "c@x", 2).unwrap_err().contains("one workspace"));
        assert!(check_memberships(Role::Admin, "a@x", 0).is_ok());
        assert!(membership(Role::Client, "acme", "  ").unwrap_err().contains("blank"), "not every brand");
    }

    #[test]
    fn new_users_and_scopes_are_checked() {
        assert!(check_new_user("maya@example.com", "long enough").is_ok());
        assert!(check_new_user("maya", "long enough").is_err());
        for ok in [" maya@example.com ", "m.a+ya@localhost", "ünï@exämple.de"] {
            assert!(check_new_user(ok, "long enough").is_ok(), "{ok}");
        }
        for bad in ["a b@c.d", "@c.d", "maya@", "a@b@c", "maya@.com", "maya@com.", "maya@exa\u{a0}mple.com"] {
            assert!(check_new_user(bad, "long enough").unwrap_err().contains("not an email"), "{bad}");
        }
        assert!(check_new_user("maya@example.com", "short").is_err());
        assert!(check_new_user("maya@example.com", "        ").is_err());
        assert!(check_new_user("maya@example.com", "long\0enough").is_err());
        assert!(check_new_user("maya@example.com", "  long enough  ").is_ok(), "spaces are characters");
        assert!(check_label("name", "\u{202E}evil\u{202C} مرحبا").is_err(), "no direction override");
        assert!(check_label("name", "مرحبا Maya").is_ok(), "right-to-left text itself is fine");
        assert!(check_label("name", "مرحبا\u{200F} (2)").is_ok(), "and so is a right-to-left mark");
        assert_eq!(parse_scopes("ingest, read,ingest").unwrap(), vec!["ingest", "read"]);
        assert!(parse_scopes("ingest,admin").unwrap_err().contains("admin"));
        assert!(parse_scopes(" , ").is_err());
    }
}
