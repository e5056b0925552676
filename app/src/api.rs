//! Server functions. Each one derives the viewer from the session (never from
//! an argument), turns it into a scope, and asks the store within that scope.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use serde::{Deserialize, Serialize};

use crate::model::{EntityRef, EventDetail, EventRow, FeedPage, FeedParams, Loaded, Micros, Order, Viewer};
#[cfg(feature = "ssr")]
use crate::{
    model::{Cursor, EventFilter, MAX_PAGE_SIZE},
    store::{Page, Scope},
};

/// The session key holding the signed-in user's id.
pub const SESSION_USER_KEY: &str = "user_id";

/// What a server function answers someone not (or no longer) signed in.
pub const NOT_SIGNED_IN: &str = "not signed in";

/// A server function's failure in words, without the framework's wording
/// around the server's own message.
pub fn failure_text(err: &ServerFnError) -> String {
    match err {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}

/// How far back the live poll looks before the newest row it has, so records
/// committed slightly out of id order are not missed (the browser de-duplicates).
pub const POLL_OVERLAP_MS: i64 = 30_000;

/// The first render of the feed: who is looking and the newest page of what
/// the URL asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedStart {
    pub viewer: Viewer,
    pub page: FeedPage,
    /// Why the search could not be understood; the page is then empty.
    pub search_error: Option<String>,
    /// A page after the first (a cursor in the URL), which is not live.
    pub later: bool,
    /// Why the URL's cursor was not used (the first page is shown).
    pub notice: Option<String>,
    /// Workspaces the viewer may pick from.
    pub workspaces: Vec<String>,
    /// The server's clock, so the browser's first poll does not depend on its own.
    pub server_time: Micros,
}

/// The feed's first page, or (`cursor`, a "Load more" link followed
/// without JavaScript) the page after it.
#[server(input = Json)]
pub async fn load_feed(params: FeedParams, cursor: Option<String>) -> Result<Loaded<FeedStart>, ServerFnError> {
    let Some((viewer, ctx)) = ssr::current_viewer().await? else {
        return Ok(Loaded::SignedOut);
    };
    let server_time = Micros::now();
    let workspaces = ssr::visible_workspaces(&ctx, &viewer).await?;
    let (cursor, notice) = ssr::page_cursor(cursor);
    let (search_error, page) = match params.to_read_filter(server_time) {
        Ok(filter) => (None, ssr::feed_page(&ctx, &viewer, &filter, cursor).await?),
        Err(message) => (Some(message), FeedPage { rows: vec![], next_cursor: None }),
    };
    let later = cursor.is_some();
    Ok(Loaded::Found(FeedStart { viewer, page, search_error, later, notice, workspaces, server_time }))
}

/// Rows rendered by the server, for the browser to insert as they are: the
/// browser bundle then carries no rendering of records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowsHtml {
    pub html: String,
    /// The newest `received_at` among the rows, in ms: where the next live poll starts.
    pub newest_ms: Option<i64>,
    pub next_cursor: Option<String>,
}

/// The newest `received_at` among `rows`, in ms: where the next live poll starts.
pub fn newest_received_ms(rows: &[EventRow]) -> Option<i64> {
    rows.iter().map(|r| r.received_at.0 / 1_000).max()
}

/// The list a "Load more" button continues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum MoreOf {
    /// The feed, filtered by the page's parameters.
    Feed(FeedParams),
    /// An entity's timeline.
    Timeline { entity: EntityRef, order: Order },
}

/// The page of `list` after `cursor`.
#[server(input = Json)]
pub async fn load_more(list: MoreOf, cursor: String) -> Result<RowsHtml, ServerFnError> {
    let (viewer, ctx) = ssr::require_viewer().await?;
    let cursor = Cursor::decode(&cursor).ok_or_else(|| ssr::bad_request("invalid cursor"))?;
    let now = Micros::now();
    match list {
        MoreOf::Feed(params) => {
            let filter = params.to_read_filter(now).map_err(ssr::bad_request)?;
            let page = ssr::feed_page(&ctx, &viewer, &filter, Some(cursor)).await?;
            Ok(ssr::rows_html(page.rows, false, now, page.next_cursor))
        }
        MoreOf::Timeline { entity, order } => {
            let (records, next_cursor) = ssr::timeline_page(&ctx, &viewer, &entity, order, Some(cursor)).await?;
            if records.is_empty() && !ssr::entity_seen(&ctx, &viewer, &entity).await? {
                return Err(ssr::not_found("no such entity"));
            }
            Ok(ssr::entries_html(records, now, next_cursor))
        }
    }
}

/// Records received since `since_ms` (milliseconds since the epoch, minus an
/// overlap), newest first and marked fresh: what the live feed prepends.
#[server(input = Json)]
pub async fn feed_updates(params: FeedParams, since_ms: i64) -> Result<RowsHtml, ServerFnError> {
    let (viewer, ctx) = ssr::require_viewer().await?;
    let now = Micros::now();
    let filter = params.to_read_filter(now).map_err(ssr::bad_request)?;
    let after = ssr::uuid_v7_lower_bound(since_ms.saturating_sub(POLL_OVERLAP_MS));
    let scope = Scope::for_viewer(&viewer);
    let rows = ctx.store.events_received_after(&scope, &filter, after, MAX_PAGE_SIZE).await.map_err(ssr::internal)?;
    Ok(ssr::rows_html(rows, true, now, None))
}

/// The stats panel: scoped like everything, from the roll-ups.
#[server(input = Json)]
pub async fn load_stats(window: String, workspace: String) -> Result<crate::model::Stats, ServerFnError> {
    let (viewer, ctx) = ssr::require_viewer().await?;
    let window = if window.is_empty() {
        crate::model::StatsWindow::Day
    } else {
        crate::model::StatsWindow::parse(&window).map_err(ssr::bad_request)?
    };
    let workspace = Some(workspace).filter(|w| !w.is_empty());
    crate::search::no_nul("workspace", workspace.as_deref().unwrap_or_default()).map_err(ssr::bad_request)?;
    let scope = Scope::for_viewer(&viewer);
    let mut stats =
        ctx.store.stats(&scope, workspace.as_deref(), window, Micros::now()).await.map_err(ssr::internal)?;
    if scope == Scope::Platform {
        name_top_actors(ctx.store.as_ref(), workspace, &mut stats).await;
    }
    Ok(stats)
}

/// Actors are counted by id; people know them by name: each top actor gets
/// the one its newest record in the window gives. For founders and admins
/// only, who see every record: the lookup is then one step of the actor
/// index, where a member's visibility would have it pass over records they
/// may not see. A lookup that fails leaves the id alone.
#[cfg(feature = "ssr")]
async fn name_top_actors(store: &dyn crate::store::Store, workspace: Option<String>, stats: &mut crate::model::Stats) {
    for actor in &mut stats.top_actors {
        let filter = EventFilter {
            workspace: workspace.clone(),
            actor_id: Some(actor.name.clone()),
            since: Some(stats.since),
            ..Default::default()
        };
        let newest = store.list_events(&Scope::Platform, &filter, Page::newest(1)).await.unwrap_or_default();
        let shown = newest.first().and_then(|row| row.actor_display()).filter(|shown| *shown != actor.name);
        actor.label = shown.map(str::to_owned);
    }
}

/// The health page: founders and admins only.
#[server]
pub async fn load_health() -> Result<Loaded<(Viewer, crate::health::Health)>, ServerFnError> {
    let Some((viewer, ctx)) = ssr::current_viewer().await? else {
        return Ok(Loaded::SignedOut);
    };
    if !viewer.role.is_platform() {
        return Ok(Loaded::NotFound);
    }
    let health = crate::health::check(ctx.store.as_ref()).await;
    Ok(Loaded::Found((viewer, health)))
}

/// One record and the other records of its flow (same correlation id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    pub viewer: Viewer,
    pub record: EventDetail,
    /// The flow's first records (at most [`RELATED_LIMIT`]).
    pub related: Vec<EventRow>,
    /// Whether the flow has more than those.
    pub more_related: bool,
}

/// How many records of one flow the detail page lists.
pub const RELATED_LIMIT: usize = 100;

#[server(input = Json)]
pub async fn load_record(id: String) -> Result<Loaded<RecordView>, ServerFnError> {
    let Some((viewer, ctx)) = ssr::current_viewer().await? else {
        return Ok(Loaded::SignedOut);
    };
    let Ok(id) = uuid::Uuid::try_parse(&id) else { return Ok(Loaded::NotFound) };
    let scope = Scope::for_viewer(&viewer);
    let Some(record) = ctx.store.event_by_id(&scope, id).await.map_err(ssr::internal)? else {
        return Ok(Loaded::NotFound);
    };
    let mut related = match &record.row.correlation_id {
        Some(correlation_id) => {
            let filter = EventFilter { correlation_id: Some(correlation_id.clone()), ..Default::default() };
            // One more tells whether the flow goes on.
            let page = Page { cursor: None, limit: RELATED_LIMIT + 1, order: Order::OldestFirst };
            ctx.store.list_events(&scope, &filter, page).await.map_err(ssr::internal)?
        }
        None => Vec::new(),
    };
    let more_related = related.len() > RELATED_LIMIT;
    related.truncate(RELATED_LIMIT);
    Ok(Loaded::Found(RecordView { viewer, record, related, more_related }))
}

/// An entity's history, with every record's diff.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub viewer: Viewer,
    pub records: Vec<EventDetail>,
    pub next_cursor: Option<String>,
    /// Why the URL's cursor was not used (the first page is shown).
    pub notice: Option<String>,
}

#[server(input = Json)]
pub async fn load_timeline(
    entity: EntityRef,
    order: Order,
    cursor: Option<String>,
) -> Result<Loaded<Timeline>, ServerFnError> {
    let Some((viewer, ctx)) = ssr::current_viewer().await? else {
        return Ok(Loaded::SignedOut);
    };
    let (cursor, notice) = ssr::page_cursor(cursor);
    let (records, next_cursor) = ssr::timeline_page(&ctx, &viewer, &entity, order, cursor).await?;
    // Not found when the viewer may see none of its records, past a cursor too.
    let unseen = records.is_empty() && (cursor.is_none() || !ssr::entity_seen(&ctx, &viewer, &entity).await?);
    if unseen {
        return Ok(Loaded::NotFound);
    }
    Ok(Loaded::Found(Timeline { viewer, records, next_cursor, notice }))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::{Arc, OnceLock};

    use axum::http::header::{ACCEPT, REFERER};
    use axum::http::StatusCode;
    use leptos::prelude::*;
    use tower_sessions::Session;
    use uuid::Uuid;

    use super::{RowsHtml, SESSION_USER_KEY};
    use crate::components::{EventItem, TimelineEntry};
    use crate::context::ServerContext;
    use crate::model::{
        Cursor, EntityRef, EventDetail, EventFilter, EventRow, FeedPage, Micros, Order, Viewer, DEFAULT_PAGE_SIZE,
    };
    use crate::store::{finish_page, Page, Scope, Store, StoreError};

    /// The session key holding the day (since 1970) the session was last renewed.
    const SESSION_RENEWED_KEY: &str = "renewed_day";

    /// The session key holding when its user signed in (µs since 1970).
    pub const SESSION_SIGNED_IN_KEY: &str = "signed_in_us";

    /// The session key holding the user's password version at sign-in.
    pub const SESSION_PASSWORD_KEY: &str = "password_version";

    /// How long a session lasts from its sign-in, however often it is used:
    /// a copied cookie stops working by then. (Unused, it ends sooner:
    /// the idle expiry, `server::SESSION_IDLE_DAYS`.)
    pub const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

    type SessionResult<T> = Result<T, tower_sessions::session::Error>;

    /// A session's user, when they signed in, and under which password.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct SignedIn {
        pub user_id: i64,
        pub since: Micros,
        pub password_version: i64,
    }

    /// The session's keys a [`SignedIn`] is read from, in its order.
    pub const SIGNED_IN_KEYS: [&str; 3] = [SESSION_USER_KEY, SESSION_SIGNED_IN_KEY, SESSION_PASSWORD_KEY];

    impl SignedIn {
        /// A session's, from the values of its [`SIGNED_IN_KEYS`]; `None`
        /// for one signed out, or signed in before sessions kept when and
        /// under which password (it is over: its person signs in again).
        pub fn of([user_id, since, password_version]: [Option<i64>; 3]) -> Option<SignedIn> {
            Some(SignedIn { user_id: user_id?, since: Micros(since?), password_version: password_version? })
        }

        /// Whether the session is still within its lifetime at `now`.
        pub fn within_lifetime(&self, now: Micros) -> bool {
            now.0 - self.since.0 < SESSION_LIFETIME.as_micros() as i64
        }
    }

    /// Makes `session` `user_id`'s, under a new id: an id planted before
    /// the sign-in cannot be reused.
    pub async fn begin_session(session: &Session, user_id: i64, password_version: i64) -> SessionResult<()> {
        session.cycle_id().await?;
        session.insert(SESSION_USER_KEY, user_id).await?;
        session.insert(SESSION_SIGNED_IN_KEY, Micros::now().0).await?;
        session.insert(SESSION_PASSWORD_KEY, password_version).await
    }

    /// Keeps `session` signed in under the password its person just set,
    /// under a new id (a copy of its cookie is one of the sessions from
    /// before), saved now, so what the request does next has the new id.
    /// Its lifetime still counts from the sign-in.
    pub async fn keep_after_new_password(session: &Session, password_version: i64) -> SessionResult<()> {
        session.cycle_id().await?;
        session.insert(SESSION_PASSWORD_KEY, password_version).await?;
        session.save().await
    }

    /// The signed-in user of a session; none once its lifetime is over, or
    /// for one from before sessions kept their sign-in (either is then
    /// removed). Renews the session's idle expiry once per day of use:
    /// tower-sessions saves (and so extends) a session only when it
    /// changes, and saving on every request would cost a durable write per page.
    pub async fn session_user(session: &Session) -> SessionResult<Option<SignedIn>> {
        let mut values = [None; 3];
        for (value, key) in values.iter_mut().zip(SIGNED_IN_KEYS) {
            *value = session.get::<i64>(key).await?;
        }
        if values[0].is_none() {
            return Ok(None); // signed out: nothing to remove
        }
        let now = Micros::now();
        let signed_in = SignedIn::of(values).filter(|s| s.within_lifetime(now));
        let Some(signed_in) = signed_in else {
            session.flush().await?;
            return Ok(None);
        };
        let today = day_of(now);
        if session.get::<i64>(SESSION_RENEWED_KEY).await? != Some(today) {
            session.insert(SESSION_RENEWED_KEY, today).await?;
        }
        Ok(Some(signed_in))
    }

    /// Days since 1970 (UTC).
    fn day_of(at: Micros) -> i64 {
        at.0.div_euclid(24 * crate::model::HOUR_US)
    }

    #[cfg(test)]
    mod bound_tests {
        use super::{uuid_v7_lower_bound, Uuid};

        #[test]
        fn the_v7_lower_bound_sorts_between_milliseconds() {
            let id = |ms: u64, fill: u8| uuid::Builder::from_unix_timestamp_millis(ms, &[fill; 10]).into_uuid();
            let bound = uuid_v7_lower_bound(1_800_000_000_000);
            assert!(id(1_799_999_999_999, 0xff) < bound);
            assert!(bound <= id(1_800_000_000_000, 0));
            assert!(bound < id(1_800_000_000_000, 0x42));
            assert_eq!(uuid_v7_lower_bound(-5), uuid_v7_lower_bound(0));
            let _: Uuid = bound;
        }
    }

    #[cfg(test)]
    mod session_tests {
        use std::sync::Arc;

        use tower_sessions::{MemoryStore, Session};

        use super::{
            day_of, session_user, Micros, SESSION_LIFETIME, SESSION_PASSWORD_KEY, SESSION_RENEWED_KEY,
            SESSION_SIGNED_IN_KEY, SESSION_USER_KEY,
        };

        /// A signed-in session as a later request loads it: saved, unmodified.
        async fn stored_session(store: &Arc<MemoryStore>, renewed_day: i64) -> Session {
            signed_in_ago(store, renewed_day, Some(3600)).await
        }

        /// The same, signed in `age` seconds ago (`None`: before sessions
        /// kept their sign-in and password version).
        async fn signed_in_ago(store: &Arc<MemoryStore>, renewed_day: i64, age: Option<i64>) -> Session {
            let session = Session::new(None, store.clone(), None);
            session.insert(SESSION_USER_KEY, 7_i64).await.unwrap();
            session.insert(SESSION_RENEWED_KEY, renewed_day).await.unwrap();
            if let Some(age) = age {
                session.insert(SESSION_SIGNED_IN_KEY, Micros::now().0 - age * 1_000_000).await.unwrap();
                session.insert(SESSION_PASSWORD_KEY, 0_i64).await.unwrap();
            }
            session.save().await.unwrap();
            Session::new(session.id(), store.clone(), None)
        }

        async fn user_of(session: &Session) -> Option<i64> {
            session_user(session).await.unwrap().map(|signed_in| signed_in.user_id)
        }

        async fn removed(store: &Arc<MemoryStore>, session: &Session) -> bool {
            let reloaded = Session::new(session.id(), store.clone(), None);
            reloaded.get::<i64>(SESSION_USER_KEY).await.unwrap().is_none()
        }

        #[tokio::test]
        async fn a_session_ends_at_its_lifetime_however_often_it_is_used() {
            let store = Arc::new(MemoryStore::default());
            let today = day_of(Micros::now());
            let lifetime = SESSION_LIFETIME.as_secs() as i64;

            let nearly = signed_in_ago(&store, today, Some(lifetime - 60)).await;
            assert_eq!(user_of(&nearly).await, Some(7));

            let over = signed_in_ago(&store, today, Some(lifetime)).await;
            assert_eq!(user_of(&over).await, None);
            assert!(removed(&store, &over).await, "removed from the store");

            // From before sessions kept when and under which password: over,
            // or a new password could never end it.
            let older = signed_in_ago(&store, today, None).await;
            assert_eq!(user_of(&older).await, None);
            assert!(removed(&store, &older).await);
        }

        #[tokio::test]
        async fn a_session_is_renewed_by_its_first_use_of_a_day_only() {
            let store = Arc::new(MemoryStore::default());
            let today = day_of(Micros::now());

            let from_yesterday = stored_session(&store, today - 1).await;
            assert_eq!(user_of(&from_yesterday).await, Some(7));
            assert!(from_yesterday.is_modified(), "changed, so saved with a fresh expiry");

            let from_today = stored_session(&store, today).await;
            assert_eq!(user_of(&from_today).await, Some(7));
            assert!(!from_today.is_modified(), "no write for a second request the same day");

            let signed_out = Session::new(None, store.clone(), None);
            assert_eq!(user_of(&signed_out).await, None);
            assert!(!signed_out.is_modified());
        }
    }

    /// An error of the caller's making (a bad value, a refusal, something
    /// that is not there for them), answered with `status` where leptos
    /// answers 500; except to a plain form post (no script), which leptos
    /// redirects back to its page, where the notice tells what happened.
    pub fn refusal(status: StatusCode, message: impl std::fmt::Display) -> ServerFnError {
        // As leptos_axum tells it; a page's own render (a GET) is never one.
        let form_post = use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            let html = parts.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
            parts.method == axum::http::Method::POST && html && parts.headers.contains_key(REFERER)
        });
        if let (false, Some(response)) = (form_post, use_context::<leptos_axum::ResponseOptions>()) {
            response.set_status(status);
        }
        ServerFnError::new(message)
    }

    /// A value the caller sent that cannot be taken: 400.
    pub fn bad_request(message: impl std::fmt::Display) -> ServerFnError {
        refusal(StatusCode::BAD_REQUEST, message)
    }

    /// Something that does not exist for the viewer: 404.
    pub fn not_found(message: impl std::fmt::Display) -> ServerFnError {
        refusal(StatusCode::NOT_FOUND, message)
    }

    /// Logs the cause and gives the browser a message without internals.
    /// Text PostgreSQL cannot compare (a NUL) is the input's fault, not a
    /// failure: it gets its own message, as the read API's 400 does.
    pub fn internal(err: StoreError) -> ServerFnError {
        if err.is_bad_text() {
            tracing::warn!(error = %err, "a request held a NUL character");
            return bad_request("the request holds a NUL character (U+0000), which Trail does not store");
        }
        tracing::error!(error = %err, "server function failed");
        ServerFnError::new("internal error")
    }

    pub fn server_context() -> Result<ServerContext, ServerFnError> {
        use_context::<ServerContext>().ok_or_else(|| ServerFnError::new("server context missing"))
    }

    /// The viewer of a signed-in session, unless the user is gone or disabled,
    /// or their password changed since the session's sign-in.
    pub async fn viewer_of(store: &dyn Store, signed_in: SignedIn) -> Result<Option<Viewer>, StoreError> {
        let Some(user) = store.user_summary(signed_in.user_id).await? else { return Ok(None) };
        // A new password signs out every session from before it.
        if user.disabled || signed_in.password_version != user.password_version {
            return Ok(None);
        }
        Ok(Some(Viewer {
            user_id: user.id,
            email: user.email,
            name: user.name,
            role: user.role,
            memberships: user.memberships,
        }))
    }

    /// The viewer of the request being served, looked up once however many
    /// server functions its page calls. The server provides a fresh one per request.
    #[derive(Clone, Default)]
    pub struct RequestViewer(Arc<OnceLock<Option<Viewer>>>);

    pub async fn current_viewer() -> Result<Option<(Viewer, ServerContext)>, ServerFnError> {
        let ctx = server_context()?;
        let known = use_context::<RequestViewer>();
        if let Some(viewer) = known.as_ref().and_then(|known| known.0.get()) {
            return Ok(viewer.clone().map(|v| (v, ctx)));
        }
        let viewer = session_viewer(&ctx).await?;
        if let Some(known) = known {
            let _ = known.0.set(viewer.clone());
        }
        Ok(viewer.map(|v| (v, ctx)))
    }

    async fn session_viewer(ctx: &ServerContext) -> Result<Option<Viewer>, ServerFnError> {
        let session: Session = leptos_axum::extract().await?;
        let signed_in = session_user(&session).await.map_err(|e| {
            tracing::error!(error = %e, "session read failed");
            ServerFnError::new("session unavailable")
        })?;
        let Some(signed_in) = signed_in else { return Ok(None) };
        viewer_of(ctx.store.as_ref(), signed_in).await.map_err(internal)
    }

    /// A page's cursor from its URL (a "Load more" link followed without
    /// JavaScript): one that is not a cursor is not used, and the page
    /// says so, showing the first page.
    pub fn page_cursor(text: Option<String>) -> (Option<Cursor>, Option<String>) {
        match text.as_deref().filter(|text| !text.is_empty()).map(Cursor::decode) {
            None => (None, None),
            Some(Some(cursor)) => (Some(cursor), None),
            Some(None) => (None, Some("This link's place in the list is not valid: the first page is shown.".into())),
        }
    }

    pub async fn require_viewer() -> Result<(Viewer, ServerContext), ServerFnError> {
        match current_viewer().await? {
            Some(found) => Ok(found),
            None => Err(refusal(StatusCode::UNAUTHORIZED, super::NOT_SIGNED_IN)),
        }
    }

    /// The workspace slugs the viewer may see (all of them for platform roles).
    pub async fn visible_workspaces(ctx: &ServerContext, viewer: &Viewer) -> Result<Vec<String>, ServerFnError> {
        if viewer.role.is_platform() {
            let all = ctx.store.workspaces().await.map_err(internal)?;
            Ok(all.into_iter().map(|w| w.slug).collect())
        } else {
            Ok(viewer.memberships.iter().map(|m| m.workspace.clone()).collect())
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
        let page = Page::probing(before, limit, crate::model::Order::NewestFirst);
        let mut rows = ctx.store.list_events(&scope, filter, page).await.map_err(internal)?;
        let next_cursor = finish_page(&mut rows, limit, EventRow::cursor);
        Ok(FeedPage { rows, next_cursor })
    }

    /// One page of an entity's history, with every record's diff, and the next cursor.
    pub async fn timeline_page(
        ctx: &ServerContext,
        viewer: &Viewer,
        entity: &EntityRef,
        order: Order,
        cursor: Option<Cursor>,
    ) -> Result<(Vec<EventDetail>, Option<String>), ServerFnError> {
        if entity.holds_nul() {
            return Ok((Vec::new(), None)); // no record holds it
        }
        let filter = entity.filter();
        let scope = Scope::for_viewer(viewer);
        let page = Page::probing(cursor, DEFAULT_PAGE_SIZE, order);
        let mut records = ctx.store.list_event_details(&scope, &filter, page).await.map_err(internal)?;
        let next_cursor = finish_page(&mut records, DEFAULT_PAGE_SIZE, |r| r.row.cursor());
        Ok((records, next_cursor))
    }

    /// Whether the viewer may see any record of the entity.
    pub async fn entity_seen(ctx: &ServerContext, viewer: &Viewer, entity: &EntityRef) -> Result<bool, ServerFnError> {
        if entity.holds_nul() {
            return Ok(false);
        }
        let filter = entity.filter();
        let newest = ctx.store.list_events(&Scope::for_viewer(viewer), &filter, Page::newest(1)).await;
        Ok(!newest.map_err(internal)?.is_empty())
    }

    /// Feed rows as the page renders them.
    pub fn rows_html(rows: Vec<EventRow>, fresh: bool, now: Micros, next_cursor: Option<String>) -> RowsHtml {
        let newest_ms = super::newest_received_ms(&rows);
        let html = rows.into_iter().map(|row| view! { <EventItem row now fresh/> }.to_html()).collect();
        RowsHtml { html, newest_ms, next_cursor }
    }

    /// Timeline entries as the entity page renders them.
    pub fn entries_html(records: Vec<EventDetail>, now: Micros, next_cursor: Option<String>) -> RowsHtml {
        let html = records.into_iter().map(|record| view! { <TimelineEntry record now/> }.to_html()).collect();
        RowsHtml { html, newest_ms: None, next_cursor }
    }

    /// The smallest UUIDv7 of a millisecond: ids made then or later sort at or after it.
    pub fn uuid_v7_lower_bound(unix_ms: i64) -> Uuid {
        uuid::Builder::from_unix_timestamp_millis(unix_ms.max(0) as u64, &[0; 10]).into_uuid()
    }
}
