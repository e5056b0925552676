//! `trail log-stream …`: continuous exports from the command line, through
//! the same operations as any other caller (each self-audited).

use app::audit::Actor;
use app::context::Destinations;
use app::log_streams::{add_log_stream, remove_log_stream};
use app::model::{Destination, StreamPosition};
use app::store::DynStore;
use clap::Subcommand;

use crate::auth::ServerCredentials;

#[derive(Subcommand)]
pub enum LogStreamCommand {
    /// Export every record (of one workspace, or all) from the first one on,
    /// to a directory or a URL. For a URL, its signing secret is printed once.
    Add {
        /// An absolute path: gzip NDJSON files under YYYY/MM/DD/HH/.
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        dir: Option<String>,
        /// Signed NDJSON batches are posted here.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, value_parser = app::model::parse_slug)]
        workspace: Option<String>,
    },
    /// List log streams and how far each got.
    List,
    /// Remove a log stream (what it exported stays where it is).
    Remove { id: i64 },
}

pub async fn run(store: &DynStore, destinations: &dyn Destinations, command: LogStreamCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match command {
        LogStreamCommand::Add { dir, url, workspace } => {
            let (destination, target) = match (dir, url) {
                (Some(dir), _) => (Destination::Directory, dir),
                (None, Some(url)) => (Destination::Http, url),
                (None, None) => anyhow::bail!("give --dir or --url"),
            };
            let workspace = workspace.unwrap_or_default();
            let (id, secret) = add_log_stream(
                store.as_ref(),
                &ServerCredentials,
                destinations,
                &actor,
                destination,
                &target,
                &workspace,
            )
            .await?;
            match secret {
                Some(secret) => {
                    println!("log stream {id} added. Its signing secret is shown only now; store it safely:");
                    println!("{secret}");
                }
                None => println!("log stream {id} added"),
            }
        }
        LogStreamCommand::List => {
            for target in store.log_streams().await? {
                let s = target.stream;
                let workspace = s.workspace.unwrap_or_else(|| "*".into());
                let error = s.last_error.map(|e| format!(" (failing: {e})")).unwrap_or_default();
                // The position (a commit and a record) from the first record on.
                let place = match s.position == StreamPosition::default() {
                    true => String::new(),
                    false => format!(" up to {}", s.position.encode()),
                };
                println!(
                    "{:>5}  {:<9} {workspace:<12} {} exported: {}{place}{error}",
                    s.id,
                    s.destination.as_str(),
                    s.target,
                    s.exported,
                );
            }
        }
        LogStreamCommand::Remove { id } => {
            remove_log_stream(store.as_ref(), &actor, id).await?;
            println!("log stream {id} removed");
        }
    }
    Ok(())
}
