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
    /// Share of error and critical records in the current hour.
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
/// An error rate above this in the last hour makes the service degraded.
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
            store.stats(&Scope::Platform, None, StatsWindow::Hour, now),
            store.stats(&Scope::Platform, None, StatsWindow::Day, now),
            store.stats(&Scope::Platform, None, StatsWindow::Month, now),
            store.workspaces(),
        )
    };
    let Ok((hour, day, month, workspaces)) = tokio::time::timeout(QUERIES_TIMEOUT, queries).await else {
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
    match (hour, day, month, workspaces) {
        (Ok(hour), Ok(day), Ok(month), Ok(workspaces)) => {
            health.records_24h = Some(day.records);
            health.records_30d = Some(month.records);
            health.workspaces = Some(workspaces.len() as i64);
            health.error_rate_last_hour = Some(hour.error_rate);
            let noisy = hour.error_rate > ERROR_RATE_THRESHOLD;
            health.checks.push(Check {
                name: "error_rate".into(),
                status: if noisy { HealthStatus::Degraded } else { HealthStatus::Healthy },
                detail: format!(
                    "{:.1} % of {} records this hour (threshold {:.0} %)",
                    hour.error_rate * 100.0,
                    hour.records,
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
