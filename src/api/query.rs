//! The read API's query parameters: every filter of PRODUCT.md, the feed's
//! search syntax in `q`, `limit` and `cursor`. Bad values are a 400 naming
//! the parameter.

use app::model::{Cursor, EventFilter, Kind, Micros, Severity, Status, Visibility, MAX_PAGE_SIZE};
use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::Error;

/// A page of records: the filters, `limit` and `cursor`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ReadQuery {
    #[serde(flatten)]
    pub filters: FilterQuery,
    /// Records per page, 1 to 1000 (default 50).
    // Text, not a number: this struct is flattened into others, and serde
    // hands flattened query values over as strings.
    #[schemars(with = "Option<u16>", range(min = 1, max = 1000))]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Which records: every filter of PRODUCT.md and the search syntax. Every
/// value arrives as text and is parsed here, so that a bad one is a 400
/// naming the parameter; the schema (`schemars(with)`) documents the values
/// that are valid.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct FilterQuery {
    /// Workspace slug.
    pub workspace: Option<String>,
    pub brand: Option<String>,
    /// The record's kind.
    #[schemars(with = "Option<Kind>")]
    pub kind: Option<String>,
    /// Exact key, or a prefix ending in `*`.
    pub key: Option<String>,
    /// Exactly this severity.
    #[schemars(with = "Option<Severity>")]
    pub severity: Option<String>,
    /// `true`: warning, error and critical only.
    #[schemars(with = "Option<bool>")]
    pub errors: Option<String>,
    /// An action's outcome.
    #[schemars(with = "Option<Status>")]
    pub status: Option<String>,
    /// Actor id (or email).
    pub actor: Option<String>,
    /// Actor id, exactly.
    pub actor_id: Option<String>,
    /// With `entity_id`: one entity.
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// Who may see it besides founders and admins.
    #[schemars(with = "Option<Visibility>")]
    pub visibility: Option<String>,
    /// Provider of an action.
    pub provider: Option<String>,
    /// Records of one flow.
    pub correlation_id: Option<String>,
    /// Date, RFC 3339 time or age (`24h`).
    pub since: Option<String>,
    /// Date, RFC 3339 time or age.
    pub until: Option<String>,
    /// The client's address (`203.0.113.7`) or a CIDR range (`203.0.113.0/24`).
    pub ip: Option<String>,
    /// Words of the user agent (`firefox`).
    pub user_agent: Option<String>,
    /// The feed's search syntax: `key:track_* actor:u_12 severity:>=warning "text"`.
    pub q: Option<String>,
    /// Every other parameter: `payload.<path>=<value>` ones are payload
    /// field filters (`payload.data.email=bob@example.com`,
    /// `payload.amountCents=>=1000`); any other is refused. (So no other
    /// flattened struct may sit beside this one: serde would hand its
    /// parameters here too.)
    #[serde(flatten)]
    #[schemars(skip)]
    pub others: OtherParams,
}

/// The parameters no field of the query names, in order, each as often as
/// it is given: a payload field named twice is two conditions
/// (`payload.amountCents=>=1000&payload.amountCents=<2000`), where a map
/// kept the last.
#[derive(Debug, Default)]
pub struct OtherParams(Vec<(String, String)>);

impl<'de> Deserialize<'de> for OtherParams {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = OtherParams;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("query parameters")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<OtherParams, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(OtherParams(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

/// A text parameter that takes one of `values`, for `schemars(schema_with)`.
pub fn one_of(values: &[&str]) -> Schema {
    SchemaObject {
        instance_type: Some(InstanceType::String.into()),
        enum_values: Some(values.iter().map(|v| (*v).into()).collect()),
        ..Default::default()
    }
    .into()
}

/// `asc` or `desc`.
pub fn sort_order(_: &mut SchemaGenerator) -> Schema {
    one_of(&["desc", "asc"])
}

fn bad(param: &str, message: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!("{param}: {message}"))
}

fn choice<T: std::str::FromStr<Err = String>>(param: &str, value: &Option<String>) -> Result<Option<T>, Error> {
    value.as_deref().filter(|v| !v.is_empty()).map(|v| v.parse().map_err(|e| bad(param, e))).transpose()
}

pub(super) fn time(param: &str, value: &Option<String>, now: Micros) -> Result<Option<Micros>, Error> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(|v| app::search::point_in_time(v, now).map_err(|e| bad(param, e)))
        .transpose()
}

/// A parameter's value, trimmed; `None` when it is absent or blank, as an
/// empty form field is: every read parameter then takes its default.
pub(super) fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// A text filter, trimmed; blank is none; a NUL is refused (`no_nul`).
pub(super) fn text(param: &str, value: &Option<String>) -> Result<Option<String>, Error> {
    let found = given(value);
    app::search::no_nul(param, found.unwrap_or_default()).map_err(Error::BadRequest)?;
    Ok(found.map(str::to_owned))
}

impl FilterQuery {
    pub fn filter(&self, now: Micros) -> Result<EventFilter, Error> {
        // A misspelt filter (`serverity=error`) would otherwise widen the
        // answer to everything, unsaid.
        if let Some((name, _)) = self.others.0.iter().find(|(name, _)| app::search::payload_path(name).is_none()) {
            return Err(bad(name, "not a parameter of this endpoint (docs/api.md lists them)"));
        }
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
            actor_id: text("actor_id", &self.actor_id)?,
            entity_type: text("entity_type", &self.entity_type)?,
            entity_id: text("entity_id", &self.entity_id)?,
            visibility: choice("visibility", &self.visibility)?,
            provider: text("provider", &self.provider)?,
            correlation_id: text("correlation_id", &self.correlation_id)?,
            since: time("since", &self.since, now)?,
            until: time("until", &self.until, now)?,
            ..Default::default()
        };
        // One parser for the parameters and the search box: each parameter
        // reads as its qualifier would.
        // A blank `ip` or `user_agent` is an empty form field; a blank
        // payload field asks for `""`, as `payload.note:` does in `q`. A
        // payload field's value is taken as it is, spaces and all, as a
        // quoted one is in `q` (stored values are not trimmed).
        let named = [("ip", &self.ip), ("user_agent", &self.user_agent)];
        let params = named.into_iter().filter_map(|(name, value)| Some((name, given(value)?)));
        let fields = self.others.0.iter().filter(|(name, _)| app::search::payload_path(name).is_some());
        for (name, value) in params.chain(fields.map(|(name, value)| (name.as_str(), value.as_str()))) {
            // The error names the parameter (`ip: …`).
            app::search::apply_one(name, value, &mut filter, now).map_err(Error::BadRequest)?;
            app::search::check_limits(&filter).map_err(|e| bad(name, e))?;
        }
        if let Some(q) = &self.q {
            // Its limits checked too, on top of the parameters'.
            app::search::apply(q, &mut filter, now).map_err(|e| bad("q", e))?;
        }
        app::search::check_satisfiable(&filter).map_err(Error::BadRequest)?;
        Ok(filter)
    }
}

impl ReadQuery {
    pub fn filter(&self, now: Micros) -> Result<EventFilter, Error> {
        self.filters.filter(now)
    }

    pub fn limit(&self) -> Result<usize, Error> {
        page_limit(&self.limit, app::model::DEFAULT_PAGE_SIZE)
    }

    pub fn cursor(&self) -> Result<Option<Cursor>, Error> {
        page_cursor(&self.cursor, Cursor::decode)
    }
}

/// A page's `cursor`, read by `decode` (the list's own kind of cursor);
/// `None` if not given.
pub fn page_cursor<T>(cursor: &Option<String>, decode: impl Fn(&str) -> Option<T>) -> Result<Option<T>, Error> {
    given(cursor).map(|text| decode(text).ok_or_else(|| bad("cursor", "not a cursor from a previous page"))).transpose()
}

/// A page's `limit`: 1 to [`MAX_PAGE_SIZE`], `default` if not given.
pub fn page_limit(limit: &Option<String>, default: usize) -> Result<usize, Error> {
    let Some(text) = given(limit) else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        _ => Err(bad("limit", format!("{text:?} is not a number from 1 to {MAX_PAGE_SIZE}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{Kind, Severity};

    #[test]
    fn parameters_and_search_combine() {
        let query = FilterQuery {
            kind: Some("audit".into()),
            errors: Some("true".into()),
            q: Some("actor:u_1 \"late fee\"".into()),
            since: Some("2026-11-01".into()),
            ..Default::default()
        };
        let f = query.filter(Micros(0)).unwrap();
        assert_eq!(
            (f.kind, f.errors_only, f.actor.as_deref(), f.q.as_deref()),
            (Some(Kind::Audit), true, Some("u_1"), Some("\"late fee\""))
        );
        assert!(f.since.is_some());
        let bad = FilterQuery { severity: Some("loud".into()), ..Default::default() };
        assert_eq!(
            bad.filter(Micros(0)).unwrap_err().to_string(),
            "severity: expected one of info, warning, error, critical"
        );
        let _ = Severity::Info;
    }

    #[test]
    fn a_payload_field_named_twice_is_two_conditions() {
        let uri: axum::http::Uri =
            "/api/v1/events?payload.n=%3E%3D10&kind=audit&payload.n=%3C20&payload.note=&limit=5".parse().unwrap();
        let axum::extract::Query(query) = axum::extract::Query::<ReadQuery>::try_from_uri(&uri).unwrap();
        let f = query.filter(Micros(0)).unwrap();
        let paths: Vec<String> = f.payload.iter().map(|c| c.path.join(".")).collect();
        assert_eq!(paths, ["n", "n", "note"]);
        assert_eq!((f.kind, query.limit().unwrap()), (Some(Kind::Audit), 5));
        let twice: axum::http::Uri = "/api/v1/events?kind=audit&kind=event".parse().unwrap();
        assert!(axum::extract::Query::<ReadQuery>::try_from_uri(&twice).is_err(), "a filter named twice is refused");
    }

    #[test]
    fn limits_and_cursors_are_checked() {
        assert_eq!(ReadQuery::default().limit().unwrap(), 50);
        assert!(ReadQuery { limit: Some("1001".into()), ..Default::default() }.limit().is_err());
        assert_eq!(ReadQuery { limit: Some("7".into()), ..Default::default() }.limit().unwrap(), 7);
        assert!(ReadQuery { cursor: Some("nope".into()), ..Default::default() }.cursor().is_err());
    }
}
