//! Bodies of the non-streaming responses that are not threads, pages or
//! attachments (§2.4, §9).

use serde::{Deserialize, Serialize};

use super::items::ThreadItem;

/// The literal `{}` body of `items.feedback`, `attachments.delete` and
/// `threads.delete`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyResponse {}

/// The `input.transcribe` result: `{"text":"..."}`, the text to put in
/// the composer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptionResult {
    /// The transcribed text.
    pub text: String,
}

/// The `threads.sync_custom_action` result (§9.7): `{"updated_item":...}`,
/// or `{}` when there is none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncCustomActionResponse {
    /// The sender item's new state; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_item: Option<ThreadItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_bodies() {
        assert_eq!(serde_json::to_string(&EmptyResponse {}).unwrap(), "{}");
        assert_eq!(
            serde_json::to_string(&SyncCustomActionResponse::default()).unwrap(),
            "{}"
        );
        let parsed: SyncCustomActionResponse =
            serde_json::from_str(r#"{"updated_item":null}"#).unwrap();
        assert_eq!(parsed, SyncCustomActionResponse::default());
    }
}
