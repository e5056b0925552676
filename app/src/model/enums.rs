//! The closed sets of values a record and a viewer take: kind, visibility,
//! severity, status, actor type, role.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// Reads a `string_enum` from a text column, so a row type can hold the enum
/// itself (`Option<Status>` for a nullable column).
macro_rules! stored_as_text {
    ($($name:ident),+) => {$(
        #[cfg(feature = "ssr")]
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        #[cfg(feature = "ssr")]
        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<String as sqlx::Decode<'r, DB>>::decode(value)?.parse::<Self>()?)
            }
        }
    )+};
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

// Severity is stored as its rank (`Severity::rank`), not as text.
stored_as_text!(Kind, Visibility, Status, ActorType, Role);

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

impl Status {
    /// The operation failed: it ended in failure or ran out of time.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Failure | Status::Timeout)
    }
}

impl Role {
    /// Founders and admins see every workspace and every visibility.
    pub fn is_platform(self) -> bool {
        matches!(self, Role::Founder | Role::Admin)
    }

    /// The role with its article, for messages: "an admin", "a client".
    pub fn with_article(self) -> String {
        match self {
            Role::Admin => format!("an {self}"),
            _ => format!("a {self}"),
        }
    }
}
