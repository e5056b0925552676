use std::sync::Arc;

use app::store::DynStore;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::ingest::commit::Committer;
use crate::ingest::WorkspaceIds;
use crate::integrity::signing::SigningKeys;
use crate::storage::SessionBackend;

/// Everything handlers share. Leptos reads its options through `FromRef`.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub store: DynStore,
    pub committer: Committer,
    pub config: Arc<Config>,
    pub login_throttle: Arc<LoginThrottle>,
    /// The dashboard's sessions (a live stream asks whether its session still is).
    pub sessions: SessionBackend,
    pub workspace_ids: Arc<WorkspaceIds>,
    /// The live streams' subscriptions.
    pub live: Arc<crate::live::Hub>,
    /// Signs the chains' digests (and proofs' digests when none covers a record yet).
    pub signing: Arc<SigningKeys>,
}
