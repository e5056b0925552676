//! The HTTP server: the API, sign-in and the Leptos dashboard on one router.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use app::api::ssr::RequestViewer;
use app::context::ServerContext;
use app::model::{DigestQuery, DigestsOf};
use app::{shell, App};
use axum::serve::ListenerExt;
use axum::Router;
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::api::stream_ids::StreamIds;
use crate::auth::client_address;
use crate::auth::throttle::{Limits, LoginThrottle};
use crate::config::Config;
use crate::ingest::commit::Committer;
use crate::ingest::WorkspaceIds;
use crate::integrity::signing::SigningKeys;
use crate::security;
use crate::state::AppState;
use crate::storage;
use crate::webhooks::addresses::AddressRule;

/// Sessions last a week. The store is written only when a session changes (at
/// sign-in), not on every request, so page views never wait for the writer.
const SESSION_IDLE_DAYS: i64 = 7;

/// A bound, ready server. `build` opens and migrates the database and binds the
/// port (0 picks a free one: see `addr`); `run` serves until shutdown.
pub struct Server {
    listener: TcpListener,
    router: Router,
    pub addr: SocketAddr,
    pub state: AppState,
}

impl Server {
    pub async fn build(config: Config) -> anyhow::Result<Server> {
        crate::metrics::handle();
        // First: a taken port stops the server before any job starts.
        let listener = TcpListener::bind(config.site_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.site_addr))?;
        let opened = storage::open(&config).await?;
        opened.sessions.spawn_expiry();
        let signing = Arc::new(signing_keys(opened.store.as_ref(), &config).await?);
        crate::retention::spawn_hourly(opened.store.clone(), signing.clone());
        let every = std::time::Duration::from_secs(config.digest_interval as u64);
        crate::integrity::spawn(opened.store.clone(), signing.clone(), every);
        let addr = listener.local_addr()?;
        let login_throttle = Arc::new(LoginThrottle::new(opened.store.clone(), Limits::default()));
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        // Webhooks and log streams post through one client, which refuses
        // private addresses unless allowed.
        let client = crate::webhooks::sender::client(config.webhook_allow_private)?;
        let batch_key = signing.derived_key("trail: log stream batch ids");
        let poster = crate::log_streams::Poster {
            client: client.clone(),
            allow_private: config.webhook_allow_private,
            batch_key,
        };
        crate::log_streams::spawn(opened.store.clone(), poster);
        crate::alerts::spawn(opened.store.clone());
        crate::search::spawn(opened.store.clone());
        crate::webhooks::sender::spawn(
            opened.store.clone(),
            client,
            crate::webhooks::sender::Settings {
                schedule: config.webhook_retry_schedule.0.clone(),
                allow_private: config.webhook_allow_private,
                public_url,
            },
        );
        let stream_limits =
            crate::live::StreamLimits { per_server: config.max_streams, per_reader: config.max_streams_per_reader };
        let state = AppState {
            leptos_options: leptos_options(addr),
            committer: Committer::start(opened.store.clone()),
            live: crate::live::Hub::new(opened.store.clone(), stream_limits, StreamIds::from_signing(&signing)),
            store: opened.store,
            config: Arc::new(config),
            login_throttle,
            sessions: opened.sessions,
            workspace_ids: Arc::new(WorkspaceIds::default()),
            signing,
        };
        let router = router(state.clone());
        Ok(Server { listener, router, addr, state })
    }

    pub async fn run(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, backend = self.state.store.backend(), "serving on http://{}", self.addr);
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        // Small writes go out at once: a live stream's event waited for the
        // client's delayed ACK of the one before (Nagle), 40 ms and more.
        let listener = self.listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY");
            }
        });
        let stopping = Arc::new(tokio::sync::Notify::new());
        let signalled = stopping.clone();
        let live = self.state.live.clone();
        let serve = axum::serve(listener, service).with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Live streams would never end on their own.
            live.close();
            signalled.notify_one();
        });
        // Open requests get a bounded time to finish; one slow client must not
        // keep the server up. Nothing acknowledged is lost by stopping: a 202
        // is sent only after its records are committed.
        tokio::select! {
            served = serve => served?,
            () = async {
                stopping.notified().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => tracing::warn!("stopping with requests still open after {SHUTDOWN_GRACE:?}"),
        }
        // The last digest signs everything committed before the stop.
        let signed = crate::integrity::sign(self.state.store.as_ref(), &self.state.signing).await;
        if let Err(err) = signed {
            tracing::error!(error = %err, "could not sign the final digests");
        }
        Ok(())
    }
}

/// The key that signs digests: the file's, or a new one if the database
/// has no digests yet. A database whose digests another key signed needs
/// that key (a new one would make them all look forged).
async fn signing_keys(store: &dyn app::store::Store, config: &Config) -> anyhow::Result<SigningKeys> {
    if let Some(keys) = SigningKeys::load(&config.signing_key_file)? {
        return Ok(keys);
    }
    if !store.digests(DigestQuery { limit: Some(1), ..DigestQuery::of(DigestsOf::All) }).await?.is_empty() {
        anyhow::bail!(
            "no signing key at {}, and this database has digests signed with one: \
             set TRAIL_SIGNING_KEY_FILE to that key's file",
            config.signing_key_file.display()
        );
    }
    SigningKeys::load_or_create(&config.signing_key_file)
}

/// How long open requests may go on after a shutdown signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the built site is: `target/site` under the working directory, unless
/// `LEPTOS_SITE_ROOT` says otherwise.
fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    LeptosOptions::builder()
        .output_name(var("LEPTOS_OUTPUT_NAME", "trail"))
        .site_root(var("LEPTOS_SITE_ROOT", "target/site"))
        .site_pkg_dir(var("LEPTOS_SITE_PKG_DIR", "pkg"))
        .env(Env::PROD)
        .site_addr(addr)
        .build()
}

fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(state.sessions.clone())
        .with_name("trail_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.cookie_secure)
        .with_expiry(Expiry::OnInactivity(time::Duration::days(SESSION_IDLE_DAYS)));
    let context = ServerContext {
        store: state.store.clone(),
        credentials: Arc::new(crate::auth::ServerCredentials),
        passwords: state.login_throttle.clone(),
        destinations: Arc::new(AddressRule { allow_private: state.config.webhook_allow_private }),
        notices: Arc::new(crate::auth::notices::SealedNotices::new(state.store.clone(), state.config.cookie_secure)),
    };
    let options = state.leptos_options.clone();
    Router::new()
        .merge(crate::api::router())
        .merge(crate::auth::web::router())
        .leptos_routes_with_context(
            &state,
            route_list(),
            move || {
                provide_context(context.clone());
                provide_context(RequestViewer::default());
            },
            move || shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(app::admin_api::keep_posted_form))
        .layer(axum::middleware::from_fn(crate::error::bad_server_fn_arguments))
        .layer(axum::middleware::from_fn(without_trailing_slash))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(state.clone(), client_address::attach_origin))
        .layer(axum::middleware::from_fn(security::reject_cross_site))
        .layer(axum::middleware::from_fn(crate::metrics::track))
        // Every log line of a request carries its id, and so does the response.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(answer_in_time))
        // A panic in any handler is a logged 500 in the one error shape, never
        // a dropped connection.
        .layer(CatchPanicLayer::custom(crate::error::panic_response))
        .layer(axum::middleware::from_fn(security::protective_headers))
        .with_state(state)
}

/// The dashboard's routes, generated once per process. Generating them
/// sets a process-wide flag under which any page's data that starts
/// loading meanwhile, on any thread, never finishes (leptos issue #4773):
/// a second server built in the same process (the tests build many) hung
/// another's page for good, answered 503 by `answer_in_time`.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// `/admin/` is `/admin`: a page's address with a trailing slash is sent
/// to the one without (308). The dashboard's router took it for the page
/// and axum's for none, so it was a bare 404 that rendered nothing.
async fn without_trailing_slash(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let page = matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD)
        && !path.starts_with("/api/")
        && !path.starts_with("/pkg/");
    let trimmed = path.trim_end_matches('/');
    if !page || trimmed.len() == path.len() || trimmed.is_empty() {
        return next.run(request).await;
    }
    let target = match request.uri().query() {
        Some(query) => format!("{trimmed}?{query}"),
        None => trimmed.to_owned(),
    };
    // Never to another site: `//evil.example/` is not `//evil.example`.
    match app::model::safe_next(&target) {
        Some(target) => axum::response::IntoResponse::into_response(axum::response::Redirect::permanent(target)),
        None => next.run(request).await,
    }
}

/// How long any request may take to produce its response's head. Far above
/// every real request (streamed bodies, like exports, only start within it);
/// a net under whatever might otherwise leave a request unanswered.
const RESPONSE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

async fn answer_in_time(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    // A Uri clone shares its bytes: no copy on every request for a rare log line.
    let uri = request.uri().clone();
    match tokio::time::timeout(RESPONSE_DEADLINE, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(path = uri.path(), "no response within {RESPONSE_DEADLINE:?}");
            axum::response::IntoResponse::into_response(crate::error::Error::Unavailable)
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
