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

    pub fn is_error(self) -> bool {
        self >= Severity::Warning
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros(pub i64);

impl Micros {
    pub fn now() -> Self {
        Self::from(Utc::now())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0).single().unwrap_or_default()
    }

    pub fn to_rfc3339(self) -> String {
        self.to_datetime().to_rfc3339_opts(SecondsFormat::Micros, true)
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
pub struct EventFilter {
    pub workspace: Option<String>,
    pub brand: Option<String>,
    pub kind: Option<Kind>,
    /// Exact key, or a prefix when it ends with `*`.
    pub key: Option<String>,
    pub severity: Option<Severity>,
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

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 1000;
