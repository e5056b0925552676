//! Stats come from roll-ups kept in the ingest transaction; they must equal a
//! recount of the raw records, for every window and scope, on both databases.

use std::collections::HashMap;

use app::model::{
    duration_bucket, Kind, Micros, Severity, Stats, StatsWindow, Status, Visibility, DURATION_BUCKETS, HOUR_US,
};
use app::store::{Grant, NewRecord, Scope};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use trail::storage::rollup;

use crate::helpers::spawn_app;
use crate::storage::record;

fn random_records(workspaces: &[i64], count: usize, now: Micros, rng: &mut StdRng) -> Vec<NewRecord> {
    let keys = ["a.one", "a.two", "b_three", "crm_create", "ticket_sync"];
    let providers = [None, Some("hubspot"), Some("stripe")];
    (0..count)
        .map(|i| {
            let workspace = *workspaces.choose(rng).unwrap();
            let mut r = record(workspace, keys.choose(rng).unwrap(), 0);
            // A fifth in the current hour (so every window has data); the rest
            // up to 35 days back, some outside every window.
            let into_this_hour = now.0.rem_euclid(HOUR_US);
            let age =
                if rng.gen_bool(0.2) { rng.gen_range(0..=into_this_hour) } else { rng.gen_range(0..35 * 24 * HOUR_US) };
            r.occurred_at = Micros(now.0 - age);
            r.kind = *Kind::ALL.choose(rng).unwrap();
            r.visibility = *Visibility::ALL.choose(rng).unwrap();
            r.severity = *Severity::ALL.choose(rng).unwrap();
            r.brand = ["nike", "puma"].choose(rng).map(|b| b.to_string()).filter(|_| rng.gen_bool(0.7));
            r.actor_id = rng.gen_bool(0.6).then(|| format!("u_{}", rng.gen_range(0..15)));
            if r.kind == Kind::Action {
                r.status = Some(*Status::ALL.choose(rng).unwrap());
                r.provider = providers.choose(rng).unwrap().map(str::to_owned);
                r.duration_ms = rng.gen_bool(0.9).then(|| rng.gen_range(0..40_000));
            }
            r.event_id = Some(format!("stats-{i}"));
            r
        })
        .collect()
}

/// The stats of `window`, counted from the raw records the scope may see.
fn recount(records: &[NewRecord], may_see: impl Fn(&NewRecord) -> bool, window: StatsWindow, now: Micros) -> Stats {
    let first_hour = window.first_hour(now);
    let mut stats = Stats::default();
    let mut keys: HashMap<String, i64> = HashMap::new();
    let mut actors: HashMap<String, i64> = HashMap::new();
    for r in records.iter().filter(|r| may_see(r) && r.occurred_at.0.div_euclid(HOUR_US) >= first_hour) {
        stats.records += 1;
        match r.severity {
            Severity::Warning => stats.warnings += 1,
            Severity::Error => stats.errors += 1,
            Severity::Critical => stats.critical += 1,
            Severity::Info => {}
        }
        *keys.entry(r.key.clone()).or_default() += 1;
        if let Some(actor) = &r.actor_id {
            *actors.entry(actor.clone()).or_default() += 1;
        }
        if r.kind == Kind::Action {
            let mut d = app::model::Durations::default();
            if let Some(ms) = r.duration_ms {
                d = app::model::Durations { count: 1, sum: ms, max: ms, buckets: [0; DURATION_BUCKETS] };
                d.buckets[duration_bucket(ms)] = 1;
            }
            stats.actions.add(r.status.map_or("", |s| s.as_str()), 1, &d);
        }
    }
    let ranked = |counts: HashMap<String, i64>| {
        let mut v: Vec<(String, i64)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.into_iter().map(|(name, count)| app::model::NamedCount { name, count, label: None }).collect::<Vec<_>>()
    };
    stats.by_key = ranked(keys);
    stats.top_actors = ranked(actors);
    stats.top_actors.truncate(10);
    stats
}

/// A stored record as it was written (Trail's own records are in workspace 0).
fn as_written(detail: app::model::EventDetail) -> NewRecord {
    let row = detail.row;
    NewRecord {
        id: row.id,
        workspace_id: app::audit::PLATFORM_WORKSPACE_ID,
        event_id: detail.event_id,
        brand: row.brand,
        kind: row.kind,
        key: row.key,
        message: row.message,
        context: row.context,
        entity_type: row.entity_type,
        entity_id: row.entity_id,
        actor_type: row.actor_type,
        actor_id: row.actor_id,
        actor_email: row.actor_email,
        actor_name: row.actor_name,
        actor_label: row.actor_label,
        ip: detail.ip,
        user_agent: detail.user_agent,
        visibility: row.visibility,
        severity: row.severity,
        status: row.status,
        duration_ms: row.duration_ms,
        provider: row.provider,
        error_message: detail.error_message,
        error_stack: detail.error_stack,
        correlation_id: row.correlation_id,
        payload: detail.payload,
        diff: detail.diff,
        occurred_at: row.occurred_at,
        received_at: row.received_at,
    }
}

fn assert_same(got: &Stats, want: &Stats, what: &str) {
    assert_eq!(
        (got.records, got.warnings, got.errors, got.critical),
        (want.records, want.warnings, want.errors, want.critical),
        "{what}: totals"
    );
    let bar_total: i64 = got.bars.iter().flat_map(|b| b.by_severity).sum();
    assert_eq!(bar_total, want.records, "{what}: the bars add up");
    assert_eq!(got.by_key, want.by_key, "{what}: counts by key");
    assert_eq!(got.top_actors, want.top_actors, "{what}: top actors");
    let a = |o: &app::model::OperationStats| {
        (o.count, o.success, o.failure, o.timeout, o.retry, o.pending, o.durations.clone())
    };
    assert_eq!(a(&got.actions), a(&want.actions), "{what}: actions and durations");
    let provider_total: i64 = got.by_provider.iter().map(|p| p.count).sum();
    assert_eq!(provider_total, want.actions.count, "{what}: providers add up");
}

#[tokio::test]
async fn stats_equal_a_recount_of_the_raw_records() {
    let app = spawn_app().await;
    let mine = app.workspace.id;
    let other = crate::helpers::add_workspace(&app.store, "other").await.id;
    let now = Micros::now();
    let mut rng = StdRng::seed_from_u64(42);
    let records = random_records(&[mine, other], 3_000, now, &mut rng);
    // In several groups at once (PostgreSQL's writers add to the same roll-up
    // rows concurrently), and once more: duplicates must not count twice.
    let groups = records.chunks(700).map(|chunk| vec![chunk.to_vec(), chunk[..10].to_vec()]).collect::<Vec<_>>();
    for outcome in futures::future::join_all(groups.iter().map(|group| app.store.insert_records(group))).await {
        outcome.unwrap();
    }
    let mut again: Vec<NewRecord> = records[..50].to_vec();
    again.iter_mut().for_each(|r| r.id = uuid::Uuid::now_v7());
    app.store.insert_records(&[again]).await.unwrap();

    // The platform's stats count Trail's own records too (the test's workspaces and key).
    let mut counted = records.clone();
    for row in app.audit_records().await {
        counted.push(as_written(app.store.event_by_id(&Scope::Platform, row.id).await.unwrap().unwrap()));
    }

    let provider = Scope::Grants(vec![Grant {
        workspace_id: mine,
        brand: None,
        visibilities: vec![Visibility::Internal, Visibility::Client],
    }]);
    let client = Scope::Grants(vec![Grant {
        workspace_id: mine,
        brand: Some("nike".into()),
        visibilities: vec![Visibility::Client],
    }]);
    type Sees = Box<dyn Fn(&NewRecord) -> bool>;
    let scopes: Vec<(&str, Scope, Sees)> = vec![
        ("platform", Scope::Platform, Box::new(|_| true)),
        ("provider", provider, Box::new(move |r| r.workspace_id == mine && r.visibility != Visibility::System)),
        (
            "client",
            client,
            Box::new(move |r| {
                r.workspace_id == mine && r.visibility == Visibility::Client && r.brand.as_deref() == Some("nike")
            }),
        ),
    ];
    // Windows ending now, and (for top actors, which add or subtract hours
    // where a window starts inside a block of the actor tables) ending in each
    // of the hours before, so they start at every offset from a block. Records
    // after such an end count too, as records dated ahead of the clock do.
    for earlier in 0..rollup::ACTOR_BLOCK_HOURS {
        let then = Micros(now.0 - earlier * HOUR_US);
        for (name, scope, may_see) in &scopes {
            for window in StatsWindow::ALL {
                let got = app.store.stats(scope, None, *window, then).await.unwrap();
                let want = recount(&counted, may_see, *window, then);
                if earlier == 0 {
                    assert!(want.records > 0, "{name} {window:?} has data");
                    assert_same(&got, &want, &format!("{name} {}", window.as_str()));
                    assert_eq!(got.bars.len() as i64, window.hours() / window.bar_hours());
                } else {
                    assert_eq!(
                        got.top_actors,
                        want.top_actors,
                        "{name} {} ending {earlier} h ago: top actors",
                        window.as_str()
                    );
                }
            }
        }
    }
    // A workspace filter on the platform scope.
    let got = app.store.stats(&Scope::Platform, Some("other"), StatsWindow::Month, now).await.unwrap();
    let want = recount(&records, |r| r.workspace_id == other, StatsWindow::Month, now);
    assert_same(&got, &want, "platform, workspace other");
}

#[tokio::test]
async fn stats_are_served_to_readers_in_their_scope() {
    let app = spawn_app().await;
    app.ingest(&json!([
        {"key": "crm_create", "kind": "action", "status": "failure", "provider": "hubspot", "duration_ms": 245, "visibility": "client"},
        {"key": "crm_create", "kind": "action", "status": "success", "provider": "hubspot", "duration_ms": 80},
        {"key": "login", "actor": {"id": "u_1"}, "visibility": "system"},
    ]))
    .await;
    let get = |path: &str| app.client.get(app.url(path)).bearer_auth(&app.key).send();
    let stats: Stats = get("/api/v1/stats?window=1h").await.unwrap().json().await.unwrap();
    assert_eq!((stats.records, stats.errors), (3, 1));
    assert_eq!((stats.actions.success, stats.actions.failure), (1, 1));
    assert_eq!(stats.by_provider[0].name, "hubspot");
    assert_eq!(stats.actions.p95_ms, Some(245));
    let counts: serde_json::Value = get("/api/v1/events/counts").await.unwrap().json().await.unwrap();
    assert_eq!(counts["by_key"][0], json!({"name": "crm_create", "count": 2}));
    assert_eq!(get("/api/v1/stats?window=2w").await.unwrap().status(), 400);
    let anonymous = app.client.get(app.url("/api/v1/stats")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// A duration is at most a year; sums of them stop at the largest number
/// instead of failing the commit (PostgreSQL) or the stats that read them.
#[tokio::test]
async fn duration_sums_stop_at_the_largest_number() {
    let app = spawn_app().await;
    let year = trail::ingest::parse::MAX_DURATION_MS;
    let action =
        |ms: i64| json!({"key": "sync", "kind": "action", "status": "success", "provider": "p", "duration_ms": ms});
    let refused = app.ingest(&json!([action(year + 1)])).await;
    assert_eq!(refused.status(), 422);
    let refusal = refused.text().await.unwrap();
    assert!(refusal.contains("from 0 to 31536000000 (a year)"), "{refusal}");
    assert_eq!(app.ingest(&json!([action(year)])).await.status(), 202);
    // A second hour: two roll-up rows to add up when stats read them.
    let earlier = app::model::Micros(app::model::Micros::now().0 - 2 * HOUR_US).to_rfc3339();
    let mut older = action(year);
    older["occurred_at"] = json!(earlier);
    assert_eq!(app.ingest(&json!([older])).await.status(), 202);

    // The roll-ups brought next to the largest number, as ~300 million
    // such records would.
    let near = i64::MAX - 1_000;
    let statements: Vec<String> = ["rollup_hourly", "rollup_platform_hourly"]
        .iter()
        .map(|table| format!("UPDATE {table} SET duration_sum = {near} WHERE key = 'sync'"))
        .collect();
    crate::integrity::tamper(&app, &statements.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(app.ingest(&json!([action(year)])).await.status(), 202, "the commit goes through");
    let stats = app.client.get(app.url("/api/v1/stats?window=24h")).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(stats.status(), 200);
    let stats: Stats = stats.json().await.unwrap();
    assert_eq!(stats.actions.durations.sum, i64::MAX, "stopped at the largest number");
    assert_eq!(stats.actions.durations.count, 3);
}
