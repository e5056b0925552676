//! Rules for users, memberships and API-key scopes, shared by the admin page's
//! server functions and the CLI, so both refuse the same things.

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
