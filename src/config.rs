//! Configuration from the environment.

use std::net::SocketAddr;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://trail.db";
pub const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
/// In the sqlite3 shell at 10 M records, commits of 2,000 rows: no staging ran
/// at 14.7-16.0k rec/s; moving every 20,000: 21.2k, 50,000: 22.1-22.9k,
/// 100,000: 16.0k, 200,000: 18.6k.
pub const DEFAULT_SQLITE_STAGE_ROWS: usize = 50_000;

#[derive(Clone, Debug)]
pub struct Config {
    /// `sqlite://path` or `postgres://...` (`TRAIL_DATABASE_URL`).
    pub database_url: String,
    /// Where to listen (`LEPTOS_SITE_ADDR`); port 0 picks a free one.
    pub site_addr: SocketAddr,
    /// Mark the session cookie `Secure` (`TRAIL_COOKIE_SECURE=1`, for HTTPS deployments).
    pub cookie_secure: bool,
    /// SQLite: records staged in a small table before the writer moves them
    /// into the main one in one transaction (`TRAIL_SQLITE_STAGE_ROWS`).
    pub sqlite_stage_rows: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client
    /// (`TRAIL_TRUSTED_PROXIES`, addresses or networks, comma-separated).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let site_addr = var("LEPTOS_SITE_ADDR").unwrap_or_else(|| DEFAULT_SITE_ADDR.to_owned());
        Ok(Config {
            database_url: var("TRAIL_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            site_addr: site_addr
                .parse()
                .map_err(|e| anyhow::anyhow!("LEPTOS_SITE_ADDR {site_addr:?} is not host:port: {e}"))?,
            cookie_secure: matches!(var("TRAIL_COOKIE_SECURE").as_deref(), Some("1" | "true")),
            sqlite_stage_rows: match var("TRAIL_SQLITE_STAGE_ROWS") {
                None => DEFAULT_SQLITE_STAGE_ROWS,
                Some(rows) => rows
                    .parse()
                    .ok()
                    .filter(|&rows| rows > 0)
                    .ok_or_else(|| anyhow::anyhow!("TRAIL_SQLITE_STAGE_ROWS {rows:?} is not a positive number"))?,
            },
            trusted_proxies: crate::auth::client_address::parse_trusted_proxies(
                &var("TRAIL_TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|e| anyhow::anyhow!("TRAIL_TRUSTED_PROXIES: {e}"))?,
        })
    }
}
