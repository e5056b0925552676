//! `POST /api/v1/events`: validate, then commit, then answer 202.

mod breaker;
pub mod cloudevents;
pub mod commit;
pub mod parse;

use std::collections::HashMap;

use app::model::Micros;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::api_key::ApiKey;
use crate::error::{Error, Result};
use crate::state::AppState;
use parse::WorkspaceRules;

pub const MAX_RECORDS: usize = 5_000;
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Accepted {
    /// Records stored by this request.
    pub accepted: usize,
    /// Records whose `event_id` was already stored (not stored again).
    pub duplicates: usize,
    /// One id per submitted record, in order; a duplicate's is the stored record's.
    pub ids: Vec<Uuid>,
}

/// How the body is framed: by `ce-` headers (a binary-mode CloudEvent, any
/// content type), else by its content type.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Trail,
    CloudEvent,
    CloudEventBatch,
    CloudEventBinary,
}

fn format_of(headers: &HeaderMap) -> Result<Format> {
    if cloudevents::is_binary(headers) {
        return Ok(Format::CloudEventBinary);
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Format::Trail),
        "application/cloudevents+json" => Ok(Format::CloudEvent),
        "application/cloudevents-batch+json" => Ok(Format::CloudEventBatch),
        _ => Err(Error::UnsupportedMediaType(format!(
            "expected Content-Type application/json (or application/cloudevents+json, \
             application/cloudevents-batch+json), got {:?}",
            content_type
        ))),
    }
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes> {
    let bytes = read_raw_body(headers, body).await?;
    match content_encoding(headers)? {
        Encoding::Identity => Ok(bytes),
        // Up to 5 MiB of unpacking: off the async threads.
        Encoding::Gzip => tokio::task::spawn_blocking(move || gunzip(&bytes))
            .await
            .map_err(|err| Error::BadRequest(format!("the body could not be unpacked: {err}")))?,
    }
}

enum Encoding {
    Identity,
    Gzip,
}

/// The compressions of the HTTP registry Trail does not unpack.
const CODINGS_NOT_UNPACKED: &[&str] =
    &["br", "compress", "x-compress", "deflate", "zstd", "exi", "pack200-gzip", "aes128gcm", "dcb", "dcz"];

/// The body's `Content-Encoding`: none, or gzip (which producers batching
/// many records send). A compression Trail does not unpack is refused
/// (`415`), not read as JSON; a value that names no compression (some
/// clients send a charset there) is no encoding, as before gzip was read.
fn content_encoding(headers: &HeaderMap) -> Result<Encoding> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else { return Ok(Encoding::Identity) };
    let coding = value.to_str().map(|v| v.trim().to_ascii_lowercase()).unwrap_or_default();
    match coding.as_str() {
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        other if CODINGS_NOT_UNPACKED.contains(&other) || other.contains(',') => Err(Error::UnsupportedMediaType(
            format!("Content-Encoding {value:?} is not supported: send the body as it is, or gzip"),
        )),
        _ => Ok(Encoding::Identity),
    }
}

/// A gzip body, unpacked: the limit holds for what it unpacks to (a small
/// body may unpack to gigabytes).
fn gunzip(compressed: &[u8]) -> Result<Bytes> {
    use std::io::Read;
    let mut unpacked = Vec::new();
    let limit = MAX_BODY_BYTES as u64 + 1;
    flate2::read::MultiGzDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut unpacked)
        .map_err(|err| Error::BadRequest(format!("the body is not valid gzip: {err}")))?;
    if unpacked.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(format!("request body over {MAX_BODY_BYTES} bytes once unpacked")));
    }
    Ok(Bytes::from(unpacked))
}

/// The body as sent, at most [`MAX_BODY_BYTES`].
async fn read_raw_body(headers: &HeaderMap, body: Body) -> Result<Bytes> {
    let too_large = || Error::PayloadTooLarge(format!("request body over {MAX_BODY_BYTES} bytes"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|err| {
        let over_limit = std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .any(|e| e.is::<http_body_util::LengthLimitError>());
        if over_limit {
            too_large()
        } else {
            Error::BadRequest(format!("could not read the request body: {err}"))
        }
    })
}

/// The records of a body: one object, an array, or `{"events": [...]}`.
fn items_of(format: Format, body: Value) -> Result<Vec<Value>> {
    let items = match (format, body) {
        (Format::Trail, Value::Object(mut o)) if o.get("events").is_some_and(Value::is_array) => {
            let Some(Value::Array(items)) = o.remove("events") else { unreachable!("checked to be an array") };
            // A member beside the list (`"workspace"` for all) would apply to nothing.
            if let Some(other) = o.keys().next() {
                return Err(Error::BadRequest(format!(
                    "{other:?} beside \"events\": the body {{\"events\": [...]}} holds the list only; give each record its fields"
                )));
            }
            items
        }
        (Format::Trail | Format::CloudEvent, Value::Object(o)) => vec![Value::Object(o)],
        (Format::Trail | Format::CloudEventBatch, Value::Array(items)) => items,
        _ => {
            return Err(Error::BadRequest(
                "expected a record object, an array of records, or {\"events\": [...]}".into(),
            ))
        }
    };
    if items.len() > MAX_RECORDS {
        return Err(Error::PayloadTooLarge(format!("{} records; at most {MAX_RECORDS} per request", items.len())));
    }
    match format {
        Format::Trail => Ok(items),
        Format::CloudEvent | Format::CloudEventBatch | Format::CloudEventBinary => {
            cloudevents::to_records(items).map_err(Error::Invalid)
        }
    }
}

/// Why a body is no JSON Trail reads. serde_json stops at 128 levels of
/// nesting (so as not to run out of stack) and says so only in its text.
fn not_json(err: &serde_json::Error) -> String {
    match err.to_string().contains("recursion limit") {
        true => format!("the body nests objects and arrays deeper than 128 levels: {err}"),
        false => format!("the body is not valid JSON: {err}"),
    }
}

/// The records of a request, whichever way it frames them.
fn items_of_request(format: Format, headers: &HeaderMap, bytes: &[u8]) -> Result<Vec<Value>> {
    if format == Format::CloudEventBinary {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let event = cloudevents::binary_event(headers, content_type, bytes).map_err(Error::BadRequest)?;
        return cloudevents::to_records(vec![event]).map_err(Error::Invalid);
    }
    let json: Value = serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(not_json(&e)))?;
    items_of(format, json)
}

#[tracing::instrument(skip_all, fields(key_id = key.record.id, records))]
pub async fn ingest(
    State(state): State<AppState>,
    key: ApiKey,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>)> {
    key.require_scope("ingest")?;
    let format = format_of(&headers)?;
    // The body and its JSON tree end with this block: under load a request
    // spends most of its life waiting for its commit, and holding them that
    // long kept several times the records' size per request in memory.
    let records = {
        let bytes = read_body(&headers, body).await?;
        let items = items_of_request(format, &headers, &bytes)?;
        tracing::Span::current().record("records", items.len());
        let rules = workspace_rules(&state, &key, &items).await?;
        parse::parse_records(&items, &rules, Micros::now()).map_err(|mut errors| {
            if format != Format::Trail {
                for error in &mut errors {
                    error.field = cloudevents::attribute_of(&error.field);
                }
            }
            Error::Invalid(errors)
        })?
    };
    let outcome = state.committer.submit(records).await.map_err(|err| match err {
        commit::CommitError::Store(err) => Error::Store(err),
        commit::CommitError::Stopped => Error::Unavailable,
    })?;
    let accepted = outcome.ids.len() - outcome.duplicates;
    crate::metrics::ingested(accepted, outcome.duplicates, outcome.ids.len());
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted, duplicates: outcome.duplicates, ids: outcome.ids })))
}

async fn workspace_rules(state: &AppState, key: &ApiKey, items: &[Value]) -> Result<WorkspaceRules> {
    let key_workspace = key.record.workspace_id.zip(key.record.workspace.clone());
    let mut known = HashMap::new();
    if key_workspace.is_none() {
        for slug in parse::named_workspaces(items) {
            if let Some(id) = state.workspace_ids.resolve(state.store.as_ref(), &slug).await? {
                known.insert(slug, id);
            }
        }
    }
    Ok(WorkspaceRules { key_workspace, known })
}

/// Workspace ids by slug, for keys that span workspaces. A workspace is never
/// renamed or deleted, so a slug found once keeps its id; slugs not found are
/// looked up again each time (the workspace may be created later).
#[derive(Default)]
pub struct WorkspaceIds(std::sync::RwLock<HashMap<String, i64>>);

impl WorkspaceIds {
    async fn resolve(&self, store: &dyn app::store::Store, slug: &str) -> Result<Option<i64>> {
        if let Some(id) = self.0.read().expect("workspace ids lock").get(slug) {
            return Ok(Some(*id));
        }
        let found = store.workspace_by_slug(slug).await?.map(|ws| ws.id);
        if let Some(id) = found {
            self.0.write().expect("workspace ids lock").insert(slug.to_owned(), id);
        }
        Ok(found)
    }
}
