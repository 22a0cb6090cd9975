//! Conversions between protocol types and store rows.
//!
//! The store is a document store: threads and items are kept whole as
//! JSON in their stored form (thread `metadata` included), with the few
//! columns that queries need beside them.

use crate::ids::UserId;
use crate::protocol::{Attachment, ThreadItem, ThreadMetadata};
use crate::store::{AttachmentRow, ItemRow, StoreError, ThreadRow};

fn corrupt(what: &str, id: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("stored {what} {id} cannot be read: {e}"))
}

/// The row of a thread owned by `user`.
pub fn thread_row(user: &UserId, meta: &ThreadMetadata) -> ThreadRow {
    ThreadRow {
        id: meta.id.0.clone(),
        user_id: user.0.clone(),
        created_at: meta.created_at.to_string(),
        data: serde_json::to_string(meta).expect("thread metadata serializes"),
    }
}

/// The thread state stored in a row.
pub fn thread_from_row(row: &ThreadRow) -> Result<ThreadMetadata, StoreError> {
    serde_json::from_str(&row.data).map_err(|e| corrupt("thread", &row.id, e))
}

/// The row of an item at position `seq` of its thread.
pub fn item_row(item: &ThreadItem, seq: i64) -> ItemRow {
    ItemRow {
        id: item.id.0.clone(),
        thread_id: item.thread_id.0.clone(),
        seq,
        created_at: item.created_at.to_string(),
        item_type: item.type_name().to_owned(),
        hidden: item.is_hidden(),
        data: serde_json::to_string(item).expect("thread item serializes"),
    }
}

/// The item stored in a row.
pub fn item_from_row(row: &ItemRow) -> Result<ThreadItem, StoreError> {
    serde_json::from_str(&row.data).map_err(|e| corrupt("item", &row.id, e))
}

/// The attachment stored in a row.
pub fn attachment_from_row(row: &AttachmentRow) -> Result<Attachment, StoreError> {
    serde_json::from_str(&row.data).map_err(|e| corrupt("attachment", &row.id, e))
}

/// The row of a new attachment owned by `user`, created now, with the size
/// its creator declared.
pub fn attachment_row(
    user: &UserId,
    attachment: &Attachment,
    declared_size: Option<u64>,
) -> AttachmentRow {
    AttachmentRow {
        id: attachment.id.clone(),
        user_id: user.0.clone(),
        created_at: crate::time::Timestamp::now().to_string(),
        declared_size,
        data: serde_json::to_string(attachment).expect("attachment serializes"),
    }
}
