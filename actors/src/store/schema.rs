//! The schema (as `rusqlite_migration` steps, versioned by `user_version`)
//! and the settings of the write and read connections.
//!
//! Ordering columns:
//! - `threads.seq` is an insertion counter, assigned by the writer. It
//!   breaks ties between threads created at the same instant, so paging by
//!   `(created_at, seq)` never skips or repeats a thread.
//! - `items.seq` is the item's position in its thread, chosen when the item
//!   is first announced and kept by every upsert. Items page by `seq` alone.
//!
//! Every table carries `user_id`, and every query filters on it.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::{StoreConfig, StoreError};

/// Version 1: threads, items, attachments, feedback.
const V1: &str = "
CREATE TABLE threads (
    id         TEXT NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    seq        INTEGER NOT NULL UNIQUE,
    data       TEXT NOT NULL
);
CREATE INDEX threads_by_user_created ON threads (user_id, created_at, seq);

CREATE TABLE items (
    thread_id  TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    item_type  TEXT NOT NULL,
    hidden     INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
    data       TEXT NOT NULL,
    PRIMARY KEY (thread_id, id),
    UNIQUE (thread_id, seq)
) WITHOUT ROWID;
CREATE INDEX items_by_thread_hidden_seq ON items (thread_id, hidden, seq);

CREATE TABLE attachments (
    id      TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    data    TEXT NOT NULL
);

CREATE TABLE feedback (
    thread_id  TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    item_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (thread_id, item_id, user_id)
) WITHOUT ROWID;
";

/// The migration steps, oldest first. Append only: a released step is
/// never edited.
const STEPS: &[M<'static>] = &[M::up(V1)];

/// All migrations of the store.
fn migrations() -> Migrations<'static> {
    Migrations::from_slice(STEPS)
}

/// Brings the database to the latest schema version.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrations().to_latest(conn)?;
    Ok(())
}

/// Settings of the one write connection: WAL, the configured `synchronous`
/// level, foreign keys (for the cascades), and the busy timeout.
pub(super) fn configure_writer(conn: &Connection, config: &StoreConfig) -> Result<(), StoreError> {
    conn.busy_timeout(config.busy_timeout)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // An in-memory or otherwise special database: readers on other
        // connections will not see it the way WAL promises.
        tracing::warn!(journal_mode = %mode, "store database is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", config.synchronous.pragma_value())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Settings of a pooled read connection (opened read-only): refuse writes
/// even through a bug, and wait like the writer does.
pub(super) fn configure_reader(
    conn: &Connection,
    busy_timeout: std::time::Duration,
) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn migrate_twice_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, STEPS.len() as i64);
    }
}
