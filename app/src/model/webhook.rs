//! Webhook endpoints (`/admin/webhooks`, `trail webhook`): where messages
//! go, in which format, and which records and alerts an endpoint receives.

use serde::{Deserialize, Serialize};

use super::{FeedParams, Micros};

/// The body a message is sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The record as the API returns it (alerts: their own JSON).
    Trail,
    /// A Slack (or Discord) incoming webhook's body: `text`, with a link to the record.
    Slack,
}

impl WebhookFormat {
    pub const ALL: &'static [WebhookFormat] = &[WebhookFormat::Trail, WebhookFormat::Slack];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Trail => "trail",
            WebhookFormat::Slack => "slack",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        WebhookFormat::ALL.iter().copied().find(|f| f.as_str().eq_ignore_ascii_case(text)).ok_or_else(|| {
            let known: Vec<&str> = WebhookFormat::ALL.iter().map(|f| f.as_str()).collect();
            format!("unknown format {text:?}; expected {}", known.join(" or "))
        })
    }
}

impl std::fmt::Display for WebhookFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint as listed (its secrets are never shown again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: i64,
    /// `None`: records of every workspace.
    pub workspace: Option<String>,
    pub url: String,
    pub description: String,
    pub format: WebhookFormat,
    /// The records it receives, in the search syntax; `None`: none.
    pub records: Option<String>,
    /// Whether alert rules without endpoints of their own go to it.
    pub alerts: bool,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<Micros>,
    /// After a rotation, the old secret also signs until then.
    pub previous_secret_until: Option<Micros>,
    pub created_at: Micros,
}

/// A delivery, as the admin page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<Micros>,
    pub next_attempt_at: Option<Micros>,
    pub created_at: Micros,
}

/// Which records an endpoint receives, in the search syntax; blank is none.
/// Checked as the feed would read it.
pub fn check_webhook_records(text: &str) -> Result<Option<String>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let params = FeedParams { q: text.to_owned(), ..FeedParams::default() };
    params.to_filter(Micros::now()).map(|_| Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_back() {
        for format in WebhookFormat::ALL {
            assert_eq!(WebhookFormat::parse(format.as_str()), Ok(*format));
        }
        assert!(WebhookFormat::parse("xml").is_err());
    }

    #[test]
    fn a_records_filter_is_checked_as_the_feed_reads_it() {
        assert_eq!(check_webhook_records("  "), Ok(None));
        assert_eq!(check_webhook_records("severity:>=error"), Ok(Some("severity:>=error".to_owned())));
    }
}
