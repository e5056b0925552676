//! Configuration: each setting a command-line option with an environment
//! variable behind it (clap's `env`), so `trail --help` documents them all.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://trail.db";
pub const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
/// Measured in docs/performance.md (moving every 50,000 staged records was fastest).
pub const DEFAULT_SQLITE_STAGE_ROWS: usize = 50_000;
pub const DEFAULT_SIGNING_KEY_FILE: &str = "trail-signing.key";
pub const DEFAULT_DIGEST_INTERVAL: usize = 600;
pub const DEFAULT_MAX_STREAMS: usize = 10_000;
pub const DEFAULT_MAX_STREAMS_PER_READER: usize = 1_000;

#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// `sqlite://path` (embedded, WAL) or `postgres://user:pass@host/db`.
    #[arg(long, global = true, env = "TRAIL_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
    /// PostgreSQL: a streaming replica of that database for reads of records
    /// (feeds, stats, exports). Writes, sessions, accounts and the live
    /// stream stay on the primary.
    #[arg(long, global = true, env = "TRAIL_DATABASE_READ_URL")]
    pub database_read_url: Option<String>,
    /// Where to listen; port 0 picks a free one.
    #[arg(long, global = true, env = "LEPTOS_SITE_ADDR", default_value = DEFAULT_SITE_ADDR)]
    pub site_addr: SocketAddr,
    /// Mark the session cookie `Secure` (behind HTTPS).
    #[arg(long, global = true, env = "TRAIL_COOKIE_SECURE", default_value_t = false,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub cookie_secure: bool,
    /// SQLite: records staged in a small table before the writer moves them
    /// into the main one in one transaction.
    #[arg(long, global = true, env = "TRAIL_SQLITE_STAGE_ROWS", default_value_t = DEFAULT_SQLITE_STAGE_ROWS,
          value_parser = positive)]
    pub sqlite_stage_rows: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client: addresses or
    /// networks, comma-separated (`127.0.0.1, 10.0.0.0/8`).
    #[arg(long, global = true, env = "TRAIL_TRUSTED_PROXIES", default_value = "",
          value_parser = trusted_proxies, hide_default_value = true)]
    pub trusted_proxies: TrustedProxies,
    /// The Ed25519 key that signs digests of the hash chains: made here (mode
    /// 0600) at first start if missing. Servers sharing a database share it.
    #[arg(long, global = true, env = "TRAIL_SIGNING_KEY_FILE", default_value = DEFAULT_SIGNING_KEY_FILE)]
    pub signing_key_file: PathBuf,
    /// Seconds between signed digests of the chains that grew (and the
    /// background check of what was added).
    #[arg(long, global = true, env = "TRAIL_DIGEST_INTERVAL", default_value_t = DEFAULT_DIGEST_INTERVAL,
          value_parser = positive)]
    pub digest_interval: usize,
    /// Live streams (`/api/v1/events/stream`) this server keeps open at
    /// once; more are refused with 503. Each needs a file descriptor.
    #[arg(long, global = true, env = "TRAIL_MAX_STREAMS", default_value_t = DEFAULT_MAX_STREAMS, value_parser = positive)]
    pub max_streams: usize,
    /// Live streams one API key or session may have open at once; more are
    /// refused with 429.
    #[arg(long, global = true, env = "TRAIL_MAX_STREAMS_PER_READER", default_value_t = DEFAULT_MAX_STREAMS_PER_READER,
          value_parser = positive)]
    pub max_streams_per_reader: usize,
    /// Webhooks and log streams may be sent to loopback, private and
    /// link-local addresses (refused otherwise: when one is created, and on
    /// the address resolved at every connection).
    #[arg(long, global = true, env = "TRAIL_WEBHOOK_ALLOW_PRIVATE", default_value_t = false,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true")]
    pub webhook_allow_private: bool,
    /// The waits after each failed webhook attempt, in seconds, comma-separated
    /// (the first attempt is immediate; one more attempt per wait).
    #[arg(long, global = true, env = "TRAIL_WEBHOOK_RETRY_SCHEDULE", default_value = DEFAULT_WEBHOOK_RETRY_SCHEDULE,
          value_parser = retry_schedule)]
    pub webhook_retry_schedule: RetrySchedule,
    /// Where people reach the dashboard (links in Slack messages); the
    /// listening address if not given.
    #[arg(long, global = true, env = "TRAIL_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,
    /// Write ingested records without their hash chain links: only the
    /// benchmark's baseline uses it, and `trail verify` then reports every
    /// such record as slipped in.
    #[arg(long, global = true, env = "TRAIL_UNCHAINED_FOR_BENCHMARK", hide = true, default_value_t = false,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub unchained_for_benchmark: bool,
    /// Write ingested records without their search documents: only the
    /// benchmark's baseline uses it (searches then miss those records).
    #[arg(long, global = true, env = "TRAIL_UNINDEXED_FOR_BENCHMARK", hide = true, default_value_t = false,
          value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub unindexed_for_benchmark: bool,
}

/// The parsed `--trusted-proxies` (one value, so clap does not split it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

fn trusted_proxies(text: &str) -> Result<TrustedProxies, String> {
    crate::auth::client_address::parse_trusted_proxies(text).map(TrustedProxies)
}

/// The specification's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
pub const DEFAULT_WEBHOOK_RETRY_SCHEDULE: &str = "5,300,1800,7200,18000,36000,50400,72000,86400";

/// The parsed `--webhook-retry-schedule`.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule(pub Vec<std::time::Duration>);

fn retry_schedule(text: &str) -> Result<RetrySchedule, String> {
    let waits = text
        .split(',')
        .map(|part| {
            let seconds: f64 =
                part.trim().parse().map_err(|_| format!("{:?} is not a number of seconds", part.trim()))?;
            // A week at most: longer waits are a typo, and would overflow the clock's arithmetic.
            std::time::Duration::try_from_secs_f64(seconds)
                .ok()
                .filter(|wait| *wait <= std::time::Duration::from_secs(7 * 24 * 3600))
                .ok_or_else(|| format!("{seconds} is not a wait of up to a week"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RetrySchedule(waits))
}

/// An http or https address with a host: the base of links to the dashboard.
fn public_url(text: &str) -> Result<String, String> {
    app::webhooks::http_url(text).map(|_| text.trim().to_owned())
}

fn positive(text: &str) -> Result<usize, String> {
    text.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| format!("{text:?} is not a positive number"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn defaults_options_and_bad_values() {
        let config = Cli::try_parse_from(["trail"]).unwrap().config;
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(config.database_read_url, None);
        assert_eq!(config.site_addr.to_string(), DEFAULT_SITE_ADDR);
        assert!(!config.cookie_secure);
        assert_eq!(config.sqlite_stage_rows, DEFAULT_SQLITE_STAGE_ROWS);
        assert_eq!(config.trusted_proxies, TrustedProxies::default());
        assert_eq!(config.signing_key_file, PathBuf::from(DEFAULT_SIGNING_KEY_FILE));
        assert_eq!(config.digest_interval, DEFAULT_DIGEST_INTERVAL);

        let args = ["trail", "--cookie-secure", "1", "--trusted-proxies", "127.0.0.1, 10.0.0.0/8"];
        let config = Cli::try_parse_from(args).unwrap().config;
        assert!(config.cookie_secure);
        assert_eq!(config.trusted_proxies.0.len(), 2);

        assert_eq!(config.public_url, None);
        let args = ["trail", "--public-url", "https://trail.example.com/"];
        let config = Cli::try_parse_from(args).unwrap().config;
        assert_eq!(config.public_url.as_deref(), Some("https://trail.example.com/"));

        for bad in [
            ["--sqlite-stage-rows", "0"],
            ["--site-addr", "nowhere"],
            ["--trusted-proxies", "localhost"],
            ["--public-url", "not a url"],
            ["--public-url", "ftp://trail.example.com"],
        ] {
            assert!(Cli::try_parse_from(["trail", bad[0], bad[1]]).is_err(), "{bad:?}");
        }
    }
}
