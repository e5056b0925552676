//! Searches saved with an alert rule or a webhook endpoint, read again each
//! time they are used. Each was checked when it was saved; one that an
//! upgraded server no longer reads (a stricter rule) is not used: the rule
//! neither fires nor resolves, the endpoint takes no records, and the log
//! says so once per rule or endpoint, until it is removed and added again.

use std::collections::BTreeSet;
use std::sync::Mutex;

use app::model::{EventFilter, FeedParams, Micros};

/// What saved a search: the log names it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    AlertRule,
    WebhookEndpoint,
}

/// Saved searches that did not parse, logged once each.
static UNPARSED: Mutex<BTreeSet<(Owner, i64)>> = Mutex::new(BTreeSet::new());

/// The filter of `owner` `id`'s saved search `q`; `None` when it no longer parses.
pub fn filter(owner: Owner, id: i64, q: String, now: Micros) -> Option<EventFilter> {
    match FeedParams::saved_search(&q, now) {
        Ok(filter) => Some(filter),
        Err(err) => {
            if UNPARSED.lock().map_or(true, |mut logged| logged.insert((owner, id))) {
                let what = match owner {
                    Owner::AlertRule => "an alert rule's search no longer parses: remove the rule and add it again",
                    Owner::WebhookEndpoint => {
                        "a webhook endpoint's records filter no longer parses: remove it and add it again"
                    }
                };
                tracing::error!(id, error = %err, "{what}");
            }
            None
        }
    }
}
