//! `/api/v1/events/export?format=csv|ndjson&...filters`: every matching
//! record, streamed page by page so memory stays constant however many there are.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use app::audit::{Actor, Entry};
use app::model::{Cursor, EventDetail, EventFilter, Micros, Order};
use app::store::{NewRecord, Page, Scope, StoreError};
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::query::FilterQuery;
use super::record::ApiRecord;
use crate::auth::reader::{Principal, Reader};
use crate::error::{Error, Query, Result};
use crate::ingest::commit::{CommitError, Committer};
use crate::state::AppState;

/// Records fetched and written per step of the stream.
const CHUNK: usize = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Ndjson,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ExportQuery {
    /// `csv` (the default) or `ndjson`.
    #[schemars(schema_with = "export_format")]
    format: Option<String>,
    /// The filters; an export has no pages to ask for (`limit`, `cursor`).
    #[serde(flatten)]
    filters: FilterQuery,
    /// Refused when given, not ignored: an export of "50" would be all.
    #[schemars(skip)]
    limit: Option<String>,
    #[schemars(skip)]
    cursor: Option<String>,
}

fn export_format(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
    super::query::one_of(&["csv", "ndjson"])
}

pub fn export_docs(op: aide::transform::TransformOperation) -> aide::transform::TransformOperation {
    let op = op.summary("Every matching record, streamed");
    super::openapi::text_response(op, "the export", &["text/csv", "application/x-ndjson"])
}

pub async fn export(
    State(state): State<AppState>,
    Reader { scope, actor, principal }: Reader,
    RawQuery(filters): RawQuery,
    Query(query): Query<ExportQuery>,
) -> Result<Response> {
    let format = match super::query::given(&query.format) {
        None | Some("csv") => Format::Csv,
        Some("ndjson") => Format::Ndjson,
        Some(other) => return Err(Error::BadRequest(format!("format: expected csv or ndjson, got {other:?}"))),
    };
    for (name, value) in [("limit", &query.limit), ("cursor", &query.cursor)] {
        if super::query::given(value).is_some() {
            return Err(Error::BadRequest(format!(
                "{name}: an export streams every matching record, in no pages; narrow it with the filters \
                 (since, until, ...)"
            )));
        }
    }
    let filter = query.filters.filter(Micros::now())?;
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let filename = format!("trail-export-{}.{extension}", Micros::now().to_datetime().format("%Y%m%d-%H%M%S"));
    let audit = Arc::new(ExportAudit {
        committer: state.committer.clone(),
        actor,
        filename: filename.clone(),
        filters: filters.unwrap_or_default(),
        rows: AtomicUsize::new(0),
        written: AtomicBool::new(false),
    });
    let export = Export { state, principal, scope, filter, format };
    let body = Body::from_stream(chunks(Arc::new(export), audit));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response())
}

/// The export's audit record: written once the connection took the last
/// chunk (before the stream ends: an export not recorded does not end
/// cleanly), or when the client cuts the stream off, then with the rows of
/// the chunks the connection took.
struct ExportAudit {
    committer: Committer,
    actor: Actor,
    filename: String,
    /// The request's query string, as sent.
    filters: String,
    rows: AtomicUsize,
    written: AtomicBool,
}

impl ExportAudit {
    fn record(&self, complete: bool) -> NewRecord {
        let rows = self.rows.load(Ordering::Relaxed);
        let message = match complete {
            true => format!("Export of {rows} records downloaded"),
            false => format!("Export cut off after {rows} records"),
        };
        let entry = Entry::new("export.downloaded", "export", &self.filename, message)
            .payload(json!({ "filters": self.filters, "rows": rows, "complete": complete }));
        self.actor.record(entry)
    }

    /// Writes the record of a complete export (once). In a task of its own:
    /// a client gone during the write does not cancel it (`Drop` leaves
    /// the record to it).
    async fn finished(&self) -> Result<(), StoreError> {
        if self.written.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let (record, committer) = (self.record(true), self.committer.clone());
        match tokio::spawn(async move { committer.submit(vec![record]).await }).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(CommitError::Store(err))) => Err(err),
            Ok(Err(CommitError::Stopped)) | Err(_) => Err(StoreError::Unavailable),
        }
    }
}

impl Drop for ExportAudit {
    fn drop(&mut self) {
        if self.written.swap(true, Ordering::Relaxed) {
            return;
        }
        let (record, committer) = (self.record(false), self.committer.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            if let Err(err) = committer.submit(vec![record]).await {
                tracing::error!(error = %err, "writing a cut-off export's audit record failed");
            }
        });
    }
}

struct Progress {
    cursor: Option<Cursor>,
    started: bool,
    finished: bool,
    /// The rows of the chunk handed out last.
    handed_out: usize,
}

/// What is exported, and for whom.
struct Export {
    state: AppState,
    principal: Principal,
    scope: Scope,
    filter: EventFilter,
    format: Format,
}

/// The export as a stream of byte chunks, one keyset page at a time. A
/// stream that ends in an error is cut off, not ended: the client sees
/// an incomplete download.
fn chunks(export: Arc<Export>, audit: Arc<ExportAudit>) -> impl futures_util::Stream<Item = Result<Bytes, BoxError>> {
    let start = Progress { cursor: None, started: false, finished: false, handed_out: 0 };
    futures_util::stream::try_unfold(start, move |progress| {
        let (export, audit) = (export.clone(), audit.clone());
        async move {
            // Asked for more: the connection took the chunk before.
            audit.rows.fetch_add(progress.handed_out, Ordering::Relaxed);
            // A long export asks again what its reader may see, as the live
            // stream does: a key revoked meanwhile gets no further chunk.
            if progress.started && !export.principal.still_sees(&export.state, &export.scope).await {
                tracing::info!("export stopped: its reader may no longer see it");
                return Err("the reader may no longer see this export".into());
            }
            if progress.finished {
                // Unrecorded, the export does not complete.
                audit.finished().await.inspect_err(|err| tracing::error!(error = %err, "export not recorded"))?;
                return Ok(None);
            }
            let page = Page { cursor: progress.cursor, limit: CHUNK, order: Order::NewestFirst };
            let rows = export.state.store.list_event_details(&export.scope, &export.filter, page).await.inspect_err(
                |err| {
                    tracing::error!(error = %err, "export stopped");
                },
            )?;
            let next = Progress {
                cursor: rows.last().map(|r| r.row.cursor()),
                started: true,
                finished: rows.len() < CHUNK,
                handed_out: rows.len(),
            };
            let out = match export.format {
                // The header goes with the first chunk only.
                Format::Csv => csv_chunk(rows, !progress.started),
                Format::Ndjson => {
                    let mut out = Vec::with_capacity(rows.len() * 512);
                    for row in rows {
                        serde_json::to_writer(&mut out, &ApiRecord::from(row)).map_err(io_error)?;
                        out.push(b'\n');
                    }
                    Ok(out)
                }
            }
            .inspect_err(|err| tracing::error!(error = %err, "export stopped"))?;
            Ok(Some((Bytes::from(out), next)))
        }
    })
}

fn io_error(err: impl std::error::Error + Send + Sync + 'static) -> app::store::StoreError {
    app::store::StoreError::Database(sqlx::Error::Io(std::io::Error::other(err)))
}

/// One record as a line of the CSV export: its columns, in order, named as
/// in the header.
#[derive(Serialize)]
struct CsvRow {
    id: String,
    occurred_at: String,
    received_at: String,
    workspace: String,
    brand: Option<String>,
    kind: &'static str,
    key: String,
    severity: &'static str,
    visibility: &'static str,
    status: Option<&'static str>,
    duration_ms: Option<i64>,
    provider: Option<String>,
    actor_type: &'static str,
    actor_id: Option<String>,
    actor_email: Option<String>,
    actor_name: Option<String>,
    actor_label: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<String>,
    message: Option<String>,
    context: Option<String>,
    correlation_id: Option<String>,
    event_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    error_message: Option<String>,
    error_stack: Option<String>,
    payload: Option<String>,
    diff: Option<String>,
}

impl From<EventDetail> for CsvRow {
    fn from(d: EventDetail) -> Self {
        let r = d.row;
        let text = |value: Option<String>| value.map(defused);
        CsvRow {
            id: r.id.to_string(),
            occurred_at: r.occurred_at.to_rfc3339(),
            received_at: r.received_at.to_rfc3339(),
            workspace: r.workspace,
            brand: text(r.brand),
            kind: r.kind.as_str(),
            key: r.key,
            severity: r.severity.as_str(),
            visibility: r.visibility.as_str(),
            status: r.status.map(|s| s.as_str()),
            duration_ms: r.duration_ms,
            provider: text(r.provider),
            actor_type: r.actor_type.as_str(),
            actor_id: text(r.actor_id),
            actor_email: text(r.actor_email),
            actor_name: text(r.actor_name),
            actor_label: text(r.actor_label),
            entity_type: text(r.entity_type),
            entity_id: text(r.entity_id),
            message: text(r.message),
            context: text(r.context),
            correlation_id: text(r.correlation_id),
            event_id: text(d.event_id),
            ip: text(d.ip),
            user_agent: text(d.user_agent),
            error_message: text(d.error_message),
            error_stack: text(d.error_stack),
            payload: text(d.payload),
            diff: text(d.diff),
        }
    }
}

/// Text a spreadsheet would run as a formula gets a leading apostrophe:
/// records carry text from outside.
fn defused(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// The CSV export's columns, in `CsvRow`'s order (a unit test holds them
/// together): the header of an export without rows.
const CSV_COLUMNS: [&str; 29] = [
    "id",
    "occurred_at",
    "received_at",
    "workspace",
    "brand",
    "kind",
    "key",
    "severity",
    "visibility",
    "status",
    "duration_ms",
    "provider",
    "actor_type",
    "actor_id",
    "actor_email",
    "actor_name",
    "actor_label",
    "entity_type",
    "entity_id",
    "message",
    "context",
    "correlation_id",
    "event_id",
    "ip",
    "user_agent",
    "error_message",
    "error_stack",
    "payload",
    "diff",
];

/// `rows` as RFC 4180 CSV (CRLF line ends), with the header line if `header`.
fn csv_chunk(rows: Vec<EventDetail>, header: bool) -> Result<Vec<u8>, app::store::StoreError> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(header)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(rows.len() * 512));
    if header && rows.is_empty() {
        // The header is written with the first row, and there is none.
        writer.write_record(CSV_COLUMNS).map_err(io_error)?;
    }
    for row in rows {
        writer.serialize(CsvRow::from(row)).map_err(io_error)?;
    }
    writer.into_inner().map_err(|err| io_error(err.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{ActorType, EventRow, Kind, Micros, Severity, Visibility};

    fn detail(message: &str) -> EventDetail {
        EventDetail {
            row: EventRow {
                id: uuid::Uuid::nil(),
                workspace: "acme".into(),
                brand: None,
                kind: Kind::Audit,
                key: "k".into(),
                message: Some(message.into()),
                context: None,
                entity_type: None,
                entity_id: Some("-5".into()),
                actor_type: ActorType::System,
                actor_id: None,
                actor_email: None,
                actor_name: None,
                actor_label: None,
                visibility: Visibility::Internal,
                severity: Severity::Info,
                status: None,
                duration_ms: Some(7),
                provider: None,
                correlation_id: None,
                occurred_at: Micros(0),
                received_at: Micros(0),
            },
            event_id: None,
            ip: None,
            user_agent: None,
            error_message: None,
            error_stack: None,
            payload: None,
            diff: None,
        }
    }

    fn csv(message: &str, header: bool) -> String {
        String::from_utf8(csv_chunk(vec![detail(message)], header).unwrap()).unwrap()
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let header = csv("plain", true);
        assert!(header.starts_with("id,occurred_at,received_at,workspace,brand,kind,key,severity,visibility,status,"));
        assert!(header.contains(",plain,") && header.ends_with("\r\n"), "{header}");
        assert!(
            header.contains(",actor_name,actor_label,") && header.contains(",error_message,error_stack,"),
            "{header}"
        );
        assert_eq!(header.matches("\r\n").count(), 2, "a header line and a row");
        assert!(csv("a,b", false).contains(",\"a,b\","));
        assert!(csv("say \"hi\"\nnow", false).contains(",\"say \"\"hi\"\"\nnow\","));
        assert!(csv("=HYPERLINK(\"x\")", false).contains(",\"'=HYPERLINK(\"\"x\"\")\","));
        assert!(csv("plain", false).contains(",'-5,"), "an id that starts like a formula is defused too");
        assert!(!csv("plain", false).starts_with("id,"));
    }

    #[test]
    fn an_export_without_rows_has_its_header() {
        let empty = String::from_utf8(csv_chunk(vec![], true).unwrap()).unwrap();
        let first_line = csv("plain", true).split("\r\n").next().unwrap().to_owned();
        assert_eq!(empty, format!("{first_line}\r\n"), "the same columns as a row's header");
        assert!(csv_chunk(vec![], false).unwrap().is_empty());
    }
}
