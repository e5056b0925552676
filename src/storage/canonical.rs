//! The canonical form of a record and the hashes of its chain link
//! (docs/integrity.md says the same for someone checking by hand):
//!
//! - canonical form: RFC 8785 (JCS) JSON of an object with one member per
//!   stored column of the record that is not NULL, named as the column:
//!   text as strings, `id` as the lowercase hyphenated UUID, integers as
//!   numbers (`severity` is its rank, times are microseconds since the Unix
//!   epoch), `payload` and `diff` as the JSON they hold;
//! - `content` = SHA-256(canonical form);
//! - `hash` = SHA-256(previous link's hash ‖ content), 32 zero bytes before the
//!   first link. Hashing the content's digest rather than the form itself
//!   lets a proof carry 32 bytes per later record instead of the record.

use app::store::NewRecord;
use serde_json::{Map, Value as Json};
use sha2::{Digest as _, Sha256};

use super::columns::{Value, RECORD_COLUMNS};

pub type Hash = [u8; 32];

/// The previous hash of a chain's first link.
pub const GENESIS: Hash = [0; 32];

/// The record as the JSON object its canonical form serialises.
pub fn object(record: &NewRecord) -> Map<String, Json> {
    let mut object = Map::new();
    for column in &RECORD_COLUMNS {
        let value = match column.value {
            Value::Uuid(read) => Some(Json::String(read(record).hyphenated().to_string())),
            Value::BigInt(read) => Some(read(record).into()),
            Value::NullableBigInt(read) => read(record).map(Json::from),
            Value::SmallInt(read) => Some(read(record).into()),
            Value::Text(read) => read(record).map(|text| Json::String(text.to_owned())),
            // Stored JSON that no longer parses was changed: as text it
            // hashes differently from anything Trail stored.
            Value::Json(read) => {
                read(record).map(|text| serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned())))
            }
        };
        if let Some(value) = value {
            object.insert(column.name.to_owned(), value);
        }
    }
    object
}

/// RFC 8785 bytes of `value`.
pub fn jcs(value: &impl serde::Serialize) -> Vec<u8> {
    // Serialising a JSON value or a plain struct cannot fail.
    serde_jcs::to_vec(value).unwrap_or_default()
}

/// SHA-256 of the record's canonical form.
pub fn content(record: &NewRecord) -> Hash {
    Sha256::digest(jcs(&object(record))).into()
}

/// The hash of a link whose record has `content`, after a link hashed `previous`.
pub fn link(previous: &[u8], content: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(content);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::columns::sample_record;

    #[test]
    fn the_canonical_form_is_sorted_compact_and_leaves_out_nulls() {
        let mut record = sample_record();
        record.id = uuid::Uuid::nil();
        record.payload = Some(r#"{"b": 1.50, "a": [true, null], "é": "x"}"#.into());
        record.diff = None;
        let text = String::from_utf8(jcs(&object(&record))).unwrap();
        assert!(text.starts_with(r#"{"actor_email":"a@example.com","actor_id":"u_1","#), "{text}");
        assert!(text.contains(r#""id":"00000000-0000-0000-0000-000000000000""#), "{text}");
        assert!(text.contains(r#""payload":{"a":[true,null],"b":1.5,"é":"x"}"#), "{text}");
        assert!(text.contains(r#""severity":2,"#) && text.contains(r#""occurred_at":1,"#), "{text}");
        assert!(!text.contains("diff"), "{text}");
    }

    #[test]
    fn the_same_json_however_written_hashes_the_same() {
        let (mut a, mut b) = (sample_record(), sample_record());
        b.id = a.id;
        a.payload = Some(r#"{"x":1e2,"y":{"b":2,"a":1}}"#.into());
        b.payload = Some(r#"{"y": {"a": 1, "b": 2}, "x": 100}"#.into());
        assert_eq!(content(&a), content(&b));
        b.message = Some("changed".into());
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
