//! `trail demo`: four workspaces from typical SaaS domains, a sign-in for
//! every role, and a week of realistic records (audits with diffs, lifecycle
//! events, failed and slow provider actions, criticals, correlated flows).

use app::accounts;
use app::audit::{Actor, PLATFORM_WORKSPACE_ID};
use app::model::{ActorType, Kind, Micros, Role, Severity, Status, Visibility};
use app::store::{DynStore, NewRecord};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

use crate::cli::{add_user, create_key, DemoArgs};
use crate::ingest::parse::default_severity;

const WEEK_US: i64 = 7 * 24 * 3_600 * 1_000_000;
const BATCH: usize = 1_000;

struct DemoWorkspace {
    slug: &'static str,
    name: &'static str,
    brands: &'static [&'static str],
    /// (kind, key, entity type, provider)
    templates: &'static [(Kind, &'static str, &'static str, Option<&'static str>)],
}

const WORKSPACES: &[DemoWorkspace] = &[
    DemoWorkspace {
        slug: "beatmarket",
        name: "Beat Marketplace",
        brands: &["lofi-labs", "trapstar"],
        templates: &[
            (Kind::Audit, "track_publish", "track", None),
            (Kind::Audit, "track.updated", "track", None),
            (Kind::Audit, "INVOICE_GENERATED", "invoice", None),
            (Kind::Event, "checkout_success", "order", None),
            (Kind::Event, "preview_generated", "track", None),
            (Kind::Action, "payment_capture", "order", Some("stripe")),
            (Kind::Action, "payout_send", "payout", Some("stripe")),
        ],
    },
    DemoWorkspace {
        slug: "agency",
        name: "Social Media Agency",
        brands: &["nike", "adidas", "puma"],
        templates: &[
            (Kind::Audit, "brand.created", "brand", None),
            (Kind::Audit, "member.role_changed", "member", None),
            (Kind::Audit, "post.scheduled", "post", None),
            (Kind::Event, "publication.succeeded", "post", None),
            (Kind::Event, "publication.failed", "post", None),
            (Kind::Action, "post_publish", "post", Some("meta")),
            (Kind::Action, "post_publish", "post", Some("tiktok")),
        ],
    },
    DemoWorkspace {
        slug: "school",
        name: "School Back-Office",
        brands: &["north-campus", "south-campus"],
        templates: &[
            (Kind::Audit, "student.enrolled", "student", None),
            (Kind::Audit, "grade.updated", "student", None),
            (Kind::Audit, "INVOICE_GENERATED", "invoice", None),
            (Kind::Event, "attendance.marked", "class", None),
            (Kind::Event, "parent.notified", "student", None),
            (Kind::Action, "sms_send", "student", Some("twilio")),
        ],
    },
    DemoWorkspace {
        slug: "hub",
        name: "Integrations Hub",
        brands: &["acme", "globex"],
        templates: &[
            (Kind::Audit, "connection.created", "connection", None),
            (Kind::Event, "sync.completed", "connection", None),
            (Kind::Event, "webhook.delivered", "webhook", None),
            (Kind::Action, "crm_create", "contact", Some("hubspot")),
            (Kind::Action, "ticket_sync", "ticket", Some("zendesk")),
            (Kind::Action, "charge_create", "charge", Some("stripe")),
        ],
    },
];

/// A demo account, printed with its password so anyone can sign in as each role.
struct DemoSignIn {
    email: &'static str,
    name: &'static str,
    role: Role,
    workspace: Option<&'static str>,
    brand: Option<&'static str>,
    password: &'static str,
}

const SIGN_INS: &[DemoSignIn] = &[
    DemoSignIn {
        email: "founder@demo.trail",
        name: "Fran Founder",
        role: Role::Founder,
        workspace: None,
        brand: None,
        password: "demo-founder",
    },
    DemoSignIn {
        email: "admin@demo.trail",
        name: "Ada Admin",
        role: Role::Admin,
        workspace: None,
        brand: None,
        password: "demo-admin",
    },
    DemoSignIn {
        email: "provider@demo.trail",
        name: "Pia Provider",
        role: Role::Provider,
        workspace: Some("agency"),
        brand: None,
        password: "demo-provider",
    },
    DemoSignIn {
        email: "client@demo.trail",
        name: "Cleo Client",
        role: Role::Client,
        workspace: Some("agency"),
        brand: Some("nike"),
        password: "demo-client",
    },
];

const PEOPLE: &[(&str, &str, &str)] = &[
    ("u_101", "maya@example.com", "Maya Chen"),
    ("u_102", "leo@example.com", "Leo Martins"),
    ("u_103", "sara@example.com", "Sara Okafor"),
    ("u_104", "tom@example.com", "Tom Becker"),
    ("u_105", "ines@example.com", "Inès Laurent"),
];

pub async fn run(store: &DynStore, args: &DemoArgs) -> anyhow::Result<()> {
    if store.user_by_email(SIGN_INS[0].email).await?.is_some() {
        println!("Demo data is already present.");
        print_sign_ins();
        return Ok(());
    }
    let workspaces = store.workspaces().await?;
    if args.if_empty && workspaces.iter().any(|ws| ws.id != PLATFORM_WORKSPACE_ID) {
        println!("The database already has workspaces; no demo data added.");
        return Ok(());
    }
    let mut workspace_ids = Vec::new();
    for ws in WORKSPACES {
        let id = match store.workspace_by_slug(ws.slug).await? {
            Some(existing) => existing.id,
            None => accounts::add_workspace(store.as_ref(), &Actor::cli(), ws.slug, ws.name).await?.id,
        };
        workspace_ids.push(id);
    }
    for account in SIGN_INS {
        let user = accounts::NewAccount {
            email: account.email.into(),
            name: account.name.into(),
            role: account.role,
            workspace: account.workspace.unwrap_or_default().into(),
            brand: account.brand.unwrap_or_default().into(),
            password: account.password.into(),
        };
        add_user(store, user).await?;
    }
    // The provider works for two workspaces.
    if let Some(provider) = store.user_by_email(SIGN_INS[2].email).await? {
        accounts::grant_membership(store.as_ref(), &Actor::cli(), &provider, "hub", "").await?;
    }

    let records = generate(&workspace_ids, args.records as usize, Micros::now(), 7);
    let progress = ProgressBar::new(records.len() as u64).with_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} records ({per_sec})")?.progress_chars("=> "),
    );
    progress.set_message("demo");
    for batch in records.chunks(BATCH) {
        store.insert_records(&[batch.to_vec()]).await?;
        progress.inc(batch.len() as u64);
    }
    progress.finish();
    println!("\nDemo data ready: {} workspaces, {} records over the last 7 days.", WORKSPACES.len(), records.len());
    print_sign_ins();
    create_key(store, Some("agency"), "ingest,read", Some("demo key".into())).await
}

fn print_sign_ins() {
    println!("Sign in at /login as:");
    for DemoSignIn { email, role, workspace, brand, password, .. } in SIGN_INS {
        let scope = match (workspace, brand) {
            (Some(ws), Some(b)) => format!(" ({ws}, brand {b})"),
            (Some(ws), None) => format!(" ({ws})"),
            _ => String::new(),
        };
        println!("  {:<9} {email:<22} password {password}{scope}", role.as_str());
    }
}

/// `count` records over the week before `now`, deterministic for a `seed`.
/// About one record in five belongs to a correlated flow: an audit, the
/// provider action it triggers and the event that follows.
pub fn generate(workspace_ids: &[i64], count: usize, now: Micros, seed: u64) -> Vec<NewRecord> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut records = Vec::with_capacity(count);
    while records.len() < count {
        let w = rng.gen_range(0..WORKSPACES.len().min(workspace_ids.len()));
        let at = Micros(now.0 - rng.gen_range(0..WEEK_US));
        if rng.gen_bool(0.07) && count - records.len() >= 3 {
            records.extend(flow(&mut rng, w, workspace_ids[w], at, now));
        } else {
            let template = *WORKSPACES[w].templates.choose(&mut rng).expect("templates");
            records.push(record(&mut rng, w, workspace_ids[w], template, at, now, None));
        }
    }
    records.sort_by_key(|r| r.occurred_at);
    records
}

fn flow(rng: &mut StdRng, w: usize, workspace_id: i64, at: Micros, now: Micros) -> Vec<NewRecord> {
    let correlation = format!("req_{:016x}", rng.gen::<u64>());
    let templates = WORKSPACES[w].templates;
    let audit = *templates.iter().find(|t| t.0 == Kind::Audit).expect("an audit template");
    let action = *templates.iter().find(|t| t.0 == Kind::Action).expect("an action template");
    let event = *templates.iter().find(|t| t.0 == Kind::Event).expect("an event template");
    let mut first = record(rng, w, workspace_id, audit, at, now, Some(&correlation));
    let entity = (first.entity_type.clone(), first.entity_id.clone());
    let mut out = vec![];
    for (step, template) in [action, event].into_iter().enumerate() {
        let later = Micros(at.0 + (step as i64 + 1) * rng.gen_range(50_000..2_000_000));
        let mut r = record(rng, w, workspace_id, template, later, now, Some(&correlation));
        (r.entity_type, r.entity_id) = entity.clone();
        r.brand = first.brand.clone();
        out.push(r);
    }
    first.visibility = Visibility::Client;
    out.insert(0, first);
    out
}

fn record(
    rng: &mut StdRng,
    w: usize,
    workspace_id: i64,
    (kind, key, entity_type, provider): (Kind, &'static str, &'static str, Option<&'static str>),
    at: Micros,
    now: Micros,
    correlation: Option<&str>,
) -> NewRecord {
    let ws = &WORKSPACES[w];
    let brand = ws.brands.choose(rng).map(|b| b.to_string());
    // A small pool per type, so an entity's timeline has a history.
    let entity_id = format!("{}_{}", &entity_type[..3.min(entity_type.len())], rng.gen_range(1..60));
    let human = kind == Kind::Audit || rng.gen_bool(0.3);
    let (actor_id, actor_email, actor_name) = if human {
        let (id, email, name) = *PEOPLE.choose(rng).expect("people");
        (Some(id.to_owned()), Some(email.to_owned()), Some(name.to_owned()))
    } else {
        (None, None, None)
    };
    let actor_type = if human {
        ActorType::User
    } else if kind == Kind::Action {
        ActorType::Integration
    } else {
        ActorType::Worker
    };
    let status = (kind == Kind::Action).then(|| match rng.gen_range(0..100) {
        0..=84 => Status::Success,
        85..=92 => Status::Failure,
        93..=96 => Status::Timeout,
        _ => Status::Retry,
    });
    let failed = status.is_some_and(Status::is_failure) || key.ends_with("failed");
    let mut severity = default_severity(kind, status);
    if key.ends_with("failed") {
        severity = Severity::Warning;
    }
    if failed && rng.gen_bool(0.05) {
        severity = Severity::Critical;
    }
    let duration_ms = status.map(|s| match s {
        Status::Timeout => 30_000,
        _ if rng.gen_bool(0.05) => rng.gen_range(2_000..12_000),
        _ => rng.gen_range(40..900),
    });
    let visibility = match rng.gen_range(0..10) {
        0..=5 => Visibility::Internal,
        6..=8 => Visibility::Client,
        _ => Visibility::System,
    };
    let who = actor_name.clone().unwrap_or_else(|| "A worker".into());
    let message = match (kind, provider) {
        (Kind::Action, Some(p)) => format!("{key} on {p}: {}", status.map_or("pending", |s| s.as_str())),
        (Kind::Audit, _) => format!("{who} ran {key} on {entity_type} {entity_id}"),
        _ => format!("{key} for {entity_type} {entity_id}"),
    };
    let diff = demo_diff(key, rng).map(|d| d.to_string());
    let payload = json!({ "brand": brand, "attempt": rng.gen_range(1..4), "request": {"path": format!("/{entity_type}s/{entity_id}")} });
    NewRecord {
        id: Uuid::now_v7(),
        workspace_id,
        event_id: Some(format!("demo-{:016x}", rng.gen::<u64>())),
        brand,
        kind,
        key: key.to_owned(),
        message: Some(message),
        context: Some(if human { "web" } else { "worker" }.to_owned()),
        entity_type: Some(entity_type.to_owned()),
        entity_id: Some(entity_id),
        actor_type,
        actor_label: None,
        actor_id,
        actor_email,
        actor_name,
        ip: human.then(|| format!("203.0.113.{}", rng.gen_range(1..255))),
        user_agent: human.then(|| "Mozilla/5.0 (Macintosh) Safari/605.1.15".to_owned()),
        visibility,
        severity,
        status,
        duration_ms,
        provider: provider.map(str::to_owned),
        error_message: failed.then(|| format!("{} returned an error", provider.unwrap_or("upstream"))),
        error_stack: None,
        correlation_id: correlation.map(str::to_owned),
        payload: Some(payload.to_string()),
        diff,
        occurred_at: at,
        received_at: now,
    }
}

/// A before/after that fits the key, for audits that change something.
fn demo_diff(key: &str, rng: &mut StdRng) -> Option<serde_json::Value> {
    const ROLES: [&str; 4] = ["viewer", "editor", "admin", "owner"];
    let diff = match key {
        "member.role_changed" => {
            let (from, to) = (rng.gen_range(0..3), rng.gen_range(1..4));
            json!({"old": {"role": ROLES[from]}, "new": {"role": ROLES[to.max(from + 1).min(3)]}})
        }
        "track.updated" => json!({
            "old": {"title": "Night Drive", "bpm": 92, "price": rng.gen_range(20..40), "tags": ["lofi"], "status": "draft"},
            "new": {"title": "Night Drive (Remix)", "bpm": 96, "price": rng.gen_range(20..40), "tags": ["lofi", "chill"], "status": "published", "cover": "cover_v2.png"}
        }),
        "grade.updated" => {
            json!({"old": {"grade": "B", "comment": null}, "new": {"grade": "A-", "comment": "Great improvement"}})
        }
        "post.scheduled" => {
            json!({"old": {"scheduled_at": null, "channel": "instagram"}, "new": {"scheduled_at": "2026-11-25T09:00:00Z", "channel": "instagram"}})
        }
        // A long diff: a whole settings object.
        "connection.created" => {
            let settings = |version: u32| {
                let mut fields = serde_json::Map::new();
                for i in 0..24 {
                    fields.insert(format!("setting_{i:02}"), json!(format!("value {i} v{version}")));
                }
                fields.insert("retries".into(), json!(version * 3));
                serde_json::Value::Object(fields)
            };
            json!({"old": settings(1), "new": settings(2)})
        }
        _ => return None,
    };
    Some(diff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_covers_every_kind() {
        let now = Micros(1_800_000_000_000_000);
        let a = generate(&[1, 2, 3, 4], 2_000, now, 7);
        let b = generate(&[1, 2, 3, 4], 2_000, now, 7);
        assert_eq!(a.len(), 2_000);
        let keys = |rs: &[NewRecord]| rs.iter().map(|r| (r.key.clone(), r.occurred_at)).collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b));
        for kind in Kind::ALL {
            assert!(a.iter().any(|r| r.kind == *kind));
        }
        assert!(a.iter().any(|r| r.severity == Severity::Critical));
        assert!(a.iter().any(|r| r.correlation_id.is_some()));
        assert!(a.iter().all(|r| r.occurred_at <= now && r.occurred_at.0 > now.0 - WEEK_US - 10_000_000));
    }
}
