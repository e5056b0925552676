//! Log streams: the operations that add and remove them, each self-audited
//! (the CLI calls these; an admin page can share them).

#[cfg(feature = "ssr")]
pub use operation::*;

#[cfg(feature = "ssr")]
mod operation {
    use serde_json::json;

    use crate::accounts::{self, AccountError};
    use crate::audit::{Actor, Entry};
    use crate::context::{Credentials, Destinations};
    use crate::model::{Destination, LogStream, Micros};
    use crate::store::{Applied, Change, NewLogStream, Store};

    type Result<T> = std::result::Result<T, AccountError>;

    fn stream_json(stream: &LogStream) -> serde_json::Value {
        json!({
            "id": stream.id, "destination": stream.destination, "target": stream.target,
            "workspace": stream.workspace,
        })
    }

    /// Adds a log stream to `target` (an absolute directory path, or an
    /// http(s) URL); `workspace` empty: every workspace. For HTTP, the
    /// batches' signing secret, shown this once.
    pub async fn add_log_stream(
        store: &dyn Store,
        credentials: &dyn Credentials,
        destinations: &dyn Destinations,
        actor: &Actor,
        destination: Destination,
        target: &str,
        workspace: &str,
    ) -> Result<(i64, Option<String>)> {
        let refused = |message: String| AccountError::Refused(message);
        let target = match destination {
            Destination::Directory if std::path::Path::new(target.trim()).is_absolute() => target.trim().to_owned(),
            Destination::Directory => return Err(refused(format!("{:?} is not an absolute path", target.trim()))),
            Destination::Http => crate::webhooks::check_url(target).map_err(refused)?,
        };
        let workspace = match workspace.trim() {
            "" => None,
            slug => Some(accounts::workspace(store, slug).await?),
        };
        // Last, as for a webhook: it may wait for a name to resolve.
        if destination == Destination::Http {
            destinations.check(&target).await.map_err(refused)?;
        }
        let secret = (destination == Destination::Http).then(|| credentials.new_webhook_secret());
        let new = NewLogStream {
            workspace_id: workspace.as_ref().map(|w| w.id),
            destination,
            target,
            secret: secret.clone(),
            created_at: Micros::now(),
        };
        let audit = |applied: &Applied| {
            let Applied::LogStream(stream) = applied else { return Vec::new() };
            let message = format!("log stream {} added to {}", stream.id, stream.target);
            vec![actor.record(
                Entry::new("log_stream.created", "log_stream", stream.id, message).payload(stream_json(stream)),
            )]
        };
        match store.apply(Change::CreateLogStream(&new), &audit).await? {
            Applied::LogStream(stream) => Ok((stream.id, secret)),
            other => unreachable!("adding a log stream applied as {other:?}"),
        }
    }

    pub async fn remove_log_stream(store: &dyn Store, actor: &Actor, id: i64) -> Result<()> {
        let audit = |applied: &Applied| {
            let Applied::LogStream(stream) = applied else { return Vec::new() };
            let message = format!("log stream {} to {} removed", stream.id, stream.target);
            vec![actor.record(
                Entry::new("log_stream.removed", "log_stream", stream.id, message).payload(stream_json(stream)),
            )]
        };
        store.apply(Change::RemoveLogStream { id }, &audit).await?;
        Ok(())
    }
}
