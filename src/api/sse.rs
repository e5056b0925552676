//! Server-Sent Events, encoded into bytes that many streams share.
//!
//! axum's `Sse` encodes every event once per stream and sends each as a body
//! frame of its own. The live stream encodes a record's event once for every
//! stream of its group, and sends what waits for a stream as one chunk: with
//! each record going to twenty streams, that took about a third off what
//! delivering costs the server (docs/performance.md).

use std::fmt::Write as _;
use std::time::Duration;

use axum::body::Bytes;

/// One event. Every field is optional; `data` and `comment` may span lines.
#[derive(Default)]
pub struct Event<'a> {
    pub id: Option<&'a str>,
    /// The event type (`event:`); none is a `message`.
    pub kind: Option<&'a str>,
    pub data: Option<&'a str>,
    pub comment: Option<&'a str>,
    /// How long the client waits before reconnecting.
    pub retry: Option<Duration>,
}

impl Event<'_> {
    pub fn encode(&self) -> Bytes {
        let mut out = String::with_capacity(self.data.map_or(0, str::len) + 64);
        for line in self.comment.into_iter().flat_map(str::lines) {
            push_field(&mut out, "", line);
        }
        if let Some(kind) = self.kind {
            push_field(&mut out, "event", kind);
        }
        if let Some(id) = self.id {
            push_field(&mut out, "id", id);
        }
        if let Some(retry) = self.retry {
            let _ = writeln!(out, "retry: {}", retry.as_millis());
        }
        // `lines` would drop an empty last line; data keeps every line.
        for line in self.data.into_iter().flat_map(|data| data.split('\n')) {
            push_field(&mut out, "data", line.strip_suffix('\r').unwrap_or(line));
        }
        out.push('\n');
        Bytes::from(out)
    }
}

/// `name: value` and a newline; a line break inside the value (an id or a
/// type are single lines by construction) would end the field, so it is dropped.
fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.extend(value.chars().filter(|c| !matches!(c, '\n' | '\r')));
    out.push('\n');
}

/// A comment alone: keeps the connection seen as alive.
pub fn comment(text: &str) -> Bytes {
    Event { comment: Some(text), ..Event::default() }.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_in_order_and_data_keeps_its_lines() {
        let event = Event {
            id: Some("7.ab"),
            kind: Some("lagged"),
            data: Some("{\"a\":1}\nsecond\r\n"),
            comment: Some("hello"),
            retry: Some(Duration::from_secs(1)),
        };
        let text = String::from_utf8(event.encode().to_vec()).unwrap();
        assert_eq!(text, ": hello\nevent: lagged\nid: 7.ab\nretry: 1000\ndata: {\"a\":1}\ndata: second\ndata: \n\n");
    }

    #[test]
    fn a_line_break_cannot_start_a_field_of_its_own() {
        let event = Event { id: Some("1\ndata: forged"), ..Event::default() };
        assert_eq!(&event.encode()[..], b"id: 1data: forged\n\n");
        assert_eq!(&comment("a\nb")[..], b": a\n: b\n\n");
    }
}
