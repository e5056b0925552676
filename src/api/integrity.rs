//! `/api/v1/digests` and `/api/v1/events/{id}/proof`: what an outside party
//! needs to keep its own copies of the signed digests and to check a record
//! against one (docs/integrity.md).

use aide::transform::TransformOperation;
use app::model::Digest;
use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::EventPath;
use crate::auth::reader::Reader;
use crate::error::{Error, Path, Result};
use crate::integrity::proof::{self, Proof, ProofError};
use crate::state::AppState;

pub async fn event_proof(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Path(EventPath { id }): Path<EventPath>,
) -> Result<Json<Proof>> {
    let id = Uuid::try_parse(&id).map_err(|_| Error::NotFound)?;
    match proof::proof(state.store.as_ref(), state.signing.as_ref(), &scope, id).await {
        Ok(proof) => Ok(Json(proof)),
        Err(ProofError::NotFound) => Err(Error::NotFound),
        Err(err @ ProofError::NotWholeWorkspace) => Err(Error::Forbidden(err.to_string())),
        Err(err @ (ProofError::Unavailable(_) | ProofError::Damaged(_))) => Err(Error::Conflict(err.to_string())),
        Err(ProofError::Store(err)) => Err(err.into()),
    }
}

pub fn proof_docs(op: TransformOperation) -> TransformOperation {
    super::openapi::not_found(op.summary("What is needed to check one record against a signed digest"))
        .response_with::<403, Error, _>(|r| r.description("the reader does not read the whole workspace"))
        .response_with::<409, Error, _>(|r| r.description("no proof can be made now (too far from a digest, purged)"))
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Digests {
    /// The Ed25519 key this server signs with (hex).
    pub public_key: String,
    pub digests: Vec<Digest>,
}

/// The digests of the chains the reader may read every record of: all for
/// founders, admins and spanning keys; a workspace's for its keys. A chain's
/// length counts every record, so members, who see only some, get none.
pub async fn digests(State(state): State<AppState>, Reader { scope, .. }: Reader) -> Result<Json<Digests>> {
    let mut digests = state.store.digests(None, 0, None).await?;
    digests.retain(|d| proof::reads_whole_workspace(&scope, d.workspace_id));
    let public_key = hex::encode(state.signing.public_key().as_bytes());
    Ok(Json(Digests { public_key, digests }))
}

pub fn digests_docs(op: TransformOperation) -> TransformOperation {
    op.summary("The signed digests of the hash chains, oldest first, and the server's public key")
}
