//! Configuration from the environment.

use std::net::SocketAddr;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://trail.db";
pub const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";

#[derive(Clone, Debug)]
pub struct Config {
    /// `sqlite://path` or `postgres://...` (`TRAIL_DATABASE_URL`).
    pub database_url: String,
    /// Where to listen (`LEPTOS_SITE_ADDR`); port 0 picks a free one.
    pub site_addr: SocketAddr,
    /// Mark the session cookie `Secure` (`TRAIL_COOKIE_SECURE=1`, for HTTPS deployments).
    pub cookie_secure: bool,
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
        })
    }
}
