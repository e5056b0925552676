//! Tamper evidence: every record is in the hash chain of its workspace and
//! kind, digests of the chains' heads are signed, and `trail verify` names
//! each record changed, removed, slipped in or moved behind Trail's back (by
//! SQL straight on the database), and each digest cut short or damaged.

use app::model::{Kind, Micros};
use serde_json::{json, Value};
use sqlx::Connection;
use trail::integrity::signing::SigningKeys;

use crate::helpers::{spawn_app, TestApp, FOUNDER_EMAIL};

/// Ten events and five audits in `acme`, each in its own request.
async fn fill(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..15 {
        let kind = if i % 3 == 0 { "audit" } else { "event" };
        // Numbers PostgreSQL's jsonb writes back otherwise than serde_json does.
        let body = json!({"kind": kind, "key": "chain.sample", "message": format!("record {i}"),
                          "payload": {"n": i, "amount": 1.5, "big": 1.961_355_332_182_411_7e34, "id": 9_007_199_254_740_993_u64}});
        let response = app.ingest(&body).await;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        ids.push(body["ids"][0].as_str().unwrap().to_owned());
    }
    ids
}

fn keys(app: &TestApp) -> SigningKeys {
    SigningKeys::load(&app.db.signing_key_file()).unwrap().expect("the server made its key")
}

async fn sign(app: &TestApp) -> usize {
    trail::integrity::sign(app.store.as_ref(), &keys(app)).await.unwrap()
}

/// Every digest `/api/v1/digests` lists, a page of one at a time
/// (`request` asks for the page at a cursor).
async fn every_page(request: impl Fn(&str) -> reqwest::RequestBuilder) -> Vec<Value> {
    let (mut paged, mut cursor) = (Vec::new(), String::new());
    loop {
        let page: Value = request(&cursor).send().await.unwrap().json().await.unwrap();
        assert_eq!(page["digests"].as_array().unwrap().len(), 1, "{page}");
        paged.extend(page["digests"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return paged,
        }
    }
}

/// Runs SQL on the database behind Trail's back. Statements about SQLite's
/// staging table are skipped on PostgreSQL, which has none.
pub async fn tamper(app: &TestApp, statements: &[&str]) {
    let postgres = app.db.is_postgres();
    let statements = statements.iter().filter(|s| !(postgres && s.contains("events_recent")));
    if postgres {
        let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&mut conn).await.unwrap();
        }
    }
}

/// `trail verify`: its exit code and report.
async fn verify(app: &TestApp) -> (i32, String) {
    app.cli_status(&["verify"]).await
}

/// The record id of link `seq` of acme's event chain, as SQL.
fn link(app: &TestApp, seq: i64) -> String {
    format!(
        "(SELECT record_id FROM chain_links WHERE workspace_id = {} AND kind = 'event' AND seq = {seq})",
        app.workspace.id
    )
}

async fn record_at(app: &TestApp, seq: i64) -> String {
    let chain = app::model::ChainId { workspace_id: app.workspace.id, kind: Kind::Event };
    let links = app.store.chain_links(chain, seq - 1, 1).await.unwrap();
    links[0].record_id.to_string()
}

#[tokio::test]
async fn a_clean_database_verifies_and_says_what_it_checked() {
    let app = spawn_app().await;
    fill(&app).await;
    assert!(sign(&app).await >= 2, "acme's audit and event chains are signed");
    assert_eq!(sign(&app).await, 0, "nothing grew: no new digest");
    let (code, report) = verify(&app).await;
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("acme/event") && report.contains("10 records valid, 10 links, 1 digests valid"),
        "{report}"
    );
    assert!(report.contains("acme/audit") && report.contains("5 records valid, 5 links"), "{report}");
    assert!(report.contains(" 0 problems"), "{report}");

    // The server's incremental check resumes each clean chain where it
    // ended: a second look with nothing added reads no link again.
    let trusted = keys(&app).public_key();
    let whole = trail::integrity::check(app.store.as_ref(), &trusted, None, &Default::default(), &[]).await.unwrap();
    let resume = whole.resume_points();
    assert_eq!(resume.len(), whole.chains.len(), "every clean chain can resume: {whole:?}");
    let again = trail::integrity::check(app.store.as_ref(), &trusted, None, &resume, &[]).await.unwrap();
    assert_eq!((again.problems(), again.valid()), (0, 0), "{again:?}");

    // The check is itself audited, and the health check tells its outcome.
    let audit = app.audit_records().await;
    let verified = audit.iter().find(|r| r.key == "integrity.verified").expect("integrity.verified");
    assert_eq!(verified.actor_label.as_deref(), Some("cli"));
    let health: Value = app.client.get(app.url("/api/system/health")).send().await.unwrap().json().await.unwrap();
    let integrity = health["checks"].as_array().unwrap().iter().find(|c| c["name"] == "integrity").unwrap();
    assert_eq!(integrity["status"], "healthy", "{health}");
}

#[tokio::test]
async fn a_changed_record_is_named() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let id = record_at(&app, 3).await;
    let changed = link(&app, 3);
    tamper(
        &app,
        &[
            &format!("UPDATE events SET message = 'nothing happened' WHERE id = {changed}"),
            &format!("UPDATE events_recent SET message = 'nothing happened' WHERE id = {changed}"),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains(&format!("link 3, record {id}: changed")), "{report}");
    assert!(report.contains(" 1 problems"), "{report}");

    let audit = app.audit_records().await;
    let failed = audit.iter().find(|r| r.key == "integrity.failed").expect("integrity.failed");
    assert_eq!(failed.severity, app::model::Severity::Critical);
}

#[tokio::test]
async fn a_value_no_record_could_hold_is_a_change_not_a_crash() {
    let app = spawn_app().await;
    fill(&app).await;
    let (two, five) = (link(&app, 2), link(&app, 5));
    tamper(
        &app,
        &[
            &format!("UPDATE events SET severity = 9, visibility = 'nobody' WHERE id = {two}"),
            &format!("UPDATE events_recent SET severity = 9, visibility = 'nobody' WHERE id = {two}"),
            &format!("UPDATE events SET payload = NULL WHERE id = {five}"),
            &format!("UPDATE events_recent SET payload = NULL WHERE id = {five}"),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("link 2, record") && report.contains("link 5, record"), "{report}");
    assert_eq!(report.matches(": changed").count(), 2, "{report}");

    if !app.db.is_postgres() {
        // SQLite's id column takes any value: an id that is no id leaves its
        // link without a record, and a record in no chain.
        let seven = link(&app, 7);
        let text_id = |table: &str| format!("UPDATE {table} SET id = lower(hex(id)) WHERE id = {seven}");
        let record = record_at(&app, 7).await;
        tamper(&app, &[&text_id("events"), &text_id("events_recent")]).await;
        let (code, report) = verify(&app).await;
        assert_eq!(code, 1, "{report}");
        assert!(report.contains(&format!("link 7, record {record}: missing")), "{report}");
        assert!(report.contains("record 00000000-0000-0000-0000-000000000000: inserted"), "{report}");
    }
}

#[tokio::test]
async fn a_removed_record_and_a_removed_link_are_named() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let id = record_at(&app, 4).await;
    let (gone, both_gone) = (link(&app, 4), link(&app, 7));
    tamper(
        &app,
        &[
            &format!("DELETE FROM events WHERE id = {gone}"),
            &format!("DELETE FROM events_recent WHERE id = {gone}"),
            &format!("DELETE FROM events WHERE id = {both_gone}"),
            &format!("DELETE FROM events_recent WHERE id = {both_gone}"),
            &format!(
                "DELETE FROM chain_links WHERE workspace_id = {} AND kind = 'event' AND seq = 7",
                app.workspace.id
            ),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains(&format!("link 4, record {id}: missing: the record was removed")), "{report}");
    assert!(report.contains("link 7: missing: links through 7 were removed"), "{report}");
}

/// A copy of a stored record under a new id, as someone with SQL access
/// would forge it; the forged id.
async fn slip_in_copy_of(app: &TestApp, original: uuid::Uuid) -> uuid::Uuid {
    let forged = uuid::Uuid::now_v7();
    let columns = "workspace_id, event_id, brand, kind, key, message, context, entity_type, entity_id, actor_type, \
                   actor_id, actor_email, actor_name, actor_label, ip, user_agent, visibility, severity, status, \
                   duration_ms, provider, error_message, error_stack, correlation_id, payload, diff, occurred_at, \
                   received_at";
    let insert = if app.db.is_postgres() {
        format!("INSERT INTO events (id, {columns}) SELECT '{forged}', {columns} FROM events WHERE id = '{original}'")
    } else {
        let (forged, original) = (forged.simple(), original.simple());
        format!(
            "INSERT INTO events (id, {columns}) SELECT x'{forged}', {columns} FROM \
             (SELECT {columns} FROM events WHERE id = x'{original}' UNION ALL \
              SELECT {columns} FROM events_recent WHERE id = x'{original}')"
        )
    };
    tamper(app, &[&insert]).await;
    forged
}

#[tokio::test]
async fn a_record_slipped_in_is_named() {
    let app = spawn_app().await;
    let ids = fill(&app).await;
    let forged = slip_in_copy_of(&app, ids[1].parse().unwrap()).await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    let inserted = format!("record {forged}: inserted: the record is in no chain");
    assert!(report.contains(&inserted), "{report}");

    // A link where no walk looks links nothing: in a chain with no head
    // (acme has no actions), or before its own chain's first link.
    let ws = app.workspace.id;
    let (id, zeros) = match app.db.is_postgres() {
        true => (format!("'{forged}'"), "decode(repeat('00', 32), 'hex')".to_owned()),
        false => (format!("x'{}'", forged.simple()), "zeroblob(32)".to_owned()),
    };
    for (kind, seq) in [("action", 1), ("event", 0)] {
        let forge = format!("INSERT INTO chain_links VALUES ({ws}, '{kind}', {seq}, {id}, {zeros}, {zeros})");
        tamper(&app, &[&forge, &format!("DELETE FROM chain_links WHERE record_id = {id} AND seq <> {seq}")]).await;
        let (code, report) = verify(&app).await;
        assert!(code == 1 && report.contains(&inserted), "a link in {kind} at {seq}: {report}");
        tamper(&app, &[&format!("DELETE FROM chain_links WHERE record_id = {id}")]).await;
    }
}

/// A record stored twice, a head moved back behind links appended after it,
/// and a head whose hash was rewritten are each named (ingest would fail on
/// such a head while verify said the data was clean).
#[tokio::test]
async fn a_duplicated_record_and_a_tampered_head_are_named() {
    let app = spawn_app().await;
    let ids = fill(&app).await;
    sign(&app).await;
    let ws = app.workspace.id;
    let head = |kind: &str| format!("workspace_id = {ws} AND kind = '{kind}'");
    tamper(&app, &[&format!("UPDATE chain_heads SET seq = seq - 1 WHERE {}", head("event"))]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("appended: links go on past the chain's head at 9"), "{report}");
    tamper(&app, &[&format!("UPDATE chain_heads SET seq = seq + 1 WHERE {}", head("event"))]).await;

    let zeros = if app.db.is_postgres() { "decode(repeat('00', 32), 'hex')" } else { "zeroblob(32)" };
    tamper(&app, &[&format!("UPDATE chain_heads SET hash = {zeros} WHERE {}", head("audit"))]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("link 5: head changed"), "{report}");
    tamper(&app, &[&format!("DELETE FROM chain_heads WHERE {}", head("audit"))]).await;
    let (code, report) = verify(&app).await;
    assert!(
        code == 1
            && report.contains(
                "acme/audit                   5 records valid, 5 links, 1 digests valid\n  PROBLEM head missing"
            ),
        "{report}"
    );

    if !app.db.is_postgres() {
        // SQLite's two record tables can each hold a copy of one id.
        let original = uuid::Uuid::parse_str(&ids[1]).unwrap().simple();
        let copy = |to: &str, from: &str| {
            format!(
                "INSERT INTO {to} (id, workspace_id, kind, key, message, actor_type, visibility, severity, \
                 occurred_at, received_at) SELECT id, workspace_id, kind, key, 'FORGED', actor_type, visibility, \
                 severity, occurred_at, received_at FROM {from} WHERE id = x'{original}' \
                 AND NOT EXISTS (SELECT 1 FROM {to} WHERE id = x'{original}')"
            )
        };
        // Into whichever table does not hold it yet.
        tamper(&app, &[&copy("events_recent", "events"), &copy("events", "events_recent")]).await;
        let (code, report) = verify(&app).await;
        let duplicated = format!("record {}: duplicated", ids[1]);
        assert!(code == 1 && report.contains(&duplicated), "{report}");

        // A record of a kind no chain has is named too, not only counted.
        let stray = uuid::Uuid::now_v7();
        tamper(
            &app,
            &[&format!(
                "INSERT INTO events (id, workspace_id, kind, key, actor_type, visibility, severity, occurred_at, \
                 received_at) VALUES (x'{}', {ws}, 'bogus', 'k', 'system', 'internal', 'info', 0, 0)",
                stray.simple()
            )],
        )
        .await;
        let (code, report) = verify(&app).await;
        let named = format!("PROBLEM workspace {ws}, kind \"bogus\": record {stray}: inserted");
        assert!(code == 1 && report.contains(&named), "{report}");
    }
}

/// A chain rolled back to an earlier link together with its later digests,
/// and a chain removed whole, leave nothing in the database to tell; copies
/// of the digests kept outside it (`/api/v1/digests`) show both.
#[tokio::test]
async fn copies_of_the_digests_show_a_chain_rolled_back_with_its_digests() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let page = app.client.get(app.url("/api/v1/digests")).bearer_auth(&app.key).send().await.unwrap();
    let page = page.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copies = dir.path().join("digests.json");
    std::fs::write(&copies, &page).unwrap();
    let copies = copies.display().to_string();
    let (code, report) = app.cli_status(&["verify", "--digests", &copies]).await;
    assert_eq!(code, 0, "the copies match: {report}");

    // acme/event back to link 4, its digest (of link 10) gone; acme/audit gone whole.
    let ws = app.workspace.id;
    let event = format!("workspace_id = {ws} AND kind = 'event'");
    let audit = format!("workspace_id = {ws} AND kind = 'audit'");
    let mut statements = Vec::new();
    for table in ["events", "events_recent"] {
        statements.push(format!(
            "DELETE FROM {table} WHERE id IN (SELECT record_id FROM chain_links WHERE {event} AND seq > 4)"
        ));
        statements.push(format!("DELETE FROM {table} WHERE {audit}"));
    }
    statements.extend([
        format!("DELETE FROM chain_links WHERE {event} AND seq > 4"),
        format!("UPDATE chain_heads SET seq = 4, hash = (SELECT hash FROM chain_links WHERE {event} AND seq = 4) WHERE {event}"),
        format!("DELETE FROM digests WHERE {event}"),
        format!("DELETE FROM chain_links WHERE {audit}"),
        format!("DELETE FROM chain_heads WHERE {audit}"),
        format!("DELETE FROM digests WHERE {audit}"),
    ]);
    tamper(&app, &statements.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 0, "without the copies nothing tells: {report}");

    let (code, report) = app.cli_status(&["verify", "--digests", &copies]).await;
    assert_eq!(code, 1, "{report}");
    for expected in [
        "acme/event                   4 records valid, 4 links, 0 digests valid\n  PROBLEM link 5: tail cut: a digest signed links up to 10\n  PROBLEM link 10: digest removed",
        "acme/audit                   0 records valid, 0 links, 0 digests valid\n  PROBLEM link 1: tail cut: a digest signed links up to 5\n  PROBLEM link 5: digest removed",
    ] {
        assert!(report.contains(expected), "{expected}\n{report}");
    }

    // A copy the key did not sign is named, not trusted.
    let forged = page.replacen("\"signature\":\"", "\"signature\":\"00", 1);
    let forged_file = dir.path().join("forged.ndjson");
    std::fs::write(&forged_file, format!("{forged}\n")).unwrap();
    let (code, report) = app.cli_status(&["verify", "--digests", &forged_file.display().to_string()]).await;
    assert!(code == 1 && report.contains("the copy's signature fails"), "{report}");
    let (code, report) = app.cli_status(&["verify", "--digests", &dir.path().display().to_string()]).await;
    assert!(code == 1 && report.contains("error: --digests /"), "a directory is no file of copies: {report}");
    std::fs::write(&forged_file, "{\"digests\": [{\"seq\": 1}]}").unwrap();
    let (code, report) = app.cli_status(&["verify", "--digests", &forged_file.display().to_string()]).await;
    assert!(code == 1 && report.contains("not a digest"), "{report}");
}

/// A chain's head deleted before its first digest: no digest names the
/// chain, yet its links are there, and ingest would fail to continue it.
#[tokio::test]
async fn a_head_deleted_before_any_digest_is_named() {
    let app = spawn_app().await;
    fill(&app).await;
    let ws = app.workspace.id;
    tamper(&app, &[&format!("DELETE FROM chain_heads WHERE workspace_id = {ws} AND kind = 'audit'")]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("acme/audit") && report.contains("PROBLEM head missing"), "{report}");
}

#[tokio::test]
async fn swapped_links_are_out_of_order() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let (two, six) = (record_at(&app, 2).await, record_at(&app, 6).await);
    let ws = app.workspace.id;
    let seq = |n: i64| format!("workspace_id = {ws} AND kind = 'event' AND seq = {n}");
    tamper(
        &app,
        &[
            &format!("UPDATE chain_links SET seq = -1 WHERE {}", seq(2)),
            &format!("UPDATE chain_links SET seq = 2 WHERE {}", seq(6)),
            &format!("UPDATE chain_links SET seq = 6 WHERE {}", seq(-1)),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains(&format!("link 2, record {six}: out of order: it belongs after link 5")), "{report}");
    assert!(report.contains(&format!("link 6, record {two}: out of order: it belongs after link 1")), "{report}");
    assert!(report.contains(" 2 problems"), "{report}");
}

#[tokio::test]
async fn a_tail_cut_after_a_digest_and_a_damaged_signature_are_named() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let ws = app.workspace.id;
    let tail = format!("(SELECT record_id FROM chain_links WHERE workspace_id = {ws} AND kind = 'event' AND seq > 8)");
    tamper(
        &app,
        &[
            &format!("DELETE FROM events WHERE id IN {tail}"),
            &format!("DELETE FROM events_recent WHERE id IN {tail}"),
            &format!("DELETE FROM chain_links WHERE workspace_id = {ws} AND kind = 'event' AND seq > 8"),
            &format!("UPDATE chain_heads SET seq = 8 WHERE workspace_id = {ws} AND kind = 'event'"),
            &format!(
                "UPDATE digests SET signature = '00' || substr(signature, 3) WHERE workspace_id = {ws} AND kind = 'audit'"
            ),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("link 9: tail cut: a digest signed links up to 10"), "{report}");
    assert!(report.contains("link 5: digest signature fails"), "{report}");
}

#[tokio::test]
async fn a_purge_leaves_a_chain_that_verifies_from_its_cut() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    // Age acme's first four events by a year (behind Trail's back, but only
    // the time the retention purge reads), then purge them as retention does.
    let ws = app.workspace.id;
    age_a_year(&app, &format!("workspace_id = {ws} AND kind = 'event' AND seq <= 4")).await;
    let purged = app.cli(&["retention", "run"]).await;
    assert!(purged.contains("acme") && purged.contains("4 removed"), "{purged}");
    fill(&app).await;
    sign(&app).await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("16 records valid, 20 links, 2 digests valid, links through 4 removed by retention"),
        "{report}"
    );
}

/// Retention removes records in the order received, which is not quite
/// the chain's: a purge that removes link 7 but not 5 and 6 keeps link 7
/// for its hash (a hole the cut signs), so the chain stays whole. Then a
/// record slipped in behind the cut with a link of its own is named, as is
/// a record removed beside a hole, or a hole added by hand.
#[tokio::test]
async fn a_purge_out_of_order_keeps_the_chain_whole() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let ws = app.workspace.id;
    let chain = format!("workspace_id = {ws} AND kind = 'event'");
    age_a_year(&app, &format!("{chain} AND (seq <= 4 OR seq = 7)")).await;
    let purged = app.cli(&["retention", "run"]).await;
    assert!(purged.contains("5 removed"), "{purged}");
    let (code, report) = verify(&app).await;
    assert_eq!(code, 0, "{report}");
    let expected =
        "5 records valid, 10 links, 1 digests valid, links through 4 removed by retention, 1 record after the cut \
                    removed by retention (its link kept)";
    assert!(report.contains(expected), "{report}");

    // A record slipped in behind the cut, with a link made up for it.
    let original: uuid::Uuid = record_at(&app, 5).await.parse().unwrap();
    let forged = slip_in_copy_of(&app, original).await;
    let (id, zeros) = match app.db.is_postgres() {
        true => (format!("'{forged}'"), "decode(repeat('00', 32), 'hex')".to_owned()),
        false => (format!("x'{}'", forged.simple()), "zeroblob(32)".to_owned()),
    };
    tamper(&app, &[&format!("INSERT INTO chain_links VALUES ({ws}, 'event', 2, {id}, {zeros}, {zeros})")]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains(&format!("link 2, record {forged}: behind the retention cut")), "{report}");
    // A purge that reaches the forged record stops rather than erase it.
    age_a_year(&app, &format!("record_id = {id}")).await;
    let (code, out) = app.cli_status(&["retention", "run"]).await;
    assert!(code != 0 && out.contains("links behind its cut that the cut does not list"), "{code} {out}");
    tamper(
        &app,
        &[&format!("DELETE FROM chain_links WHERE record_id = {id}"), &format!("DELETE FROM events WHERE id = {id}")],
    )
    .await;
    assert_eq!(verify(&app).await.0, 0);

    // Beside the hole, a record removed is missing; a hole added by hand
    // breaks the cut's signature.
    let six = record_at(&app, 6).await;
    tamper(
        &app,
        &[
            &format!("DELETE FROM events WHERE id = {}", link(&app, 6)),
            &format!("DELETE FROM events_recent WHERE id = {}", link(&app, 6)),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains(&format!("link 6, record {six}: missing")), "{report}");
    tamper(&app, &[&format!("UPDATE chain_heads SET cut_holes = '6-7' WHERE {chain}")]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("removed without a signed retention cut"), "{report}");
    // The hole's own link removed, the cut as signed.
    tamper(
        &app,
        &[
            &format!("UPDATE chain_heads SET cut_holes = '7' WHERE {chain}"),
            &format!("DELETE FROM chain_links WHERE {chain} AND seq = 7"),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("link 7: missing: links through 7 were removed"), "{report}");
}

/// A head that claims a cut or holes no signature vouches for is named,
/// whatever else the walk finds, also by a check resuming where the last
/// ended, and nothing it claims is forgiven.
#[tokio::test]
async fn holes_or_a_cut_claimed_by_hand_are_named() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let ws = app.workspace.id;
    let chain = format!("workspace_id = {ws} AND kind = 'event'");
    let trusted = keys(&app).public_key();
    let resume = trail::integrity::check(app.store.as_ref(), &trusted, None, &Default::default(), &[])
        .await
        .unwrap()
        .resume_points();
    let gone = |seq: i64| gone_records(&app, seq);
    // A record removed and its link passed off as a hole, on a chain never purged.
    let [a, b] = gone(5);
    tamper(&app, &[&a, &b, &format!("UPDATE chain_heads SET cut_holes = '5' WHERE {chain}")]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("PROBLEM removed without a signed retention cut"), "{report}");
    assert!(report.contains("link 5, record") && report.contains("missing: the record was removed"), "{report}");
    let resumed = trail::integrity::check(app.store.as_ref(), &trusted, None, &resume, &[]).await.unwrap();
    assert!(
        resumed.problems() > 0,
        "a check resuming sees the claimed holes too: {:?}",
        resumed.lines().collect::<Vec<_>>()
    );

    // Links and records removed, the cut moved over them by hand.
    let mut removals: Vec<String> = (6..=8).flat_map(gone).collect();
    removals.push(format!("DELETE FROM chain_links WHERE {chain} AND seq BETWEEN 5 AND 8"));
    removals.push(format!("UPDATE chain_heads SET cut_holes = NULL, cut_seq = 8 WHERE {chain}"));
    tamper(&app, &removals.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("removed without a signed retention cut"), "{report}");
    // A purge does not build on it (and sign it).
    age_a_year(&app, &format!("{chain} AND seq = 9")).await;
    let (code, out) = app.cli_status(&["retention", "run"]).await;
    assert!(code != 0 && out.contains("not signed by this server's key"), "{code} {out}");
}

/// A database whose older cut left a link behind it: the next purge signs
/// that link, by its hash, into the whole cut it makes; the link may not
/// then change or go.
#[tokio::test]
async fn an_older_cut_becomes_whole_and_its_kept_links_are_held() {
    use app::store::Signer;
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let ws = app.workspace.id;
    let chain = format!("workspace_id = {ws} AND kind = 'event'");
    // An older cut at 4 that kept link 2: its statement, signed as before.
    let hash_of_4: Vec<u8> = {
        let record = record_at(&app, 4).await;
        let links =
            app.store.chain_links(app::model::ChainId { workspace_id: ws, kind: app::model::Kind::Event }, 3, 1);
        let link = links.await.unwrap().remove(0);
        assert_eq!(link.record_id.to_string(), record);
        link.hash
    };
    let at = Micros::now().0;
    let statement =
        trail::storage::canonical::cut_statement(ws, app::model::Kind::Event, 4, &hex::encode(&hash_of_4), at);
    let signature = keys(&app).sign(&statement);
    let mut older: Vec<String> = Vec::new();
    for seq in [1, 3, 4] {
        let id = link(&app, seq);
        older.push(format!("DELETE FROM events WHERE id = {id}"));
        older.push(format!("DELETE FROM events_recent WHERE id = {id}"));
    }
    older.push(format!("DELETE FROM chain_links WHERE {chain} AND seq IN (1, 3, 4)"));
    let hash = if app.db.is_postgres() {
        format!("decode('{}', 'hex')", hex::encode(&hash_of_4))
    } else {
        format!("x'{}'", hex::encode(&hash_of_4))
    };
    older.push(format!(
        "UPDATE chain_heads SET cut_seq = 4, cut_hash = {hash}, cut_at = {at}, cut_signature = '{signature}' WHERE {chain}"
    ));
    tamper(&app, &older.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 0, "an older cut verifies as before: {report}");

    // The next purge (records 5 and 7) makes a whole cut at 5, hole 7, link 2 kept.
    age_a_year(&app, &format!("{chain} AND seq IN (5, 7)")).await;
    app.cli(&["retention", "run"]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 0 && report.contains("links through 5 removed by retention, 1 record after the cut"), "{report}");
    let zeros = if app.db.is_postgres() { "decode(repeat('00', 32), 'hex')" } else { "zeroblob(32)" };
    let events = app::model::ChainId { workspace_id: ws, kind: app::model::Kind::Event };
    let saved = app.store.chain_links(events, 1, 1).await.unwrap().remove(0).content;
    tamper(&app, &[&format!("UPDATE chain_links SET content = {zeros} WHERE {chain} AND seq = 2")]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("link 2, record") && report.contains(": broken"), "content changed: {report}");
    let saved = if app.db.is_postgres() {
        format!("decode('{}', 'hex')", hex::encode(&saved))
    } else {
        format!("x'{}'", hex::encode(&saved))
    };
    tamper(
        &app,
        &[
            &format!("UPDATE chain_links SET content = {saved} WHERE {chain} AND seq = 2"),
            &format!("UPDATE chain_links SET hash = {zeros} WHERE {chain} AND seq = 2"),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("link 2, record") && report.contains(": broken"), "hash changed: {report}");

    // Removed instead (put back first): still named.
    let [a, b] = gone_records(&app, 2);
    tamper(&app, &[&a, &b, &format!("DELETE FROM chain_links WHERE {chain} AND seq = 2")]).await;
    let (code, report) = verify(&app).await;
    assert!(code == 1 && report.contains("link 2: missing"), "a kept link removed: {report}");
}

/// Ages the records of the links `links` (a condition on `chain_links`) by
/// a year, behind Trail's back but only in the time a purge reads.
async fn age_a_year(app: &TestApp, links: &str) {
    let year_ago = Micros::now().0 - 365 * 24 * app::model::HOUR_US;
    let records = format!("(SELECT record_id FROM chain_links WHERE {links})");
    let statements =
        ["events", "events_recent"].map(|t| format!("UPDATE {t} SET received_at = {year_ago} WHERE id IN {records}"));
    tamper(app, &statements.iter().map(String::as_str).collect::<Vec<_>>()).await;
}

/// Statements removing the record of link `seq` of acme's event chain.
fn gone_records(app: &TestApp, seq: i64) -> [String; 2] {
    let id = link(app, seq);
    [format!("DELETE FROM events WHERE id = {id}"), format!("DELETE FROM events_recent WHERE id = {id}")]
}

#[tokio::test]
async fn the_oldest_records_removed_as_if_purged_but_unsigned_are_named() {
    let app = spawn_app().await;
    fill(&app).await;
    let ws = app.workspace.id;
    let first =
        format!("(SELECT record_id FROM chain_links WHERE workspace_id = {ws} AND kind = 'event' AND seq <= 3)");
    let hash_of_3 = format!("(SELECT hash FROM chain_links WHERE workspace_id = {ws} AND kind = 'event' AND seq = 3)");
    tamper(
        &app,
        &[
            &format!("UPDATE chain_heads SET cut_seq = 3, cut_hash = {hash_of_3} WHERE workspace_id = {ws} AND kind = 'event'"),
            &format!("DELETE FROM events WHERE id IN {first}"),
            &format!("DELETE FROM events_recent WHERE id IN {first}"),
            &format!("DELETE FROM chain_links WHERE workspace_id = {ws} AND kind = 'event' AND seq <= 3"),
        ],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("link 3: removed without a signed retention cut"), "{report}");
}

#[tokio::test]
async fn commands_never_make_a_signing_key_and_the_server_keeps_its_digests_key() {
    let app = spawn_app().await;
    fill(&app).await;
    sign(&app).await;
    let kept = app.db.dir.path().join("kept.key");
    std::fs::rename(app.db.signing_key_file(), &kept).unwrap();
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("no signing key at"), "{report}");
    assert!(!app.db.signing_key_file().exists(), "verify made no key");
    let refused = trail::server::Server::build(app.db.config()).await;
    let message = format!("{:#}", refused.err().expect("a server without the digests' key refuses to start"));
    assert!(message.contains("digests signed with one"), "{message}");
    std::fs::rename(&kept, app.db.signing_key_file()).unwrap();
    assert_eq!(verify(&app).await.0, 0);
}

#[tokio::test]
async fn a_proof_checks_one_record_against_a_signed_digest() {
    let app = spawn_app().await;
    let ids = fill(&app).await;
    let founder = app.client_signed_in_as(FOUNDER_EMAIL).await;
    // No digest covers the records yet: asking for a proof signs one.
    let proof: Value =
        founder.get(app.url(&format!("/api/v1/events/{}/proof", ids[1]))).send().await.unwrap().json().await.unwrap();
    assert_eq!(proof["seq"], 1, "{proof}");
    assert_eq!(proof["record"]["message"], "record 1", "{proof}");
    assert_eq!(proof["following"].as_array().unwrap().len(), 9, "{proof}");
    // Fold the links up to the digest's head.
    let bytes = |v: &Value| hex::decode(v.as_str().unwrap()).unwrap();
    let content = trail::storage::canonical::jcs(&proof["record"]);
    assert_eq!(<sha2::Sha256 as sha2::Digest>::digest(&content).to_vec(), bytes(&proof["content"]));
    let mut hash = trail::storage::canonical::link(&bytes(&proof["previous"]), &bytes(&proof["content"]));
    assert_eq!(hash.to_vec(), bytes(&proof["hash"]));
    for content in proof["following"].as_array().unwrap() {
        hash = trail::storage::canonical::link(&hash, &bytes(content));
    }
    assert_eq!(hex::encode(hash), proof["digest"]["head"].as_str().unwrap());
    let digest: app::model::Digest = serde_json::from_value(proof["digest"].clone()).unwrap();
    assert!(trail::integrity::signing::signed_by(&digest, &keys(&app).public_key()));

    // Scoped like every read: a stranger's id and an unknown one are 404.
    let other = crate::helpers::add_workspace(&app.store, "globex").await;
    let globex_key = crate::helpers::issue_key(&app.store, &other.slug, "ingest,read").await;
    let outside = app
        .client
        .get(app.url(&format!("/api/v1/events/{}/proof", ids[1])))
        .bearer_auth(&globex_key)
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
    let unknown = founder.get(app.url(&format!("/api/v1/events/{}/proof", uuid::Uuid::now_v7()))).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    // A client sees a client record, but a proof would tell how many records its chain holds.
    let shared = app.ingest(&json!({"key": "shared", "visibility": "client"})).await.json::<Value>().await.unwrap();
    let client_id = crate::helpers::add_user(&app.store, "client@test.trail", app::model::Role::Client).await;
    crate::helpers::grant(&app.store, client_id, "acme", "").await;
    let client = app.client_signed_in_as("client@test.trail").await;
    let shared_proof = format!("/api/v1/events/{}/proof", shared["ids"][0].as_str().unwrap());
    let record =
        client.get(app.url(&format!("/api/v1/events/{}", shared["ids"][0].as_str().unwrap()))).send().await.unwrap();
    assert_eq!(record.status(), 200, "the client sees the record");
    assert_eq!(client.get(app.url(&shared_proof)).send().await.unwrap().status(), 403);
    let none: Value = client.get(app.url("/api/v1/digests")).send().await.unwrap().json().await.unwrap();
    assert!(none["digests"].as_array().unwrap().is_empty(), "{none}");

    // Digests: a workspace's key gets its workspace's only; the founder every one.
    let own: Value =
        app.client.get(app.url("/api/v1/digests")).bearer_auth(&app.key).send().await.unwrap().json().await.unwrap();
    let own = own["digests"].as_array().unwrap();
    assert!(!own.is_empty() && own.iter().all(|d| d["workspace_id"] == app.workspace.id), "{own:?}");
    let none: Value =
        app.client.get(app.url("/api/v1/digests")).bearer_auth(&globex_key).send().await.unwrap().json().await.unwrap();
    assert!(none["digests"].as_array().unwrap().is_empty(), "{none}");
    // Asking for a proof signed the record's chain only; the server's round signs them all.
    assert_eq!(own.len(), 1, "{own:?}");
    sign(&app).await;
    let all: Value = founder.get(app.url("/api/v1/digests")).send().await.unwrap().json().await.unwrap();
    assert!(all["digests"].as_array().unwrap().len() > own.len(), "the trail workspace's chain too: {all}");
    assert_eq!(all["next_cursor"], Value::Null, "one page");
    // Paged: one digest a page, each once, in the same order; for a
    // workspace's key too (its workspace's chains, read from a cursor).
    let paged = every_page(|cursor| founder.get(app.url(&format!("/api/v1/digests?limit=1&cursor={cursor}")))).await;
    assert_eq!(&paged, all["digests"].as_array().unwrap());
    app.ingest(&json!([{"key": "more", "kind": "audit"}, {"key": "more", "kind": "action"}])).await;
    sign(&app).await;
    let own: Value =
        app.client.get(app.url("/api/v1/digests")).bearer_auth(&app.key).send().await.unwrap().json().await.unwrap();
    let own = own["digests"].as_array().unwrap().clone();
    assert!(own.len() >= 3 && own.iter().all(|d| d["workspace_id"] == app.workspace.id), "{own:?}");
    let key_pages = |cursor: &str| {
        app.client.get(app.url(&format!("/api/v1/digests?limit=1&cursor={cursor}"))).bearer_auth(&app.key)
    };
    assert_eq!(every_page(key_pages).await, own);
    // A mirror's next visit: `since` the newest digest it holds, later ones only.
    let held = all["digests"].as_array().unwrap().iter().map(|d| d["signed_at"].as_i64().unwrap()).max().unwrap();
    let after = |micros: i64| {
        let since = app::model::Micros(micros).to_rfc3339();
        founder.get(app.url("/api/v1/digests")).query(&[("since", since)])
    };
    let new: Value = after(held + 1).send().await.unwrap().json().await.unwrap();
    let new = new["digests"].as_array().unwrap();
    let all_now: Value = founder.get(app.url("/api/v1/digests")).send().await.unwrap().json().await.unwrap();
    let expected: Vec<&Value> =
        all_now["digests"].as_array().unwrap().iter().filter(|d| d["signed_at"].as_i64().unwrap() > held).collect();
    assert!(!expected.is_empty() && expected.len() < all_now["digests"].as_array().unwrap().len(), "{all_now}");
    assert_eq!(new.iter().collect::<Vec<_>>(), expected, "only the digests signed since");
    // Paged, and for a workspace's key: its own new digests, a page of one at a time.
    let since = app::model::Micros(held + 1).to_rfc3339();
    let own_new = every_page(|cursor| {
        let query = [("since", since.as_str()), ("limit", "1"), ("cursor", cursor)];
        app.client.get(app.url("/api/v1/digests")).bearer_auth(&app.key).query(&query)
    })
    .await;
    let expected_own: Vec<&Value> =
        expected.iter().copied().filter(|d| d["workspace_id"] == app.workspace.id).collect();
    assert_eq!(own_new.iter().collect::<Vec<_>>(), expected_own);
    let again: Value = after(held).send().await.unwrap().json().await.unwrap();
    let at_or_after =
        all_now["digests"].as_array().unwrap().iter().filter(|d| d["signed_at"].as_i64().unwrap() >= held);
    assert_eq!(again["digests"].as_array().unwrap().len(), at_or_after.count(), "`since` is inclusive: {again}");
    assert!(again["digests"].as_array().unwrap().len() > expected.len());
    for bad in ["limit=0", "limit=1001", "cursor=1.audit", "cursor=x.audit.1", "cursor=1.nokind.1", "since=yesterday"] {
        let response = founder.get(app.url(&format!("/api/v1/digests?{bad}"))).send().await.unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert_eq!(all["public_key"], hex::encode(keys(&app).public_key().as_bytes()));
}

#[tokio::test]
async fn records_stored_before_chains_are_chained_once_at_upgrade() {
    let app = spawn_app().await;
    fill(&app).await;
    // Records without links: slipped in, unless the upgrade is still to chain them.
    tamper(&app, &["DELETE FROM chain_links", "DELETE FROM chain_heads", "DELETE FROM digests"]).await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("inserted: the record is in no chain"), "{report}");
    // As the database was before hash chains: the next open chains them.
    tamper(
        &app,
        &["DELETE FROM chain_links", "DELETE FROM chain_heads", "INSERT INTO chain_backfill (pending) VALUES (1)"],
    )
    .await;
    let (code, report) = verify(&app).await;
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("acme/event") && report.contains("10 records valid, 10 links"), "{report}");
    assert_eq!(app.store.unlinked_records(None, 10).await.unwrap(), vec![]);
}
