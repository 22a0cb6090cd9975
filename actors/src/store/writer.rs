//! The StoreActor: the one writer of the database.
//!
//! **Owns** the only read-write SQLite connection, on a dedicated OS thread
//! (`chatkit-store-writer`). No other code opens a write connection.
//!
//! **Accepts** one kind of message, a write: a `Vec<WriteOp>` applied
//! atomically, plus a oneshot for the answer. Every engine part that
//! persists something (thread actors, the attachment and feedback
//! handlers) sends through a cloned [`StoreHandle`]. The only other
//! messages are a shutdown request and a `PRAGMA` to run between batches
//! (a fault-injection hook for tests).
//!
//! **Group commit.** The thread blocks for one message, takes whatever else
//! is already queued (up to `max_batch` messages in all), and commits them
//! in ONE transaction. Each message runs inside its own SAVEPOINT: a
//! message that fails (say [`StoreError::NotFound`]) is rolled back alone
//! and answered with its error, while the others of the batch commit. Every
//! message is answered only after COMMIT returned, so an `Ok` means the
//! write is in the database (see the durability note of the store module).
//! If the COMMIT itself fails, every message of the batch gets
//! [`StoreError::Commit`] (or its own earlier error).
//!
//! **Queue.** A bounded tokio mpsc channel of `queue_capacity` messages
//! (default 1024). When it is full, [`StoreHandle::write`] waits in
//! `send().await` until the writer makes room: backpressure reaches the
//! writers instead of memory growing.
//!
//! **Why a thread with a channel, not an actix `SyncArbiter`.** A
//! SyncArbiter hands its handler one message at a time, so the handler
//! cannot see the messages queued behind the current one and cannot fold
//! them into one commit: every write would pay its own commit (and fsync).
//! Its queue is also unbounded, so the only backpressure would come from
//! writers awaiting replies. A plain thread owning an `mpsc::Receiver` can
//! drain the queue into a batch (`blocking_recv_many`), and the bounded
//! channel gives backpressure for free. It also keeps the store usable
//! without an actix system.
//!
//! **Cancellation.** Dropping a `write` future after its message was queued
//! does not cancel the write: it is committed, and the answer is discarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Instant;

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{mpsc, oneshot, watch};

use super::ops::apply;
use super::{StoreConfig, StoreError, WriteOp};

/// A message to the writer thread.
enum Command {
    /// Apply these ops atomically and answer after the commit.
    Write {
        ops: Vec<WriteOp>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Run one `PRAGMA` on the write connection, between batches.
    Pragma {
        pragma: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Stop taking messages, commit what is queued, checkpoint, close.
    Shutdown,
}

/// Counters of the writer since it started (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (or attempted).
    pub batches: u64,
    /// Write messages handled, successful or not.
    pub messages: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    messages: AtomicU64,
}

/// Sends writes to the StoreActor. Cheap to clone; every clone feeds the
/// same bounded queue.
#[derive(Clone, Debug)]
pub struct StoreHandle {
    tx: mpsc::Sender<Command>,
    /// Becomes `true` when the writer thread has closed its connection.
    done: watch::Receiver<bool>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Write { ops, .. } => f.debug_struct("Write").field("ops", &ops.len()).finish(),
            Command::Pragma { pragma, .. } => f.debug_tuple("Pragma").field(pragma).finish(),
            Command::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl StoreHandle {
    /// Starts the writer thread on `conn` (already configured and migrated).
    pub(super) fn spawn(conn: Connection, config: &StoreConfig) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (done_tx, done) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let actor = StoreActor {
            conn,
            rx,
            max_batch: config.max_batch.max(1),
            counters: Arc::clone(&counters),
        };
        std::thread::Builder::new()
            .name("chatkit-store-writer".into())
            .spawn(move || {
                actor.run();
                // Sent only after the connection is closed.
                let _ = done_tx.send(true);
            })?;
        Ok(Self { tx, done, counters })
    }

    /// Applies `ops` atomically (all or none). Resolves only after the
    /// transaction holding them committed. Waits for room while the queue
    /// is full. After [`shutdown`](Self::shutdown): [`StoreError::Closed`].
    pub async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        crate::telemetry::store_queued();
        if self.tx.send(Command::Write { ops, reply }).await.is_err() {
            crate::telemetry::store_dequeued(1);
            return Err(StoreError::Closed);
        }
        // A dropped reply means the writer thread died mid-batch.
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `PRAGMA <pragma>` on the write connection, after the writes
    /// queued before it. A fault hook: `query_only = 1` makes every later
    /// write fail as on a read-only database and `max_page_count = <n>` as
    /// on a full disk, until set back; the writer recovers by itself.
    #[doc(hidden)]
    pub async fn pragma(&self, pragma: impl Into<String>) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Command::Pragma {
                pragma: pragma.into(),
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops the writer: writes already queued are committed, later ones
    /// fail with [`StoreError::Closed`], the WAL is checkpointed
    /// (`TRUNCATE`) and the connection closed. Resolves when the thread has
    /// finished. Safe to call more than once, from any clone.
    pub async fn shutdown(&self) {
        // Err: another clone already asked; wait for the same end.
        let _ = self.tx.send(Command::Shutdown).await;
        let mut done = self.done.clone();
        // Err: the thread ended without saying so (it panicked): also ended.
        let _ = done.wait_for(|closed| *closed).await;
    }

    /// Counters of the writer since it started.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches: self.counters.batches.load(AtomicOrdering::Relaxed),
            messages: self.counters.messages.load(AtomicOrdering::Relaxed),
        }
    }
}

/// The state of the writer thread.
struct StoreActor {
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    max_batch: usize,
    counters: Arc<Counters>,
}

/// A write waiting for its batch to commit.
struct Pending {
    ops: Vec<WriteOp>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

impl StoreActor {
    fn run(mut self) {
        tracing::debug!(max_batch = self.max_batch, "store writer started");
        let mut commands = Vec::with_capacity(self.max_batch);
        // Ends when every handle is gone, or after a shutdown once the
        // closed channel is drained.
        while self.rx.blocking_recv_many(&mut commands, self.max_batch) > 0 {
            let mut batch = Vec::with_capacity(commands.len());
            for command in commands.drain(..) {
                match command {
                    Command::Write { ops, reply } => batch.push(Pending { ops, reply }),
                    Command::Pragma { pragma, reply } => {
                        // Writes queued before it go first.
                        if !batch.is_empty() {
                            self.commit_batch(std::mem::take(&mut batch));
                        }
                        let _ = reply.send(self.run_pragma(&pragma));
                    }
                    // Refuse new sends; what is queued still gets committed.
                    Command::Shutdown => self.rx.close(),
                }
            }
            crate::telemetry::store_dequeued(batch.len());
            if !batch.is_empty() {
                self.commit_batch(batch);
            }
        }
        self.finish();
    }

    /// Applies every message of `batch` in one transaction, each in its own
    /// savepoint, commits, then answers them all.
    fn commit_batch(&mut self, batch: Vec<Pending>) {
        let started = Instant::now();
        let messages = batch.len();
        self.counters.batches.fetch_add(1, AtomicOrdering::Relaxed);
        self.counters
            .messages
            .fetch_add(messages as u64, AtomicOrdering::Relaxed);

        let mut tx = match self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Ok(tx) => tx,
            Err(err) => {
                tracing::warn!(error = %err, messages, "store: cannot begin a write transaction");
                let err = Arc::new(err);
                for pending in batch {
                    let _ = pending
                        .reply
                        .send(Err(StoreError::Commit(Arc::clone(&err))));
                }
                return;
            }
        };

        // `None`: not attempted, because SQLite aborted the transaction.
        let mut results: Vec<Option<Result<(), StoreError>>> = Vec::with_capacity(messages);
        for pending in &batch {
            if tx.is_autocommit() {
                // A severe error (disk full, I/O) rolled the whole
                // transaction back; running on would commit outside it.
                results.push(None);
                continue;
            }
            results.push(Some(apply_in_savepoint(&mut tx, &pending.ops)));
        }

        let failed_commit = tx.commit().err().map(Arc::new);
        let elapsed = started.elapsed();
        crate::telemetry::store_committed(messages, elapsed);
        let elapsed_us = elapsed.as_micros() as u64;
        match &failed_commit {
            None => tracing::debug!(messages, elapsed_us, "store: group commit"),
            Some(err) => {
                tracing::warn!(error = %err, messages, elapsed_us, "store: group commit failed")
            }
        }

        for (pending, result) in batch.into_iter().zip(results) {
            let answer = match (result, &failed_commit) {
                (Some(Err(err)), _) => {
                    tracing::warn!(error = %err, "store: write rolled back");
                    Err(err)
                }
                (Some(Ok(())), None) => Ok(()),
                (_, Some(err)) => Err(StoreError::Commit(Arc::clone(err))),
                (None, None) => unreachable!("commit succeeds only inside a transaction"),
            };
            // The caller may have gone away; its write stands.
            let _ = pending.reply.send(answer);
        }
    }

    /// Runs one `PRAGMA`, reading (and dropping) whatever rows it answers.
    fn run_pragma(&self, pragma: &str) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(&format!("PRAGMA {pragma}"))?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
        Ok(())
    }

    /// Checkpoints the WAL into the database file and closes the connection.
    fn finish(self) {
        match self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            }) {
            Ok((busy, log, checkpointed)) => {
                tracing::debug!(busy, log, checkpointed, "store: WAL checkpoint on shutdown")
            }
            Err(err) => tracing::warn!(error = %err, "store: WAL checkpoint on shutdown failed"),
        }
        if let Err((_, err)) = self.conn.close() {
            tracing::warn!(error = %err, "store: closing the write connection failed");
        }
        tracing::debug!("store writer stopped");
    }
}

/// Runs one message's ops in a savepoint: released on success, rolled back
/// (alone) on the first error.
fn apply_in_savepoint(
    tx: &mut rusqlite::Transaction<'_>,
    ops: &[WriteOp],
) -> Result<(), StoreError> {
    let savepoint = tx.savepoint()?;
    for op in ops {
        if let Err(err) = apply(&savepoint, op) {
            // Dropping rolls back to the savepoint and releases it. If even
            // that fails, SQLite has aborted the transaction, which the
            // batch loop notices.
            drop(savepoint);
            return Err(err);
        }
    }
    savepoint.commit()?;
    Ok(())
}
