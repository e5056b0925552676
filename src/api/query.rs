//! The read API's query parameters: every filter of PRODUCT.md, the feed's
//! search syntax in `q`, `limit` and `cursor`. Bad values are a 400 naming
//! the parameter.

use app::model::{Cursor, EventFilter, Micros, MAX_PAGE_SIZE};
use serde::Deserialize;

use crate::error::Error;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReadQuery {
    pub workspace: Option<String>,
    pub brand: Option<String>,
    pub kind: Option<String>,
    pub key: Option<String>,
    pub severity: Option<String>,
    pub errors: Option<String>,
    pub status: Option<String>,
    pub actor: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub visibility: Option<String>,
    pub provider: Option<String>,
    pub correlation_id: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// The feed's search syntax: qualifiers and free text.
    pub q: Option<String>,
    /// Text, not a number: this struct is flattened into others, and serde
    /// hands flattened query values over as strings.
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

fn bad(param: &str, message: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!("{param}: {message}"))
}

fn choice<T: std::str::FromStr<Err = String>>(param: &str, value: &Option<String>) -> Result<Option<T>, Error> {
    value.as_deref().filter(|v| !v.is_empty()).map(|v| v.parse().map_err(|e| bad(param, e))).transpose()
}

fn time(param: &str, value: &Option<String>, now: Micros) -> Result<Option<Micros>, Error> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| app::search::point_in_time(v, now).map_err(|e| bad(param, e)))
        .transpose()
}

/// A text filter, trimmed; blank is none. No record holds the NUL character
/// (ingest refuses it), and PostgreSQL cannot even compare text with one, so
/// a value with it is a mistake.
fn text(param: &str, value: &Option<String>) -> Result<Option<String>, Error> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) if v.contains('\0') => Err(bad(param, "must not contain the NUL character (U+0000)")),
        found => Ok(found.map(str::to_owned)),
    }
}

impl ReadQuery {
    pub fn filter(&self, now: Micros) -> Result<EventFilter, Error> {
        let errors_only = match self.errors.as_deref() {
            None | Some("" | "false" | "0") => false,
            Some("true" | "1") => true,
            Some(other) => return Err(bad("errors", format!("expected true or false, got {other:?}"))),
        };
        let mut filter = EventFilter {
            workspace: text("workspace", &self.workspace)?,
            brand: text("brand", &self.brand)?,
            kind: choice("kind", &self.kind)?,
            key: text("key", &self.key)?,
            severity: choice("severity", &self.severity)?,
            min_severity: None,
            errors_only,
            status: choice("status", &self.status)?,
            actor: text("actor", &self.actor)?,
            entity_type: text("entity_type", &self.entity_type)?,
            entity_id: text("entity_id", &self.entity_id)?,
            visibility: choice("visibility", &self.visibility)?,
            provider: text("provider", &self.provider)?,
            correlation_id: text("correlation_id", &self.correlation_id)?,
            since: time("since", &self.since, now)?,
            until: time("until", &self.until, now)?,
            q: None,
        };
        if let Some(q) = &self.q {
            app::search::apply(q, &mut filter, now).map_err(|e| bad("q", e))?;
        }
        Ok(filter)
    }

    pub fn limit(&self) -> Result<usize, Error> {
        let Some(text) = self.limit.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(app::model::DEFAULT_PAGE_SIZE);
        };
        match text.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            _ => Err(bad("limit", format!("{text:?} is not a number from 1 to {MAX_PAGE_SIZE}"))),
        }
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, Error> {
        self.cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| Cursor::decode(c).ok_or_else(|| bad("cursor", "not a cursor from a previous page")))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{Kind, Severity};

    #[test]
    fn parameters_and_search_combine() {
        let query = ReadQuery {
            kind: Some("audit".into()),
            errors: Some("true".into()),
            q: Some("actor:u_1 \"late fee\"".into()),
            since: Some("2026-11-01".into()),
            ..Default::default()
        };
        let f = query.filter(Micros(0)).unwrap();
        assert_eq!(
            (f.kind, f.errors_only, f.actor.as_deref(), f.q.as_deref()),
            (Some(Kind::Audit), true, Some("u_1"), Some("late fee"))
        );
        assert!(f.since.is_some());
        let bad = ReadQuery { severity: Some("loud".into()), ..Default::default() };
        assert_eq!(
            bad.filter(Micros(0)).unwrap_err().to_string(),
            "severity: expected one of info, warning, error, critical"
        );
        let _ = Severity::Info;
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(ReadQuery::default().limit().unwrap(), 50);
        assert!(ReadQuery { limit: Some("1001".into()), ..Default::default() }.limit().is_err());
        assert_eq!(ReadQuery { limit: Some("7".into()), ..Default::default() }.limit().unwrap(), 7);
        assert!(ReadQuery { cursor: Some("nope".into()), ..Default::default() }.cursor().is_err());
    }
}
