//! The SQL of each [`WriteOp`], run by the writer thread inside the
//! savepoint of its message. Every statement is scoped by `user_id`.
//!
//! Ownership never changes: an upsert of a thread or attachment whose id
//! belongs to another user updates nothing and fails with
//! [`StoreError::NotFound`], exactly like a write into a missing thread, so
//! a caller learns nothing about other users' ids.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, WriteOp};

/// Fails with `NotFound` unless `thread_id` exists and belongs to `user_id`.
fn check_thread(conn: &Connection, user_id: &str, thread_id: &str) -> Result<(), StoreError> {
    conn.prepare_cached("SELECT 1 FROM threads WHERE id = ?1 AND user_id = ?2")?
        .query_row(params![thread_id, user_id], |_| Ok(()))
        .optional()?
        .ok_or(StoreError::NotFound)
}

/// Applies one op.
pub(super) fn apply(conn: &Connection, op: &WriteOp) -> Result<(), StoreError> {
    match op {
        WriteOp::UpsertThread(row) => {
            let changed = conn
                .prepare_cached(
                    "INSERT INTO threads (id, user_id, created_at, seq, data)
                     VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(seq), 0) + 1 FROM threads), ?4)
                     ON CONFLICT (id) DO UPDATE
                        SET created_at = excluded.created_at, data = excluded.data
                        WHERE threads.user_id = excluded.user_id",
                )?
                .execute(params![row.id, row.user_id, row.created_at, row.data])?;
            // 0: the id exists and belongs to someone else.
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
        }
        WriteOp::DeleteThread { user_id, thread_id } => {
            // Items and feedback go by ON DELETE CASCADE.
            conn.prepare_cached("DELETE FROM threads WHERE id = ?1 AND user_id = ?2")?
                .execute(params![thread_id, user_id])?;
        }
        WriteOp::UpsertItem { user_id, item } => {
            check_thread(conn, user_id, &item.thread_id)?;
            conn.prepare_cached(
                "INSERT INTO items
                    (thread_id, id, user_id, seq, created_at, item_type, hidden, data)
                 VALUES (?1, ?2, ?3,
                    CASE WHEN ?4 > 0 THEN ?4 ELSE
                        (SELECT COALESCE(MAX(seq), 0) + 1 FROM items WHERE thread_id = ?1)
                    END,
                    ?5, ?6, ?7, ?8)
                 ON CONFLICT (thread_id, id) DO UPDATE
                    SET created_at = excluded.created_at,
                        item_type = excluded.item_type,
                        hidden = excluded.hidden,
                        data = excluded.data",
            )?
            .execute(params![
                item.thread_id,
                item.id,
                user_id,
                item.seq,
                item.created_at,
                item.item_type,
                item.hidden,
                item.data
            ])?;
        }
        WriteOp::DeleteItem {
            user_id,
            thread_id,
            item_id,
        } => {
            conn.prepare_cached(
                "DELETE FROM feedback WHERE thread_id = ?1 AND item_id = ?2
                    AND EXISTS (SELECT 1 FROM threads WHERE id = ?1 AND user_id = ?3)",
            )?
            .execute(params![thread_id, item_id, user_id])?;
            conn.prepare_cached(
                "DELETE FROM items WHERE thread_id = ?1 AND id = ?2 AND user_id = ?3",
            )?
            .execute(params![thread_id, item_id, user_id])?;
        }
        WriteOp::DeleteItemsFromSeq {
            user_id,
            thread_id,
            from_seq,
        } => {
            conn.prepare_cached(
                "DELETE FROM feedback WHERE thread_id = ?1 AND item_id IN
                    (SELECT id FROM items
                     WHERE thread_id = ?1 AND user_id = ?2 AND seq >= ?3)",
            )?
            .execute(params![thread_id, user_id, from_seq])?;
            conn.prepare_cached(
                "DELETE FROM items WHERE thread_id = ?1 AND user_id = ?2 AND seq >= ?3",
            )?
            .execute(params![thread_id, user_id, from_seq])?;
        }
        WriteOp::SaveFeedback {
            user_id,
            thread_id,
            item_ids,
            kind,
            created_at,
        } => {
            check_thread(conn, user_id, thread_id)?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO feedback (thread_id, item_id, user_id, kind, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (thread_id, item_id, user_id) DO UPDATE
                    SET kind = excluded.kind, created_at = excluded.created_at",
            )?;
            for item_id in item_ids {
                insert.execute(params![thread_id, item_id, user_id, kind, created_at])?;
            }
        }
        WriteOp::UpsertAttachment(row) => {
            let changed = conn
                .prepare_cached(
                    "INSERT INTO attachments (id, user_id, created_at, declared_size, data)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET data = excluded.data
                        WHERE attachments.user_id = excluded.user_id",
                )?
                .execute(params![
                    row.id,
                    row.user_id,
                    row.created_at,
                    // SQLite integers are i64; no real size is larger.
                    row.declared_size
                        .map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
                    row.data
                ])?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
        }
        WriteOp::BindAttachment {
            user_id,
            attachment_id,
            thread_id,
        } => {
            conn.prepare_cached(
                "UPDATE attachments SET data = json_set(data, '$.thread_id', ?3)
                 WHERE id = ?1 AND user_id = ?2",
            )?
            .execute(params![attachment_id, user_id, thread_id])?;
        }
        WriteOp::MarkAttachmentUploaded {
            user_id,
            attachment_id,
        } => {
            let changed = conn
                .prepare_cached(
                    "UPDATE attachments SET data = json_remove(data, '$.upload_descriptor')
                     WHERE id = ?1 AND user_id = ?2",
                )?
                .execute(params![attachment_id, user_id])?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
        }
        WriteOp::DeleteAttachment {
            user_id,
            attachment_id,
        } => {
            conn.prepare_cached("DELETE FROM attachments WHERE id = ?1 AND user_id = ?2")?
                .execute(params![attachment_id, user_id])?;
        }
        WriteOp::DeleteOrphanAttachment {
            user_id,
            attachment_id,
            created_before,
        } => {
            let changed = conn
                .prepare_cached(
                    "DELETE FROM attachments
                     WHERE id = ?1 AND user_id = ?2 AND created_at < ?3
                        AND json_extract(data, '$.thread_id') IS NULL",
                )?
                .execute(params![attachment_id, user_id, created_before])?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
        }
    }
    Ok(())
}
