//! Threads (§4.2) and their status (§4.3).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::Page;
use super::items::ThreadItem;
use crate::ids::ThreadId;
use crate::time::Timestamp;

/// A thread's status (§4.3), tagged by `type`: `{"type":"active"}`,
/// `{"type":"locked","reason":"..."}`, `{"type":"closed"}`.
///
/// The server does not enforce it; it is a hint for the client UI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThreadStatus {
    /// Normal operation.
    #[default]
    Active,
    /// Composer shown but disabled; the reason is shown as placeholder.
    Locked {
        /// Why the thread is locked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Composer replaced by a banner (default text or the reason).
    Closed {
        /// Why the thread is closed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// A thread as it goes on the wire (§4.2), in `thread.created`,
/// `thread.updated`, `threads.get_by_id`, `threads.list` and
/// `threads.update`.
///
/// `metadata` is always `{}` on the wire: build it with
/// [`ThreadMetadata::to_wire`], which never copies the server-side
/// metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// The title; omitted while the thread has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The thread id.
    pub id: ThreadId,
    /// When the thread was created.
    pub created_at: Timestamp,
    /// The thread status, always emitted.
    #[serde(default)]
    pub status: ThreadStatus,
    /// Hosts the client may load images from; omitted when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_image_domains: Option<Vec<String>>,
    /// Always emitted; the engine always sends `{}`.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// A page of visible items (empty except in `threads.get_by_id`).
    #[serde(default)]
    pub items: Page<ThreadItem>,
}

/// Server-side thread state: the stored form, with the integration-owned
/// `metadata` kept (§4.2). Same fields as [`Thread`] minus `items`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadMetadata {
    /// The title, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The thread id.
    pub id: ThreadId,
    /// When the thread was created.
    pub created_at: Timestamp,
    /// The thread status.
    #[serde(default)]
    pub status: ThreadStatus,
    /// Hosts the client may load images from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_image_domains: Option<Vec<String>>,
    /// Integration-owned data (e.g. a model `last_response_id`). Never sent
    /// to clients; changing it still triggers `thread.updated` (§10.4).
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl ThreadMetadata {
    /// A new thread: no title, active, no image domains, empty metadata.
    pub fn new(id: ThreadId, created_at: Timestamp) -> Self {
        Self {
            title: None,
            id,
            created_at,
            status: ThreadStatus::Active,
            allowed_image_domains: None,
            metadata: Map::new(),
        }
    }

    /// The wire form of this thread with the given items page, `metadata`
    /// set to `{}`. Hidden items are dropped from the page defensively
    /// (they never reach a client, §5.12).
    pub fn to_wire(&self, mut items: Page<ThreadItem>) -> Thread {
        items.data.retain(|item| !item.is_hidden());
        Thread {
            title: self.title.clone(),
            id: self.id.clone(),
            created_at: self.created_at,
            status: self.status.clone(),
            allowed_image_domains: self.allowed_image_domains.clone(),
            metadata: Map::new(),
            items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ItemKind, SdkHiddenContextItem};

    fn ts() -> Timestamp {
        "2025-06-01T09:30:00.123456".parse().unwrap()
    }

    #[test]
    fn to_wire_drops_metadata_and_hidden_items() {
        let mut meta = ThreadMetadata::new(ThreadId::from("thr_1"), ts());
        meta.metadata
            .insert("last_response_id".into(), Value::from("resp_1"));
        let hidden = ThreadItem {
            id: "shcx_1".into(),
            thread_id: "thr_1".into(),
            created_at: ts(),
            kind: ItemKind::SdkHiddenContext(SdkHiddenContextItem {
                content: "x".into(),
            }),
        };
        let page = Page {
            data: vec![hidden],
            has_more: false,
            after: None,
        };
        let wire = serde_json::to_string(&meta.to_wire(page)).unwrap();
        assert_eq!(
            wire,
            r#"{"id":"thr_1","created_at":"2025-06-01T09:30:00.123456Z","status":{"type":"active"},"metadata":{},"items":{"data":[],"has_more":false}}"#
        );
        let stored = serde_json::to_string(&meta).unwrap();
        assert!(stored.contains(r#""metadata":{"last_response_id":"resp_1"}"#));
    }

    #[test]
    fn status_rejects_null_and_defaults_when_absent() {
        let t: Thread =
            serde_json::from_str(r#"{"id":"thr_1","created_at":"2025-06-01T09:30:00"}"#).unwrap();
        assert_eq!(t.status, ThreadStatus::Active);
        assert!(
            serde_json::from_str::<Thread>(
                r#"{"id":"thr_1","created_at":"2025-06-01T09:30:00","status":null}"#
            )
            .is_err()
        );
    }
}
