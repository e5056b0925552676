//! The feed's search box: GitHub-style qualifiers that map onto the same
//! filters as the controls, e.g.
//! `key:track_* actor:u_12 severity:>=warning entity:track/trk_1 after:2026-11-01 "failed payment"`.
//! Parsed identically in the browser and on the server.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};

use crate::model::{EventFilter, Micros, Severity};

/// The qualifiers the search box understands, for help and error messages.
pub const QUALIFIERS: &[&str] = &[
    "workspace:",
    "brand:",
    "kind:",
    "key:",
    "severity:",
    "is:error",
    "status:",
    "actor:",
    "entity:",
    "visibility:",
    "provider:",
    "correlation:",
    "after:",
    "before:",
];

/// Applies the search `text` on top of `filter`. An error names the problem.
pub fn apply(text: &str, filter: &mut EventFilter, now: Micros) -> Result<(), String> {
    // No record holds it (ingest refuses it), and PostgreSQL cannot compare text with it.
    if text.contains('\0') {
        return Err("the search must not contain the NUL character (U+0000)".into());
    }
    let mut free_text = Vec::new();
    for token in tokens(text)? {
        let Some((name, value)) = qualifier(&token) else {
            free_text.push(token.text);
            continue;
        };
        if value.is_empty() {
            return Err(format!("{name}: needs a value"));
        }
        apply_qualifier(&name, value, filter, now)?;
    }
    if !free_text.is_empty() {
        filter.q = Some(free_text.join(" "));
    }
    Ok(())
}

struct Token {
    text: String,
    /// Written in quotes: always free text.
    quoted: bool,
}

/// Splits on white space, keeping "quoted phrases" (also as `actor:"Maya Chen"`) whole.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut quoted = false;
    for ch in text.chars() {
        match ch {
            '"' => {
                in_quotes = !in_quotes;
                quoted |= current.is_empty();
            }
            c if c.is_whitespace() && !in_quotes => {
                if !current.is_empty() {
                    out.push(Token { text: std::mem::take(&mut current), quoted });
                }
                quoted = false;
            }
            c => current.push(c),
        }
    }
    if in_quotes {
        return Err("a quote is not closed".into());
    }
    if !current.is_empty() {
        out.push(Token { text: current, quoted });
    }
    Ok(out)
}

fn qualifier(token: &Token) -> Option<(String, &str)> {
    if token.quoted {
        return None;
    }
    let (name, value) = token.text.split_once(':')?;
    let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    is_name.then(|| (name.to_ascii_lowercase(), value))
}

fn apply_qualifier(name: &str, value: &str, f: &mut EventFilter, now: Micros) -> Result<(), String> {
    match name {
        "workspace" | "ws" => f.workspace = Some(value.to_owned()),
        "brand" => f.brand = Some(value.to_owned()),
        "kind" => f.kind = Some(choice(name, value)?),
        "key" => f.key = Some(value.to_owned()),
        "severity" | "sev" => severity(value, f).map_err(|e| format!("{name}: {e}"))?,
        "is" => match value.to_ascii_lowercase().as_str() {
            "error" | "errors" => f.errors_only = true,
            other => return Err(format!("is:{other} is unknown; try is:error")),
        },
        "status" => f.status = Some(choice(name, value)?),
        "actor" => f.actor = Some(value.to_owned()),
        "entity" => match value.split_once('/') {
            Some((t, id)) if !t.is_empty() && !id.is_empty() => {
                f.entity_type = Some(t.to_owned());
                f.entity_id = Some(id.to_owned());
            }
            Some(_) => return Err("entity: expects type/id or type".into()),
            None => f.entity_type = Some(value.to_owned()),
        },
        "visibility" | "vis" => f.visibility = Some(choice(name, value)?),
        "provider" => f.provider = Some(value.to_owned()),
        "correlation" | "correlation_id" | "trace" => f.correlation_id = Some(value.to_owned()),
        "after" | "since" => f.since = Some(point_in_time(value, now).map_err(|e| format!("{name}: {e}"))?),
        "before" | "until" => f.until = Some(point_in_time(value, now).map_err(|e| format!("{name}: {e}"))?),
        other => return Err(format!("unknown filter \"{other}:\"; use one of {}", QUALIFIERS.join(" "))),
    }
    Ok(())
}

/// One of a closed set of values (`kind:audit`), case-insensitively.
fn choice<T: std::str::FromStr<Err = String>>(name: &str, value: &str) -> Result<T, String> {
    value.to_ascii_lowercase().parse().map_err(|e| format!("{name}: {e}"))
}

/// `warning` (exactly), `>=warning` or `>warning` (at least / above).
fn severity(value: &str, f: &mut EventFilter) -> Result<(), String> {
    let (op, level) = match value.strip_prefix(">=") {
        Some(rest) => (">=", rest),
        None => match value.strip_prefix('>') {
            Some(rest) => (">", rest),
            None => ("=", value),
        },
    };
    let level: Severity = level.to_ascii_lowercase().parse()?;
    match op {
        "=" => f.severity = Some(level),
        ">=" => f.min_severity = Some(level),
        _ => {
            f.min_severity = Some(Severity::from_rank(level.rank() + 1).ok_or("nothing is above critical")?);
        }
    }
    Ok(())
}

/// `2026-11-01`, an RFC 3339 time, or an age such as `30m`, `24h`, `7d`,
/// within Trail's calendar (`Micros::MIN..=Micros::MAX`).
pub fn point_in_time(value: &str, now: Micros) -> Result<Micros, String> {
    let parsed = if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Some(date.and_time(NaiveTime::MIN).and_utc())
    } else if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        Some(time.with_timezone(&Utc))
    } else {
        None
    };
    let outside = || format!("\"{value}\" is outside {}", Micros::RANGE_TEXT);
    match parsed {
        Some(time) => Micros::from_datetime(time).ok_or_else(outside),
        None => match age(value) {
            Some(age) => now.checked_before(age).ok_or_else(outside),
            None => Err(format!("\"{value}\" is not a date (2026-11-01), a time (RFC 3339) or an age (30m, 24h, 7d)")),
        },
    }
}

/// `30m`, `24h`, `7d`: a positive whole number and a unit, or `None` (also
/// for an age too long to represent).
pub fn age(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let number = &value[..value.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    match unit {
        'm' => Duration::try_minutes(n),
        'h' => Duration::try_hours(n),
        'd' => Duration::try_days(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Status};

    const NOW: Micros = Micros(1_800_000_000_000_000);

    fn parse(text: &str) -> Result<EventFilter, String> {
        let mut filter = EventFilter::default();
        apply(text, &mut filter, NOW).map(|_| filter)
    }

    #[test]
    fn the_documented_example_maps_to_filters() {
        let f =
            parse(r#"key:track_* actor:u_12 severity:>=warning entity:track/trk_1 after:2026-11-01 "failed payment""#)
                .unwrap();
        assert_eq!(f.key.as_deref(), Some("track_*"));
        assert_eq!(f.actor.as_deref(), Some("u_12"));
        assert_eq!(f.min_severity, Some(Severity::Warning));
        assert_eq!((f.entity_type.as_deref(), f.entity_id.as_deref()), (Some("track"), Some("trk_1")));
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-11-01T00:00:00.000000Z");
        assert_eq!(f.q.as_deref(), Some("failed payment"));
    }

    #[test]
    fn qualifiers_cover_every_filter() {
        let f = parse("kind:Action status:failure is:error provider:stripe vis:client brand:nike ws:acme trace:req_1 before:24h sev:>error word").unwrap();
        assert_eq!((f.kind, f.status), (Some(Kind::Action), Some(Status::Failure)));
        assert!(f.errors_only);
        assert_eq!(f.min_severity, Some(Severity::Critical));
        assert_eq!(f.until, Some(Micros(NOW.0 - 24 * 3_600 * 1_000_000)));
        assert_eq!(
            (f.workspace.as_deref(), f.brand.as_deref(), f.correlation_id.as_deref()),
            (Some("acme"), Some("nike"), Some("req_1"))
        );
        assert_eq!(f.q.as_deref(), Some("word"));
        assert_eq!(parse(r#"actor:"Maya Chen""#).unwrap().actor.as_deref(), Some("Maya Chen"));
        assert_eq!(parse(r#""key:not a filter""#).unwrap().q.as_deref(), Some("key:not a filter"));
    }

    /// Every way a time can be wrong is an error naming it, never a panic:
    /// multi-byte characters where the unit goes, ages beyond any calendar,
    /// dates outside Trail's.
    #[test]
    fn hostile_times_are_errors() {
        let bad = [
            "5€",
            "€",
            "\u{80}",
            "5\u{80}",
            "€d",
            "",
            "d",
            "5",
            "0d",
            "-5d",
            "+5d",
            "5 d",
            "5dd",
            "99999999999999999d",
            "9223372036854775807m",
            "9223372036854775807d",
            "106751992d",
            "1969-12-31",
            "+10000-01-01",
            "10000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
        ];
        for value in bad {
            assert!(point_in_time(value, NOW).is_err(), "{value:?} is refused");
            for name in ["after", "before", "since", "until"] {
                if !value.is_empty() {
                    assert!(parse(&format!("{name}:\"{value}\"")).is_err(), "{name}:{value:?}");
                    assert!(parse(&format!("{name}:{value}")).is_err(), "{name}:{value:?}");
                }
            }
            let range = crate::model::FeedParams { range: value.to_owned(), ..Default::default() };
            assert!(range.to_filter(NOW).is_err() || value.is_empty(), "range={value:?}");
        }
        assert_eq!(point_in_time("1970-01-01", NOW), Ok(Micros::MIN));
        assert_eq!(point_in_time("9999-12-31T23:59:59.999999Z", NOW), Ok(Micros::MAX));
        assert_eq!(point_in_time("7d", NOW), Ok(Micros(NOW.0 - 7 * 24 * 3_600_000_000)));
        assert_eq!(Micros(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        assert!(parse("colour:red").unwrap_err().starts_with("unknown filter \"colour:\""));
        assert_eq!(parse("severity:loud").unwrap_err(), "severity: expected one of info, warning, error, critical");
        assert!(parse("after:yesterday").unwrap_err().contains("is not a date"));
        assert_eq!(parse("\"open").unwrap_err(), "a quote is not closed");
        assert_eq!(parse("key:").unwrap_err(), "key: needs a value");
        assert_eq!(parse("sev:>critical").unwrap_err(), "sev: nothing is above critical");
    }
}
