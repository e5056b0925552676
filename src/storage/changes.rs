//! Changes to workspaces, users, memberships, keys and retention, each made inside the
//! transaction that also writes its audit records (`Store::apply`). What a
//! change reads back (the state before, what it removed) comes from that same
//! transaction, so the records say exactly what changed.

use app::model::{AlertRule, LogStream, Period, Role, WebhookEndpoint};
use app::store::{Applied, Change, LogStreamTarget, StoreError, StoreResult, UserRecord, UserState, Workspace};

use super::accounts::{self, BrandRow};
use super::retention::{self, DaysRow};
use super::sql_store::{conflict, Tx};
use super::{alerts, log_streams, webhooks};

pub async fn apply(tx: &mut Tx, change: Change<'_>) -> StoreResult<Applied> {
    Ok(match change {
        Change::CreateWorkspace { slug, name } => {
            let workspace: Workspace =
                tx.fetch_one(|q| accounts::create_workspace(q, slug, name)).await.map_err(conflict("workspace"))?;
            Applied::Workspace(workspace)
        }
        Change::CreateUser { user, membership } => {
            let (id,): (i64,) = tx.fetch_one(|q| accounts::create_user(q, user)).await.map_err(conflict("user"))?;
            if let Some((workspace_id, brand)) = membership {
                tx.execute(|q| accounts::add_membership(q, id, workspace_id, brand)).await?;
            }
            Applied::User { id }
        }
        Change::UpdateUser { user_id, role, disabled } => {
            let before: UserRecord = tx
                .fetch_optional(|q| accounts::user_by_id(q, user_id))
                .await?
                .ok_or_else(|| StoreError::NotFound("user".into()))?;
            let (role, disabled) = (role.unwrap_or(before.role), disabled.unwrap_or(before.disabled));
            if tx.execute(|q| accounts::update_user(q, &before, role, disabled)).await? == 0 {
                return Err(StoreError::ChangedMeanwhile("the user".into()));
            }
            // A brand limits a client only: one who stops being a client
            // keeps their memberships, whole.
            let brands_lifted = match (before.role, role) {
                (Role::Client, role) if role != Role::Client => {
                    let limits: Vec<accounts::LimitRow> = tx.fetch_all(|q| accounts::brand_limits(q, user_id)).await?;
                    if !limits.is_empty() {
                        tx.execute(|q| accounts::lift_brands(q, user_id)).await?;
                    }
                    limits.into_iter().map(|row| format!("{}/{}", row.workspace, row.brand)).collect()
                }
                _ => Vec::new(),
            };
            let after = UserState { email: before.email.clone(), role, disabled };
            let before = UserState { email: before.email, role: before.role, disabled: before.disabled };
            Applied::UserUpdated { before, after, brands_lifted }
        }
        Change::SetPassword { user_id, password_hash, before } => {
            let set: Option<accounts::VersionRow> =
                tx.fetch_optional(|q| accounts::set_password(q, user_id, password_hash, before)).await?;
            let set = set.ok_or_else(|| StoreError::ChangedMeanwhile("the password".into()))?;
            Applied::PasswordSet { version: set.password_version }
        }
        Change::GrantMembership { user_id, workspace_id, brand } => {
            let before: Option<BrandRow> =
                tx.fetch_optional(|q| accounts::membership_brand(q, user_id, workspace_id)).await?;
            tx.execute(|q| accounts::add_membership(q, user_id, workspace_id, brand)).await?;
            Applied::MembershipGranted { before: before.map(|row| row.brand), brand: brand.map(str::to_owned) }
        }
        Change::RevokeMembership { user_id, workspace_id } => {
            let removed: Option<BrandRow> =
                tx.fetch_optional(|q| accounts::remove_membership(q, user_id, workspace_id)).await?;
            let removed = removed.ok_or_else(|| StoreError::NotFound("membership".into()))?;
            Applied::MembershipRevoked { brand: removed.brand }
        }
        Change::CreateApiKey(key) => {
            let (id,): (i64,) =
                tx.fetch_one(|q| accounts::create_api_key(q, key)).await.map_err(conflict("API key"))?;
            Applied::ApiKey { id }
        }
        Change::RevokeApiKey { id, at } => {
            let revoked = tx.execute(|q| accounts::revoke_api_key(q, id, at)).await? > 0;
            let key = tx.fetch_optional(|q| accounts::api_key(q, id)).await?;
            let key = key.ok_or_else(|| StoreError::NotFound("API key".into()))?;
            Applied::ApiKeyRevoked(revoked.then_some(key))
        }
        Change::SetRetention { workspace_id, kind, period } => {
            let before: Option<DaysRow> = tx.fetch_optional(|q| retention::period(q, workspace_id, kind)).await?;
            tx.execute(|q| retention::set_period(q, workspace_id, kind, period)).await?;
            Applied::RetentionSet { before: before.map(|row| Period::from_days(row.days)) }
        }
        Change::ClearRetention { workspace_id, kind } => {
            let before: Option<DaysRow> = tx.fetch_optional(|q| retention::period(q, Some(workspace_id), kind)).await?;
            tx.execute(|q| retention::clear_override(q, workspace_id, kind)).await?;
            Applied::RetentionSet { before: before.map(|row| Period::from_days(row.days)) }
        }
        Change::CreateWebhook(new) => {
            let (id,): (i64,) = tx.fetch_one(|q| webhooks::create_endpoint(q, new)).await?;
            Applied::Webhook(endpoint(tx, id).await?)
        }
        Change::RemoveWebhook { id } => {
            let before = endpoint(tx, id).await?;
            tx.execute(|q| webhooks::remove_endpoint(q, id)).await?;
            Applied::Webhook(before)
        }
        Change::EnableWebhook { id } => {
            tx.execute(|q| webhooks::enable_endpoint(q, id)).await?;
            Applied::Webhook(endpoint(tx, id).await?)
        }
        Change::CreateLogStream(new) => {
            let (id,): (i64,) = tx.fetch_one(|q| log_streams::create(q, new)).await?;
            Applied::LogStream(log_stream(tx, id).await?)
        }
        Change::RemoveLogStream { id } => {
            let before = log_stream(tx, id).await?;
            tx.execute(|q| log_streams::remove(q, id)).await?;
            Applied::LogStream(before)
        }
        Change::CreateAlertRule(new) => {
            let (id,): (i64,) = tx.fetch_one(|q| alerts::create(q, new)).await?;
            if !new.endpoints.is_empty() {
                tx.execute(|q| alerts::add_endpoints(q, id, &new.endpoints)).await?;
            }
            tx.execute(|q| alerts::first_state(q, id, new.last_match_at)).await?;
            Applied::AlertRule(alert_rule(tx, id).await?)
        }
        Change::RemoveAlertRule { id } => {
            let before = alert_rule(tx, id).await?;
            tx.execute(|q| alerts::remove(q, id)).await?;
            Applied::AlertRule(before)
        }
        Change::RotateWebhook { id, secret, previous_until } => {
            tx.execute(|q| webhooks::rotate_secret(q, id, secret, previous_until)).await?;
            Applied::Webhook(endpoint(tx, id).await?)
        }
    })
}

async fn alert_rule(tx: &mut Tx, id: i64) -> StoreResult<AlertRule> {
    let rules = tx.fetch_all(|q| alerts::rule(q, id)).await?;
    let links = tx.fetch_all(|q| alerts::endpoints(q, Some(id))).await?;
    let states = tx.fetch_all(|q| alerts::states(q, Some(id))).await?;
    alerts::assemble(rules, links, states).pop().ok_or_else(|| StoreError::NotFound("alert rule".into()))
}

async fn log_stream(tx: &mut Tx, id: i64) -> StoreResult<LogStream> {
    let row: Option<log_streams::LogStreamRow> = tx.fetch_optional(|q| log_streams::one(q, id)).await?;
    let target: Option<LogStreamTarget> = row.map(Into::into);
    target.map(|t| t.stream).ok_or_else(|| StoreError::NotFound("log stream".into()))
}

async fn endpoint(tx: &mut Tx, id: i64) -> StoreResult<WebhookEndpoint> {
    let row: Option<webhooks::EndpointRow> = tx.fetch_optional(|q| webhooks::endpoint(q, id)).await?;
    row.map(Into::into).ok_or_else(|| StoreError::NotFound("webhook endpoint".into()))
}
