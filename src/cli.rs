//! The `trail` command line: serve (the default), migrate, workspace, user, key, demo.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use app::accounts;
use app::audit::Actor;
use app::model::{Keep, Kind, Micros, Role};
use app::store::{DynStore, UserRecord};
use clap::{Args, Parser, Subcommand};

use crate::auth::ServerCredentials;
use crate::config::Config;
use crate::integrity::signing::SigningKeys;
use crate::server::Server;
use crate::storage;
use crate::webhooks::addresses::AddressRule;
use ed25519_dalek::VerifyingKey;

#[derive(Parser)]
#[command(name = "trail", version, about = "Trail: self-hosted activity and audit log with a role-gated dashboard")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the dashboard (the default).
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
    /// Manage workspaces (tenants).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage people who sign in to the dashboard.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Webhook endpoints: signed messages of records and alerts.
    #[command(subcommand)]
    Webhook(crate::webhooks::cli::WebhookCommand),
    /// Alert rules: what fires an alert, and where it goes.
    #[command(subcommand)]
    Alert(crate::alerts::cli::AlertCommand),
    /// Log streams: every record exported continuously to a directory or a URL.
    #[command(subcommand)]
    LogStream(crate::log_streams::cli::LogStreamCommand),
    /// Fill the database with realistic sample data and sign-ins for every role.
    Demo(DemoArgs),
    /// How long records are kept, per kind, by default and per workspace.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Check every hash chain and signed digest; exit status 1 on any problem.
    Verify {
        /// Only this workspace's chains.
        #[arg(long, value_parser = app::model::parse_slug)]
        workspace: Option<String>,
        /// The key digests must be signed with (hex); default: the signing key file's.
        #[arg(long)]
        public_key: Option<String>,
        /// Copies of the digests kept outside the database (what
        /// `/api/v1/digests` gave: its pages, or digests, one JSON document or
        /// one per line): each must still be in the database, unchanged.
        #[arg(long, value_name = "FILE")]
        digests: Option<PathBuf>,
    },
    /// Print the public key that digests are signed with (hex).
    PublicKey,
    /// The search index.
    #[command(subcommand)]
    Search(SearchCommand),
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Index every record again, now (after records were loaded into the
    /// database behind the server's back, e.g. restored from a dump). A
    /// running server also picks the work up within 30 seconds.
    Reindex,
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Print every workspace's period per kind.
    Show,
    /// Set a kind's period: for one workspace, or (without --workspace) the default.
    Set {
        #[arg(long, value_parser = app::model::parse_slug)]
        workspace: Option<String>,
        /// audit, event or action.
        #[arg(long, value_parser = |text: &str| text.parse::<Kind>())]
        kind: Kind,
        /// A number of days, "forever", or (for a workspace) "default": its
        /// own period removed, the platform default applies again.
        #[arg(long, value_parser = |text: &str| text.parse::<Keep>())]
        days: Keep,
    },
    /// Remove every record past its period now, and print what was removed.
    Run,
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace.
    Add {
        /// Short name used in the API and URLs: lowercase letters, digits, - and _.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is read from standard input (or prompted for).
    Add {
        #[arg(long)]
        email: String,
        /// founder, admin, provider or client.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Workspace the user belongs to (providers and clients).
        #[arg(long, value_parser = app::model::parse_slug)]
        workspace: Option<String>,
        /// Limit a client to one brand of the workspace.
        #[arg(long)]
        brand: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Set a user's password anew (read from standard input, or prompted
    /// for): every session they have is signed out.
    Password {
        #[arg(long)]
        email: String,
    },
    /// List users, their roles and memberships.
    List,
    /// Change a user's role.
    Role {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Stop a user from signing in.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Let a disabled user sign in again.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Add a member to a workspace (optionally limited to a brand, for clients).
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = app::model::parse_slug)]
        workspace: String,
        #[arg(long)]
        brand: Option<String>,
    },
    /// Remove a member from a workspace.
    Revoke {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = app::model::parse_slug)]
        workspace: String,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key. The key is printed once, on the last line; only its hash is stored.
    Create {
        /// The workspace the key writes to and reads from.
        #[arg(long, required_unless_present = "all_workspaces", value_parser = app::model::parse_slug)]
        workspace: Option<String>,
        /// A key for every workspace: each record then names its workspace.
        #[arg(long, conflicts_with = "workspace")]
        all_workspaces: bool,
        /// Comma-separated: ingest, read.
        #[arg(long, default_value = "ingest")]
        scope: String,
        /// A label to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by its id (see `trail key list`).
    Revoke { id: i64 },
}

const MAX_DEMO_RECORDS: u64 = 1_000_000;

#[derive(Args)]
pub struct DemoArgs {
    /// How many records to generate (at most a million: they are made in
    /// memory, then written in time order).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(..=MAX_DEMO_RECORDS))]
    pub records: u64,
    /// Do nothing if the database already has workspaces.
    #[arg(long)]
    pub if_empty: bool,
}

impl Command {
    /// Commands that check or list what is there: on a SQLite path with no
    /// file they would create an empty database and find nothing wrong.
    fn needs_existing_database(&self) -> bool {
        matches!(
            self,
            Command::Verify { .. }
                | Command::User(UserCommand::List | UserCommand::Password { .. })
                | Command::Key(KeyCommand::List)
                | Command::Retention(RetentionCommand::Show)
                | Command::Webhook(crate::webhooks::cli::WebhookCommand::List)
                | Command::Alert(crate::alerts::cli::AlertCommand::List)
                | Command::LogStream(crate::log_streams::cli::LogStreamCommand::List)
        )
    }
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    let json = match log_format() {
        Ok(json) => json,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(matches!(command, Command::Serve), json);
    if !matches!(command, Command::Serve) {
        end_quietly_on_a_closed_pipe();
    }
    match execute(cli.config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A command's output piped into `head` ends the command as it ends any
/// Unix tool, not with a panic on the first line after `head` left: Rust
/// ignores SIGPIPE, so `println!` met the closed pipe as an error. (The
/// server keeps ignoring it: a client that goes away is no reason to stop.)
fn end_quietly_on_a_closed_pipe() {
    // SAFETY: restores the default disposition, installing no handler. A
    // command's sockets (PostgreSQL over TCP or a Unix socket) are written
    // with MSG_NOSIGNAL by the standard library, so only a write to a
    // closed pipe ends it.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Whether logs are JSON (`TRAIL_LOG_FORMAT=json`) rather than text
/// (`pretty`, the default); another value is refused, not ignored.
fn log_format() -> Result<bool, String> {
    match std::env::var("TRAIL_LOG_FORMAT").as_deref() {
        Err(_) | Ok("" | "pretty") => Ok(false),
        Ok("json") => Ok(true),
        Ok(other) => Err(format!("TRAIL_LOG_FORMAT: {other:?} is not pretty or json")),
    }
}

/// Logs: pretty by default, JSON with `TRAIL_LOG_FORMAT=json`; `RUST_LOG` filters.
/// Commands other than `serve` log warnings only, to keep their output clean.
fn init_logging(serving: bool, json: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if serving { "info,sqlx=warn,tower_sessions=warn" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn execute(config: Config, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => return Server::build(config).await?.run().await,
        // The key is a file of its own: no database to open (or make).
        Command::PublicKey => {
            println!("{}", hex::encode(SigningKeys::existing(&config.signing_key_file)?.public_key().as_bytes()));
            return Ok(());
        }
        _ => {}
    }
    if command.needs_existing_database() {
        // A check or a list must not create an empty database (a mistyped
        // path) and find nothing wrong in it.
        storage::must_exist(&config.database_url)?;
    }
    let store = storage::open(&config).await?.store;
    let destinations = AddressRule { allow_private: config.webhook_allow_private };
    match command {
        Command::Serve => unreachable!("handled above"),
        Command::Migrate => {
            println!("database {} is up to date", config.database_url);
            Ok(())
        }
        Command::Workspace(WorkspaceCommand::Add { slug, name }) => add_workspace(&store, &slug, name).await,
        Command::User(UserCommand::Add { email, role, workspace, brand, name }) => {
            let password = read_password()?;
            let (workspace, brand, name) =
                (workspace.unwrap_or_default(), brand.unwrap_or_default(), name.unwrap_or_default());
            add_user(&store, accounts::NewAccount { email, name, role, workspace, brand, password }).await
        }
        Command::User(UserCommand::Password { email }) => {
            let user = user(&store, &email).await?;
            let password = read_password()?;
            accounts::set_password(store.as_ref(), &ServerCredentials, &Actor::cli(), &user, password).await?;
            println!("{} has a new password; their sessions are signed out", user.email);
            Ok(())
        }
        Command::User(command) => manage_user(&store, command).await,
        Command::Key(KeyCommand::Create { workspace, all_workspaces: _, scope, name }) => {
            create_key(&store, workspace.as_deref(), &scope, name).await
        }
        Command::Key(KeyCommand::List) => {
            for key in store.api_keys().await? {
                let status = if key.revoked_at.is_some() { "revoked" } else { "active" };
                let workspace = key.workspace.unwrap_or_else(|| "*".into());
                println!(
                    "{:>5}  {:<14} {:<12} {:<12} {status:<8} {}",
                    key.id, key.prefix, workspace, key.scopes, key.name
                );
            }
            Ok(())
        }
        Command::Key(KeyCommand::Revoke { id }) => {
            accounts::revoke_key(store.as_ref(), &Actor::cli(), id).await?;
            println!("key {id} revoked");
            Ok(())
        }
        Command::Demo(args) => crate::demo::run(&store, &args).await,
        Command::Webhook(command) => crate::webhooks::cli::run(&store, &destinations, command).await,
        Command::LogStream(command) => crate::log_streams::cli::run(&store, &destinations, command).await,
        Command::Alert(command) => crate::alerts::cli::run(&store, command).await,
        Command::Retention(command) => manage_retention(&store, command, &config.signing_key_file).await,
        Command::Verify { workspace, public_key, digests } => {
            let trusted = match public_key {
                Some(text) => crate::integrity::signing::parse_public_key(&text)?,
                None => SigningKeys::existing(&config.signing_key_file)?.public_key(),
            };
            let copies = match digests {
                Some(path) => {
                    let file = || format!("--digests {}", path.display());
                    let text = std::fs::read_to_string(&path).with_context(file)?;
                    crate::integrity::parse_copies(&text).map_err(|err| anyhow::anyhow!("{}: {err}", file()))?
                }
                None => Vec::new(),
            };
            verify(&store, &trusted, workspace.as_deref(), &copies).await
        }
        Command::Search(SearchCommand::Reindex) => {
            store.reindex().await?;
            let indexed = crate::search::drain(&store).await?;
            println!("{indexed} records indexed for search");
            Ok(())
        }
        Command::PublicKey => unreachable!("handled above"),
    }
}

/// Prints each chain's result and every problem, the way CloudTrail's
/// validate-logs does; records the check; fails on any problem.
async fn verify(
    store: &DynStore,
    trusted: &VerifyingKey,
    workspace: Option<&str>,
    copies: &[app::model::Digest],
) -> anyhow::Result<()> {
    let workspace_id = match workspace {
        Some(slug) => Some(store.workspace_by_slug(slug).await?.with_context(|| format!("no workspace {slug:?}"))?.id),
        None => None,
    };
    let report = crate::integrity::check(store.as_ref(), trusted, workspace_id, &Default::default(), copies).await?;
    for chain in &report.chains {
        let through = match chain.removed_through {
            0 => String::new(),
            seq => format!(", links through {seq} removed by retention"),
        };
        let after = match chain.removed_after {
            0 => String::new(),
            1 => ", 1 record after the cut removed by retention (its link kept)".to_owned(),
            n => format!(", {n} records after the cut removed by retention (their links kept)"),
        };
        let cut = format!("{through}{after}");
        println!(
            "{:<28} {} records valid, {} links, {} digests valid{cut}",
            chain.name(),
            chain.valid,
            chain.last,
            chain.digests_valid
        );
        for problem in &chain.problems {
            println!("  PROBLEM {problem}");
        }
    }
    for stray in report.stray_lines() {
        println!("PROBLEM {stray}");
    }
    println!("{}", report.summary());
    store.insert_records(&[vec![crate::integrity::audit_record(&Actor::cli(), &report)]]).await?;
    match report.problems() {
        0 => Ok(()),
        n => bail!("{n} problems found"),
    }
}

/// `key_file`: the key that signs the chains' cuts a purge makes.
async fn manage_retention(store: &DynStore, command: RetentionCommand, key_file: &Path) -> anyhow::Result<()> {
    match command {
        RetentionCommand::Show => {
            let retention = store.retention().await?;
            println!("{:<20} {:<10} {:<10} {:<10}", "workspace", "audit", "event", "action");
            let line = |label: &str, period: &dyn Fn(Kind) -> String| {
                let [audit, event, action] = [Kind::Audit, Kind::Event, Kind::Action].map(period);
                println!("{label:<20} {audit:<10} {event:<10} {action:<10}");
            };
            line("(default)", &|kind| retention.default_period(kind).to_string());
            for workspace in store.workspaces().await? {
                line(&workspace.slug, &|kind| retention.period(&workspace.slug, kind).to_string());
            }
        }
        RetentionCommand::Set { workspace, kind, days } => {
            let workspace = workspace.unwrap_or_default();
            println!("{}", app::retention::set_period(store.as_ref(), &Actor::cli(), &workspace, kind, days).await?);
        }
        RetentionCommand::Run => {
            match crate::retention::run(store, &SigningKeys::existing(key_file)?, Micros::now()).await? {
                None => println!("another server is purging now; nothing done"),
                Some(purged) if purged.is_empty() => println!("nothing is past its period"),
                Some(purged) => {
                    for p in purged {
                        println!("{:<20} {:<8} {} removed", p.workspace, p.kind, p.removed);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The user of `email`, trimmed as `user add` stores it.
async fn user(store: &DynStore, email: &str) -> anyhow::Result<UserRecord> {
    let email = email.trim();
    store.user_by_email(email).await?.with_context(|| format!("no user {email:?}"))
}

async fn manage_user(store: &DynStore, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { .. } | UserCommand::Password { .. } => unreachable!("handled with the password prompt"),
        UserCommand::List => {
            for user in store.users().await? {
                let memberships: Vec<String> = user
                    .memberships
                    .iter()
                    .map(|m| m.brand.as_ref().map_or(m.workspace.clone(), |b| format!("{}/{b}", m.workspace)))
                    .collect();
                let state = if user.disabled { "disabled" } else { "active" };
                println!("{:<30} {:<9} {state:<9} {}", user.email, user.role.as_str(), memberships.join(", "));
            }
        }
        UserCommand::Role { email, role } => {
            accounts::update_user(store.as_ref(), &Actor::cli(), user(store, &email).await?.id, Some(role), None)
                .await?;
            println!("{email} is now {role}");
        }
        UserCommand::Disable { email } => {
            accounts::update_user(store.as_ref(), &Actor::cli(), user(store, &email).await?.id, None, Some(true))
                .await?;
            println!("{email} disabled");
        }
        UserCommand::Enable { email } => {
            accounts::update_user(store.as_ref(), &Actor::cli(), user(store, &email).await?.id, None, Some(false))
                .await?;
            println!("{email} enabled");
        }
        UserCommand::Grant { email, workspace, brand } => {
            let user = user(store, &email).await?;
            let brand = brand.as_deref().unwrap_or("");
            println!("{}", accounts::grant_membership(store.as_ref(), &Actor::cli(), &user, &workspace, brand).await?);
        }
        UserCommand::Revoke { email, workspace } => {
            let user = user(store, &email).await?;
            accounts::revoke_membership(store.as_ref(), &Actor::cli(), &user, &workspace).await?;
            println!("{email} no longer belongs to {workspace}");
        }
    }
    Ok(())
}

async fn add_workspace(store: &DynStore, slug: &str, name: Option<String>) -> anyhow::Result<()> {
    let ws = accounts::add_workspace(store.as_ref(), &Actor::cli(), slug, name.as_deref().unwrap_or("")).await?;
    println!("workspace {} created (id {})", ws.slug, ws.id);
    Ok(())
}

/// Creates a user and, for member roles, their membership.
pub async fn add_user(store: &DynStore, account: accounts::NewAccount) -> anyhow::Result<()> {
    let (email, role) = (account.email.trim().to_owned(), account.role);
    accounts::add_user(store.as_ref(), &ServerCredentials, &Actor::cli(), account).await?;
    println!("user {email} created ({role})");
    Ok(())
}

/// The password from standard input: prompted for on a terminal, else the first line.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Repeat password: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Creates a key and prints it on the last line of output.
pub async fn create_key(
    store: &DynStore,
    workspace: Option<&str>,
    scope: &str,
    name: Option<String>,
) -> anyhow::Result<()> {
    let key = accounts::create_key(
        store.as_ref(),
        &ServerCredentials,
        &Actor::cli(),
        workspace.unwrap_or(""),
        scope,
        name.as_deref().unwrap_or(""),
    )
    .await?;
    let target = key.workspace.map_or("every workspace".to_owned(), |w| format!("workspace {}", w.slug));
    println!("API key for {target}, scopes {}. It is shown only now; store it safely:", key.scopes.join(","));
    println!("{}", key.secret);
    Ok(())
}
