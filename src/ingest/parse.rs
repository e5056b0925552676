//! Turns submitted JSON into validated records, collecting one error per bad
//! field so the producer can fix a whole batch at once.
//!
//! Field names are matched after camelCase → snake_case, so `eventKey`,
//! `entityId` and `durationMs` work as well as `event_key`, `entity_id`...

use std::borrow::Cow;
use std::collections::HashMap;

use app::model::{ActorType, Kind, Micros, Severity, Status, Visibility};
use app::store::NewRecord;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::FieldError;

/// Aliases of `key` accepted on ingest, in order of preference.
const KEY_NAMES: &[&str] = &["key", "action", "type", "event_type", "event_key", "action_type"];
const PAYLOAD_NAMES: &[&str] = &["payload", "meta", "metadata", "data"];
const WORKSPACE_NAMES: &[&str] = &["workspace", "workspace_slug", "tenant"];
const OCCURRED_NAMES: &[&str] = &["occurred_at", "timestamp", "created_at"];
const CORRELATION_NAMES: &[&str] = &["correlation_id", "trace_id", "request_id"];
const MAX_KEY_LEN: usize = 200;
const MAX_TEXT_LEN: usize = 1_000;
const MAX_MESSAGE_LEN: usize = 10_000;
const MAX_STACK_LEN: usize = 100_000;

/// Which workspaces records may name and what they resolve to.
pub struct WorkspaceRules {
    /// The key's own workspace (id, slug); `None` for a key that spans workspaces.
    pub key_workspace: Option<(i64, String)>,
    /// Slugs the records name that exist, with their ids.
    pub known: HashMap<String, i64>,
}

/// The workspace slugs a batch names (to look up before parsing).
pub fn named_workspaces(items: &[Value]) -> Vec<String> {
    let mut slugs: Vec<String> = items
        .iter()
        .filter_map(Value::as_object)
        .filter_map(|o| {
            let fields = Fields::new(o);
            fields.first(WORKSPACE_NAMES).and_then(|(_, v)| v.as_str()).map(str::to_owned)
        })
        .collect();
    slugs.sort();
    slugs.dedup();
    slugs
}

/// Validates every item; all or nothing.
pub fn parse_records(items: &[Value], rules: &WorkspaceRules, now: Micros) -> Result<Vec<NewRecord>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut records = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let mut problems = Problems { index, errors: &mut errors };
        let Some(object) = item.as_object() else {
            problems.add("", "expected a JSON object");
            continue;
        };
        if let Some(record) = parse_record(&Fields::new(object), rules, now, &mut problems) {
            records.push(record);
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

struct Problems<'e> {
    index: usize,
    errors: &'e mut Vec<FieldError>,
}

impl Problems<'_> {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError { index: self.index, field: field.to_owned(), message: message.into() });
    }
}

/// An object's fields by normalised (snake_case) name; the first spelling wins.
/// A record has a dozen or two fields: a linear scan beats hashing them, and
/// names already in snake_case are not copied.
struct Fields<'a> {
    by_name: Vec<(Cow<'a, str>, &'a str, &'a Value)>,
}

impl<'a> Fields<'a> {
    fn new(object: &'a Map<String, Value>) -> Self {
        let mut by_name: Vec<(Cow<'a, str>, &'a str, &'a Value)> = Vec::with_capacity(object.len());
        for (name, value) in object {
            let normalised = snake_case(name);
            if !by_name.iter().any(|(seen, _, _)| *seen == normalised) {
                by_name.push((normalised, name.as_str(), value));
            }
        }
        Fields { by_name }
    }

    fn lookup(&self, name: &str) -> Option<(&'a str, &'a Value)> {
        self.by_name.iter().find(|(normalised, _, _)| normalised == name).map(|(_, original, value)| (*original, *value))
    }

    /// The first of `names` that is present and not null, with the name used.
    fn first(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        names.iter().filter_map(|n| self.lookup(n)).find(|(_, v)| !v.is_null())
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.first(&[name]).map(|(_, v)| v)
    }
}

fn snake_case(name: &str) -> Cow<'_, str> {
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('_') {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// A text field: a string, or for identifiers also a number.
fn text(value: &Value, field: &str, max: usize, numbers_ok: bool, problems: &mut Problems) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) if numbers_ok => n.to_string(),
        _ => {
            problems.add(field, if numbers_ok { "expected a string or a number" } else { "expected a string" });
            return None;
        }
    };
    if text.chars().count() > max {
        problems.add(field, format!("longer than {max} characters"));
        return None;
    }
    (!text.is_empty()).then_some(text)
}

fn choice<T: std::str::FromStr<Err = String>>(value: &Value, field: &str, problems: &mut Problems) -> Option<T> {
    match value.as_str().map(|s| s.trim().to_ascii_lowercase().parse::<T>()) {
        Some(Ok(v)) => Some(v),
        Some(Err(message)) => {
            problems.add(field, message);
            None
        }
        None => {
            problems.add(field, "expected a string");
            None
        }
    }
}

/// A nested object (`actor.id`) or its flat spelling (`actor_id`, aliases after).
struct Nested<'f, 'a> {
    fields: &'f Fields<'a>,
    object: Option<Fields<'a>>,
    prefix: &'static str,
}

impl<'f, 'a> Nested<'f, 'a> {
    fn new(fields: &'f Fields<'a>, prefix: &'static str) -> Self {
        let object = fields.get(prefix).and_then(Value::as_object).map(Fields::new);
        Nested { fields, object, prefix }
    }

    fn get(&self, part: &str, flat_aliases: &[&str]) -> Option<(String, &'a Value)> {
        if let Some(value) = self.object.as_ref().and_then(|o| o.get(part)) {
            return Some((format!("{}.{part}", self.prefix), value));
        }
        let flat = format!("{}_{part}", self.prefix);
        std::iter::once(flat.as_str())
            .chain(flat_aliases.iter().copied())
            .find_map(|name| self.fields.get(name).map(|v| (name.to_owned(), v)))
    }

    fn text(&self, part: &str, aliases: &[&str], max: usize, problems: &mut Problems) -> Option<String> {
        let (field, value) = self.get(part, aliases)?;
        text(value, &field, max, part == "id", problems)
    }
}

fn parse_record(f: &Fields, rules: &WorkspaceRules, now: Micros, problems: &mut Problems) -> Option<NewRecord> {
    let before = problems.errors.len();
    let opt_text = |names: &[&str], max: usize, numbers_ok: bool, problems: &mut Problems| {
        f.first(names).and_then(|(name, v)| text(v, &snake_case(name), max, numbers_ok, problems))
    };

    let key = match f.first(KEY_NAMES) {
        Some((name, value)) => text(value, &snake_case(name), MAX_KEY_LEN, false, problems).and_then(|k| {
            valid_key(&k).map_err(|m| problems.add("key", m)).ok().map(|_| k)
        }),
        None => {
            problems.add("key", "required: what happened, e.g. \"brand.created\" or \"track_publish\"");
            None
        }
    };
    let workspace_id = resolve_workspace(f, rules, problems);
    let kind = f.get("kind").map_or(Some(Kind::Event), |v| choice(v, "kind", problems));
    let visibility = f.get("visibility").map_or(Some(Visibility::Internal), |v| choice(v, "visibility", problems));
    let status: Option<Status> = f.get("status").and_then(|v| choice(v, "status", problems));
    let severity: Option<Severity> = f.get("severity").and_then(|v| choice(v, "severity", problems));
    let duration_ms = f.get("duration_ms").and_then(|v| duration(v, problems));
    let occurred_at = f.first(OCCURRED_NAMES).map_or(Some(now), |(name, v)| timestamp(v, &snake_case(name), problems));

    let actor = Nested::new(f, "actor");
    let actor_id = match f.get("actor").filter(|v| !v.is_object()) {
        // `"actor": "u_12"` is shorthand for the actor's id.
        Some(value) => text(value, "actor", MAX_TEXT_LEN, true, problems),
        None => actor.text("id", &["user_id"], MAX_TEXT_LEN, problems),
    };
    let actor_type = match actor.get("type", &[]) {
        Some((field, value)) => choice(value, &field, problems),
        None => Some(if actor_id.is_some() { ActorType::User } else { ActorType::System }),
    };
    let entity = Nested::new(f, "entity");
    let (error_message, error_stack) = match f.get("error") {
        Some(Value::String(_)) => (opt_text(&["error"], MAX_MESSAGE_LEN, false, problems), None),
        _ => {
            let error = Nested::new(f, "error");
            (error.text("message", &[], MAX_MESSAGE_LEN, problems), error.text("stack", &[], MAX_STACK_LEN, problems))
        }
    };
    let diff = parse_diff(f, problems);
    let severity = match (severity, kind) {
        (Some(severity), _) => Some(severity),
        (None, Some(kind)) => Some(default_severity(kind, status)),
        (None, None) => None,
    };
    // Every field is checked before any `?`, so one pass reports every problem.
    let event_id = opt_text(&["event_id", "idempotency_key"], MAX_KEY_LEN, true, problems);
    let brand = opt_text(&["brand"], MAX_KEY_LEN, false, problems);
    let message = opt_text(&["message", "description"], MAX_MESSAGE_LEN, false, problems);
    let context = opt_text(&["context", "source"], MAX_TEXT_LEN, false, problems);
    let entity_type = entity.text("type", &["target_type", "resource_type"], MAX_TEXT_LEN, problems);
    let entity_id = entity.text("id", &["target_id", "resource_id"], MAX_TEXT_LEN, problems);
    let actor_email = actor.text("email", &["user_email"], MAX_TEXT_LEN, problems);
    let actor_name = actor.text("name", &["user_name"], MAX_TEXT_LEN, problems);
    let actor_label = actor.text("label", &[], MAX_TEXT_LEN, problems);
    let ip = opt_text(&["ip", "ip_address"], 100, false, problems);
    let user_agent = opt_text(&["user_agent"], MAX_TEXT_LEN, false, problems);
    let provider = opt_text(&["provider"], MAX_KEY_LEN, false, problems);
    let correlation_id = opt_text(CORRELATION_NAMES, MAX_KEY_LEN, true, problems);
    if problems.errors.len() > before {
        return None;
    }
    let record = NewRecord {
        id: Uuid::now_v7(),
        workspace_id: workspace_id?,
        event_id,
        brand,
        kind: kind?,
        key: key?,
        message,
        context,
        entity_type,
        entity_id,
        actor_type: actor_type?,
        actor_id,
        actor_email,
        actor_name,
        actor_label,
        ip,
        user_agent,
        visibility: visibility?,
        severity: severity?,
        status,
        duration_ms,
        provider,
        error_message,
        error_stack,
        correlation_id,
        payload: f.first(PAYLOAD_NAMES).map(|(_, v)| v.to_string()),
        diff: diff.map(|d| d.to_string()),
        occurred_at: occurred_at?,
        received_at: now,
    };
    Some(record)
}

/// A failed or timed-out action is an error; everything else is info.
pub fn default_severity(kind: Kind, status: Option<Status>) -> Severity {
    match (kind, status) {
        (Kind::Action, Some(Status::Failure | Status::Timeout)) => Severity::Error,
        _ => Severity::Info,
    }
}

fn valid_key(key: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/');
    if !key.starts_with(|c: char| c.is_ascii_alphanumeric()) || !key.chars().all(allowed) {
        return Err("expected a name like \"domain.action\" or \"snake_case\" (letters, digits, _ . - : /)".into());
    }
    Ok(())
}

fn resolve_workspace(f: &Fields, rules: &WorkspaceRules, problems: &mut Problems) -> Option<i64> {
    let named = f.first(WORKSPACE_NAMES).and_then(|(_, v)| text(v, "workspace", MAX_KEY_LEN, false, problems));
    match (&rules.key_workspace, named) {
        (Some((id, _)), None) => Some(*id),
        (Some((id, slug)), Some(named)) if named == *slug => Some(*id),
        (Some((_, slug)), Some(_)) => {
            problems.add("workspace", format!("this API key writes only to workspace \"{slug}\""));
            None
        }
        (None, None) => {
            problems.add("workspace", "required: this API key spans workspaces, so each record names one");
            None
        }
        (None, Some(named)) => {
            let id = rules.known.get(&named).copied();
            if id.is_none() {
                problems.add("workspace", format!("unknown workspace \"{named}\""));
            }
            id
        }
    }
}

fn duration(value: &Value, problems: &mut Problems) -> Option<i64> {
    match value.as_f64() {
        Some(ms) if (0.0..9.0e15).contains(&ms) => Some(ms.round() as i64),
        Some(_) => {
            problems.add("duration_ms", "expected a non-negative number of milliseconds");
            None
        }
        None => {
            problems.add("duration_ms", "expected a number of milliseconds");
            None
        }
    }
}

/// RFC 3339 text, or a number of milliseconds since the Unix epoch.
fn timestamp(value: &Value, field: &str, problems: &mut Problems) -> Option<Micros> {
    let parsed = match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| Micros::from(t.with_timezone(&Utc))),
        Value::Number(n) => n.as_i64().and_then(|ms| ms.checked_mul(1_000)).map(Micros),
        _ => None,
    };
    if parsed.is_none() {
        problems.add(field, "expected an RFC 3339 time such as \"2026-11-21T09:30:00Z\"");
    }
    parsed
}

/// `diff: {old, new}`, or `before`/`after`, or `changes: {field: {old, new} | [old, new]}`,
/// all stored as `{"old": {...}, "new": {...}}`.
fn parse_diff(f: &Fields, problems: &mut Problems) -> Option<Value> {
    if let Some(diff) = f.get("diff") {
        return match diff.as_object() {
            Some(o) if o.contains_key("old") || o.contains_key("new") => {
                Some(serde_json::json!({ "old": o.get("old").cloned().unwrap_or(Value::Null), "new": o.get("new").cloned().unwrap_or(Value::Null) }))
            }
            Some(o) => changes_to_diff(o, "diff", problems),
            None => {
                problems.add("diff", "expected an object {\"old\": {...}, \"new\": {...}}");
                None
            }
        };
    }
    if f.get("before").is_some() || f.get("after").is_some() {
        let side = |name| f.get(name).cloned().unwrap_or(Value::Null);
        return Some(serde_json::json!({ "old": side("before"), "new": side("after") }));
    }
    match f.get("changes") {
        Some(Value::Object(o)) => changes_to_diff(o, "changes", problems),
        Some(_) => {
            problems.add("changes", "expected an object of field: {old, new}");
            None
        }
        None => None,
    }
}

fn changes_to_diff(changes: &Map<String, Value>, field: &str, problems: &mut Problems) -> Option<Value> {
    let mut old = Map::new();
    let mut new = Map::new();
    for (name, change) in changes {
        let pair = match change {
            Value::Array(pair) if pair.len() == 2 => Some((pair[0].clone(), pair[1].clone())),
            Value::Object(o) => {
                let side = |a: &str, b: &str| o.get(a).or_else(|| o.get(b)).cloned().unwrap_or(Value::Null);
                (o.contains_key("old") || o.contains_key("new") || o.contains_key("from") || o.contains_key("to"))
                    .then(|| (side("old", "from"), side("new", "to")))
            }
            _ => None,
        };
        let Some((before, after)) = pair else {
            problems.add(&format!("{field}.{name}"), "expected {\"old\": ..., \"new\": ...} or [old, new]");
            return None;
        };
        old.insert(name.clone(), before);
        new.insert(name.clone(), after);
    }
    Some(serde_json::json!({ "old": old, "new": new }))
}

/// Turns a CloudEvents 1.0 event (structured JSON) into Trail's record shape.
/// Extension attributes named like Trail fields without underscores
/// (`workspace`, `severity`, `actorid`, `entitytype`, `correlationid`...) carry over.
pub fn from_cloudevent(event: &Value) -> Value {
    let Some(ce) = event.as_object() else { return event.clone() };
    let mut record = Map::new();
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = ce.get(from) {
            record.insert(to.to_owned(), v.clone());
        }
    };
    copy("type", "key");
    copy("id", "event_id");
    copy("source", "context");
    copy("time", "occurred_at");
    copy("subject", "entity_id");
    copy("data", "payload");
    copy("data_base64", "payload");
    const EXTENSIONS: &[&str] = &[
        "workspace", "brand", "kind", "message", "severity", "visibility", "status", "provider", "duration_ms",
        "correlation_id", "trace_id", "entity_type", "entity_id", "actor_type", "actor_id", "actor_email",
        "actor_name", "actor_label", "ip", "user_agent",
    ];
    for name in EXTENSIONS {
        copy(&name.replace('_', ""), name);
    }
    Value::Object(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> WorkspaceRules {
        WorkspaceRules { key_workspace: Some((1, "acme".into())), known: HashMap::new() }
    }

    fn parse(items: Value) -> Result<Vec<NewRecord>, Vec<FieldError>> {
        parse_records(items.as_array().unwrap(), &rules(), Micros(1_000))
    }

    #[test]
    fn aliases_and_camel_case_are_accepted() {
        let records = parse(json!([
            {"eventKey": "brand.created", "entityType": "brand", "entityId": 42, "meta": {"a": 1}},
            {"action_type": "track_publish", "before": {"t": 1}, "after": {"t": 2}, "actorId": "u_1"},
        ]))
        .unwrap();
        assert_eq!(records[0].key, "brand.created");
        assert_eq!(records[0].entity_id.as_deref(), Some("42"));
        assert_eq!(records[0].payload.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(records[0].actor_type, ActorType::System);
        assert_eq!(records[1].diff.as_deref(), Some(r#"{"new":{"t":2},"old":{"t":1}}"#));
        assert_eq!(records[1].actor_type, ActorType::User);
    }

    #[test]
    fn failed_actions_default_to_error_severity() {
        let records = parse(json!([
            {"key": "crm_create", "kind": "action", "status": "failure", "provider": "hubspot", "duration_ms": 245},
            {"key": "crm_create", "kind": "action", "status": "success"},
        ]))
        .unwrap();
        assert_eq!(records[0].severity, Severity::Error);
        assert_eq!(records[0].duration_ms, Some(245));
        assert_eq!(records[1].severity, Severity::Info);
    }

    #[test]
    fn every_bad_field_is_reported_with_its_index() {
        let errors = parse(json!([
            {"key": "ok"},
            {"severity": "loud", "message": "x"},
            "not an object",
            {"key": "a b", "occurred_at": "yesterday", "workspace": "other"},
        ]))
        .unwrap_err();
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(found, vec![(1, "key"), (1, "severity"), (2, ""), (3, "key"), (3, "workspace"), (3, "occurred_at")]);
        assert_eq!(errors[1].message, "expected one of info, warning, error, critical");
    }

    #[test]
    fn changes_become_old_and_new() {
        let records = parse(json!([{"key": "member.role_changed", "changes": {"role": ["viewer", "admin"], "x": {"from": 1, "to": 2}}}])).unwrap();
        assert_eq!(records[0].diff.as_deref(), Some(r#"{"new":{"role":"admin","x":2},"old":{"role":"viewer","x":1}}"#));
    }

    #[test]
    fn a_spanning_key_needs_a_known_workspace() {
        let rules = WorkspaceRules { key_workspace: None, known: HashMap::from([("acme".to_string(), 9)]) };
        let items = json!([{"key": "a", "workspace": "acme"}, {"key": "b"}, {"key": "c", "workspace": "nope"}]);
        let errors = parse_records(items.as_array().unwrap(), &rules, Micros(0)).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].message.starts_with("required"));
        assert_eq!(errors[1].message, "unknown workspace \"nope\"");
        assert_eq!(named_workspaces(items.as_array().unwrap()), vec!["acme", "nope"]);
    }

    #[test]
    fn cloudevents_map_onto_records() {
        let ce = json!({"specversion": "1.0", "id": "e1", "source": "/billing", "type": "invoice.generated",
                        "time": "2026-11-20T10:00:00Z", "data": {"total": 5}, "severity": "warning", "actorid": "u_9"});
        let records = parse(json!([from_cloudevent(&ce)])).unwrap();
        let r = &records[0];
        assert_eq!((r.key.as_str(), r.event_id.as_deref(), r.context.as_deref()), ("invoice.generated", Some("e1"), Some("/billing")));
        assert_eq!((r.severity, r.actor_id.as_deref()), (Severity::Warning, Some("u_9")));
        assert_eq!(r.occurred_at.to_rfc3339(), "2026-11-20T10:00:00.000000Z");
    }
}
