//! A record as the HTTP API writes it: the field names of PRODUCT.md, with
//! `entity`, `actor` and `error` as objects and payload and diff as JSON.

use app::model::{ActorType, EventDetail, Kind, Micros, Severity, Status, Visibility};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

/// One record, with every field.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ApiRecord {
    pub id: Uuid,
    pub event_id: Option<String>,
    pub workspace: String,
    pub brand: Option<String>,
    pub kind: Kind,
    pub key: String,
    pub message: Option<String>,
    pub context: Option<String>,
    pub entity: Option<Entity>,
    pub actor: Actor,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub visibility: Visibility,
    pub severity: Severity,
    pub status: Option<Status>,
    pub duration_ms: Option<i64>,
    pub provider: Option<String>,
    pub error: Option<ErrorDetails>,
    pub correlation_id: Option<String>,
    /// Free JSON, as sent.
    #[schemars(with = "Option<serde_json::Value>")]
    pub payload: Option<Box<RawValue>>,
    /// `{"old": {...}, "new": {...}}`
    #[schemars(with = "Option<serde_json::Value>")]
    pub diff: Option<Box<RawValue>>,
    pub occurred_at: Micros,
    pub received_at: Micros,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Entity {
    #[serde(rename = "type")]
    pub entity_type: Option<String>,
    pub id: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Actor {
    #[serde(rename = "type")]
    pub actor_type: ActorType,
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub label: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ErrorDetails {
    pub message: Option<String>,
    pub stack: Option<String>,
}

/// Stored JSON text as it is; text that is somehow not JSON becomes a string.
fn json(text: Option<String>) -> Option<Box<RawValue>> {
    text.map(|t| {
        RawValue::from_string(t.clone())
            .unwrap_or_else(|_| RawValue::from_string(serde_json::to_string(&t).expect("a string")).expect("JSON"))
    })
}

impl From<EventDetail> for ApiRecord {
    fn from(d: EventDetail) -> Self {
        let r = d.row;
        let entity = (r.entity_type.is_some() || r.entity_id.is_some())
            .then_some(Entity { entity_type: r.entity_type, id: r.entity_id });
        let error = (d.error_message.is_some() || d.error_stack.is_some())
            .then_some(ErrorDetails { message: d.error_message, stack: d.error_stack });
        ApiRecord {
            id: r.id,
            event_id: d.event_id,
            workspace: r.workspace,
            brand: r.brand,
            kind: r.kind,
            key: r.key,
            message: r.message,
            context: r.context,
            entity,
            actor: Actor {
                actor_type: r.actor_type,
                id: r.actor_id,
                email: r.actor_email,
                name: r.actor_name,
                label: r.actor_label,
            },
            ip: d.ip,
            user_agent: d.user_agent,
            visibility: r.visibility,
            severity: r.severity,
            status: r.status,
            duration_ms: r.duration_ms,
            provider: r.provider,
            error,
            correlation_id: r.correlation_id,
            payload: json(d.payload),
            diff: json(d.diff),
            occurred_at: r.occurred_at,
            received_at: r.received_at,
        }
    }
}
