//! Storage: one implementation of the `app::store::Store` trait
//! ([`SqlStore`]) over SQLite or PostgreSQL, chosen by the database URL's
//! scheme. Migrations run when a store opens. How to add a query:
//! docs/architecture.md.

mod accounts;
mod alerts;
mod attempts;
pub mod canonical;
mod chain;
pub use chain::SignedCut;
mod changes;
mod columns;
mod commit_signal;
mod conditions;
mod horizon;
mod key_cache;
mod log_streams;
mod notices;
mod numbers;
mod outbox;
mod outcomes;
mod partitions;
mod postgres;
mod records;
mod retention;
pub mod rollup;
mod search;
mod sessions;
mod sql_store;
mod sqlite;
pub mod statement;
mod webhooks;

use std::sync::Arc;

use anyhow::{bail, Context};
use app::store::DynStore;

pub use columns::names as record_column_names;
pub use sessions::SessionBackend;
pub use sql_store::{Backend, Derived, SqlStore};

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

/// Fails unless the database at `url` is there already (PostgreSQL's always
/// is, or its connection fails).
pub fn must_exist(url: &str) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        sqlite::must_exist(url)?;
    }
    Ok(())
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
    let (backend, sessions) = if url.starts_with("sqlite:") {
        if config.database_read_url.is_some() {
            bail!("TRAIL_DATABASE_READ_URL names a PostgreSQL replica; SQLite has none");
        }
        let db = sqlite::SqliteDb::open(url, config.sqlite_stage_rows).await?;
        let sessions = SessionBackend::sqlite(&db).await?;
        (Backend::Sqlite(db), sessions)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let db = postgres::PgDb::open(url, config.database_read_url.as_deref()).await?;
        let sessions = SessionBackend::postgres(db.pool().clone()).await?;
        (Backend::Postgres(db), sessions)
    } else {
        bail!("unsupported database URL: expected sqlite://... or postgres://...")
    };
    if config.unchained_for_benchmark {
        tracing::warn!("records are written WITHOUT hash chains (a benchmark's baseline): `trail verify` will fail");
    }
    if config.unindexed_for_benchmark {
        tracing::warn!("records are written WITHOUT search documents (a benchmark's baseline): searches miss them");
    }
    let derived = Derived { chained: !config.unchained_for_benchmark, indexed: !config.unindexed_for_benchmark };
    let store = SqlStore::new(backend, derived);
    let chained = store.backfill_chains().await.context("chaining the records stored before hash chains")?;
    if chained > 0 {
        tracing::info!(chained, "records stored before hash chains are now chained");
    }
    Ok(Opened { store: Arc::new(store), sessions })
}

/// A store on a fresh SQLite file at `url`, for unit tests.
#[cfg(test)]
pub async fn sqlite_for_tests(url: &str) -> DynStore {
    let db = sqlite::SqliteDb::open(url, crate::config::DEFAULT_SQLITE_STAGE_ROWS).await.expect("a test database");
    Arc::new(SqlStore::new(Backend::Sqlite(db), Derived::ALL))
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
