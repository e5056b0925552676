//! The feed's search box: GitHub-style qualifiers that map onto the same
//! filters as the controls, e.g.
//! `key:track_* actor:u_12 severity:>=warning entity:track/trk_1 after:2026-11-01 "failed payment"`.
//! Parsed identically in the browser and on the server.
//!
//! Free text is matched by words: the text is cut into words of letters and
//! digits, lowercased ([`words`]), and a record matches when it holds every
//! term's words in a row (`INV-2024-0042` is the words `inv 2024 0042`). A
//! term ending in `*` matches words that start with its last word. The server
//! indexes each record's words the same way (`src/storage/search.rs`).

use std::net::IpAddr;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use ipnet::IpNet;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::model::{Comparison, EventFilter, FieldCondition, FieldTest, Micros, Severity};

/// The qualifiers the search box understands, for help and error messages.
pub const QUALIFIERS: &[&str] = &[
    "workspace:",
    "brand:",
    "kind:",
    "key:",
    "severity:",
    "is:error",
    "status:",
    "actor:",
    "actor_id:",
    "entity:",
    "visibility:",
    "provider:",
    "correlation:",
    "after:",
    "before:",
    "ip:",
    "ua:",
    "payload.<field>:",
];

/// The syntax, one line per form, for the search box's help.
pub const SYNTAX: &[(&str, &str)] = &[
    ("INV-2024-0042", "records holding these words, in this order (case does not matter)"),
    ("\"failed payment\"", "a phrase: the words in this order"),
    ("refund*", "words starting with refund"),
    ("key:invoice.*", "a key, or keys starting with invoice."),
    ("actor:u_12 / actor:maya@example.com", "an actor's id or email"),
    ("actor_id:\"ann \\\"the boss\\\" lee\"", "an actor's id exactly; in quotes, \\\" is a quote and \\\\ a backslash"),
    ("entity:invoice/inv_42", "one entity (or entity:invoice for a type)"),
    ("severity:>=warning  is:error", "at least a severity; warning and above"),
    ("kind:audit  status:failure  provider:stripe", "kind, outcome, provider"),
    ("workspace:acme  brand:nike  visibility:client", "where and for whom"),
    ("correlation:req_1", "the records of one flow"),
    ("after:2026-11-01  before:24h", "a date, an RFC 3339 time or an age (30m, 24h, 7d)"),
    ("ip:203.0.113.7  ip:203.0.113.0/24", "the client's address, or a CIDR range"),
    ("ua:firefox", "words of the user agent"),
    ("payload.data.email:bob@example.com", "a payload field equal to a value"),
    ("payload.amountCents:>=1000", "a payload number compared (>, >=, <, <=)"),
];

/// Terms of free text (and of `ua:`) one search may hold, and payload
/// fields: enough for any investigation, and a bound on one search's work.
pub const MAX_TERMS: usize = 32;
pub const MAX_FIELDS: usize = 16;
/// Words in one term (a phrase): a pasted sentence fits, while a phrase of
/// thousands of words (`a-a-a-…`) would be a query nested as deep, which
/// PostgreSQL evaluates recursively.
pub const MAX_TERM_WORDS: usize = 64;
/// Keys in a payload field's path (`data.email` has two).
pub const MAX_PATH_KEYS: usize = 32;

/// Longer words are not indexed: they are blobs (tokens, base64), not words
/// anyone types. Their shorter neighbours still are.
pub const MAX_WORD_CHARS: usize = 128;

/// The words of `text`: runs of letters and digits ([`is_word_char`]),
/// lowercased and folded ([`fold`]). Records and searches are cut into
/// words by this one rule, so both indexes hold and are asked the same words.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    // ASCII, most words, takes the short way: it has nothing to fold.
    // (Lowercase a letter at a time: the one letter whose lowercase hangs
    // on its place, a final Σ, folds to σ all the same.)
    word_runs(text).filter(|w| is_indexed(w)).map(|w| {
        if w.is_ascii() {
            w.to_ascii_lowercase()
        } else {
            w.chars().flat_map(char::to_lowercase).map(fold).collect()
        }
    })
}

/// Whether the index keeps a run of word characters: at most
/// [`MAX_WORD_CHARS`] of them.
fn is_indexed(run: &str) -> bool {
    run.len() <= MAX_WORD_CHARS || run.chars().count() <= MAX_WORD_CHARS
}

/// The runs of word characters in `text`, as written.
fn word_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_word_char(c)).filter(|run| !run.is_empty())
}

/// A letter or digit (`char::is_alphanumeric`), but not a letter drawn as
/// a symbol (`ⓐ`, `🄰`: category So), which SQLite's FTS5 takes for a
/// separator: on PostgreSQL too they are not words.
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    c.is_alphanumeric() && c.general_category() != GeneralCategory::OtherSymbol
}

/// A lowercase letter as SQLite's FTS5 folds it, where Unicode's case
/// folding differs from lowercase (every such letter: `ς` and `σ`, the
/// micro sign and `μ`, `ſ` and `s`): PostgreSQL, which keeps the words it
/// is given, then holds the same ones.
fn fold(c: char) -> char {
    match c {
        'µ' => 'μ',
        'ſ' => 's',
        'ς' => 'σ',
        'ϐ' => 'β',
        'ϑ' => 'θ',
        'ϕ' => 'φ',
        'ϖ' => 'π',
        'ϰ' => 'κ',
        'ϱ' => 'ρ',
        'ϵ' => 'ε',
        'ẛ' => 'ṡ',
        '\u{1FBE}' => 'ι',
        other => other,
    }
}

/// Refuses `-word` and `!word` (outside quotes): GitHub's search, which
/// this syntax follows, leaves such records out, and this one cannot; read
/// as the word, it would find the very records asked to be left out.
fn refuse_exclusion(token: &Token) -> Result<(), String> {
    let rest = token.text.strip_prefix(['-', '!']).filter(|_| !token.quoted);
    match rest {
        Some(rest) if words(rest).next().is_some() => Err(format!(
            "\"{}\": leaving records out (-word) is not supported; search for the word without the {}",
            shortened(&token.text),
            &token.text[..1]
        )),
        _ => Ok(()),
    }
}

/// `text` as a message shows it: at most 40 characters.
fn shortened(text: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Why `text` gives no word to search for.
fn nothing_to_search(text: &str) -> String {
    format!("\"{}\" has no letters or digits to search for", shortened(text))
}

/// Refuses text holding a word longer than the index keeps: searched
/// without it, the search would find more than was asked.
fn no_unindexed_word(text: &str) -> Result<(), String> {
    let too_long = word_runs(text).any(|run| !is_indexed(run));
    match too_long {
        true => Err(format!(
            "\"{}\": words longer than {MAX_WORD_CHARS} letters or digits are not indexed, so not searched for",
            shortened(text)
        )),
        false => Ok(()),
    }
}

/// One term of free text: its words in a row; with `prefix`, the last word
/// is the start of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub words: Vec<String>,
    pub prefix: bool,
}

/// The terms of the free text `q` (as [`apply`] leaves it in the filter). A
/// term without words (`-`) is left out.
pub fn terms(q: &str) -> Vec<Term> {
    let (tokens, _) = split(q);
    tokens
        .into_iter()
        .filter_map(|token| {
            let prefix = !token.quoted && token.text.ends_with('*');
            let words: Vec<String> = words(&token.text).collect();
            (!words.is_empty()).then_some(Term { words, prefix })
        })
        .collect()
}

/// Applies the search `text` on top of `filter`. An error names the problem.
pub fn apply(text: &str, filter: &mut EventFilter, now: Micros) -> Result<(), String> {
    // No record holds it (ingest refuses it), and PostgreSQL cannot compare text with it.
    if text.contains('\0') {
        return Err("the search must not contain the NUL character (U+0000)".into());
    }
    let mut free_text = Vec::new();
    let mut wordless = None;
    let mut qualified = false;
    for token in tokens(text)? {
        refuse_exclusion(&token)?;
        if let Some(condition) = payload_field(&token) {
            filter.payload.push(condition?);
            qualified = true;
            continue;
        }
        let Some((name, value)) = qualifier(&token) else {
            // Left out, a word too long to be indexed would widen the search.
            no_unindexed_word(&token.text)?;
            // A token may hold several terms (`a"* b"`): each is checked.
            let found = terms(&phrase_text(&token));
            if found.is_empty() {
                wordless = Some(token.text);
            } else {
                for term in &found {
                    check_prefix(term, &token.text)?;
                }
                free_text.push(phrase_text(&token));
            }
            continue;
        };
        if value.is_empty() {
            return Err(format!("{name}: needs a value"));
        }
        apply_qualifier(&name, value, filter, now)?;
        qualified = true;
    }
    // Punctuation beside other parts of the search is left out; alone it
    // finds nothing (whatever filters the search is applied on).
    if let (Some(token), true) = (wordless, free_text.is_empty() && !qualified) {
        return Err(nothing_to_search(&token));
    }
    if !free_text.is_empty() {
        filter.q = Some(free_text.join(" "));
    }
    check_limits(filter)
}

/// A search's bounds (`MAX_TERMS`, `MAX_FIELDS`), however its parts came:
/// the search syntax, the read API's parameters, or both.
pub fn check_limits(filter: &EventFilter) -> Result<(), String> {
    let found: Vec<Term> = [&filter.q, &filter.user_agent].into_iter().flatten().flat_map(|text| terms(text)).collect();
    if found.len() > MAX_TERMS {
        return Err(format!("a search may hold at most {MAX_TERMS} terms of text"));
    }
    if found.iter().any(|term| term.words.len() > MAX_TERM_WORDS) {
        return Err(format!("a term (a phrase) may hold at most {MAX_TERM_WORDS} words"));
    }
    if filter.payload.len() > MAX_FIELDS {
        return Err(format!("a search may test at most {MAX_FIELDS} payload fields"));
    }
    Ok(())
}

/// Whether the filter could match anything: a key with `*` inside, or a
/// time range that is empty, matches nothing, ever, and a reader asking for
/// it has made a mistake to point out. Checked on a read as a whole (its
/// parameters and `q` together). Saved searches are checked for the key's
/// pattern only (`check_key_pattern`): their relative times move, so
/// `after:7d before:2026-12-31` empties only later.
pub fn check_satisfiable(filter: &EventFilter) -> Result<(), String> {
    check_key_pattern(filter)?;
    check_time_range(filter)
}

/// A time range that holds no instant (`since` not before `until`).
pub fn check_time_range(filter: &EventFilter) -> Result<(), String> {
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if since >= until {
            return Err(format!(
                "the time range is empty: since {} is not before until {} (until is exclusive: a date is its \
                 day's start)",
                since.to_rfc3339(),
                until.to_rfc3339()
            ));
        }
    }
    Ok(())
}

/// A key's `*` goes at its end only: no key holds one, so any other
/// pattern matches nothing, whenever it is asked.
pub fn check_key_pattern(filter: &EventFilter) -> Result<(), String> {
    if filter.key.as_deref().is_some_and(|key| key.trim_end_matches('*').contains('*') || key.ends_with("**")) {
        return Err("key: `*` goes at the end only, once, for a prefix (`payment.*`); no key holds one".into());
    }
    Ok(())
}

/// A token as free text: quoted again (its escapes too), so a phrase stays
/// one term when `terms` reads the filter's text.
fn phrase_text(token: &Token) -> String {
    if token.quoted {
        quote(&token.text)
    } else {
        token.text.clone()
    }
}

/// A prefix of one character would ask the index for most of its words.
/// Counted as SQLite's FTS5 reads the word: it cuts a word at a mark (a
/// vowel sign), so `नाम*` asks it for words starting with `म`.
fn check_prefix(term: &Term, text: &str) -> Result<(), String> {
    let is_mark = |c: char| c.general_category_group() == GeneralCategoryGroup::Mark;
    let prefix = term.words.last().and_then(|last| last.split(is_mark).rfind(|part| !part.is_empty()));
    match prefix.map_or(0, |prefix| prefix.chars().count()) {
        0 | 1 if term.prefix => Err(format!(
            "\"{text}\": a prefix needs at least 2 letters or digits before the * (vowel signs and other marks \
             not counted)"
        )),
        _ => Ok(()),
    }
}

/// Applies one qualifier, `name:value` with `value` taken whole (the read
/// API's parameters `ip`, `user_agent`, `payload.…`).
pub fn apply_one(name: &str, value: &str, filter: &mut EventFilter, now: Micros) -> Result<(), String> {
    no_nul(name, value)?;
    if let Some(path) = payload_path(name) {
        filter.payload.push(field_condition(path, value)?);
        return Ok(());
    }
    apply_qualifier(&name.to_ascii_lowercase(), value, filter, now)
}

/// No record holds the NUL character (ingest refuses it), and PostgreSQL
/// cannot even compare text with one: a value holding one is refused.
pub fn no_nul(name: &str, value: &str) -> Result<(), String> {
    match value.contains('\0') {
        true => Err(format!("{name}: must not contain the NUL character (U+0000)")),
        false => Ok(()),
    }
}

/// The path of a payload field's name (`payload.data.email`), any case of `payload.`.
pub fn payload_path(name: &str) -> Option<&str> {
    let prefix = name.get(..8).filter(|p| p.eq_ignore_ascii_case("payload."))?;
    Some(&name[prefix.len()..])
}

/// How a search reads, part by part, for the search box to show: each
/// qualifier (`ip`, `203.0.113.0/24`) and each term of free text (`words`,
/// `inv 2024 0042`); empty when the search is not understood (`apply` says why).
pub fn understood(text: &str) -> Vec<(String, String)> {
    let Ok(tokens) = tokens(text) else { return vec![] };
    let mut parts = Vec::new();
    for token in tokens {
        if let Some(condition) = payload_field(&token) {
            let Ok(condition) = condition else { return vec![] };
            let test = match &condition.test {
                FieldTest::Equals(value) => format!("= {value}"),
                FieldTest::Compare(op, n) => format!("{} {n}", op.as_str()),
            };
            parts.push((format!("payload.{}", condition.dotted_path()), test));
        } else if let Some((name, value)) = qualifier(&token) {
            parts.push((name, value.to_owned()));
        } else {
            for term in terms(&phrase_text(&token)) {
                let name = if term.prefix { "words, the last a start" } else { "words" };
                parts.push((name.to_owned(), term.words.join(" ")));
            }
        }
    }
    parts
}

struct Token {
    text: String,
    /// Written in quotes: always free text.
    quoted: bool,
}

/// Splits on white space, keeping "quoted phrases" (also as `actor:"Maya Chen"`) whole.
fn tokens(text: &str) -> Result<Vec<Token>, String> {
    match split(text) {
        (_, true) => Err("a quote is not closed".into()),
        (tokens, false) => Ok(tokens),
    }
}

/// The tokens of `text`, and whether a quote was left open (it closes at the
/// end). Within quotes, `\"` is a quote and `\\` a backslash ([`quote`]).
fn split(text: &str) -> (Vec<Token>, bool) {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if in_quotes && matches!(chars.peek(), Some('"' | '\\')) => {
                current.extend(chars.next());
            }
            '"' => {
                in_quotes = !in_quotes;
                quoted |= current.is_empty();
            }
            c if c.is_whitespace() && !in_quotes => {
                if !current.is_empty() {
                    out.push(Token { text: std::mem::take(&mut current), quoted });
                }
                quoted = false;
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(Token { text: current, quoted });
    }
    (out, in_quotes)
}

/// `value` in quotes, as the search reads it back whatever it holds
/// (`"ann \"the boss\" lee"`): what a link to a stored value writes.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for ch in value.chars() {
        if matches!(ch, '"' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

/// `payload.data.email:bob@example.com`, `payload.amountCents:>=1000`.
fn payload_field(token: &Token) -> Option<Result<FieldCondition, String>> {
    let (path, value) = payload_path(&token.text).filter(|_| !token.quoted)?.split_once(':')?;
    Some(field_condition(path, value))
}

/// The test of the payload field at the dotted `path` that `value` asks
/// (`bob@example.com`, `>=1000`).
fn field_condition(path: &str, value: &str) -> Result<FieldCondition, String> {
    let keys: Vec<String> = path.split('.').map(str::to_owned).collect();
    if keys.iter().any(|key| key.is_empty() || key.contains(['"', '\\', '\0'])) {
        return Err(format!(
            "payload.{}: a field's path is names joined by dots (without quotes, backslashes or NUL)",
            path.replace('\0', "\\0")
        ));
    }
    if keys.len() > MAX_PATH_KEYS {
        return Err(format!("payload.{path}: a field's path may hold at most {MAX_PATH_KEYS} names"));
    }
    let test = match comparison(value) {
        Some((op, number)) => match number.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => FieldTest::Compare(op, number.trim().to_owned()),
            _ => return Err(format!("payload.{path}: {} needs a number", op.as_str())),
        },
        None => FieldTest::Equals(value.to_owned()),
    };
    Ok(FieldCondition { path: keys, test })
}

/// `>=1000` → (at least, "1000"); `None` for a value to equal.
fn comparison(value: &str) -> Option<(Comparison, &str)> {
    [(">=", Comparison::AtLeast), ("<=", Comparison::AtMost), (">", Comparison::Above), ("<", Comparison::Below)]
        .into_iter()
        .find_map(|(sign, op)| value.strip_prefix(sign).map(|rest| (op, rest)))
}

/// `203.0.113.7` (one address) or `203.0.113.0/24` (a range).
fn ip_range(value: &str) -> Result<IpNet, String> {
    if let Ok(address) = value.parse::<IpAddr>() {
        return Ok(address.into());
    }
    value.parse::<IpNet>().map(|net| net.trunc()).map_err(|_| {
        format!("\"{value}\" is not an IP address (203.0.113.7, 2001:db8::1) or a CIDR range (203.0.113.0/24)")
    })
}

fn qualifier(token: &Token) -> Option<(String, &str)> {
    if token.quoted {
        return None;
    }
    let (name, value) = token.text.split_once(':')?;
    let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    // A URL pasted whole (`https://…`) is text to find, not a filter.
    const URL_SCHEMES: [&str; 4] = ["http", "https", "ftp", "file"];
    let is_url = value.starts_with("//") && URL_SCHEMES.iter().any(|scheme| name.eq_ignore_ascii_case(scheme));
    (is_name && !is_url).then(|| (name.to_ascii_lowercase(), value))
}

/// Applies `name:value` on top of what `f` already asks: every part
/// narrows. A time bound, a range of addresses or a key prefix given again
/// keeps the narrower, the user agent's words add up, and any other filter
/// given again must agree: two that differ are an error, not the last one
/// silently.
fn apply_qualifier(name: &str, value: &str, f: &mut EventFilter, now: Micros) -> Result<(), String> {
    match name {
        "workspace" | "ws" => once(name, &mut f.workspace, value.to_owned())?,
        "brand" => once(name, &mut f.brand, value.to_owned())?,
        "kind" => once(name, &mut f.kind, choice(name, value)?)?,
        "key" => {
            let key = match f.key.take() {
                None => value.to_owned(),
                Some(set) => narrower_key(&set, value)
                    .ok_or_else(|| format!("{name}: {set} and {value} name no key in common"))?,
            };
            f.key = Some(key);
        }
        "severity" | "sev" => severity(value, f).map_err(|e| format!("{name}: {e}"))?,
        "is" => match value.to_ascii_lowercase().as_str() {
            "error" | "errors" => f.errors_only = true,
            other => return Err(format!("is:{other} is unknown; try is:error")),
        },
        "status" => once(name, &mut f.status, choice(name, value)?)?,
        "actor" => {
            once(name, &mut f.actor, value.to_owned())?;
            same_actor(f)?;
        }
        "actor_id" => {
            once(name, &mut f.actor_id, value.to_owned())?;
            same_actor(f)?;
        }
        "entity" => match value.split_once('/') {
            Some((t, id)) if !t.is_empty() && !id.is_empty() => {
                once(name, &mut f.entity_type, t.to_owned())?;
                once(name, &mut f.entity_id, id.to_owned())?;
            }
            Some(_) => return Err("entity: expects type/id or type".into()),
            None => once(name, &mut f.entity_type, value.to_owned())?,
        },
        "visibility" | "vis" => once(name, &mut f.visibility, choice(name, value)?)?,
        "provider" => once(name, &mut f.provider, value.to_owned())?,
        "correlation" | "correlation_id" | "trace" => once(name, &mut f.correlation_id, value.to_owned())?,
        "ip" => {
            let range = ip_range(value).map_err(|e| format!("{name}: {e}"))?;
            f.ip = Some(match f.ip {
                None => range,
                Some(set) if as_v6(set).contains(&as_v6(range)) => range,
                Some(set) if as_v6(range).contains(&as_v6(set)) => set,
                Some(set) => return Err(format!("{name}: {set} and {range} share no address")),
            });
        }
        "ua" | "user_agent" => {
            no_unindexed_word(value).map_err(|e| format!("{name}: {e}"))?;
            let found = terms(value);
            if found.is_empty() {
                return Err(format!("{name}: {}", nothing_to_search(value)));
            }
            for term in &found {
                check_prefix(term, value).map_err(|e| format!("{name}: {e}"))?;
            }
            f.user_agent = Some(match f.user_agent.take() {
                // A quote left open in the first closes before the second.
                Some(set) if set.matches('"').count() % 2 == 1 => format!("{set}\" {value}"),
                Some(set) => format!("{set} {value}"),
                None => value.to_owned(),
            });
        }
        "after" | "since" => {
            let since = point_in_time(value, now).map_err(|e| format!("{name}: {e}"))?;
            f.since = f.since.max(Some(since));
        }
        "before" | "until" => {
            let until = point_in_time(value, now).map_err(|e| format!("{name}: {e}"))?;
            f.until = Some(f.until.map_or(until, |set| set.min(until)));
        }
        other => return Err(format!("unknown filter \"{other}:\"; use one of {}", QUALIFIERS.join(" "))),
    }
    Ok(())
}

/// Of two keys (`invoice.paid`) or key prefixes (`invoice.*`), the one
/// within the other; `None` when neither is.
fn narrower_key(a: &str, b: &str) -> Option<String> {
    let within = |inner: &str, outer: &str| match outer.strip_suffix('*') {
        Some(prefix) => inner.strip_suffix('*').unwrap_or(inner).starts_with(prefix),
        None => inner == outer,
    };
    if within(b, a) {
        Some(b.to_owned())
    } else if within(a, b) {
        Some(a.to_owned())
    } else {
        None
    }
}

/// A range as the index sees it: IPv4 as its IPv6-mapped form, so that
/// `::/0` holds `10.0.0.0/8` and `::ffff:203.0.113.0/120` is `203.0.113.0/24`.
fn as_v6(range: IpNet) -> ipnet::Ipv6Net {
    match range {
        IpNet::V4(v4) => ipnet::Ipv6Net::new(v4.network().to_ipv6_mapped(), 96 + v4.prefix_len()).unwrap_or_default(),
        IpNet::V6(v6) => v6,
    }
}

/// `actor:` without an `@` is an id: with `actor_id:` it must be the same one.
fn same_actor(f: &EventFilter) -> Result<(), String> {
    match (&f.actor, &f.actor_id) {
        (Some(actor), Some(id)) if !actor.contains('@') && actor != id => {
            Err(format!("actor: and actor_id: name two actors ({actor} and {id}): give one"))
        }
        _ => Ok(()),
    }
}

/// Sets the filter `name`, which takes one value, unless it holds another.
fn once<T: PartialEq + std::fmt::Display>(name: &str, slot: &mut Option<T>, value: T) -> Result<(), String> {
    agree(slot, value).map_err(|e| format!("{name}: {e}"))
}

fn agree<T: PartialEq + std::fmt::Display>(slot: &mut Option<T>, value: T) -> Result<(), String> {
    match slot {
        Some(set) if *set != value => Err(format!("given twice ({set} and {value}): give one")),
        _ => {
            *slot = Some(value);
            Ok(())
        }
    }
}

/// One of a closed set of values (`kind:audit`), case-insensitively.
fn choice<T: std::str::FromStr<Err = String>>(name: &str, value: &str) -> Result<T, String> {
    value.to_ascii_lowercase().parse().map_err(|e| format!("{name}: {e}"))
}

/// `warning` (exactly), `>=warning` or `>warning` (at least / above).
fn severity(value: &str, f: &mut EventFilter) -> Result<(), String> {
    if value.starts_with('<') {
        return Err("compares with >= or > only (at least, above): `severity:info` is the least severe".into());
    }
    let (op, level) = match value.strip_prefix(">=") {
        Some(rest) => (">=", rest),
        None => match value.strip_prefix('>') {
            Some(rest) => (">", rest),
            None => ("=", value),
        },
    };
    let level: Severity = level.to_ascii_lowercase().parse()?;
    let least = match op {
        "=" => return agree(&mut f.severity, level),
        ">=" => level,
        _ => Severity::from_rank(level.rank() + 1).ok_or("nothing is above critical")?,
    };
    // The higher of two bounds.
    f.min_severity = f.min_severity.max(Some(least));
    Ok(())
}

/// `2026-11-01`, an RFC 3339 time, or an age such as `30m`, `24h`, `7d`,
/// within Trail's calendar (`Micros::MIN..=Micros::MAX`).
pub fn point_in_time(value: &str, now: Micros) -> Result<Micros, String> {
    let parsed = if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Some(date.and_time(NaiveTime::MIN).and_utc())
    } else if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        Some(time.with_timezone(&Utc))
    } else {
        None
    };
    let outside = || format!("\"{value}\" is outside {}", Micros::RANGE_TEXT);
    match parsed {
        Some(time) => Micros::from_datetime(time).ok_or_else(outside),
        None => match age(value) {
            Some(age) => now.checked_before(age).ok_or_else(outside),
            None => Err(format!("\"{value}\" is not a date (2026-11-01), a time (RFC 3339) or an age (30m, 24h, 7d)")),
        },
    }
}

/// `30m`, `24h`, `7d`: a positive whole number and a unit, or `None` (also
/// for an age too long to represent).
pub fn age(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let number = &value[..value.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    match unit {
        'm' => Duration::try_minutes(n),
        'h' => Duration::try_hours(n),
        'd' => Duration::try_days(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Status};

    const NOW: Micros = Micros(1_800_000_000_000_000);

    #[test]
    fn quoted_values_read_back_whatever_they_hold() {
        for value in [r#"ann "the boss" lee"#, r"C:\temp", r#"\""#, "plain", "two words", "carol@x.test"] {
            let f = parse(&format!("actor_id:{} refund", quote(value))).unwrap();
            assert_eq!(f.actor_id.as_deref(), Some(value), "{value}");
            assert_eq!(f.q.as_deref(), Some("refund"));
        }
        // Outside quotes a backslash is a character like any other.
        assert_eq!(parse(r"actor:u\1").unwrap().actor.as_deref(), Some(r"u\1"));
        // A phrase is read again from the filter's text as it was written.
        let phrase = parse(r#""a \" b" c"#).unwrap();
        let words: Vec<Vec<String>> = terms(phrase.q.as_deref().unwrap()).into_iter().map(|t| t.words).collect();
        assert_eq!(words, [vec!["a".to_owned(), "b".to_owned()], vec!["c".to_owned()]]);
        assert!(parse("actor:u_1 actor_id:u_2").is_err() && parse("actor:a@x.test actor_id:u_2").is_ok());
    }

    fn parse(text: &str) -> Result<EventFilter, String> {
        let mut filter = EventFilter::default();
        apply(text, &mut filter, NOW).map(|_| filter)
    }

    #[test]
    fn the_documented_example_maps_to_filters() {
        let f =
            parse(r#"key:track_* actor:u_12 severity:>=warning entity:track/trk_1 after:2026-11-01 "failed payment""#)
                .unwrap();
        assert_eq!(f.key.as_deref(), Some("track_*"));
        assert_eq!(f.actor.as_deref(), Some("u_12"));
        assert_eq!(f.min_severity, Some(Severity::Warning));
        assert_eq!((f.entity_type.as_deref(), f.entity_id.as_deref()), (Some("track"), Some("trk_1")));
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-11-01T00:00:00.000000Z");
        assert_eq!(f.q.as_deref(), Some("\"failed payment\""));
    }

    #[test]
    fn qualifiers_cover_every_filter() {
        let f = parse("kind:Action status:failure is:error provider:stripe vis:client brand:nike ws:acme trace:req_1 before:24h sev:>error word").unwrap();
        assert_eq!((f.kind, f.status), (Some(Kind::Action), Some(Status::Failure)));
        assert!(f.errors_only);
        assert_eq!(f.min_severity, Some(Severity::Critical));
        assert_eq!(f.until, Some(Micros(NOW.0 - 24 * 3_600 * 1_000_000)));
        assert_eq!(
            (f.workspace.as_deref(), f.brand.as_deref(), f.correlation_id.as_deref()),
            (Some("acme"), Some("nike"), Some("req_1"))
        );
        assert_eq!(f.q.as_deref(), Some("word"));
        assert_eq!(parse(r#"actor:"Maya Chen""#).unwrap().actor.as_deref(), Some("Maya Chen"));
        assert_eq!(parse(r#""key:not a filter""#).unwrap().q.as_deref(), Some("\"key:not a filter\""));
    }

    /// Every way a time can be wrong is an error naming it, never a panic:
    /// multi-byte characters where the unit goes, ages beyond any calendar,
    /// dates outside Trail's.
    #[test]
    fn hostile_times_are_errors() {
        let bad = [
            "5€",
            "€",
            "\u{80}",
            "5\u{80}",
            "€d",
            "",
            "d",
            "5",
            "0d",
            "-5d",
            "+5d",
            "5 d",
            "5dd",
            "99999999999999999d",
            "9223372036854775807m",
            "9223372036854775807d",
            "106751992d",
            "1969-12-31",
            "+10000-01-01",
            "10000-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
        ];
        for value in bad {
            assert!(point_in_time(value, NOW).is_err(), "{value:?} is refused");
            for name in ["after", "before", "since", "until"] {
                if !value.is_empty() {
                    assert!(parse(&format!("{name}:\"{value}\"")).is_err(), "{name}:{value:?}");
                    assert!(parse(&format!("{name}:{value}")).is_err(), "{name}:{value:?}");
                }
            }
            let range = crate::model::FeedParams { range: value.to_owned(), ..Default::default() };
            assert!(range.to_filter(NOW).is_err() || value.is_empty(), "range={value:?}");
        }
        assert_eq!(point_in_time("1970-01-01", NOW), Ok(Micros::MIN));
        assert_eq!(point_in_time("9999-12-31T23:59:59.999999Z", NOW), Ok(Micros::MAX));
        assert_eq!(point_in_time("7d", NOW), Ok(Micros(NOW.0 - 7 * 24 * 3_600_000_000)));
        assert_eq!(Micros(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        assert!(parse("colour:red").unwrap_err().starts_with("unknown filter \"colour:\""));
        let url = parse("https://example.com/a?b=1").unwrap();
        assert_eq!(url.q.as_deref(), Some("https://example.com/a?b=1"), "a URL is text");
        assert!(parse("key://x").is_ok_and(|f| f.key.as_deref() == Some("//x")), "a filter stays one");
        assert_eq!(parse("severity:loud").unwrap_err(), "severity: expected one of info, warning, error, critical");
        assert!(parse("after:yesterday").unwrap_err().contains("is not a date"));
        assert_eq!(parse("\"open").unwrap_err(), "a quote is not closed");
        assert_eq!(parse("key:").unwrap_err(), "key: needs a value");
        assert_eq!(parse("sev:>critical").unwrap_err(), "sev: nothing is above critical");
        assert!(parse("ip:203.0.113").unwrap_err().starts_with("ip: \"203.0.113\" is not an IP address"));
        assert!(parse("ip:203.0.113.0/33").is_err());
        assert_eq!(parse("payload.amount:>=lots").unwrap_err(), "payload.amount: >= needs a number");
        assert!(parse("payload..x:1").unwrap_err().contains("names joined by dots"));
        assert_eq!(parse("--").unwrap_err(), "\"--\" has no letters or digits to search for");
        let long = parse(&"z".repeat(3_000)).unwrap_err();
        assert!(long.contains("longer than 128") && long.chars().count() < 200, "{long}");
        let beside = parse(&format!("invoice {}", "z".repeat(129))).unwrap_err();
        assert!(beside.contains("longer than 128"), "not left out, widening the search: {beside}");
        assert!(parse(&format!("invoice {}", "z".repeat(128))).is_ok());
        assert!(parse(&format!("ua:{}", "z".repeat(200))).unwrap_err().starts_with("ua: \"zzz"));
        assert_eq!(parse("key:a --").unwrap().q, None, "punctuation beside other parts is left out");
        assert!(parse("ua:/").is_err());
        assert!(parse("a*").unwrap_err().contains("a prefix needs at least 2"));
        assert!(parse(r#"a"* b""#).unwrap_err().contains("a prefix needs at least 2"), "every term of a token");
        assert!(parse("ua:f*").is_err());
        assert!(parse(r#"payload.a"b:1"#).is_err());
        assert!(parse(&"w ".repeat(MAX_TERMS + 1)).unwrap_err().contains("at most 32 terms"));
        let long = format!("{}w", "w-".repeat(MAX_TERM_WORDS));
        assert!(parse(&long).unwrap_err().contains("at most 64 words"), "one term of 65 words");
        assert!(parse(&format!("ua:{long}")).unwrap_err().contains("at most 64 words"));
        assert!(parse(&format!("\"{}\"", "w ".repeat(MAX_TERM_WORDS))).is_ok(), "64 words are a phrase");
        assert!(parse(&"payload.a:1 ".repeat(MAX_FIELDS + 1)).unwrap_err().contains("at most 16 payload fields"));
    }

    /// Every part narrows, also a filter given twice: never the last one alone.
    #[test]
    fn a_filter_given_twice_narrows_or_is_refused() {
        assert_eq!(parse("kind:audit kind:Audit").unwrap().kind, Some(Kind::Audit));
        assert_eq!(parse("kind:audit kind:action").unwrap_err(), "kind: given twice (audit and action): give one");
        assert!(parse("sev:info sev:error").unwrap_err().starts_with("sev: given twice"));
        assert!(parse("actor:u_1 actor:u_2").is_err() && parse("entity:a/1 entity:b").is_err());
        for text in ["ip:10.0.0.0/8 ip:10.1.2.3", "ip:10.1.2.3 ip:10.0.0.0/8"] {
            assert_eq!(parse(text).unwrap().ip, Some("10.1.2.3/32".parse().unwrap()), "{text}");
        }
        assert_eq!(
            parse("ip:10.0.0.0/8 ip:203.0.113.7").unwrap_err(),
            "ip: 10.0.0.0/8 and 203.0.113.7/32 share no address"
        );
        // An IPv4 address is its IPv6-mapped form, as the index has it.
        let narrowed = parse("ip:203.0.113.0/24 ip:::ffff:203.0.113.7").unwrap().ip.unwrap();
        assert_eq!(as_v6(narrowed), as_v6("203.0.113.7/32".parse().unwrap()));
        assert_eq!(parse("ip:::/0 ip:10.0.0.0/8").unwrap().ip, Some("10.0.0.0/8".parse().unwrap()));
        assert!(parse("ip:2001:db8::/32 ip:10.0.0.0/8").is_err());
        for (text, key) in [
            ("key:invoice.* key:invoice.sent", "invoice.sent"),
            ("key:invoice.sent key:invoice.*", "invoice.sent"),
            ("key:invoice.* key:invoice.s*", "invoice.s*"),
            ("key:invoice.sent key:invoice.sent", "invoice.sent"),
        ] {
            assert_eq!(parse(text).unwrap().key.as_deref(), Some(key), "{text}");
        }
        assert_eq!(
            parse("key:invoice.* key:refund.*").unwrap_err(),
            "key: invoice.* and refund.* name no key in common"
        );
        assert!(parse("key:invoice.sent key:invoice.paid").is_err());
        assert_eq!(parse("ua:firefox ua:linux").unwrap().user_agent.as_deref(), Some("firefox linux"));
        let f = parse("after:2026-11-05 after:2026-11-01 before:2026-11-20 before:2026-11-30").unwrap();
        assert_eq!(f.since.unwrap().to_rfc3339(), "2026-11-05T00:00:00.000000Z");
        assert_eq!(f.until.unwrap().to_rfc3339(), "2026-11-20T00:00:00.000000Z");
        assert_eq!(parse("sev:>=error sev:>=warning").unwrap().min_severity, Some(Severity::Error));
        assert!(parse("severity:<=info").unwrap_err().contains(">= or >"), "not \"one of info…\"");
        assert_eq!(parse("sev:>=warning sev:>warning").unwrap().min_severity, Some(Severity::Error));
        // On top of filters set elsewhere (the read API's parameters, the feed's controls).
        let mut filter = EventFilter { kind: Some(Kind::Audit), ..Default::default() };
        assert!(apply("kind:action", &mut filter, NOW).unwrap_err().starts_with("kind: given twice"));
        assert_eq!(apply("---", &mut filter, NOW).unwrap_err(), "\"---\" has no letters or digits to search for");
    }

    #[test]
    fn free_text_is_words_in_a_row() {
        let found: Vec<String> = words("INV-2024-0042 bob@Example.COM Ünïcode_ok").collect();
        assert_eq!(found, ["inv", "2024", "0042", "bob", "example", "com", "ünïcode", "ok"]);
        let f = parse(r#"INV-2024* "failed payment" x"#).unwrap();
        let terms = terms(f.q.as_deref().unwrap());
        let term = |w: &[&str], prefix| Term { words: w.iter().map(|w| w.to_string()).collect(), prefix };
        assert_eq!(terms, [term(&["inv", "2024"], true), term(&["failed", "payment"], false), term(&["x"], false)]);
        assert!(words(&"a".repeat(MAX_WORD_CHARS + 1)).next().is_none());
    }

    /// The words SQLite's FTS5 holds of a text, PostgreSQL holds too: the
    /// letters FTS5 folds are folded, the letters drawn as symbols it
    /// leaves out are left out, and a prefix is counted as it reads it.
    #[test]
    fn words_are_what_both_indexes_hold() {
        let cut = |text: &str| words(text).collect::<Vec<_>>();
        assert_eq!(cut("ΟΔΟΣ σοφός 5µs ſtrong ϐeta"), ["οδοσ", "σοφόσ", "5μs", "strong", "βeta"]);
        assert_eq!(cut("circled ⓐⓑⓒ and Ⓐ🄰x"), ["circled", "and", "x"]);
        assert_eq!(cut("नाम café"), ["नाम", "café"], "marks stay inside a word, accents too");
        assert!(parse("x-ⓐⓑ*").is_err() && parse("0-ⓐⓑ*").is_err(), "a one-letter prefix, as FTS5 would read it");
        assert!(parse("नाम*").is_err() && parse("नामक*").is_ok());
        assert!(parse("ⓐⓑⓒ").is_err(), "no word");
    }

    #[test]
    fn leaving_records_out_is_refused_not_read_as_the_word() {
        for search in [
            "-invoice",
            "!invoice",
            "paid -invoice",
            "-key:invoice.paid",
            "-\"a b\"",
            "-\" invoice\"",
            "--invoice",
            "-ⓐinvoice",
        ] {
            assert!(parse(search).unwrap_err().contains("not supported"), "{search}");
        }
        for search in ["\"-invoice\"", "payload.delta:-5", "a - b", "INV-2024", "--", "x-ray"] {
            assert!(parse(search).err().is_none_or(|e| !e.contains("not supported")), "{search}");
        }
    }

    #[test]
    fn the_search_box_shows_how_it_read_the_search() {
        let parts = understood(r#"INV-2024* key:a ip:10.0.0.0/8 payload.n:>=5 "x y""#);
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            parts,
            [
                pair("words, the last a start", "inv 2024"),
                pair("key", "a"),
                pair("ip", "10.0.0.0/8"),
                pair("payload.n", ">= 5"),
                pair("words", "x y")
            ]
        );
        assert!(understood("\"open").is_empty());
    }

    #[test]
    fn addresses_agents_and_payload_fields() {
        let f = parse("ip:203.0.113.7 ua:Firefox/115 payload.data.email:bob@example.com payload.amountCents:>=1000")
            .unwrap();
        assert_eq!(f.ip, Some("203.0.113.7/32".parse().unwrap()));
        assert_eq!(f.user_agent.as_deref(), Some("Firefox/115"));
        assert_eq!(
            f.payload,
            [
                FieldCondition {
                    path: vec!["data".into(), "email".into()],
                    test: FieldTest::Equals("bob@example.com".into())
                },
                FieldCondition {
                    path: vec!["amountCents".into()],
                    test: FieldTest::Compare(Comparison::AtLeast, "1000".into())
                },
            ]
        );
        assert_eq!(f.q, None);
        assert_eq!(parse("ip:203.0.113.9/24").unwrap().ip, Some("203.0.113.0/24".parse().unwrap()));
        assert_eq!(parse("ip:2001:db8::1").unwrap().ip, Some("2001:db8::1/128".parse().unwrap()));
        let name = parse(r#"payload.customer.name:"Maya Chen""#).unwrap();
        assert_eq!(name.payload[0].test, FieldTest::Equals("Maya Chen".into()));
    }
}
