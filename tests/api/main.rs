//! Integration tests, grouped by capability. They run against SQLite by
//! default, and against PostgreSQL when `TRAIL_TEST_POSTGRES_URL` names a
//! server (each test gets a fresh database there).

mod alerts;
mod audit;
mod dashboard;
mod durability;
mod hardening;
mod helpers;
mod ingest;
mod instances;
mod integrity;
mod isolation;
mod log_streams;
mod partitions;
mod read;
mod replica;
mod retention;
mod search;
mod security;
mod stats;
mod storage;
mod stream;
mod webhooks;
