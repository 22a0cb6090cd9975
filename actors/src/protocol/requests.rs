//! Request bodies (§2.1, §2.2, §9) and their parser.
//!
//! A body is `{"metadata":{...},"type":"...","params":{...}}`.
//! [`ChatKitRequest::parse`] reads it in two steps, so that a client gets
//! a precise error: first the envelope (valid JSON, an object, a string
//! `type` that names one of the 16 request types, an object `params`),
//! then the params of that type.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::content::UserMessageInput;
use super::items::StructuredInputSubmission;
use super::widgets::Action;
use crate::ids::{ItemId, ThreadId};

/// Page size when a listing's `limit` is absent, null or not positive
/// (§11.3).
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// The 16 request types, streaming ones first (§2.2).
pub const REQUEST_TYPES: [&str; 16] = [
    "threads.create",
    "threads.add_user_message",
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "threads.retry_after_item",
    "threads.custom_action",
    "threads.get_by_id",
    "threads.list",
    "threads.update",
    "threads.delete",
    "threads.sync_custom_action",
    "items.list",
    "items.feedback",
    "attachments.create",
    "attachments.delete",
    "input.transcribe",
];

/// A request body: client `metadata` (never read by the server, `{}` by
/// default) and the [`Request`] itself, serialized as
/// `{"metadata":{},"type":...,"params":{...}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatKitRequest {
    /// Arbitrary client metadata; always emitted.
    pub metadata: Map<String, Value>,
    /// The request type and its params.
    #[serde(flatten)]
    pub request: Request,
}

impl ChatKitRequest {
    /// Wraps a request with empty metadata.
    pub fn new(request: Request) -> Self {
        Self {
            metadata: Map::new(),
            request,
        }
    }

    /// Parses a raw request body. Errors carry a code for the 400 body:
    /// `invalid_json` (not JSON), `unknown_request_type` (a `type` that is
    /// not one of [`REQUEST_TYPES`]), `invalid_request` (anything else:
    /// not an object, missing or non-string `type`, missing or non-object
    /// `params`, non-object `metadata`, params that do not validate).
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| RequestError {
            code: RequestError::INVALID_JSON,
            message: format!("request body is not valid JSON: {e}"),
        })?;
        Self::from_value(value)
    }

    /// Like [`ChatKitRequest::parse`], from an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self, RequestError> {
        let Value::Object(mut body) = value else {
            return Err(RequestError::invalid("request body must be a JSON object"));
        };
        let request = Request::from_envelope(&mut body)?;
        let metadata = match body.remove("metadata") {
            None => Map::new(),
            Some(Value::Object(metadata)) => metadata,
            Some(other) => {
                return Err(RequestError::invalid(format!(
                    "`metadata` must be an object, got {}",
                    json_kind(&other)
                )));
            }
        };
        Ok(Self { metadata, request })
    }
}

impl<'de> Deserialize<'de> for ChatKitRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}

/// A request type with its params (§2.2, §9). Serialized adjacently
/// tagged: `"type":"threads.create","params":{...}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "params")]
pub enum Request {
    /// `threads.create` (streaming, §9.1).
    #[serde(rename = "threads.create")]
    ThreadsCreate(ThreadsCreateParams),
    /// `threads.add_user_message` (streaming, §9.2).
    #[serde(rename = "threads.add_user_message")]
    ThreadsAddUserMessage(ThreadsAddUserMessageParams),
    /// `threads.add_client_tool_output` (streaming, §9.3).
    #[serde(rename = "threads.add_client_tool_output")]
    ThreadsAddClientToolOutput(ThreadsAddClientToolOutputParams),
    /// `threads.add_structured_input` (streaming, §9.4).
    #[serde(rename = "threads.add_structured_input")]
    ThreadsAddStructuredInput(ThreadsAddStructuredInputParams),
    /// `threads.retry_after_item` (streaming, §9.5).
    #[serde(rename = "threads.retry_after_item")]
    ThreadsRetryAfterItem(ThreadsRetryAfterItemParams),
    /// `threads.custom_action` (streaming, §9.6).
    #[serde(rename = "threads.custom_action")]
    ThreadsCustomAction(CustomActionParams),
    /// `threads.sync_custom_action` (JSON, §9.7).
    #[serde(rename = "threads.sync_custom_action")]
    ThreadsSyncCustomAction(CustomActionParams),
    /// `threads.get_by_id` (JSON, §9.8).
    #[serde(rename = "threads.get_by_id")]
    ThreadsGetById(ThreadIdParams),
    /// `threads.list` (JSON, §9.9).
    #[serde(rename = "threads.list")]
    ThreadsList(ThreadsListParams),
    /// `items.list` (JSON, §9.10).
    #[serde(rename = "items.list")]
    ItemsList(ItemsListParams),
    /// `items.feedback` (JSON, §9.11).
    #[serde(rename = "items.feedback")]
    ItemsFeedback(ItemsFeedbackParams),
    /// `attachments.create` (JSON, §9.12).
    #[serde(rename = "attachments.create")]
    AttachmentsCreate(AttachmentsCreateParams),
    /// `attachments.delete` (JSON, §9.13).
    #[serde(rename = "attachments.delete")]
    AttachmentsDelete(AttachmentsDeleteParams),
    /// `input.transcribe` (JSON, §9.14).
    #[serde(rename = "input.transcribe")]
    InputTranscribe(InputTranscribeParams),
    /// `threads.update` (JSON, §9.15).
    #[serde(rename = "threads.update")]
    ThreadsUpdate(ThreadsUpdateParams),
    /// `threads.delete` (JSON, §9.16).
    #[serde(rename = "threads.delete")]
    ThreadsDelete(ThreadIdParams),
}

impl Request {
    /// The wire `type` string, e.g. `"threads.create"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ThreadsCreate(_) => "threads.create",
            Self::ThreadsAddUserMessage(_) => "threads.add_user_message",
            Self::ThreadsAddClientToolOutput(_) => "threads.add_client_tool_output",
            Self::ThreadsAddStructuredInput(_) => "threads.add_structured_input",
            Self::ThreadsRetryAfterItem(_) => "threads.retry_after_item",
            Self::ThreadsCustomAction(_) => "threads.custom_action",
            Self::ThreadsSyncCustomAction(_) => "threads.sync_custom_action",
            Self::ThreadsGetById(_) => "threads.get_by_id",
            Self::ThreadsList(_) => "threads.list",
            Self::ItemsList(_) => "items.list",
            Self::ItemsFeedback(_) => "items.feedback",
            Self::AttachmentsCreate(_) => "attachments.create",
            Self::AttachmentsDelete(_) => "attachments.delete",
            Self::InputTranscribe(_) => "input.transcribe",
            Self::ThreadsUpdate(_) => "threads.update",
            Self::ThreadsDelete(_) => "threads.delete",
        }
    }

    /// True for the six request types answered with an SSE stream.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::ThreadsCreate(_)
                | Self::ThreadsAddUserMessage(_)
                | Self::ThreadsAddClientToolOutput(_)
                | Self::ThreadsAddStructuredInput(_)
                | Self::ThreadsRetryAfterItem(_)
                | Self::ThreadsCustomAction(_)
        )
    }

    /// The thread the request names, if any (`threads.create`,
    /// `threads.list` and the attachment and transcription requests name
    /// none).
    pub fn thread_id(&self) -> Option<&ThreadId> {
        match self {
            Self::ThreadsAddUserMessage(p) => Some(&p.thread_id),
            Self::ThreadsAddClientToolOutput(p) => Some(&p.thread_id),
            Self::ThreadsAddStructuredInput(p) => Some(&p.thread_id),
            Self::ThreadsRetryAfterItem(p) => Some(&p.thread_id),
            Self::ThreadsCustomAction(p) | Self::ThreadsSyncCustomAction(p) => Some(&p.thread_id),
            Self::ThreadsGetById(p) | Self::ThreadsDelete(p) => Some(&p.thread_id),
            Self::ItemsList(p) => Some(&p.thread_id),
            Self::ItemsFeedback(p) => Some(&p.thread_id),
            Self::ThreadsUpdate(p) => Some(&p.thread_id),
            Self::ThreadsCreate(_)
            | Self::ThreadsList(_)
            | Self::AttachmentsCreate(_)
            | Self::AttachmentsDelete(_)
            | Self::InputTranscribe(_) => None,
        }
    }

    /// Builds a request from its `type` and its `params`. Errors:
    /// `unknown_request_type`, or `invalid_request` naming the type and
    /// what is wrong with the params.
    pub fn from_parts(type_name: &str, params: Value) -> Result<Self, RequestError> {
        fn read<T: serde::de::DeserializeOwned>(
            type_name: &str,
            params: Value,
        ) -> Result<T, RequestError> {
            serde_json::from_value(params)
                .map_err(|e| RequestError::invalid(format!("invalid params for {type_name}: {e}")))
        }
        let p = params;
        let t = type_name;
        Ok(match type_name {
            "threads.create" => Self::ThreadsCreate(read(t, p)?),
            "threads.add_user_message" => Self::ThreadsAddUserMessage(read(t, p)?),
            "threads.add_client_tool_output" => Self::ThreadsAddClientToolOutput(read(t, p)?),
            "threads.add_structured_input" => Self::ThreadsAddStructuredInput(read(t, p)?),
            "threads.retry_after_item" => Self::ThreadsRetryAfterItem(read(t, p)?),
            "threads.custom_action" => Self::ThreadsCustomAction(read(t, p)?),
            "threads.sync_custom_action" => Self::ThreadsSyncCustomAction(read(t, p)?),
            "threads.get_by_id" => Self::ThreadsGetById(read(t, p)?),
            "threads.list" => Self::ThreadsList(read(t, p)?),
            "items.list" => Self::ItemsList(read(t, p)?),
            "items.feedback" => Self::ItemsFeedback(read(t, p)?),
            "attachments.create" => Self::AttachmentsCreate(read(t, p)?),
            "attachments.delete" => Self::AttachmentsDelete(read(t, p)?),
            "input.transcribe" => Self::InputTranscribe(read(t, p)?),
            "threads.update" => Self::ThreadsUpdate(read(t, p)?),
            "threads.delete" => Self::ThreadsDelete(read(t, p)?),
            other => return Err(RequestError::unknown_type(other)),
        })
    }

    /// Takes `type` and `params` out of a request object and checks them.
    fn from_envelope(body: &mut Map<String, Value>) -> Result<Self, RequestError> {
        let type_name = match body.remove("type") {
            Some(Value::String(type_name)) => type_name,
            None => return Err(RequestError::invalid("missing field `type`")),
            Some(other) => {
                return Err(RequestError::invalid(format!(
                    "`type` must be a string, got {}",
                    json_kind(&other)
                )));
            }
        };
        if !REQUEST_TYPES.contains(&type_name.as_str()) {
            return Err(RequestError::unknown_type(&type_name));
        }
        let params = match body.remove("params") {
            Some(params @ Value::Object(_)) => params,
            None => {
                return Err(RequestError::invalid(format!(
                    "missing field `params` for {type_name} (send {{}} when there are none)"
                )));
            }
            Some(other) => {
                return Err(RequestError::invalid(format!(
                    "`params` must be an object, got {}",
                    json_kind(&other)
                )));
            }
        };
        Self::from_parts(&type_name, params)
    }
}

impl<'de> Deserialize<'de> for Request {
    /// Reads `{"type":...,"params":{...}}` (other keys ignored).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::Object(mut body) => {
                Self::from_envelope(&mut body).map_err(serde::de::Error::custom)
            }
            other => Err(serde::de::Error::custom(format!(
                "a request must be an object, got {}",
                json_kind(&other)
            ))),
        }
    }
}

/// A request that could not be parsed: a machine-readable `code` and a
/// message for a developer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RequestError {
    /// One of [`RequestError::INVALID_JSON`],
    /// [`RequestError::INVALID_REQUEST`],
    /// [`RequestError::UNKNOWN_REQUEST_TYPE`].
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl RequestError {
    /// The body is not JSON.
    pub const INVALID_JSON: &'static str = "invalid_json";
    /// The body is JSON but not a valid request.
    pub const INVALID_REQUEST: &'static str = "invalid_request";
    /// The `type` is not one of the 16 request types.
    pub const UNKNOWN_REQUEST_TYPE: &'static str = "unknown_request_type";

    fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: Self::INVALID_REQUEST,
            message: message.into(),
        }
    }

    fn unknown_type(type_name: &str) -> Self {
        Self {
            code: Self::UNKNOWN_REQUEST_TYPE,
            message: format!(
                "unknown request type `{type_name}`; expected one of: {}",
                REQUEST_TYPES.join(", ")
            ),
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Sort order of a listing: `"asc"` or `"desc"` (the default, newest
/// first). Other spellings (`"DESC"`) are rejected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    #[default]
    Desc,
}

/// The kind of `items.feedback`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackKind {
    /// Thumbs up.
    Positive,
    /// Thumbs down.
    Negative,
}

impl FeedbackKind {
    /// The wire (and stored) name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Positive => "positive",
            FeedbackKind::Negative => "negative",
        }
    }
}

/// Params of `threads.create` (§9.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadsCreateParams {
    /// The first user message.
    pub input: UserMessageInput,
}

/// Params of `threads.add_user_message` (§9.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadsAddUserMessageParams {
    /// The user message.
    pub input: UserMessageInput,
    /// The thread.
    pub thread_id: ThreadId,
}

/// Params of `threads.add_client_tool_output` (§9.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadsAddClientToolOutputParams {
    /// The thread.
    pub thread_id: ThreadId,
    /// The tool's result: the key is required, the value may be `null`
    /// (always emitted).
    pub result: Value,
}

/// Params of `threads.add_structured_input` (§9.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadsAddStructuredInputParams {
    /// The thread.
    pub thread_id: ThreadId,
    /// The `structured_input` item.
    pub item_id: ItemId,
    /// The answers.
    pub input: StructuredInputSubmission,
}

/// Params of `threads.retry_after_item` (§9.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadsRetryAfterItemParams {
    /// The thread.
    pub thread_id: ThreadId,
    /// The user message to answer again.
    pub item_id: ItemId,
}

/// Params of `threads.custom_action` and `threads.sync_custom_action`
/// (§9.6, §9.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomActionParams {
    /// The thread.
    pub thread_id: ThreadId,
    /// The widget item that sent the action; omitted when `None`. An empty
    /// string counts as absent (§9.6), see
    /// [`CustomActionParams::sender_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<ItemId>,
    /// The action.
    pub action: Action,
}

impl CustomActionParams {
    /// The sender item id, `None` when absent or empty.
    pub fn sender_id(&self) -> Option<&ItemId> {
        self.item_id.as_ref().filter(|id| !id.as_str().is_empty())
    }
}

/// Params naming only a thread: `threads.get_by_id`, `threads.delete`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadIdParams {
    /// The thread.
    pub thread_id: ThreadId,
}

/// Params of `threads.list` (§9.9).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadsListParams {
    /// Page size; omitted when `None`. See [`ThreadsListParams::page_size`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Sort order; always emitted.
    #[serde(default)]
    pub order: Order,
    /// Cursor: id of the last thread of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl ThreadsListParams {
    /// `limit`, or [`DEFAULT_PAGE_SIZE`] when it is absent, zero or
    /// negative (§11.3). No maximum is applied here.
    pub fn page_size(&self) -> usize {
        page_size(self.limit)
    }
}

/// Params of `items.list` (§9.10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsListParams {
    /// The thread.
    pub thread_id: ThreadId,
    /// Page size; omitted when `None`. See [`ItemsListParams::page_size`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Sort order; always emitted.
    #[serde(default)]
    pub order: Order,
    /// Cursor: id of the last item of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl ItemsListParams {
    /// `limit`, or [`DEFAULT_PAGE_SIZE`] when it is absent, zero or
    /// negative (§11.3). No maximum is applied here.
    pub fn page_size(&self) -> usize {
        page_size(self.limit)
    }
}

fn page_size(limit: Option<i64>) -> usize {
    match limit {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => DEFAULT_PAGE_SIZE,
    }
}

/// Params of `items.feedback` (§9.11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsFeedbackParams {
    /// The thread.
    pub thread_id: ThreadId,
    /// The rated items (may be empty).
    pub item_ids: Vec<ItemId>,
    /// Positive or negative.
    pub kind: FeedbackKind,
}

/// Params of `attachments.create` (§9.12).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentsCreateParams {
    /// The file name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// The MIME type.
    pub mime_type: String,
}

/// Params of `attachments.delete` (§9.13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentsDeleteParams {
    /// The attachment.
    pub attachment_id: String,
}

/// Params of `input.transcribe` (§9.14).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTranscribeParams {
    /// The audio, standard base64.
    pub audio_base64: String,
    /// The raw MIME type, e.g. `audio/webm;codecs=opus`.
    pub mime_type: String,
}

impl InputTranscribeParams {
    /// The media type: `mime_type` up to the first `;`, untrimmed (§9.14).
    pub fn media_type(&self) -> &str {
        self.mime_type
            .split_once(';')
            .map_or(self.mime_type.as_str(), |(media, _)| media)
    }
}

/// Params of `threads.update` (§9.15).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadsUpdateParams {
    /// The thread.
    pub thread_id: ThreadId,
    /// The new title (required, non-null; may be empty).
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<ChatKitRequest, RequestError> {
        ChatKitRequest::parse(body.as_bytes())
    }

    fn code(body: &str) -> &'static str {
        parse(body).unwrap_err().code
    }

    #[test]
    fn bad_json() {
        let err = parse("{\"type\":").unwrap_err();
        assert_eq!(err.code, RequestError::INVALID_JSON);
        assert_eq!(code(""), RequestError::INVALID_JSON);
    }

    #[test]
    fn envelope_errors() {
        assert_eq!(code("[]"), RequestError::INVALID_REQUEST);
        assert_eq!(code(r#"{"params":{}}"#), RequestError::INVALID_REQUEST);
        assert_eq!(
            code(r#"{"type":5,"params":{}}"#),
            RequestError::INVALID_REQUEST
        );
        let missing = parse(r#"{"type":"threads.list"}"#).unwrap_err();
        assert_eq!(missing.code, RequestError::INVALID_REQUEST);
        assert!(missing.message.contains("params"), "{}", missing.message);
        assert_eq!(
            code(r#"{"type":"threads.list","params":null}"#),
            RequestError::INVALID_REQUEST
        );
        assert_eq!(
            code(r#"{"type":"threads.get_by_id","params":["thr_1"]}"#),
            RequestError::INVALID_REQUEST
        );
        assert_eq!(
            code(r#"{"metadata":null,"type":"threads.list","params":{}}"#),
            RequestError::INVALID_REQUEST
        );
    }

    #[test]
    fn unknown_type() {
        let err = parse(r#"{"type":"threads.explode","params":{}}"#).unwrap_err();
        assert_eq!(err.code, RequestError::UNKNOWN_REQUEST_TYPE);
        assert!(err.message.contains("`threads.explode`"), "{}", err.message);
        assert!(err.message.contains("unknown"), "{}", err.message);
        // The type is checked before the params.
        assert_eq!(
            code(r#"{"type":"nope"}"#),
            RequestError::UNKNOWN_REQUEST_TYPE
        );
    }

    #[test]
    fn params_errors_name_the_type_and_field() {
        let err = parse(r#"{"type":"threads.create","params":{}}"#).unwrap_err();
        assert_eq!(err.code, RequestError::INVALID_REQUEST);
        assert_eq!(
            err.message,
            "invalid params for threads.create: missing field `input`"
        );
        let null_attachments = r#"{"type":"threads.create","params":{"input":{"content":[],"attachments":null,"inference_options":{}}}}"#;
        assert_eq!(code(null_attachments), RequestError::INVALID_REQUEST);
        let no_attachments =
            r#"{"type":"threads.create","params":{"input":{"content":[],"inference_options":{}}}}"#;
        assert_eq!(code(no_attachments), RequestError::INVALID_REQUEST);
        let null_options = r#"{"type":"threads.create","params":{"input":{"content":[],"attachments":[],"inference_options":null}}}"#;
        assert_eq!(code(null_options), RequestError::INVALID_REQUEST);
        assert_eq!(
            code(r#"{"type":"threads.update","params":{"thread_id":"t","title":null}}"#),
            RequestError::INVALID_REQUEST
        );
    }

    #[test]
    fn order_is_lowercase_and_defaults_to_desc() {
        let err = parse(r#"{"type":"threads.list","params":{"order":"DESC"}}"#).unwrap_err();
        assert_eq!(err.code, RequestError::INVALID_REQUEST);
        assert!(err.message.starts_with("invalid params for threads.list:"));
        assert_eq!(
            code(r#"{"type":"threads.list","params":{"order":null}}"#),
            RequestError::INVALID_REQUEST
        );
        assert_eq!(
            code(r#"{"type":"threads.list","params":{"limit":5.5}}"#),
            RequestError::INVALID_REQUEST
        );
        let req =
            parse(r#"{"type":"threads.list","params":{"limit":null,"after":null,"extra":1}}"#)
                .unwrap();
        let Request::ThreadsList(params) = &req.request else {
            panic!("wrong variant: {req:?}");
        };
        assert_eq!(params, &ThreadsListParams::default());
        assert_eq!(params.page_size(), DEFAULT_PAGE_SIZE);
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"metadata":{},"type":"threads.list","params":{"order":"desc"}}"#
        );
    }

    #[test]
    fn page_sizes() {
        let with = |limit| ThreadsListParams {
            limit,
            ..Default::default()
        };
        assert_eq!(with(Some(0)).page_size(), 20);
        assert_eq!(with(Some(-3)).page_size(), 20);
        assert_eq!(with(Some(2)).page_size(), 2);
    }

    #[test]
    fn tool_output_result_is_required_but_may_be_null() {
        let missing =
            parse(r#"{"type":"threads.add_client_tool_output","params":{"thread_id":"t"}}"#)
                .unwrap_err();
        assert_eq!(missing.code, RequestError::INVALID_REQUEST);
        assert!(
            missing.message.contains("missing field `result`"),
            "{}",
            missing.message
        );
        let null = parse(
            r#"{"type":"threads.add_client_tool_output","params":{"thread_id":"t","result":null}}"#,
        )
        .unwrap();
        assert_eq!(
            null.request,
            Request::ThreadsAddClientToolOutput(ThreadsAddClientToolOutputParams {
                thread_id: "t".into(),
                result: Value::Null,
            })
        );
        assert_eq!(
            serde_json::to_string(&null).unwrap(),
            r#"{"metadata":{},"type":"threads.add_client_tool_output","params":{"thread_id":"t","result":null}}"#
        );
    }

    #[test]
    fn custom_action_item_id_is_optional() {
        let req = parse(
            r#"{"type":"threads.custom_action","params":{"thread_id":"t","item_id":"","action":{"type":"go"}}}"#,
        )
        .unwrap();
        let Request::ThreadsCustomAction(params) = &req.request else {
            panic!("wrong variant");
        };
        assert_eq!(params.sender_id(), None);
        assert!(req.request.is_streaming());
        assert_eq!(req.request.thread_id().map(ThreadId::as_str), Some("t"));
        assert_eq!(
            code(r#"{"type":"threads.custom_action","params":{"thread_id":"t","action":{}}}"#),
            RequestError::INVALID_REQUEST
        );
    }

    #[test]
    fn type_names_match_the_wire_and_the_list() {
        let samples = [
            (
                "threads.create",
                r#"{"input":{"content":[],"attachments":[],"inference_options":{}}}"#,
            ),
            (
                "threads.add_user_message",
                r#"{"input":{"content":[],"attachments":[],"inference_options":{}},"thread_id":"t"}"#,
            ),
            (
                "threads.add_client_tool_output",
                r#"{"thread_id":"t","result":1}"#,
            ),
            (
                "threads.add_structured_input",
                r#"{"thread_id":"t","item_id":"i","input":{}}"#,
            ),
            (
                "threads.retry_after_item",
                r#"{"thread_id":"t","item_id":"i"}"#,
            ),
            (
                "threads.custom_action",
                r#"{"thread_id":"t","action":{"type":"a"}}"#,
            ),
            ("threads.get_by_id", r#"{"thread_id":"t"}"#),
            ("threads.list", r#"{}"#),
            ("threads.update", r#"{"thread_id":"t","title":""}"#),
            ("threads.delete", r#"{"thread_id":"t"}"#),
            (
                "threads.sync_custom_action",
                r#"{"thread_id":"t","action":{"type":"a"}}"#,
            ),
            ("items.list", r#"{"thread_id":"t"}"#),
            (
                "items.feedback",
                r#"{"thread_id":"t","item_ids":[],"kind":"negative"}"#,
            ),
            (
                "attachments.create",
                r#"{"name":"a","size":1,"mime_type":"text/plain"}"#,
            ),
            ("attachments.delete", r#"{"attachment_id":"a"}"#),
            (
                "input.transcribe",
                r#"{"audio_base64":"","mime_type":"audio/webm;codecs=opus"}"#,
            ),
        ];
        assert_eq!(samples.len(), REQUEST_TYPES.len());
        for (i, (type_name, params)) in samples.iter().enumerate() {
            assert_eq!(REQUEST_TYPES[i], *type_name);
            let body = format!(r#"{{"type":"{type_name}","params":{params}}}"#);
            let req = parse(&body).unwrap_or_else(|e| panic!("{type_name}: {e}"));
            assert_eq!(req.request.type_name(), *type_name);
            assert_eq!(req.request.is_streaming(), i < 6, "{type_name}");
            let out: Value = serde_json::to_value(&req).unwrap();
            assert_eq!(out["type"], *type_name);
            let again: ChatKitRequest = serde_json::from_value(out).unwrap();
            assert_eq!(again, req);
        }
    }

    #[test]
    fn media_type_is_the_part_before_the_semicolon() {
        let p = InputTranscribeParams {
            audio_base64: String::new(),
            mime_type: "audio/webm;codecs=opus".into(),
        };
        assert_eq!(p.media_type(), "audio/webm");
    }
}
