//! Statistics of a window: totals, histogram bars, keys, actors and provider operations.

use serde::{Deserialize, Serialize};

use super::Micros;

/// A stats window: the current hour and the ones before it, aligned to hours
/// (or days, for the bars of 7 d and 30 d).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub enum StatsWindow {
    #[serde(rename = "1h")]
    Hour,
    #[default]
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl StatsWindow {
    pub const ALL: &'static [StatsWindow] =
        &[StatsWindow::Hour, StatsWindow::Day, StatsWindow::Week, StatsWindow::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            StatsWindow::Hour => "1h",
            StatsWindow::Day => "24h",
            StatsWindow::Week => "7d",
            StatsWindow::Month => "30d",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .iter()
            .copied()
            .find(|w| w.as_str() == text)
            .ok_or_else(|| format!("window: expected 1h, 24h, 7d or 30d, got {text:?}"))
    }

    pub fn hours(self) -> i64 {
        match self {
            StatsWindow::Hour => 1,
            StatsWindow::Day => 24,
            StatsWindow::Week => 7 * 24,
            StatsWindow::Month => 30 * 24,
        }
    }

    /// Hours per histogram bar.
    pub fn bar_hours(self) -> i64 {
        match self {
            StatsWindow::Hour | StatsWindow::Day => 1,
            StatsWindow::Week | StatsWindow::Month => 24,
        }
    }

    /// The first hour (since the epoch) the window covers at `now`.
    pub fn first_hour(self, now: Micros) -> i64 {
        let bar = self.bar_hours();
        // Whole bars, the last one holding now; days start at 00:00 UTC.
        let current_bar = now.0.div_euclid(HOUR_US).div_euclid(bar);
        (current_bar - self.hours() / bar + 1) * bar
    }
}

pub const HOUR_US: i64 = 3_600_000_000;

/// Upper bounds (ms) of the duration histogram's buckets; one more bucket holds the rest.
pub const DURATION_BOUNDS_MS: [i64; 11] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000];
pub const DURATION_BUCKETS: usize = DURATION_BOUNDS_MS.len() + 1;

/// Which histogram bucket a duration falls in.
pub fn duration_bucket(ms: i64) -> usize {
    DURATION_BOUNDS_MS.iter().position(|bound| ms <= *bound).unwrap_or(DURATION_BOUNDS_MS.len())
}

/// Durations summarised mergeably: count, sum, maximum and a fixed-bucket histogram.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Durations {
    pub count: i64,
    pub sum: i64,
    pub max: i64,
    pub buckets: [i64; DURATION_BUCKETS],
}

impl Durations {
    /// Counts one duration. Sums stop at the largest number rather than
    /// overflow (only the average reads them).
    pub fn add(&mut self, ms: i64) {
        self.count = self.count.saturating_add(1);
        self.sum = self.sum.saturating_add(ms);
        self.max = self.max.max(ms);
        let bucket = &mut self.buckets[duration_bucket(ms)];
        *bucket = bucket.saturating_add(1);
    }

    pub fn merge(&mut self, other: &Durations) {
        self.count = self.count.saturating_add(other.count);
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn average_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The upper bound of the bucket holding the q-quantile (capped by the maximum).
    pub fn quantile_ms(&self, q: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        let rank = (q * self.count as f64).ceil().max(1.0) as i64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let bound = DURATION_BOUNDS_MS.get(i).copied().unwrap_or(self.max);
                return Some(bound.min(self.max));
            }
        }
        Some(self.max)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct NamedCount {
    pub name: String,
    pub count: i64,
    /// How the dashboard shows an actor to founders and admins: the name
    /// (or label, or email) of their newest record in the window, where
    /// that is not the id itself. The API leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schemars(skip))]
    pub label: Option<String>,
}

/// One bar of the histogram: records per severity (info, warning, error, critical).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Bar {
    pub start: Micros,
    pub by_severity: [i64; 4],
}

/// Provider operations: outcomes and timing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct OperationStats {
    pub name: String,
    pub count: i64,
    pub success: i64,
    pub failure: i64,
    pub timeout: i64,
    pub retry: i64,
    pub pending: i64,
    pub durations: Durations,
    pub average_ms: Option<f64>,
    pub p95_ms: Option<i64>,
}

impl OperationStats {
    pub fn add(&mut self, status: &str, records: i64, durations: &Durations) {
        self.count += records;
        match status {
            "success" => self.success += records,
            "failure" => self.failure += records,
            "timeout" => self.timeout += records,
            "retry" => self.retry += records,
            "pending" => self.pending += records,
            _ => {}
        }
        self.durations.merge(durations);
        self.average_ms = self.durations.average_ms();
        self.p95_ms = self.durations.quantile_ms(0.95);
    }

    /// Adds another group's outcomes and timings to this one.
    pub fn merge(&mut self, other: &OperationStats) {
        self.count += other.count;
        self.success += other.success;
        self.failure += other.failure;
        self.timeout += other.timeout;
        self.retry += other.retry;
        self.pending += other.pending;
        self.durations.merge(&other.durations);
        self.average_ms = self.durations.average_ms();
        self.p95_ms = self.durations.quantile_ms(0.95);
    }
}

/// Totals, histogram, keys, actors and operations of a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(schemars::JsonSchema))]
pub struct Stats {
    pub window: StatsWindow,
    /// Start of the first bar.
    pub since: Micros,
    pub bar_hours: i64,
    pub records: i64,
    pub warnings: i64,
    pub errors: i64,
    pub critical: i64,
    /// (errors + critical) / records.
    pub error_rate: f64,
    pub bars: Vec<Bar>,
    /// Every key with its count, most frequent first.
    pub by_key: Vec<NamedCount>,
    pub top_actors: Vec<NamedCount>,
    /// All provider operations together.
    pub actions: OperationStats,
    pub by_provider: Vec<OperationStats>,
    /// By key and provider, slowest (p95) first.
    pub slowest: Vec<OperationStats>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_quantiles_come_from_buckets() {
        let mut d = Durations::default();
        for ms in [5, 20, 30, 40, 80, 90, 200, 300, 700, 4_000] {
            d.merge(&Durations {
                count: 1,
                sum: ms,
                max: ms,
                buckets: {
                    let mut b = [0; DURATION_BUCKETS];
                    b[duration_bucket(ms)] = 1;
                    b
                },
            });
        }
        assert_eq!(d.average_ms(), Some(546.5));
        assert_eq!(d.quantile_ms(0.5), Some(100), "the 5th of 10 lies in the 50-100 ms bucket");
        assert_eq!(d.quantile_ms(0.95), Some(4_000), "capped by the maximum");
        assert_eq!(Durations::default().quantile_ms(0.95), None);
        assert_eq!(duration_bucket(10), 0);
        assert_eq!(duration_bucket(31_000), DURATION_BUCKETS - 1);
    }

    #[test]
    fn windows_align_to_hours_and_days() {
        let now = Micros(100 * HOUR_US + 1_234);
        assert_eq!(StatsWindow::Hour.first_hour(now), 100);
        assert_eq!(StatsWindow::Day.first_hour(now), 77);
        // Hour 100 is in day 4 (hours 96..120): seven day bars are days -2..=4.
        assert_eq!(StatsWindow::Week.first_hour(now), -48, "days start at midnight");
        assert_eq!(StatsWindow::parse("7d"), Ok(StatsWindow::Week));
        assert!(StatsWindow::parse("2w").is_err());
    }
}
