//! Alert rules (`/admin/alerts`, `trail alert`): a search over the records
//! and a condition on what it finds, over a sliding window. A rule fires
//! once when its condition starts to hold and once when it stops.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Durations, FeedParams, Micros, StreamPosition};

/// The longest window or cool-down: 30 days.
pub const MAX_SPAN_SECONDS: i64 = 30 * 24 * 3600;
/// The largest count or duration a rule takes (exact in a float, as stored).
const MAX_WHOLE: i64 = 1_000_000_000_000_000;

/// What a rule watches for in the records its search matches.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "condition", rename_all = "snake_case")]
pub enum AlertCondition {
    /// Any matching record. Matches while it fires are folded into it; it
    /// resolves after a cool-down with none.
    Match,
    /// More than `count` matching records in the window.
    CountAbove { count: i64 },
    /// More than `percent` % of the matching records in the window are
    /// errors (severity error or critical), judged on `min_records` at least.
    ErrorRateAbove { percent: f64, min_records: i64 },
    /// Per provider: the average `duration_ms` in the window above `ms`.
    AvgDurationAbove { ms: i64 },
    /// Per provider: the 95th percentile of `duration_ms` above `ms`.
    P95DurationAbove { ms: i64 },
    /// No matching record in the window.
    Absent,
}

impl AlertCondition {
    /// The condition's name as stored.
    pub fn name(self) -> &'static str {
        match self {
            AlertCondition::Match => "match",
            AlertCondition::CountAbove { .. } => "count",
            AlertCondition::ErrorRateAbove { .. } => "error_rate",
            AlertCondition::AvgDurationAbove { .. } => "avg_duration",
            AlertCondition::P95DurationAbove { .. } => "p95_duration",
            AlertCondition::Absent => "absent",
        }
    }

    /// As stored: the threshold and the fewest records.
    pub fn threshold(self) -> (Option<f64>, i64) {
        match self {
            AlertCondition::Match | AlertCondition::Absent => (None, 0),
            AlertCondition::CountAbove { count } => (Some(count as f64), 0),
            AlertCondition::ErrorRateAbove { percent, min_records } => (Some(percent), min_records),
            AlertCondition::AvgDurationAbove { ms } | AlertCondition::P95DurationAbove { ms } => (Some(ms as f64), 0),
        }
    }

    /// A condition from its name, threshold and fewest records (as stored or
    /// as typed); an error says what is missing or out of range.
    pub fn from_parts(name: &str, threshold: Option<f64>, min_records: i64) -> Result<Self, String> {
        let need = |what: &str| threshold.ok_or_else(|| format!("the {name} condition needs {what}"));
        let whole = |what: &str| -> Result<i64, String> {
            let value = need(what)?;
            if value.fract() != 0.0 || !(0.0..=MAX_WHOLE as f64).contains(&value) {
                return Err(format!("{what} is a whole number from 0 to {MAX_WHOLE}, not {value}"));
            }
            Ok(value as i64)
        };
        if min_records != 0 && name.trim() != "error_rate" {
            return Err(format!("the {name} condition takes no fewest records"));
        }
        let condition = match name.trim() {
            "match" | "absent" if threshold.is_some() => {
                return Err(format!("the {name} condition takes no threshold"));
            }
            "match" => AlertCondition::Match,
            "count" => AlertCondition::CountAbove { count: whole("a count")? },
            "error_rate" => {
                let percent = need("a percentage")?;
                if !(0.0..100.0).contains(&percent) {
                    return Err(format!("an error rate is a percentage from 0 to below 100, not {percent}"));
                }
                if min_records < 0 {
                    return Err("the fewest records is 0 or more".into());
                }
                AlertCondition::ErrorRateAbove { percent, min_records }
            }
            "avg_duration" => AlertCondition::AvgDurationAbove { ms: whole("milliseconds")? },
            "p95_duration" => AlertCondition::P95DurationAbove { ms: whole("milliseconds")? },
            "absent" => AlertCondition::Absent,
            other => {
                return Err(format!(
                    "unknown condition {other:?}; expected match, count, error_rate, avg_duration, p95_duration \
                     or absent"
                ))
            }
        };
        Ok(condition)
    }

    /// Whether the rule is judged per provider.
    pub fn per_provider(self) -> bool {
        matches!(self, AlertCondition::AvgDurationAbove { .. } | AlertCondition::P95DurationAbove { .. })
    }

    /// Whether the rule reads its roll-up (the thresholds).
    pub fn uses_window(self) -> bool {
        !matches!(self, AlertCondition::Match | AlertCondition::Absent)
    }

    /// In words, with the window.
    pub fn describe(self, window_seconds: i64) -> String {
        let window = span_text(window_seconds);
        match self {
            AlertCondition::Match => "any matching record".into(),
            AlertCondition::CountAbove { count } => format!("more than {count} matching records in {window}"),
            AlertCondition::ErrorRateAbove { percent, min_records } => {
                format!("error rate above {percent} % in {window} (of {min_records} records at least)")
            }
            AlertCondition::AvgDurationAbove { ms } => {
                format!("average duration above {ms} ms in {window}, per provider")
            }
            AlertCondition::P95DurationAbove { ms } => format!("p95 duration above {ms} ms in {window}, per provider"),
            AlertCondition::Absent => format!("no matching record in {window}"),
        }
    }
}

/// What a group of a rule (a provider, or the whole rule) is doing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// The provider, for a rule judged per provider; empty otherwise.
    pub group: String,
    pub firing: bool,
    /// When it last fired or resolved.
    pub changed_at: Option<Micros>,
    /// The newest matching record's `occurred_at`.
    pub last_match_at: Option<Micros>,
    /// Matching records since it last changed.
    pub matches: i64,
    /// The newest matching record.
    pub last_record: Option<Uuid>,
}

/// An alert rule as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    /// `None`: every workspace.
    pub workspace: Option<String>,
    pub workspace_id: Option<i64>,
    /// The search syntax; empty: every record.
    pub query: String,
    #[serde(flatten)]
    pub condition: AlertCondition,
    pub window_seconds: i64,
    pub cooldown_seconds: i64,
    /// Where its alerts go; empty: every enabled endpoint that takes alerts.
    pub endpoints: Vec<i64>,
    /// Every matching record up to here (in commit order) is counted.
    pub position: StreamPosition,
    pub states: Vec<AlertState>,
    pub created_at: Micros,
}

impl AlertRule {
    pub fn firing(&self) -> impl Iterator<Item = &AlertState> {
        self.states.iter().filter(|s| s.firing)
    }

    /// The width of one slot of the rule's roll-up: a sixtieth of the
    /// window, a second at least.
    pub fn slot_us(&self) -> i64 {
        (self.window_seconds * 1_000_000 / 60).max(1_000_000)
    }
}

/// Matching records of one group and slot (the rule's roll-up).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertTotals {
    pub group: String,
    pub records: i64,
    pub errors: i64,
    pub durations: Durations,
}

/// A window or cool-down: a whole number of seconds, minutes, hours or days
/// (`30s`, `5m`, `1h`, `2d`), up to 30 days.
pub fn parse_span(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let seconds = match text.strip_suffix('s') {
        Some(number) if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => number.parse().ok(),
        _ => crate::search::age(text).map(|age| age.num_seconds()),
    };
    match seconds {
        Some(seconds) if (1..=MAX_SPAN_SECONDS).contains(&seconds) => Ok(seconds),
        _ => Err(format!("{text:?} is not a span like 30s, 5m, 1h or 2d (30 days at most)")),
    }
}

/// Seconds in the largest unit that divides them: `90s`, `5m`, `48h`, `2d`.
pub fn span_text(seconds: i64) -> String {
    match seconds {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A rule's search, checked as the feed would read it (empty: every record).
pub fn check_alert_query(text: &str) -> Result<String, String> {
    let text = text.trim();
    let params = FeedParams { q: text.to_owned(), ..FeedParams::default() };
    params.to_filter(Micros::now()).map(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_and_print_back() {
        for (text, seconds) in [("30s", 30), ("5m", 300), ("1h", 3_600), ("48h", 172_800), ("2d", 172_800)] {
            assert_eq!(parse_span(text), Ok(seconds), "{text}");
        }
        assert_eq!(span_text(172_800), "2d");
        assert_eq!(span_text(90), "90s");
        for bad in ["", "0s", "-5m", "5", "1w", "31d", "s"] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_read_back_from_their_parts() {
        let all = [
            AlertCondition::Match,
            AlertCondition::CountAbove { count: 10 },
            AlertCondition::ErrorRateAbove { percent: 12.5, min_records: 20 },
            AlertCondition::AvgDurationAbove { ms: 2_000 },
            AlertCondition::P95DurationAbove { ms: 900 },
            AlertCondition::Absent,
        ];
        for condition in all {
            let (threshold, min) = condition.threshold();
            assert_eq!(AlertCondition::from_parts(condition.name(), threshold, min), Ok(condition));
        }
        assert!(AlertCondition::from_parts("count", None, 0).is_err(), "a count needs its number");
        assert!(AlertCondition::from_parts("count", Some(1.5), 0).is_err());
        assert!(AlertCondition::from_parts("error_rate", Some(100.0), 0).is_err());
        assert!(AlertCondition::from_parts("spike", None, 0).is_err());
        assert!(AlertCondition::from_parts("match", Some(3.0), 0).is_err(), "no threshold is ignored");
        assert!(AlertCondition::from_parts("count", Some(3.0), 5).is_err(), "nor a fewest records");
    }
}
