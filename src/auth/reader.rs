//! Who may read through `/api/v1`: a key with the `read` scope (its workspace,
//! every visibility; a spanning key sees every workspace), or a signed-in
//! person (their own scope, as in the dashboard).

use app::api::ssr::{SignedIn, SIGNED_IN_KEYS};
use app::audit::{Actor, Origin};
use app::model::Micros;
use app::store::{ApiKeyRecord, Scope};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tower_sessions::session::Id;
use tower_sessions::{Session, SessionStore};

use crate::auth::api_key::ApiKey;
use crate::error::Error;
use crate::state::AppState;

/// Whoever is reading: what they may see, and who they are for audit records.
pub struct Reader {
    pub scope: Scope,
    pub actor: Actor,
    pub principal: Principal,
}

/// What a reader proved, to ask again later what they may see (and to
/// count what they hold open).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// An API key, by its hash.
    Key(String),
    /// A signed-in person, by their session.
    Session { user_id: i64, session: Id },
}

impl Principal {
    /// What this reader may see now, `None` if nothing any more (a revoked
    /// key, a session signed out or expired, a disabled person).
    async fn scope_now(&self, state: &AppState) -> Result<Option<Scope>, Error> {
        let store = state.store.as_ref();
        Ok(match self {
            Principal::Key(hash) => store
                .api_key_by_hash(hash)
                .await?
                .filter(|key| !key.revoked && key.scopes.iter().any(|s| s == "read"))
                .map(|key| key_scope(&key)),
            Principal::Session { user_id, session } => {
                let record = state.sessions.load(session).await.map_err(|err| Error::Internal(err.into()))?;
                let value = |key: &str| record.as_ref().and_then(|r| r.data.get(key).and_then(|v| v.as_i64()));
                match SignedIn::of(SIGNED_IN_KEYS.map(value)) {
                    Some(signed_in) if signed_in.user_id == *user_id && signed_in.within_lifetime(Micros::now()) => {
                        app::api::ssr::viewer_of(store, signed_in).await?.map(|viewer| Scope::for_viewer(&viewer))
                    }
                    _ => None,
                }
            }
        })
    }

    /// Whether this reader may still see exactly `scope`, what it was
    /// answered with: a request that lasts (the live stream, an export)
    /// asks as it goes. A check that fails (the database away a moment)
    /// counts as yes, logged: an outage does not cut readers off.
    pub async fn still_sees(&self, state: &AppState, scope: &Scope) -> bool {
        match self.scope_now(state).await {
            Ok(now) => now.as_ref() == Some(scope),
            Err(err) => {
                tracing::warn!(error = %err, "could not check what a reader may still see");
                true
            }
        }
    }

    /// What it is, in words.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Key(_) => "API key",
            Principal::Session { .. } => "session",
        }
    }
}

/// A read key sees every visibility of its workspace, or every workspace.
fn key_scope(key: &ApiKeyRecord) -> Scope {
    Scope::whole_workspace(key.workspace_id)
}

fn presents_key(parts: &Parts) -> bool {
    parts.headers.contains_key("authorization") || parts.headers.contains_key("x-api-key")
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let origin = parts.extensions.get::<Origin>().cloned().unwrap_or_default();
        if presents_key(parts) {
            let key = ApiKey::from_request_parts(parts, state).await?;
            key.require_scope("read")?;
            let (scope, actor) = (key_scope(&key.record), Actor::api_key(key.record.id, origin));
            return Ok(Reader { scope, actor, principal: Principal::Key(key.hash) });
        }
        let session = Session::from_request_parts(parts, state).await.map_err(|_| Error::Unauthorized)?;
        let signed_in = app::api::ssr::session_user(&session).await.map_err(|e| Error::Internal(e.into()))?;
        let signed_in = signed_in.ok_or(Error::Unauthorized)?;
        let viewer = app::api::ssr::viewer_of(state.store.as_ref(), signed_in).await?.ok_or(Error::Unauthorized)?;
        // A session that reached here was loaded from its cookie: it has an id.
        let session = session.id().ok_or(Error::Unauthorized)?;
        let principal = Principal::Session { user_id: signed_in.user_id, session };
        Ok(Reader { scope: Scope::for_viewer(&viewer), actor: Actor::viewer(&viewer, origin), principal })
    }
}
