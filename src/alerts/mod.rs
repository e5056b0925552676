//! Alert rules: one evaluator at a time (`Job::Alerts`) reads each rule's
//! new matches after its cursor in commit order (`Store::stream_after`, as
//! log streams read, so a late-committing record is not skipped), folds
//! them into the rule's roll-up (slots of a sixtieth of its window), and
//! judges the window from that roll-up, never by scanning the records.
//!
//! A rule (or, judged per provider, a provider of it) fires once when its
//! condition starts to hold and resolves once when it stops; after it
//! resolves it does not fire again for its cool-down. Firing and resolving
//! are records (kind `event`, in the `trail` workspace) written with their
//! alert messages to the rule's endpoints in one transaction.

pub mod cli;

use std::collections::BTreeMap;
use std::time::Duration;

use app::audit::{Actor, Entry};
use app::model::{span_text, AlertCondition, AlertRule, AlertState, AlertTotals, EventDetail, Kind, Micros, Severity};
use app::store::{AlertChange, AlertFold, AlertSeen, DynStore, Job, Scope, StoreResult, Turn};
use serde_json::json;

use crate::saved_search::{self, Owner};

/// Matching records read per statement.
const BATCH: usize = 1_000;
/// Statements per rule and round, so one round ends under a flood.
const BATCHES_PER_ROUND: usize = 20;
/// Rules are judged at least this often (windows slide, absences grow).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// The least time between rounds: commits arriving meanwhile wait for the next.
const ROUND_GAP: Duration = Duration::from_millis(200);

const SECOND_US: i64 = 1_000_000;
/// Durations are counted up to this (31 years), so no sum can overflow.
const LONGEST_COUNTED_MS: i64 = 1_000_000_000_000;

const FIRED: &str = "alert.fired";
const RESOLVED: &str = "alert.resolved";

/// Starts the evaluator; it runs as long as the server does.
pub fn spawn(store: DynStore) {
    tokio::spawn(async move {
        let mut commits = store.commits();
        let mut turn = Turn::new(Job::Alerts);
        loop {
            tokio::select! {
                Ok(()) = commits.changed() => {}
                () = tokio::time::sleep(LOOK_EVERY) => {}
            }
            let rules = match store.alert_rules().await {
                Ok(rules) => rules,
                Err(err) => {
                    tracing::warn!(error = %err, "could not read the alert rules");
                    continue;
                }
            };
            if !turn.hold(store.as_ref(), !rules.is_empty()).await {
                continue; // no rules, or another server evaluates
            }
            if let Err(err) = round(&store, &rules, Micros::now()).await {
                tracing::warn!(error = %err, "could not evaluate the alert rules");
            }
            tokio::time::sleep(ROUND_GAP).await;
        }
    });
}

/// Folds every rule's new matches in and writes what fires or resolves.
pub async fn round(store: &DynStore, rules: &[AlertRule], now: Micros) -> StoreResult<usize> {
    let mut folds = Vec::with_capacity(rules.len());
    for rule in rules {
        folds.extend(fold(store, rule, now).await?);
    }
    let decide = |rule_id: i64, totals: &[AlertTotals], states: &[AlertState]| {
        rules.iter().find(|r| r.id == rule_id).map(|rule| judge(rule, totals, states, now)).unwrap_or_default()
    };
    match store.alert_round(&folds, &decide).await {
        Ok(changes) => Ok(changes),
        Err(err) => {
            // One rule's failure must not stop the others: each on its own.
            tracing::warn!(error = %err, "an alert round failed; evaluating each rule on its own");
            let mut changes = 0;
            for fold in &folds {
                match store.alert_round(std::slice::from_ref(fold), &decide).await {
                    Ok(n) => changes += n,
                    Err(err) => tracing::error!(error = %err, rule = fold.rule_id, "could not evaluate an alert rule"),
                }
            }
            Ok(changes)
        }
    }
}

/// Reads a rule's matches after its cursor into slots and per-group counts;
/// `None` for a rule whose search no longer parses (it was checked when the
/// rule was made, under an older server's rules): it is left as it is,
/// neither firing nor resolving, and the log says why.
async fn fold(store: &DynStore, rule: &AlertRule, now: Micros) -> StoreResult<Option<AlertFold>> {
    let slot_us = rule.slot_us();
    let window_slot = (now.0 - rule.window_seconds * SECOND_US).div_euclid(slot_us);
    let mut fold = AlertFold {
        rule_id: rule.id,
        from: rule.position,
        through: rule.position,
        window_slot,
        ..AlertFold::default()
    };
    let Some(filter) = saved_search::filter(Owner::AlertRule, rule.id, rule.query.clone(), now) else {
        return Ok(None);
    };
    let scope = Scope::whole_workspace(rule.workspace_id);
    let mut slots: BTreeMap<(String, i64), AlertTotals> = BTreeMap::new();
    let mut seen: BTreeMap<String, AlertSeen> = BTreeMap::new();
    for _ in 0..BATCHES_PER_ROUND {
        let batch = store.stream_after(&scope, &filter, fold.through, BATCH).await?;
        let full = batch.records.len() == BATCH;
        for (position, record) in batch.records {
            fold.through = position;
            if ignored(rule, &record) {
                continue;
            }
            count(rule, &record, window_slot, &mut slots, &mut seen);
        }
        if let Some(through) = batch.through {
            fold.through = fold.through.max(through);
        }
        if !full {
            break;
        }
    }
    fold.slots = slots.into_iter().map(|((_, slot), totals)| (slot, totals)).collect();
    fold.seen = seen.into_values().collect();
    Ok(Some(fold))
}

/// Records that never count towards a rule: its own (its alerts, its
/// creation), so it cannot feed itself; and any rule's resolving, so two
/// rules that match each other's alerts settle once both resolve.
fn ignored(rule: &AlertRule, record: &EventDetail) -> bool {
    let row = &record.row;
    let about_alerts = row.entity_type.as_deref() == Some("alert_rule");
    about_alerts && (row.entity_id.as_deref() == Some(rule.id.to_string().as_str()) || row.key == RESOLVED)
}

fn count(
    rule: &AlertRule,
    record: &EventDetail,
    window_slot: i64,
    slots: &mut BTreeMap<(String, i64), AlertTotals>,
    seen: &mut BTreeMap<String, AlertSeen>,
) {
    let row = &record.row;
    let group = if rule.condition.per_provider() { row.provider.clone().unwrap_or_default() } else { String::new() };
    // Arrival, not `occurred_at`: a backdated record is news when it comes.
    let entry = seen.entry(group.clone()).or_insert_with(|| AlertSeen { group: group.clone(), ..Default::default() });
    entry.matches += 1;
    entry.last_record = row.id;
    entry.last_match_at = entry.last_match_at.max(row.received_at);
    if !rule.condition.uses_window() {
        return;
    }
    // Windows slide over when things happened (a record dated ahead of its
    // arrival counts from its arrival); older ones never count.
    let slot = row.occurred_at.min(row.received_at).0.div_euclid(rule.slot_us());
    if slot < window_slot {
        return;
    }
    let totals = slots.entry((group.clone(), slot)).or_insert_with(|| AlertTotals { group, ..Default::default() });
    totals.records += 1;
    totals.errors += i64::from(row.severity >= Severity::Error);
    if let Some(ms) = row.duration_ms {
        totals.durations.add(ms.clamp(0, LONGEST_COUNTED_MS));
    }
}

/// What fires and what resolves, from the window's totals per group and the
/// states after this round's fold.
pub fn judge(rule: &AlertRule, totals: &[AlertTotals], states: &[AlertState], now: Micros) -> Vec<AlertChange> {
    let cooldown_us = rule.cooldown_seconds * SECOND_US;
    let cooled = |state: &AlertState| state.changed_at.is_none_or(|at| now.0 - at.0 >= cooldown_us);
    let mut changes = Vec::new();
    let mut change = |state: &AlertState, firing: bool, value: Option<f64>| {
        changes.push(AlertChange {
            rule_id: rule.id,
            group: state.group.clone(),
            firing,
            at: now,
            record: alert_record(rule, state, firing, value),
        });
    };
    match rule.condition {
        AlertCondition::Match => {
            for state in states {
                if !state.firing && state.matches > 0 && cooled(state) {
                    change(state, true, None);
                } else if state.firing && state.last_match_at.is_none_or(|at| now.0 - at.0 >= cooldown_us) {
                    change(state, false, None);
                }
            }
        }
        AlertCondition::Absent => {
            for state in states {
                let since = state.last_match_at.unwrap_or(rule.created_at);
                let absent = now.0 - since.0 >= rule.window_seconds * SECOND_US;
                if absent && !state.firing && cooled(state) {
                    change(state, true, None);
                } else if !absent && state.firing {
                    change(state, false, None);
                }
            }
        }
        threshold => {
            let quiet = AlertTotals::default();
            let mut groups: Vec<&str> = totals.iter().map(|t| t.group.as_str()).collect();
            groups.extend(states.iter().filter(|s| s.firing).map(|s| s.group.as_str()));
            groups.sort_unstable();
            groups.dedup();
            for group in groups {
                let window = totals.iter().find(|t| t.group == group).unwrap_or(&quiet);
                let value = measure(threshold, window);
                let holds = value.is_some_and(|v| exceeds(threshold, window, v));
                let fresh = AlertState { group: group.to_owned(), ..AlertState::default() };
                let state = states.iter().find(|s| s.group == group).unwrap_or(&fresh);
                if holds && !state.firing && cooled(state) {
                    change(state, true, value);
                } else if !holds && state.firing {
                    change(state, false, value);
                }
            }
        }
    }
    changes
}

/// The window's value for a threshold: records, percent of errors, or milliseconds.
fn measure(condition: AlertCondition, window: &AlertTotals) -> Option<f64> {
    match condition {
        AlertCondition::CountAbove { .. } => Some(window.records as f64),
        AlertCondition::ErrorRateAbove { .. } => {
            (window.records > 0).then(|| window.errors as f64 * 100.0 / window.records as f64)
        }
        AlertCondition::AvgDurationAbove { .. } => window.durations.average_ms(),
        AlertCondition::P95DurationAbove { .. } => window.durations.quantile_ms(0.95).map(|ms| ms as f64),
        AlertCondition::Match | AlertCondition::Absent => None,
    }
}

fn exceeds(condition: AlertCondition, window: &AlertTotals, value: f64) -> bool {
    match condition {
        AlertCondition::CountAbove { count } => value > count as f64,
        AlertCondition::ErrorRateAbove { percent, min_records } => {
            window.records >= min_records.max(1) && value > percent
        }
        AlertCondition::AvgDurationAbove { ms } | AlertCondition::P95DurationAbove { ms } => value > ms as f64,
        AlertCondition::Match | AlertCondition::Absent => false,
    }
}

/// The record that says a rule (or one provider of it) fired or resolved.
fn alert_record(rule: &AlertRule, state: &AlertState, firing: bool, value: Option<f64>) -> app::store::NewRecord {
    let (key, verb) = if firing { (FIRED, "fired") } else { (RESOLVED, "resolved") };
    let provider = (!state.group.is_empty()).then(|| format!(" for provider {}", state.group));
    let reading = value.map(|v| format!(" (now {})", (v * 10.0).round() / 10.0));
    let message = format!(
        "alert \"{}\" {verb}{}: {}{}",
        rule.name,
        provider.unwrap_or_default(),
        rule.condition.describe(rule.window_seconds),
        reading.unwrap_or_default()
    );
    let (threshold, min_records) = rule.condition.threshold();
    let payload = json!({
        "rule": rule.id, "name": rule.name, "workspace": rule.workspace, "query": rule.query,
        "condition": rule.condition.name(), "threshold": threshold, "min_records": min_records,
        "window": span_text(rule.window_seconds), "group": state.group, "value": value,
        "matches": state.matches, "last_record": state.last_record, "firing": firing,
    });
    let mut entry = Entry::new(key, "alert_rule", rule.id, message).payload(payload);
    if firing {
        entry = entry.warning();
    }
    let mut record = Actor::system("alert rules").record(entry);
    record.kind = Kind::Event;
    record
}

#[cfg(test)]
mod tests {
    use app::model::{Durations, StreamPosition};

    use super::*;

    const NOW: Micros = Micros(1_800_000_000_000_000);

    fn rule(condition: AlertCondition) -> AlertRule {
        AlertRule {
            id: 7,
            name: "r".into(),
            workspace: None,
            workspace_id: None,
            query: String::new(),
            condition,
            window_seconds: 60,
            cooldown_seconds: 30,
            endpoints: Vec::new(),
            position: StreamPosition::default(),
            states: Vec::new(),
            created_at: Micros(NOW.0 - 3_600 * SECOND_US),
        }
    }

    fn state(firing: bool, changed_ago_s: Option<i64>, last_match_ago_s: Option<i64>, matches: i64) -> AlertState {
        let ago = |s: i64| Micros(NOW.0 - s * SECOND_US);
        AlertState {
            group: String::new(),
            firing,
            changed_at: changed_ago_s.map(ago),
            last_match_at: last_match_ago_s.map(ago),
            matches,
            last_record: None,
        }
    }

    fn totals(records: i64, errors: i64) -> AlertTotals {
        AlertTotals { group: String::new(), records, errors, durations: Durations::default() }
    }

    fn fired(changes: &[AlertChange]) -> Vec<bool> {
        changes.iter().map(|c| c.firing).collect()
    }

    #[test]
    fn a_match_fires_once_and_resolves_after_a_quiet_cool_down() {
        let r = rule(AlertCondition::Match);
        assert_eq!(fired(&judge(&r, &[], &[state(false, None, Some(0), 1)], NOW)), [true]);
        assert!(judge(&r, &[], &[state(true, Some(5), Some(1), 3)], NOW).is_empty(), "more matches fold in");
        assert_eq!(fired(&judge(&r, &[], &[state(true, Some(40), Some(30), 3)], NOW)), [false]);
        assert!(judge(&r, &[], &[state(false, Some(1), Some(31), 0)], NOW).is_empty(), "quiet stays quiet");
        assert!(judge(&r, &[], &[state(false, Some(5), Some(0), 1)], NOW).is_empty(), "cooling down after resolving");
        assert_eq!(fired(&judge(&r, &[], &[state(false, Some(30), Some(10), 1)], NOW)), [true], "then it fires");
    }

    #[test]
    fn a_threshold_fires_above_it_resolves_below_and_waits_out_its_cool_down() {
        let r = rule(AlertCondition::CountAbove { count: 3 });
        let quiet = state(false, None, None, 0);
        assert!(judge(&r, &[totals(3, 0)], std::slice::from_ref(&quiet), NOW).is_empty(), "3 is not more than 3");
        let change = judge(&r, &[totals(4, 0)], &[quiet], NOW);
        assert_eq!(fired(&change), [true]);
        assert_eq!(change[0].record.key, FIRED);
        assert_eq!(change[0].record.kind, Kind::Event);
        assert!(judge(&r, &[totals(9, 0)], &[state(true, Some(1), None, 0)], NOW).is_empty(), "fires once");
        assert_eq!(fired(&judge(&r, &[], &[state(true, Some(1), None, 0)], NOW)), [false], "the window emptied");
        assert!(judge(&r, &[totals(9, 0)], &[state(false, Some(10), None, 0)], NOW).is_empty(), "cooling down");
        assert_eq!(fired(&judge(&r, &[totals(9, 0)], &[state(false, Some(30), None, 0)], NOW)), [true]);
    }

    #[test]
    fn an_error_rate_needs_its_fewest_records() {
        let r = rule(AlertCondition::ErrorRateAbove { percent: 10.0, min_records: 20 });
        let quiet = [state(false, None, None, 0)];
        assert!(judge(&r, &[totals(10, 10)], &quiet, NOW).is_empty(), "too few records to judge");
        assert!(judge(&r, &[totals(20, 2)], &quiet, NOW).is_empty(), "10 % is not above 10 %");
        assert_eq!(fired(&judge(&r, &[totals(20, 3)], &quiet, NOW)), [true]);
    }

    #[test]
    fn durations_are_judged_per_provider() {
        let r = rule(AlertCondition::P95DurationAbove { ms: 1_000 });
        let mut slow = totals(10, 0);
        slow.group = "stripe".into();
        for _ in 0..10 {
            slow.durations.add(4_000);
        }
        let mut fast = totals(10, 0);
        fast.group = "ses".into();
        fast.durations.add(20);
        let changes = judge(&r, &[slow, fast], &[], NOW);
        assert_eq!(fired(&changes), [true]);
        assert_eq!(changes[0].group, "stripe");
        assert!(changes[0].record.message.as_deref().unwrap().contains("provider stripe"));
    }

    #[test]
    fn an_absence_fires_after_its_window_and_resolves_on_a_match() {
        let r = rule(AlertCondition::Absent);
        assert!(judge(&r, &[], &[state(false, None, Some(59), 0)], NOW).is_empty());
        assert_eq!(fired(&judge(&r, &[], &[state(false, None, Some(60), 0)], NOW)), [true]);
        assert!(judge(&r, &[], &[state(true, Some(5), Some(65), 0)], NOW).is_empty(), "fires once");
        assert_eq!(fired(&judge(&r, &[], &[state(true, Some(5), Some(1), 1)], NOW)), [false]);
    }
}
