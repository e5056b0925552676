//! CloudEvents 1.0 over HTTP: structured mode (`application/cloudevents+json`
//! and its batch form) and binary mode (`ce-*` headers, the data as the body,
//! which the official SDKs send by default). Both become Trail's record shape
//! and then go through the same checks as any record.

use axum::http::HeaderMap;
use base64::prelude::{Engine, BASE64_STANDARD};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

use super::parse::MAX_KEY_LEN;
use crate::error::FieldError;

/// The only version of the specification Trail reads.
const SPEC_VERSION: &str = "1.0";
/// Attributes every event must carry, as non-empty strings (spec, "Required Attributes").
const REQUIRED: &[&str] = &["id", "source", "specversion", "type"];

/// Context attributes and the record fields they become.
const MAPPED: &[(&str, &str)] = &[
    ("type", "key"),
    ("id", "event_id"), // then `source id`: see to_record
    ("source", "context"),
    ("time", "occurred_at"),
    ("subject", "entity_id"),
    ("data", "payload"),
    ("data_base64", "payload"),
];

/// The extension that holds a number (the rest are strings): in binary mode
/// it arrives as header text, as every attribute does.
const NUMBER_EXTENSION: &str = "durationms";

/// Extension attributes named like Trail fields without underscores
/// (`workspace`, `severity`, `actorid`, `entitytype`, `correlationid`...) carry over.
const EXTENSIONS: &[&str] = &[
    "workspace",
    "brand",
    "kind",
    "message",
    "severity",
    "visibility",
    "status",
    "provider",
    "duration_ms",
    "correlation_id",
    "trace_id",
    "entity_type",
    "entity_id",
    "actor_type",
    "actor_id",
    "actor_email",
    "actor_name",
    "actor_label",
    "ip",
    "user_agent",
];

/// Whether the request is a binary-mode event (its attributes in headers).
pub fn is_binary(headers: &HeaderMap) -> bool {
    headers.contains_key("ce-specversion")
}

/// The event of a binary-mode request as its structured JSON form: every
/// `ce-` header an attribute (percent-decoded, as the HTTP binding says), and
/// the body its `data`: JSON when the content type says so, else text.
pub fn binary_event(headers: &HeaderMap, content_type: &str, body: &[u8]) -> Result<Value, String> {
    let mut event = Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else { continue };
        let value = value.to_str().map_err(|_| format!("header {name}: not visible ASCII"))?;
        let value = percent_decode_str(value).decode_utf8().map_err(|_| format!("header {name}: not UTF-8"))?;
        let number = (attribute == NUMBER_EXTENSION).then(|| serde_json::from_str(value.trim()).ok()).flatten();
        let value = number.map_or_else(|| Value::String(value.into_owned()), Value::Number);
        event.insert(attribute.to_owned(), value);
    }
    if !content_type.is_empty() {
        event.insert("datacontenttype".into(), Value::String(content_type.to_owned()));
    }
    if !body.is_empty() {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let data = if essence == "application/json" || essence.ends_with("+json") {
            serde_json::from_slice(body).map_err(|e| super::not_json(&e))?
        } else {
            let text = std::str::from_utf8(body).map_err(|_| "the body is neither JSON nor UTF-8 text".to_owned())?;
            Value::String(text.to_owned())
        };
        event.insert("data".into(), data);
    }
    Ok(Value::Object(event))
}

/// Checks one event against the specification and turns it into Trail's
/// record shape; an error names the CloudEvents attribute.
pub fn to_record(event: &Value, index: usize) -> Result<Value, Vec<FieldError>> {
    let error = |field: &str, message: String| FieldError { index, field: field.to_owned(), message };
    let Some(ce) = event.as_object() else {
        return Err(vec![error("", "expected a CloudEvent (a JSON object)".into())]);
    };
    let mut errors = Vec::new();
    for name in REQUIRED {
        match ce.get(*name) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(Value::String(_)) => errors.push(error(name, "must not be empty".into())),
            Some(_) => errors.push(error(name, "expected a string".into())),
            None => errors.push(error(name, "required by CloudEvents 1.0".into())),
        }
    }
    // `source` + `id` name an event (spec, "id"): the record's `event_id`
    // holds both, parted by a space a URI-reference cannot contain. The id
    // keeps the limit an event_id has.
    if ce.get("id").and_then(Value::as_str).is_some_and(|id| id.trim().chars().count() > MAX_KEY_LEN) {
        errors.push(error("id", format!("longer than {MAX_KEY_LEN} characters")));
    }
    if ce.get("source").and_then(Value::as_str).is_some_and(|source| source.trim().contains(char::is_whitespace)) {
        errors.push(error("source", "expected a URI-reference, which has no spaces (RFC 3986)".into()));
    }
    if ce.get("time").is_some_and(|time| !time.is_string() && !time.is_null()) {
        errors.push(error("time", "expected an RFC 3339 timestamp, as a string".into()));
    }
    if let Some(Value::String(version)) = ce.get("specversion") {
        if version != SPEC_VERSION && !version.trim().is_empty() {
            errors.push(error("specversion", format!("expected \"{SPEC_VERSION}\", got {version:?}")));
        }
    }
    // The specification's rules for data: one of the two, and base64 that is.
    if let Some(encoded) = ce.get("data_base64") {
        if ce.get("data").is_some() {
            errors.push(error("data_base64", "an event has data or data_base64, not both".into()));
        }
        let decodes = encoded.as_str().is_some_and(|text| BASE64_STANDARD.decode(text.trim()).is_ok());
        if !decodes {
            errors.push(error("data_base64", "expected base64 text (RFC 4648)".into()));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut record = Map::new();
    // Two attributes giving one field (`subject` and `entityid`) are named,
    // not one dropped (data and data_base64 were checked above).
    let mut given_by: Vec<(&str, String)> = Vec::new();
    let attributes = MAPPED.iter().map(|(attribute, field)| ((*attribute).to_owned(), *field));
    for (attribute, field) in attributes.chain(EXTENSIONS.iter().map(|name| (name.replace('_', ""), *name))) {
        let Some(value) = ce.get(&attribute) else { continue };
        match given_by.iter().find(|(taken, _)| *taken == field) {
            Some((_, first)) => {
                errors.push(error(&attribute, format!("gives the record's {field}, as {first} does: send one")));
            }
            None => {
                record.insert(field.to_owned(), value.clone());
                given_by.push((field, attribute));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // The id alone does not name an event: with its source it does.
    let text = |name: &str| ce.get(name).and_then(Value::as_str).unwrap_or_default().trim();
    record.insert("event_id".into(), Value::String(event_id(text("source"), text("id"))));
    Ok(Value::Object(record))
}

/// A record's `event_id` for an event: its source and id, parted by a space
/// (a URI-reference has none). A pair longer than an `event_id` may be is
/// named by its SHA-256 instead: still one name per event, and the source
/// stays whole in `context`.
fn event_id(source: &str, id: &str) -> String {
    let pair = format!("{source} {id}");
    if pair.chars().count() <= MAX_KEY_LEN {
        pair
    } else {
        format!("sha256:{}", crate::auth::sha256_hex(&pair))
    }
}

/// The attributes a record's `field` comes from (`occurred_at` is `time`;
/// `entity_id` is `subject or entityid`), so that an error about an event
/// names what its producer sent.
pub fn attribute_of(field: &str) -> String {
    let mut attributes: Vec<String> =
        MAPPED.iter().filter(|(_, to)| *to == field).map(|(attribute, _)| (*attribute).to_owned()).collect();
    if EXTENSIONS.contains(&field) {
        attributes.push(field.replace('_', ""));
    }
    if attributes.is_empty() {
        field.to_owned()
    } else {
        attributes.join(" or ")
    }
}

/// Every event of a batch in record shape, or every problem of the batch.
pub fn to_records(events: Vec<Value>) -> Result<Vec<Value>, Vec<FieldError>> {
    let mut records = Vec::with_capacity(events.len());
    let mut errors = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match to_record(event, index) {
            Ok(record) => records.push(record),
            Err(mut found) => errors.append(&mut found),
        }
    }
    if errors.is_empty() {
        Ok(records)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({"specversion": "1.0", "id": "e1", "source": "/billing", "type": "invoice.generated",
               "time": "2026-11-20T10:00:00Z", "data": {"total": 5}, "severity": "warning", "actorid": "u_9"})
    }

    #[test]
    fn two_attributes_for_one_field_are_named() {
        let mut both = event();
        both["entityid"] = json!("e_2");
        both["subject"] = json!("e_1");
        let errors = to_record(&both, 0).unwrap_err();
        assert_eq!((errors.len(), errors[0].field.as_str()), (1, "entityid"), "{errors:?}");
        assert!(errors[0].message.contains("as subject does"), "{errors:?}");
    }

    #[test]
    fn data_base64_is_base64_and_alone() {
        let mut both = event();
        both["data_base64"] = json!("aGk=");
        let errors = to_record(&both, 0).unwrap_err();
        assert_eq!(errors[0].field, "data_base64");
        assert!(errors[0].message.contains("not both"), "{errors:?}");
        let mut bad = event();
        bad.as_object_mut().unwrap().remove("data");
        bad["data_base64"] = json!("not base64!");
        assert!(to_record(&bad, 0).unwrap_err()[0].message.contains("base64"));
        bad["data_base64"] = json!("aGk=");
        assert_eq!(to_record(&bad, 0).unwrap()["payload"], json!("aGk="), "kept as sent");
    }

    /// Two sources may use one id for two events: each is its own record.
    #[test]
    fn an_event_is_named_by_its_source_and_id() {
        let mut other = event();
        other["source"] = json!("/shop");
        assert_ne!(to_record(&event(), 0).unwrap()["event_id"], to_record(&other, 0).unwrap()["event_id"]);
        // A long source (Azure's resource paths) with a 200-character id still names one event.
        let mut long = event();
        (long["source"], long["id"]) = (json!(format!("/{}", "s".repeat(900))), json!("i".repeat(200)));
        let named = to_record(&long, 0).unwrap()["event_id"].as_str().unwrap().to_owned();
        assert!(named.starts_with("sha256:") && named.len() <= MAX_KEY_LEN, "{named}");
        long["id"] = json!("j".repeat(200));
        assert_ne!(to_record(&long, 0).unwrap()["event_id"], json!(named));
        for (change, field) in [
            (json!({"source": "/a b"}), "source"),
            (json!({"time": 1_700_000_000_000_i64}), "time"),
            (json!({"id": "i".repeat(201)}), "id"),
        ] {
            let mut bad = event();
            bad.as_object_mut().unwrap().extend(change.as_object().unwrap().clone());
            assert_eq!(to_record(&bad, 0).unwrap_err()[0].field, field);
        }
    }

    #[test]
    fn attributes_map_onto_record_fields() {
        let record = to_record(&event(), 0).unwrap();
        assert_eq!(
            record,
            json!({"key": "invoice.generated", "event_id": "/billing e1", "context": "/billing", "occurred_at": "2026-11-20T10:00:00Z",
                   "payload": {"total": 5}, "severity": "warning", "actor_id": "u_9"})
        );
    }

    #[test]
    fn the_specification_version_and_required_attributes_are_checked() {
        for (change, field) in [
            (json!({"specversion": null}), "specversion"),
            (json!({"specversion": "0.1"}), "specversion"),
            (json!({"specversion": "1.0.1"}), "specversion"),
            (json!({"specversion": 1.0}), "specversion"),
            (json!({"id": ""}), "id"),
            (json!({"source": null}), "source"),
            (json!({"type": " "}), "type"),
        ] {
            let mut bad = event();
            for (name, value) in change.as_object().unwrap() {
                match value {
                    Value::Null => bad.as_object_mut().unwrap().remove(name),
                    other => bad.as_object_mut().unwrap().insert(name.clone(), other.clone()),
                };
            }
            let errors = to_records(vec![event(), bad]).unwrap_err();
            assert_eq!((errors[0].index, errors[0].field.as_str()), (1, field), "{change}");
        }
    }

    #[test]
    fn an_error_names_the_attribute_the_producer_sent() {
        for (field, attribute) in [
            ("occurred_at", "time"),
            ("key", "type"),
            ("payload", "data or data_base64"),
            ("entity_id", "subject or entityid"),
            ("duration_ms", "durationms"),
            ("actor_id", "actorid"),
            ("", ""),
        ] {
            assert_eq!(attribute_of(field), attribute);
        }
    }

    #[test]
    fn binary_mode_reads_headers_and_body() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "b1"),
            ("ce-source", "/shop"),
            ("ce-type", "order.paid"),
            ("ce-subject", "ord%201"),
            ("ce-durationms", "245.5"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        let event = binary_event(&headers, "application/json; charset=utf-8", br#"{"amount": 12}"#).unwrap();
        let record = to_record(&event, 0).unwrap();
        assert_eq!((record["key"].as_str(), record["event_id"].as_str()), (Some("order.paid"), Some("/shop b1")));
        assert_eq!((record["entity_id"].as_str(), &record["payload"]), (Some("ord 1"), &json!({"amount": 12})));
        assert_eq!(record["duration_ms"], json!(245.5), "a number, as the header's text spells it");
        let text = binary_event(&headers, "text/plain", b"hello").unwrap();
        assert_eq!(text["data"], json!("hello"));
        assert!(binary_event(&headers, "application/json", b"{nope").is_err());
        assert!(binary_event(&headers, "application/octet-stream", &[0xff, 0xfe]).is_err());
    }
}
