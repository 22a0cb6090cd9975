//! The orphan sweep: attachments created (and perhaps uploaded) but never
//! bound to a thread by a stored user message are removed, record and
//! bytes, once older than [`AttachmentConfig::orphan_ttl`]; so are
//! temporary upload files that old (a crash mid-upload leaves them).
//!
//! The engine runs [`sweep_orphans`] every
//! [`AttachmentConfig::orphan_sweep_interval`] (first at start-up) on the
//! actix system it was started in, and stops it on shutdown, so embedding
//! applications get it too.
//!
//! Deletes go through the StoreActor like every other write, one
//! [`WriteOp::DeleteOrphanAttachment`] per record, sent together so group
//! commit folds them into one transaction. That op deletes only a record
//! that is *still* unbound and old: a message that binds the attachment
//! between the query and the delete wins, and its bytes stay. A record's
//! bytes are removed only after its delete committed, so a crash in
//! between leaves bytes without a record, never a record whose bytes
//! vanished.
//!
//! [`AttachmentConfig::orphan_ttl`]: super::AttachmentConfig::orphan_ttl
//! [`AttachmentConfig::orphan_sweep_interval`]: super::AttachmentConfig::orphan_sweep_interval

use std::time::Duration;

use futures_util::future::join_all;

use super::AttachmentStore;
use crate::error::EngineError;
use crate::store::{Store, StoreError, WriteOp};
use crate::time::Timestamp;

/// Records handled per query and write round: bounds the memory and the
/// transaction of one round, while a backlog still clears in a few rounds.
const SWEEP_BATCH: usize = 256;

/// What one sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Orphan attachments removed (record and bytes).
    pub attachments: usize,
    /// Temporary upload files removed.
    pub temp_files: usize,
}

/// Removes the attachments older than `ttl` that no stored user message
/// bound to a thread (records and bytes), and temporary upload files
/// older than `ttl`.
pub async fn sweep_orphans(
    store: &Store,
    files: &AttachmentStore,
    ttl: Duration,
) -> Result<SweepReport, EngineError> {
    let ttl_span = jiff::SignedDuration::try_from(ttl)
        .map_err(|e| EngineError::Internal(format!("orphan age {ttl:?}: {e}")))?;
    let cutoff = Timestamp::now()
        .as_jiff()
        .checked_sub(ttl_span)
        .map(Timestamp::from_jiff)
        // An age beyond the calendar: nothing is that old.
        .unwrap_or_else(|_| Timestamp::from_jiff(jiff::Timestamp::MIN))
        .to_string();
    let mut report = SweepReport::default();
    loop {
        let rows = store.reads.orphan_attachments(&cutoff, SWEEP_BATCH).await?;
        let full = rows.len() == SWEEP_BATCH;
        let deletes = rows.iter().map(|row| {
            store.writer.write(vec![WriteOp::DeleteOrphanAttachment {
                user_id: row.user_id.clone(),
                attachment_id: row.id.clone(),
                created_before: cutoff.clone(),
            }])
        });
        let results = join_all(deletes).await;
        let mut deleted = Vec::with_capacity(rows.len());
        let mut failure = None;
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(()) => {
                    tracing::debug!(attachment = %row.id, user_id = %row.user_id, created_at = %row.created_at, "orphan attachment removed");
                    deleted.push(row.id.clone());
                }
                // Bound to a thread (or deleted) since the query: kept.
                Err(StoreError::NotFound) => {}
                Err(e) => failure = Some(e),
            }
        }
        // The bytes of every deleted record go, even if another failed.
        report.attachments += deleted.len();
        let progressed = !deleted.is_empty();
        match files.delete_many(deleted).await {
            Ok(failed) => {
                for (id, e) in failed {
                    tracing::warn!(attachment = %id, error = %e, "removing an orphan attachment's bytes failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "removing orphan attachments' bytes failed"),
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
        if !full || !progressed {
            break;
        }
    }
    report.temp_files = files.remove_stale_temp_files(ttl).await?;
    Ok(report)
}
