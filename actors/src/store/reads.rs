//! Reads: an r2d2 pool of read-only connections.
//!
//! Every method moves its rusqlite work onto tokio's blocking pool
//! (`spawn_blocking`), including the wait for a pooled connection, so no
//! SQLite call and no pool wait ever runs on an async executor thread.
//! Listings run inside one read transaction, so the cursor lookup and the
//! page see the same snapshot. In WAL mode a reader never waits for the
//! writer and sees the last committed state.

use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use super::{
    AttachmentRow, FeedbackRow, ItemRow, Order, RowPage, StoreConfig, StoreError, ThreadRow,
};

/// Runs reads on a pool of read-only connections. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ReadPool {
    pool: Pool<SqliteConnectionManager>,
}

const THREAD_COLUMNS: &str = "id, user_id, created_at, data";
const ITEM_COLUMNS: &str = "id, thread_id, seq, created_at, item_type, hidden, data";

impl ReadPool {
    /// Builds the pool (opening `read_pool_size` connections up front) on a
    /// database that already exists and is migrated.
    pub(super) fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let busy_timeout: Duration = config.busy_timeout;
        let manager = SqliteConnectionManager::file(&config.path)
            .with_flags(
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .with_init(move |conn| super::schema::configure_reader(conn, busy_timeout));
        let pool = Pool::builder()
            .max_size(config.read_pool_size.max(1))
            .connection_timeout(config.pool_timeout)
            .build(manager)?;
        Ok(Self { pool })
    }

    /// Runs `work` with a pooled connection on a blocking thread.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|err| StoreError::Join(err.to_string()))?
    }

    /// The user's thread, or `None` (missing and foreign alike).
    pub async fn load_thread(
        &self,
        user_id: &str,
        thread_id: &str,
    ) -> Result<Option<ThreadRow>, StoreError> {
        let (user_id, thread_id) = (user_id.to_owned(), thread_id.to_owned());
        self.run(move |conn| {
            let sql =
                format!("SELECT {THREAD_COLUMNS} FROM threads WHERE id = ?1 AND user_id = ?2");
            Ok(conn
                .prepare_cached(&sql)?
                .query_row(params![thread_id, user_id], thread_row)
                .optional()?)
        })
        .await
    }

    /// One page of the user's threads, by `(created_at, insertion order)`.
    /// `after` is the id of the previous page's last thread; a cursor that
    /// is not one of the user's threads is [`StoreError::UnknownCursor`].
    pub async fn list_threads(
        &self,
        user_id: &str,
        limit: usize,
        after: Option<&str>,
        order: Order,
    ) -> Result<RowPage<ThreadRow>, StoreError> {
        let user_id = user_id.to_owned();
        let after = after.map(str::to_owned);
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let cursor: Option<(String, i64)> = match &after {
                None => None,
                Some(id) => Some(
                    tx.prepare_cached(
                        "SELECT created_at, seq FROM threads WHERE id = ?1 AND user_id = ?2",
                    )?
                    .query_row(params![id, user_id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()?
                    .ok_or(StoreError::UnknownCursor)?,
                ),
            };
            let (cmp, dir) = match order {
                Order::Asc => (">", "ASC"),
                Order::Desc => ("<", "DESC"),
            };
            let range = if cursor.is_some() {
                format!("AND (created_at, seq) {cmp} (?3, ?4)")
            } else {
                String::new()
            };
            let sql = format!(
                "SELECT {THREAD_COLUMNS} FROM threads WHERE user_id = ?1 {range}
                 ORDER BY created_at {dir}, seq {dir} LIMIT ?2"
            );
            let mut stmt = tx.prepare_cached(&sql)?;
            let fetch = fetch_count(limit);
            let rows = match &cursor {
                None => stmt.query_map(params![user_id, fetch], thread_row)?,
                Some((created_at, seq)) => {
                    stmt.query_map(params![user_id, fetch, created_at, seq], thread_row)?
                }
            }
            .collect::<Result<Vec<_>, _>>()?;
            Ok(page(rows, limit))
        })
        .await
    }

    /// One page of a thread's items, by position (`seq`). Unless
    /// `include_hidden`, hidden items are excluded in SQL before the page is
    /// cut, so a page holds `limit` visible items whenever `has_more`.
    /// `after` is an item id of this thread; unknown, or hidden when
    /// `!include_hidden`, is [`StoreError::UnknownCursor`]. A missing or
    /// foreign thread is [`StoreError::NotFound`].
    pub async fn list_items(
        &self,
        user_id: &str,
        thread_id: &str,
        limit: usize,
        after: Option<&str>,
        order: Order,
        include_hidden: bool,
    ) -> Result<RowPage<ItemRow>, StoreError> {
        let (user_id, thread_id) = (user_id.to_owned(), thread_id.to_owned());
        let after = after.map(str::to_owned);
        self.run(move |conn| {
            let tx = conn.transaction()?;
            let owned = tx
                .prepare_cached("SELECT 1 FROM threads WHERE id = ?1 AND user_id = ?2")?
                .query_row(params![thread_id, user_id], |_| Ok(()))
                .optional()?;
            if owned.is_none() {
                return Err(StoreError::NotFound);
            }
            let cursor: Option<i64> = match &after {
                None => None,
                Some(id) => {
                    let (seq, hidden): (i64, bool) = tx
                        .prepare_cached(
                            "SELECT seq, hidden FROM items
                             WHERE thread_id = ?1 AND id = ?2 AND user_id = ?3",
                        )?
                        .query_row(params![thread_id, id, user_id], |row| {
                            Ok((row.get(0)?, row.get(1)?))
                        })
                        .optional()?
                        .ok_or(StoreError::UnknownCursor)?;
                    if hidden && !include_hidden {
                        return Err(StoreError::UnknownCursor);
                    }
                    Some(seq)
                }
            };
            let (cmp, dir) = match order {
                Order::Asc => (">", "ASC"),
                Order::Desc => ("<", "DESC"),
            };
            // Literal `hidden = 0` lets the planner use the
            // (thread_id, hidden, seq) index for client listings.
            let visible = if include_hidden { "" } else { "AND hidden = 0" };
            let range = if cursor.is_some() {
                format!("AND seq {cmp} ?4")
            } else {
                String::new()
            };
            let sql = format!(
                "SELECT {ITEM_COLUMNS} FROM items
                 WHERE thread_id = ?1 AND user_id = ?2 {visible} {range}
                 ORDER BY seq {dir} LIMIT ?3"
            );
            let mut stmt = tx.prepare_cached(&sql)?;
            let fetch = fetch_count(limit);
            let rows = match cursor {
                None => stmt.query_map(params![thread_id, user_id, fetch], item_row)?,
                Some(seq) => stmt.query_map(params![thread_id, user_id, fetch, seq], item_row)?,
            }
            .collect::<Result<Vec<_>, _>>()?;
            Ok(page(rows, limit))
        })
        .await
    }

    /// One item of the user's thread, hidden or not, or `None`.
    pub async fn load_item(
        &self,
        user_id: &str,
        thread_id: &str,
        item_id: &str,
    ) -> Result<Option<ItemRow>, StoreError> {
        let (user_id, thread_id, item_id) =
            (user_id.to_owned(), thread_id.to_owned(), item_id.to_owned());
        self.run(move |conn| {
            let sql = format!(
                "SELECT {ITEM_COLUMNS} FROM items
                 WHERE thread_id = ?1 AND id = ?2 AND user_id = ?3"
            );
            Ok(conn
                .prepare_cached(&sql)?
                .query_row(params![thread_id, item_id, user_id], item_row)
                .optional()?)
        })
        .await
    }

    /// The newest `limit` items of the user's thread, hidden ones included,
    /// in ascending `seq` order (what a thread actor caches, and the model
    /// input). Empty for a missing or foreign thread.
    pub async fn load_recent_items(
        &self,
        user_id: &str,
        thread_id: &str,
        limit: usize,
    ) -> Result<Vec<ItemRow>, StoreError> {
        let (user_id, thread_id) = (user_id.to_owned(), thread_id.to_owned());
        self.run(move |conn| {
            let sql = format!(
                "SELECT {ITEM_COLUMNS} FROM items WHERE thread_id = ?1 AND user_id = ?2
                 ORDER BY seq DESC LIMIT ?3"
            );
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = conn
                .prepare_cached(&sql)?
                .query_map(params![thread_id, user_id, limit], item_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows.reverse();
            Ok(rows)
        })
        .await
    }

    /// The highest item `seq` of a thread, 0 when it has none. Not scoped by
    /// user: the caller owns the thread (a thread actor numbering new
    /// items).
    pub async fn max_seq(&self, thread_id: &str) -> Result<i64, StoreError> {
        let thread_id = thread_id.to_owned();
        self.run(move |conn| {
            Ok(conn
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM items WHERE thread_id = ?1")?
                .query_row(params![thread_id], |row| row.get(0))?)
        })
        .await
    }

    /// The user's feedback on items of a thread, oldest first.
    pub async fn load_feedback(
        &self,
        user_id: &str,
        thread_id: &str,
    ) -> Result<Vec<FeedbackRow>, StoreError> {
        let (user_id, thread_id) = (user_id.to_owned(), thread_id.to_owned());
        self.run(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT thread_id, item_id, kind, created_at FROM feedback
                     WHERE thread_id = ?1 AND user_id = ?2 ORDER BY created_at, item_id",
                )?
                .query_map(params![thread_id, user_id], |row| {
                    Ok(FeedbackRow {
                        thread_id: row.get(0)?,
                        item_id: row.get(1)?,
                        kind: row.get(2)?,
                        created_at: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    /// The user's attachment record, or `None` (missing and foreign alike).
    pub async fn load_attachment(
        &self,
        user_id: &str,
        attachment_id: &str,
    ) -> Result<Option<AttachmentRow>, StoreError> {
        let (user_id, attachment_id) = (user_id.to_owned(), attachment_id.to_owned());
        self.run(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT id, user_id, created_at, declared_size, data FROM attachments \
                     WHERE id = ?1 AND user_id = ?2",
                )?
                .query_row(params![attachment_id, user_id], attachment_row)
                .optional()?)
        })
        .await
    }

    /// An attachment record by id alone, whoever owns it. Only for the
    /// preview endpoint, whose URL is a capability (the id is an
    /// unguessable UUIDv7) because `<img>` tags cannot send the user
    /// header. Everything else must use [`load_attachment`](Self::load_attachment).
    pub async fn load_attachment_by_id(
        &self,
        attachment_id: &str,
    ) -> Result<Option<AttachmentRow>, StoreError> {
        let attachment_id = attachment_id.to_owned();
        self.run(move |conn| {
            Ok(conn
                .prepare_cached("SELECT id, user_id, created_at, declared_size, data FROM attachments WHERE id = ?1")?
                .query_row(params![attachment_id], attachment_row)
                .optional()?)
        })
        .await
    }
}

impl ReadPool {
    /// The user's attachments bound to a thread (by the `thread_id` in
    /// their stored JSON), e.g. to remove their files with the thread.
    pub async fn attachments_of_thread(
        &self,
        user_id: &str,
        thread_id: &str,
    ) -> Result<Vec<AttachmentRow>, StoreError> {
        let (user_id, thread_id) = (user_id.to_owned(), thread_id.to_owned());
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, user_id, created_at, declared_size, data FROM attachments \
                 WHERE user_id = ?1 AND json_extract(data, '$.thread_id') = ?2",
            )?;
            let rows = stmt
                .query_map(params![user_id, thread_id], attachment_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Attachments of every user never bound to a thread (no `thread_id`
    /// in their JSON) and created before `created_before`, oldest first,
    /// at most `limit`. Not scoped by user: this is the orphan sweep's
    /// query, a maintenance task acting for no user; it hands each row's
    /// `user_id` back to the scoped delete.
    pub async fn orphan_attachments(
        &self,
        created_before: &str,
        limit: usize,
    ) -> Result<Vec<AttachmentRow>, StoreError> {
        let created_before = created_before.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, user_id, created_at, declared_size, data FROM attachments \
                 WHERE created_at < ?1 AND json_extract(data, '$.thread_id') IS NULL \
                 ORDER BY created_at LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![created_before, limit], attachment_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }
}

/// An attachment row from `SELECT id, user_id, created_at, declared_size, data`.
fn attachment_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AttachmentRow> {
    Ok(AttachmentRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        declared_size: row
            .get::<_, Option<i64>>(3)?
            .and_then(|n| u64::try_from(n).ok()),
        data: row.get(4)?,
    })
}

/// `limit + 1`: one row more than the page, to learn `has_more`.
fn fetch_count(limit: usize) -> i64 {
    i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX)
}

/// Cuts the `limit + 1` fetched rows to a page.
fn page<T>(mut rows: Vec<T>, limit: usize) -> RowPage<T> {
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    RowPage { rows, has_more }
}

fn thread_row(row: &Row<'_>) -> rusqlite::Result<ThreadRow> {
    Ok(ThreadRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        created_at: row.get(2)?,
        data: row.get(3)?,
    })
}

fn item_row(row: &Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        id: row.get(0)?,
        thread_id: row.get(1)?,
        seq: row.get(2)?,
        created_at: row.get(3)?,
        item_type: row.get(4)?,
        hidden: row.get(5)?,
        data: row.get(6)?,
    })
}
