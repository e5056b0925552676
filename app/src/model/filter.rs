//! Which records a feed shows: the filter, the page, and the URL parameters
//! that carry a view (queries, paths and the places a sign-in may return to).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{EventRow, Kind, Micros, Severity, Status, Visibility};

/// Which records a feed shows. Every field narrows; the viewer's own scope is
/// applied on the server on top of whatever this says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    pub workspace: Option<String>,
    pub brand: Option<String>,
    pub kind: Option<Kind>,
    /// Exact key, or a prefix when it ends with `*`.
    pub key: Option<String>,
    /// Exactly this severity.
    pub severity: Option<Severity>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// Warning, error and critical only.
    pub errors_only: bool,
    /// Errors (error and critical) and failed operations (status failure
    /// or timeout, whatever their severity): `failed/recent`.
    pub failures_only: bool,
    pub status: Option<Status>,
    /// An actor's id or email (an id, also when it holds an `@`).
    pub actor: Option<String>,
    /// An actor's id, exactly.
    pub actor_id: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub visibility: Option<Visibility>,
    pub provider: Option<String>,
    pub correlation_id: Option<String>,
    pub since: Option<Micros>,
    pub until: Option<Micros>,
    /// Free text, matched by words (`crate::search::terms`).
    pub q: Option<String>,
    /// The client's address, or a range of addresses.
    pub ip: Option<IpNet>,
    /// Words of the user agent.
    pub user_agent: Option<String>,
    /// Conditions on the payload's fields, all of which hold.
    pub payload: Vec<FieldCondition>,
}

impl EventFilter {
    /// The records of one entity: its timeline.
    pub fn of_entity(entity_type: impl Into<String>, entity_id: impl Into<String>) -> EventFilter {
        EventFilter {
            entity_type: Some(entity_type.into()),
            entity_id: Some(entity_id.into()),
            ..EventFilter::default()
        }
    }
}

/// `payload.data.email:bob@example.com`: a field of the payload, named by
/// its path through objects, and what its value must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldCondition {
    pub path: Vec<String>,
    pub test: FieldTest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FieldTest {
    /// The value is this string, or the number or boolean it spells.
    Equals(String),
    /// The value is a number that compares so with this one (a finite
    /// number, as written: integers beyond 2^53 stay exact).
    Compare(Comparison, String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    Above,
    AtLeast,
    Below,
    AtMost,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Above => ">",
            Comparison::AtLeast => ">=",
            Comparison::Below => "<",
            Comparison::AtMost => "<=",
        }
    }
}

impl FieldCondition {
    /// `data.email`.
    pub fn dotted_path(&self) -> String {
        self.path.join(".")
    }
}

/// A page of the feed, newest first, and where the next one starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedPage {
    pub rows: Vec<EventRow>,
    pub next_cursor: Option<String>,
}

/// The feed's filters as they travel in the URL query: the controls plus the
/// search box. The same parameters give the same view, on the server and in
/// the browser.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedParams {
    /// The search box (GitHub-style qualifiers and free text).
    pub q: String,
    pub workspace: String,
    pub kind: String,
    pub severity: String,
    pub errors: bool,
    /// `1h`, `24h`, `7d`, `30d` or empty for all time.
    pub range: String,
    /// The stats panel's window (`24h` when empty).
    pub window: String,
}

impl FeedParams {
    pub const RANGES: &'static [&'static str] = &["1h", "24h", "7d", "30d"];

    /// The parameters the page's address may hold (and a Load more link's
    /// `cursor`); others are no part of it.
    pub const NAMES: &'static [&'static str] =
        &["q", "workspace", "kind", "severity", "errors", "range", "window", "cursor"];

    /// The names in `query` that the page does not read (`actor=`, the
    /// read API's): said, so nobody takes an unfiltered feed for filtered.
    pub fn unread(query: &[(String, String)]) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (name, _) in query {
            if !Self::NAMES.contains(&name.as_str()) && !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }

    /// Reads the parameters from a URL query (missing ones are empty).
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Self {
        let text = |name: &str| get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        FeedParams {
            q: text("q"),
            workspace: text("workspace"),
            kind: text("kind"),
            severity: text("severity"),
            errors: matches!(get("errors").as_deref(), Some("1" | "true" | "on")),
            range: text("range"),
            window: text("window"),
        }
    }

    /// The export link's query: the same view for `/api/v1/events/export`.
    pub fn export_query(&self, format: &str) -> String {
        let mut params = vec![("format", format)];
        params.extend(self.api_params());
        query_string(&params)
    }

    /// The live feed's query: the same view for `/api/v1/events/stream`.
    pub fn stream_query(&self) -> String {
        query_string(&self.api_params())
    }

    /// These parameters in the read API's terms.
    fn api_params(&self) -> [(&'static str, &str); 6] {
        [
            ("q", &self.q),
            ("workspace", &self.workspace),
            ("kind", &self.kind),
            ("severity", &self.severity),
            ("since", &self.range),
            ("errors", if self.errors { "true" } else { "" }),
        ]
    }

    /// The URL query for these parameters (empty ones left out).
    pub fn to_query(&self) -> String {
        let errors = if self.errors { "1" } else { "" };
        query_string(&[
            ("q", &self.q),
            ("workspace", &self.workspace),
            ("kind", &self.kind),
            ("severity", &self.severity),
            ("range", &self.range),
            ("window", &self.window),
            ("errors", errors),
        ])
    }

    /// The filter these parameters describe; an error explains a bad search.
    pub fn to_filter(&self, now: Micros) -> Result<EventFilter, String> {
        crate::search::no_nul("workspace", &self.workspace)?;
        let mut filter = EventFilter {
            workspace: (!self.workspace.is_empty()).then(|| self.workspace.clone()),
            errors_only: self.errors,
            ..Default::default()
        };
        if !self.kind.is_empty() {
            filter.kind = Some(self.kind.parse().map_err(|e| format!("kind: {e}"))?);
        }
        if !self.severity.is_empty() {
            filter.severity = Some(self.severity.parse().map_err(|e| format!("severity: {e}"))?);
        }
        if !self.range.is_empty() {
            // One the control offers, so the page shows the range it applies.
            let offered = Self::RANGES.contains(&self.range.as_str());
            let since = crate::search::age(&self.range).and_then(|age| now.checked_before(age)).filter(|_| offered);
            filter.since = Some(since.ok_or_else(|| format!("range: \"{}\" is not 1h, 24h, 7d or 30d", self.range))?);
        }
        crate::search::apply(&self.q, &mut filter, now)?;
        // Time-independent, so a saved search is refused too: no key holds a `*`.
        crate::search::check_key_pattern(&filter)?;
        Ok(filter)
    }

    /// The filter of a read now: one that can match nothing (an empty time
    /// range) says so, as the API's 400 does, rather than "nothing matches".
    pub fn to_read_filter(&self, now: Micros) -> Result<EventFilter, String> {
        let filter = self.to_filter(now)?; // which checks the key's pattern
        crate::search::check_time_range(&filter)?;
        Ok(filter)
    }

    /// The filter of a search saved with an alert rule or a webhook
    /// endpoint, read with today's rules: one saved under older ones may
    /// no longer be read (it is not used, and the admin pages say why).
    pub fn saved_search(q: &str, now: Micros) -> Result<EventFilter, String> {
        FeedParams { q: q.to_owned(), ..FeedParams::default() }.to_filter(now)
    }
}

/// `next` if it is a path on this site (`/events/…?q=…`), so a sign-in link
/// cannot send anyone elsewhere: not `//host`, not `/\\host`, no scheme, no
/// control characters.
pub fn safe_next(next: &str) -> Option<&str> {
    let same_site = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2_000
        && !next.chars().any(|c| c.is_control() || c == '\\');
    same_site.then_some(next)
}

/// The pairs of a URL query (`a=1&b=x+y`, with or without its `?`), each
/// decoded once, in order. leptos_router 0.8's query map decodes its values
/// a second time: `q=50%2541` (a search for `50%41`) read as `50A`, and a
/// sign-in's `next` lost what followed a `%23` (`#`).
pub fn query_pairs(search: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(search.trim_start_matches('?')).unwrap_or_default()
}

/// The value of `name` among a query's `pairs`, the last if it repeats
/// (as a form's later field overrides, and as leptos_router read it).
pub fn query_value(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.clone())
}

/// A URL query (`a=1&b=x+y`) of the pairs whose value is not empty.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let present: Vec<&(&str, &str)> = pairs.iter().filter(|(_, value)| !value.is_empty()).collect();
    // Pairs of strings always encode.
    serde_urlencoded::to_string(present).unwrap_or_default()
}

/// `href` with `pairs` added to its query, encoded (empty values left out).
pub fn with_query(href: &str, pairs: &[(&str, &str)]) -> String {
    let query = query_string(pairs);
    let base = href.trim_end_matches('?');
    match (query.is_empty(), base.contains('?')) {
        (true, _) => base.to_owned(),
        (false, true) => format!("{base}&{query}"),
        (false, false) => format!("{base}?{query}"),
    }
}

/// One path segment, percent-encoded (RFC 3986 unreserved characters stay).
pub fn path_segment(value: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    utf8_percent_encode(value, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_the_page_does_not_read_are_named_once_each() {
        let pairs = crate::model::query_pairs("actor=a&q=x&brand=b&actor=c&cursor=z");
        assert_eq!(FeedParams::unread(&pairs), ["actor", "brand"]);
    }

    #[test]
    fn pairs_join_a_query_once() {
        assert_eq!(with_query("/?", &[("cursor", "a.b")]), "/?cursor=a.b");
        assert_eq!(with_query("/?q=x", &[("cursor", "a b")]), "/?q=x&cursor=a+b");
        assert_eq!(with_query("/entities/t/i", &[("order", "oldest")]), "/entities/t/i?order=oldest");
        assert_eq!(with_query("/x?", &[("empty", "")]), "/x");
    }

    #[test]
    fn feed_params_round_trip_through_the_url() {
        let params =
            FeedParams { q: "key:track_* \"a b\"".into(), kind: "audit".into(), errors: true, ..Default::default() };
        let query = params.to_query();
        assert_eq!(query, "q=key%3Atrack_*+%22a+b%22&kind=audit&errors=1");
        let decoded = query_pairs(&format!("?{query}"));
        let back = FeedParams::from_query(|name| query_value(&decoded, name));
        assert_eq!(back, params, "what the URL carries is the view");
        // Decoded once: a search for `50%41`, a sign-in's way back to `/?q=INV%2342`.
        let pairs = query_pairs("q=50%2541&next=%2F%3Fq%3DINV%252342&a=b+c");
        assert_eq!(query_value(&pairs, "q").as_deref(), Some("50%41"));
        assert_eq!(query_value(&pairs, "next").as_deref(), Some("/?q=INV%2342"));
        assert_eq!((query_value(&pairs, "a").as_deref(), query_value(&pairs, "b")), (Some("b c"), None));
        assert_eq!(query_value(&query_pairs("r=1h&r=7d"), "r").as_deref(), Some("7d"), "the last of a repeat");
        assert_eq!(path_segment("a b/c~d"), "a%20b%2Fc~d");
        let filter = params.to_filter(Micros(0)).unwrap();
        assert_eq!(
            (filter.key.as_deref(), filter.q.as_deref(), filter.errors_only),
            (Some("track_*"), Some("\"a b\""), true)
        );
        for range in ["2w", "2h", "31d"] {
            let bad = FeedParams { range: range.into(), ..Default::default() };
            assert!(bad.to_filter(Micros(0)).unwrap_err().starts_with("range:"), "only what the control offers");
        }
        let week = FeedParams { range: "7d".into(), ..Default::default() };
        assert!(week.to_filter(Micros(8 * 86_400_000_000)).unwrap().since.is_some());
    }

    #[test]
    fn only_same_site_paths_are_places_to_return_to() {
        for good in ["/", "/events/1?q=a%20b", "/entities/track/trk_1", "/admin"] {
            assert_eq!(safe_next(good), Some(good));
        }
        for bad in ["", "//evil.example", "/\\evil.example", "https://evil.example", "evil", "/\u{0}", "/a\nb", "/a\\b"]
        {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}
