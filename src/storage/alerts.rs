//! Statements of alert rules, their states and roll-ups (migration `alert_rules`).

use app::model::{AlertCondition, AlertRule, AlertState, AlertTotals, Durations, Micros, StreamPosition};
use app::store::{AlertChange, AlertFold, AlertSeen, DecideAlert, NewAlertRule};
use uuid::Uuid;

use super::rollup::{counts_upsert_tail, duration_columns, merged_durations, sum, DurationColumns};
use super::statement::Sql;
use super::webhooks::new_message_id;

fn select_rules(q: &mut Sql<'_, '_>) {
    q.push(
        "SELECT r.id, r.name, w.slug AS workspace, r.workspace_id, r.query, r.condition, r.threshold, \
         r.min_records, r.window_seconds, r.cooldown_seconds, r.cursor_tx, r.cursor_id, r.created_at \
         FROM alert_rules r LEFT JOIN workspaces w ON w.id = r.workspace_id",
    );
}

pub fn rules(q: &mut Sql<'_, '_>) {
    select_rules(q);
    q.push(" ORDER BY r.id");
}

pub fn rule(q: &mut Sql<'_, '_>, id: i64) {
    select_rules(q);
    q.push(" WHERE r.id = ").bind(id);
}

/// Every rule's endpoints (`rule_id: None`) or one rule's.
pub fn endpoints(q: &mut Sql<'_, '_>, rule_id: Option<i64>) {
    q.push("SELECT rule_id, endpoint_id FROM alert_rule_endpoints");
    if let Some(id) = rule_id {
        q.push(" WHERE rule_id = ").bind(id);
    }
    q.push(" ORDER BY rule_id, endpoint_id");
}

/// Every rule's states (`rule_id: None`) or one rule's.
pub fn states(q: &mut Sql<'_, '_>, rule_id: Option<i64>) {
    q.push("SELECT rule_id, grp, firing, changed_at, last_match_at, matches, last_record FROM alert_states");
    if let Some(id) = rule_id {
        q.push(" WHERE rule_id = ").bind(id);
    }
    q.push(" ORDER BY rule_id, grp");
}

pub fn create<'a>(q: &mut Sql<'_, 'a>, new: &'a NewAlertRule) {
    let (threshold, min_records) = new.condition.threshold();
    q.push(
        "INSERT INTO alert_rules (name, workspace_id, query, condition, threshold, min_records, window_seconds, \
         cooldown_seconds, cursor_tx, cursor_id, created_at) VALUES (",
    );
    q.bind(new.name.as_str()).push(", ").bind(new.workspace_id).push(", ").bind(new.query.as_str());
    q.push(", ").bind(new.condition.name()).push(", ").bind(threshold).push(", ").bind(min_records);
    q.push(", ").bind(new.window_seconds).push(", ").bind(new.cooldown_seconds);
    q.push(", ").bind(new.position.commit_tx).push(", ").bind(new.position.id);
    q.push(", ").bind(new.created_at.0).push(") RETURNING id");
}

pub fn add_endpoints<'a>(q: &mut Sql<'_, 'a>, rule_id: i64, endpoints: &'a [i64]) {
    q.push("INSERT INTO alert_rule_endpoints (rule_id, endpoint_id) VALUES ");
    q.join(endpoints, ", ", |q, endpoint| _ = q.push("(").bind(rule_id).push(", ").bind(*endpoint).push(")"));
}

/// The rule's first state: quiet, its last match when it was made.
pub fn first_state(q: &mut Sql<'_, '_>, rule_id: i64, last_match_at: Micros) {
    q.push("INSERT INTO alert_states (rule_id, grp, last_match_at) VALUES (").bind(rule_id);
    q.push(", '', ").bind(last_match_at.0).push(")");
}

pub fn remove(q: &mut Sql<'_, '_>, id: i64) {
    q.push("DELETE FROM alert_rules WHERE id = ").bind(id);
}

/// Moves the cursor from where the fold read it; no row changes when
/// another evaluator moved it meanwhile.
pub fn move_cursor(q: &mut Sql<'_, '_>, fold: &AlertFold) {
    q.push("UPDATE alert_rules SET cursor_tx = ").bind(fold.through.commit_tx);
    q.push(", cursor_id = ").bind(fold.through.id).push(" WHERE id = ").bind(fold.rule_id);
    q.push(" AND cursor_tx = ").bind(fold.from.commit_tx).push(" AND cursor_id = ").bind(fold.from.id);
}

/// Slots per statement: 20 values each, within either database's limit.
pub const SLOTS_PER_STATEMENT: usize = 500;

/// Adds matching records to the rule's roll-up.
pub fn add_to_slots<'a>(q: &mut Sql<'_, 'a>, rule_id: i64, slots: &'a [(i64, AlertTotals)]) {
    q.push(format_args!(
        "INSERT INTO alert_buckets (rule_id, grp, slot, records, errors, {}) VALUES ",
        duration_columns().join(", ")
    ));
    q.join(slots, ", ", |q, (slot, totals)| {
        let d = &totals.durations;
        q.push("(").bind(rule_id).push(", ").bind(totals.group.as_str()).push(", ").bind(*slot);
        q.push(", ").bind(totals.records).push(", ").bind(totals.errors);
        q.push(", ").bind(d.count).push(", ").bind(d.sum).push(", ").bind(d.max);
        for n in d.buckets {
            q.push(", ").bind(n);
        }
        q.push(")");
    });
    let tail = counts_upsert_tail(q.dialect(), "alert_buckets", "rule_id, grp, slot");
    q.push(format_args!(" {tail}, errors = alert_buckets.errors + excluded.errors"));
}

/// Removes slots that no window reaches any more.
pub fn drop_slots(q: &mut Sql<'_, '_>, rule_id: i64, before: i64) {
    q.push("DELETE FROM alert_buckets WHERE rule_id = ").bind(rule_id).push(" AND slot < ").bind(before);
}

/// The rule's totals per group from slot `since` on.
pub fn window(q: &mut Sql<'_, '_>, rule_id: i64, since: i64) {
    let sums = merged_durations("", q.dialect());
    q.push(format_args!(
        "SELECT grp, {} AS records, {} AS errors, {} FROM alert_buckets WHERE rule_id = ",
        sum("records"),
        sum("errors"),
        sums.join(", ")
    ));
    q.bind(rule_id).push(" AND slot >= ").bind(since).push(" GROUP BY grp ORDER BY grp");
}

/// A group's newest matches: the time only ever moves forward.
pub fn see<'a>(q: &mut Sql<'_, 'a>, rule_id: i64, seen: &'a AlertSeen) {
    let max = q.dialect().greatest();
    q.push("INSERT INTO alert_states (rule_id, grp, last_match_at, matches, last_record) VALUES (").bind(rule_id);
    q.push(", ").bind(seen.group.as_str()).push(", ").bind(seen.last_match_at.0);
    q.push(", ").bind(seen.matches).push(", ").bind(seen.last_record).push(")");
    q.push(format_args!(
        " ON CONFLICT (rule_id, grp) DO UPDATE SET \
         last_match_at = {max}(COALESCE(alert_states.last_match_at, excluded.last_match_at), excluded.last_match_at), \
         matches = alert_states.matches + excluded.matches, last_record = excluded.last_record"
    ));
}

/// A group starts or stops firing; its count of matches starts again.
pub fn change<'a>(q: &mut Sql<'_, 'a>, change: &'a AlertChange) {
    q.push("INSERT INTO alert_states (rule_id, grp, firing, changed_at) VALUES (").bind(change.rule_id);
    q.push(", ").bind(change.group.as_str()).push(", ").bind(change.firing).push(", ").bind(change.at.0);
    q.push(
        ") ON CONFLICT (rule_id, grp) DO UPDATE SET firing = excluded.firing, changed_at = excluded.changed_at, \
         matches = 0 WHERE alert_states.firing <> excluded.firing",
    );
}

/// Queues an alert's message (the record that says so) to the rule's own
/// endpoints, or (having none) to every endpoint that takes alerts; enabled
/// ones only, whose workspace is the rule's (or every one), and not
/// to one that the record already goes to as a record (queued by this
/// transaction, after `now`: looked for from a minute before, so a clock
/// step back cannot hide it, through the index on (endpoint, created_at)
/// rather than the endpoint's whole history).
pub fn queue_alert(q: &mut Sql<'_, '_>, rule_id: i64, record: Uuid, now: Micros) {
    q.push("INSERT INTO webhook_messages (id, endpoint_id, record_id, kind, next_attempt_at, created_at) ");
    q.push(format_args!("SELECT {}, ep.id, ", new_message_id(q.dialect())));
    q.bind(record).push(", 'alert', ").bind(now.0).push(", ").bind(now.0);
    q.push(" FROM webhook_endpoints ep WHERE ep.enabled AND (ep.workspace_id IS NULL OR ep.workspace_id = ");
    q.push("(SELECT workspace_id FROM alert_rules WHERE id = ").bind(rule_id).push(")) AND CASE WHEN EXISTS (");
    q.push("SELECT 1 FROM alert_rule_endpoints WHERE rule_id = ").bind(rule_id);
    q.push(") THEN ep.id IN (SELECT endpoint_id FROM alert_rule_endpoints WHERE rule_id = ").bind(rule_id);
    q.push(") ELSE ep.alerts END");
    q.push(" AND NOT EXISTS (SELECT 1 FROM webhook_messages m ");
    q.push("WHERE m.endpoint_id = ep.id AND m.created_at >= ").bind(now.0 - 60_000_000);
    q.push(" AND m.record_id = ").bind(record).push(")");
}

#[derive(sqlx::FromRow)]
pub struct RuleRow {
    id: i64,
    name: String,
    workspace: Option<String>,
    workspace_id: Option<i64>,
    query: String,
    condition: String,
    threshold: Option<f64>,
    min_records: i64,
    window_seconds: i64,
    cooldown_seconds: i64,
    cursor_tx: i64,
    cursor_id: Uuid,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
pub struct EndpointLinkRow {
    rule_id: i64,
    endpoint_id: i64,
}

#[derive(sqlx::FromRow)]
pub struct StateRow {
    rule_id: i64,
    grp: String,
    firing: bool,
    changed_at: Option<i64>,
    last_match_at: Option<i64>,
    matches: i64,
    last_record: Option<Uuid>,
}

/// What `decide` makes of a rule's window and states as read.
pub fn judged(
    decide: &DecideAlert<'_>,
    rule_id: i64,
    totals: Vec<WindowRow>,
    states: Vec<StateRow>,
) -> Vec<AlertChange> {
    let totals: Vec<AlertTotals> = totals.into_iter().map(Into::into).collect();
    let states: Vec<AlertState> = states.iter().map(Into::into).collect();
    decide(rule_id, &totals, &states)
}

/// The rules with their endpoints and states (each list ordered by rule).
/// A rule whose condition does not read back (the table's CHECK should
/// prevent it) is left out, with a warning, rather than guessed.
pub fn assemble(rules: Vec<RuleRow>, links: Vec<EndpointLinkRow>, states: Vec<StateRow>) -> Vec<AlertRule> {
    rules
        .into_iter()
        .filter_map(|row| {
            let condition = match AlertCondition::from_parts(&row.condition, row.threshold, row.min_records) {
                Ok(condition) => condition,
                Err(err) => {
                    tracing::warn!(rule = row.id, error = %err, "an alert rule's condition does not read back");
                    return None;
                }
            };
            Some(AlertRule {
                id: row.id,
                name: row.name,
                workspace: row.workspace,
                workspace_id: row.workspace_id,
                query: row.query,
                condition,
                window_seconds: row.window_seconds,
                cooldown_seconds: row.cooldown_seconds,
                endpoints: links.iter().filter(|l| l.rule_id == row.id).map(|l| l.endpoint_id).collect(),
                position: StreamPosition { commit_tx: row.cursor_tx, id: row.cursor_id },
                states: states.iter().filter(|s| s.rule_id == row.id).map(AlertState::from).collect(),
                created_at: Micros(row.created_at),
            })
        })
        .collect()
}

impl From<&StateRow> for AlertState {
    fn from(row: &StateRow) -> Self {
        AlertState {
            group: row.grp.clone(),
            firing: row.firing,
            changed_at: row.changed_at.map(Micros),
            last_match_at: row.last_match_at.map(Micros),
            matches: row.matches,
            last_record: row.last_record,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct WindowRow {
    grp: String,
    records: i64,
    errors: i64,
    #[sqlx(flatten)]
    durations: DurationColumns,
}

impl From<WindowRow> for AlertTotals {
    fn from(row: WindowRow) -> Self {
        AlertTotals {
            group: row.grp,
            records: row.records,
            errors: row.errors,
            durations: Durations::from(&row.durations),
        }
    }
}
