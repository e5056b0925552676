//! System health: shared by `GET /api/system/health` and the dashboard's
//! health page (founders and admins).

use serde::{Deserialize, Serialize};

use crate::model::Micros;

/// In order of gravity: the service is as healthy as its worst check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Check {
    pub name: String,
    pub status: HealthStatus,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Health {
    pub status: HealthStatus,
    pub backend: String,
    pub checked_at: Micros,
    pub checks: Vec<Check>,
    /// Records in the last 24 hours and 30 days, and workspaces (absent when the database is unreachable).
    pub records_24h: Option<i64>,
    pub records_30d: Option<i64>,
    pub workspaces: Option<i64>,
    /// Share of error and critical records in the last 60 minutes (from
    /// hourly counts: see `LastHour`).
    pub error_rate_last_hour: Option<f64>,
    pub query_ms: Option<f64>,
}

impl Health {
    /// Unhealthy, because of the check `name`: the answer as it stands.
    #[cfg(feature = "ssr")]
    fn failed(mut self, name: &str, detail: &str) -> Health {
        self.status = HealthStatus::Unhealthy;
        self.checks.push(Check { name: name.into(), status: HealthStatus::Unhealthy, detail: detail.into() });
        self
    }

    /// What anyone may see (a load balancer, say): the status of each check,
    /// without counts or details, which are for founders and admins.
    pub fn public(self) -> Health {
        Health {
            checks: self.checks.into_iter().map(|c| Check { detail: String::new(), ..c }).collect(),
            records_24h: None,
            records_30d: None,
            workspaces: None,
            error_rate_last_hour: None,
            query_ms: None,
            ..self
        }
    }
}

/// A query slower than this makes the service degraded.
pub const QUERY_THRESHOLD_MS: f64 = 250.0;
/// A database that does not answer a ping this soon is unreachable: health
/// answers within a second, as load balancers expect.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);
/// Beyond this the statistics queries are given up and the service is unhealthy.
pub const QUERIES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// An error rate above this in the last 60 minutes makes the service degraded.
pub const ERROR_RATE_THRESHOLD: f64 = 0.25;

#[cfg(feature = "ssr")]
pub async fn check(store: &dyn crate::store::Store) -> Health {
    use crate::model::StatsWindow;
    use crate::store::Scope;
    use std::time::Instant;

    let now = Micros::now();
    let mut health = Health {
        status: HealthStatus::Healthy,
        backend: store.backend().to_owned(),
        checked_at: now,
        checks: Vec::new(),
        records_24h: None,
        records_30d: None,
        workspaces: None,
        error_rate_last_hour: None,
        query_ms: None,
    };
    let started = Instant::now();
    let ping = tokio::time::timeout(PING_TIMEOUT, store.ping()).await;
    if let Err(err) = ping.map_err(|_| "no answer in time".to_owned()).and_then(|r| r.map_err(|e| e.to_string())) {
        tracing::error!(error = %err, "health: database unreachable");
        return health.failed("database", "unreachable");
    }
    health.checks.push(Check { name: "database".into(), status: HealthStatus::Healthy, detail: "reachable".into() });

    // The stats queries stand for the dashboard's real work.
    let queries = async {
        tokio::join!(
            store.stats(&Scope::Platform, None, StatsWindow::Day, now),
            store.stats(&Scope::Platform, None, StatsWindow::Month, now),
            store.workspaces(),
        )
    };
    let Ok((day, month, workspaces)) = tokio::time::timeout(QUERIES_TIMEOUT, queries).await else {
        return health.failed("query_time", "no answer in time");
    };
    let query_ms = started.elapsed().as_secs_f64() * 1_000.0;
    health.query_ms = Some(query_ms);
    let slow = query_ms > QUERY_THRESHOLD_MS;
    health.checks.push(Check {
        name: "query_time".into(),
        status: if slow { HealthStatus::Degraded } else { HealthStatus::Healthy },
        detail: format!("{query_ms:.1} ms (threshold {QUERY_THRESHOLD_MS} ms)"),
    });
    match (day, month, workspaces) {
        (Ok(day), Ok(month), Ok(workspaces)) => {
            let hour = LastHour::of(&day, now);
            health.records_24h = Some(day.records);
            health.records_30d = Some(month.records);
            health.workspaces = Some(workspaces.len() as i64);
            health.error_rate_last_hour = Some(hour.error_rate);
            let noisy = hour.error_rate > ERROR_RATE_THRESHOLD;
            health.checks.push(Check {
                name: "error_rate".into(),
                status: if noisy { HealthStatus::Degraded } else { HealthStatus::Healthy },
                detail: format!(
                    "{:.1} % of about {} records in the last 60 minutes (threshold {:.0} %)",
                    hour.error_rate * 100.0,
                    hour.records.round(),
                    ERROR_RATE_THRESHOLD * 100.0
                ),
            });
            health.checks.push(Check {
                name: "activity".into(),
                status: HealthStatus::Healthy,
                detail: format!("{} records in 24 h, {} in 30 days", day.records, month.records),
            });
        }
        _ => {
            health.checks.push(Check {
                name: "statistics".into(),
                status: HealthStatus::Unhealthy,
                detail: "queries failed".into(),
            });
        }
    }
    health.checks.push(integrity(store).await);
    health.status = health.checks.iter().map(|c| c.status).max().unwrap_or(HealthStatus::Healthy);
    health
}

/// The last 60 minutes, estimated from the hourly bars of the last 24
/// hours: the current hour's bar, and the share of the previous one still
/// inside the window (its records taken as spread evenly over their
/// hour). A clock hour alone would judge the first minutes of each hour
/// by a handful of records. Records dated up to an hour ahead count in
/// the current hour's bar (`rollup::assemble`), so here too.
#[cfg(feature = "ssr")]
struct LastHour {
    records: f64,
    error_rate: f64,
}

#[cfg(feature = "ssr")]
impl LastHour {
    fn of(day: &crate::model::Stats, now: Micros) -> LastHour {
        use crate::model::HOUR_US;
        let this_hour = now.0 - now.0.rem_euclid(HOUR_US);
        let previous_share = 1.0 - (now.0 - this_hour) as f64 / HOUR_US as f64;
        let (mut records, mut errors) = (0.0, 0.0);
        for bar in &day.bars {
            let weight = match bar.start.0 {
                start if start == this_hour => 1.0,
                start if start == this_hour - HOUR_US => previous_share,
                _ => continue,
            };
            let [_info, _warning, error, critical] = bar.by_severity;
            records += weight * bar.by_severity.iter().sum::<i64>() as f64;
            errors += weight * (error + critical) as f64;
        }
        let error_rate = if records > 0.0 { errors / records } else { 0.0 };
        LastHour { records, error_rate }
    }
}

/// The last verification of the hash chains (the server's own, every
/// digest interval, or `trail verify`): a problem makes the service
/// degraded, not unhealthy, since it still serves what it has.
#[cfg(feature = "ssr")]
async fn integrity(store: &dyn crate::store::Store) -> Check {
    let (status, detail) = match store.integrity_status().await {
        Ok(None) => (HealthStatus::Healthy, "not verified yet".to_owned()),
        Ok(Some(last)) => {
            let when = Micros(last.checked_at).to_rfc3339();
            let status = if last.problems == 0 { HealthStatus::Healthy } else { HealthStatus::Degraded };
            (status, format!("{} (checked {when})", last.detail))
        }
        Err(err) => {
            tracing::error!(error = %err, "health: integrity status unreadable");
            (HealthStatus::Degraded, "status unreadable".to_owned())
        }
    };
    Check { name: "integrity".into(), status, detail }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::model::{Bar, Stats, HOUR_US};

    fn day(bars: &[(i64, [i64; 4])]) -> Stats {
        let bars = bars.iter().map(|(start, by_severity)| Bar { start: Micros(*start), by_severity: *by_severity });
        Stats { bars: bars.collect(), ..Stats::default() }
    }

    #[test]
    fn the_last_hour_takes_in_the_part_of_the_previous_hour_it_covers() {
        let this_hour = 1_000 * HOUR_US;
        // A minute into the hour: one error now, after a calm hour.
        let now = Micros(this_hour + HOUR_US / 60);
        let stats = day(&[
            (this_hour - 2 * HOUR_US, [500, 0, 500, 0]),
            (this_hour - HOUR_US, [120, 0, 0, 0]),
            (this_hour, [0, 0, 1, 0]),
        ]);
        let hour = LastHour::of(&stats, now);
        assert!((hour.records - 119.0).abs() < 1e-9, "{}", hour.records);
        assert!((hour.error_rate - 1.0 / 119.0).abs() < 1e-9, "{}", hour.error_rate);
        assert!(hour.error_rate < ERROR_RATE_THRESHOLD, "one error is not a degraded service");
        // At the end of the hour, the hour alone.
        let late = LastHour::of(&stats, Micros(this_hour + HOUR_US - 1));
        assert!((late.error_rate - 1.0).abs() < 1e-3, "{}", late.error_rate);
        assert_eq!(LastHour::of(&day(&[]), now).error_rate, 0.0);
    }
}
