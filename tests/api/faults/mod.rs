//! Fault tests: the server is crashed, stopped, starved of disk, fed a
//! broken provider or slow clients, and must never lose a message it
//! acknowledged (a `thread.item.done` a client received), must end every
//! stream with a clear error, and must recover by itself.

mod crash;
mod disk;
mod provider;
mod slow_clients;

use std::path::Path;

use serde_json::Value;

/// Takes the complete SSE frames off the front of `buf` and parses them
/// (keep-alive comments dropped); a torn last frame stays in `buf`.
pub fn drain_frames(buf: &mut String) -> Vec<Value> {
    let Some(end) = buf.rfind("\n\n") else {
        return Vec::new();
    };
    let complete: String = buf.drain(..end + 2).collect();
    crate::helpers::parse_sse(&complete)
}

/// `PRAGMA integrity_check` of the database file, read-only.
pub fn integrity_check(db: &Path) -> String {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open db read-only");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}
