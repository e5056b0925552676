//! Server-side sessions (tower-sessions) in the same database as the records.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use super::sql_store::Use;
use super::sqlite::SqliteDb;

/// The session store of whichever backend the URL chose.
#[derive(Clone, Debug)]
pub enum SessionBackend {
    /// SQLite has one writer connection, busy with group commits and staging
    /// moves: sessions are read through the reader pool, so a page view never
    /// waits behind a write, and only their (rare) writes go to the writer.
    Sqlite {
        reads: SqliteStore,
        writes: SqliteStore,
    },
    Postgres(PostgresStore),
}

impl SessionBackend {
    pub async fn sqlite(db: &SqliteDb) -> anyhow::Result<Self> {
        let writes = SqliteStore::new(db.pool(Use::Write).clone());
        writes.migrate().await?;
        Ok(SessionBackend::Sqlite { reads: SqliteStore::new(db.pool(Use::Read).clone()), writes })
    }

    pub async fn postgres(pool: sqlx::PgPool) -> anyhow::Result<Self> {
        let store = PostgresStore::new(pool);
        store.migrate().await?;
        Ok(SessionBackend::Postgres(store))
    }

    /// Removes expired sessions from time to time, for as long as the server runs.
    pub fn spawn_expiry(&self) {
        let every = tokio::time::Duration::from_secs(3600);
        match self.clone() {
            SessionBackend::Sqlite { writes, .. } => tokio::spawn(writes.continuously_delete_expired(every)),
            SessionBackend::Postgres(store) => tokio::spawn(store.continuously_delete_expired(every)),
        };
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite { writes, .. } => writes.create(record).await,
            SessionBackend::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite { writes, .. } => writes.save(record).await,
            SessionBackend::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionBackend::Sqlite { reads, .. } => reads.load(id).await,
            SessionBackend::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite { writes, .. } => writes.delete(id).await,
            SessionBackend::Postgres(store) => store.delete(id).await,
        }
    }
}
