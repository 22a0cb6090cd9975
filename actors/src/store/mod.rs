//! The SQLite store: a document store of threads, items, attachments and
//! feedback, scoped by user.
//!
//! The store knows nothing of the protocol types. The engine hands it rows
//! whose `data` is JSON text and whose timestamps are text in the one
//! fixed-width UTC form (`2025-06-01T09:30:00.123456Z`, see
//! [`crate::time`]), so that text order is time order in SQL.
//!
//! Two halves, one file each:
//!
//! - [`StoreHandle`] (`writer.rs`) talks to the *StoreActor*: a dedicated OS
//!   thread that owns the only write connection and commits the writes that
//!   arrive together in one transaction (group commit). A write's future
//!   resolves only after its transaction committed.
//! - [`ReadPool`] (`reads.rs`) runs queries on an r2d2 pool of read-only
//!   connections, always on tokio's blocking threads. The database is in WAL
//!   mode, so readers see the last commit and never wait for the writer.
//!
//! The SQL of each write op lives in `ops.rs`, the schema and connection
//! settings in `schema.rs`.
//!
//! # Scoping
//!
//! Every query carries a `user_id`. Another user's thread, item or
//! attachment behaves exactly like a missing one: `None` on reads,
//! [`StoreError::NotFound`] on writes that need it, and
//! [`StoreError::UnknownCursor`] as a page cursor. The only exception is
//! [`ReadPool::max_seq`], which takes a thread id the caller already owns.
//!
//! # Durability
//!
//! By default the database runs with `journal_mode=WAL` and
//! `synchronous=FULL` ([`Synchronous::Full`]): every group commit fsyncs the
//! WAL before any writer of the batch is answered, so an acknowledged write
//! survives `kill -9` *and* an OS crash or power loss. Group commit pays that
//! one fsync per batch, not per message, which is why FULL is affordable.
//! [`Synchronous::Normal`] skips the fsync on commit: still safe against a
//! crash of the process (`kill -9`: the commit is in the WAL in the OS page
//! cache), but an OS crash or power loss can lose the last commits.

mod ops;
mod reads;
mod schema;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

pub use reads::ReadPool;
pub use writer::{StoreHandle, WriterStats};

/// How often SQLite fsyncs, as `PRAGMA synchronous` (the journal is always
/// WAL). See the module doc on durability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=FULL`: the WAL is fsynced at every commit. An
    /// acknowledged write survives a process kill, an OS crash and a power
    /// loss. Costs one fsync per group commit.
    #[default]
    Full,
    /// `synchronous=NORMAL`: no fsync at commit (only at checkpoints). An
    /// acknowledged write survives `kill -9` of the process; an OS crash or
    /// power loss can lose the last commits (never corrupts the database).
    Normal,
}

impl Synchronous {
    fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Where the database lives and how the store uses it.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The database file; created if missing (its directory must exist).
    pub path: PathBuf,
    /// Read-only connections in the read pool. Default 4: reads are short
    /// and run on blocking threads, so a few connections serve many
    /// concurrent requests.
    pub read_pool_size: u32,
    /// How long a connection waits for a lock held by another connection
    /// (SQLite `busy_timeout`). Default 5 s. In WAL mode readers and the one
    /// writer do not block each other, so this only matters for checkpoints
    /// and for other processes opening the file.
    pub busy_timeout: Duration,
    /// How long a read waits for a free pooled connection before failing
    /// with [`StoreError::Pool`]. Default 2 s (r2d2's own default, 30 s,
    /// would hide an exhausted pool behind hanging requests).
    pub pool_timeout: Duration,
    /// The most write messages committed in one transaction. Default 256:
    /// large enough to amortise the commit under load, small enough that
    /// one batch never holds the write lock for long.
    pub max_batch: usize,
    /// Capacity of the writer's queue, in messages. Default 1024. When it is
    /// full, [`StoreHandle::write`] waits for room (backpressure).
    pub queue_capacity: usize,
    /// Durability of commits. Default [`Synchronous::Full`].
    pub synchronous: Synchronous,
}

impl StoreConfig {
    /// A configuration for the database at `path` with the defaults.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            read_pool_size: 4,
            busy_timeout: Duration::from_secs(5),
            pool_timeout: Duration::from_secs(2),
            max_batch: 256,
            queue_capacity: 1024,
            synchronous: Synchronous::Full,
        }
    }
}

/// The store: the write handle and the read pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    /// Sends writes to the StoreActor (the writer thread).
    pub writer: StoreHandle,
    /// Runs reads on the pool of read-only connections.
    pub reads: ReadPool,
}

impl Store {
    /// Opens (creating if missing) the database, migrates it to the current
    /// schema, builds the read pool and starts the writer thread.
    ///
    /// This blocks on file I/O: call it at start-up or from a blocking
    /// context, not from an async task on a busy executor.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        let mut conn = Connection::open_with_flags(
            &config.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        schema::configure_writer(&conn, &config)?;
        schema::migrate(&mut conn)?;
        // The pool first: if it fails, no thread has been started.
        let reads = ReadPool::open(&config)?;
        let writer = StoreHandle::spawn(conn, &config)?;
        Ok(Store { writer, reads })
    }
}

/// A thread as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadRow {
    /// Thread id (unique across users).
    pub id: String,
    /// Owner. Never changes once the thread exists.
    pub user_id: String,
    /// Creation time (fixed-width UTC text); the listing order.
    pub created_at: String,
    /// The thread state as JSON text.
    pub data: String,
}

/// A thread item as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRow {
    /// Item id, unique within its thread.
    pub id: String,
    /// The thread it belongs to.
    pub thread_id: String,
    /// Position in the thread (unique per thread, ascending = oldest first).
    /// Chosen by the caller when the item is first announced; an upsert of
    /// an existing item keeps its stored position. A value `<= 0` asks the
    /// store to append (one past the thread's highest `seq`).
    pub seq: i64,
    /// Item creation time (fixed-width UTC text).
    pub created_at: String,
    /// The item's `type` tag, for queries that need it without the JSON.
    pub item_type: String,
    /// Hidden items are never shown to clients; they are excluded from
    /// client listings in SQL.
    pub hidden: bool,
    /// The whole item as JSON text (stored form).
    pub data: String,
}

/// An attachment record as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentRow {
    /// Attachment id (unique across users).
    pub id: String,
    /// Owner. Never changes once the attachment exists.
    pub user_id: String,
    /// When the record was created (fixed-width UTC text). Set on insert,
    /// never changed: what the orphan sweep ages by.
    pub created_at: String,
    /// The size `attachments.create` declared, in bytes; the upload must
    /// match it. `None`: not declared (records from before it was kept).
    /// Set on insert, never changed.
    pub declared_size: Option<u64>,
    /// The attachment record as JSON text.
    pub data: String,
}

/// One user's feedback on one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedbackRow {
    /// The thread of the item.
    pub thread_id: String,
    /// The item the feedback is about (not validated against the items).
    pub item_id: String,
    /// The kind, as given (`positive`, `negative`).
    pub kind: String,
    /// When it was given (fixed-width UTC text).
    pub created_at: String,
}

/// The direction of a listing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

/// One page of a listing. The caller derives the next cursor from the last
/// row when `has_more` is true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowPage<T> {
    /// At most `limit` rows, in the requested order.
    pub rows: Vec<T>,
    /// More rows follow the last one in this order.
    pub has_more: bool,
}

/// One change to the store. The ops of one [`StoreHandle::write`] call are
/// applied atomically, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Inserts a thread, or replaces `created_at` and `data` of an existing
    /// thread of the same user. The owner never changes: a thread id owned
    /// by another user fails with [`StoreError::NotFound`].
    UpsertThread(ThreadRow),
    /// Deletes a thread with its items and feedback. Missing: no error.
    DeleteThread {
        /// Owner.
        user_id: String,
        /// Thread to delete.
        thread_id: String,
    },
    /// Inserts an item, or, if the thread already has an item with this id,
    /// replaces its `created_at`, `item_type`, `hidden` and `data` while
    /// keeping its `seq` (its position). The thread must exist and belong to
    /// `user_id`, else [`StoreError::NotFound`]. A new item at a `seq` that
    /// another item of the thread holds fails with [`StoreError::Sqlite`]
    /// (a unique constraint).
    UpsertItem {
        /// Owner of the thread.
        user_id: String,
        /// The item.
        item: ItemRow,
    },
    /// Deletes one item (and feedback on it). Missing: no error.
    DeleteItem {
        /// Owner of the thread.
        user_id: String,
        /// Thread of the item.
        thread_id: String,
        /// Item to delete.
        item_id: String,
    },
    /// Deletes every item with `seq >= from_seq` (and feedback on them):
    /// what a retry does to the items after the retried message.
    DeleteItemsFromSeq {
        /// Owner of the thread.
        user_id: String,
        /// Thread to truncate.
        thread_id: String,
        /// First position to delete.
        from_seq: i64,
    },
    /// Records `kind` for each item id, one row per item, replacing the
    /// user's earlier feedback on that item. The thread must exist and
    /// belong to `user_id`, else [`StoreError::NotFound`]; the item ids are
    /// not validated (as in the reference).
    SaveFeedback {
        /// Who gives the feedback (owner of the thread).
        user_id: String,
        /// Thread of the items.
        thread_id: String,
        /// Items the feedback is about.
        item_ids: Vec<String>,
        /// The kind, as given.
        kind: String,
        /// When (fixed-width UTC text).
        created_at: String,
    },
    /// Inserts an attachment record, or replaces the `data` of the same
    /// user's record (keeping its `created_at` and `declared_size`).
    /// Another user's id fails with [`StoreError::NotFound`].
    UpsertAttachment(AttachmentRow),
    /// Sets the `thread_id` of an attachment record (in its JSON), leaving
    /// the rest of the record as it is: what storing a user message that
    /// carries it does. Missing (deleted meanwhile): no error, and nothing
    /// is recreated.
    BindAttachment {
        /// Owner.
        user_id: String,
        /// The attachment.
        attachment_id: String,
        /// The thread of the message.
        thread_id: String,
    },
    /// Removes the `upload_descriptor` of an attachment record (in its
    /// JSON): its bytes are uploaded. Missing (deleted while the bytes
    /// were on their way): [`StoreError::NotFound`].
    MarkAttachmentUploaded {
        /// Owner.
        user_id: String,
        /// The attachment.
        attachment_id: String,
    },
    /// Deletes an attachment record. Missing: no error.
    DeleteAttachment {
        /// Owner.
        user_id: String,
        /// Attachment to delete.
        attachment_id: String,
    },
    /// Deletes an attachment record only if it is still an orphan: no
    /// `thread_id` in its JSON, created before `created_before`. Otherwise
    /// (bound meanwhile, or missing): [`StoreError::NotFound`], nothing
    /// deleted.
    DeleteOrphanAttachment {
        /// Owner.
        user_id: String,
        /// Attachment to delete.
        attachment_id: String,
        /// The age limit (fixed-width UTC text): only older records go.
        created_before: String,
    },
}

/// Errors of the store boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// No pooled read connection became free in time (or the pool could not
    /// be built).
    #[error("read pool: {0}")]
    Pool(#[from] r2d2::Error),
    /// Migrating the schema failed.
    #[error("schema migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The writer thread could not be started.
    #[error("starting the writer thread: {0}")]
    Spawn(#[from] std::io::Error),
    /// The thread (or attachment) does not exist for this user.
    #[error("not found")]
    NotFound,
    /// A stored row could not be read back: its `data` does not decode.
    /// Raised by the code that decodes rows (the store itself keeps JSON
    /// as opaque text).
    #[error("corrupt store row: {0}")]
    Corrupt(String),
    /// The page cursor names no row this listing can continue from.
    #[error("unknown cursor")]
    UnknownCursor,
    /// The commit of a group of writes failed; none of this write was
    /// applied. Shared by every write of the batch.
    #[error("group commit failed: {0}")]
    Commit(#[source] Arc<rusqlite::Error>),
    /// The writer has shut down (or its thread died): the write was not
    /// accepted, or its answer was lost with the thread.
    #[error("store is closed")]
    Closed,
    /// A blocking read task panicked or was cancelled.
    #[error("store task failed: {0}")]
    Join(String),
}
