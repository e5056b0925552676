//! Server functions. Each one derives the viewer from the session (never from
//! an argument), turns it into a scope, and asks the store within that scope.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::model::{EventFilter, EventRow, FeedPage, Viewer};

/// The session key holding the signed-in user's id.
pub const SESSION_USER_KEY: &str = "user_id";

/// How far back the live poll looks before the newest row it has, so records
/// committed slightly out of id order are not missed (the browser de-duplicates).
pub const POLL_OVERLAP_MS: i64 = 30_000;

/// The first render of the feed: who is looking and the newest page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedStart {
    pub viewer: Viewer,
    pub page: FeedPage,
    /// The server's clock, so the browser's first poll does not depend on its own.
    pub server_time: crate::model::Micros,
}

/// `None` when nobody is signed in (the page then sends the browser to /login).
#[server(input = Json)]
pub async fn load_feed(filter: EventFilter) -> Result<Option<FeedStart>, ServerFnError> {
    let Some((viewer, ctx)) = ssr::current_viewer().await? else {
        return Ok(None);
    };
    let page = ssr::feed_page(&ctx, &viewer, &filter, None).await?;
    Ok(Some(FeedStart { viewer, page, server_time: crate::model::Micros::now() }))
}

/// The page after `cursor`.
#[server(input = Json)]
pub async fn load_more(filter: EventFilter, cursor: String) -> Result<FeedPage, ServerFnError> {
    let (viewer, ctx) = ssr::require_viewer().await?;
    let cursor = crate::model::Cursor::decode(&cursor).ok_or_else(|| ServerFnError::new("invalid cursor"))?;
    ssr::feed_page(&ctx, &viewer, &filter, Some(cursor)).await
}

/// Records received since `since_ms` (milliseconds since the epoch, minus an
/// overlap), newest first: what the live feed prepends.
#[server(input = Json)]
pub async fn feed_updates(filter: EventFilter, since_ms: i64) -> Result<Vec<EventRow>, ServerFnError> {
    let (viewer, ctx) = ssr::require_viewer().await?;
    let after = ssr::uuid_v7_lower_bound(since_ms - POLL_OVERLAP_MS);
    let scope = crate::store::Scope::for_viewer(&viewer);
    ctx.store
        .events_received_after(&scope, &filter, after, crate::model::MAX_PAGE_SIZE)
        .await
        .map_err(ssr::internal)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use leptos::prelude::*;
    use tower_sessions::Session;
    use uuid::Uuid;

    use super::SESSION_USER_KEY;
    use crate::model::{Cursor, EventFilter, FeedPage, Viewer, DEFAULT_PAGE_SIZE};
    use crate::store::{Page, Scope, ServerContext, Store, StoreError};

    /// Logs the cause and gives the browser a message without internals.
    pub fn internal(err: StoreError) -> ServerFnError {
        tracing::error!(error = %err, "server function failed");
        ServerFnError::new("internal error")
    }

    pub fn server_context() -> Result<ServerContext, ServerFnError> {
        use_context::<ServerContext>().ok_or_else(|| ServerFnError::new("server context missing"))
    }

    /// Loads the viewer behind a user id, unless the user is gone or disabled.
    pub async fn viewer_by_id(store: &dyn Store, user_id: i64) -> Result<Option<Viewer>, StoreError> {
        let Some(user) = store.user_by_id(user_id).await? else { return Ok(None) };
        if user.disabled {
            return Ok(None);
        }
        let memberships = store.memberships(user.id).await?;
        Ok(Some(Viewer { user_id: user.id, email: user.email, name: user.name, role: user.role, memberships }))
    }

    pub async fn current_viewer() -> Result<Option<(Viewer, ServerContext)>, ServerFnError> {
        let ctx = server_context()?;
        let session: Session = leptos_axum::extract().await?;
        let user_id: Option<i64> = session.get(SESSION_USER_KEY).await.map_err(|e| {
            tracing::error!(error = %e, "session read failed");
            ServerFnError::new("session unavailable")
        })?;
        let Some(user_id) = user_id else { return Ok(None) };
        let viewer = viewer_by_id(ctx.store.as_ref(), user_id).await.map_err(internal)?;
        Ok(viewer.map(|v| (v, ctx)))
    }

    pub async fn require_viewer() -> Result<(Viewer, ServerContext), ServerFnError> {
        match current_viewer().await? {
            Some(found) => Ok(found),
            None => {
                if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                    response.set_status(axum::http::StatusCode::UNAUTHORIZED);
                }
                Err(ServerFnError::new("not signed in"))
            }
        }
    }

    pub async fn feed_page(
        ctx: &ServerContext,
        viewer: &Viewer,
        filter: &EventFilter,
        before: Option<Cursor>,
    ) -> Result<FeedPage, ServerFnError> {
        let scope = Scope::for_viewer(viewer);
        let limit = DEFAULT_PAGE_SIZE;
        // One extra row tells whether another page exists.
        let mut rows = ctx.store.list_events(&scope, filter, Page { before, limit: limit + 1 }).await.map_err(internal)?;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| r.cursor().encode())
        } else {
            None
        };
        Ok(FeedPage { rows, next_cursor })
    }

    /// The smallest UUIDv7 of a millisecond: ids at or after it were made then or later.
    pub fn uuid_v7_lower_bound(unix_ms: i64) -> Uuid {
        let ms = unix_ms.max(0) as u64;
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        Uuid::from_bytes(bytes)
    }
}
