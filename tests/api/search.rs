//! Investigations: free text by words, payload fields, addresses and user
//! agents, served by the search index, on both databases; the index keeps
//! step with staging, purges and a reindex.

use std::collections::BTreeSet;

use app::model::{Cursor, EventFilter, EventRow, Kind, Micros, Order};
use app::store::{Page, Scope};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{add_workspace, issue_key, received, received_at, spawn_app, TestApp};

/// The keys of the records a read-API search finds, or the error's text.
async fn find(app: &TestApp, key: &str, query: &[(&str, &str)]) -> Result<BTreeSet<String>, String> {
    let response =
        app.client.get(app.url("/api/v1/events")).bearer_auth(key).query(query).send().await.expect("request sent");
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    if status != StatusCode::OK {
        return Err(format!("{status}: {body}"));
    }
    Ok(body["events"].as_array().expect("events").iter().map(|r| r["key"].as_str().unwrap().to_owned()).collect())
}

fn keys(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

async fn investigation(app: &TestApp) {
    let records = json!([
        {"kind": "audit", "key": "invoice.paid", "message": "Invoice INV-2024-0042 paid",
         "actor": {"type": "user", "id": "u_1", "email": "maya@example.com", "name": "Maya Chen"},
         "ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11; Linux) Firefox/115.0",
         "payload": {"data": {"email": "bob@example.com"}, "amountCents": 1500, "items": [{"sku": "SKU-77"}]}},
        {"kind": "audit", "key": "invoice.sent", "message": "Invoice INV-2024-0043 sent",
         "actor": {"type": "user", "id": "u_2"},
         "ip": "203.0.113.200", "user_agent": "curl/8.5.0",
         "payload": {"data": {"email": "ann@example.com"}, "amountCents": 500.0, "vip": true, "rate": 1.5, "delta": -5}},
        {"kind": "event", "key": "refund.issued", "message": "Refunded the order (build 3e8a1f, Überweisung)",
         "ip": "2001:db8::1",
         "payload": {"amountCents": "1500", "order": "ORD-9", "big": 12345678901234567_u64, "ns:id": 4242, "note": ""}},
        {"kind": "event", "key": "login.failed", "message": "Wrong password for bob (3e8 attempts)",
         "ip": "198.51.100.2", "payload": {"data": {"email": "BOB@example.com"}}},
    ]);
    let response = app.ingest(&records).await;
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn one_record_among_many_by_its_words_fields_address_or_agent() {
    let app = spawn_app().await;
    investigation(&app).await;
    let key = issue_key(&app.store, "", "read").await;
    let q = |text: &'static str| [("q", text)];
    for (query, expected) in [
        ("INV-2024-0042", &["invoice.paid"][..]),
        ("inv-2024", &["invoice.paid", "invoice.sent"]),
        ("0043", &["invoice.sent"]),
        ("INV-2024-0044", &[]),
        ("\"paid 0042\"", &[]),
        ("invoice paid", &["invoice.paid"]),
        ("refund*", &["refund.issued"]),
        // One word each, as written, on both databases (PostgreSQL's own
        // parser read `3e8a1f` as `3e8 a1f`, and `3e8a*` found `3e8 attempts`).
        ("3e8a1f", &["refund.issued"]),
        ("3e8a*", &["refund.issued"]),
        ("ÜBERWEISUNG", &["refund.issued"]),
        ("maya@example.com", &["invoice.paid"]),
        ("Maya", &["invoice.paid"]),
        ("bob@example.com", &["invoice.paid", "login.failed"]),
        ("sku-77", &["invoice.paid"]),
        ("ORD-9 kind:event", &["refund.issued"]),
        ("ip:203.0.113.7", &["invoice.paid"]),
        ("ip:203.0.113.0/24", &["invoice.paid", "invoice.sent"]),
        ("ip:203.0.112.0/22", &["invoice.paid", "invoice.sent"]),
        ("ip:203.0.113.128/25", &["invoice.sent"]),
        ("ip:2001:db8::/32", &["refund.issued"]),
        ("ip:::ffff:198.51.100.2", &["login.failed"]),
        ("ua:firefox", &["invoice.paid"]),
        ("ua:curl/8", &["invoice.sent"]),
        ("payload.data.email:bob@example.com", &["invoice.paid"]),
        ("payload.data.email:BOB@example.com", &["login.failed"]),
        ("payload.email:bob@example.com", &[]),
        ("payload.amountCents:1500", &["invoice.paid", "refund.issued"]),
        ("payload.amountCents:500", &["invoice.sent"]),
        // A number as written otherwise; a string that spells one is a string.
        ("payload.amountCents:500.00", &["invoice.sent"]),
        ("payload.amountCents:1500.0", &["invoice.paid"]),
        ("payload.order:ORD-9", &["refund.issued"]),
        ("payload.order:ord-9", &[]),
        ("payload.amountCents:>=1000", &["invoice.paid"]),
        ("payload.amountCents:<1000", &["invoice.sent"]),
        ("payload.vip:true", &["invoice.sent"]),
        ("payload.items.sku:SKU-77", &[]),
        // Integers beyond 2^53 compare exactly.
        ("payload.big:12345678901234567", &["refund.issued"]),
        ("payload.big:12345678901234568", &[]),
        ("payload.big:>12345678901234566", &["refund.issued"]),
        ("payload.big:>12345678901234567", &[]),
        ("payload.big:12345678901234567.0", &["refund.issued"]),
        ("payload.big:1.2345678901234567e16", &["refund.issued"]),
        ("payload.big:12345678901234568.0", &[]),
        // Numbers that are not one word as the index writes them.
        ("payload.rate:1.5", &["invoice.sent"]),
        ("payload.rate:1.50", &["invoice.sent"]),
        ("payload.delta:-5", &["invoice.sent"]),
        ("payload.delta:-5.0", &["invoice.sent"]),
        ("payload.delta:5", &[]),
        ("ip:::/0", &["invoice.paid", "invoice.sent", "refund.issued", "login.failed"]),
        ("ip:0.0.0.0/0", &["invoice.paid", "invoice.sent", "login.failed"]),
    ] {
        assert_eq!(find(&app, &key, &q(query)).await, Ok(keys(expected)), "{query}");
    }

    // The same as parameters of the read API.
    for (params, expected) in [
        (&[("ip", "203.0.113.0/24")][..], &["invoice.paid", "invoice.sent"][..]),
        (&[("user_agent", "Mozilla/5.0 (X11; Linux)")], &["invoice.paid"]),
        (&[("payload.data.email", "bob@example.com")], &["invoice.paid"]),
        (&[("payload.amountCents", ">=1000"), ("q", "invoice")], &["invoice.paid"]),
        // A field named twice is two conditions: a range.
        (&[("payload.amountCents", ">=600"), ("payload.amountCents", "<=1500")], &["invoice.paid"]),
        // An address range twice is the narrower.
        (&[("ip", "203.0.113.0/24"), ("q", "ip:203.0.113.7")], &["invoice.paid"]),
        // A parameter's name is the whole path, colons and all; any case of `payload.`.
        (&[("payload.ns:id", "4242")], &["refund.issued"]),
        (&[("Payload.order", "ORD-9")], &["refund.issued"]),
        // A blank field asks for "", as `payload.note:` does; a blank `ip` is no filter.
        (&[("payload.note", ""), ("ip", "")], &["refund.issued"]),
        // A value as it is, spaces and all, as a quoted one in `q`.
        (&[("payload.order", " ORD-9 ")], &[]),
        (&[("payload.order", "ORD-9"), ("ip", " 2001:db8::1 ")], &["refund.issued"]),
        // Exponents at i64's ends read as f64 does (0), and do not break the exact test.
        (&[("payload.amountCents", ">=1e-9223372036854775808")], &["invoice.paid", "invoice.sent"]),
        (&[("payload.amountCents", "0.1e-9223372036854775808")], &[]),
    ] {
        assert_eq!(find(&app, &key, params).await, Ok(keys(expected)), "{params:?}");
    }
    let many_words = "w ".repeat(app::search::MAX_TERMS + 1);
    let deep_path = format!("payload.{}", ["a"; app::search::MAX_PATH_KEYS + 1].join("."));
    let long_phrase = format!("{}a", "a-".repeat(app::search::MAX_TERM_WORDS));
    for (params, names) in [
        (&[("ip", "203.0.113")][..], "ip:"),
        (&[("payload.amountCents", ">=lots")], "payload.amountCents: >= needs a number"),
        (&[("q", "ip:999.1.1.1")], "q: ip:"),
        (&[("q", "---")], "has no letters or digits"),
        (&[("user_agent", "//")], "user_agent:"),
        (&[("q", "a*")], "a prefix needs at least 2"),
        (&[("payload.a\"b", "1")], "without quotes"),
        (&[("payload.a\0b", "1")], "NUL"),
        (&[(deep_path.as_str(), "1")], "at most 32 names"),
        // The bounds hold for the parameters as for `q`.
        (&[("user_agent", many_words.as_str())], "user_agent: a search may hold at most 32 terms"),
        (&[("q", long_phrase.as_str())], "q: a term (a phrase) may hold at most 64 words"),
        // A filter given twice narrows: two that cannot both hold are refused.
        (&[("ip", "10.0.0.0/8"), ("q", "ip:203.0.113.7")], "q: ip: 10.0.0.0/8 and 203.0.113.7/32 share no address"),
        (&[("kind", "audit"), ("q", "kind:action")], "q: kind: given twice"),
        (&[("kind", "audit"), ("q", "---")], "has no letters or digits"),
    ] {
        let error = find(&app, &key, params).await.expect_err("refused");
        assert!(error.starts_with("400") && error.contains(names), "{params:?}: {error}");
    }
}

/// Text cannot pass for an address, an agent or a payload field: the
/// index's marker words start with a character no record's words hold.
#[tokio::test]
async fn no_text_passes_for_an_address_an_agent_or_a_field() {
    let app = spawn_app().await;
    let forged = "renamed to 0ip00000000000000000000ffffcb007107 0uacurl \u{E000}uacurl \u{E000}ip \u{E000}f";
    let records = json!([
        {"key": "real.one", "ip": "203.0.113.7", "user_agent": "curl/8.5.0", "payload": {"k": "v", "pad": " v "}},
        {"key": "forged.one", "message": forged, "ip": "192.0.2.99", "user_agent": "Edge/1",
         "actor": {"name": "0uacurl"}, "payload": {"note": "0ipad \u{E000}fx"}},
        {"key": "bare.one", "message": "0ipad 0uafirefox"},
        {"key": "zoned.one", "ip": "fe80::1%eth0"},
    ]);
    assert!(app.ingest(&records).await.status().is_success());
    let key = issue_key(&app.store, "", "read").await;
    for (query, expected) in [
        (&[("q", "ip:203.0.113.7")][..], &["real.one"][..]),
        (&[("ip", "203.0.113.0/24")], &["real.one"]),
        (&[("q", "ip:::/0")], &["real.one", "forged.one", "zoned.one"]),
        // A link-local address with its zone is found by the address.
        (&[("q", "ip:fe80::1")], &["zoned.one"]),
        (&[("ip", "fe80::/10")], &["zoned.one"]),
        (&[("q", "ua:curl")], &["real.one"]),
        (&[("user_agent", "curl")], &["real.one"]),
        (&[("q", "ua:firefox")], &[]),
        (&[("q", "payload.k:v")], &["real.one"]),
        (&[("payload.pad", " v ")], &["real.one"]),
        (&[("payload.pad", "v")], &[]),
        // Its own words find it as text.
        (&[("q", "0uacurl")], &["forged.one"]),
        (&[("q", "0ip*")], &["forged.one", "bare.one"]),
    ] {
        assert_eq!(find(&app, &key, query).await, Ok(keys(expected)), "{query:?}");
    }
}

/// Both databases hold and are asked the same words: letters SQLite's
/// FTS5 folds (final sigma, the micro sign, long s) are folded for
/// PostgreSQL too, letters drawn as symbols are no words on either, and a
/// prefix is at least two letters as either reads it.
#[tokio::test]
async fn both_databases_find_the_same_words() {
    let app = spawn_app().await;
    let records = json!([
        {"key": "greek.one", "message": "ΟΔΟΣ σοφός"},
        {"key": "micro.one", "message": "took 5µs", "payload": {"unit": "µs"}},
        {"key": "long.s", "message": "ſtrong ϐeta"},
        {"key": "circled.one", "message": "circled ⓐⓑⓒ and Ⓐ🄰"},
        {"key": "xray.one", "message": "xylophone"},
    ]);
    assert!(app.ingest(&records).await.status().is_success());
    let key = issue_key(&app.store, "", "read").await;
    for (query, expected) in [
        ("οδοσ", Ok(&["greek.one"][..])),
        ("ΟΔΟΣ", Ok(&["greek.one"])),
        ("σοφόσ", Ok(&["greek.one"])),
        ("5μs", Ok(&["micro.one"])),
        ("payload.unit:µs", Ok(&["micro.one"])),
        ("strong βeta", Ok(&["long.s"])),
        ("\"circled and\"", Ok(&["circled.one"])),
        ("xy*", Ok(&["xray.one"])),
        ("ⓐⓑⓒ", Err("no letters or digits")),
        ("x-ⓐⓑ*", Err("a prefix needs at least 2")),
    ] {
        let found = find(&app, &key, &[("q", query)]).await;
        match expected {
            Ok(expected) => assert_eq!(found, Ok(keys(expected)), "{query}"),
            Err(text) => assert!(found.as_ref().is_err_and(|e| e.contains(text)), "{query}: {found:?}"),
        }
    }
}

/// PostgreSQL keeps a word's first 256 positions in a document: a field
/// whose one-word value comes after 300 of the same word is found all the same.
#[tokio::test]
async fn a_field_far_into_a_long_payload_is_found() {
    let app = spawn_app().await;
    let items: Vec<Value> = (0..300).map(|_| json!({"currency": "usd"})).collect();
    let record = json!({"key": "order.placed", "payload": {"items": items, "total": {"currency": "usd"}}});
    let response = app.ingest(&record).await;
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let key = issue_key(&app.store, "", "read").await;
    assert_eq!(find(&app, &key, &[("payload.total.currency", "usd")]).await, Ok(keys(&["order.placed"])));
    assert_eq!(find(&app, &key, &[("payload.total.currency", "eur")]).await, Ok(keys(&[])));
}

/// A document's words of text stop at 16,383: the fields, the address and
/// the agent of a record with a long text are found all the same, and a
/// number is found as the record shows it.
#[tokio::test]
async fn a_long_text_hides_no_field_address_or_agent() {
    let app = spawn_app().await;
    let long = "w ".repeat(17_000);
    // 10,000 characters of 4 bytes each, in words of 99: two fill 64 KiB.
    let dense = format!("{} ", "𝒜".repeat(99)).repeat(100);
    let records = json!([
        {"key": "mail.sent", "message": dense, "error_message": dense,
         "ip": "203.0.113.9", "user_agent": "curl/8.4",
         "payload": {"body": long, "status": "paid", "zeta": 5}},
        {"key": "price.set", "payload": {"price": 10.0}},
    ]);
    let response = app.ingest(&records).await;
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let key = issue_key(&app.store, "", "read").await;
    for (params, expected) in [
        (&[("payload.status", "paid")][..], &["mail.sent"][..]),
        (&[("payload.zeta", ">=5")], &["mail.sent"]),
        (&[("ip", "203.0.113.9")], &["mail.sent"]),
        (&[("user_agent", "curl")], &["mail.sent"]),
        (&[("q", "10.0")], &["price.set"]),
        (&[("q", "10")], &["price.set"]),
        (&[("payload.price", "10")], &["price.set"]),
    ] {
        assert_eq!(find(&app, &key, params).await, Ok(keys(expected)), "{params:?}");
    }
}

#[tokio::test]
async fn a_search_stays_within_the_readers_scope() {
    let app = spawn_app().await;
    investigation(&app).await;
    crate::helpers::add_workspace(&app.store, "globex").await;
    let globex = issue_key(&app.store, "globex", "ingest,read").await;
    let response =
        app.ingest_with(&globex, &json!({"key": "globex.secret", "message": "INV-2024-0042 elsewhere"})).await;
    assert!(response.status().is_success());
    let acme = issue_key(&app.store, "acme", "read").await;
    assert_eq!(find(&app, &acme, &[("q", "INV-2024-0042")]).await, Ok(keys(&["invoice.paid"])));
    assert_eq!(find(&app, &globex, &[("q", "INV-2024-0042")]).await, Ok(keys(&["globex.secret"])));
    let everyone = issue_key(&app.store, "", "read").await;
    assert_eq!(find(&app, &everyone, &[("q", "INV-2024-0042")]).await, Ok(keys(&["invoice.paid", "globex.secret"])));
}

/// Newest first and keyset-paged, like every feed.
#[tokio::test]
async fn many_matches_page_newest_first() {
    let app = spawn_app().await;
    let records: Vec<Value> = (0..23)
        .map(|n| {
            json!({"key": format!("order.n{n:02}"), "message": format!("order ORD-{n} shipped"),
                         "occurred_at": format!("2026-11-01T00:00:{n:02}Z")})
        })
        .collect();
    assert!(app.ingest(&Value::Array(records)).await.status().is_success());
    let key = issue_key(&app.store, "", "read").await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let mut query = vec![("q", "shipped"), ("limit", "10")];
        if !cursor.is_empty() {
            query.push(("cursor", &cursor));
        }
        let page: Value = app
            .client
            .get(app.url("/api/v1/events"))
            .bearer_auth(&key)
            .query(&query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(page["events"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..23).rev().map(|n| format!("order.n{n:02}")).collect();
    assert_eq!(seen, expected);
}

async fn found(app: &TestApp, q: &str) -> usize {
    let mut filter = EventFilter::default();
    app::search::apply(q, &mut filter, Micros::now()).unwrap();
    app.records(&Scope::Platform, &filter).await.len()
}

/// A purged record leaves nothing the index can find; records staged and
/// moved (SQLite) stay found.
#[tokio::test]
async fn the_index_keeps_step_with_staging_and_purges() {
    let app = spawn_app().await;
    let acme = app.workspace.id;
    let mut old = received(acme, Kind::Event, 3.0);
    old.message = Some("needle-old-7 in the haystack".into());
    let mut young = received(acme, Kind::Event, 1.0);
    young.message = Some("needle-young-8 in the haystack".into());
    // More than a stage (5 in tests), so some move into `events` on SQLite.
    let mut others: Vec<_> = (0..12).map(|_| received(acme, Kind::Event, 0.5)).collect();
    others.push(old);
    others.push(young);
    app.store.insert_records(&[others]).await.unwrap();
    app.store.compact().await.unwrap();
    assert_eq!((found(&app, "needle-old-7").await, found(&app, "needle-young-8").await), (1, 1));
    assert_eq!(found(&app, "haystack").await, 2);

    app.cli(&["retention", "set", "--kind", "event", "--days", "2"]).await;
    app.cli(&["retention", "run"]).await;
    assert_eq!((found(&app, "needle-old-7").await, found(&app, "needle-young-8").await), (0, 1));
    assert_eq!(documents_holding(app, "old").await, 0, "the purged record's words are gone from the index");
}

/// Empties the search index behind the server's back.
async fn forget_the_index(app: &TestApp) {
    if app.db.is_postgres() {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query("UPDATE events SET search = NULL").execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
        sqlx::query("INSERT INTO events_search (events_search) VALUES ('delete-all')").execute(&pool).await.unwrap();
    }
}

/// How many documents of the index hold `word`, asked of the index itself.
async fn documents_holding(app: TestApp, word: &str) -> i64 {
    if app.db.is_postgres() {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE search @@ $1::tsquery")
            .bind(word)
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        let pool = sqlx::SqlitePool::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM events_search WHERE events_search MATCH ?")
            .bind(word)
            .fetch_one(&pool)
            .await
            .unwrap()
    }
}

/// Records the index lost (or never had: loaded behind the server's back)
/// are found again after `trail search reindex`.
#[tokio::test]
async fn a_reindex_finds_records_the_index_lost() {
    let app = spawn_app().await;
    investigation(&app).await;
    forget_the_index(&app).await;
    assert_eq!(found(&app, "INV-2024-0042").await, 0, "the index forgot");
    let printed = app.cli(&["search", "reindex"]).await;
    assert!(printed.contains("records indexed for search"), "{printed}");
    assert_eq!(found(&app, "INV-2024-0042").await, 1);
    assert_eq!(found(&app, "ip:203.0.113.0/24").await, 2);
    assert_eq!(found(&app, "payload.data.email:bob@example.com").await, 1);
    // New records are indexed as before, once each.
    let response = app.ingest(&json!({"key": "after.reindex", "message": "INV-2024-0042 again"})).await;
    assert!(response.status().is_success());
    assert_eq!(found(&app, "INV-2024-0042").await, 2);
}

/// A word in thousands of records is read in time order, a stretch at a
/// time (too many matches to let the index drive): 400 records per record
/// of the page, then four times as many, then the index drives
/// (PostgreSQL) or all its matches are gathered (SQLite). `wave` is in
/// every record, `tide` only in the oldest 6,000 of 27,000: a page of 51
/// finds none in its first stretch (20,400) and fills from the second; a
/// page of 2 (stretches of 800 and 3,200) goes past both. Records are
/// stored out of time order, the newest 30 first and the oldest 300 last,
/// as a late batch is: SQLite tests those far below the rest of a
/// stretch's `seq`s against their own words. Either way: the newest (or
/// oldest) matches in scope, keyset-paged.
#[tokio::test]
async fn a_common_word_pages_newest_first_wherever_its_records_are() {
    let app = spawn_app().await;
    let (acme, other) = (app.workspace.id, add_workspace(&app.store, "other").await.id);
    let (total, with_tide) = (27_000_i64, 6_000_i64);
    let start = Micros::now().0 - total * 1_000_000;
    let records: Vec<_> = (0..total)
        .map(|n| {
            let kind = if n % 2 == 0 { Kind::Event } else { Kind::Audit };
            let workspace = if n % 3 == 2 { other } else { acme };
            let mut record = received_at(workspace, kind, Micros(start + n * 1_000_000));
            let tide = if n < with_tide { "tide " } else { "" };
            let surf = if n < with_tide || n % 1_000 == 0 { "surf " } else { "" };
            record.message = Some(format!("{tide}{surf}wave record n{n}"));
            record
        })
        .collect();
    let (oldest, rest) = records.split_at(300);
    let (middle, newest_30) = rest.split_at(rest.len() - 30);
    // On SQLite, the even records are moved out of staging before the odd
    // ones are stored: each stretch then reads both record tables.
    for half in [0, 1] {
        let groups: Vec<Vec<_>> = [newest_30, middle, oldest]
            .into_iter()
            .flat_map(|part| part.chunks(1_000))
            .map(|chunk| chunk.iter().filter(|r| (r.occurred_at.0 - start) / 1_000_000 % 2 == half).cloned().collect())
            .collect();
        app.store.insert_records(&groups).await.unwrap();
        if half == 0 {
            app.store.compact().await.unwrap();
        }
    }
    if app.db.is_postgres() {
        let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
        sqlx::query("ANALYZE events").execute(&pool).await.unwrap();
        let (plan,): (sqlx::types::Json<Value>,) =
            sqlx::query_as("EXPLAIN (FORMAT JSON) SELECT 1 FROM events e WHERE e.search @@ 'tide'::tsquery")
                .fetch_one(&pool)
                .await
                .unwrap();
        let estimate = plan.0[0]["Plan"]["Plan Rows"].as_f64().unwrap();
        // `DRIVE_BELOW` (src/storage/conditions.rs): at or above it, stretches.
        assert!(estimate >= 5_000.0, "the planner expects {estimate} records: this test would read no stretch");
    }
    // The newest `count` record numbers below `below` that `keep`.
    let newest = |below: i64, count: usize, keep: fn(i64) -> bool| -> Vec<i64> {
        (0..below).rev().filter(|n| keep(*n)).take(count).collect()
    };
    type Kept = fn(i64) -> bool;
    let (every, odd, in_acme): (Kept, Kept, Kept) = (|_| true, |n| n % 2 == 1, |n| n % 3 != 2);
    let (platform, acme_only) = (&Scope::Platform, &Scope::whole_workspace(Some(acme)));
    let page = |scope, q, limit, cursor| numbered_page(&app, scope, q, limit, cursor, Order::NewestFirst);

    // A page of 11 reads stretches of 4,400 records: the newest 30, stored
    // first, lie far below the rest of its `seq`s.
    let (first, cursor) = page(platform, "wave", 11, None).await;
    assert_eq!(first, newest(total, 11, every), "stored first");
    assert_eq!(page(platform, "wave", 11, cursor).await.0, newest(total - 10, 11, every), "stored first");
    let (first, cursor) = page(platform, "wave", 51, None).await;
    assert_eq!(first, newest(total, 51, every));
    assert_eq!(page(platform, "wave", 51, cursor).await.0, newest(total - 50, 51, every), "after a cursor");
    assert_eq!(page(platform, "wave kind:audit", 51, None).await.0, newest(total, 51, odd));
    assert_eq!(page(acme_only, "wave", 51, None).await.0, newest(total, 51, in_acme), "in scope");

    let (first, cursor) = page(platform, "tide", 51, None).await;
    assert_eq!(first, newest(with_tide, 51, every), "from the second stretch");
    assert_eq!(page(platform, "tide", 51, cursor).await.0, newest(with_tide - 50, 51, every));
    let (first, cursor) = page(acme_only, "tide", 51, None).await;
    assert_eq!(first, newest(with_tide, 51, in_acme), "in scope, from the second stretch");
    let after = *first.get(49).unwrap();
    assert_eq!(page(acme_only, "tide", 51, cursor).await.0, newest(after, 51, in_acme));

    let (oldest_first, _) = numbered_page(&app, platform, "wave", 51, None, Order::OldestFirst).await;
    assert_eq!(oldest_first, (0..51).collect::<Vec<_>>(), "oldest first");
    let (oldest_first, _) = numbered_page(&app, platform, "tide kind:audit", 51, None, Order::OldestFirst).await;
    assert_eq!(oldest_first, (0..total).filter(|n| n % 2 == 1).take(51).collect::<Vec<_>>(), "oldest first");

    // A page of 11 fills across a stretch's end: its first stretch (4,400
    // records, of each table on SQLite) holds fewer than 11 of these.
    let surf: Kept = |n| n < 6_000 || n % 1_000 == 0;
    let (first, cursor) = page(platform, "surf", 11, None).await;
    assert_eq!(first, newest(total, 11, surf), "across a stretch's end");
    assert_eq!(page(platform, "surf", 11, cursor).await.0, newest(*first.get(9).unwrap(), 11, surf));
    let (oldest_first, _) = numbered_page(&app, platform, "surf", 11, None, Order::OldestFirst).await;
    assert_eq!(oldest_first, (0..11).collect::<Vec<_>>(), "oldest first");

    assert_eq!(page(platform, "tide", 2, None).await.0, newest(with_tide, 2, every), "past both stretches");
    assert_eq!(page(acme_only, "tide kind:audit", 2, None).await.0, newest(with_tide, 2, |n| n % 2 == 1 && n % 3 != 2));
}

/// The numbers (`n…`) of the records on a page of `q` in `order`, and the
/// cursor after it.
async fn numbered_page(
    app: &TestApp,
    scope: &Scope,
    q: &str,
    limit: usize,
    cursor: Option<Cursor>,
    order: Order,
) -> (Vec<i64>, Option<Cursor>) {
    let mut filter = EventFilter::default();
    app::search::apply(q, &mut filter, Micros::now()).unwrap();
    let page = Page { cursor, limit, order };
    let rows = app.store.list_events(scope, &filter, page).await.unwrap();
    let number = |r: &EventRow| r.message.as_deref().and_then(|m| m.rsplit('n').next()?.parse().ok()).unwrap();
    (rows.iter().map(number).collect(), rows.get(limit - 2).map(EventRow::cursor))
}
