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

/// Version 2: attachments get their creation time (for removing those
/// never sent in a message) and the size declared by `attachments.create`
/// (checked against the upload). Rows from before get the time of the
/// migration, so an upgrade never makes them look old: they get the full
/// orphan age from then on. Their declared size is unknown (`NULL`).
const V2: &str = "
ALTER TABLE attachments ADD COLUMN created_at TEXT NOT NULL DEFAULT '';
ALTER TABLE attachments ADD COLUMN declared_size INTEGER;
UPDATE attachments SET created_at = strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z';
CREATE INDEX attachments_by_created ON attachments (created_at);
";

/// The migration steps, oldest first. Append only: a released step is
/// never edited.
const STEPS: &[M<'static>] = &[M::up(V1), M::up(V2)];

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

    #[test]
    fn attachments_from_version_1_get_the_migration_time() {
        let mut conn = Connection::open_in_memory().unwrap();
        Migrations::from_slice(&STEPS[..1])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute(
            "INSERT INTO attachments (id, user_id, data) VALUES ('atc_old', 'u', '{}')",
            [],
        )
        .unwrap();
        let before = crate::time::Timestamp::now().to_string();
        migrate(&mut conn).unwrap();
        let after = crate::time::Timestamp::now().to_string();
        let (created_at, size): (String, Option<i64>) = conn
            .query_row(
                "SELECT created_at, declared_size FROM attachments WHERE id = 'atc_old'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        // Same fixed-width form as every stored time; millisecond precision.
        assert_eq!(created_at.len(), before.len(), "{created_at}");
        assert!(created_at.ends_with("000Z"), "{created_at}");
        assert!(before[..23] <= created_at[..23] && created_at[..23] <= after[..23]);
        assert_eq!(size, None);
    }
}
