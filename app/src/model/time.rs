//! Points in time: microseconds since 1970 in Trail's calendar, RFC 3339 in JSON.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
