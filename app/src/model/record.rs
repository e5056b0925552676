//! A record as the dashboard and the API read it: a feed row, the full
//! detail with its diff, and where a page of them ends.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    path_segment, query_string, query_value, with_query, ActorType, Kind, Micros, Severity, Status, Visibility,
};

/// One record as a feed row shows it (no payload, diff or stack: those are
/// for the detail view).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::FromRow))]
pub struct EventRow {
    pub id: Uuid,
    pub workspace: String,
    pub brand: Option<String>,
    pub kind: Kind,
    pub key: String,
    pub message: Option<String>,
    pub context: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub actor_email: Option<String>,
    pub actor_name: Option<String>,
    pub actor_label: Option<String>,
    pub visibility: Visibility,
    #[cfg_attr(feature = "ssr", sqlx(try_from = "i16"))]
    pub severity: Severity,
    pub status: Option<Status>,
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

    /// The dashboard path of this record's entity timeline, if it names
    /// one: in the record's workspace (another's entity of the same name
    /// is another thing).
    pub fn entity_href(&self) -> Option<String> {
        let entity = EntityRef {
            workspace: Some(self.workspace.clone()),
            entity_type: self.entity_type.clone()?,
            entity_id: self.entity_id.clone()?,
        };
        Some(entity.href(Order::NewestFirst))
    }
}

/// An entity as a timeline names it: its type and id, in one workspace,
/// or (none named) in every workspace the viewer sees.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntityRef {
    pub workspace: Option<String>,
    pub entity_type: String,
    pub entity_id: String,
}

impl EntityRef {
    /// The entity an `/entities/…` URL names (see [`entity_of_url`]), and
    /// its `workspace` if the query names one.
    pub fn of_url(path: &str, query: &[(String, String)]) -> Option<EntityRef> {
        let (entity_type, entity_id) = entity_of_url(path, query)?;
        let workspace = query_value(query, "workspace").filter(|w| !w.is_empty());
        Some(EntityRef { workspace, entity_type, entity_id })
    }

    /// Its timeline's dashboard path, in `order`.
    pub fn href(&self, order: Order) -> String {
        let mut pairs = Vec::new();
        if let Some(workspace) = &self.workspace {
            pairs.push(("workspace", workspace.as_str()));
        }
        if order == Order::OldestFirst {
            pairs.push(("order", "oldest"));
        }
        with_query(&entity_href(&self.entity_type, &self.entity_id), &pairs)
    }

    /// Its records.
    pub fn filter(&self) -> super::EventFilter {
        super::EventFilter {
            workspace: self.workspace.clone(),
            ..super::EventFilter::of_entity(&self.entity_type, &self.entity_id)
        }
    }

    /// Whether a part holds NUL, which no record does.
    pub fn holds_nul(&self) -> bool {
        [Some(&self.entity_type), Some(&self.entity_id), self.workspace.as_ref()]
            .into_iter()
            .flatten()
            .any(|p| p.contains('\0'))
    }
}

/// A record's `ip` as an address, as ingest takes it and `ip:` finds it:
/// IPv4 or IPv6. An IPv6 address with a zone (`fe80::1%eth0`, as a host
/// writes a link-local one) is the address; the zone stays in the record.
pub fn client_address(ip: &str) -> Option<std::net::IpAddr> {
    let ip = ip.trim();
    let address = ip.split_once('%').filter(|(address, _)| address.contains(':')).map_or(ip, |(address, _)| address);
    address.parse().ok()
}

/// The dashboard path of an entity's timeline: `/entities/{type}/{id}`,
/// or `/entities?type=…&id=…` when a part is `.` or `..`, which browsers
/// fold away from a path (`%2E` too).
pub fn entity_href(entity_type: &str, entity_id: &str) -> String {
    let dots = |part: &str| matches!(part, "." | "..");
    if dots(entity_type) || dots(entity_id) {
        format!("/entities?{}", query_string(&[("type", entity_type), ("id", entity_id)]))
    } else {
        format!("/entities/{}/{}", path_segment(entity_type), path_segment(entity_id))
    }
}

/// The entity an `/entities/…` URL names: its path's two segments, each
/// decoded once (leptos_router's params decode a second time, so an id
/// holding `%20` was read as a space), or its query's `type` and `id`.
pub fn entity_of_url(path: &str, query: &[(String, String)]) -> Option<(String, String)> {
    let decode = |segment: &str| percent_encoding::percent_decode_str(segment).decode_utf8().ok().map(String::from);
    let rest = path.strip_prefix("/entities").unwrap_or_default();
    match rest.trim_start_matches('/').split_once('/') {
        Some((entity_type, entity_id)) if !entity_id.contains('/') => Some((decode(entity_type)?, decode(entity_id)?)),
        Some(_) => None,
        None => Some((query_value(query, "type")?, query_value(query, "id")?)),
    }
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

    /// A cursor [`Cursor::encode`] could have made: hex digits (no sign) of
    /// a time in Trail's calendar, and an id.
    pub fn decode(text: &str) -> Option<Self> {
        let (time, id) = text.split_once('.')?;
        if !time.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let occurred_at = crate::model::Micros::in_calendar(i64::from_str_radix(time, 16).ok()?)?.0;
        Some(Cursor { occurred_at, id: Uuid::try_parse(id).ok()? })
    }
}

/// A position in commit order: the live stream's cursor, sent sealed as
/// each event's `id` and taken back as `Last-Event-ID`
/// (`api::stream_ids`), and a log stream's. `commit_tx` numbers the
/// transaction that wrote the record (migration `commit_order`); within one,
/// records go by id. Ordered as the database orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamPosition {
    pub commit_tx: i64,
    pub id: Uuid,
}

impl StreamPosition {
    pub fn encode(&self) -> String {
        format!("{:x}.{}", self.commit_tx, self.id.simple())
    }
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
    fn entity_links_name_their_entity_whatever_it_holds() {
        let read_back = |href: &str| {
            let (path, query) = href.split_once('?').unwrap_or((href, ""));
            entity_of_url(path, &crate::model::query_pairs(query))
        };
        for (entity_type, entity_id) in
            [("file", "x%20y"), ("enc", "a%2Fb"), ("doc", "a/b"), ("dot", "."), ("..", "up"), ("t", "ü é?#&=+")]
        {
            let href = entity_href(entity_type, entity_id);
            assert!(!href.contains("/./") && !href.ends_with("/.") && !href.contains("/.."), "{href}");
            let back = read_back(&href);
            assert_eq!(back, Some((entity_type.to_owned(), entity_id.to_owned())), "{href}");
            let entity = EntityRef { workspace: None, entity_type: entity_type.into(), entity_id: entity_id.into() };
            let oldest = entity.href(Order::OldestFirst);
            assert_eq!(read_back(&oldest), back, "{oldest}");
            assert_eq!(oldest.matches('?').count(), 1, "{oldest}");
        }
        assert_eq!(entity_href("file", "x%20y"), "/entities/file/x%2520y");
        let entity = EntityRef { workspace: Some("a&b".into()), entity_type: "..".into(), entity_id: "up".into() };
        let oldest = entity.href(Order::OldestFirst);
        let (path, query) = oldest.split_once('?').unwrap();
        let pairs = crate::model::query_pairs(query);
        assert_eq!(EntityRef::of_url(path, &pairs), Some(entity.clone()), "{oldest}");
        assert_eq!(query_value(&pairs, "order").as_deref(), Some("oldest"));
        assert_eq!(entity_of_url("/entities/a/b/c", &[]), None);
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
    fn cursors_round_trip() {
        let cursor = Cursor { occurred_at: 1_700_000_000_123_456, id: Uuid::nil() };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("garbage"), None);
        let id = Uuid::nil().simple();
        for made_up in [format!("-1.{id}"), format!("+1.{id}"), format!("7fffffffffffffff.{id}")] {
            assert_eq!(Cursor::decode(&made_up), None, "{made_up}");
        }
    }
}
