//! Turns submitted JSON into validated records, collecting one error per bad
//! field so the producer can fix a whole batch at once.
//!
//! Field names are matched after camelCase → snake_case, so `eventKey`,
//! `entityId` and `durationMs` work as well as `event_key`, `entity_id`...

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;

use app::audit::PLATFORM_WORKSPACE;
use app::model::{client_address, ActorType, Kind, Micros, Severity, Status, Visibility};
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
pub(super) const MAX_KEY_LEN: usize = 200;
const MAX_TEXT_LEN: usize = 1_000;
const MAX_MESSAGE_LEN: usize = 10_000;
/// An entity's type or id, an actor's id: bytes of UTF-8, besides the
/// characters' limit (see `parse_record`).
const MAX_INDEXED_BYTES: usize = 1_200;
const MAX_STACK_LEN: usize = 100_000;
/// The longest IPv6 address with a zone fits well within it.
const MAX_IP_LEN: usize = 100;

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
            // Trimmed, as `resolve_workspace` reads it.
            fields.first(WORKSPACE_NAMES).and_then(|(_, v)| v.as_str()).map(|slug| slug.trim().to_owned())
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

/// An object's fields by normalised (snake_case) name; the first spelling
/// wins. A record has a dozen or two fields: a linear scan beats hashing
/// them, and names already in snake_case are not copied. Each field notes
/// whether parsing asked for it and used it, so that nothing sent is
/// dropped unsaid ([`Fields::unused`]).
struct Fields<'a> {
    by_name: Vec<Field<'a>>,
}

struct Field<'a> {
    normalised: Cow<'a, str>,
    original: &'a str,
    value: &'a Value,
    /// Another spelling of a field already given (`entityId` after `entity_id`).
    repeat: bool,
    /// Its name is one parsing looks for.
    asked: Cell<bool>,
    /// Its value went into the record.
    used: Cell<bool>,
}

impl<'a> Fields<'a> {
    fn new(object: &'a Map<String, Value>) -> Self {
        let mut by_name: Vec<Field<'a>> = Vec::with_capacity(object.len());
        for (name, value) in object {
            let normalised = snake_case(name);
            let repeat = by_name.iter().any(|seen| seen.normalised == normalised);
            by_name.push(Field {
                normalised,
                original: name.as_str(),
                value,
                repeat,
                asked: Cell::new(false),
                used: Cell::new(false),
            });
        }
        Fields { by_name }
    }

    /// Every spelling of `name` sent (the first, then repeats), each noted
    /// as asked for.
    fn spellings<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Field<'a>> + 's {
        self.by_name.iter().filter(move |field| field.normalised == name).inspect(|field| field.asked.set(true))
    }

    /// Notes `names` as asked for without taking them: one sent beside the
    /// spelling that was taken is then named as given twice.
    fn ask(&self, names: &[&str]) {
        names.iter().for_each(|name| self.spellings(name).for_each(drop));
    }

    /// The first of `names` with a value, with the spelling used. Null (and,
    /// `skip_blank`, blank text) counts as absent; every spelling is asked
    /// for, so a second one with a value is named.
    fn pick(&self, names: &[&str], skip_blank: bool) -> Option<(&'a str, &'a Value)> {
        let mut chosen = None;
        for field in names.iter().flat_map(|name| self.spellings(name)) {
            let absent = field.value.is_null() || (skip_blank && is_blank(field.value));
            if absent || chosen.is_none() {
                field.used.set(true);
            }
            if !absent && chosen.is_none() {
                chosen = Some((field.original, field.value));
            }
        }
        chosen
    }

    /// The first of `names` that is present and not null, with the name used.
    fn first(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        self.pick(names, false)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.first(&[name]).map(|(_, v)| v)
    }

    /// An optional field's value: null or blank text is no value (the
    /// field's default then), as for the other optional fields.
    fn given(&self, names: &[&str]) -> Option<(&'a str, &'a Value)> {
        self.pick(names, true)
    }

    /// Fields read and deliberately not kept (`id`, `received_at`: the
    /// server assigns them, so an exported record can be sent again).
    fn ignore(&self, names: &[&str]) {
        names.iter().flat_map(|name| self.spellings(name)).for_each(|field| field.used.set(true));
    }

    /// Reports every field with a value that went nowhere: a name Trail
    /// does not know, or a second spelling of one it used.
    fn unused(&self, prefix: &str, problems: &mut Problems) {
        for field in self.by_name.iter().filter(|f| !f.used.get() && !f.value.is_null()) {
            let name = format!("{prefix}{}", field.original);
            if field.repeat || field.asked.get() {
                problems.add(&name, "given twice, under two names: send one");
            } else {
                problems.add(&name, "not a field of a record (docs/api.md lists them)");
            }
        }
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

/// The one character neither backend can keep in text: PostgreSQL refuses it
/// in `text` and `jsonb`, and SQLite's text functions stop at it. Refused on
/// both, so both store the same records.
const NUL: char = '\0';
const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// A text field: a string, or for identifiers also a number. Blank text is
/// the field left out; `required` fields (and identifiers whose blank value
/// would silently change what happens) report it instead.
fn text(value: &Value, field: &str, max: usize, numbers_ok: bool, problems: &mut Problems) -> Option<String> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        // Only a whole number keeps its digits: JSON's others arrive as
        // floats, and two ids beyond 64 bits would round to one.
        Value::Number(n) if numbers_ok && (n.is_i64() || n.is_u64()) => n.to_string(),
        Value::Number(_) if numbers_ok => {
            problems.add(field, "a number with a fraction or beyond 64 bits loses digits: send it as a string");
            return None;
        }
        _ => {
            problems.add(field, if numbers_ok { "expected a string or a number" } else { "expected a string" });
            return None;
        }
    };
    if text.chars().count() > max {
        problems.add(field, format!("longer than {max} characters"));
        return None;
    }
    if text.contains(NUL) {
        problems.add(field, NUL_MESSAGE);
        return None;
    }
    (!text.is_empty()).then_some(text)
}

fn is_blank(value: &Value) -> bool {
    value.as_str().is_some_and(|text| text.trim().is_empty())
}

/// A text field that must not be blank when given.
fn non_blank(value: &Value, field: &str, max: usize, numbers_ok: bool, problems: &mut Problems) -> Option<String> {
    let before = problems.errors.len();
    let found = text(value, field, max, numbers_ok, problems);
    if found.is_none() && problems.errors.len() == before {
        problems.add(field, "must not be empty");
    }
    found
}

/// Free JSON (`payload`, `diff`) with no NUL in any string or member name.
fn check_json(value: &Value, field: &str, problems: &mut Problems) {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains(NUL),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(members) => members.iter().any(|(name, v)| name.contains(NUL) || has_nul(v)),
            _ => false,
        }
    }
    if has_nul(value) {
        problems.add(field, NUL_MESSAGE);
    }
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
        let flat = format!("{}_{part}", self.prefix);
        let names: Vec<&str> = std::iter::once(flat.as_str()).chain(flat_aliases.iter().copied()).collect();
        if let Some(value) = self.object.as_ref().and_then(|o| o.get(part)) {
            // Asked all the same: a flat spelling beside the object is a second one.
            self.fields.ask(&names);
            return Some((format!("{}.{part}", self.prefix), value));
        }
        self.fields.first(&names).map(|(name, value)| (snake_case(name).into_owned(), value))
    }

    /// Notes a part as asked for, in the object and flat, without taking it
    /// (a shorthand gave its value: `"actor": "u_1"`, `"error": "…"`).
    fn ask(&self, part: &str, flat_aliases: &[&str]) {
        let flat = format!("{}_{part}", self.prefix);
        self.fields.ask(&[flat.as_str()]);
        self.fields.ask(flat_aliases);
        if let Some(object) = &self.object {
            object.ask(&[part]);
        }
    }

    /// The object's fields that went nowhere ([`Fields::unused`]).
    fn unused(&self, problems: &mut Problems) {
        if let Some(object) = &self.object {
            object.unused(&format!("{}.", self.prefix), problems);
        }
    }

    fn text(&self, part: &str, aliases: &[&str], max: usize, problems: &mut Problems) -> Option<String> {
        let (field, value) = self.get(part, aliases)?;
        text(value, &field, max, part == "id", problems)
    }

    /// An indexed part ([`indexed_text`]), named as it was given.
    fn indexed_text(&self, part: &str, aliases: &[&str], problems: &mut Problems) -> Option<String> {
        let (field, value) = self.get(part, aliases)?;
        indexed_text(value, &field, part == "id", problems)
    }
}

/// Text that is indexed (an entity's type and id, an actor's id): besides
/// its characters, bounded in bytes. PostgreSQL's B-tree indexes hold at
/// most ~2.7 KB per entry (the entity's two together): 1,000 characters of
/// 3 or 4 bytes each would be refused at the commit (a 500). Both databases
/// refuse them here alike, under the name the field was given.
fn indexed_text(value: &Value, field: &str, numbers_ok: bool, problems: &mut Problems) -> Option<String> {
    let text = text(value, field, MAX_TEXT_LEN, numbers_ok, problems)?;
    if text.len() > MAX_INDEXED_BYTES {
        problems.add(field, format!("longer than {MAX_INDEXED_BYTES} bytes of UTF-8 (it is indexed)"));
        return None;
    }
    Some(text)
}

/// The client's address, kept as sent: one `ip:` finds (IPv4 or IPv6).
/// Anything else (`unknown`, a port, a list of proxies) would be stored
/// where no search of addresses could ever find it.
fn ip_address(value: &Value, field: &str, problems: &mut Problems) -> Option<String> {
    let ip = text(value, field, MAX_IP_LEN, false, problems)?;
    if client_address(&ip).is_none() {
        problems.add(field, "not an IP address: expected IPv4 (203.0.113.7) or IPv6 (2001:db8::1)");
        return None;
    }
    Some(ip)
}

fn parse_record(f: &Fields, rules: &WorkspaceRules, now: Micros, problems: &mut Problems) -> Option<NewRecord> {
    let before = problems.errors.len();
    let opt_text = |names: &[&str], max: usize, numbers_ok: bool, problems: &mut Problems| {
        f.first(names).and_then(|(name, v)| text(v, &snake_case(name), max, numbers_ok, problems))
    };

    let key = match f.first(KEY_NAMES) {
        Some((name, value)) => non_blank(value, &snake_case(name), MAX_KEY_LEN, false, problems)
            .and_then(|k| valid_key(&k).map_err(|m| problems.add("key", m)).ok().map(|_| k)),
        None => {
            problems.add("key", "required: what happened, e.g. \"brand.created\" or \"track_publish\"");
            None
        }
    };
    let workspace_id = resolve_workspace(f, rules, problems);
    let kind = f.given(&["kind"]).map_or(Some(Kind::Event), |(_, v)| choice(v, "kind", problems));
    let visibility =
        f.given(&["visibility"]).map_or(Some(Visibility::Internal), |(_, v)| choice(v, "visibility", problems));
    let status: Option<Status> = f.given(&["status"]).and_then(|(_, v)| choice(v, "status", problems));
    let severity: Option<Severity> = f.given(&["severity"]).and_then(|(_, v)| choice(v, "severity", problems));
    let duration_ms = f.given(&["duration_ms"]).and_then(|(_, v)| duration(v, problems));
    let occurred_at =
        f.given(OCCURRED_NAMES).map_or(Some(now), |(name, v)| timestamp(v, &snake_case(name), now, problems));

    let actor = Nested::new(f, "actor");
    let actor_id = match f.get("actor").filter(|v| !v.is_object()) {
        // `"actor": "u_12"` is shorthand for the actor's id.
        Some(value) => {
            actor.ask("id", &["user_id"]);
            indexed_text(value, "actor", true, problems)
        }
        None => actor.indexed_text("id", &["user_id"], problems),
    };
    let actor_type = match actor.get("type", &[]).filter(|(_, v)| !is_blank(v)) {
        Some((field, value)) => choice(value, &field, problems),
        None => Some(if actor_id.is_some() { ActorType::User } else { ActorType::System }),
    };
    let entity = Nested::new(f, "entity");
    // Absent, null or blank is no entity; other text names no type.
    if f.get("entity").is_some_and(|v| !v.is_object() && !v.is_null() && !is_blank(v)) {
        problems.add("entity", "expected an object: {\"type\": …, \"id\": …}");
    }
    let error = Nested::new(f, "error");
    let (error_message, error_stack) = match f.get("error") {
        // The message as text; a stack may come beside it (`error_stack`).
        Some(Value::String(_)) => {
            error.ask("message", &[]);
            (opt_text(&["error"], MAX_MESSAGE_LEN, false, problems), error.text("stack", &[], MAX_STACK_LEN, problems))
        }
        Some(Value::Number(_) | Value::Array(_)) => {
            problems.add("error", "expected a message or an object: {\"message\": …, \"stack\": …}");
            (None, None)
        }
        // An object, or a flag (`"error": true`) beside `error_message`.
        flag => {
            let message = error.text("message", &[], MAX_MESSAGE_LEN, problems);
            // A flag alone would store nothing of the error it reports.
            if flag == Some(&Value::Bool(true)) && message.is_none() {
                problems.add(
                    "error",
                    "true needs the error's message beside it: error_message (message is the record's own sentence), or {\"message\": …}",
                );
            }
            (message, error.text("stack", &[], MAX_STACK_LEN, problems))
        }
    };
    let diff = parse_diff(f, problems);
    let severity = match (severity, kind) {
        (Some(severity), _) => Some(severity),
        (None, Some(kind)) => Some(default_severity(kind, status)),
        (None, None) => None,
    };
    // Every field is checked before any is unwrapped, so one pass reports every problem.
    // A blank event_id would silently turn off the duplicate check the producer asked for.
    let event_id = f
        .first(&["event_id", "idempotency_key"])
        .and_then(|(name, v)| non_blank(v, &snake_case(name), MAX_KEY_LEN, true, problems));
    let brand = opt_text(&["brand"], MAX_KEY_LEN, false, problems);
    let message = opt_text(&["message", "description"], MAX_MESSAGE_LEN, false, problems);
    let context = opt_text(&["context", "source"], MAX_TEXT_LEN, false, problems);
    let entity_type = entity.indexed_text("type", &["target_type", "resource_type"], problems);
    let entity_id = entity.indexed_text("id", &["target_id", "resource_id"], problems);
    let actor_email = actor.text("email", &["user_email"], MAX_TEXT_LEN, problems);
    let actor_name = actor.text("name", &["user_name"], MAX_TEXT_LEN, problems);
    let actor_label = actor.text("label", &[], MAX_TEXT_LEN, problems);
    let ip = f.first(&["ip", "ip_address"]).and_then(|(name, v)| ip_address(v, &snake_case(name), problems));
    let user_agent = opt_text(&["user_agent"], MAX_TEXT_LEN, false, problems);
    let provider = opt_text(&["provider"], MAX_KEY_LEN, false, problems);
    let correlation_id = opt_text(CORRELATION_NAMES, MAX_KEY_LEN, true, problems);
    let payload = f.first(PAYLOAD_NAMES).map(|(name, v)| {
        check_json(v, &snake_case(name), problems);
        v.to_string()
    });
    if let Some(diff) = &diff {
        check_json(diff, "diff", problems);
    }
    // Nothing sent is dropped unsaid: a name no field has, or a field given
    // twice (`payload` and `meta`), is refused, naming it.
    f.ignore(&["id", "received_at"]);
    f.unused("", problems);
    for nested in [&actor, &entity, &error] {
        nested.unused(problems);
    }
    // A record is either stored or reported: every field that ended up
    // missing has said why, and this is the check that nothing slipped by.
    let (
        Some(workspace_id),
        Some(kind),
        Some(key),
        Some(actor_type),
        Some(visibility),
        Some(severity),
        Some(occurred_at),
    ) = (workspace_id, kind, key, actor_type, visibility, severity, occurred_at)
    else {
        if problems.errors.len() == before {
            problems.add("", "invalid record");
        }
        return None;
    };
    if problems.errors.len() > before {
        return None;
    }
    let record = NewRecord {
        id: Uuid::now_v7(),
        workspace_id,
        event_id,
        brand,
        kind,
        key,
        message,
        context,
        entity_type,
        entity_id,
        actor_type,
        actor_id,
        actor_email,
        actor_name,
        actor_label,
        ip,
        user_agent,
        visibility,
        severity,
        status,
        duration_ms,
        provider,
        error_message,
        error_stack,
        correlation_id,
        payload,
        diff: diff.map(|d| d.to_string()),
        occurred_at,
        received_at: now,
    };
    Some(record)
}

/// A failed or timed-out action is an error; everything else is info.
pub fn default_severity(kind: Kind, status: Option<Status>) -> Severity {
    match (kind, status) {
        (Kind::Action, Some(status)) if status.is_failure() => Severity::Error,
        _ => Severity::Info,
    }
}

fn valid_key(key: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/');
    if !key.starts_with(|c: char| c.is_ascii_alphanumeric()) || !key.chars().all(allowed) {
        return Err(
            "expected a name like \"domain.action\" or \"snake_case\" (ASCII letters and digits, and _ . - : /)".into(),
        );
    }
    Ok(())
}

fn resolve_workspace(f: &Fields, rules: &WorkspaceRules, problems: &mut Problems) -> Option<i64> {
    let before = problems.errors.len();
    let named = f.first(WORKSPACE_NAMES).and_then(|(_, v)| non_blank(v, "workspace", MAX_KEY_LEN, false, problems));
    if problems.errors.len() > before {
        return None;
    }
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
        (None, Some(named)) if named == PLATFORM_WORKSPACE => {
            problems.add("workspace", format!("\"{named}\" holds Trail's own audit records; no API key writes to it"));
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

/// The longest `duration_ms`: a year. Longer is a mistake (seconds since
/// 1970 sent as a duration), and sums of durations stay far from overflowing.
pub const MAX_DURATION_MS: i64 = 365 * 24 * 3_600_000;

/// Milliseconds, rounded to a whole one, from 0 to [`MAX_DURATION_MS`].
fn duration(value: &Value, problems: &mut Problems) -> Option<i64> {
    match value.as_f64() {
        Some(ms) if (0.0..=MAX_DURATION_MS as f64).contains(&ms) => Some(ms.round() as i64),
        Some(_) => {
            problems.add("duration_ms", format!("expected milliseconds from 0 to {MAX_DURATION_MS} (a year)"));
            None
        }
        None => {
            problems.add("duration_ms", "expected a number of milliseconds");
            None
        }
    }
}

/// How far past the server's clock `occurred_at` may lie: room for clock
/// skew, but not enough to pin a record to the top of every feed.
pub const MAX_FUTURE_US: i64 = 3_600_000_000;

/// RFC 3339 text, or a number of milliseconds since the Unix epoch, within
/// Trail's calendar and at most an hour ahead of the server.
fn timestamp(value: &Value, field: &str, now: Micros, problems: &mut Problems) -> Option<Micros> {
    let parsed = match value {
        Value::String(s) => {
            DateTime::parse_from_rfc3339(s.trim()).ok().map(|t| t.with_timezone(&Utc).timestamp_micros())
        }
        Value::Number(n) => n.as_i64().and_then(|ms| ms.checked_mul(1_000)),
        _ => None,
    };
    let Some(us) = parsed else {
        problems.add(field, "expected an RFC 3339 time such as \"2026-11-21T09:30:00Z\" or epoch milliseconds");
        return None;
    };
    match Micros::in_calendar(us) {
        None => problems.add(field, format!("outside {}", Micros::RANGE_TEXT)),
        Some(at) if at.0 > now.0.saturating_add(MAX_FUTURE_US) => {
            problems.add(field, "more than an hour after the server's clock")
        }
        Some(at) => return Some(at),
    }
    None
}

/// `diff: {old, new}`, or `before`/`after`, or `changes: {field: {old, new} | [old, new]}`,
/// all stored as `{"old": {...}, "new": {...}}`.
fn parse_diff(f: &Fields, problems: &mut Problems) -> Option<Value> {
    // One of the three ways: another beside it is named as given twice.
    f.ask(&["diff", "before", "after", "changes"]);
    if let Some(diff) = f.get("diff") {
        return match diff.as_object() {
            Some(o) if o.contains_key("old") || o.contains_key("new") => {
                // Beside old and new, a member would be dropped unsaid.
                for other in o.keys().filter(|name| !matches!(name.as_str(), "old" | "new")) {
                    problems.add(&format!("diff.{other}"), "a diff holds old and new only");
                }
                let side = |name| o.get(name).cloned().unwrap_or(Value::Null);
                Some(serde_json::json!({ "old": side("old"), "new": side("new") }))
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

    /// Nothing sent is lost in the conversion: an id beyond 64 bits, a
    /// diff's third member, an error flag with no error.
    #[test]
    fn what_would_be_lost_is_refused() {
        for (record, field) in [
            (json!({"key": "k", "event_id": 98765432109876543210001_f64}), "event_id"),
            (json!({"key": "k", "event_id": 1.5}), "event_id"),
            (json!({"key": "k", "actor": {"id": -1e300}}), "actor.id"),
            (json!({"key": "k", "diff": {"old": {}, "new": {}, "extra": 1}}), "diff.extra"),
            (json!({"key": "k", "error": true}), "error"),
        ] {
            let errors = parse(json!([record])).unwrap_err();
            assert_eq!(errors[0].field, field, "{errors:?}");
        }
        let kept = parse(json!([
            {"key": "k", "event_id": u64::MAX, "error": true, "error_message": "boom"},
            {"key": "k", "event_id": i64::MIN, "error": false},
        ]))
        .unwrap();
        assert_eq!(kept[0].event_id.as_deref(), Some("18446744073709551615"));
        assert_eq!(kept[0].error_message.as_deref(), Some("boom"));
        assert_eq!(
            (kept[1].event_id.as_deref(), kept[1].error_message.as_deref()),
            (Some("-9223372036854775808"), None)
        );
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

    /// A required field given as blank text is reported, never dropped:
    /// every record of a batch is either stored or named in an error.
    #[test]
    fn indexed_ids_are_bounded_in_bytes_too() {
        let wide = "字".repeat(401); // 1,203 bytes in 401 characters
        let long = "a".repeat(1_001);
        // Named as given, whichever limit it passes.
        for (record, field) in [
            (json!({"key": "k", "entity": {"type": wide, "id": "1"}}), "entity.type"),
            (json!({"key": "k", "entity": {"type": "t", "id": long}}), "entity.id"),
            (json!({"key": "k", "entity_id": wide}), "entity_id"),
            (json!({"key": "k", "actor": wide}), "actor"),
            (json!({"key": "k", "actor": {"id": wide}}), "actor.id"),
            (json!({"key": "k", "actor": {"id": long}}), "actor.id"),
        ] {
            let errors = parse(json!([record])).unwrap_err();
            assert_eq!(errors[0].field, field, "{errors:?}");
        }
        let fits = "字".repeat(400);
        assert!(parse(json!([{"key": "k", "entity": {"type": fits, "id": fits}, "actor": fits}])).is_ok());
    }

    /// A field Trail does not know, or one given under two names, is named
    /// in a 422, not dropped; `id` and `received_at` (the server's) are not.
    #[test]
    fn nothing_sent_is_dropped_unsaid() {
        for legitimate in [
            json!({"key": "k", "error": "boom", "error_stack": "at f()"}),
            json!({"key": "k", "occurred_at": "", "timestamp": "1970-01-01T00:00:00Z"}),
            json!({"key": "k", "entityId": null, "entity_id": "e"}),
        ] {
            let parsed = parse(json!([legitimate.clone()]));
            assert!(parsed.is_ok(), "{legitimate}: {parsed:?}");
        }
        let stack = &parse(json!([{"key": "k", "error": "boom", "error_stack": "at f()"}])).unwrap()[0];
        assert_eq!((stack.error_message.as_deref(), stack.error_stack.as_deref()), (Some("boom"), Some("at f()")));
        for twice in [
            json!({"key": "k", "error": "x", "error_message": "y"}),
            json!({"key": "k", "actor": "u_1", "user_id": "u_2"}),
            json!({"key": "k", "diff": {"old": {}, "new": {}}, "changes": {"a": [1, 2]}}),
        ] {
            let errors = parse(json!([twice.clone()])).unwrap_err();
            assert!(errors.iter().all(|e| e.message.starts_with("given twice")), "{twice}: {errors:?}");
        }
        let record = json!({"key": "k", "paylaod": {"a": 1}, "payload": {}, "meta": {"b": 2},
                            "actor": {"id": "u", "mail": "x@y"}, "actor_id": "v", "entityId": "1", "entity_id": "2",
                            "error": {"message": "m", "code": 7}, "nothing": null, "id": "x", "received_at": "y"});
        let errors = parse(json!([record])).unwrap_err();
        let mut named: Vec<(&str, &str)> =
            errors.iter().map(|e| (e.field.as_str(), e.message.split(':').next().unwrap())).collect();
        named.sort();
        let (twice, unknown) = ("given twice, under two names", "not a field of a record (docs/api.md lists them)");
        let repeat = if errors.iter().any(|e| e.field == "entity_id") { "entity_id" } else { "entityId" };
        let mut expected = vec![
            ("actor.mail", unknown),
            ("actor_id", twice),
            ("error.code", unknown),
            ("meta", twice),
            ("paylaod", unknown),
        ];
        expected.push((repeat, twice));
        expected.sort();
        assert_eq!(named, expected, "{errors:?}");
        let exported =
            json!({"key": "k", "id": "0193a1b2-0000-7000-8000-000000000000", "received_at": "2026-11-20T10:00:00Z"});
        assert!(parse(json!([exported])).is_ok(), "the server's own fields are read and left");
    }

    /// Optional fields, blank or null, take their defaults.
    #[test]
    fn blank_optional_fields_are_absent() {
        for blank in [json!(""), json!("  "), json!(null)] {
            let record = json!({"key": "k", "kind": blank, "visibility": blank, "status": blank, "severity": blank,
                                "duration_ms": blank, "occurred_at": blank, "actor": {"id": "u", "type": blank}});
            let parsed = &parse(json!([record])).unwrap()[0];
            assert_eq!(
                (parsed.kind, parsed.visibility, parsed.severity),
                (Kind::Event, Visibility::Internal, Severity::Info)
            );
            assert_eq!((parsed.status, parsed.duration_ms, parsed.occurred_at), (None, None, parsed.received_at));
            assert_eq!(parsed.actor_type, ActorType::User);
        }
    }

    #[test]
    fn blank_required_fields_are_errors() {
        for blank in ["", "   ", "\t\n"] {
            for name in KEY_NAMES {
                let errors = parse(json!([{"key": "ok"}, {*name: blank}])).unwrap_err();
                assert_eq!(errors.len(), 1, "{name}={blank:?}");
                assert_eq!((errors[0].index, errors[0].message.as_str()), (1, "must not be empty"), "{name}={blank:?}");
            }
            for (name, value) in
                [("workspace", json!(blank)), ("event_id", json!(blank)), ("idempotency_key", json!(blank))]
            {
                let errors = parse(json!([{"key": "ok", name: value}])).unwrap_err();
                assert_eq!((errors[0].field.as_str(), errors[0].message.as_str()), (name, "must not be empty"));
            }
        }
        assert_eq!(parse(json!([{}])).unwrap_err()[0].field, "key");
    }

    #[test]
    fn nul_is_refused_in_every_text_and_json_field() {
        let text_fields = [
            "key",
            "event_id",
            "brand",
            "message",
            "context",
            "entity_type",
            "entity_id",
            "actor_id",
            "actor_email",
            "actor_name",
            "actor_label",
            "ip",
            "user_agent",
            "provider",
            "correlation_id",
            "workspace",
        ];
        for field in text_fields {
            let mut record = json!({"key": "ok"});
            record[field] = json!("before\u{0}after");
            let errors = parse(json!([record])).unwrap_err();
            assert!(errors.iter().any(|e| e.field == field && e.message.contains("NUL")), "{field}: {errors:?}");
        }
        for (field, value) in [
            ("error", json!({"message": "a\u{0}b"})),
            ("payload", json!({"deep": [{"x": "a\u{0}"}]})),
            ("payload", json!({"na\u{0}me": 1})),
            ("diff", json!({"old": {"a": "\u{0}"}, "new": {}})),
        ] {
            let errors = parse(json!([{"key": "ok", field: value}])).unwrap_err();
            assert!(errors[0].message.contains("NUL"), "{field}: {errors:?}");
        }
    }

    #[test]
    fn times_outside_the_calendar_or_far_ahead_are_errors() {
        let now = Micros::now();
        let at = |value: Value| parse_records(&[json!({"key": "k", "occurred_at": value})], &rules(), now);
        for bad in [
            json!(9_000_000_000_000_000_i64),
            json!(-1),
            json!(i64::MAX),
            json!(1.5e12),
            json!("+10000-01-01T00:00:00Z"),
            json!("1969-12-31T23:59:59Z"),
            json!("yesterday"),
            json!(true),
            json!((now.0 + MAX_FUTURE_US) / 1_000 + 60_000),
        ] {
            let errors = at(bad.clone()).unwrap_err();
            assert_eq!(errors[0].field, "occurred_at", "{bad}");
        }
        assert_eq!(at(json!(0)).unwrap()[0].occurred_at, Micros::MIN);
        assert!(at(json!((now.0 + MAX_FUTURE_US) / 1_000 - 60_000)).is_ok(), "clock skew is allowed");
        assert!(at(json!("2026-11-20T10:00:00+02:00")).is_ok());
    }
}
