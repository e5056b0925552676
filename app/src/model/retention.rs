//! How long records are kept: a period per kind, as a platform default and
//! per-workspace overrides. Age is measured on `received_at` (server time),
//! so a producer's backdated `occurred_at` cannot move a record out early.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Kind, Micros, HOUR_US};

/// The longest period that can be set: a hundred years.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// How long records are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Days(u32),
    Forever,
}

impl Period {
    /// Records received before this are past the period (`None`: kept forever).
    pub fn cutoff(self, now: Micros) -> Option<Micros> {
        match self {
            Period::Days(days) => Some(Micros(now.0 - i64::from(days) * 24 * HOUR_US)),
            Period::Forever => None,
        }
    }

    /// As stored: days, or NULL for forever.
    pub fn days(self) -> Option<i64> {
        match self {
            Period::Days(days) => Some(i64::from(days)),
            Period::Forever => None,
        }
    }

    pub fn from_days(days: Option<i64>) -> Self {
        match days.and_then(|days| u32::try_from(days).ok()) {
            Some(days) => Period::Days(days),
            None => Period::Forever,
        }
    }
}

impl FromStr for Period {
    type Err = String;

    /// `forever`, or a whole number of days from 1 to 100 years.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("forever") {
            return Ok(Period::Forever);
        }
        match text.parse::<u32>() {
            Ok(days) if (1..=MAX_RETENTION_DAYS).contains(&days) => Ok(Period::Days(days)),
            _ => Err(format!("expected a number of days from 1 to {MAX_RETENTION_DAYS}, or \"forever\"; got {text:?}")),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Days(1) => f.write_str("1 day"),
            Period::Days(days) => write!(f, "{days} days"),
            Period::Forever => f.write_str("forever"),
        }
    }
}

/// A period as asked for: a period, or `default` (a workspace's own
/// period removed, so the platform default's applies again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Keep {
    For(Period),
    Default,
}

impl FromStr for Keep {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.trim().eq_ignore_ascii_case("default") {
            return Ok(Keep::Default);
        }
        text.parse().map(Keep::For).map_err(|err| format!("{err} (or \"default\" for a workspace)"))
    }
}

impl Period {
    /// Whether this keeps records a shorter time than `other`.
    pub fn shorter_than(self, other: Period) -> bool {
        match (self, other) {
            (Period::Days(mine), Period::Days(theirs)) => mine < theirs,
            (Period::Days(_), Period::Forever) => true,
            (Period::Forever, _) => false,
        }
    }
}

/// One setting: a kind's period for one workspace, or (without one) the platform default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetentionRule {
    pub workspace: Option<String>,
    pub kind: Kind,
    pub period: Period,
}

/// Every setting: the platform defaults and the workspaces' overrides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    pub rules: Vec<RetentionRule>,
}

impl Retention {
    /// What applies to `kind` in `workspace`: its override, else the default
    /// (forever if there is neither).
    pub fn period(&self, workspace: &str, kind: Kind) -> Period {
        self.rule(Some(workspace), kind).map_or_else(|| self.default_period(kind), |rule| rule.period)
    }

    /// The platform default for `kind` (forever if none is set).
    pub fn default_period(&self, kind: Kind) -> Period {
        self.rule(None, kind).map_or(Period::Forever, |rule| rule.period)
    }

    /// The workspaces among `workspaces` whose `kind` records `keep` would
    /// keep a shorter time than now, if set for `workspace` (`None`: the
    /// default, which applies where a workspace has no period of its own).
    pub fn shortened<'w>(
        &self,
        workspaces: &'w [String],
        workspace: Option<&str>,
        kind: Kind,
        keep: Keep,
    ) -> Vec<&'w str> {
        let affected = |slug: &str| match workspace {
            Some(chosen) => slug == chosen,
            None => self.rule(Some(slug), kind).is_none(),
        };
        let new = match keep {
            Keep::For(period) => period,
            Keep::Default => self.default_period(kind),
        };
        workspaces
            .iter()
            .map(String::as_str)
            .filter(|slug| affected(slug) && new.shorter_than(self.period(slug, kind)))
            .collect()
    }

    /// The setting of `workspace` (`None`: the default) for `kind`, if there is one.
    pub fn rule(&self, workspace: Option<&str>, kind: Kind) -> Option<&RetentionRule> {
        self.rules.iter().find(|rule| rule.kind == kind && rule.workspace.as_deref() == workspace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_days_or_forever() {
        assert_eq!("90".parse(), Ok(Period::Days(90)));
        assert_eq!(" Forever ".parse(), Ok(Period::Forever));
        for bad in ["0", "-1", "1.5", "", "36501", "ninety"] {
            assert!(bad.parse::<Period>().is_err(), "{bad:?}");
        }
        assert_eq!(Period::Days(2).cutoff(Micros(3 * 24 * HOUR_US)), Some(Micros(24 * HOUR_US)));
        assert_eq!(Period::Forever.cutoff(Micros(0)), None);
        assert_eq!(Period::from_days(Period::Days(7).days()), Period::Days(7));
        assert_eq!(Period::from_days(None), Period::Forever);
    }

    #[test]
    fn a_change_names_the_workspaces_whose_records_it_keeps_less_long() {
        let retention = Retention {
            rules: vec![
                RetentionRule { workspace: None, kind: Kind::Event, period: Period::Days(90) },
                RetentionRule { workspace: Some("acme".into()), kind: Kind::Event, period: Period::Days(7) },
            ],
        };
        let all: Vec<String> = ["acme", "globex", "trail"].map(String::from).to_vec();
        let shortened = |workspace, kind, keep: &str| retention.shortened(&all, workspace, kind, keep.parse().unwrap());
        assert_eq!(shortened(None, Kind::Audit, "1"), ["acme", "globex", "trail"], "forever before");
        assert_eq!(shortened(None, Kind::Event, "30"), ["globex", "trail"], "acme keeps its own");
        assert!(shortened(None, Kind::Event, "120").is_empty(), "longer");
        assert!(shortened(None, Kind::Event, "90").is_empty(), "the same");
        assert_eq!(shortened(Some("globex"), Kind::Event, "30"), ["globex"]);
        assert!(shortened(Some("acme"), Kind::Event, "default").is_empty(), "7 days, then 90");
        assert_eq!(shortened(Some("acme"), Kind::Audit, "forever"), Vec::<&str>::new());
        assert!(Period::Days(3).shorter_than(Period::Forever) && !Period::Forever.shorter_than(Period::Days(3)));
        assert_eq!("Default".parse(), Ok(Keep::Default));
        assert!("never".parse::<Keep>().unwrap_err().contains("default"));
    }

    #[test]
    fn an_override_wins_over_the_default() {
        let rule = |workspace: Option<&str>, kind, period| RetentionRule {
            workspace: workspace.map(str::to_owned),
            kind,
            period,
        };
        let retention = Retention {
            rules: vec![
                rule(None, Kind::Event, Period::Days(90)),
                rule(None, Kind::Audit, Period::Forever),
                rule(Some("acme"), Kind::Event, Period::Days(7)),
            ],
        };
        assert_eq!(retention.period("acme", Kind::Event), Period::Days(7));
        assert_eq!(retention.period("globex", Kind::Event), Period::Days(90));
        assert_eq!(retention.period("acme", Kind::Audit), Period::Forever);
        assert_eq!(retention.period("acme", Kind::Action), Period::Forever, "no rule: kept");
    }
}
