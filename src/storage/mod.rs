//! Storage: one trait (`app::store::Store`), one implementation per backend,
//! chosen by the database URL's scheme. Migrations run when a store opens.

mod key_cache;
mod postgres;
pub mod rollup;
mod sessions;
pub mod sql;
mod sqlite;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{bail, Context};
use app::store::{DynStore, InsertOutcome, NewRecord, StoreError};
use sqlx::{Database, Encode, FromRow, IntoArguments, Type};
use uuid::Uuid;

pub use sessions::SessionBackend;
use sql::Arg;

use crate::config::Config;

/// An opened database: the store and the session store on the same database.
pub struct Opened {
    pub store: DynStore,
    pub sessions: SessionBackend,
}

/// Opens (creating if needed) and migrates the configured database:
/// `sqlite://path` or `postgres://...`.
pub async fn open(config: &Config) -> anyhow::Result<Opened> {
    let url = &config.database_url;
    open_backend(config).await.with_context(|| format!("opening the database {}", redact(url)))
}

/// The URL without its password, for messages.
fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            // Only fails for URLs that cannot have a password, which this one has.
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

async fn open_backend(config: &Config) -> anyhow::Result<Opened> {
    let url = config.database_url.as_str();
    if url.starts_with("sqlite:") {
        let store = sqlite::SqliteStore::open(url, config.sqlite_stage_rows).await?;
        let sessions = SessionBackend::sqlite(store.writer().clone(), store.reader().clone()).await?;
        Ok(Opened { store: Arc::new(store), sessions })
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = postgres::PgStore::open(url).await?;
        let sessions = SessionBackend::postgres(store.pool().clone()).await?;
        Ok(Opened { store: Arc::new(store), sessions })
    } else {
        bail!("unsupported database URL: expected sqlite://... or postgres://...")
    }
}

/// A `query_as` with every argument bound, for any backend.
pub(crate) fn bind_query_as<'q, DB, O>(
    sql: &'q str,
    args: &'q [Arg],
) -> sqlx::query::QueryAs<'q, DB, O, <DB as Database>::Arguments<'q>>
where
    DB: Database,
    <DB as Database>::Arguments<'q>: IntoArguments<'q, DB>,
    O: for<'r> FromRow<'r, DB::Row>,
    i64: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Uuid: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
{
    args.iter().fold(sqlx::query_as::<DB, O>(sql), |query, arg| match arg {
        Arg::Int(v) => query.bind(*v),
        Arg::Text(v) => query.bind(v.as_str()),
        Arg::Uuid(v) => query.bind(*v),
        Arg::OptInt(v) => query.bind(*v),
        Arg::OptText(v) => query.bind(v.as_deref()),
    })
}

/// Maps a unique-constraint violation to `Conflict(what)`.
pub(crate) fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(err),
    }
}

/// Splits a group commit's result back into one outcome per request.
/// `inserted`: ids written now; `existing`: the stored id of each duplicate.
pub(crate) fn outcomes(
    requests: &[Vec<NewRecord>],
    inserted: &HashSet<Uuid>,
    existing: &HashMap<(i64, String), Uuid>,
) -> Vec<InsertOutcome> {
    requests
        .iter()
        .map(|records| {
            let mut outcome = InsertOutcome { ids: Vec::with_capacity(records.len()), duplicates: 0 };
            for record in records {
                if inserted.contains(&record.id) {
                    outcome.ids.push(record.id);
                    continue;
                }
                outcome.duplicates += 1;
                let stored = record
                    .event_id
                    .as_ref()
                    .and_then(|event_id| existing.get(&(record.workspace_id, event_id.clone())));
                outcome.ids.push(stored.copied().unwrap_or(record.id));
            }
            outcome
        })
        .collect()
}

/// The records of a group that were not written: duplicates by event id.
pub(crate) fn skipped<'a>(requests: &'a [Vec<NewRecord>], inserted: &HashSet<Uuid>) -> Vec<(i64, &'a str)> {
    requests
        .iter()
        .flatten()
        .filter(|r| !inserted.contains(&r.id))
        .filter_map(|r| r.event_id.as_deref().map(|e| (r.workspace_id, e)))
        .collect()
}

/// Implements the parts of `Store` that are the same SQL on both backends.
/// The backend type provides `reader()`, `writer()`, `insert_records_impl`,
/// `compact_impl`
/// and a `keys` field (`KeyCache`).
macro_rules! impl_store {
    ($store:ty, $db:ty, $dialect:expr, $name:literal) => {
        #[async_trait::async_trait]
        impl app::store::Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            fn concurrent_writes(&self) -> usize {
                Self::CONCURRENT_WRITES
            }

            async fn ping(&self) -> app::store::StoreResult<()> {
                $crate::storage::bind_query_as::<$db, (i32,)>("SELECT 1", &[]).fetch_one(self.reader()).await?;
                Ok(())
            }

            fn pool_use(&self) -> Vec<(&'static str, u32, usize)> {
                self.pools().into_iter().map(|(name, pool)| (name, pool.size(), pool.num_idle())).collect()
            }

            async fn create_workspace(&self, slug: &str, name: &str) -> app::store::StoreResult<app::store::Workspace> {
                let args = [
                    $crate::storage::sql::Arg::Text(slug.to_owned()),
                    $crate::storage::sql::Arg::Text(name.to_owned()),
                    $crate::storage::sql::Arg::Int(app::model::Micros::now().0),
                ];
                let sql = $dialect.finish(
                    "INSERT INTO workspaces (slug, name, created_at) VALUES (?, ?, ?) RETURNING id, slug, name",
                );
                $crate::storage::bind_query_as::<$db, app::store::Workspace>(&sql, &args)
                    .fetch_one(self.writer())
                    .await
                    .map_err($crate::storage::conflict("workspace"))
            }

            async fn workspace_by_slug(&self, slug: &str) -> app::store::StoreResult<Option<app::store::Workspace>> {
                let args = [$crate::storage::sql::Arg::Text(slug.to_owned())];
                let sql = $dialect.finish("SELECT id, slug, name FROM workspaces WHERE slug = ?");
                Ok($crate::storage::bind_query_as::<$db, app::store::Workspace>(&sql, &args)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn workspaces(&self) -> app::store::StoreResult<Vec<app::store::Workspace>> {
                Ok($crate::storage::bind_query_as::<$db, app::store::Workspace>(
                    "SELECT id, slug, name FROM workspaces ORDER BY slug",
                    &[],
                )
                .fetch_all(self.reader())
                .await?)
            }

            async fn create_user(&self, user: &app::store::NewUser) -> app::store::StoreResult<i64> {
                use $crate::storage::sql::Arg;
                let args = [
                    Arg::Text(user.email.clone()),
                    Arg::OptText(user.name.clone()),
                    Arg::Text(user.role.as_str().to_owned()),
                    Arg::Text(user.password_hash.clone()),
                    Arg::Int(app::model::Micros::now().0),
                ];
                let sql = $dialect.finish(
                    "INSERT INTO users (email, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                );
                let (id,): (i64,) = $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args)
                    .fetch_one(self.writer())
                    .await
                    .map_err($crate::storage::conflict("user"))?;
                Ok(id)
            }

            async fn user_by_email(&self, email: &str) -> app::store::StoreResult<Option<app::store::UserRecord>> {
                let args = [$crate::storage::sql::Arg::Text(email.to_owned())];
                let sql = $dialect.finish(
                    "SELECT id, email, name, role, password_hash, disabled FROM users WHERE lower(email) = lower(?)",
                );
                Ok($crate::storage::bind_query_as::<$db, app::store::UserRecord>(&sql, &args)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn user_by_id(&self, id: i64) -> app::store::StoreResult<Option<app::store::UserRecord>> {
                let args = [$crate::storage::sql::Arg::Int(id)];
                let sql = $dialect.finish("SELECT id, email, name, role, password_hash, disabled FROM users WHERE id = ?");
                Ok($crate::storage::bind_query_as::<$db, app::store::UserRecord>(&sql, &args)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn add_membership(
                &self,
                user_id: i64,
                workspace_id: i64,
                brand: Option<&str>,
            ) -> app::store::StoreResult<()> {
                use $crate::storage::sql::Arg;
                let args = [Arg::Int(user_id), Arg::Int(workspace_id), Arg::OptText(brand.map(str::to_owned))];
                let sql = $dialect.finish(
                    "INSERT INTO memberships (user_id, workspace_id, brand) VALUES (?, ?, ?) \
                     ON CONFLICT (user_id, workspace_id) DO UPDATE SET brand = excluded.brand RETURNING user_id",
                );
                $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args).fetch_one(self.writer()).await?;
                Ok(())
            }

            async fn user_summary(&self, user_id: i64) -> app::store::StoreResult<Option<app::store::UserSummary>> {
                let args = [$crate::storage::sql::Arg::Int(user_id)];
                let sql = $dialect.finish(
                    "SELECT u.id, u.email, u.name, u.role, u.password_hash, u.disabled, m.workspace_id, \
                     w.slug AS workspace, m.brand FROM users u LEFT JOIN memberships m ON m.user_id = u.id \
                     LEFT JOIN workspaces w ON w.id = m.workspace_id WHERE u.id = ? ORDER BY w.slug",
                );
                let rows = $crate::storage::bind_query_as::<$db, $crate::storage::UserMembershipRow>(&sql, &args)
                    .fetch_all(self.reader())
                    .await?;
                Ok($crate::storage::user_summary(rows))
            }

            async fn remove_membership(&self, user_id: i64, workspace_id: i64) -> app::store::StoreResult<()> {
                let args = [$crate::storage::sql::Arg::Int(user_id), $crate::storage::sql::Arg::Int(workspace_id)];
                let sql = $dialect.finish("DELETE FROM memberships WHERE user_id = ? AND workspace_id = ? RETURNING user_id");
                $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args).fetch_optional(self.writer()).await?;
                Ok(())
            }

            async fn users(&self) -> app::store::StoreResult<Vec<app::store::UserSummary>> {
                let users: Vec<app::store::UserRecord> = $crate::storage::bind_query_as::<$db, app::store::UserRecord>(
                    "SELECT id, email, name, role, password_hash, disabled FROM users ORDER BY lower(email)",
                    &[],
                )
                .fetch_all(self.reader())
                .await?;
                let memberships: Vec<$crate::storage::MembershipRow> = $crate::storage::bind_query_as::<$db, $crate::storage::MembershipRow>(
                    "SELECT m.user_id, m.workspace_id, w.slug AS workspace, m.brand FROM memberships m \
                     JOIN workspaces w ON w.id = m.workspace_id ORDER BY w.slug",
                    &[],
                )
                .fetch_all(self.reader())
                .await?;
                Ok($crate::storage::user_summaries(users, memberships))
            }

            async fn set_user_role(&self, user_id: i64, role: app::model::Role) -> app::store::StoreResult<()> {
                use $crate::storage::sql::Arg;
                let args = [Arg::Text(role.as_str().to_owned()), Arg::Int(user_id)];
                let sql = $dialect.finish("UPDATE users SET role = ? WHERE id = ? RETURNING id");
                $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args)
                    .fetch_optional(self.writer())
                    .await?
                    .ok_or_else(|| app::store::StoreError::NotFound("user".into()))?;
                Ok(())
            }

            async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> app::store::StoreResult<()> {
                use $crate::storage::sql::Arg;
                // Compared in SQL so both backends store their own boolean.
                let args = [Arg::Int(i64::from(disabled)), Arg::Int(user_id)];
                let sql = $dialect.finish("UPDATE users SET disabled = (? = 1) WHERE id = ? RETURNING id");
                $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args)
                    .fetch_optional(self.writer())
                    .await?
                    .ok_or_else(|| app::store::StoreError::NotFound("user".into()))?;
                Ok(())
            }

            async fn api_keys(&self) -> app::store::StoreResult<Vec<app::store::ApiKeySummary>> {
                Ok($crate::storage::bind_query_as::<$db, app::store::ApiKeySummary>(
                    "SELECT k.id, w.slug AS workspace, k.name, k.prefix, k.scopes, k.created_at, k.last_used_at, k.revoked_at \
                     FROM api_keys k LEFT JOIN workspaces w ON w.id = k.workspace_id ORDER BY k.created_at DESC, k.id DESC",
                    &[],
                )
                .fetch_all(self.reader())
                .await?)
            }

            async fn revoke_api_key(&self, id: i64, at: app::model::Micros) -> app::store::StoreResult<()> {
                use $crate::storage::sql::Arg;
                let args = [Arg::Int(at.0), Arg::Int(id)];
                let sql = $dialect.finish("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING id");
                let revoked = $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args).fetch_optional(self.writer()).await;
                // After the commit, and before answering: no request that
                // starts once the revocation is acknowledged gets the old record.
                self.keys.revoked();
                revoked?.ok_or_else(|| app::store::StoreError::NotFound("API key".into()))?;
                Ok(())
            }

            async fn create_api_key(&self, key: &app::store::NewApiKey) -> app::store::StoreResult<i64> {
                use $crate::storage::sql::Arg;
                let args = [
                    Arg::OptInt(key.workspace_id),
                    Arg::Text(key.name.clone()),
                    Arg::Text(key.prefix.clone()),
                    Arg::Text(key.key_hash.clone()),
                    Arg::Text(key.scopes.join(",")),
                    Arg::Int(app::model::Micros::now().0),
                ];
                let sql = $dialect.finish(
                    "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, scopes, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                );
                let (id,): (i64,) = $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args)
                    .fetch_one(self.writer())
                    .await
                    .map_err($crate::storage::conflict("API key"))?;
                Ok(id)
            }

            async fn api_key_by_hash(&self, key_hash: &str) -> app::store::StoreResult<Option<app::store::ApiKeyRecord>> {
                let generation = match self.keys.lookup(key_hash) {
                    $crate::storage::key_cache::Lookup::Hit(record) => return Ok(Some(record)),
                    $crate::storage::key_cache::Lookup::Miss(generation) => generation,
                };
                let args = [$crate::storage::sql::Arg::Text(key_hash.to_owned())];
                let sql = $dialect.finish(
                    "SELECT k.id, k.workspace_id, w.slug AS workspace, k.scopes, k.revoked_at, k.last_used_at \
                     FROM api_keys k LEFT JOIN workspaces w ON w.id = k.workspace_id WHERE k.key_hash = ?",
                );
                let row = $crate::storage::bind_query_as::<$db, $crate::storage::ApiKeyRow>(&sql, &args)
                    .fetch_optional(self.reader())
                    .await?;
                let record: Option<app::store::ApiKeyRecord> = row.map(Into::into);
                if let Some(record) = &record {
                    self.keys.store(key_hash, record, generation);
                }
                Ok(record)
            }

            async fn touch_api_key(&self, id: i64, at: app::model::Micros) -> app::store::StoreResult<()> {
                use $crate::storage::sql::Arg;
                self.keys.touched(id, at);
                let args = [Arg::Int(at.0), Arg::Int(id)];
                let sql = $dialect.finish("UPDATE api_keys SET last_used_at = ? WHERE id = ? RETURNING id");
                $crate::storage::bind_query_as::<$db, (i64,)>(&sql, &args).fetch_optional(self.writer()).await?;
                Ok(())
            }

            async fn insert_records(
                &self,
                requests: &[Vec<app::store::NewRecord>],
            ) -> app::store::StoreResult<Vec<app::store::InsertOutcome>> {
                if requests.iter().all(Vec::is_empty) {
                    return Ok(requests.iter().map(|_| Default::default()).collect());
                }
                self.insert_records_impl(requests).await
            }

            async fn compact(&self) -> app::store::StoreResult<()> {
                self.compact_impl().await
            }

            async fn list_events(
                &self,
                scope: &app::store::Scope,
                filter: &app::model::EventFilter,
                page: app::store::Page,
            ) -> app::store::StoreResult<Vec<app::model::EventRow>> {
                let query = $crate::storage::sql::list_events($dialect, scope, filter, page);
                Ok($crate::storage::bind_query_as::<$db, app::model::EventRow>(&query.sql, &query.args)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn events_received_after(
                &self,
                scope: &app::store::Scope,
                filter: &app::model::EventFilter,
                after: uuid::Uuid,
                limit: usize,
            ) -> app::store::StoreResult<Vec<app::model::EventRow>> {
                let query = $crate::storage::sql::events_received_after($dialect, scope, filter, after, limit);
                Ok($crate::storage::bind_query_as::<$db, app::model::EventRow>(&query.sql, &query.args)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn list_event_details(
                &self,
                scope: &app::store::Scope,
                filter: &app::model::EventFilter,
                page: app::store::Page,
            ) -> app::store::StoreResult<Vec<app::model::EventDetail>> {
                let query = $crate::storage::sql::list_event_details($dialect, scope, filter, page);
                Ok($crate::storage::bind_query_as::<$db, app::model::EventDetail>(&query.sql, &query.args)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn event_by_id(
                &self,
                scope: &app::store::Scope,
                id: uuid::Uuid,
            ) -> app::store::StoreResult<Option<app::model::EventDetail>> {
                let query = $crate::storage::sql::event_by_id($dialect, scope, id);
                Ok($crate::storage::bind_query_as::<$db, app::model::EventDetail>(&query.sql, &query.args)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn stats(
                &self,
                scope: &app::store::Scope,
                workspace: Option<&str>,
                window: app::model::StatsWindow,
                now: app::model::Micros,
            ) -> app::store::StoreResult<app::model::Stats> {
                let q = $crate::storage::rollup::stats_query($dialect, scope, workspace, window, now);
                let rows = $crate::storage::bind_query_as::<$db, $crate::storage::rollup::StatsRow>(&q.sql, &q.args)
                    .fetch_all(self.reader())
                    .await?;
                Ok($crate::storage::rollup::assemble(window, now, rows))
            }

        }
    };
}
pub(crate) use impl_store;

/// A membership with its user, for listing every user at once.
#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    user_id: i64,
    #[sqlx(flatten)]
    membership: app::model::Membership,
}

pub(crate) fn user_summaries(
    users: Vec<app::store::UserRecord>,
    memberships: Vec<MembershipRow>,
) -> Vec<app::store::UserSummary> {
    let mut by_user: HashMap<i64, Vec<app::model::Membership>> = HashMap::new();
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

fn summary(user: app::store::UserRecord, memberships: Vec<app::model::Membership>) -> app::store::UserSummary {
    app::store::UserSummary {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        disabled: user.disabled,
        memberships,
    }
}

/// A user joined with one of their memberships, if any.
#[derive(sqlx::FromRow)]
pub(crate) struct UserMembershipRow {
    #[sqlx(flatten)]
    user: app::store::UserRecord,
    workspace_id: Option<i64>,
    workspace: Option<String>,
    brand: Option<String>,
}

/// The one user of `rows` with every membership the rows hold.
pub(crate) fn user_summary(rows: Vec<UserMembershipRow>) -> Option<app::store::UserSummary> {
    let user = rows.first()?.user.clone();
    let memberships = rows
        .into_iter()
        .filter_map(|row| {
            Some(app::model::Membership {
                workspace_id: row.workspace_id?,
                workspace: row.workspace?,
                brand: row.brand,
            })
        })
        .collect();
    Some(summary(user, memberships))
}

/// An `api_keys` row as selected by `api_key_by_hash`.
#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: i64,
    workspace_id: Option<i64>,
    workspace: Option<String>,
    scopes: String,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

impl From<ApiKeyRow> for app::store::ApiKeyRecord {
    fn from(row: ApiKeyRow) -> Self {
        app::store::ApiKeyRecord {
            id: row.id,
            workspace_id: row.workspace_id,
            workspace: row.workspace,
            scopes: row.scopes.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            revoked: row.revoked_at.is_some(),
            last_used_at: row.last_used_at.map(app::model::Micros),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(super::redact("postgres://trail:s3cret@db:5432/trail"), "postgres://trail:***@db:5432/trail");
        assert_eq!(super::redact("postgres://db/trail"), "postgres://db/trail");
        assert_eq!(super::redact("sqlite://trail.db"), "sqlite://trail.db");
        assert_eq!(super::redact("not a url"), "not a url");
    }
}
