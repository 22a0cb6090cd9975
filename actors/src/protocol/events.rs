//! Stream events, the payloads of the SSE frames (§6), and the frame
//! encoding (§2.3).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::items::ThreadItem;
use super::thread::Thread;
use super::updates::ThreadItemUpdate;
use crate::ids::ItemId;

/// One event of a streamed response (§6), tagged by `type` (always the
/// first key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ThreadStreamEvent {
    /// A new thread was saved (`threads.create` only).
    #[serde(rename = "thread.created")]
    ThreadCreated {
        /// The thread, with an empty items page.
        thread: Thread,
    },
    /// The thread's state changed during the response (§10.4).
    #[serde(rename = "thread.updated")]
    ThreadUpdated {
        /// The thread, with an empty items page.
        thread: Thread,
    },
    /// An item that will be streamed (not stored yet).
    #[serde(rename = "thread.item.added")]
    ThreadItemAdded {
        /// The item's initial state.
        item: ThreadItem,
    },
    /// A change to a streamed item.
    #[serde(rename = "thread.item.updated")]
    ThreadItemUpdated {
        /// The item it applies to.
        item_id: ItemId,
        /// The change.
        update: ThreadItemUpdate,
    },
    /// An item in its final state (stored before the event).
    #[serde(rename = "thread.item.done")]
    ThreadItemDone {
        /// The complete item.
        item: ThreadItem,
    },
    /// An item was deleted.
    #[serde(rename = "thread.item.removed")]
    ThreadItemRemoved {
        /// The deleted item's id.
        item_id: ItemId,
    },
    /// An item was replaced (upserted) in place.
    #[serde(rename = "thread.item.replaced")]
    ThreadItemReplaced {
        /// The new item.
        item: ThreadItem,
    },
    /// Options for this response, first event of every pipeline (§10.1).
    #[serde(rename = "stream_options")]
    StreamOptions {
        /// The options.
        stream_options: StreamOptions,
    },
    /// A transient status line.
    #[serde(rename = "progress_update")]
    ProgressUpdate {
        /// An icon name; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
        /// The status text.
        text: String,
    },
    /// A fire-and-forget client hook.
    #[serde(rename = "client_effect")]
    ClientEffect {
        /// The effect name.
        name: String,
        /// Free-form data; always emitted.
        #[serde(default)]
        data: Map<String, Value>,
    },
    /// An error (§12); the stream may end after it.
    #[serde(rename = "error")]
    Error(ErrorEvent),
    /// A message shown to the user.
    #[serde(rename = "notice")]
    Notice {
        /// Severity.
        level: NoticeLevel,
        /// Markdown text.
        message: String,
        /// A title; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
}

impl ThreadStreamEvent {
    /// The wire `type` string, e.g. `"thread.item.done"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ThreadCreated { .. } => "thread.created",
            Self::ThreadUpdated { .. } => "thread.updated",
            Self::ThreadItemAdded { .. } => "thread.item.added",
            Self::ThreadItemUpdated { .. } => "thread.item.updated",
            Self::ThreadItemDone { .. } => "thread.item.done",
            Self::ThreadItemRemoved { .. } => "thread.item.removed",
            Self::ThreadItemReplaced { .. } => "thread.item.replaced",
            Self::StreamOptions { .. } => "stream_options",
            Self::ProgressUpdate { .. } => "progress_update",
            Self::ClientEffect { .. } => "client_effect",
            Self::Error(_) => "error",
            Self::Notice { .. } => "notice",
        }
    }

    /// The item carried by `added`, `done` and `replaced` events.
    pub fn item(&self) -> Option<&ThreadItem> {
        match self {
            Self::ThreadItemAdded { item }
            | Self::ThreadItemDone { item }
            | Self::ThreadItemReplaced { item } => Some(item),
            _ => None,
        }
    }

    /// The event as one SSE frame: `data: <compact JSON>\n\n` (§2.3).
    pub fn to_sse_frame(&self) -> String {
        let json = serde_json::to_string(self).expect("stream events always serialize");
        let mut frame = String::with_capacity(json.len() + 8);
        frame.push_str("data: ");
        frame.push_str(&json);
        frame.push_str("\n\n");
        frame
    }
}

/// `{"allow_cancel":true}`: whether the client may show a stop button.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Whether the client may cancel the response.
    pub allow_cancel: bool,
}

/// The fields of an `error` event (§6, §10.5, §12).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// `"stream.error"`, `"custom"` (the default) or another code.
    #[serde(default = "default_error_code")]
    pub code: String,
    /// Text shown to the user verbatim; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether the client offers a retry; always emitted.
    #[serde(default)]
    pub allow_retry: bool,
}

impl ErrorEvent {
    /// The code of a failure inside the pipeline.
    pub const STREAM_ERROR: &'static str = "stream.error";
    /// The code of an integration-defined error.
    pub const CUSTOM: &'static str = "custom";

    /// `{"code":"stream.error","allow_retry":true}`: an unexpected failure.
    pub fn stream_error() -> Self {
        Self {
            code: Self::STREAM_ERROR.to_owned(),
            message: None,
            allow_retry: true,
        }
    }

    /// `{"code":"custom","message":...,"allow_retry":...}`.
    pub fn custom(message: impl Into<String>, allow_retry: bool) -> Self {
        Self {
            code: Self::CUSTOM.to_owned(),
            message: Some(message.into()),
            allow_retry,
        }
    }
}

impl Default for ErrorEvent {
    /// `{"code":"custom","allow_retry":false}`.
    fn default() -> Self {
        Self {
            code: default_error_code(),
            message: None,
            allow_retry: false,
        }
    }
}

fn default_error_code() -> String {
    ErrorEvent::CUSTOM.to_owned()
}

/// Severity of a `notice` event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    /// Informational.
    Info,
    /// A warning.
    Warning,
    /// An error-level notice.
    Danger,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_defaults() {
        let e: ThreadStreamEvent = serde_json::from_str(r#"{"type":"error"}"#).unwrap();
        assert_eq!(e, ThreadStreamEvent::Error(ErrorEvent::default()));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"error","code":"custom","allow_retry":false}"#
        );
        assert_eq!(
            ThreadStreamEvent::Error(ErrorEvent::stream_error()).to_sse_frame(),
            "data: {\"type\":\"error\",\"code\":\"stream.error\",\"allow_retry\":true}\n\n"
        );
    }

    #[test]
    fn client_effect_data_always_emitted() {
        let e: ThreadStreamEvent =
            serde_json::from_str(r#"{"type":"client_effect","name":"refresh"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"client_effect","name":"refresh","data":{}}"#
        );
    }

    #[test]
    fn unknown_event_type_is_rejected() {
        assert!(serde_json::from_str::<ThreadStreamEvent>(r#"{"type":"thread.deleted"}"#).is_err());
    }
}
