//! `trail webhook …`: endpoints from the command line, through the same
//! operations as the admin page (each self-audited).

use app::audit::Actor;
use app::context::Destinations;
use app::model::WebhookFormat;
use app::store::DynStore;
use app::webhooks::{self, WebhookRequest};
use clap::Subcommand;

use crate::auth::ServerCredentials;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint. Its id and its `whsec_` secret are printed once,
    /// the secret on the last line.
    Add {
        #[arg(long)]
        url: String,
        /// Only this workspace's records (default: every workspace's).
        #[arg(long, value_parser = app::model::parse_slug)]
        workspace: Option<String>,
        /// trail (the record as JSON) or slack (Slack/Discord `text`).
        #[arg(long, default_value = "trail", value_parser = WebhookFormat::parse)]
        format: WebhookFormat,
        /// The records it receives, in the search syntax (`severity:>=error`);
        /// none if not given.
        #[arg(long)]
        records: Option<String>,
        /// Take no alerts from rules that name no endpoint.
        #[arg(long)]
        no_alerts: bool,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List endpoints (never their secrets).
    List,
    /// Remove an endpoint by its id, with its queued messages.
    Remove { id: i64 },
    /// A new secret for an endpoint, printed once; the old one keeps signing for 24 h.
    Rotate { id: i64 },
    /// Queue a test message to an endpoint.
    Test { id: i64 },
    /// Enable a disabled endpoint again; its waiting messages go out.
    Enable { id: i64 },
}

pub async fn run(store: &DynStore, destinations: &dyn Destinations, command: WebhookCommand) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match command {
        WebhookCommand::Add { url, workspace, format, records, no_alerts, description } => {
            let request = WebhookRequest {
                url,
                workspace: workspace.unwrap_or_default(),
                format,
                records: records.unwrap_or_default(),
                alerts: !no_alerts,
                description,
            };
            let created =
                webhooks::create_webhook(store.as_ref(), &ServerCredentials, destinations, &actor, request).await?;
            println!("webhook endpoint {} added. Its secret is shown only now; store it safely:", created.id);
            println!("{}", created.secret);
        }
        WebhookCommand::List => {
            for endpoint in store.webhooks().await? {
                let state = if endpoint.enabled { "enabled" } else { "disabled" };
                let workspace = endpoint.workspace.unwrap_or_else(|| "*".into());
                let records = endpoint.records.unwrap_or_else(|| "-".into());
                println!(
                    "{:>5}  {state:<8} {workspace:<12} {:<6} {} records: {records}{}",
                    endpoint.id,
                    endpoint.format,
                    endpoint.url,
                    endpoint.disabled_reason.map(|why| format!(" ({why})")).unwrap_or_default()
                );
            }
        }
        WebhookCommand::Remove { id } => {
            webhooks::remove_webhook(store.as_ref(), &actor, id).await?;
            println!("webhook endpoint {id} removed");
        }
        WebhookCommand::Rotate { id } => {
            let secret = webhooks::rotate_webhook(store.as_ref(), &ServerCredentials, &actor, id).await?;
            println!("webhook endpoint {id} has a new secret (the old one signs for 24 h more). Shown only now:");
            println!("{secret}");
        }
        WebhookCommand::Enable { id } => {
            webhooks::enable_webhook(store.as_ref(), &actor, id).await?;
            println!("webhook endpoint {id} enabled");
        }
        WebhookCommand::Test { id } => {
            let queued = webhooks::queue_test(store.as_ref(), id).await?;
            println!("test message {queued} queued for webhook endpoint {id}");
        }
    }
    Ok(())
}
