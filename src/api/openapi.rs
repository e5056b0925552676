//! `GET /api/openapi.json`: the HTTP API described from the code. Schemas
//! are derived from the Rust types the handlers serialise (schemars); a test
//! checks real responses against this document.

use std::sync::LazyLock;

use axum::Json;
use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};

use super::record::ApiRecord;
use super::{KeyCounts, RecordPage};
use crate::error::ErrorBody;
use crate::ingest::Accepted;

/// A record as sent to `POST /api/v1/events` (canonical names; the aliases of
/// docs/api.md are accepted too).
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
struct IngestRecord {
    /// What happened: `domain.action` or `snake_case`. Required.
    key: String,
    kind: Option<app::model::Kind>,
    /// Your own id; a repeat is stored once.
    event_id: Option<String>,
    /// Required for a key that spans workspaces.
    workspace: Option<String>,
    brand: Option<String>,
    message: Option<String>,
    context: Option<String>,
    entity: Option<IngestEntity>,
    actor: Option<IngestActor>,
    ip: Option<String>,
    user_agent: Option<String>,
    visibility: Option<app::model::Visibility>,
    severity: Option<app::model::Severity>,
    status: Option<app::model::Status>,
    duration_ms: Option<u64>,
    provider: Option<String>,
    error: Option<IngestError>,
    correlation_id: Option<String>,
    payload: Option<Value>,
    diff: Option<Value>,
    /// RFC 3339 (or epoch milliseconds), from 1970-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59Z and at most an hour after the server's clock;
    /// default: the time of receipt.
    occurred_at: Option<String>,
}

#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
struct IngestEntity {
    #[serde(rename = "type")]
    entity_type: Option<String>,
    id: Option<String>,
}

#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
struct IngestActor {
    #[serde(rename = "type")]
    actor_type: Option<app::model::ActorType>,
    id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    label: Option<String>,
}

#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
struct IngestError {
    message: Option<String>,
    stack: Option<String>,
}

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2019_09()
        .with(|s| {
            s.definitions_path = "#/components/schemas/".to_owned();
            s.meta_schema = None;
        })
        .into_generator()
}

fn schema<T: JsonSchema>(gen: &mut SchemaGenerator) -> Value {
    serde_json::to_value(gen.subschema_for::<T>()).expect("a schema is JSON")
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn query(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" }, "description": description })
}

/// A query parameter that takes one of `values`.
fn choice(name: &str, description: &str, values: &[&str]) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string", "enum": values }, "description": description })
}

fn names<T: Copy + std::fmt::Display>(all: &[T]) -> Vec<String> {
    all.iter().map(ToString::to_string).collect()
}

fn path_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "minLength": 1 } })
}

fn filter_params() -> Vec<Value> {
    use app::model::{Kind, Severity, Status, Visibility};
    let enums = [
        ("kind", "the record's kind", names(Kind::ALL)),
        ("severity", "exactly this severity", names(Severity::ALL)),
        ("errors", "true: warning, error and critical only", vec!["true".to_owned(), "false".to_owned()]),
        ("status", "an action's outcome", names(Status::ALL)),
        ("visibility", "who may see it besides founders and admins", names(Visibility::ALL)),
    ];
    let mut params: Vec<Value> = enums
        .iter()
        .map(|(name, description, values)| {
            choice(name, description, &values.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .collect();
    params.extend(
        [
            ("workspace", "workspace slug"),
            ("brand", "brand"),
            ("key", "exact key, or a prefix ending in *"),
            ("actor", "actor id (or email)"),
            ("entity_type", "with entity_id: one entity"),
            ("entity_id", "entity id"),
            ("provider", "provider of an action"),
            ("correlation_id", "records of one flow"),
            ("since", "date, RFC 3339 time or age (24h)"),
            ("until", "date, RFC 3339 time or age"),
            ("q", "the feed's search syntax: key:track_* actor:u_12 severity:>=warning \"text\""),
            ("cursor", "next_cursor of the previous page"),
        ]
        .iter()
        .map(|(n, d)| query(n, d)),
    );
    params.push(json!({ "name": "limit", "in": "query", "required": false,
                        "schema": { "type": "integer", "minimum": 1, "maximum": 1000, "default": 50 } }));
    params
}

fn build() -> Value {
    let mut gen = generator();
    let error = schema::<ErrorBody>(&mut gen);
    let record = schema::<ApiRecord>(&mut gen);
    let page = schema::<RecordPage>(&mut gen);
    let accepted = schema::<Accepted>(&mut gen);
    let ingest_record = schema::<IngestRecord>(&mut gen);
    let stats = schema::<app::model::Stats>(&mut gen);
    let counts = schema::<KeyCounts>(&mut gen);
    let health = schema::<app::health::Health>(&mut gen);
    let errors = |codes: &[&str]| -> Value {
        codes
            .iter()
            .map(|c| (c.to_string(), json!({ "description": "error", "content": json_content(error.clone()) })))
            .collect()
    };
    // Every operation that reads or writes the database answers 503 while it
    // cannot be reached, with Retry-After.
    let unavailable = json!({
        "description": "the database is unavailable; nothing was done",
        "headers": { "Retry-After": { "description": "seconds to wait before trying again", "schema": { "type": "integer" } } },
        "content": json_content(error.clone())
    });
    let with_errors = |ok: (&str, Value), codes: &[&str]| -> Value {
        let mut responses = errors(codes);
        responses[ok.0] = ok.1;
        responses["503"] = unavailable.clone();
        responses
    };
    let ok = |description: &str, schema: &Value| json!({ "description": description, "content": json_content(schema.clone()) });
    let read_security = json!([{ "bearer": [] }, { "apiKey": [] }, { "session": [] }]);
    let export_params: Vec<Value> = std::iter::once(choice("format", "csv (default) or ndjson", &["csv", "ndjson"]))
        .chain(filter_params())
        .collect();
    let example_record = json!({
        "kind": "audit", "key": "member.role_changed", "event_id": "evt_123", "message": "Maya made Leo an admin",
        "actor": { "id": "u_12", "email": "maya@acme.test", "name": "Maya" },
        "entity": { "type": "member", "id": "m_7" },
        "diff": { "old": { "role": "viewer" }, "new": { "role": "admin" } }
    });
    let windows: Vec<&str> = app::model::StatsWindow::ALL.iter().map(|w| w.as_str()).collect();
    let definitions: serde_json::Map<String, Value> =
        gen.take_definitions().into_iter().map(|(k, v)| (k, serde_json::to_value(v).expect("JSON"))).collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Trail",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Activity and audit log: ingest records, read them back within your scope."
        },
        "paths": {
            "/api/v1/events": {
                "post": {
                    "summary": "Ingest one record, an array, or {\"events\": [...]}",
                    "description": "Answers 202 only after the records are durably committed. A batch with any bad item stores nothing. Also accepts CloudEvents 1.0 (application/cloudevents+json, application/cloudevents-batch+json).",
                    "security": [{ "bearer": [] }, { "apiKey": [] }],
                    "requestBody": { "required": true, "content": {
                        "application/json": {
                            "schema": { "oneOf": [
                                ingest_record.clone(),
                                { "type": "array", "items": ingest_record.clone(), "maxItems": 5000 },
                                { "type": "object", "required": ["events"], "properties": { "events": { "type": "array", "items": ingest_record, "maxItems": 5000 } } }
                            ] },
                            "example": example_record
                        }
                    } },
                    "responses": with_errors(("202", json!({ "description": "stored", "content": json_content(accepted),
                        "headers": {} })), &["400", "401", "403", "413", "415", "422"])
                },
                "get": {
                    "summary": "Records, newest first, filtered",
                    "security": read_security,
                    "parameters": filter_params(),
                    "responses": with_errors(("200", ok("a page", &page)), &["400", "401", "403"])
                }
            },
            "/api/v1/events/{id}": { "get": {
                "summary": "One record (404 if outside your scope)",
                "security": read_security,
                "parameters": [path_param("id")],
                "responses": with_errors(("200", ok("the record", &record)), &["401", "403", "404"])
            } },
            "/api/v1/entities/{entity_type}/{entity_id}/timeline": { "get": {
                "summary": "An entity's history",
                "security": read_security,
                "parameters": [path_param("entity_type"), path_param("entity_id"),
                    choice("order", "desc (newest first, default) or asc", &["desc", "asc"]), query("cursor", "next_cursor of the previous page"),
                    json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 } })],
                "responses": with_errors(("200", ok("a page", &page)), &["400", "401", "403", "404"])
            } },
            "/api/v1/events/failed/recent": { "get": {
                "summary": "Errors and failed operations of the last minutes",
                "security": read_security,
                "parameters": [json!({ "name": "minutes", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 10080, "default": 60 } })],
                "responses": with_errors(("200", ok("a page", &page)), &["400", "401", "403"])
            } },
            "/api/v1/events/export": { "get": {
                "summary": "Every matching record, streamed",
                "security": read_security,
                "parameters": export_params,
                "responses": with_errors(("200", json!({ "description": "the export", "content": {
                    "text/csv": { "schema": { "type": "string" } },
                    "application/x-ndjson": { "schema": { "type": "string" } }
                } })), &["400", "401", "403"])
            } },
            "/api/v1/stats": { "get": {
                "summary": "Totals, histogram, keys, actors and operations of a window (from roll-ups)",
                "security": read_security,
                "parameters": [choice("window", "24h when absent", &windows), query("workspace", "workspace slug")],
                "responses": with_errors(("200", ok("stats", &stats)), &["400", "401", "403"])
            } },
            "/api/v1/events/counts": { "get": {
                "summary": "Records per key in a window",
                "security": read_security,
                "parameters": [choice("window", "24h when absent", &windows), query("workspace", "workspace slug")],
                "responses": with_errors(("200", ok("counts", &counts)), &["400", "401", "403"])
            } },
            "/api/system/health": { "get": {
                "summary": "healthy, degraded (200) or unhealthy (503)",
                "responses": {
                    "200": ok("healthy or degraded", &health),
                    "503": ok("unhealthy", &health)
                }
            } },
            "/metrics": { "get": {
                "summary": "Prometheus text format (readers of every workspace)",
                "security": read_security,
                "responses": with_errors(("200", json!({ "description": "metrics", "content": { "text/plain": { "schema": { "type": "string" } } } })), &["401", "403"])
            } }
        },
        "components": {
            "schemas": definitions,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "an API key: Authorization: Bearer trl_..." },
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
                "session": { "type": "apiKey", "in": "cookie", "name": "trail_session" }
            }
        }
    })
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(build);

pub fn document() -> &'static Value {
    &DOCUMENT
}

pub async fn serve() -> Json<&'static Value> {
    Json(document())
}
