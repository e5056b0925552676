//! Wakes the live stream after each commit that wrote records. SQLite has
//! one writing process, so a signal within it is enough. On PostgreSQL
//! several servers write: each tells the others with `NOTIFY` (sent after its
//! commits, not inside them, because a transaction that notifies holds a
//! database-wide lock from its commit's start to its end) and listens for
//! theirs. A lost notification only delays: the stream also polls.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The PostgreSQL channel; a notification's payload is the sending server's id.
const CHANNEL: &str = "trail_records";
/// How long a lost connection to PostgreSQL waits before listening again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

pub struct CommitSignal {
    /// Commits through this server.
    own: watch::Sender<u64>,
    /// Commits through any server: what subscribers watch.
    any: watch::Sender<u64>,
    /// The PostgreSQL relay's tasks, stopped with the store.
    _tasks: Vec<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn bump(sender: &watch::Sender<u64>) {
    sender.send_modify(|n| *n = n.wrapping_add(1));
}

impl CommitSignal {
    /// For one writing process.
    pub fn local() -> Self {
        CommitSignal { own: watch::channel(0).0, any: watch::channel(0).0, _tasks: Vec::new() }
    }

    /// For servers sharing `pool`'s database: relays this one's commits to
    /// the others and theirs to this one's subscribers.
    pub fn shared(pool: &PgPool) -> Self {
        let mut signal = Self::local();
        let server = Uuid::now_v7().simple().to_string();
        let tasks = vec![
            tokio::spawn(notify(pool.clone(), signal.own.subscribe(), server.clone())),
            tokio::spawn(listen(pool.clone(), signal.any.clone(), server)),
        ];
        signal._tasks = tasks.into_iter().map(AbortOnDrop).collect();
        signal
    }

    /// Records were committed through this server.
    pub fn committed(&self) {
        bump(&self.own);
        bump(&self.any);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.any.subscribe()
    }

    /// How many commits were signalled so far (wrapping).
    pub fn count(&self) -> u64 {
        *self.any.borrow()
    }
}

/// Sends one notification per wake: commits made meanwhile share it.
async fn notify(pool: PgPool, mut own: watch::Receiver<u64>, server: String) {
    while own.changed().await.is_ok() {
        own.borrow_and_update();
        let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&server).execute(&pool).await;
        if let Err(err) = sent {
            tracing::warn!(error = %err, "could not notify other servers of new records");
        }
    }
}

/// Wakes this server's subscribers for every other server's notification,
/// and whenever listening (re)starts, since notifications sent while it was
/// not listening are lost.
async fn listen(pool: PgPool, any: watch::Sender<u64>, server: String) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    bump(&any);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(note)) if note.payload() == server => {}
                            // `None`: the connection was lost and is back.
                            Ok(_) => bump(&any),
                            Err(err) => {
                                tracing::warn!(error = %err, "listening for other servers' records stopped");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "could not listen for other servers' records"),
            },
            Err(err) => tracing::warn!(error = %err, "could not connect to listen for other servers' records"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
