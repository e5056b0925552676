//! Tamper evidence (docs/integrity.md): the hash chains are written with the
//! records (`storage::chain`); here the server signs their heads in digests,
//! verifies them in the background, and `trail verify` checks them all.

pub mod proof;
pub mod signing;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use app::audit::{Actor, Entry};
use app::model::{ChainId, Digest, IntegrityStatus, Micros};
use app::store::{DynStore, Job, Store, StoreResult};
use ed25519_dalek::VerifyingKey;
use serde_json::json;

use signing::SigningKeys;
use verify::{Report, Resume};

/// Copies of digests as `/api/v1/digests` gives them, kept by a mirror: its
/// pages (`{"digests": [...]}`) or the digests themselves, as one JSON
/// document or one per line.
pub fn parse_copies(text: &str) -> Result<Vec<Digest>, String> {
    fn digests_of(value: serde_json::Value) -> Result<Vec<Digest>, String> {
        let value = match value {
            serde_json::Value::Object(mut page) if page.contains_key("digests") => page.remove("digests"),
            other => Some(other),
        };
        match value {
            Some(serde_json::Value::Array(items)) => items.into_iter().map(digest_of).collect(),
            Some(item) => Ok(vec![digest_of(item)?]),
            None => Ok(Vec::new()),
        }
    }
    fn digest_of(value: serde_json::Value) -> Result<Digest, String> {
        serde_json::from_value(value).map_err(|err| format!("not a digest: {err}"))
    }
    if let Ok(whole) = serde_json::from_str(text) {
        return digests_of(whole);
    }
    let lines = text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
    let mut copies = Vec::new();
    for (at, line) in lines {
        let value = serde_json::from_str(line).map_err(|err| format!("line {}: not JSON: {err}", at + 1))?;
        copies.extend(digests_of(value).map_err(|err| format!("line {}: {err}", at + 1))?);
    }
    Ok(copies)
}

/// Signs every chain that grew since its last digest; how many were signed.
pub async fn sign(store: &dyn Store, keys: &SigningKeys) -> StoreResult<usize> {
    Ok(store.sign_heads(keys, None).await?.len())
}

/// Verifies the chains (of one workspace, or all) from the start, or from
/// `resume`. The health check shows the last whole check, or a failure
/// found since: a partial check that finds nothing clears nothing.
pub async fn check(
    store: &dyn Store,
    trusted: &VerifyingKey,
    workspace_id: Option<i64>,
    resume: &HashMap<ChainId, Resume>,
    copies: &[Digest],
) -> StoreResult<Report> {
    let names = store.workspaces().await?.into_iter().map(|w| (w.id, w.slug)).collect();
    let report = verify::verify(store, trusted, verify::Scope { workspace_id, resume, copies }, &names).await?;
    let whole = workspace_id.is_none() && resume.is_empty();
    if whole || report.problems() > 0 {
        let scope = match (workspace_id, whole) {
            (_, true) => "",
            (Some(_), _) => " (one workspace)",
            (None, _) => " (what was added since the last check)",
        };
        let status = IntegrityStatus {
            checked_at: Micros::now().0,
            records: report.valid() as i64,
            problems: report.problems() as i64,
            detail: format!("{}{scope}", report.summary()),
        };
        store.set_integrity_status(&status).await?;
    }
    Ok(report)
}

/// The self-audit record of a verification: `integrity.verified`, or
/// `integrity.failed` (critical) with the first problems.
pub fn audit_record(actor: &Actor, report: &Report) -> app::store::NewRecord {
    let problems: Vec<String> = report.lines().take(20).collect();
    let payload = json!({
        "chains": report.chains.len(),
        "records_valid": report.valid(),
        "digests_valid": report.digests_valid(),
        "problems": report.problems(),
        "first_problems": problems,
    });
    let entry = if report.problems() == 0 {
        Entry::new("integrity.verified", "integrity", "chains", format!("Integrity verified: {}", report.summary()))
    } else {
        Entry::new("integrity.failed", "integrity", "chains", format!("Integrity check failed: {}", report.summary()))
            .critical()
    };
    actor.record(entry.payload(payload))
}

/// Signs digests every `every` and verifies what was added since the last
/// look (the whole of every chain at start). Records `integrity.failed` when
/// a problem appears and `integrity.verified` at the first run and when
/// the problems are gone. With several servers on one database one checks
/// at a time (`Job::IntegrityCheck`); the others only sign.
pub fn spawn(store: DynStore, keys: Arc<SigningKeys>, every: Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut resume = HashMap::new();
        let mut was_clean: Option<bool> = None;
        loop {
            ticks.tick().await;
            if let Err(err) = sign(store.as_ref(), &keys).await {
                tracing::error!(error = %err, "signing digests failed; next try in {every:?}");
            }
            let _checking = match store.job_lock(Job::IntegrityCheck).await {
                Ok(Some(guard)) => guard,
                Ok(None) => continue, // another server checks
                Err(err) => {
                    tracing::error!(error = %err, "could not take the check's turn; next try in {every:?}");
                    continue;
                }
            };
            let report = match check(store.as_ref(), &keys.public_key(), None, &resume, &[]).await {
                Ok(report) => report,
                Err(err) => {
                    tracing::error!(error = %err, "verifying the chains failed; next try in {every:?}");
                    continue;
                }
            };
            let clean = report.problems() == 0;
            if !clean {
                tracing::error!(problems = report.problems(), "integrity check failed: run `trail verify`");
            }
            resume = report.resume_points();
            if was_clean != Some(clean) {
                let record = audit_record(&Actor::system("integrity check"), &report);
                if let Err(err) = store.insert_records(&[vec![record]]).await {
                    tracing::error!(error = %err, "could not record the integrity check");
                    continue;
                }
                was_clean = Some(clean);
            }
        }
    });
}
