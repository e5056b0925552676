//! `trail alert …`: alert rules from the command line, through the same
//! operations as `/admin/alerts` (each self-audited).

use app::alerts::{self, AlertRequest};
use app::audit::Actor;
use app::model::span_text;
use app::store::DynStore;
use clap::{ArgGroup, Args, Subcommand};

#[derive(Subcommand)]
pub enum AlertCommand {
    /// Add a rule. Without a condition it fires on each matching record
    /// (folding in more while it fires; resolved after a quiet cool-down).
    Add(Box<AddRule>),
    /// List the rules and whether each fires.
    List,
    /// Remove a rule by its id.
    Remove { id: i64 },
}

#[derive(Args)]
#[command(group(ArgGroup::new("condition").args(
    ["count_above", "error_rate_above", "avg_duration_above", "p95_duration_above", "absent"]
)))]
pub struct AddRule {
    #[arg(long)]
    name: String,
    /// The records it watches, in the search syntax (`severity:>=error key:payment.*`).
    #[arg(long = "match", default_value = "")]
    query: String,
    /// Only this workspace's records (default: every workspace's).
    #[arg(long, value_parser = app::model::parse_slug)]
    workspace: Option<String>,
    /// A webhook endpoint's id to send its alerts to (repeatable). None:
    /// every enabled endpoint that takes alerts.
    #[arg(long = "webhook")]
    webhooks: Vec<i64>,
    /// Fires with more than N matching records in the window.
    #[arg(long, value_name = "N")]
    count_above: Option<i64>,
    /// Fires when more than P % of the matching records are errors.
    #[arg(long, value_name = "P")]
    error_rate_above: Option<f64>,
    /// With --error-rate-above: judged on at least N records.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "error_rate_above")]
    min_records: i64,
    /// Fires when a provider's average duration_ms is above T.
    #[arg(long, value_name = "T")]
    avg_duration_above: Option<i64>,
    /// Fires when a provider's 95th percentile duration_ms is above T.
    #[arg(long, value_name = "T")]
    p95_duration_above: Option<i64>,
    /// Fires when no record matches in the window.
    #[arg(long)]
    absent: bool,
    /// The sliding window: 30s, 5m, 1h, 2d.
    #[arg(long, default_value = "5m")]
    window: String,
    /// After resolving it does not fire again for this long; a match rule
    /// resolves after this long without a match.
    #[arg(long, default_value = "5m")]
    cooldown: String,
}

pub async fn run(store: &DynStore, command: AlertCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match command {
        AlertCommand::Add(add) => {
            let AddRule {
                name,
                query,
                workspace,
                webhooks,
                count_above,
                error_rate_above,
                min_records,
                avg_duration_above,
                p95_duration_above,
                absent,
                window,
                cooldown,
            } = *add;
            let (condition, threshold) = match (count_above, error_rate_above, avg_duration_above, p95_duration_above) {
                (Some(n), ..) => ("count", n.to_string()),
                (_, Some(p), ..) => ("error_rate", p.to_string()),
                (_, _, Some(t), _) => ("avg_duration", t.to_string()),
                (.., Some(t)) => ("p95_duration", t.to_string()),
                _ if absent => ("absent", String::new()),
                _ => ("match", String::new()),
            };
            let request = AlertRequest {
                name,
                workspace: workspace.unwrap_or_default(),
                query,
                condition: condition.into(),
                threshold,
                min_records: min_records.to_string(),
                window,
                cooldown,
            };
            let rule = alerts::create_alert_rule(store.as_ref(), &actor, request, webhooks).await?;
            println!("alert rule {} added: {}", rule.id, rule.condition.describe(rule.window_seconds));
        }
        AlertCommand::List => {
            for rule in store.alert_rules().await? {
                let firing: Vec<String> = rule
                    .firing()
                    .map(|s| if s.group.is_empty() { "firing".into() } else { format!("firing: {}", s.group) })
                    .collect();
                let state = if firing.is_empty() { "quiet".to_owned() } else { firing.join(", ") };
                let endpoints = if rule.endpoints.is_empty() {
                    "alert endpoints".to_owned()
                } else {
                    rule.endpoints.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
                };
                println!(
                    "{:>5}  {state:<8} {:<12} {:?} match {:?}: {} (cool-down {}) → {endpoints}",
                    rule.id,
                    rule.workspace.as_deref().unwrap_or("*"),
                    rule.name,
                    rule.query,
                    rule.condition.describe(rule.window_seconds),
                    span_text(rule.cooldown_seconds),
                );
            }
        }
        AlertCommand::Remove { id } => {
            alerts::remove_alert_rule(store.as_ref(), &actor, id).await?;
            println!("alert rule {id} removed");
        }
    }
    Ok(())
}
