//! Alert rules: the operations that create and remove them, each
//! self-audited. `/admin/alerts`'s server functions and `trail alert` call
//! these, so every caller refuses the same things.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin_api::Notice;
use crate::model::{AlertRule, Loaded, Viewer};

/// What `/admin/alerts` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertsData {
    pub viewer: Viewer,
    pub workspaces: Vec<String>,
    pub rules: Vec<AlertRule>,
    /// The webhook endpoints alerts can go to: id and URL.
    pub endpoints: Vec<(i64, String)>,
    pub notice: Option<Notice>,
}

/// The rules, for founders and admins; members get a 404.
#[server]
pub async fn alerts_overview() -> Result<Loaded<AlertsData>, ServerFnError> {
    crate::admin_api::ssr::platform_page(|viewer, ctx| async move {
        let internal = crate::api::ssr::internal;
        let workspaces = ctx.store.workspaces().await.map_err(internal)?.into_iter().map(|w| w.slug).collect();
        let rules = ctx.store.alert_rules().await.map_err(internal)?;
        let endpoints = ctx.store.webhooks().await.map_err(internal)?.into_iter().map(|e| (e.id, e.url)).collect();
        let notice = crate::admin_api::ssr::take_notice(&ctx).await;
        Ok(AlertsData { viewer, workspaces, rules, endpoints, notice })
    })
    .await
}

/// Adds a rule. Founders and admins.
#[server]
#[allow(clippy::too_many_arguments)] // one per field of the form
pub async fn add_alert_rule(
    name: String,
    workspace: String,
    query: String,
    condition: String,
    threshold: String,
    min_records: String,
    window: String,
    cooldown: String,
    endpoints: String,
) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Admin).await?;
        let request = AlertRequest { name, workspace, query, condition, threshold, min_records, window, cooldown };
        let endpoints = parse_endpoints(&endpoints).map_err(crate::api::ssr::bad_request)?;
        let rule = create_alert_rule(ctx.store.as_ref(), &actor, request, endpoints)
            .await
            .map_err(crate::admin_api::refused)?;
        Ok(format!("Alert rule {} \"{}\" added.", rule.id, rule.name))
    })
    .await
}

/// Removes a rule. Founders and admins.
#[server]
pub async fn remove_alert(id: i64) -> Result<String, ServerFnError> {
    crate::admin_api::ssr::noted(Notice::Done, async move {
        let (actor, ctx) = crate::admin_api::ssr::require(crate::model::Role::Admin).await?;
        remove_alert_rule(ctx.store.as_ref(), &actor, id).await.map_err(crate::admin_api::refused)?;
        Ok(format!("Alert rule {id} removed."))
    })
    .await
}

/// Endpoint ids as typed: separated by commas or spaces; none is "every
/// endpoint that takes alerts".
pub fn parse_endpoints(text: &str) -> Result<Vec<i64>, String> {
    text.split([',', ' '])
        .filter(|part| !part.is_empty())
        .map(|part| part.parse::<i64>().map_err(|_| format!("{part:?} is not a webhook endpoint's id")))
        .collect()
}

/// A rule as typed (in the form or on the command line); empty text is "not given".
#[derive(Clone, Debug, Default)]
pub struct AlertRequest {
    pub name: String,
    /// A workspace's slug; empty: every workspace.
    pub workspace: String,
    /// The search syntax; empty: every record.
    pub query: String,
    /// match, count, error_rate, avg_duration, p95_duration or absent.
    pub condition: String,
    pub threshold: String,
    pub min_records: String,
    /// Default 5m.
    pub window: String,
    /// Default 5m.
    pub cooldown: String,
}

#[cfg(feature = "ssr")]
pub use operation::*;

#[cfg(feature = "ssr")]
mod operation {
    use serde_json::json;

    use super::AlertRequest;
    use crate::accounts::{self, AccountError};
    use crate::audit::{Actor, Entry};
    use crate::model::{check_alert_query, parse_span, span_text, AlertCondition, AlertRule, FeedParams, Micros};
    use crate::store::{Applied, Change, NewAlertRule, Page, Scope, Store};

    type Result<T> = std::result::Result<T, AccountError>;

    const DEFAULT_SPAN: &str = "5m";

    fn rule_json(rule: &AlertRule) -> serde_json::Value {
        let (threshold, min_records) = rule.condition.threshold();
        json!({
            "id": rule.id, "name": rule.name, "workspace": rule.workspace, "query": rule.query,
            "condition": rule.condition.name(), "threshold": threshold, "min_records": min_records,
            "window": span_text(rule.window_seconds), "cooldown": span_text(rule.cooldown_seconds),
            "endpoints": rule.endpoints,
        })
    }

    fn number<T: std::str::FromStr>(what: &str, text: &str) -> std::result::Result<Option<T>, String> {
        match text.trim() {
            "" => Ok(None),
            text => text.parse().map(Some).map_err(|_| format!("{what}: {text:?} is not a number")),
        }
    }

    /// The condition, window and cool-down a request describes.
    fn condition_of(request: &AlertRequest) -> std::result::Result<(AlertCondition, i64, i64), String> {
        let threshold: Option<f64> = number("threshold", &request.threshold)?;
        if threshold.is_some_and(|t| !t.is_finite()) {
            return Err("threshold: not a finite number".into());
        }
        let min_records: i64 = number("fewest records", &request.min_records)?.unwrap_or(0);
        let name = if request.condition.trim().is_empty() { "match" } else { request.condition.trim() };
        let condition = AlertCondition::from_parts(name, threshold, min_records)?;
        let span = |text: &str| parse_span(if text.trim().is_empty() { DEFAULT_SPAN } else { text });
        Ok((condition, span(&request.window)?, span(&request.cooldown)?))
    }

    pub async fn create_alert_rule(
        store: &dyn Store,
        actor: &Actor,
        request: AlertRequest,
        mut endpoints: Vec<i64>,
    ) -> Result<AlertRule> {
        let refused = |message: String| AccountError::Refused(message);
        endpoints.sort_unstable();
        endpoints.dedup();
        let name = request.name.trim().to_owned();
        accounts::check_label("name", &name).map_err(refused)?;
        if name.is_empty() {
            return Err(refused("a rule has a name".into()));
        }
        let query = check_alert_query(&request.query).map_err(refused)?;
        let (condition, window_seconds, cooldown_seconds) = condition_of(&request).map_err(refused)?;
        let workspace = match request.workspace.trim() {
            "" => None,
            slug => Some(accounts::workspace(store, slug).await?),
        };
        // An endpoint of one workspace hears of that workspace only.
        let slug = workspace.as_ref().map(|w| w.slug.as_str());
        let known = store.webhooks().await?;
        for id in &endpoints {
            match known.iter().find(|e| e.id == *id) {
                None => return Err(refused(format!("no webhook endpoint {id}"))),
                Some(e) if e.workspace.is_some() && e.workspace.as_deref() != slug => {
                    return Err(refused(format!(
                        "webhook endpoint {id} takes workspace {}'s records only; this rule watches {}",
                        e.workspace.as_deref().unwrap_or_default(),
                        slug.unwrap_or("every workspace")
                    )))
                }
                Some(_) => {}
            }
        }
        let workspace_id = workspace.as_ref().map(|w| w.id);
        let now = Micros::now();
        // Counting starts now; an absence counts from the newest match there is.
        let position = store.stream_start().await?;
        let last_match_at = if condition == AlertCondition::Absent {
            let filter = FeedParams { q: query.clone(), ..FeedParams::default() }.to_filter(now).map_err(refused)?;
            let newest = store.list_events(&Scope::whole_workspace(workspace_id), &filter, Page::newest(1)).await?;
            newest.first().map_or(now, |record| record.received_at)
        } else {
            now
        };
        let new = NewAlertRule {
            name,
            workspace_id,
            query,
            condition,
            window_seconds,
            cooldown_seconds,
            endpoints,
            position,
            last_match_at,
            created_at: now,
        };
        let audit = |applied: &Applied| {
            let Applied::AlertRule(rule) = applied else { return Vec::new() };
            let message = format!(
                "alert rule {} \"{}\" created: {}",
                rule.id,
                rule.name,
                rule.condition.describe(rule.window_seconds)
            );
            vec![actor.record(Entry::new("alert.created", "alert_rule", rule.id, message).payload(rule_json(rule)))]
        };
        match store.apply(Change::CreateAlertRule(&new), &audit).await? {
            Applied::AlertRule(rule) => Ok(rule),
            other => unreachable!("creating an alert rule applied as {other:?}"),
        }
    }

    pub async fn remove_alert_rule(store: &dyn Store, actor: &Actor, id: i64) -> Result<()> {
        let audit = |applied: &Applied| {
            let Applied::AlertRule(rule) = applied else { return Vec::new() };
            let message = format!("alert rule {} \"{}\" removed", rule.id, rule.name);
            vec![actor.record(Entry::new("alert.removed", "alert_rule", rule.id, message).payload(rule_json(rule)))]
        };
        store.apply(Change::RemoveAlertRule { id }, &audit).await?;
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn request(condition: &str, threshold: &str) -> AlertRequest {
            AlertRequest { condition: condition.into(), threshold: threshold.into(), ..AlertRequest::default() }
        }

        #[test]
        fn a_request_reads_as_a_condition_with_default_spans() {
            assert_eq!(condition_of(&request("", "")), Ok((AlertCondition::Match, 300, 300)));
            assert_eq!(condition_of(&request("count", "10")), Ok((AlertCondition::CountAbove { count: 10 }, 300, 300)));
            assert!(condition_of(&request("count", "")).is_err(), "a count needs its number");
            assert!(condition_of(&request("count", "NaN")).is_err());
            assert!(condition_of(&request("error_rate", "ten")).is_err());
            let bad_window = AlertRequest { window: "forever".into(), ..request("absent", "") };
            assert!(condition_of(&bad_window).is_err());
        }

        #[test]
        fn endpoint_lists_are_ids() {
            assert_eq!(super::super::parse_endpoints(" 1, 2 3"), Ok(vec![1, 2, 3]));
            assert!(super::super::parse_endpoints("1,x").is_err());
        }
    }
}
