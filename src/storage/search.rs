//! The search index: each record's words, in one document per record, and
//! the index query a filter's free text, address, user agent and payload
//! fields become. SQLite keeps the documents in an FTS5 table
//! (`events_search`), PostgreSQL as a `tsvector` column with a GIN index
//! (migrations `search`); both are written in the record's transaction and
//! asked with the same query, rendered per dialect.
//!
//! Words are cut by `app::search::words` on both sides. Besides the record's
//! words, a document holds marker words no record or search can hold: they
//! start with U+E000, a private-use character, which `words` cuts text at
//! (it is no letter or digit) and both indexes keep inside a word (FTS5's
//! tokenizer takes private-use characters as token characters). `␀f…`
//! (␀ for U+E000) goes before a payload field's value (a hash of its path),
//! `␀v…` for a value that is not one word (a hash of path and value, so an
//! equality is one word), `␀ip…` for the client's address (its 32 hex
//! digits, so a CIDR range is a prefix), `␀ua…` before each word of the
//! user agent. So text cannot pass for an address, an agent or a field.

use std::borrow::Cow;
use std::fmt::Write;
use std::net::IpAddr;

use app::model::{client_address, EventFilter, FieldCondition, FieldTest};
use app::search::{terms, words, Term};
use app::store::NewRecord;
use ipnet::IpNet;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::numbers::{stored_text, FieldNumber};
use super::statement::Dialect;

/// A document's words stop at either: PostgreSQL refuses a `tsvector` over
/// 1 MiB, and past position 16,383 it keeps the last, so a phrase could not
/// be found there; both databases hold the same words.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
const MAX_DOCUMENT_WORDS: usize = 16_383;
/// Past those, each payload field still gets its mark and its value word
/// (one word each, found wherever they are), up to this many more bytes
/// (about 2,000 fields): a long text before it does not hide a field.
const MAX_FIELD_WORD_BYTES: usize = 64 * 1024;

/// PostgreSQL keeps a word's first 256 positions in a document: past them
/// a one-word value's phrase (its field's mark, the word) may not be found.
/// Fewer words in, no word can have had that many, so from this many words
/// on a one-word value is given its value word too.
const POSITIONS_PER_WORD: usize = 256;

const FIELD_MARK: &str = "\u{E000}f";
const VALUE_MARK: &str = "\u{E000}v";
const IP_MARK: &str = "\u{E000}ip";
const AGENT_MARK: &str = "\u{E000}ua";

/// The record's columns whose words are searched, in the order a document
/// holds them, after the address and the user agent, before the payload.
const TEXT_COLUMNS: [&str; 11] = [
    "message",
    "key",
    "context",
    "entity_type",
    "entity_id",
    "actor_id",
    "actor_email",
    "actor_name",
    "actor_label",
    "error_message",
    "provider",
];

/// What a record is found by, borrowed from a new record or a stored row.
pub struct Searchable<'r> {
    texts: [Option<&'r str>; TEXT_COLUMNS.len()],
    ip: Option<&'r str>,
    user_agent: Option<&'r str>,
    payload: Option<&'r str>,
}

impl<'r> Searchable<'r> {
    pub fn of(r: &'r NewRecord) -> Self {
        Searchable {
            texts: [
                r.message.as_deref(),
                Some(r.key.as_str()),
                r.context.as_deref(),
                r.entity_type.as_deref(),
                r.entity_id.as_deref(),
                r.actor_id.as_deref(),
                r.actor_email.as_deref(),
                r.actor_name.as_deref(),
                r.actor_label.as_deref(),
                r.error_message.as_deref(),
                r.provider.as_deref(),
            ],
            ip: r.ip.as_deref(),
            user_agent: r.user_agent.as_deref(),
            payload: r.payload.as_deref(),
        }
    }
}

/// A stored record's searched columns (`searched_columns`), read by position.
pub struct StoredSearchable {
    /// SQLite's `seq`, PostgreSQL's `id`: where the document goes.
    pub position: PositionValue,
    pub kind: String,
    cells: Vec<Option<String>>,
}

/// A record's place in its table.
pub enum PositionValue {
    Seq(i64),
    Id(uuid::Uuid),
}

impl PositionValue {
    pub fn seq(&self) -> Option<i64> {
        match self {
            PositionValue::Seq(seq) => Some(*seq),
            PositionValue::Id(_) => None,
        }
    }

    pub fn id(&self) -> Option<uuid::Uuid> {
        match self {
            PositionValue::Id(id) => Some(*id),
            PositionValue::Seq(_) => None,
        }
    }
}

/// The SELECT list `StoredSearchable` reads, over records `e`.
pub fn searched_columns(dialect: Dialect) -> String {
    let mut columns: Vec<String> = vec![format!("e.{}", dialect.position()), "e.kind".into()];
    columns.extend(TEXT_COLUMNS.iter().chain(&["ip", "user_agent"]).map(|c| format!("e.{c}")));
    columns.push(dialect.json_text("e.payload"));
    columns.join(", ")
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for StoredSearchable
where
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    uuid::Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> sqlx::Result<Self> {
        let position = match row.try_get::<i64, _>(0) {
            Ok(seq) => PositionValue::Seq(seq),
            Err(_) => PositionValue::Id(row.try_get(0)?),
        };
        let cells = (2..row.len()).map(|at| row.try_get::<Option<String>, _>(at)).collect::<sqlx::Result<_>>()?;
        Ok(StoredSearchable { position, kind: row.try_get(1)?, cells })
    }
}

impl StoredSearchable {
    pub fn searchable(&self) -> Searchable<'_> {
        let cell = |at: usize| self.cells.get(at).and_then(|c| c.as_deref());
        let n = TEXT_COLUMNS.len();
        Searchable { texts: std::array::from_fn(cell), ip: cell(n), user_agent: cell(n + 1), payload: cell(n + 2) }
    }
}

/// The words a record is found by, as `dialect`'s index takes them: SQLite's
/// FTS5 the words, PostgreSQL a `tsvector` in its text form (`word:1
/// other:2 word:3`), so its parser does not cut them again (it read
/// `3e8a1f` as `3e8 a1f`) and its time goes to the index, not to parsing.
pub fn document(r: &Searchable, dialect: Dialect) -> String {
    let mut doc = Document { positions: dialect == Dialect::Postgres, ..Document::default() };
    // The address and the agent first: a long text cannot leave them out.
    if let Some(address) = r.ip.and_then(client_address) {
        doc.word(&address_word(address));
    }
    for word in r.user_agent.map(words).into_iter().flatten() {
        doc.word(&format!("{AGENT_MARK}{word}"));
    }
    for text in r.texts.into_iter().flatten() {
        doc.text(text);
    }
    if let Some(payload) = r.payload.and_then(|p| serde_json::from_str::<Json>(p).ok()) {
        doc.json(&payload, Some(&mut Vec::new()));
    }
    doc.text
}

#[derive(Default)]
struct Document {
    text: String,
    /// Bytes of words so far (positions aside, so both forms hold the same).
    bytes: usize,
    words: usize,
    /// Bytes of fields' words written after the words of text stopped.
    past_text_bytes: usize,
    /// Each word followed by its position (`tsvector` text form).
    positions: bool,
}

impl Document {
    /// No more words of text.
    fn full(&self) -> bool {
        self.bytes >= MAX_DOCUMENT_BYTES || self.words >= MAX_DOCUMENT_WORDS
    }

    /// No more words at all, not even a field's.
    fn closed(&self) -> bool {
        self.past_text_bytes >= MAX_FIELD_WORD_BYTES
    }

    fn word(&mut self, word: &str) {
        if !self.full() {
            self.push(word);
        }
    }

    /// A field's mark or value word: it goes on past the words of text.
    fn field_word(&mut self, word: &str) {
        if self.closed() {
            return;
        }
        if self.full() {
            self.past_text_bytes += word.len() + 1;
        }
        self.push(word);
    }

    fn push(&mut self, word: &str) {
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(word);
        // As long as the text of words and spaces (SQLite's document).
        self.bytes += word.len() + usize::from(self.words > 0);
        self.words += 1;
        if self.positions {
            // Words are letters and digits, nothing PostgreSQL's `tsvector`
            // input reads as syntax.
            // Written in place: a document is built per record at ingest.
            let _ = write!(self.text, ":{}", self.words);
        }
    }

    fn text(&mut self, text: &str) {
        for word in words(text) {
            self.word(&word);
        }
    }

    /// A value's words. A scalar reached through objects only (`path`) is
    /// preceded by its field's mark; inside arrays there is no path.
    fn json<'v>(&mut self, value: &'v Json, path: Option<&mut Vec<&'v str>>) {
        if self.closed() {
            return;
        }
        match value {
            Json::Object(members) => match path {
                Some(path) => {
                    for (key, member) in members {
                        path.push(key);
                        self.json(member, Some(path));
                        path.pop();
                    }
                }
                None => members.values().for_each(|member| self.json(member, None)),
            },
            Json::Array(items) => items.iter().for_each(|item| self.json(item, None)),
            Json::Null => {}
            scalar => {
                let text = scalar_text(scalar);
                if let Some(path) = path {
                    // The path hashed once for the mark and the value word.
                    let field = PathHash::of(path);
                    self.field_word(&field.mark());
                    // A one-word value after its mark is their phrase, if
                    // the word is written and PostgreSQL keeps its place.
                    if !is_one_word(&text) || self.full() || self.words >= POSITIONS_PER_WORD {
                        self.field_word(&field.value_word(&text));
                    }
                }
                self.text(&text);
                // A number also as JSON shows it (`10.0`), when the index
                // writes it otherwise (`10`): free text finds it as shown.
                if let Json::Number(n) = scalar {
                    let shown = n.to_string();
                    if shown != text {
                        self.text(&shown);
                    }
                }
            }
        }
    }
}

/// A scalar's text as the index writes it: a string as it is, a number as
/// `numbers::stored_text` writes it, `true`/`false`.
fn scalar_text(scalar: &Json) -> Cow<'_, str> {
    match scalar {
        Json::String(text) => Cow::Borrowed(text),
        Json::Number(n) => Cow::Owned(stored_text(n)),
        other => Cow::Owned(other.to_string()),
    }
}

/// The mark of a payload field: a hash of its path.
fn field_word(path: &[impl AsRef<str>]) -> String {
    PathHash::of(path).mark()
}

/// What finds a field holding `value`: a value that is one word as the index
/// writes it (`1500`, `paid`) is that word right after the field's mark, and
/// the word itself narrows the search as much as a word of the value's own
/// would (which would double the index's unique words: ids, numbers), or,
/// far into a long document, its value word (`POSITIONS_PER_WORD`); any
/// other value (`bob@example.com`, `Paid`, `-5`), whose words may each be in
/// most records, is its value word.
fn value_phrases(path: &[impl AsRef<str>], value: &str) -> Vec<Phrase> {
    let field = PathHash::of(path);
    let value_word = exact(vec![field.value_word(value)]);
    if is_one_word(value) {
        vec![exact(vec![field.mark(), value.to_owned()]), value_word]
    } else {
        vec![value_word]
    }
}

/// Whether `text` is a single word exactly as `words` writes it (a word
/// of letters and digits, lowercase, not too long): the document and the
/// query both ask this of a value, so they agree on its words.
fn is_one_word(text: &str) -> bool {
    let mut words = words(text);
    words.next().is_some_and(|word| word == text) && words.next().is_none()
}

/// The hash of a payload field's dotted path (`data.email`), fed a key at a
/// time: what its mark and its value words start from.
struct PathHash(Sha256);

impl PathHash {
    fn of(path: &[impl AsRef<str>]) -> Self {
        let mut hash = Sha256::new();
        for (n, key) in path.iter().enumerate() {
            if n > 0 {
                hash.update(b".");
            }
            hash.update(key.as_ref().as_bytes());
        }
        PathHash(hash)
    }

    fn mark(&self) -> String {
        format!("{FIELD_MARK}{}", hex::encode(&self.0.clone().finalize()[..8]))
    }

    /// 40 bits: two values sharing a word is rare and the exact test is
    /// checked on what the index finds, while a short word costs less to index.
    fn value_word(&self, value: &str) -> String {
        let mut hash = self.0.clone();
        hash.update([0]);
        hash.update(value.as_bytes());
        format!("{VALUE_MARK}{}", hex::encode(&hash.finalize()[..5]))
    }
}

/// An address as the 32 hex digits of its IPv6 form (IPv4 mapped).
fn address_word(address: IpAddr) -> String {
    format!("{IP_MARK}{:032x}", address_bits(address))
}

fn address_bits(address: IpAddr) -> u128 {
    let v6 = match address {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6, |v4| v4.to_ipv6_mapped()),
    };
    u128::from(v6)
}

/// Words in a row (`app::search::Term`): the index query's phrases.
type Phrase = Term;

fn exact(words: Vec<String>) -> Phrase {
    Term { words, prefix: false }
}

/// What the index is asked: every clause holds, each clause by one of its
/// phrases.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IndexQuery(Vec<Vec<Phrase>>);

impl IndexQuery {
    /// The index query of `filter`'s free text, address, user agent and
    /// payload fields; `None` when it has none of them.
    pub fn of(filter: &EventFilter) -> Option<Self> {
        let mut clauses: Vec<Vec<Phrase>> = Vec::new();
        if let Some(q) = &filter.q {
            clauses.extend(terms(q).into_iter().map(|term| vec![term]));
        }
        if let Some(range) = filter.ip {
            clauses.push(address_prefixes(range));
        }
        if let Some(agent) = &filter.user_agent {
            clauses.extend(terms(agent).into_iter().map(|term| {
                let words = term.words.iter().map(|w| format!("{AGENT_MARK}{w}")).collect();
                vec![Phrase { words, prefix: term.prefix }]
            }));
        }
        for condition in &filter.payload {
            clauses.push(field_phrases(condition));
        }
        (!clauses.is_empty()).then_some(IndexQuery(clauses))
    }

    /// An FTS5 query: `"inv 2024" * AND ("␀ipab"* OR "␀ipac"*)`. Words
    /// are letters and digits (and a mark's U+E000), so within quotes none
    /// is an operator.
    pub fn fts5(&self) -> String {
        self.render(" AND ", " OR ", |p| format!("\"{}\"{}", p.words.join(" "), if p.prefix { " *" } else { "" }))
    }

    /// A `tsquery` as an SQL string literal: `'inv <-> 2024:* & (␀ipab:* | ␀ipac:*)'`,
    /// its words the lexemes themselves (cast, not parsed, as documents are).
    /// Words are letters and digits; quotes are doubled all the same, so the
    /// literal's safety does not rest on that rule alone.
    pub fn tsquery_literal(&self) -> String {
        let query =
            self.render(" & ", " | ", |p| format!("{}{}", p.words.join(" <-> "), if p.prefix { ":*" } else { "" }));
        format!("'{}'", query.replace('\'', "''"))
    }

    fn render(&self, and: &str, or: &str, phrase: impl Fn(&Phrase) -> String) -> String {
        let clauses: Vec<String> = self
            .0
            .iter()
            .map(|alternatives| {
                let rendered: Vec<String> = alternatives.iter().map(&phrase).collect();
                if rendered.len() == 1 {
                    rendered.into_iter().next().unwrap_or_default()
                } else {
                    format!("({})", rendered.join(or))
                }
            })
            .collect();
        clauses.join(and)
    }
}

/// The address words of `range`: one word, or the starts of the words in
/// it, whole hex digits each (a /22 is four /24 starts).
fn address_prefixes(range: IpNet) -> Vec<Phrase> {
    let mapped = match range {
        IpNet::V4(_) => 96,
        IpNet::V6(_) => 0,
    };
    let bits = mapped + u32::from(range.prefix_len());
    let base = address_bits(range.network());
    if bits == 128 {
        return vec![exact(vec![address_word(range.network())])];
    }
    let digits = bits.div_ceil(4);
    let spare = digits * 4 - bits;
    (0..1u128 << spare)
        .map(|n| {
            // No spare bits (n = 0) when the range is all addresses (digits = 0).
            let start = base | n.checked_shl(128 - digits * 4).unwrap_or(0);
            let hex = format!("{start:032x}");
            Phrase { words: vec![format!("{IP_MARK}{}", &hex[..digits as usize])], prefix: true }
        })
        .collect()
}

/// An equality is the field's value phrases (`value_phrases`) for the value
/// as written and, when it spells a number, for each way the index may have
/// written a number equal to it (`FieldNumber::texts`: `1500.0` is stored
/// `1500`); a comparison is the field's mark. What the index finds is then
/// checked against the exact test (`Conditions`): two values may share a
/// value word, a string and a number a phrase (`"1500"`, `1500`), and a
/// dotted key a path (`{"a.b": 1}`, `{"a": {"b": 1}}`).
fn field_phrases(condition: &FieldCondition) -> Vec<Phrase> {
    let FieldTest::Equals(value) = &condition.test else {
        return vec![exact(vec![field_word(&condition.path)])];
    };
    let numbers = FieldNumber::parse(value).map(|n| n.texts()).unwrap_or_default();
    let mut phrases: Vec<Phrase> = Vec::new();
    for text in std::iter::once(value.as_str()).chain(numbers.iter().map(String::as_str)) {
        for phrase in value_phrases(&condition.path, text) {
            if !phrases.contains(&phrase) {
                phrases.push(phrase);
            }
        }
    }
    phrases
}

/// The value of `value` if it spells a JSON boolean.
pub fn field_boolean(value: &str) -> Option<bool> {
    match value {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::columns::sample_record;

    /// A payload field holding `value`'s value word.
    fn value_word(path: &[&str], value: &str) -> String {
        PathHash::of(path).value_word(value)
    }

    fn filter(text: &str) -> EventFilter {
        let mut filter = EventFilter::default();
        app::search::apply(text, &mut filter, app::model::Micros(0)).unwrap();
        filter
    }

    #[test]
    fn a_document_holds_the_words_fields_address_and_agent() {
        let mut record = sample_record();
        record.message = Some("Invoice INV-2024-0042 sent".into());
        record.ip = Some("203.0.113.7".into());
        record.user_agent = Some("Mozilla/5.0 Firefox/115".into());
        record.payload = Some(r#"{"data":{"email":"Bob@Example.com","n":1500.0},"tags":["vip"]}"#.into());
        let doc = document(&Searchable::of(&record), Dialect::Sqlite);
        assert!(
            doc.starts_with(
                "\u{E000}ip00000000000000000000ffffcb007107 \u{E000}uamozilla \u{E000}ua5 \u{E000}ua0 \u{E000}uafirefox \u{E000}ua115 \
                 invoice inv 2024 0042 sent invoice sent billing invoice inv 1 u 1 a example com"
            ),
            "{doc}"
        );
        let email = field_word(&["data", "email"]);
        assert_eq!(email, field_word(&["data.email"]), "the hash of the dotted path");
        let bob = value_word(&["data", "email"], "Bob@Example.com");
        assert!(doc.contains(&format!("{email} {bob} bob example com")), "{doc}");
        let n = field_word(&["data", "n"]);
        assert!(doc.contains(&format!("{n} 1500 1500 0 ")), "no value word; also as shown (1500.0): {doc}");
        assert!(doc.ends_with(" vip"), "array items are words without a field: {doc}");
    }

    #[test]
    fn a_document_stops_growing() {
        let mut record = sample_record();
        record.payload = Some(serde_json::json!({ "text": "word ".repeat(100_000) }).to_string());
        assert!(document(&Searchable::of(&record), Dialect::Sqlite).len() < MAX_DOCUMENT_BYTES + 10);
        record.payload = Some(serde_json::json!({ "text": "1 ".repeat(30_000), "status": "paid" }).to_string());
        let words = document(&Searchable::of(&record), Dialect::Sqlite);
        assert_eq!(words.split(' ').count(), MAX_DOCUMENT_WORDS, "short words stop it too");
        let positioned = document(&Searchable::of(&record), Dialect::Postgres);
        assert_eq!(
            positioned.split(' ').count(),
            document(&Searchable::of(&record), Dialect::Sqlite).split(' ').count()
        );
    }

    /// A long text leaves out the words after it, but not a field's mark
    /// and value word, nor the address or the agent.
    #[test]
    fn a_long_text_hides_no_field_address_or_agent() {
        let mut record = sample_record();
        record.message = Some("m ".repeat(20_000));
        record.ip = Some("203.0.113.7".into());
        record.user_agent = Some("curl/8".into());
        let fields: serde_json::Map<String, Json> =
            (0..3_000).map(|n| (format!("f{n:04}"), Json::from("paid"))).collect();
        record.payload = Some(Json::Object(fields).to_string());
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let doc = document(&Searchable::of(&record), dialect);
            let words: Vec<&str> = doc.split(' ').map(|w| w.split(':').next().unwrap_or(w)).collect();
            assert!(words.contains(&address_word("203.0.113.7".parse().unwrap()).as_str()));
            assert!(words.contains(&"\u{E000}uacurl"));
            assert_eq!(words.iter().filter(|w| **w == "m").count(), MAX_DOCUMENT_WORDS - 3, "the text stops");
            assert!(!words.contains(&"paid"), "no value's own words past the text's end");
            for n in [0, 1_000] {
                let path = [format!("f{n:04}")];
                assert!(words.contains(&field_word(&path).as_str()), "field {n}'s mark");
                assert!(words.contains(&value_word(&[path[0].as_str()], "paid").as_str()), "field {n}'s value");
            }
            assert!(!words.contains(&field_word(&["f2999"]).as_str()), "fields stop too");
            assert!(doc.len() < 512 * 1024, "a document stays far below PostgreSQL's 1 MiB");
        }
    }

    #[test]
    fn a_postgres_document_is_its_words_with_their_positions() {
        let mut record = sample_record();
        record.message = Some("Invoice 3e8a1f sent".into());
        (record.ip, record.user_agent) = (None, None);
        let doc = document(&Searchable::of(&record), Dialect::Postgres);
        assert!(doc.starts_with("invoice:1 3e8a1f:2 sent:3 invoice:4"), "{doc}");
        let words = document(&Searchable::of(&record), Dialect::Sqlite);
        let positioned: Vec<String> = words.split(' ').enumerate().map(|(n, w)| format!("{w}:{}", n + 1)).collect();
        assert_eq!(doc, positioned.join(" "));
    }

    #[test]
    fn queries_render_for_both_indexes() {
        let query = IndexQuery::of(&filter(r#"INV-2024* "failed payment" ip:203.0.113.0/22"#)).unwrap();
        assert_eq!(
            query.fts5(),
            "\"inv 2024\" * AND \"failed payment\" AND (\"\u{E000}ip00000000000000000000ffffcb0070\" * OR \
             \"\u{E000}ip00000000000000000000ffffcb0071\" * OR \"\u{E000}ip00000000000000000000ffffcb0072\" * OR \
             \"\u{E000}ip00000000000000000000ffffcb0073\" *)"
        );
        let query = IndexQuery::of(&filter("ua:firefox/115 ip:203.0.113.7")).unwrap();
        assert_eq!(
            query.tsquery_literal(),
            "'\u{E000}ip00000000000000000000ffffcb007107 & \u{E000}uafirefox <-> \u{E000}ua115'"
        );
        assert_eq!(IndexQuery::of(&filter("kind:audit")), None);
    }

    #[test]
    fn addresses_are_one_word_whatever_their_form() {
        assert_eq!(client_address(" fe80::1%eth0 "), Some("fe80::1".parse().unwrap()), "a zone is left out");
        assert_eq!(client_address("203.0.113.7%x"), None, "not an IPv6 address");
        assert_eq!(client_address("not-an-ip"), None);
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(address_word(mapped), address_word("203.0.113.7".parse().unwrap()));
        let all = address_prefixes("0.0.0.0/0".parse().unwrap());
        assert_eq!(all, [Phrase { words: vec!["\u{E000}ip00000000000000000000ffff".into()], prefix: true }]);
        assert_eq!(address_prefixes("2001:db8::/33".parse().unwrap()).len(), 8);
        let everything = address_prefixes("::/0".parse().unwrap());
        assert_eq!(everything, [Phrase { words: vec!["\u{E000}ip".into()], prefix: true }]);
    }

    #[test]
    fn field_values_are_found_as_written_and_as_numbers() {
        let f = filter("payload.n:1500.0 payload.amount:>=10 payload.data.email:Bob@Example.com payload.vip:true");
        let n = field_phrases(&f.payload[0]);
        let (n_mark, n_1500) = (field_word(&["n"]), value_word(&["n"], "1500"));
        assert_eq!(
            n,
            [exact(vec![value_word(&["n"], "1500.0")]), exact(vec![n_mark, "1500".into()]), exact(vec![n_1500])]
        );
        assert_eq!(field_phrases(&f.payload[1]), [exact(vec![field_word(&["amount"])])]);
        let email = field_phrases(&f.payload[2]);
        assert_eq!(email, [exact(vec![value_word(&["data", "email"], "Bob@Example.com")])]);
        assert_ne!(value_word(&["a"], "b"), value_word(&["a", "b"], ""), "path and value are apart");
        let vip = [exact(vec![field_word(&["vip"]), "true".into()]), exact(vec![value_word(&["vip"], "true")])];
        assert_eq!(field_phrases(&f.payload[3]), vip);
        let mut record = sample_record();
        record.payload =
            Some(r#"{"vip":true,"n":1.5e3,"state":"Paid","code":"-5","x":15000,"id":18446744073709551615}"#.into());
        let doc = document(&Searchable::of(&record), Dialect::Sqlite);
        for phrase in
            [("vip", "true"), ("n", "1500"), ("state", "Paid"), ("code", "-5"), ("id", "18446744073709552000")]
                .map(|(p, v)| value_phrases(&[p], v).remove(0))
        {
            assert!(format!("{doc} ").contains(&format!(" {} ", phrase.words.join(" "))), "{phrase:?} in {doc}");
        }
        assert!(doc.contains(" 18446744073709551615 "), "free text finds a number as written: {doc}");
    }

    #[test]
    fn far_into_a_long_document_a_one_word_value_has_its_value_word() {
        let mut record = sample_record();
        // 300 `usd`s before `total.currency`: PostgreSQL keeps the first 256 positions of a word.
        let items: Vec<String> = (0..300).map(|_| r#"{"currency":"usd"}"#.to_owned()).collect();
        record.payload = Some(format!(r#"{{"items":[{}],"total":{{"currency":"usd"}}}}"#, items.join(",")));
        let doc = document(&Searchable::of(&record), Dialect::Postgres);
        let value_word = value_word(&["total", "currency"], "usd");
        assert!(doc.contains(&format!(" {value_word}:")), "{doc}");
        assert!(field_phrases(&filter("payload.total.currency:usd").payload[0]).contains(&exact(vec![value_word])));
    }

    #[test]
    fn a_value_is_one_word_as_the_index_writes_it() {
        assert!(is_one_word("paid") && is_one_word("1500") && is_one_word("überweisung"));
        assert!(!is_one_word("Paid") && !is_one_word("-5") && !is_one_word("a b") && !is_one_word(""));
        assert!(!is_one_word(&"x".repeat(200)), "a word too long to be written");
    }
}
