//! `/api/v1/digests` and `/api/v1/events/{id}/proof`: what an outside party
//! needs to keep its own copies of the signed digests and to check a record
//! against one (docs/integrity.md).

use aide::transform::TransformOperation;
use app::model::{Digest, Visibility};
use app::store::Scope;
use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::EventPath;
use crate::auth::reader::Reader;
use crate::error::{Error, Path, Result};
use crate::integrity::proof::{self, Proof};
use crate::state::AppState;

pub async fn event_proof(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Path(EventPath { id }): Path<EventPath>,
) -> Result<Json<Proof>> {
    let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
    let proof = proof::proof(state.store.as_ref(), &state.signing, &scope, id).await?;
    Ok(Json(proof.ok_or(Error::NotFound)?))
}

pub fn proof_docs(op: TransformOperation) -> TransformOperation {
    super::openapi::not_found(op.summary("What is needed to check one record against a signed digest"))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Digests {
    /// The Ed25519 key this server signs with (hex).
    pub public_key: String,
    pub digests: Vec<Digest>,
}

/// The digests of the chains the reader may read every record of: all for
/// founders, admins and spanning keys; a workspace's for its keys and
/// providers. A chain's length counts internal records too, so clients,
/// who see only some, get none.
pub async fn digests(State(state): State<AppState>, Reader { scope, .. }: Reader) -> Result<Json<Digests>> {
    let mut digests = state.store.digests(None).await?;
    if let Scope::Grants(grants) = &scope {
        digests.retain(|d| {
            grants.iter().any(|g| {
                g.workspace_id == d.workspace_id && g.brand.is_none() && g.visibilities.contains(&Visibility::Internal)
            })
        });
    }
    let public_key = hex::encode(state.signing.public_key().as_bytes());
    Ok(Json(Digests { public_key, digests }))
}

pub fn digests_docs(op: TransformOperation) -> TransformOperation {
    op.summary("The signed digests of the hash chains, oldest first, and the server's public key")
}
