//! The Chat Completions wire format (MODEL_STREAMING.md §2): the request
//! body of `POST {base_url}/chat/completions`, the conversion of the
//! neutral conversation (Responses input items, [`super::input`]) into chat
//! messages, and [`ChunkAccumulator`], which turns the chunk stream into
//! Responses-shaped events so one converter handles both providers (§2.5).
//! Pure functions; the HTTP side is in `http.rs`.

use serde_json::{Map, Value, json};

use super::body::{self, BodyParts};
use super::convert::FAKE_ID;
use super::{FunctionTool, ModelError, ProviderSettings, ResponsesEvent};

/// The body of one streamed model call (§2.1).
///
/// Keys in order: `model` (`model_override` or the configured model),
/// `messages` ([`to_messages`] with the configured instructions), `tools`
/// (nested shape; omitted when there are none), `stream: true`,
/// `stream_options: {"include_usage": true}`, then `temperature`, `top_p`
/// and `max_tokens` when set, then `settings.extra_body` merged in (its
/// keys win; `null` removes a key, e.g. `"stream_options": null` for a
/// server that rejects it).
///
/// The token cap is sent as `max_tokens`, as the reference does: every
/// compatible server knows it, while `max_completion_tokens` is newer.
/// OpenAI's reasoning models want `max_completion_tokens`: configure it
/// through `extra_body` instead of `max_output_tokens`.
pub fn request_body(
    settings: &ProviderSettings,
    input: &[Value],
    tools: &[FunctionTool],
    model_override: Option<&str>,
) -> Value {
    let messages = to_messages(settings.instructions.as_deref(), input);
    let parts = BodyParts {
        conversation: vec![("messages", messages.into())],
        tools: tools.iter().map(tool).collect(),
        stream_fields: vec![("stream_options", json!({"include_usage": true}))],
        max_tokens_key: "max_tokens",
    };
    body::request_body(settings, model_override, parts)
}

/// Converts the conversation into Chat Completions messages (§2.1, §5.4).
///
/// - `instructions` (if non-empty) → a leading `system` message.
/// - `user` message → `{"role":"user","content":<text>}`, its text parts
///   joined with `\n`; a message with image or file parts keeps a parts
///   array instead (`text`, `image_url`, `file`).
/// - `system` / `developer` message → same role, text only.
/// - `assistant` message → `{"role":"assistant","content":<text>}`, its
///   `output_text` parts joined with `\n` (a refusal part → `refusal`).
/// - `function_call` items → `tool_calls` entries
///   (`{"id":call_id,"type":"function","function":{"name","arguments"}}`,
///   empty arguments → `"{}"`) of the assistant message right before them,
///   or of a new `{"role":"assistant","content":null}`. An assistant
///   message between calls and their outputs joins the same message.
/// - `function_call_output` → `{"role":"tool","tool_call_id","content"}`.
/// - `reasoning` and other items are dropped; item ids never appear.
///
/// The result is always a valid sequence: a tool call whose output does
/// not follow it is removed (and so is an assistant message left with
/// nothing to say), and a tool message that answers no call right before
/// it is dropped.
pub fn to_messages(instructions: Option<&str>, input: &[Value]) -> Vec<Value> {
    let mut messages = Vec::new();
    if let Some(instructions) = instructions.filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    // The assistant message that function calls (and, once it has calls,
    // assistant text) attach to; closed by any other message.
    let mut open: Option<usize> = None;
    for item in input {
        match item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message")
        {
            "message" => {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
                let content = item.get("content").unwrap_or(&Value::Null);
                match role {
                    "assistant" => {
                        let (text, refusal) = assistant_text(content);
                        match open {
                            Some(i) if messages[i].get("tool_calls").is_some() => {
                                append_assistant_text(&mut messages[i], text, refusal);
                            }
                            _ => {
                                let mut message = json!({"role": "assistant", "content": text});
                                if let Some(refusal) = refusal {
                                    message["refusal"] = refusal.into();
                                }
                                messages.push(message);
                                open = Some(messages.len() - 1);
                            }
                        }
                    }
                    "system" | "developer" => {
                        messages.push(json!({"role": role, "content": joined_text(content)}));
                        open = None;
                    }
                    _ => {
                        messages.push(json!({"role": "user", "content": user_content(content)}));
                        open = None;
                    }
                }
            }
            "function_call" => {
                let arguments = item.get("arguments").and_then(Value::as_str).unwrap_or("");
                let call = json!({
                    "id": str_field(item, "call_id"),
                    "type": "function",
                    "function": {
                        "name": str_field(item, "name"),
                        "arguments": if arguments.trim().is_empty() { "{}" } else { arguments },
                    },
                });
                let i = *open.get_or_insert_with(|| {
                    messages.push(json!({"role": "assistant", "content": null}));
                    messages.len() - 1
                });
                match messages[i]
                    .get_mut("tool_calls")
                    .and_then(Value::as_array_mut)
                {
                    Some(calls) => calls.push(call),
                    None => messages[i]["tool_calls"] = json!([call]),
                }
            }
            "function_call_output" => {
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": str_field(item, "call_id"),
                    "content": tool_output(item.get("output").unwrap_or(&Value::Null)),
                }));
                open = None;
            }
            _ => {}
        }
    }
    pair_tool_calls(messages)
}

/// Keeps only tool calls answered by the tool messages right after their
/// assistant message, and only tool messages answering one of them.
fn pair_tool_calls(messages: Vec<Value>) -> Vec<Value> {
    let is_tool = |m: &Value| m["role"] == "tool";
    let mut out = Vec::with_capacity(messages.len());
    let mut i = 0;
    while i < messages.len() {
        let mut message = messages[i].clone();
        i += 1;
        if is_tool(&message) {
            continue; // answers no call
        }
        let Some(calls) = message.get("tool_calls").and_then(Value::as_array).cloned() else {
            if !is_empty_assistant(&message) {
                out.push(message);
            }
            continue;
        };
        let start = i;
        while i < messages.len() && is_tool(&messages[i]) {
            i += 1;
        }
        let answers = &messages[start..i];
        let answered = |id: &Value| answers.iter().any(|a| &a["tool_call_id"] == id);
        let mut kept_calls: Vec<Value> = Vec::new();
        for call in calls {
            if answered(&call["id"]) && !kept_calls.iter().any(|k| k["id"] == call["id"]) {
                kept_calls.push(call);
            }
        }
        let mut kept_answers: Vec<&Value> = Vec::new();
        for answer in answers {
            let id = &answer["tool_call_id"];
            if kept_calls.iter().any(|c| &c["id"] == id)
                && !kept_answers.iter().any(|k| &k["tool_call_id"] == id)
            {
                kept_answers.push(answer);
            }
        }
        let object = message.as_object_mut().expect("messages are objects");
        if kept_calls.is_empty() {
            object.shift_remove("tool_calls");
            if !is_empty_assistant(&message) {
                out.push(message);
            }
        } else {
            object.insert("tool_calls".into(), kept_calls.into());
            out.push(message);
            out.extend(kept_answers.into_iter().cloned());
        }
    }
    out
}

/// An assistant message with no text, refusal or tool calls (which Chat
/// Completions rejects).
fn is_empty_assistant(message: &Value) -> bool {
    message["role"] == "assistant"
        && message["content"].is_null()
        && message.get("refusal").is_none()
        && message.get("tool_calls").is_none()
}

/// The text and refusal of an assistant message's content.
fn assistant_text(content: &Value) -> (Value, Option<String>) {
    let Some(parts) = content.as_array() else {
        return (content.as_str().map_or(Value::Null, Value::from), None);
    };
    let texts: Vec<&str> = parts
        .iter()
        .filter(|p| {
            matches!(
                p["type"].as_str(),
                Some("output_text" | "input_text" | "text")
            )
        })
        .filter_map(|p| p["text"].as_str())
        .collect();
    let refusals: Vec<&str> = parts
        .iter()
        .filter(|p| p["type"] == "refusal")
        .filter_map(|p| p["refusal"].as_str())
        .collect();
    let text = if texts.is_empty() {
        Value::Null
    } else {
        texts.join("\n").into()
    };
    let refusal = (!refusals.is_empty()).then(|| refusals.join("\n"));
    (text, refusal)
}

/// Adds an assistant message's text to the open assistant message.
fn append_assistant_text(message: &mut Value, text: Value, refusal: Option<String>) {
    if let Some(text) = text.as_str() {
        message["content"] = match message["content"].as_str() {
            Some(before) => format!("{before}\n{text}").into(),
            None => text.into(),
        };
    }
    if let Some(refusal) = refusal {
        message["refusal"] = match message.get("refusal").and_then(Value::as_str) {
            Some(before) => format!("{before}\n{refusal}").into(),
            None => refusal.into(),
        };
    }
}

/// The text parts of a content (string or parts), joined with `\n`.
fn joined_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// A user message's content: its text, or a parts array when it carries
/// images or files.
fn user_content(content: &Value) -> Value {
    let Some(parts) = content.as_array() else {
        return joined_text(content).into();
    };
    let media = |p: &Value| matches!(p["type"].as_str(), Some("input_image" | "input_file"));
    if !parts.iter().any(media) {
        return joined_text(content).into();
    }
    parts.iter().filter_map(user_part).collect()
}

/// One user content part in Chat Completions form (§2.1's table).
fn user_part(part: &Value) -> Option<Value> {
    match part["type"].as_str()? {
        "input_text" | "text" => Some(json!({"type": "text", "text": part["text"]})),
        "input_image" => {
            let url = part.get("image_url").and_then(Value::as_str)?;
            let detail = match part["detail"].as_str() {
                Some("original") => "high",
                Some(detail) => detail,
                None => "auto",
            };
            Some(json!({"type": "image_url", "image_url": {"url": url, "detail": detail}}))
        }
        "input_file" => {
            let mut file = Map::new();
            for key in ["file_data", "file_id", "filename"] {
                if let Some(value) = part.get(key).filter(|v| !v.is_null()) {
                    file.insert(key.into(), value.clone());
                }
            }
            Some(json!({"type": "file", "file": file}))
        }
        _ => None,
    }
}

/// A function call output as tool message text.
fn tool_output(output: &Value) -> String {
    match output {
        Value::String(text) => text.clone(),
        Value::Array(_) => joined_text(output),
        other => other.to_string(),
    }
}

fn str_field<'a>(item: &'a Value, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `{"type":"function","function":{"name","description","parameters","strict"}}`.
fn tool(tool: &FunctionTool) -> Value {
    json!({
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
            "strict": tool.strict,
        },
    })
}

/// Suffix LiteLLM appends to Gemini tool call ids; stripped like the
/// Agents SDK does (§2.3).
const THOUGHT_SUFFIX: &str = "__thought__";

/// Turns one model call's Chat Completions chunks into Responses events
/// (§2.4, §2.5), so the Responses converter handles both providers.
///
/// Feed every SSE data payload to [`push`](Self::push), which returns the
/// events it can already tell (text, refusal and reasoning deltas come out
/// as they arrive), then call [`finish`](Self::finish) at the end of the
/// stream for the closing events and the terminal one.
///
/// Every item id is the placeholder [`FAKE_ID`] (`__fake_id__`), like the
/// reference's: there are no item ids in Chat Completions, and the
/// converter must not rely on them. Items get `output_index` slots in order
/// of first appearance: the assistant message, a reasoning item (before
/// the message when the reasoning came first), each tool call. Events:
///
/// - the first chunk → `response.created`;
/// - reasoning (`delta.reasoning_content`, or `delta.reasoning`) →
///   `output_item.added` (reasoning) + `reasoning_summary_part.added`, then
///   a `reasoning_summary_text.delta` per chunk; the item is closed
///   (`…text.done`, `…part.done`, `output_item.done`) as soon as anything
///   else arrives;
/// - the first text → `output_item.added` (message) +
///   `content_part.added` (`output_text`), then an `output_text.delta` per
///   chunk; a refusal likewise with a `refusal` part and `refusal.delta`;
/// - tool call fragments accumulate by `index`; a fragment carrying a
///   different non-empty id than its index's call starts a new call
///   (parallel calls all sent on index 0);
/// - at [`finish`](Self::finish): the message's parts close
///   (`annotation.added` for `delta.annotations`, `output_text.done` or
///   `refusal.done`, `content_part.done`), its `output_item.done`, then for
///   each tool call `output_item.added`, `function_call_arguments.done`,
///   `output_item.done`; last the terminal event (see there).
#[derive(Debug, Default)]
pub struct ChunkAccumulator {
    /// `response.created` was sent.
    started: bool,
    /// `[DONE]` was seen: later payloads are ignored.
    ended: bool,
    /// The model named in the chunks.
    model: Option<String>,
    next_slot: usize,
    reasoning: Option<Reasoning>,
    message: Option<Message>,
    calls: Vec<ToolCall>,
    /// The provider `index` of the last tool call fragment (for fragments
    /// that omit it).
    last_call_index: Option<u64>,
    /// Completed items by slot, for `response.completed`'s `output`.
    output: Vec<(usize, Value)>,
    finish_reason: Option<String>,
    usage: Option<Value>,
}

#[derive(Debug)]
struct Reasoning {
    slot: usize,
    text: String,
}

#[derive(Debug)]
struct Message {
    slot: usize,
    /// The content parts in `content_index` order.
    parts: Vec<Part>,
    /// `delta.annotations`, in Responses form, for the text part.
    annotations: Vec<Value>,
}

#[derive(Debug)]
struct Part {
    refusal: bool,
    text: String,
}

#[derive(Debug)]
struct ToolCall {
    /// The provider's `index`.
    index: u64,
    slot: usize,
    id: String,
    name: String,
    arguments: String,
}

impl ChunkAccumulator {
    /// A fresh accumulator for one model call.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one SSE data payload (one chunk) and returns the events it
    /// completes. `[DONE]` ends the stream (later payloads are ignored).
    /// Only choice 0 is read; usage-only chunks (empty `choices`) are fine.
    ///
    /// Errors: a payload that is not JSON, or a top-level `error` object
    /// (a provider error mid-stream), whose message and code are reported.
    pub fn push(&mut self, data: &str) -> Result<Vec<ResponsesEvent>, ModelError> {
        let data = data.trim();
        if self.ended || data.is_empty() {
            return Ok(Vec::new());
        }
        if data.starts_with("[DONE]") {
            self.ended = true;
            return Ok(Vec::new());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            let head: String = data.chars().take(80).collect();
            ModelError::Malformed(format!("a chunk is not JSON ({e}): {head}"))
        })?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(provider_error(error));
        }
        let mut events = Vec::new();
        if !self.started {
            self.started = true;
            self.model = chunk
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned);
            events.push(ResponsesEvent::Created {
                response: self.response("in_progress", Vec::new()),
            });
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| {
                choices
                    .iter()
                    .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            });
        let Some(choice) = choice else {
            return Ok(events);
        };
        if let Some(delta) = choice.get("delta").filter(|d| d.is_object()) {
            let reasoning = non_empty(delta, "reasoning_content").or(non_empty(delta, "reasoning"));
            if let Some(text) = reasoning {
                self.reasoning_delta(text, &mut events);
            }
            if let Some(text) = non_empty(delta, "content") {
                self.part_delta(false, text, &mut events);
            }
            if let Some(text) = non_empty(delta, "refusal") {
                self.part_delta(true, text, &mut events);
            }
            if let Some(annotations) = delta.get("annotations").and_then(Value::as_array) {
                self.annotations(annotations);
            }
            if let Some(fragments) = delta.get("tool_calls").and_then(Value::as_array) {
                for fragment in fragments {
                    self.tool_call_fragment(fragment, &mut events);
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
        }
        Ok(events)
    }

    /// Ends the stream (after `[DONE]` or when the body ended): closes the
    /// open items, emits the tool calls, and ends with one terminal event:
    ///
    /// - `finish_reason` `length` → `response.incomplete` (reason
    ///   `max_output_tokens`); `content_filter` → `response.incomplete`
    ///   (reason `content_filter`); any other → `response.completed`;
    /// - no `finish_reason` but `[DONE]` (`saw_done`; some servers omit the
    ///   reason): `response.completed` if text, a refusal or a tool call
    ///   arrived, else an `error` event (`empty_response`);
    /// - neither a `finish_reason` nor `[DONE]`: the body just stopped, so
    ///   no terminal event at all: the converter reports a cut stream
    ///   (MODEL_STREAMING.md §7.3, unlike the reference, which accepts it);
    /// - a tool call without a name → no tool call items, and an `error`
    ///   event (`invalid_tool_call`) instead of the terminal.
    ///
    /// Tool call ids: a `__thought__…` suffix is stripped; a call without
    /// id gets a fresh `call_…` id. Empty arguments become `{}`.
    pub fn finish(mut self, saw_done: bool) -> Vec<ResponsesEvent> {
        let mut events = Vec::new();
        self.close_reasoning(&mut events);
        let has_output = self.message.is_some() || !self.calls.is_empty();
        if let Some(message) = self.message.take() {
            self.close_message(message, &mut events);
        }
        let calls = std::mem::take(&mut self.calls);
        if calls.iter().any(|call| call.name.is_empty()) {
            events.push(error_event(
                "invalid_tool_call",
                "the model sent a tool call without a function name",
            ));
            return events;
        }
        for call in calls {
            self.emit_call(call, &mut events);
        }
        self.output.sort_by_key(|(slot, _)| *slot);
        let output = self.output.iter().map(|(_, item)| item.clone()).collect();
        if self.finish_reason.is_none() && !saw_done && !self.ended {
            return events;
        }
        events.push(match self.finish_reason.as_deref() {
            Some("length") => ResponsesEvent::Incomplete {
                response: self.incomplete("max_output_tokens", output),
            },
            Some("content_filter") => ResponsesEvent::Incomplete {
                response: self.incomplete("content_filter", output),
            },
            Some(_) => ResponsesEvent::Completed {
                response: self.response("completed", output),
            },
            None if has_output => ResponsesEvent::Completed {
                response: self.response("completed", output),
            },
            None => error_event(
                "empty_response",
                "the model stream ended without any output",
            ),
        });
        events
    }

    fn alloc_slot(&mut self) -> usize {
        self.next_slot += 1;
        self.next_slot - 1
    }

    fn reasoning_delta(&mut self, text: &str, events: &mut Vec<ResponsesEvent>) {
        let slot = match &self.reasoning {
            Some(reasoning) => reasoning.slot,
            None => {
                let slot = self.alloc_slot();
                events.push(ResponsesEvent::OutputItemAdded {
                    output_index: Some(slot),
                    item: json!({"type": "reasoning", "id": FAKE_ID, "summary": []}),
                });
                events.push(ResponsesEvent::ReasoningSummaryPartAdded {
                    item_id: Some(FAKE_ID.into()),
                    output_index: Some(slot),
                    summary_index: 0,
                });
                self.reasoning = Some(Reasoning {
                    slot,
                    text: String::new(),
                });
                slot
            }
        };
        if let Some(reasoning) = &mut self.reasoning {
            reasoning.text.push_str(text);
        }
        events.push(ResponsesEvent::ReasoningSummaryTextDelta {
            item_id: Some(FAKE_ID.into()),
            output_index: Some(slot),
            summary_index: 0,
            delta: text.to_owned(),
        });
    }

    fn close_reasoning(&mut self, events: &mut Vec<ResponsesEvent>) {
        let Some(Reasoning { slot, text }) = self.reasoning.take() else {
            return;
        };
        events.push(ResponsesEvent::ReasoningSummaryTextDone {
            item_id: Some(FAKE_ID.into()),
            output_index: Some(slot),
            summary_index: 0,
            text: text.clone(),
        });
        events.push(ResponsesEvent::ReasoningSummaryPartDone {
            item_id: Some(FAKE_ID.into()),
            output_index: Some(slot),
            summary_index: 0,
        });
        let item = json!({
            "type": "reasoning",
            "id": FAKE_ID,
            "summary": [{"type": "summary_text", "text": text}],
        });
        events.push(ResponsesEvent::OutputItemDone {
            output_index: Some(slot),
            item: item.clone(),
        });
        self.output.push((slot, item));
    }

    /// Text (`refusal: false`) or refusal text for the assistant message.
    fn part_delta(&mut self, refusal: bool, text: &str, events: &mut Vec<ResponsesEvent>) {
        self.close_reasoning(events);
        if self.message.is_none() {
            let slot = self.alloc_slot();
            events.push(ResponsesEvent::OutputItemAdded {
                output_index: Some(slot),
                item: json!({
                    "type": "message",
                    "id": FAKE_ID,
                    "role": "assistant",
                    "status": "in_progress",
                    "content": [],
                }),
            });
            self.message = Some(Message {
                slot,
                parts: Vec::new(),
                annotations: Vec::new(),
            });
        }
        let message = self.message.as_mut().expect("opened above");
        let slot = message.slot;
        let content_index = match message.parts.iter().position(|p| p.refusal == refusal) {
            Some(index) => index,
            None => {
                message.parts.push(Part {
                    refusal,
                    text: String::new(),
                });
                let content_index = message.parts.len() - 1;
                events.push(ResponsesEvent::ContentPartAdded {
                    item_id: Some(FAKE_ID.into()),
                    output_index: Some(slot),
                    content_index,
                    part: empty_part(refusal),
                });
                content_index
            }
        };
        message.parts[content_index].text.push_str(text);
        let (item_id, output_index, delta) = (Some(FAKE_ID.into()), Some(slot), text.to_owned());
        events.push(if refusal {
            ResponsesEvent::RefusalDelta {
                item_id,
                output_index,
                content_index,
                delta,
            }
        } else {
            ResponsesEvent::OutputTextDelta {
                item_id,
                output_index,
                content_index,
                delta,
            }
        });
    }

    /// Keeps `url_citation` annotations (`{"type":"url_citation",
    /// "url_citation":{url,title,start_index,end_index}}`) in Responses form.
    fn annotations(&mut self, annotations: &[Value]) {
        let Some(message) = &mut self.message else {
            return;
        };
        for annotation in annotations {
            let Some(citation) = annotation.get("url_citation") else {
                continue;
            };
            message.annotations.push(json!({
                "type": "url_citation",
                "start_index": citation["start_index"],
                "end_index": citation["end_index"],
                "url": citation["url"],
                "title": citation["title"],
            }));
        }
    }

    fn close_message(&mut self, message: Message, events: &mut Vec<ResponsesEvent>) {
        let Message {
            slot,
            parts,
            mut annotations,
        } = message;
        let item_id = || Some(FAKE_ID.to_owned());
        let mut content = Vec::new();
        for (content_index, part) in parts.into_iter().enumerate() {
            let final_part = if part.refusal {
                events.push(ResponsesEvent::RefusalDone {
                    item_id: item_id(),
                    output_index: Some(slot),
                    content_index,
                    refusal: part.text.clone(),
                });
                json!({"type": "refusal", "refusal": part.text})
            } else {
                let annotations = std::mem::take(&mut annotations);
                for (annotation_index, annotation) in annotations.iter().enumerate() {
                    events.push(ResponsesEvent::OutputTextAnnotationAdded {
                        item_id: item_id(),
                        output_index: Some(slot),
                        content_index,
                        annotation_index: Some(annotation_index),
                        annotation: annotation.clone(),
                    });
                }
                events.push(ResponsesEvent::OutputTextDone {
                    item_id: item_id(),
                    output_index: Some(slot),
                    content_index,
                    text: part.text.clone(),
                });
                json!({"type": "output_text", "text": part.text, "annotations": annotations})
            };
            events.push(ResponsesEvent::ContentPartDone {
                item_id: item_id(),
                output_index: Some(slot),
                content_index,
                part: final_part.clone(),
            });
            content.push(final_part);
        }
        let item = json!({
            "type": "message",
            "id": FAKE_ID,
            "role": "assistant",
            "status": "completed",
            "content": content,
        });
        events.push(ResponsesEvent::OutputItemDone {
            output_index: Some(slot),
            item: item.clone(),
        });
        self.output.push((slot, item));
    }

    fn tool_call_fragment(&mut self, fragment: &Value, events: &mut Vec<ResponsesEvent>) {
        self.close_reasoning(events);
        let index = fragment
            .get("index")
            .and_then(Value::as_u64)
            .or(self.last_call_index)
            .unwrap_or(0);
        self.last_call_index = Some(index);
        let id = non_empty(fragment, "id");
        let function = fragment.get("function").unwrap_or(&Value::Null);
        let current = self.calls.iter().rposition(|call| call.index == index);
        let position = match current {
            Some(p)
                if id.is_none_or(|id| self.calls[p].id.is_empty() || self.calls[p].id == id) =>
            {
                p
            }
            _ => {
                let slot = self.alloc_slot();
                self.calls.push(ToolCall {
                    index,
                    slot,
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[position];
        if let Some(id) = id
            && call.id.is_empty()
        {
            call.id = id.to_owned();
        }
        if let Some(name) = non_empty(function, "name")
            && call.name.is_empty()
        {
            call.name = name.to_owned();
        }
        if let Some(arguments) = function.get("arguments").and_then(Value::as_str) {
            call.arguments.push_str(arguments);
        }
    }

    fn emit_call(&mut self, call: ToolCall, events: &mut Vec<ResponsesEvent>) {
        let call_id = match call.id.split(THOUGHT_SUFFIX).next().unwrap_or("") {
            "" => format!("call_{}", uuid::Uuid::now_v7().simple()),
            id => id.to_owned(),
        };
        let arguments = if call.arguments.trim().is_empty() {
            "{}".to_owned()
        } else {
            call.arguments
        };
        let item = |arguments: &str| {
            json!({
                "type": "function_call",
                "id": FAKE_ID,
                "call_id": call_id,
                "name": call.name,
                "arguments": arguments,
            })
        };
        events.push(ResponsesEvent::OutputItemAdded {
            output_index: Some(call.slot),
            item: item(""),
        });
        events.push(ResponsesEvent::FunctionCallArgumentsDone {
            item_id: Some(FAKE_ID.into()),
            output_index: Some(call.slot),
            arguments: arguments.clone(),
        });
        let done = item(&arguments);
        events.push(ResponsesEvent::OutputItemDone {
            output_index: Some(call.slot),
            item: done.clone(),
        });
        self.output.push((call.slot, done));
    }

    /// A Responses `response` object for a synthesized event.
    fn response(&self, status: &str, output: Vec<Value>) -> Value {
        let mut response = json!({
            "id": FAKE_ID,
            "object": "response",
            "status": status,
            "model": self.model,
            "output": output,
        });
        if status != "in_progress" {
            response["usage"] = self.usage.as_ref().map_or(Value::Null, usage);
        }
        response
    }

    fn incomplete(&self, reason: &str, output: Vec<Value>) -> Value {
        let mut response = self.response("incomplete", output);
        response["incomplete_details"] = json!({"reason": reason});
        response
    }
}

/// Chat Completions usage → Responses usage (§1.4).
fn usage(usage: &Value) -> Value {
    json!({
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": usage["prompt_tokens_details"]["cached_tokens"]},
        "output_tokens": usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": usage["completion_tokens_details"]["reasoning_tokens"]},
        "total_tokens": usage["total_tokens"],
    })
}

/// `data: {"error":{"message","type","code"}}` (or a bare string) → a
/// provider error with the provider's code (else its `type`) and message.
fn provider_error(error: &Value) -> ModelError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or(error.as_str())
        .map(str::to_owned);
    let code = [error.get("code"), error.get("type")]
        .into_iter()
        .flatten()
        .find_map(|code| match code {
            Value::String(code) => Some(code.clone()),
            Value::Number(code) => Some(code.to_string()),
            _ => None,
        });
    ModelError::provider(code, message)
}

fn error_event(code: &str, message: &str) -> ResponsesEvent {
    ResponsesEvent::Error {
        code: Some(code.into()),
        message: Some(message.into()),
        error: None,
    }
}

fn empty_part(refusal: bool) -> Value {
    if refusal {
        json!({"type": "refusal", "refusal": ""})
    } else {
        json!({"type": "output_text", "text": "", "annotations": []})
    }
}

/// A non-empty string field.
fn non_empty<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::responses::tests::{
        first_turn, multi_turn, replayed_run, settings, weather_tool,
    };

    // ---- request bodies and messages ----

    #[test]
    fn first_turn_body() {
        let body = request_body(&settings(), &first_turn(), &[], None);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            concat!(
                r#"{"model":"gpt-4.1-mini","messages":[{"role":"system","content":"Be brief."},"#,
                r#"{"role":"user","content":"Weather in Paris?"}],"#,
                r#""stream":true,"stream_options":{"include_usage":true}}"#
            )
        );
    }

    #[test]
    fn multi_turn_body_with_a_client_tool_call() {
        let mut settings = settings();
        settings.instructions = None;
        settings.temperature = Some(0.5);
        let body = request_body(&settings, &multi_turn(), &[], Some("gpt-4.1"));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            concat!(
                r#"{"model":"gpt-4.1","messages":["#,
                r#"{"role":"user","content":"What did I select?"},"#,
                r#"{"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_selection","arguments":"{\"scope\":\"doc\"}"}}]},"#,
                r#"{"role":"tool","tool_call_id":"call_9","content":"{\"text\":\"X\"}"},"#,
                r#"{"role":"assistant","content":"You selected X."},"#,
                r#"{"role":"user","content":"ok"}],"#,
                r#""stream":true,"stream_options":{"include_usage":true},"temperature":0.5}"#
            )
        );
    }

    #[test]
    fn replayed_run_body_with_tools_and_extra_body() {
        let mut settings = settings();
        settings.top_p = Some(0.9);
        settings.max_output_tokens = Some(500);
        settings.extra_body = serde_json::from_str(
            r#"{"top_p":null,"stream_options":null,"reasoning_effort":"low"}"#,
        )
        .unwrap();
        let body = request_body(&settings, &replayed_run(), &[weather_tool()], None);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            concat!(
                r#"{"model":"gpt-4.1-mini","messages":["#,
                r#"{"role":"system","content":"Be brief."},"#,
                r#"{"role":"user","content":"Weather in Paris?"},"#,
                r#"{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"#,
                r#"{"role":"tool","tool_call_id":"call_1","content":"Sunny in Paris"}],"#,
                r#""tools":[{"type":"function","function":{"name":"get_weather","description":"Get weather for a city.","#,
                r#""parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false},"strict":true}}],"#,
                r#""stream":true,"max_tokens":500,"reasoning_effort":"low"}"#
            )
        );
    }

    /// Checks the rules a Chat Completions server enforces on a message
    /// list: known roles; every assistant tool call answered by the tool
    /// messages right after it, and every tool message answering one; an
    /// assistant message says something; no item ids.
    fn assert_valid(messages: &[Value]) {
        let mut i = 0;
        while i < messages.len() {
            let m = &messages[i];
            let role = m["role"].as_str().unwrap();
            assert!(
                ["system", "developer", "user", "assistant"].contains(&role),
                "unexpected {m}"
            );
            assert!(
                m.get("id").is_none() && !m.to_string().contains(FAKE_ID),
                "{m}"
            );
            i += 1;
            if role != "assistant" {
                continue;
            }
            let calls = m.get("tool_calls").and_then(Value::as_array);
            assert!(
                !m["content"].is_null() || calls.is_some() || m.get("refusal").is_some(),
                "empty assistant message {m}"
            );
            let mut ids: Vec<&str> = calls
                .into_iter()
                .flatten()
                .map(|c| c["id"].as_str().unwrap())
                .collect();
            while i < messages.len() && messages[i]["role"] == "tool" {
                let id = messages[i]["tool_call_id"].as_str().unwrap();
                let at = ids
                    .iter()
                    .position(|c| *c == id)
                    .expect("tool message answers a call");
                ids.remove(at);
                i += 1;
            }
            assert!(ids.is_empty(), "unanswered tool calls {ids:?}");
        }
    }

    #[test]
    fn a_whole_multi_turn_conversation_is_valid() {
        // Turn 1's run: a preamble and a call, then the answer, as the
        // accumulator reports them (placeholder ids and all).
        let mut run = first_turn();
        run.extend(output_items(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"get_time","arguments":""}}]},"finish_reason":"tool_calls"}]}"#,
        ]));
        run.push(json!({"type": "function_call_output", "call_id": "call_A", "output": "Sunny"}));
        run.push(json!({"type": "function_call_output", "call_id": "call_B", "output": "noon"}));
        run.extend(output_items(&[
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"Both known."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Sunny at noon."},"finish_reason":"stop"}]}"#,
        ]));
        let messages = to_messages(Some("Be brief."), &run);
        assert_valid(&messages);
        assert_eq!(
            Value::Array(messages),
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "call_A", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_B", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_A", "content": "Sunny"},
                {"role": "tool", "tool_call_id": "call_B", "content": "noon"},
                {"role": "assistant", "content": "Sunny at noon."},
            ])
        );

        // Turn 2 from the stored thread: the reference's second-turn
        // failure (§2.1) was exactly this history.
        let history: Vec<crate::protocol::ThreadItem> = serde_json::from_value(json!([
            {"id": "m1", "thread_id": "t", "created_at": "2025-06-01T09:30:00Z", "type": "user_message",
             "content": [{"type": "input_text", "text": "What did I select?"}]},
            {"id": "m2", "thread_id": "t", "created_at": "2025-06-01T09:30:01Z", "type": "assistant_message",
             "content": [{"type": "output_text", "text": "Let me look.", "annotations": []}]},
            {"id": "tc", "thread_id": "t", "created_at": "2025-06-01T09:30:02Z", "type": "client_tool_call",
             "status": "completed", "call_id": "call_9", "name": "get_selection", "arguments": {}, "output": "X"},
            {"id": "m3", "thread_id": "t", "created_at": "2025-06-01T09:30:03Z", "type": "assistant_message",
             "content": [{"type": "output_text", "text": "You selected", "annotations": []},
                         {"type": "output_text", "text": "X.", "annotations": []}]},
            {"id": "w", "thread_id": "t", "created_at": "2025-06-01T09:30:04Z", "type": "workflow",
             "workflow": {"type": "reasoning", "tasks": [{"type": "thought", "content": "hm"}]}},
            {"id": "c", "thread_id": "t", "created_at": "2025-06-01T09:30:05Z", "type": "client_tool_call",
             "status": "pending", "call_id": "call_10", "name": "get_selection", "arguments": {}},
            {"id": "m4", "thread_id": "t", "created_at": "2025-06-01T09:30:06Z", "type": "user_message",
             "content": [{"type": "input_text", "text": "thanks"}]},
        ]))
        .unwrap();
        let input = crate::model::input::history_to_input(&history, usize::MAX);
        let messages = to_messages(None, &input);
        assert_valid(&messages);
        assert_eq!(
            Value::Array(messages),
            json!([
                {"role": "user", "content": "What did I select?"},
                {"role": "assistant", "content": "Let me look.", "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "get_selection", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_9", "content": "\"X\""},
                {"role": "assistant", "content": "You selected\nX."},
                {"role": "user", "content": "thanks"},
            ])
        );
    }

    /// The output items a model call's chunks produce, in `done` order, as
    /// the agent appends them.
    fn output_items(chunks: &[&str]) -> Vec<Value> {
        accumulate(chunks)
            .into_iter()
            .filter_map(|event| match event {
                ResponsesEvent::OutputItemDone { item, .. } => Some(item),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn messages_stay_valid_on_odd_input() {
        let input = [
            // An output whose call was never sent: dropped.
            json!({"type": "function_call_output", "call_id": "call_0", "output": "orphan"}),
            json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Use metric."}]}),
            json!({"type": "message", "role": "user", "content": "plain string"}),
            // A call, then text from the same response, then its output.
            json!({"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}),
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Calling f.", "annotations": []}]}),
            json!({"type": "function_call_output", "call_id": "call_1", "output": [{"type": "input_text", "text": "done"}]}),
            // A call that was never answered, alone and next to text.
            json!({"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{}"}),
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "next"}]}),
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sure.", "annotations": []}]}),
            json!({"type": "function_call", "call_id": "call_3", "name": "g", "arguments": "{}"}),
            json!({"type": "message", "role": "assistant", "content": []}),
            json!({"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}),
        ];
        let messages = to_messages(Some(""), &input);
        assert_valid(&messages);
        assert_eq!(
            Value::Array(messages),
            json!([
                {"role": "developer", "content": "Use metric."},
                {"role": "user", "content": "plain string"},
                {"role": "assistant", "content": "Calling f.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "done"},
                {"role": "user", "content": "next"},
                // The unanswered call is gone; what followed it joined its message.
                {"role": "assistant", "content": "Sure.", "refusal": "No."},
            ])
        );
    }

    #[test]
    fn empty_assistant_messages_are_dropped() {
        let input = [
            json!({"type": "message", "role": "user", "content": "hi"}),
            json!({"type": "message", "role": "assistant", "content": []}),
            json!({"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}),
        ];
        assert_eq!(
            Value::Array(to_messages(None, &input)),
            json!([
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "refusal": "No."},
            ])
        );
    }

    #[test]
    fn user_media_parts_keep_a_parts_array() {
        let input = [json!({"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "The following image was generated by the agent."},
            {"type": "input_image", "detail": "original", "image_url": "data:image/png;base64,AAAA"},
            {"type": "input_file", "file_data": "data:application/pdf;base64,BBBB", "filename": "a.pdf"},
        ]})];
        assert_eq!(
            Value::Array(to_messages(None, &input)),
            json!([{"role": "user", "content": [
                {"type": "text", "text": "The following image was generated by the agent."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,BBBB", "filename": "a.pdf"}},
            ]}])
        );
        // Several text parts (a message and its attachment mentions) join.
        let input = [json!({"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Look"},
            {"type": "input_text", "text": "[attachment: a.pdf (application/pdf)]"},
        ]})];
        assert_eq!(
            to_messages(None, &input)[0]["content"],
            "Look\n[attachment: a.pdf (application/pdf)]"
        );
    }

    // ---- the chunk accumulator ----

    /// Every event of a stream: each push, then finish.
    fn accumulate(chunks: &[&str]) -> Vec<ResponsesEvent> {
        let mut acc = ChunkAccumulator::new();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(acc.push(chunk).unwrap());
        }
        events.extend(acc.finish(true));
        events
    }

    /// The wire `type` of each event, for sequence checks.
    fn names(events: &[ResponsesEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|event| match event {
                ResponsesEvent::Created { .. } => "created",
                ResponsesEvent::OutputItemAdded { item, .. } => match item["type"].as_str() {
                    Some("message") => "item.added message",
                    Some("reasoning") => "item.added reasoning",
                    _ => "item.added function_call",
                },
                ResponsesEvent::OutputItemDone { item, .. } => match item["type"].as_str() {
                    Some("message") => "item.done message",
                    Some("reasoning") => "item.done reasoning",
                    _ => "item.done function_call",
                },
                ResponsesEvent::ContentPartAdded { .. } => "part.added",
                ResponsesEvent::ContentPartDone { .. } => "part.done",
                ResponsesEvent::OutputTextDelta { .. } => "text.delta",
                ResponsesEvent::OutputTextDone { .. } => "text.done",
                ResponsesEvent::OutputTextAnnotationAdded { .. } => "annotation.added",
                ResponsesEvent::RefusalDelta { .. } => "refusal.delta",
                ResponsesEvent::RefusalDone { .. } => "refusal.done",
                ResponsesEvent::FunctionCallArgumentsDone { .. } => "arguments.done",
                ResponsesEvent::ReasoningSummaryPartAdded { .. } => "summary_part.added",
                ResponsesEvent::ReasoningSummaryTextDelta { .. } => "summary.delta",
                ResponsesEvent::ReasoningSummaryTextDone { .. } => "summary.done",
                ResponsesEvent::ReasoningSummaryPartDone { .. } => "summary_part.done",
                ResponsesEvent::Completed { .. } => "completed",
                ResponsesEvent::Incomplete { .. } => "incomplete",
                ResponsesEvent::Error { .. } => "error",
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    /// The `function_call` items of a stream.
    fn calls(events: &[ResponsesEvent]) -> Vec<Value> {
        events
            .iter()
            .filter_map(|event| match event {
                ResponsesEvent::OutputItemDone { item, .. } if item["type"] == "function_call" => {
                    Some(item.clone())
                }
                _ => None,
            })
            .collect()
    }

    fn fake() -> Option<String> {
        Some(FAKE_ID.into())
    }

    const PLAIN_TEXT: [&str; 6] = [
        r#"{"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1767000000,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1767000000,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"content":"It is "},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1767000000,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{"content":"sunny."},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1767000000,"model":"gpt-4.1-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
        r#"{"id":"chatcmpl-9x","object":"chat.completion.chunk","created":1767000000,"model":"gpt-4.1-mini","choices":[],"usage":{"prompt_tokens":25,"completion_tokens":6,"total_tokens":31,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
        "[DONE]",
    ];

    #[test]
    fn plain_text_streams_incrementally() {
        let mut acc = ChunkAccumulator::new();
        let per_push: Vec<Vec<ResponsesEvent>> =
            PLAIN_TEXT.iter().map(|c| acc.push(c).unwrap()).collect();
        assert_eq!(
            per_push[0],
            [ResponsesEvent::Created {
                response: json!({"id": FAKE_ID, "object": "response", "status": "in_progress", "model": "gpt-4.1-mini", "output": []})
            }]
        );
        assert_eq!(
            per_push[1],
            [
                ResponsesEvent::OutputItemAdded {
                    output_index: Some(0),
                    item: json!({"type": "message", "id": FAKE_ID, "role": "assistant", "status": "in_progress", "content": []}),
                },
                ResponsesEvent::ContentPartAdded {
                    item_id: fake(),
                    output_index: Some(0),
                    content_index: 0,
                    part: json!({"type": "output_text", "text": "", "annotations": []}),
                },
                ResponsesEvent::OutputTextDelta {
                    item_id: fake(),
                    output_index: Some(0),
                    content_index: 0,
                    delta: "It is ".into(),
                },
            ]
        );
        assert_eq!(
            per_push[2],
            [ResponsesEvent::OutputTextDelta {
                item_id: fake(),
                output_index: Some(0),
                content_index: 0,
                delta: "sunny.".into(),
            }]
        );
        assert!(per_push[3..].iter().all(Vec::is_empty));
        let message = json!({"type": "message", "id": FAKE_ID, "role": "assistant", "status": "completed",
                             "content": [{"type": "output_text", "text": "It is sunny.", "annotations": []}]});
        assert_eq!(
            acc.finish(true),
            [
                ResponsesEvent::OutputTextDone {
                    item_id: fake(),
                    output_index: Some(0),
                    content_index: 0,
                    text: "It is sunny.".into(),
                },
                ResponsesEvent::ContentPartDone {
                    item_id: fake(),
                    output_index: Some(0),
                    content_index: 0,
                    part: json!({"type": "output_text", "text": "It is sunny.", "annotations": []}),
                },
                ResponsesEvent::OutputItemDone {
                    output_index: Some(0),
                    item: message.clone(),
                },
                ResponsesEvent::Completed {
                    response: json!({
                        "id": FAKE_ID, "object": "response", "status": "completed", "model": "gpt-4.1-mini",
                        "output": [message],
                        "usage": {"input_tokens": 25, "input_tokens_details": {"cached_tokens": 0},
                                  "output_tokens": 6, "output_tokens_details": {"reasoning_tokens": 0},
                                  "total_tokens": 31},
                    })
                },
            ]
        );
    }

    const TWO_CALLS: [&str; 7] = [
        r#"{"id":"chatcmpl-9y","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_A1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-9y","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-9y","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-9y","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_B2","type":"function","function":{"name":"get_time","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-9y","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":\"CET\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-9y","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        "[DONE]",
    ];

    #[test]
    fn two_parallel_tool_calls() {
        let events = accumulate(&TWO_CALLS);
        let call = |slot: usize, call_id: &str, name: &str, arguments: &str| {
            let item = |arguments: &str| json!({"type": "function_call", "id": FAKE_ID, "call_id": call_id, "name": name, "arguments": arguments});
            [
                ResponsesEvent::OutputItemAdded {
                    output_index: Some(slot),
                    item: item(""),
                },
                ResponsesEvent::FunctionCallArgumentsDone {
                    item_id: fake(),
                    output_index: Some(slot),
                    arguments: arguments.into(),
                },
                ResponsesEvent::OutputItemDone {
                    output_index: Some(slot),
                    item: item(arguments),
                },
            ]
        };
        let mut expected = vec![ResponsesEvent::Created {
            response: json!({"id": FAKE_ID, "object": "response", "status": "in_progress", "model": null, "output": []}),
        }];
        expected.extend(call(0, "call_A1", "get_weather", r#"{"city":"Paris"}"#));
        expected.extend(call(1, "call_B2", "get_time", r#"{"tz":"CET"}"#));
        expected.push(ResponsesEvent::Completed {
            response: json!({
                "id": FAKE_ID, "object": "response", "status": "completed", "model": null,
                "output": [
                    {"type": "function_call", "id": FAKE_ID, "call_id": "call_A1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                    {"type": "function_call", "id": FAKE_ID, "call_id": "call_B2", "name": "get_time", "arguments": "{\"tz\":\"CET\"}"},
                ],
                "usage": null,
            }),
        });
        assert_eq!(events, expected);
    }

    #[test]
    fn a_text_preamble_then_a_call() {
        let events = accumulate(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Checking."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        ]);
        assert_eq!(
            names(&events),
            [
                "created",
                "item.added message",
                "part.added",
                "text.delta",
                "text.done",
                "part.done",
                "item.done message",
                "item.added function_call",
                "arguments.done",
                "item.done function_call",
                "completed",
            ]
        );
        // The call's slot follows the message's.
        assert!(matches!(
            events[7],
            ResponsesEvent::OutputItemAdded {
                output_index: Some(1),
                ..
            }
        ));
    }

    #[test]
    fn tool_call_fragment_quirks() {
        let one = |chunks: &[&str]| calls(&accumulate(chunks));
        let call = |call_id: &str, name: &str, arguments: &str| json!({"type": "function_call", "id": FAKE_ID, "call_id": call_id, "name": name, "arguments": arguments});
        // The whole call in one fragment.
        assert_eq!(
            one(&[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]}"#
            ]),
            [call("call_1", "f", r#"{"a":1}"#)]
        );
        // The id (and name) repeated on every fragment.
        assert_eq!(
            one(&[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"1}"}}]}}]}"#,
            ]),
            [call("call_1", "f", r#"{"a":1}"#)]
        );
        // An empty id on later fragments, no index on one.
        assert_eq!(
            one(&[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"","function":{"name":"","arguments":"{\"a\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}"#,
            ]),
            [call("call_1", "f", r#"{"a":1}"#)]
        );
        // Parallel calls all on index 0, each with a new id (Gemini bridges),
        // and LiteLLM's __thought__ suffix.
        assert_eq!(
            one(&[
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1__thought__abc","function":{"name":"f","arguments":"{\"a\":1}"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_2","function":{"name":"g","arguments":"{\"b\":"}}]}}]}"#,
                r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2}"}}]}}]}"#,
            ]),
            [
                call("call_1", "f", r#"{"a":1}"#),
                call("call_2", "g", r#"{"b":2}"#)
            ]
        );
        // No id at all: a fresh one; no arguments: `{}`.
        let synthesized = one(&[
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]}}]}"#,
        ]);
        let call_id = synthesized[0]["call_id"].as_str().unwrap();
        assert!(
            call_id.starts_with("call_") && call_id.len() == 37,
            "{call_id}"
        );
        assert_eq!(synthesized[0]["arguments"], "{}");
    }

    #[test]
    fn a_call_without_a_name_fails_the_call() {
        let events = accumulate(&[
            r#"{"choices":[{"index":0,"delta":{"content":"Hm."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        ]);
        assert!(calls(&events).is_empty());
        assert_eq!(names(&events).last(), Some(&"error"));
        assert!(names(&events).contains(&"item.done message"));
        assert!(matches!(
            events.last(),
            Some(ResponsesEvent::Error { code: Some(code), .. }) if code == "invalid_tool_call"
        ));
    }

    #[test]
    fn an_error_object_mid_stream_is_an_error() {
        let mut acc = ChunkAccumulator::new();
        assert_eq!(
            names(
                &acc.push(r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#)
                    .unwrap()
            ),
            ["created", "item.added message", "part.added", "text.delta"]
        );
        let error = acc
            .push(r#"{"error":{"message":"The model is overloaded","type":"server_error","code":503}}"#)
            .unwrap_err();
        match &error {
            ModelError::Provider { code, message, .. } => {
                assert_eq!(code.as_deref(), Some("503"));
                assert_eq!(message, "The model is overloaded");
            }
            other => panic!("{other:?}"),
        }
        let error = ChunkAccumulator::new()
            .push(r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#)
            .unwrap_err();
        assert!(error.is_rate_limit(), "{error:?}");
        let error = ChunkAccumulator::new()
            .push(r#"{"error":{"message":"bad","type":"invalid_request_error","code":null}}"#)
            .unwrap_err();
        assert!(
            error.to_string().contains("invalid_request_error"),
            "{error}"
        );
        assert!(matches!(
            ChunkAccumulator::new().push("{not json"),
            Err(ModelError::Malformed(_))
        ));
    }

    #[test]
    fn a_body_that_just_stops_has_no_terminal_event() {
        let mut acc = ChunkAccumulator::new();
        acc.push(r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#)
            .unwrap();
        let events = acc.finish(false);
        assert!(events.iter().all(|e| !e.is_terminal()), "{events:?}");
    }

    #[test]
    fn streams_without_finish_reason_or_done() {
        // Text, no finish_reason, but [DONE]: completed.
        let events = accumulate(&[r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#]);
        assert_eq!(names(&events).last(), Some(&"completed"));
        // A call and no finish_reason: completed.
        let events = accumulate(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{}"}}]}}]}"#,
        ]);
        assert_eq!(names(&events).last(), Some(&"completed"));
        // Nothing at all, only an empty text, or only reasoning: an error.
        for chunks in [
            &[][..],
            &[r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#][..],
            &[r#"{"choices":[{"index":0,"delta":{"reasoning_content":"hm"}}]}"#][..],
        ] {
            let events = accumulate(chunks);
            assert!(
                matches!(events.last(), Some(ResponsesEvent::Error { code: Some(code), .. }) if code == "empty_response"),
                "{events:?}"
            );
        }
        // A finish_reason with no output: completed, with nothing in it.
        let events =
            accumulate(&[r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#]);
        assert_eq!(names(&events), ["created", "completed"]);
    }

    #[test]
    fn length_and_content_filter_are_incomplete() {
        for (finish, reason) in [
            ("length", "max_output_tokens"),
            ("content_filter", "content_filter"),
        ] {
            let events = accumulate(&[
                r#"{"choices":[{"index":0,"delta":{"content":"Once upon"}}]}"#,
                &format!(
                    r#"{{"choices":[{{"index":0,"delta":{{}},"finish_reason":"{finish}"}}],"usage":{{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}}}"#
                ),
            ]);
            let Some(ResponsesEvent::Incomplete { response }) = events.last() else {
                panic!("{events:?}");
            };
            assert_eq!(response["status"], "incomplete");
            assert_eq!(response["incomplete_details"]["reason"], reason);
            assert_eq!(response["output"][0]["content"][0]["text"], "Once upon");
            assert_eq!(response["usage"]["output_tokens"], 2);
        }
    }

    #[test]
    fn reasoning_comes_first_and_closes_before_the_answer() {
        let events = accumulate(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Think"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"ing."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Done."},"finish_reason":"stop"}]}"#,
        ]);
        assert_eq!(
            names(&events),
            [
                "created",
                "item.added reasoning",
                "summary_part.added",
                "summary.delta",
                "summary.delta",
                "summary.done",
                "summary_part.done",
                "item.done reasoning",
                "item.added message",
                "part.added",
                "text.delta",
                "text.done",
                "part.done",
                "item.done message",
                "completed",
            ]
        );
        assert_eq!(
            events[7],
            ResponsesEvent::OutputItemDone {
                output_index: Some(0),
                item: json!({"type": "reasoning", "id": FAKE_ID, "summary": [{"type": "summary_text", "text": "Thinking."}]}),
            }
        );
        assert!(matches!(
            events[8],
            ResponsesEvent::OutputItemAdded {
                output_index: Some(1),
                ..
            }
        ));
        let Some(ResponsesEvent::Completed { response }) = events.last() else {
            panic!()
        };
        assert_eq!(response["output"][0]["type"], "reasoning");
        assert_eq!(response["output"][1]["type"], "message");
    }

    #[test]
    fn reasoning_key_and_reasoning_after_text() {
        // `delta.reasoning` (OpenRouter, Ollama) after the text: slot 1,
        // closed at the end, before the message.
        let events = accumulate(&[
            r#"{"choices":[{"index":0,"delta":{"content":"A"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":"hm"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"B"}}]}"#,
        ]);
        assert_eq!(
            names(&events)[4..],
            [
                "item.added reasoning",
                "summary_part.added",
                "summary.delta",
                "summary.done",
                "summary_part.done",
                "item.done reasoning",
                "text.delta",
                "text.done",
                "part.done",
                "item.done message",
                "completed",
            ]
        );
        assert!(matches!(
            events[4],
            ResponsesEvent::OutputItemAdded {
                output_index: Some(1),
                ..
            }
        ));
        let Some(ResponsesEvent::Completed { response }) = events.last() else {
            panic!()
        };
        assert_eq!(response["output"][0]["content"][0]["text"], "AB");
        assert_eq!(response["output"][1]["type"], "reasoning");
    }

    #[test]
    fn refusals_and_annotations() {
        let events = accumulate(&[
            r#"{"choices":[{"index":0,"delta":{"content":"See "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"this.","annotations":[{"type":"url_citation","url_citation":{"url":"https://e.com","title":"E","start_index":0,"end_index":4}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"refusal":"But no."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ]);
        assert_eq!(
            names(&events),
            [
                "created",
                "item.added message",
                "part.added",
                "text.delta",
                "text.delta",
                "part.added",
                "refusal.delta",
                "annotation.added",
                "text.done",
                "part.done",
                "refusal.done",
                "part.done",
                "item.done message",
                "completed",
            ]
        );
        let Some(ResponsesEvent::OutputItemDone { item, .. }) = events.get(12) else {
            panic!()
        };
        assert_eq!(
            item["content"],
            json!([
                {"type": "output_text", "text": "See this.", "annotations": [
                    {"type": "url_citation", "start_index": 0, "end_index": 4, "url": "https://e.com", "title": "E"},
                ]},
                {"type": "refusal", "refusal": "But no."},
            ])
        );
        assert!(matches!(
            events[6],
            ResponsesEvent::RefusalDelta {
                content_index: 1,
                ..
            }
        ));
    }

    #[test]
    fn other_choices_usage_chunks_and_data_after_done_are_ignored() {
        let mut acc = ChunkAccumulator::new();
        let events = acc
            .push(r#"{"choices":[{"index":1,"delta":{"content":"other"},"finish_reason":"stop"},{"index":0,"delta":{"content":"mine"}}],"usage":null}"#)
            .unwrap();
        assert_eq!(
            names(&events),
            ["created", "item.added message", "part.added", "text.delta"]
        );
        assert!(acc.push(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#).unwrap().is_empty());
        assert!(acc.push("[DONE]").unwrap().is_empty());
        assert!(
            acc.push(r#"{"choices":[{"index":0,"delta":{"content":"late"}}]}"#)
                .unwrap()
                .is_empty()
        );
        assert!(acc.push("garbage after done").unwrap().is_empty());
        let events = acc.finish(false);
        let Some(ResponsesEvent::Completed { response }) = events.last() else {
            panic!("{events:?}")
        };
        // No finish_reason for choice 0, but text arrived.
        assert_eq!(response["output"][0]["content"][0]["text"], "mine");
        assert_eq!(response["usage"]["total_tokens"], 4);
    }
}
