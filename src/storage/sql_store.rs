//! The one implementation of `app::store::Store`: each method builds its
//! statement once (the builders in `accounts`, `records`, `rollup`) and runs
//! it on whichever backend is open. Only opening, inserting records and
//! SQLite's staging differ per backend (`sqlite.rs`, `postgres.rs`).

use app::model::{EventDetail, EventFilter, EventRow, Micros, Role, Stats, StatsWindow};
use app::store::{
    ApiKeyRecord, ApiKeySummary, InsertOutcome, NewApiKey, NewRecord, NewUser, Page, Scope, Store, StoreError,
    StoreResult, UserRecord, UserSummary, Workspace,
};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::FromRow;
use uuid::Uuid;

use super::key_cache::{KeyCache, Lookup};
use super::postgres::PgDb;
use super::sqlite::SqliteDb;
use super::statement::{for_postgres, for_sqlite, Sql};
use super::{accounts, records, rollup};

pub enum Backend {
    Sqlite(SqliteDb),
    Postgres(PgDb),
}

/// Which connections a statement runs on: SQLite reads through a pool of
/// readers and writes through its one writer; PostgreSQL has one pool.
#[derive(Clone, Copy, Debug)]
pub enum Use {
    Read,
    Write,
}

pub struct SqlStore {
    backend: Backend,
    keys: KeyCache,
}

/// A row type both backends can decode.
pub trait Row: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

impl<T> Row for T where T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> {}

/// Builds a statement into the backend's builder.
pub trait Build<'a>: for<'s> FnOnce(&mut Sql<'s, 'a>) + Send {}

impl<'a, F> Build<'a> for F where F: for<'s> FnOnce(&mut Sql<'s, 'a>) + Send {}

impl SqlStore {
    pub fn new(backend: Backend) -> Self {
        SqlStore { backend, keys: KeyCache::default() }
    }

    pub async fn fetch_all<'a, T: Row>(&self, to: Use, build: impl Build<'a>) -> sqlx::Result<Vec<T>> {
        match &self.backend {
            Backend::Sqlite(db) => for_sqlite(build).build_query_as().fetch_all(db.pool(to)).await,
            Backend::Postgres(db) => for_postgres(build).build_query_as().fetch_all(db.pool()).await,
        }
    }

    pub async fn fetch_optional<'a, T: Row>(&self, to: Use, build: impl Build<'a>) -> sqlx::Result<Option<T>> {
        match &self.backend {
            Backend::Sqlite(db) => for_sqlite(build).build_query_as().fetch_optional(db.pool(to)).await,
            Backend::Postgres(db) => for_postgres(build).build_query_as().fetch_optional(db.pool()).await,
        }
    }

    pub async fn fetch_one<'a, T: Row>(&self, to: Use, build: impl Build<'a>) -> sqlx::Result<T> {
        self.fetch_optional(to, build).await?.ok_or(sqlx::Error::RowNotFound)
    }

    /// Runs a statement on the writer; how many rows it changed.
    pub async fn execute<'a>(&self, build: impl Build<'a>) -> sqlx::Result<u64> {
        Ok(match &self.backend {
            Backend::Sqlite(db) => for_sqlite(build).build().execute(db.pool(Use::Write)).await?.rows_affected(),
            Backend::Postgres(db) => for_postgres(build).build().execute(db.pool()).await?.rows_affected(),
        })
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`.
fn conflict(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
        _ => StoreError::Database(err),
    }
}

/// `NotFound(what)` unless the statement changed a row.
fn found(changed: u64, what: &str) -> StoreResult<()> {
    if changed == 0 {
        return Err(StoreError::NotFound(what.to_owned()));
    }
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    fn concurrent_writes(&self) -> usize {
        match self.backend {
            Backend::Sqlite(_) => SqliteDb::CONCURRENT_WRITES,
            Backend::Postgres(_) => PgDb::CONCURRENT_WRITES,
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        self.fetch_one::<(i32,)>(Use::Read, |q| _ = q.push("SELECT 1")).await?;
        Ok(())
    }

    fn pool_use(&self) -> Vec<(&'static str, u32, usize)> {
        match &self.backend {
            Backend::Sqlite(db) => db.pools().map(|(name, pool)| (name, pool.size(), pool.num_idle())).into(),
            Backend::Postgres(db) => vec![("pool", db.pool().size(), db.pool().num_idle())],
        }
    }

    async fn create_workspace(&self, slug: &str, name: &str) -> StoreResult<Workspace> {
        self.fetch_one(Use::Write, |q| accounts::create_workspace(q, slug, name)).await.map_err(conflict("workspace"))
    }

    async fn workspace_by_slug(&self, slug: &str) -> StoreResult<Option<Workspace>> {
        Ok(self.fetch_optional(Use::Read, |q| accounts::workspace_by_slug(q, slug)).await?)
    }

    async fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        Ok(self.fetch_all(Use::Read, accounts::workspaces).await?)
    }

    async fn create_user(&self, user: &NewUser) -> StoreResult<i64> {
        let (id,) = self.fetch_one(Use::Write, |q| accounts::create_user(q, user)).await.map_err(conflict("user"))?;
        Ok(id)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self.fetch_optional(Use::Read, |q| accounts::user_by_email(q, email)).await?)
    }

    async fn user_by_id(&self, id: i64) -> StoreResult<Option<UserRecord>> {
        Ok(self.fetch_optional(Use::Read, |q| accounts::user_by_id(q, id)).await?)
    }

    async fn add_membership(&self, user_id: i64, workspace_id: i64, brand: Option<&str>) -> StoreResult<()> {
        self.execute(|q| accounts::add_membership(q, user_id, workspace_id, brand)).await?;
        Ok(())
    }

    async fn user_summary(&self, user_id: i64) -> StoreResult<Option<UserSummary>> {
        let rows = self.fetch_all(Use::Read, |q| accounts::user_with_memberships(q, user_id)).await?;
        Ok(accounts::user_summary(rows))
    }

    async fn remove_membership(&self, user_id: i64, workspace_id: i64) -> StoreResult<()> {
        self.execute(|q| accounts::remove_membership(q, user_id, workspace_id)).await?;
        Ok(())
    }

    async fn users(&self) -> StoreResult<Vec<UserSummary>> {
        let users = self.fetch_all(Use::Read, accounts::users).await?;
        let memberships = self.fetch_all(Use::Read, accounts::memberships).await?;
        Ok(accounts::user_summaries(users, memberships))
    }

    async fn set_user_role(&self, user_id: i64, role: Role) -> StoreResult<()> {
        found(self.execute(|q| accounts::set_user_role(q, user_id, role)).await?, "user")
    }

    async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> StoreResult<()> {
        found(self.execute(|q| accounts::set_user_disabled(q, user_id, disabled)).await?, "user")
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKeySummary>> {
        Ok(self.fetch_all(Use::Read, accounts::api_keys).await?)
    }

    async fn revoke_api_key(&self, id: i64, at: Micros) -> StoreResult<()> {
        let revoked = self.execute(|q| accounts::revoke_api_key(q, id, at)).await;
        // After the commit, and before answering: no request that starts
        // once the revocation is acknowledged gets the old record.
        self.keys.revoked();
        found(revoked?, "API key")
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<i64> {
        let (id,) =
            self.fetch_one(Use::Write, |q| accounts::create_api_key(q, key)).await.map_err(conflict("API key"))?;
        Ok(id)
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let generation = match self.keys.lookup(key_hash) {
            Lookup::Hit(record) => return Ok(Some(record)),
            Lookup::Miss(generation) => generation,
        };
        let row: Option<accounts::ApiKeyRow> =
            self.fetch_optional(Use::Read, |q| accounts::api_key_by_hash(q, key_hash)).await?;
        let record: Option<ApiKeyRecord> = row.map(Into::into);
        if let Some(record) = &record {
            self.keys.store(key_hash, record, generation);
        }
        Ok(record)
    }

    async fn touch_api_key(&self, id: i64, at: Micros) -> StoreResult<()> {
        self.keys.touched(id, at);
        self.execute(|q| accounts::touch_api_key(q, id, at)).await?;
        Ok(())
    }

    async fn insert_records(&self, requests: &[Vec<NewRecord>]) -> StoreResult<Vec<InsertOutcome>> {
        if requests.iter().all(Vec::is_empty) {
            return Ok(requests.iter().map(|_| InsertOutcome::default()).collect());
        }
        match &self.backend {
            Backend::Sqlite(db) => db.insert_records(requests).await,
            Backend::Postgres(db) => db.insert_records(requests).await,
        }
    }

    async fn compact(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite(db) => db.compact().await,
            // PostgreSQL writes records straight into `events`: nothing is staged.
            Backend::Postgres(_) => Ok(()),
        }
    }

    async fn list_events(&self, scope: &Scope, filter: &EventFilter, page: Page) -> StoreResult<Vec<EventRow>> {
        Ok(self.fetch_all(Use::Read, |q| records::list_events(q, scope, filter, page)).await?)
    }

    async fn events_received_after(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        after: Uuid,
        limit: usize,
    ) -> StoreResult<Vec<EventRow>> {
        Ok(self.fetch_all(Use::Read, |q| records::events_received_after(q, scope, filter, after, limit)).await?)
    }

    async fn list_event_details(
        &self,
        scope: &Scope,
        filter: &EventFilter,
        page: Page,
    ) -> StoreResult<Vec<EventDetail>> {
        Ok(self.fetch_all(Use::Read, |q| records::list_event_details(q, scope, filter, page)).await?)
    }

    async fn event_by_id(&self, scope: &Scope, id: Uuid) -> StoreResult<Option<EventDetail>> {
        Ok(self.fetch_optional(Use::Read, |q| records::event_by_id(q, scope, id)).await?)
    }

    async fn stats(
        &self,
        scope: &Scope,
        workspace: Option<&str>,
        window: StatsWindow,
        now: Micros,
    ) -> StoreResult<Stats> {
        let rows = self.fetch_all(Use::Read, |q| rollup::stats(q, scope, workspace, window, now)).await?;
        Ok(rollup::assemble(window, now, rows))
    }
}
