//! What a model call leaves for the agent loop ([`CallOutcome`]), and
//! the provider-form helpers behind it: terminal states, function calls,
//! placeholder ids, client tool call items.

use serde_json::{Map, Value};

use super::idmap::is_placeholder;
use crate::ids::{IdKind, ItemId, ThreadId};
use crate::protocol::{
    ClientToolCallItem, ClientToolCallStatus, ItemKind, ThreadItem, ThreadStreamEvent,
};
use crate::time::Timestamp;

/// A function call the model made, in the provider's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionCall {
    /// The provider's call id (`call_…`), to answer with a
    /// `function_call_output`. Synthesized (`call_<uuid>`) when the
    /// provider sent none, and then also written into the output item.
    pub call_id: String,
    /// The function name.
    pub name: String,
    /// The arguments as the model wrote them (normally a JSON object).
    pub arguments: String,
}

/// How a model call's stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Terminal {
    /// `response.completed`: success.
    Completed,
    /// `response.incomplete`: the answer was cut short.
    Incomplete {
        /// `incomplete_details.reason` (`max_output_tokens`,
        /// `content_filter`, …), or `unknown`.
        reason: String,
    },
    /// `response.failed`.
    Failed {
        /// `response.error.code`.
        code: Option<String>,
        /// `response.error.message`.
        message: Option<String>,
    },
    /// A stream-level `error` event, flat or nested (§1.7).
    Error {
        /// `code`, else `error.code`, else `error.type`.
        code: Option<String>,
        /// `message`, else `error.message`.
        message: Option<String>,
    },
    /// The body ended without a terminal event.
    Eof,
}

impl Terminal {
    /// Whether the call succeeded (`response.completed`).
    pub fn is_success(&self) -> bool {
        matches!(self, Terminal::Completed)
    }
}

/// What a finished model call leaves for the agent loop.
#[derive(Clone, Debug, PartialEq)]
pub struct CallOutcome {
    /// How the stream ended.
    pub terminal: Terminal,
    /// The call's output items in provider form and output order, for
    /// replay to the provider within the run: as received in
    /// `output_item.done` (or `response.completed.output` when no
    /// `output_item.done` came), without placeholder ids (`__fake_id__`,
    /// empty). Messages and function calls whose `done` never came are
    /// rebuilt from what was streamed; an empty message is left out.
    pub output_items: Vec<Value>,
    /// The function calls, in output order.
    pub function_calls: Vec<FunctionCall>,
    /// `response.usage` of the terminal event, when present.
    pub usage: Option<Value>,
    /// ChatKit events to emit now, before anything else: the ends of
    /// assistant messages that were still open (`content_part.done` +
    /// `thread.item.done` with the text so far, or `thread.item.removed`
    /// when it had no text).
    pub events: Vec<ThreadStreamEvent>,
    /// Messages finished from their streamed text by this call's end
    /// (a partial answer when `terminal` is not a success).
    pub closed: Vec<ItemId>,
    /// Messages removed by this call's end because they had no text.
    pub removed: Vec<ItemId>,
    /// The provider's response id (`resp_…`), unless a placeholder.
    pub response_id: Option<String>,
}

impl Terminal {
    /// `response.incomplete`: `incomplete_details.reason`, or `unknown`.
    pub(super) fn incomplete(response: &Value) -> Self {
        let reason = response
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str)
            .unwrap_or("unknown");
        Terminal::Incomplete {
            reason: reason.to_owned(),
        }
    }

    /// `response.failed`: `response.error.{code,message}`.
    pub(super) fn failed(response: &Value) -> Self {
        let error = response.get("error").unwrap_or(&Value::Null);
        Terminal::Failed {
            code: text_field(error, "code"),
            message: text_field(error, "message"),
        }
    }

    /// An `error` event, either shape (§1.7): each field at the top level
    /// first, then under `error` (`type` standing in for a missing code).
    pub(super) fn error(
        code: Option<String>,
        message: Option<String>,
        nested: Option<Value>,
    ) -> Self {
        let nested = nested.unwrap_or(Value::Null);
        Terminal::Error {
            code: code
                .filter(|c| !c.is_empty())
                .or_else(|| text_field(&nested, "code"))
                .or_else(|| text_field(&nested, "type")),
            message: message
                .filter(|m| !m.is_empty())
                .or_else(|| text_field(&nested, "message")),
        }
    }
}

/// Drops a placeholder `id` (`__fake_id__`, empty, null) from an item.
pub(super) fn strip_placeholder_id(item: &mut Value) {
    if let Some(map) = item.as_object_mut()
        && map
            .get("id")
            .is_some_and(|id| id.is_null() || id.as_str().is_some_and(is_placeholder))
    {
        map.remove("id");
    }
}

/// The call of a `function_call` item; a missing call id is synthesized
/// and written into the item, so that the replayed call and its output
/// agree.
pub(super) fn function_call(item: &mut Value) -> FunctionCall {
    let mut call_id = text_field(item, "call_id").unwrap_or_default();
    if call_id.is_empty() {
        call_id = synthesize_call_id();
        item["call_id"] = call_id.clone().into();
    }
    FunctionCall {
        call_id,
        name: text_field(item, "name").unwrap_or_default(),
        arguments: text_field(item, "arguments").unwrap_or_default(),
    }
}

pub(super) fn synthesize_call_id() -> String {
    format!("call_{}", uuid::Uuid::now_v7().simple())
}

/// A non-empty string field.
fn text_field(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Parses a function call's arguments for a ChatKit item: a JSON object
/// as is; empty, blank or `null` → `{}`; anything else (invalid JSON, or
/// JSON that is not an object) → `{"raw": <the string>}`.
pub fn parse_arguments(arguments: &str) -> Map<String, Value> {
    if arguments.trim().is_empty() {
        return Map::new();
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        _ => Map::from_iter([("raw".to_owned(), Value::String(arguments.to_owned()))]),
    }
}

/// The pending `client_tool_call` item for a call to a client tool
/// (§3.4, §6.4 rule 7): a fresh `tc_` id, the provider's `call_id`
/// (synthesized when empty), the name, the arguments parsed with
/// [`parse_arguments`], status `pending`, no output.
pub fn client_tool_call_item(thread_id: &ThreadId, call: &FunctionCall) -> ThreadItem {
    let call_id = if call.call_id.trim().is_empty() {
        synthesize_call_id()
    } else {
        call.call_id.clone()
    };
    ThreadItem::new(
        ItemId::generate(IdKind::ToolCall),
        thread_id.clone(),
        Timestamp::now(),
        ItemKind::ClientToolCall(ClientToolCallItem {
            status: ClientToolCallStatus::Pending,
            call_id,
            name: call.name.clone(),
            arguments: parse_arguments(&call.arguments),
            output: None,
        }),
    )
}
