//! Who is calling: API keys for programs, password sign-in for people.

pub mod api_key;
pub mod client_address;
pub mod password;
pub mod reader;
pub mod throttle;
pub mod web;

use app::context::Credentials;
use app::store::{DynStore, Workspace};
use async_trait::async_trait;

/// What server functions use to make passwords hashes and API keys.
pub struct ServerCredentials {
    pub store: DynStore,
}

#[async_trait]
impl Credentials for ServerCredentials {
    async fn hash_password(&self, password: String) -> Result<String, String> {
        password::hash(password).await.map_err(|e| e.to_string())
    }

    async fn issue_key(
        &self,
        workspace: Option<Workspace>,
        scopes: Vec<String>,
        name: Option<String>,
    ) -> Result<String, String> {
        api_key::issue(self.store.as_ref(), workspace.as_ref(), scopes, name).await.map_err(|e| {
            tracing::error!(error = %e, "issuing an API key failed");
            "could not store the key".to_owned()
        })
    }
}
