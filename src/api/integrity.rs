//! `/api/v1/digests` and `/api/v1/events/{id}/proof`: what an outside party
//! needs to keep its own copies of the signed digests and to check a record
//! against one (docs/integrity.md).

use aide::transform::TransformOperation;
use app::model::{Digest, DigestPosition, DigestQuery, DigestsOf, Micros, MAX_PAGE_SIZE};
use app::store::Scope;
use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::EventPath;
use crate::auth::reader::Reader;
use crate::error::{Error, Path, Query, Result};
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

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DigestsQuery {
    /// Digests per page, 1 to 1000 (default 1000).
    #[schemars(with = "Option<u16>", range(min = 1, max = 1000))]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only digests signed at or after this time (RFC 3339, a date, or an
    /// age like `1h`): a mirror asks from the newest `signed_at` it holds
    /// (microseconds, written as RFC 3339), less a margin for servers' clocks.
    since: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Digests {
    /// The Ed25519 key this server signs with (hex).
    pub public_key: String,
    pub digests: Vec<Digest>,
    /// Where the next page starts; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The digests of the chains the reader may read every record of: all for
/// founders, admins and spanning keys; a workspace's for its keys. A chain's
/// length counts every record, so members, who see only some, get none.
pub async fn digests(
    State(state): State<AppState>,
    Reader { scope, .. }: Reader,
    Query(query): Query<DigestsQuery>,
) -> Result<Json<Digests>> {
    let limit = super::query::page_limit(&query.limit, MAX_PAGE_SIZE)?;
    let from = super::query::page_cursor(&query.cursor, DigestPosition::decode)?;
    let signed_since = super::query::time("since", &query.since, Micros::now())?;
    // The workspaces the reader reads whole (`None`: every one).
    let workspaces: Option<Vec<i64>> = match &scope {
        Scope::Platform => None,
        Scope::Grants(grants) => {
            let ids = grants.iter().map(|g| g.workspace_id).filter(|id| proof::reads_whole_workspace(&scope, *id));
            Some(ids.collect::<std::collections::BTreeSet<i64>>().into_iter().collect())
        }
    };
    let of = workspaces.as_deref().map_or(DigestsOf::All, DigestsOf::Workspaces);
    // One more than the page: whether there is a next one, and where it starts.
    let mut digests = state.store.digests(DigestQuery { of, from, signed_since, limit: Some(limit + 1) }).await?;
    let next_cursor = match digests.len() > limit {
        true => digests.pop().map(|next| DigestPosition { chain: next.chain(), seq: next.seq }.encode()),
        false => None,
    };
    let public_key = hex::encode(state.signing.public_key().as_bytes());
    Ok(Json(Digests { public_key, digests, next_cursor }))
}

pub fn digests_docs(op: TransformOperation) -> TransformOperation {
    op.summary("The signed digests of the hash chains, by chain and oldest first, and the server's public key")
        .description(
            "Paged: `next_cursor`, sent back as `cursor`, reads on. `since` keeps the digests signed at or after \
             a time, so a mirror reads only what is new since its last visit.",
        )
}
