//! `/api/v1/events/export?format=csv|ndjson&...filters`: every matching
//! record, streamed page by page so memory stays constant however many there are.

use std::sync::Arc;

use app::model::{Cursor, EventDetail, EventFilter, Micros, Order};
use app::store::{DynStore, Page, Scope};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::query::ReadQuery;
use super::record::ApiRecord;
use crate::auth::reader::Reader;
use crate::error::{Error, Query, Result};
use crate::state::AppState;

/// Records fetched and written per step of the stream.
const CHUNK: usize = 1_000;

const CSV_COLUMNS: &[&str] = &[
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
    "entity_type",
    "entity_id",
    "message",
    "context",
    "correlation_id",
    "event_id",
    "ip",
    "user_agent",
    "error_message",
    "payload",
    "diff",
];

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Ndjson,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ExportQuery {
    format: Option<String>,
    #[serde(flatten)]
    page: ReadQuery,
}

pub async fn export(
    State(state): State<AppState>,
    Reader(scope): Reader,
    Query(query): Query<ExportQuery>,
) -> Result<Response> {
    let format = match query.format.as_deref() {
        None | Some("csv") => Format::Csv,
        Some("ndjson") => Format::Ndjson,
        Some(other) => return Err(Error::BadRequest(format!("format: expected csv or ndjson, got {other:?}"))),
    };
    let filter = query.page.filter(Micros::now())?;
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let filename = format!("trail-export-{}.{extension}", Micros::now().to_datetime().format("%Y%m%d-%H%M%S"));
    let body = Body::from_stream(chunks(state.store.clone(), Arc::new((scope, filter)), format));
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response())
}

struct Progress {
    cursor: Option<Cursor>,
    started: bool,
    finished: bool,
}

/// The export as a stream of byte chunks, one keyset page at a time.
fn chunks(
    store: DynStore,
    query: Arc<(Scope, EventFilter)>,
    format: Format,
) -> impl futures_util::Stream<Item = Result<Bytes, app::store::StoreError>> {
    let start = Progress { cursor: None, started: false, finished: false };
    futures_util::stream::try_unfold(start, move |progress| {
        let (store, query) = (store.clone(), query.clone());
        async move {
            if progress.finished {
                return Ok(None);
            }
            let (scope, filter) = &*query;
            let page = Page { cursor: progress.cursor, limit: CHUNK, order: Order::NewestFirst };
            let rows = store.list_event_details(scope, filter, page).await.inspect_err(|err| {
                tracing::error!(error = %err, "export stopped");
            })?;
            let mut out = String::with_capacity(rows.len() * 512);
            if format == Format::Csv && !progress.started {
                out.push_str(&CSV_COLUMNS.join(","));
                out.push_str("\r\n");
            }
            let next =
                Progress { cursor: rows.last().map(|r| r.row.cursor()), started: true, finished: rows.len() < CHUNK };
            for row in rows {
                match format {
                    Format::Csv => write_csv_row(&mut out, row),
                    Format::Ndjson => {
                        out.push_str(&serde_json::to_string(&ApiRecord::from(row)).expect("a record serialises"));
                        out.push('\n');
                    }
                }
            }
            Ok(Some((Bytes::from(out), next)))
        }
    })
}

fn write_csv_row(out: &mut String, d: EventDetail) {
    let r = d.row;
    let cells: [Option<String>; 27] = [
        Some(r.id.to_string()),
        Some(r.occurred_at.to_rfc3339()),
        Some(r.received_at.to_rfc3339()),
        Some(r.workspace),
        r.brand,
        Some(r.kind.as_str().into()),
        Some(r.key),
        Some(r.severity.as_str().into()),
        Some(r.visibility.as_str().into()),
        r.status,
        r.duration_ms.map(|ms| ms.to_string()),
        r.provider,
        Some(r.actor_type.as_str().into()),
        r.actor_id,
        r.actor_email,
        r.actor_name,
        r.entity_type,
        r.entity_id,
        r.message,
        r.context,
        r.correlation_id,
        d.event_id,
        d.ip,
        d.user_agent,
        d.error_message,
        d.payload,
        d.diff,
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(text) = cell {
            push_csv_cell(out, text);
        }
    }
    out.push_str("\r\n");
}

/// RFC 4180 quoting; a cell a spreadsheet would run as a formula gets a
/// leading apostrophe (records carry text from outside).
fn push_csv_cell(out: &mut String, text: &str) {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let needs_quotes = formula || text.contains([',', '"', '\n', '\r']);
    if !needs_quotes {
        out.push_str(text);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    out.push_str(&text.replace('"', "\"\""));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::push_csv_cell;

    fn cell(text: &str) -> String {
        let mut out = String::new();
        push_csv_cell(&mut out, text);
        out
    }

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\"\nnow"), "\"say \"\"hi\"\"\nnow\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-5"), "\"'-5\"");
    }
}
