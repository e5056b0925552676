//! Types shared by the server and the browser: the record as the dashboard
//! sees it, the signed-in viewer, and the filters of a feed query.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Declares a closed set of lowercase string values (`kind`, `visibility`, ...)
/// with parsing, display and serde as the plain string.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted values, for error messages: "a, b, c".
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("expected one of {}", Self::expected())),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> { s.parse() }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
            }
        }

        #[cfg(feature = "ssr")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    enum_values: Some(Self::ALL.iter().map(|v| v.as_str().into()).collect()),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

string_enum!(
    /// What sort of record: an intentional action, a lifecycle event, or a provider operation.
    Kind { Audit = "audit", Event = "event", Action = "action" }
);
string_enum!(
    /// Who may see a record besides founders and admins.
    Visibility { Internal = "internal", Client = "client", System = "system" }
);
string_enum!(
    /// Ordered from least to most severe; "errors only" means `>= Warning`.
    Severity { Info = "info", Warning = "warning", Error = "error", Critical = "critical" }
);
string_enum!(
    /// Outcome of an operation against an external provider.
    Status { Pending = "pending", Success = "success", Failure = "failure", Timeout = "timeout", Retry = "retry" }
);
string_enum!(
    ActorType { User = "user", System = "system", Worker = "worker", Integration = "integration" }
);
string_enum!(
    /// Platform roles see every workspace; member roles only their own.
    Role { Founder = "founder", Admin = "admin", Provider = "provider", Client = "client" }
);

impl Severity {
    /// The rank stored in the database, so "at least warning" is one range.
    pub fn rank(self) -> i16 {
        self as i16
    }

    pub fn from_rank(rank: i16) -> Option<Self> {
        Self::ALL.get(usize::try_from(rank).ok()?).copied()
    }
}

impl PartialOrd for Severity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Severity {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl TryFrom<i16> for Severity {
    type Error = String;
    fn try_from(rank: i16) -> Result<Self, String> {
        Self::from_rank(rank).ok_or_else(|| format!("unknown severity rank {rank}"))
    }
}

impl Role {
    /// Founders and admins see every workspace and every visibility.
    pub fn is_platform(self) -> bool {
        matches!(self, Role::Founder | Role::Admin)
    }
}

/// A point in time with microsecond precision, stored as an integer and
/// written as RFC 3339 in JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

impl Micros {
    /// The first instant Trail accepts: 1970-01-01T00:00:00Z.
    pub const MIN: Micros = Micros(0);
    /// The last instant Trail accepts: 9999-12-31T23:59:59.999999Z, the last
    /// one RFC 3339 can write (it has four-digit years only).
    pub const MAX: Micros = Micros(253_402_300_799_999_999);
    /// How Trail's calendar reads in messages.
    pub const RANGE_TEXT: &'static str = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    /// `us` if it lies in Trail's calendar (`MIN..=MAX`).
    pub fn in_calendar(us: i64) -> Option<Self> {
        (Self::MIN.0..=Self::MAX.0).contains(&us).then_some(Micros(us))
    }

    /// A parsed time, if it lies in Trail's calendar.
    pub fn from_datetime(t: DateTime<Utc>) -> Option<Self> {
        Self::in_calendar(t.timestamp_micros())
    }

    /// `age` before `self`, if that is still in Trail's calendar.
    pub fn checked_before(self, age: chrono::TimeDelta) -> Option<Self> {
        self.0.checked_sub(age.num_microseconds()?).and_then(Self::in_calendar)
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0).single().unwrap_or_default()
    }

    /// RFC 3339 with microseconds. Times outside the calendar (which input
    /// checks keep out) are written as its nearest end, never as `+10000-…`.
    pub fn to_rfc3339(self) -> String {
        Micros(self.0.clamp(Self::MIN.0, Self::MAX.0)).to_datetime().to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl From<DateTime<Utc>> for Micros {
    fn from(t: DateTime<Utc>) -> Self {
        Micros(t.timestamp_micros())
    }
}

impl From<i64> for Micros {
    fn from(us: i64) -> Self {
        Micros(us)
    }
}

#[cfg(feature = "ssr")]
impl schemars::JsonSchema for Micros {
    fn schema_name() -> String {
        "Timestamp".to_owned()
    }

    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            format: Some("date-time".to_owned()),
            ..Default::default()
        }
        .into()
    }
}

impl Serialize for Micros {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Micros {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Micros::from(t.with_timezone(&Utc)))
            .map_err(serde::de::Error::custom)
    }
}

/// What a page load found: the page, nothing the viewer may see (404), or no
/// signed-in viewer (the page sends the browser to /login).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Loaded<T> {
    Found(T),
    NotFound,
    SignedOut,
}

/// One record as a feed row shows it (no payload, diff or stack: those are
/// for the detail view).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct EventRow {
    pub id: Uuid,
    pub workspace: String,
    pub brand: Option<String>,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub kind: Kind,
    pub key: String,
    pub message: Option<String>,
    pub context: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub actor_name: Option<String>,
    pub actor_label: Option<String>,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "String"))]
    pub visibility: Visibility,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "i16"))]
    pub severity: Severity,
    pub status: Option<String>,
    pub duration_ms: Option<i64>,
    pub provider: Option<String>,
    pub correlation_id: Option<String>,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "i64"))]
    pub occurred_at: Micros,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "i64"))]
    pub received_at: Micros,
}

impl EventRow {
    /// The most human way to name the actor that is known.
    pub fn actor_display(&self) -> Option<&str> {
        self.actor_name
            .as_deref()
            .or(self.actor_label.as_deref())
            .or(self.actor_email.as_deref())
            .or(self.actor_id.as_deref())
    }

    pub fn entity_display(&self) -> Option<String> {
        match (&self.entity_type, &self.entity_id) {
            (Some(t), Some(id)) => Some(format!("{t}/{id}")),
            (None, Some(id)) => Some(id.clone()),
            (Some(t), None) => Some(t.clone()),
            (None, None) => None,
        }
    }

    pub fn cursor(&self) -> Cursor {
        Cursor { occurred_at: self.occurred_at.0, id: self.id }
    }

    /// The dashboard path of this record.
    pub fn href(&self) -> String {
        format!("/events/{}", self.id)
    }

    /// The dashboard path of this record's entity timeline, if it names one.
    pub fn entity_href(&self) -> Option<String> {
        match (&self.entity_type, &self.entity_id) {
            (Some(t), Some(id)) => Some(entity_href(t, id)),
            _ => None,
        }
    }
}

pub fn entity_href(entity_type: &str, entity_id: &str) -> String {
    format!("/entities/{}/{}", path_segment(entity_type), path_segment(entity_id))
}

/// The signed-in person, as the dashboard needs to know them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    /// Workspaces the viewer is a member of (empty for platform roles, who see all).
    pub memberships: Vec<Membership>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct Membership {
    pub workspace_id: i64,
    pub workspace: String,
    /// A client limited to one brand of the workspace.
    pub brand: Option<String>,
}

/// A position in the feed's (occurred_at, id) order: the last row of a page.
/// Travels as an opaque string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub occurred_at: i64,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!("{:x}.{}", self.occurred_at, self.id.simple())
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (time, id) = text.split_once('.')?;
        Some(Cursor { occurred_at: i64::from_str_radix(time, 16).ok()?, id: Uuid::try_parse(id).ok()? })
    }
}

/// Which records a feed shows. Every field narrows; the viewer's own scope is
/// applied on the server on top of whatever this says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    pub workspace: Option<String>,
    pub brand: Option<String>,
    pub kind: Option<Kind>,
    /// Exact key, or a prefix when it ends with `*`.
    pub key: Option<String>,
    /// Exactly this severity.
    pub severity: Option<Severity>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Warning, error and critical only.
    pub errors_only: bool,
    pub status: Option<Status>,
    pub actor: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub visibility: Option<Visibility>,
    pub provider: Option<String>,
    pub correlation_id: Option<String>,
    pub since: Option<Micros>,
    pub until: Option<Micros>,
    /// Free text over message, key, actor and entity.
    pub q: Option<String>,
}

/// A page of the feed, newest first, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedPage {
    pub rows: Vec<EventRow>,
    pub next_cursor: Option<String>,
}

/// The feed's filters as they travel in the URL query: the controls plus the
/// search box. The same parameters give the same view, on the server and in
/// the browser.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedParams {
    /// The search box (GitHub-style qualifiers and free text).
    pub q: String,
    pub workspace: String,
    pub kind: String,
    pub severity: String,
    pub errors: bool,
    /// `1h`, `24h`, `7d`, `30d` or empty for all time.
    pub range: String,
    /// The stats panel's window (`24h` when empty).
    pub window: String,
}

impl FeedParams {
    pub const RANGES: &'static [&'static str] = &["1h", "24h", "7d", "30d"];

    /// Reads the parameters from a URL query (missing ones are empty).
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name: &str| get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        FeedParams {
            q: text("q"),
            workspace: text("workspace"),
            kind: text("kind"),
            severity: text("severity"),
            errors: matches!(get("errors").as_deref(), Some("1" | "true" | "on")),
            range: text("range"),
            window: text("window"),
        }
    }

    /// The export link's query: the same view for `/api/v1/events/export`.
    pub fn export_query(&self, format: &str) -> String {
        let errors = if self.errors { "true" } else { "" };
        query_string(&[
            ("format", format),
            ("q", &self.q),
            ("workspace", &self.workspace),
            ("kind", &self.kind),
            ("severity", &self.severity),
            ("since", &self.range),
            ("errors", errors),
        ])
    }

    /// The URL query for these parameters (empty ones left out).
    pub fn to_query(&self) -> String {
        let errors = if self.errors { "1" } else { "" };
        query_string(&[
            ("q", &self.q),
            ("workspace", &self.workspace),
            ("kind", &self.kind),
            ("severity", &self.severity),
            ("range", &self.range),
            ("window", &self.window),
            ("errors", errors),
        ])
    }

    /// The filter these parameters describe; an error explains a bad search.
    pub fn to_filter(&self, now: Micros) -> Result<EventFilter, String> {
        if self.workspace.contains('\0') {
            return Err("workspace: must not contain the NUL character (U+0000)".into());
        }
        let mut filter = EventFilter {
            workspace: (!self.workspace.is_empty()).then(|| self.workspace.clone()),
            errors_only: self.errors,
            ..Default::default()
        };
        if !self.kind.is_empty() {
            filter.kind = Some(self.kind.parse().map_err(|e| format!("kind: {e}"))?);
        }
        if !self.severity.is_empty() {
            filter.severity = Some(self.severity.parse().map_err(|e| format!("severity: {e}"))?);
        }
        if !self.range.is_empty() {
            let since = crate::search::age(&self.range).and_then(|age| now.checked_before(age));
            filter.since = Some(since.ok_or_else(|| format!("range: \"{}\" is not 1h, 24h, 7d or 30d", self.range))?);
        }
        crate::search::apply(&self.q, &mut filter, now)?;
        Ok(filter)
    }
}

/// `next` if it is a path on this site (`/events/…?q=…`), so a sign-in link
/// cannot send anyone elsewhere: not `//host`, not `/\\host`, no scheme, no
/// control characters.
pub fn safe_next(next: &str) -> Option<&str> {
    let same_site = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2_000
        && !next.chars().any(|c| c.is_control() || c == '\\');
    same_site.then_some(next)
}

/// A URL query (`a=1&b=x+y`) of the pairs whose value is not empty.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let present: Vec<&(&str, &str)> = pairs.iter().filter(|(_, value)| !value.is_empty()).collect();
    // Pairs of strings always encode.
    serde_urlencoded::to_string(present).unwrap_or_default()
}

/// One path segment, percent-encoded (RFC 3986 unreserved characters stay).
pub fn path_segment(value: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// A record with everything: what the detail page and timelines show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct EventDetail {
    #[cfg_attr(feature = "ssr", sqlx(flatten))]
    pub row: EventRow,
    pub event_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_message: Option<String>,
    pub error_stack: Option<String>,
    /// JSON text.
    pub payload: Option<String>,
    /// JSON text: `{"old": ..., "new": ...}`.
    pub diff: Option<String>,
}

impl EventDetail {
    /// The payload pretty-printed, or as stored if it is not JSON.
    pub fn payload_pretty(&self) -> Option<String> {
        self.payload.as_deref().map(|text| match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| text.to_owned()),
            Err(_) => text.to_owned(),
        })
    }

    pub fn diff_rows(&self) -> Vec<DiffRow> {
        self.diff.as_deref().map(diff_rows).unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
    Changed,
    Same,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
            Change::Same => "same",
        }
    }
}

/// One field of a diff: its value before and after.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffRow {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub change: Change,
}

/// The rows of a stored `{"old": {...}, "new": {...}}`, fields by name. Values that are not objects compare as one field `value`.
pub fn diff_rows(diff_json: &str) -> Vec<DiffRow> {
    use serde_json::{Map, Value};
    let Ok(Value::Object(diff)) = serde_json::from_str::<Value>(diff_json) else { return Vec::new() };
    let side = |name: &str| -> Map<String, Value> {
        match diff.get(name) {
            Some(Value::Object(fields)) => fields.clone(),
            Some(Value::Null) | None => Map::new(),
            Some(other) => Map::from_iter([("value".to_owned(), other.clone())]),
        }
    };
    let (old, new) = (side("old"), side("new"));
    let mut fields: Vec<&String> = old.keys().collect();
    fields.extend(new.keys().filter(|k| !old.contains_key(*k)));
    let show = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    fields
        .into_iter()
        .map(|field| {
            let (before, after) = (old.get(field), new.get(field));
            let change = match (before, after) {
                (None, Some(_)) => Change::Added,
                (Some(_), None) => Change::Removed,
                (Some(a), Some(b)) if a != b => Change::Changed,
                _ => Change::Same,
            };
            DiffRow { field: field.clone(), old: before.map(show), new: after.map(show), change }
        })
        .collect()
}

/// A workspace as lists show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceSummary {
    pub slug: String,
    pub name: String,
}

/// A user as the admin page lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub memberships: Vec<Membership>,
}

/// An API key as the admin page lists it (never the secret, never the hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct ApiKeySummary {
    pub id: i64,
    pub workspace: Option<String>,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "i64"))]
    pub created_at: Micros,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Workspace slugs: 1-64 lowercase letters, digits, `-` or `_`, starting with a letter or digit.
pub fn valid_slug(slug: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&slug.len())
        && slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && slug.starts_with(|c: char| c.is_ascii_alphanumeric());
    ok.then_some(()).ok_or_else(|| {
        format!(
            "workspace slug {slug:?} must be 1-64 lowercase letters, digits, - or _, starting with a letter or digit"
        )
    })
}

/// Which way a timeline runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    #[default]
    NewestFirst,
    OldestFirst,
}

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1000;

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

    #[test]
    fn diff_rows_mark_added_removed_and_changed() {
        let rows = diff_rows(
            r#"{"old": {"role": "viewer", "name": "Leo", "tags": ["a"]}, "new": {"role": "admin", "name": "Leo", "team": 7}}"#,
        );
        let summary: Vec<(&str, Change, Option<&str>, Option<&str>)> =
            rows.iter().map(|r| (r.field.as_str(), r.change, r.old.as_deref(), r.new.as_deref())).collect();
        assert_eq!(
            summary,
            [
                ("name", Change::Same, Some("Leo"), Some("Leo")),
                ("role", Change::Changed, Some("viewer"), Some("admin")),
                ("tags", Change::Removed, Some(r#"["a"]"#), None),
                ("team", Change::Added, None, Some("7")),
            ]
        );
        assert!(diff_rows("not json").is_empty());
    }

    #[test]
    fn feed_params_round_trip_through_the_url() {
        let params =
            FeedParams { q: "key:track_* \"a b\"".into(), kind: "audit".into(), errors: true, ..Default::default() };
        let query = params.to_query();
        assert_eq!(query, "q=key%3Atrack_*+%22a+b%22&kind=audit&errors=1");
        let decoded: Vec<(String, String)> = serde_urlencoded::from_str(&query).unwrap();
        let back = FeedParams::from_query(|name| decoded.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()));
        assert_eq!(back, params, "what the URL carries is the view");
        assert_eq!(path_segment("a b/c~d"), "a%20b%2Fc~d");
        let filter = params.to_filter(Micros(0)).unwrap();
        assert_eq!(
            (filter.key.as_deref(), filter.q.as_deref(), filter.errors_only),
            (Some("track_*"), Some("a b"), true)
        );
        let bad = FeedParams { range: "2w".into(), ..Default::default() };
        assert!(bad.to_filter(Micros(0)).unwrap_err().starts_with("range:"));
    }

    #[test]
    fn only_same_site_paths_are_places_to_return_to() {
        for good in ["/", "/events/1?q=a%20b", "/entities/track/trk_1", "/admin"] {
            assert_eq!(safe_next(good), Some(good));
        }
        for bad in ["", "//evil.example", "/\\evil.example", "https://evil.example", "evil", "/\u{0}", "/a\nb", "/a\\b"]
        {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor { occurred_at: 1_700_000_000_123_456, id: Uuid::nil() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("garbage"), None);
    }
}

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
    pub fn merge(&mut self, other: &Durations) {
        self.count += other.count;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
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
