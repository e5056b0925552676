//! The canonical forms Trail hashes and signs (docs/integrity.md says the
//! same for someone checking by hand):
//!
//! - a record: RFC 8785 (JCS) JSON of an object with one member per stored
//!   column that is not NULL, named as the column: text as strings, `id` as
//!   the lowercase hyphenated UUID, integers as numbers (`severity` is its
//!   rank, times are microseconds since the Unix epoch), `payload` and `diff`
//!   as the JSON they hold; an integer beyond ±(2^53 − 1), anywhere, as its
//!   decimal string (JCS numbers are IEEE doubles, which would round it);
//!   stored JSON that no longer parses as `{"unparsable_json": text}`;
//! - `content` = SHA-256(canonical form);
//! - a link's `hash` = SHA-256(previous link's hash ‖ content), 32 zero bytes
//!   before the first link. Hashing the content's digest rather than the form
//!   itself lets a proof carry 32 bytes per later record instead of the record;
//! - a digest's and a retention cut's signed statement: RFC 8785 of their fields.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::LazyLock;

use app::model::{ChainId, Digest, Kind, StoredRecord};
use app::store::NewRecord;
use serde_json::{json, Value as Json};
use sha2::{Digest as _, Sha256};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use super::columns::{Value, RECORD_COLUMNS};

pub type Hash = [u8; 32];

/// The previous hash of a chain's first link.
pub const GENESIS: Hash = [0; 32];

/// The largest integer an IEEE double holds exactly, and so RFC 8785 writes exactly.
const MAX_EXACT: u64 = (1 << 53) - 1;

/// One column's value, as the canonical form writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Uuid(Uuid),
    Int(i64),
    Text(Cow<'a, str>),
    /// JSON text, written as the value it holds.
    Json(Cow<'a, str>),
}

/// The columns in the order RFC 8785 sorts their names (all ASCII, so by byte).
static SORTED: LazyLock<Vec<usize>> = LazyLock::new(|| {
    let mut order: Vec<usize> = (0..RECORD_COLUMNS.len()).collect();
    order.sort_by_key(|&i| RECORD_COLUMNS[i].name);
    order
});

/// The canonical form of a record's cells (one per column of
/// [`RECORD_COLUMNS`], in its order; `None` for NULL, left out), written
/// directly: the top level's members are known, so only `payload` and `diff`
/// go through a general RFC 8785 serialiser.
pub fn canonical(cells: &[Option<Cell<'_>>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(768);
    out.push(b'{');
    for &i in SORTED.iter() {
        let Some(cell) = &cells[i] else { continue };
        if out.len() > 1 {
            out.push(b',');
        }
        string(&mut out, RECORD_COLUMNS[i].name);
        out.push(b':');
        match cell {
            Cell::Uuid(id) => string(&mut out, id.hyphenated().encode_lower(&mut Uuid::encode_buffer())),
            Cell::Int(n) if n.unsigned_abs() > MAX_EXACT => string(&mut out, &n.to_string()),
            // Writing to a Vec cannot fail.
            Cell::Int(n) => _ = write!(out, "{n}"),
            Cell::Text(text) => string(&mut out, text),
            Cell::Json(text) => out.extend(jcs(&stored_json(text))),
        }
    }
    out.push(b'}');
    out
}

/// A JSON string as RFC 8785 writes it: serde_json escapes exactly `"`, `\`
/// and the control characters (`\b \t \n \f \r`, else `\u00xx` in lower
/// case), as RFC 8785 asks (a test checks it against serde_jcs).
fn string(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The cells of a record about to be written, borrowed from it.
pub fn cells(record: &NewRecord) -> Vec<Option<Cell<'_>>> {
    RECORD_COLUMNS
        .iter()
        .map(|column| match column.value {
            Value::Uuid(read) => Some(Cell::Uuid(read(record))),
            Value::BigInt(read) => Some(Cell::Int(read(record))),
            Value::NullableBigInt(read) => read(record).map(Cell::Int),
            Value::SmallInt(read) => Some(Cell::Int(read(record).into())),
            Value::Text(read) => read(record).map(|text| Cell::Text(Cow::Borrowed(text))),
            Value::Json(read) => read(record).map(|text| Cell::Json(Cow::Borrowed(text))),
        })
        .collect()
}

/// Decodes a [`StoredRecord`]: each column as its type, or as text if
/// someone stored something else in it, so a tampered row is reported,
/// never unreadable.
pub struct StoredRow(pub StoredRecord);

impl<'r, R: Row> sqlx::FromRow<'r, R> for StoredRow
where
    &'static str: ColumnIndex<R>,
    usize: ColumnIndex<R>,
    Uuid: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i16: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    /// Columns are read by position: the SELECT list is [`RECORD_COLUMNS`]
    /// in order (`columns::stored_list`), and a lookup by name per column
    /// was a good part of a verification's time.
    fn from_row(row: &'r R) -> sqlx::Result<Self> {
        let text = |at: usize| row.try_get::<Option<String>, _>(at).ok().flatten();
        let as_text = |at| text(at).map(|t| Cell::Text(Cow::Owned(t)));
        let cells: Vec<Option<Cell<'static>>> = RECORD_COLUMNS
            .iter()
            .enumerate()
            .map(|(at, column)| match column.value {
                Value::Uuid(_) => {
                    row.try_get::<Option<Uuid>, _>(at).map(|v| v.map(Cell::Uuid)).unwrap_or_else(|_| as_text(at))
                }
                Value::BigInt(_) | Value::NullableBigInt(_) => {
                    row.try_get::<Option<i64>, _>(at).map(|v| v.map(Cell::Int)).unwrap_or_else(|_| as_text(at))
                }
                Value::SmallInt(_) => row
                    .try_get::<Option<i16>, _>(at)
                    .map(|v| v.map(|n| Cell::Int(n.into())))
                    .unwrap_or_else(|_| as_text(at)),
                Value::Text(_) => as_text(at),
                Value::Json(_) => text(at).map(|t| Cell::Json(Cow::Owned(t))),
            })
            .collect();
        let cell = |name: &str| super::columns::position(name).and_then(|at| cells[at - 1].as_ref());
        let workspace_id = match cell("workspace_id") {
            Some(Cell::Int(id)) => Some(*id),
            _ => None,
        };
        let kind = match cell("kind") {
            Some(Cell::Text(kind)) => kind.parse::<Kind>().ok(),
            _ => None,
        };
        let chain = workspace_id.zip(kind).map(|(workspace_id, kind)| ChainId { workspace_id, kind });
        Ok(StoredRow(StoredRecord { id: row.try_get("id")?, chain, canonical: canonical(&cells) }))
    }
}

/// Stored JSON text as its value, with integers beyond a double's precision
/// as strings. Text that no longer parses was changed behind Trail's back:
/// it is kept as such, and so hashes unlike anything Trail stored.
fn stored_json(text: &str) -> Json {
    match serde_json::from_str(text) {
        Ok(value) => exact(value),
        Err(_) => json!({ "unparsable_json": text }),
    }
}

fn exact(value: Json) -> Json {
    match value {
        Json::Number(n) if n.as_u64().is_some_and(|u| u > MAX_EXACT) => Json::String(n.to_string()),
        Json::Number(n) if n.as_i64().is_some_and(|i| i.unsigned_abs() > MAX_EXACT) => Json::String(n.to_string()),
        Json::Array(items) => Json::Array(items.into_iter().map(exact).collect()),
        Json::Object(members) => Json::Object(members.into_iter().map(|(k, v)| (k, exact(v))).collect()),
        other => other,
    }
}

/// RFC 8785 bytes of `value`.
pub fn jcs(value: &impl serde::Serialize) -> Vec<u8> {
    // Serialising a JSON value or a plain struct cannot fail.
    serde_jcs::to_vec(value).unwrap_or_default()
}

/// SHA-256 of a canonical form.
pub fn content_of(canonical: &[u8]) -> Hash {
    Sha256::digest(canonical).into()
}

/// SHA-256 of the record's canonical form.
pub fn content(record: &NewRecord) -> Hash {
    content_of(&canonical(&cells(record)))
}

/// The hash of a link whose record has `content`, after a link hashed `previous`.
pub fn link(previous: &[u8], content: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(content);
    hasher.finalize().into()
}

/// What a digest's signature covers: its chain, link, head, time and the
/// previous digest's signature (left out for a chain's first digest).
pub fn digest_statement(digest: &Digest) -> Vec<u8> {
    let mut fields = json!({
        "workspace_id": digest.workspace_id,
        "kind": digest.kind.as_str(),
        "seq": digest.seq,
        "head": digest.head,
        "signed_at": digest.signed_at,
    });
    if let Some(previous) = &digest.previous {
        fields["previous"] = json!(previous);
    }
    jcs(&fields)
}

/// What a retention cut's signature covers: the chain, the last link the
/// purge removed, its hash (hex) and when.
pub fn cut_statement(workspace_id: i64, kind: Kind, seq: i64, hash: &str, cut_at: i64) -> Vec<u8> {
    jcs(&json!({ "cut": { "workspace_id": workspace_id, "kind": kind.as_str(), "seq": seq, "hash": hash,
                          "cut_at": cut_at } }))
}

/// A cut that keeps its chain whole: the one above, with the links after
/// it whose records are gone (`holes`, [`app::model::SeqSet`] text) and
/// those an older cut left behind it (`kept`, [`app::model::KeptLinks`]).
pub fn whole_cut_statement(head: &WholeCut<'_>) -> Vec<u8> {
    let WholeCut { workspace_id, kind, seq, hash, cut_at, holes, kept } = *head;
    jcs(&json!({ "whole_cut": { "workspace_id": workspace_id, "kind": kind.as_str(), "seq": seq, "hash": hash,
                                "cut_at": cut_at, "holes": holes, "kept": kept } }))
}

/// What [`whole_cut_statement`] signs.
#[derive(Clone, Copy)]
pub struct WholeCut<'a> {
    pub workspace_id: i64,
    pub kind: Kind,
    pub seq: i64,
    /// The hash of link `seq` (hex), empty when nothing is cut yet.
    pub hash: &'a str,
    pub cut_at: i64,
    pub holes: &'a str,
    pub kept: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::columns::sample_record;

    fn text(record: &NewRecord) -> String {
        String::from_utf8(canonical(&cells(record))).unwrap()
    }

    #[test]
    fn the_canonical_form_is_sorted_compact_and_leaves_out_nulls() {
        let mut record = sample_record();
        record.id = Uuid::nil();
        record.payload = Some(r#"{"b": 1.50, "a": [true, null], "é": "x"}"#.into());
        record.diff = None;
        let text = text(&record);
        assert!(text.starts_with(r#"{"actor_email":"a@example.com","actor_id":"u_1","#), "{text}");
        assert!(text.contains(r#""id":"00000000-0000-0000-0000-000000000000""#), "{text}");
        assert!(text.contains(r#""payload":{"a":[true,null],"b":1.5,"é":"x"}"#), "{text}");
        assert!(text.contains(r#""severity":2,"#) && text.contains(r#""occurred_at":1,"#), "{text}");
        assert!(!text.contains("diff"), "{text}");
    }

    #[test]
    fn the_direct_writer_is_rfc_8785_as_a_general_serialiser_writes_it() {
        let mut record = sample_record();
        record.message =
            Some("quote \" backslash \\ tab \t nl \n nul-free \u{1} \u{1f} del \u{7f} \u{2028} é 😀".into());
        record.payload = Some(r#"{"z": {"b": [1, 2.5, -0.0, 1e21]}, "a": "\u0007"}"#.into());
        record.duration_ms = Some(-9_007_199_254_740_993);
        let written = text(&record);
        let parsed: serde_json::Map<String, Json> = serde_json::from_str(&written).unwrap();
        assert_eq!(written, String::from_utf8(jcs(&parsed)).unwrap(), "re-serialised by serde_jcs, unchanged");
        assert!(written.contains(r#""duration_ms":"-9007199254740993""#), "{written}");
    }

    #[test]
    fn the_same_json_however_written_hashes_the_same() {
        let (mut a, mut b) = (sample_record(), sample_record());
        b.id = a.id;
        // As serde_json writes a number, and as PostgreSQL's jsonb gives it back.
        a.payload = Some(r#"{"x":1e2,"y":{"b":2,"a":1},"big":1.9613553321824117e34}"#.into());
        b.payload = Some(r#"{"y": {"a": 1, "b": 2}, "x": 100, "big": 19613553321824117000000000000000000}"#.into());
        assert_eq!(content(&a), content(&b));
        b.message = Some("changed".into());
        assert_ne!(content(&a), content(&b));
    }

    #[test]
    fn integers_beyond_a_doubles_precision_stay_exact() {
        let (mut a, mut b) = (sample_record(), sample_record());
        b.id = a.id;
        a.payload = Some(r#"{"n":9007199254740993,"m":[-9007199254740993,9007199254740991]}"#.into());
        b.payload = Some(r#"{"n":9007199254740992,"m":[-9007199254740993,9007199254740991]}"#.into());
        assert_ne!(content(&a), content(&b), "one apart beyond 2^53 is a change");
        let text = text(&a);
        assert!(
            text.contains(r#""payload":{"m":["-9007199254740993",9007199254740991],"n":"9007199254740993"}"#),
            "{text}"
        );
    }

    #[test]
    fn unparsable_json_is_not_the_string_it_spells() {
        let (mut a, mut b) = (sample_record(), sample_record());
        b.id = a.id;
        a.payload = Some(r#""abc""#.into());
        b.payload = Some("abc".into());
        assert_ne!(content(&a), content(&b));
    }

    #[test]
    fn a_link_hashes_the_previous_hash_then_the_content() {
        let content = [7_u8; 32];
        let mut joined = GENESIS.to_vec();
        joined.extend_from_slice(&content);
        assert_eq!(link(&GENESIS, &content), <Hash>::from(Sha256::digest(&joined)));
    }
}
