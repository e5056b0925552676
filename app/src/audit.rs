//! Trail audits itself: sign-ins, changes to accounts and keys, and exports
//! are `audit` records in the reserved workspace `trail`, which only founders
//! and admins see. This module says who did it ([`Actor`]) and what the
//! record holds ([`Entry`]); the store writes the records in the same
//! transaction as the change they describe (`Store::apply`).

use serde_json::Value;
use uuid::Uuid;

use crate::model::{ActorType, Kind, Micros, Severity, Viewer, Visibility};
use crate::store::NewRecord;

pub use crate::model::PLATFORM_WORKSPACE;
pub const PLATFORM_WORKSPACE_ID: i64 = 0;

/// Where a request came from, as far as the server can trust it (the
/// forwarded address only from a trusted proxy). The server puts one in every
/// request's extensions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The request's `x-request-id`, the records' correlation id.
    pub request_id: Option<String>,
}

/// Who did what an audit record describes.
#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    actor_type: ActorType,
    id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    label: Option<String>,
    origin: Origin,
}

impl Actor {
    /// A signed-in person.
    pub fn viewer(viewer: &Viewer, origin: Origin) -> Self {
        Actor::person(viewer.user_id, &viewer.email, viewer.name.as_deref(), origin)
    }

    pub fn person(id: i64, email: &str, name: Option<&str>, origin: Origin) -> Self {
        Actor {
            actor_type: ActorType::User,
            id: Some(id.to_string()),
            email: Some(email.to_owned()),
            name: name.map(str::to_owned),
            label: None,
            origin,
        }
    }

    /// Someone who is not signed in, known only by the email they tried.
    pub fn stranger(email_tried: &str, origin: Origin) -> Self {
        Actor { actor_type: ActorType::User, id: None, email: Some(email_tried.to_owned()), ..Actor::unknown(origin) }
    }

    /// A read API key.
    pub fn api_key(id: i64, origin: Origin) -> Self {
        Actor {
            actor_type: ActorType::Integration,
            id: Some(id.to_string()),
            label: Some(format!("api key {id}")),
            ..Actor::unknown(origin)
        }
    }

    /// The `trail` command line, run on the server's machine.
    pub fn cli() -> Self {
        Actor { actor_type: ActorType::System, label: Some("cli".into()), ..Actor::unknown(Origin::default()) }
    }

    /// Trail itself, doing `label` (a background job).
    pub fn system(label: &str) -> Self {
        Actor { actor_type: ActorType::System, label: Some(label.into()), ..Actor::unknown(Origin::default()) }
    }

    fn unknown(origin: Origin) -> Self {
        Actor { actor_type: ActorType::System, id: None, email: None, name: None, label: None, origin }
    }

    /// Whether this actor is the user with this id.
    pub fn is_user(&self, user_id: i64) -> bool {
        self.actor_type == ActorType::User && self.id == Some(user_id.to_string())
    }

    /// The record of `entry`, done by this actor now.
    pub fn record(&self, entry: Entry) -> NewRecord {
        let now = Micros::now();
        let json = |value: Value| Some(value.to_string());
        NewRecord {
            id: Uuid::now_v7(),
            workspace_id: PLATFORM_WORKSPACE_ID,
            event_id: None,
            brand: None,
            kind: Kind::Audit,
            key: entry.key.to_owned(),
            message: Some(entry.message),
            context: None,
            entity_type: Some(entry.entity_type.to_owned()),
            entity_id: Some(entry.entity_id),
            actor_type: self.actor_type,
            actor_id: self.id.clone(),
            actor_email: self.email.clone(),
            actor_name: self.name.clone(),
            actor_label: self.label.clone(),
            ip: self.origin.ip.clone(),
            user_agent: self.origin.user_agent.clone(),
            visibility: Visibility::Internal,
            severity: entry.severity,
            status: None,
            duration_ms: None,
            provider: None,
            error_message: None,
            error_stack: None,
            correlation_id: self.origin.request_id.clone(),
            payload: entry.payload.and_then(json),
            diff: entry.diff.map(|(old, new)| serde_json::json!({ "old": old, "new": new }).to_string()),
            occurred_at: now,
            received_at: now,
        }
    }
}

/// What one audit record says: its key (`user.created`), the entity it is
/// about, a sentence, and the change old → new where there is one.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key: &'static str,
    pub severity: Severity,
    pub entity_type: &'static str,
    pub entity_id: String,
    pub message: String,
    pub diff: Option<(Value, Value)>,
    pub payload: Option<Value>,
}

impl Entry {
    pub fn new(key: &'static str, entity_type: &'static str, entity_id: impl ToString, message: String) -> Self {
        Entry {
            key,
            severity: Severity::Info,
            entity_type,
            entity_id: entity_id.to_string(),
            message,
            diff: None,
            payload: None,
        }
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn critical(mut self) -> Self {
        self.severity = Severity::Critical;
        self
    }

    pub fn diff(mut self, old: Value, new: Value) -> Self {
        self.diff = Some((old, new));
        self
    }

    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_names_its_actor_origin_and_change() {
        let origin = Origin {
            ip: Some("203.0.113.9".into()),
            user_agent: Some("curl/8".into()),
            request_id: Some("req-1".into()),
        };
        let actor = Actor::person(7, "maya@example.com", Some("Maya"), origin);
        let entry = Entry::new("user.role_changed", "user", 12, "role of x changed".into())
            .diff(json!({"role": "client"}), json!({"role": "admin"}));
        let record = actor.record(entry);
        assert_eq!(record.workspace_id, PLATFORM_WORKSPACE_ID);
        assert_eq!(
            (record.kind, record.visibility, record.severity),
            (Kind::Audit, Visibility::Internal, Severity::Info)
        );
        assert_eq!(record.actor_id.as_deref(), Some("7"));
        assert_eq!(record.actor_email.as_deref(), Some("maya@example.com"));
        assert_eq!(record.ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(record.correlation_id.as_deref(), Some("req-1"));
        assert_eq!(record.entity_id.as_deref(), Some("12"));
        let diff: Value = serde_json::from_str(record.diff.as_deref().unwrap()).unwrap();
        assert_eq!(diff, json!({"old": {"role": "client"}, "new": {"role": "admin"}}));
        assert!(actor.is_user(7) && !actor.is_user(8));
    }

    #[test]
    fn the_command_line_is_a_system_actor() {
        let record = Actor::cli().record(Entry::new("workspace.created", "workspace", "acme", "x".into()).warning());
        assert_eq!(record.actor_type, ActorType::System);
        assert_eq!(record.actor_label.as_deref(), Some("cli"));
        assert_eq!(record.severity, Severity::Warning);
        assert!(record.ip.is_none() && record.actor_id.is_none());
    }
}
