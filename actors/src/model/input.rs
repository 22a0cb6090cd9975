//! Thread history → model input (MODEL_STREAMING.md §5).
//!
//! The neutral form of a conversation is a list of **Responses API input
//! items** (§1.2) as JSON: `message` items (roles `user`, `system`,
//! `developer`, `assistant`), `function_call`, `function_call_output` and
//! `reasoning`. The Responses provider sends the list as `input`; the Chat
//! Completions provider derives its messages from it
//! ([`super::chat::to_messages`]). During a run the agent appends each model
//! call's output items (as received in `response.output_item.done`) and the
//! tool outputs to the same list.
//!
//! [`history_to_input`] converts stored thread items the way the
//! reference's `ThreadItemConverter` does (§5.2), in the form OpenAI
//! accepts: assistant messages without ids, `output_text` parts with
//! `annotations: []`. The three conversions whose reference default fails
//! the turn (attachments, tags, non-string hidden context) fall back to
//! text instead. No ChatKit id is ever sent to the provider except inside
//! the widget description, as the reference does (§5.3).
//!
//! The history is cut to a token budget, newest items first (see
//! [`history_to_input`]); [`estimate_tokens`] is the estimate used.

use serde_json::{Map, Value, json};

use crate::protocol::{
    ClientToolCallStatus, ItemKind, StructuredInputItem, StructuredInputStatus, Task, TaskKind,
    ThreadItem, UserMessageContent, UserMessageItem,
};

/// Tokens added to every input item's estimate for what the text count
/// misses: the item's role and type markers and the provider's message
/// framing (a few tokens per message in OpenAI's accounting).
pub const ITEM_OVERHEAD_TOKENS: usize = 4;

/// Estimated tokens of one image part. An image is billed by its size, not
/// by the length of its URL (a `data:` URL is megabytes of base64); 765 is
/// OpenAI's cost of a 1024×1024 image at high detail, a typical generated
/// image.
pub const IMAGE_TOKENS: usize = 765;

/// The note that introduces the @-mention context message, verbatim from
/// the reference.
const TAG_NOTE: &str = "# User-provided context for @-mentions\n\
- When referencing resolved entities, use their canonical names **without** '@'.\n\
- The '@' form appears only in user text and should not be echoed.";

/// Converts stored thread items (oldest first, hidden items included) into
/// Responses API input items (§5.2), keeping the newest that fit in
/// `budget_tokens`.
///
/// Mappings (the sentences are the reference's):
///
/// - `user_message`: one user message whose first `input_text` is all parts
///   concatenated, tags as `@text`; then one `input_text` part per
///   attachment, `[attachment: name (mime)]`. If it is the last item of
///   `history` and has `quoted_text`, a user message with the quote
///   follows; if it has tags, a user message with the @-mention note and
///   one `input_text` per distinct tag (`text: <data as JSON>`).
/// - `assistant_message`: an assistant message with one `output_text` part
///   (`annotations: []`) per content part, no `id`; skipped when it has no
///   parts.
/// - `client_tool_call`: `completed` → `function_call` + `function_call_output`
///   (arguments and output as JSON text, same `call_id`, no `id`);
///   `pending` → nothing.
/// - `widget`: a user message describing the widget, with its JSON.
/// - `workflow` / `task`: one user message per custom task with a title or
///   content; other tasks (reasoning workflows) → nothing.
/// - `structured_input`: a user message with the status and one line per
///   question.
/// - `hidden_context_item`, `sdk_hidden_context`: a user message wrapping
///   the content in `<HiddenContext>` (non-string content as JSON; none →
///   nothing).
/// - `generated_image`: a user message with a sentence and an `input_image`;
///   without an image → nothing.
/// - `end_of_turn`: nothing.
///
/// Budget: every thread item's input items are kept or dropped together
/// (so a `function_call` never loses its `function_call_output`). Walking
/// from the newest item back, items are kept while their
/// [`estimate_tokens`] fit; the first that does not fit ends the walk. The
/// last `user_message` is always kept, even when it alone exceeds the
/// budget (its cost is reserved first). Nothing is capped by item count.
pub fn history_to_input(history: &[ThreadItem], budget_tokens: usize) -> Vec<Value> {
    history_to_input_with(history, budget_tokens, &AttachmentContents::new())
}

/// What the model gets of one attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachmentContent {
    /// Its bytes, sent inline.
    Bytes(Vec<u8>),
    /// A URL the provider fetches it from (images only).
    Url(String),
}

/// Attachment contents by attachment id, for [`history_to_input_with`].
pub type AttachmentContents = std::collections::HashMap<String, AttachmentContent>;

/// [`history_to_input`], with the contents of the attachments the caller
/// could read: an image becomes an `input_image` part (a `data:` URL, or
/// the URL given), a text file an `input_text` part with its content, any
/// other file an `input_file` part (a `data:` URL with its name); an
/// attachment without contents is named in a text part
/// (MODEL_STREAMING.md §5.2).
pub fn history_to_input_with(
    history: &[ThreadItem],
    budget_tokens: usize,
    attachments: &AttachmentContents,
) -> Vec<Value> {
    let last = history.len().checked_sub(1);
    let groups: Vec<Vec<Value>> = history
        .iter()
        .enumerate()
        .map(|(i, item)| item_to_input(item, Some(i) == last, attachments))
        .collect();
    let anchor = history
        .iter()
        .rposition(|item| matches!(item.kind, ItemKind::UserMessage(_)));
    let keep = select_within_budget(&groups, anchor, budget_tokens);
    groups
        .into_iter()
        .zip(keep)
        .filter_map(|(group, keep)| keep.then_some(group))
        .flatten()
        .collect()
}

/// Estimated tokens of one input item: its text (every string value,
/// numbers as written) at four characters a token, rounded up, plus
/// [`IMAGE_TOKENS`] per `input_image` part and [`ITEM_OVERHEAD_TOKENS`].
/// Keys are not counted.
pub fn estimate_tokens(item: &Value) -> usize {
    let mut count = Count::default();
    count.walk(item);
    ITEM_OVERHEAD_TOKENS + count.chars.div_ceil(4) + count.images * IMAGE_TOKENS
}

#[derive(Default)]
struct Count {
    chars: usize,
    images: usize,
}

impl Count {
    fn walk(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.chars += s.chars().count(),
            Value::Number(n) => self.chars += n.to_string().len(),
            Value::Array(values) => values.iter().for_each(|v| self.walk(v)),
            Value::Object(map)
                if map.get("type").and_then(Value::as_str) == Some("input_image") =>
            {
                self.images += 1;
            }
            Value::Object(map) => map.values().for_each(|v| self.walk(v)),
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// Which groups to keep: the anchor (the last user message) always, then
/// groups from the newest back while they fit.
fn select_within_budget(groups: &[Vec<Value>], anchor: Option<usize>, budget: usize) -> Vec<bool> {
    let cost = |group: &[Value]| group.iter().map(estimate_tokens).sum::<usize>();
    let mut keep = vec![false; groups.len()];
    let mut remaining = budget;
    if let Some(anchor) = anchor {
        keep[anchor] = true;
        remaining = remaining.saturating_sub(cost(&groups[anchor]));
    }
    for i in (0..groups.len()).rev() {
        if Some(i) == anchor {
            continue;
        }
        let cost = cost(&groups[i]);
        if cost > remaining {
            break;
        }
        remaining -= cost;
        keep[i] = true;
    }
    keep
}

/// The input items of one thread item; `is_last` lets a user message's
/// quoted text through (§5.2).
/// One attachment as an input part: its content when known, else its
/// name.
fn attachment_part(
    attachment: &crate::protocol::Attachment,
    content: Option<&AttachmentContent>,
) -> Value {
    use base64::Engine as _;
    let bytes = match content {
        None => {
            return input_text(format!(
                "[attachment: {} ({})]",
                attachment.name, attachment.mime_type
            ));
        }
        Some(AttachmentContent::Url(url)) => {
            return json!({"type": "input_image", "detail": "auto", "image_url": url});
        }
        Some(AttachmentContent::Bytes(bytes)) => bytes,
    };
    let media_type = attachment
        .mime_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if media_type.starts_with("text/") {
        let text = String::from_utf8_lossy(bytes);
        return input_text(format!("[attachment: {}]\n{text}", attachment.name));
    }
    let data_url = format!(
        "data:{media_type};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    if media_type.starts_with("image/") {
        json!({"type": "input_image", "detail": "auto", "image_url": data_url})
    } else {
        json!({"type": "input_file", "filename": attachment.name, "file_data": data_url})
    }
}

fn item_to_input(item: &ThreadItem, is_last: bool, attachments: &AttachmentContents) -> Vec<Value> {
    match &item.kind {
        ItemKind::UserMessage(message) => user_message(message, is_last, attachments),
        ItemKind::AssistantMessage(message) if message.content.is_empty() => Vec::new(),
        ItemKind::AssistantMessage(message) => {
            let parts = message
                .content
                .iter()
                .map(|part| json!({"type": "output_text", "text": part.text, "annotations": []}))
                .collect();
            vec![message_item("assistant", parts)]
        }
        ItemKind::ClientToolCall(call) => match call.status {
            ClientToolCallStatus::Pending => Vec::new(),
            ClientToolCallStatus::Completed => vec![
                json!({
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": Value::Object(call.arguments.clone()).to_string(),
                }),
                json!({
                    "type": "function_call_output",
                    "call_id": call.call_id,
                    "output": call.output.clone().unwrap_or(Value::Null).to_string(),
                }),
            ],
        },
        ItemKind::Widget(widget) => vec![user_text(format!(
            "The following graphical UI widget (id: {}) was displayed to the user:{}",
            item.id,
            widget.widget.to_wire_value()
        ))],
        ItemKind::GeneratedImage(generated) => match &generated.image {
            Some(image) => vec![message_item(
                "user",
                vec![
                    input_text("The following image was generated by the agent."),
                    json!({"type": "input_image", "detail": "auto", "image_url": image.url}),
                ],
            )],
            None => Vec::new(),
        },
        ItemKind::StructuredInput(structured) => vec![structured_input(structured)],
        ItemKind::Workflow(workflow) => workflow.workflow.tasks.iter().filter_map(task).collect(),
        ItemKind::Task(item) => task(&item.task).into_iter().collect(),
        ItemKind::EndOfTurn => Vec::new(),
        ItemKind::HiddenContextItem(hidden) => match &hidden.content {
            Some(Value::String(text)) => vec![hidden_context(text)],
            Some(other) => vec![hidden_context(&other.to_string())],
            None => Vec::new(),
        },
        ItemKind::SdkHiddenContext(note) => vec![hidden_context(&note.content)],
    }
}

fn user_message(
    message: &UserMessageItem,
    is_last: bool,
    attachments: &AttachmentContents,
) -> Vec<Value> {
    let mut text = String::new();
    let mut tags: Vec<(&str, &Map<String, Value>)> = Vec::new();
    for part in &message.content {
        match part {
            UserMessageContent::InputText { text: part } => text.push_str(part),
            UserMessageContent::InputTag {
                text: tag, data, ..
            } => {
                text.push('@');
                text.push_str(tag);
                if !tags.iter().any(|(seen, _)| seen == tag) {
                    tags.push((tag, data));
                }
            }
        }
    }
    let mut parts = vec![input_text(text)];
    parts.extend(
        message
            .attachments
            .iter()
            .map(|attachment| attachment_part(attachment, attachments.get(&attachment.id))),
    );
    let mut items = vec![message_item("user", parts)];
    if is_last && let Some(quoted) = message.quoted_text.as_deref().filter(|q| !q.is_empty()) {
        items.push(user_text(format!(
            "The user is referring to this in particular: \n{quoted}"
        )));
    }
    if !tags.is_empty() {
        let mut parts = vec![input_text(TAG_NOTE)];
        parts.extend(
            tags.into_iter()
                .map(|(tag, data)| input_text(format!("{tag}: {}", Value::Object(data.clone())))),
        );
        items.push(message_item("user", parts));
    }
    items
}

fn structured_input(item: &StructuredInputItem) -> Value {
    let status = match item.status {
        StructuredInputStatus::Pending => "pending",
        StructuredInputStatus::Answered => "answered",
        StructuredInputStatus::Skipped => "skipped",
    };
    let lines: Vec<String> = item
        .inputs
        .iter()
        .map(|input| match &input.answer {
            None => format!("- {}: unanswered", input.question),
            Some(answer) if answer.skipped => format!("- {}: skipped", input.question),
            Some(answer) => format!("- {}: {}", input.question, answer.values.join(", ")),
        })
        .collect();
    user_text(format!(
        "A structured input request was displayed to the user with the following status: \
         {status}\n<StructuredInput>\n{}\n</StructuredInput>",
        lines.join("\n")
    ))
}

/// A custom task with a title or content; anything else → `None`.
fn task(task: &Task) -> Option<Value> {
    let TaskKind::Custom { title, content, .. } = &task.kind else {
        return None;
    };
    let title = title.as_deref().unwrap_or("");
    let content = content.as_deref().unwrap_or("");
    let text = match (title.is_empty(), content.is_empty()) {
        (true, true) => return None,
        (false, false) => format!("{title}: {content}"),
        (false, true) => title.to_owned(),
        (true, false) => content.to_owned(),
    };
    Some(user_text(format!(
        "A message was displayed to the user that the following task was performed:\n\
         <Task>\n{text}\n</Task>"
    )))
}

fn hidden_context(content: &str) -> Value {
    user_text(format!(
        "Hidden context for the agent (not shown to the user):\n\
         <HiddenContext>\n{content}\n</HiddenContext>"
    ))
}

fn input_text(text: impl Into<String>) -> Value {
    json!({"type": "input_text", "text": text.into()})
}

fn user_text(text: String) -> Value {
    message_item("user", vec![input_text(text)])
}

fn message_item(role: &str, content: Vec<Value>) -> Value {
    json!({"type": "message", "role": role, "content": content})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread item from its JSON fields after `type`.
    fn item(id: &str, fields: Value) -> ThreadItem {
        let mut object = json!({
            "id": id,
            "thread_id": "thr_1",
            "created_at": "2025-06-01T09:30:00.000000Z",
        });
        object
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(object).unwrap()
    }

    fn user(id: &str, text: &str) -> ThreadItem {
        item(
            id,
            json!({"type": "user_message", "content": [{"type": "input_text", "text": text}]}),
        )
    }

    fn assistant(id: &str, text: &str) -> ThreadItem {
        item(
            id,
            json!({"type": "assistant_message", "content": [{"type": "output_text", "text": text, "annotations": []}]}),
        )
    }

    fn tool_call(id: &str, status: &str) -> ThreadItem {
        item(
            id,
            json!({"type": "client_tool_call", "status": status, "call_id": "call_9",
                   "name": "get_selection", "arguments": {"scope": "doc"}, "output": {"text": "X"}}),
        )
    }

    const NO_LIMIT: usize = usize::MAX;

    #[test]
    fn the_observed_history_of_section_5_2() {
        let history = [
            user("msg_1", "What did I select?"),
            tool_call("tc_1", "completed"),
            assistant("msg_2", "You selected X."),
            user("msg_3", "ok"),
        ];
        assert_eq!(
            Value::Array(history_to_input(&history, NO_LIMIT)),
            json!([
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What did I select?"}]},
                {"type": "function_call", "call_id": "call_9", "name": "get_selection", "arguments": "{\"scope\":\"doc\"}"},
                {"type": "function_call_output", "call_id": "call_9", "output": "{\"text\":\"X\"}"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "You selected X.", "annotations": []}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ok"}]},
            ])
        );
    }

    #[test]
    fn pending_tool_calls_end_of_turn_and_empty_items_give_nothing() {
        let history = [
            tool_call("tc_1", "pending"),
            item("eot", json!({"type": "end_of_turn"})),
            item("img", json!({"type": "generated_image"})),
            item("hid", json!({"type": "hidden_context_item"})),
            item("msg", json!({"type": "assistant_message", "content": []})),
        ];
        assert_eq!(history_to_input(&history, NO_LIMIT), Vec::<Value>::new());
    }

    #[test]
    fn attachment_contents_become_parts() {
        let history = [item(
            "msg_1",
            json!({"type": "user_message", "content": [{"type": "input_text", "text": "see"}],
                "attachments": [
                    {"id": "atc_i", "name": "cat.png", "mime_type": "image/png", "type": "image", "preview_url": "https://old/p"},
                    {"id": "atc_b", "name": "dog.png", "mime_type": "image/png", "type": "image", "preview_url": "https://old/q"},
                    {"id": "atc_t", "name": "a.txt", "mime_type": "text/plain", "type": "file"},
                    {"id": "atc_m", "name": "gone.pdf", "mime_type": "application/pdf", "type": "file"}],
                "inference_options": {}}),
        )];
        let contents = AttachmentContents::from([
            (
                "atc_i".to_owned(),
                AttachmentContent::Url("https://chat.example.com/p/atc_i".into()),
            ),
            (
                "atc_b".to_owned(),
                AttachmentContent::Bytes(b"PNG".to_vec()),
            ),
            ("atc_t".to_owned(), AttachmentContent::Bytes(b"hi".to_vec())),
        ]);
        let input = history_to_input_with(&history, 100_000, &contents);
        assert_eq!(
            input[0]["content"],
            json!([
                {"type": "input_text", "text": "see"},
                {"type": "input_image", "detail": "auto", "image_url": "https://chat.example.com/p/atc_i"},
                {"type": "input_image", "detail": "auto", "image_url": "data:image/png;base64,UE5H"},
                {"type": "input_text", "text": "[attachment: a.txt]\nhi"},
                {"type": "input_text", "text": "[attachment: gone.pdf (application/pdf)]"},
            ])
        );
    }

    #[test]
    fn user_message_with_tags_attachments_and_quote() {
        let message = item(
            "msg_1",
            json!({
                "type": "user_message",
                "content": [
                    {"type": "input_text", "text": "Compare "},
                    {"type": "input_tag", "id": "p1", "text": "Alpha", "data": {"sku": 1}},
                    {"type": "input_text", "text": " and "},
                    {"type": "input_tag", "id": "p2", "text": "Beta", "data": {}},
                    {"type": "input_text", "text": " with "},
                    {"type": "input_tag", "id": "p1", "text": "Alpha", "data": {"sku": 1}},
                ],
                "attachments": [{"id": "atc_1", "name": "spec.pdf", "mime_type": "application/pdf", "type": "file"}],
                "quoted_text": "the second table",
            }),
        );
        let expected = json!([
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "Compare @Alpha and @Beta with @Alpha"},
                {"type": "input_text", "text": "[attachment: spec.pdf (application/pdf)]"},
            ]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "The user is referring to this in particular: \nthe second table"},
            ]},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": TAG_NOTE},
                {"type": "input_text", "text": "Alpha: {\"sku\":1}"},
                {"type": "input_text", "text": "Beta: {}"},
            ]},
        ]);
        assert_eq!(
            Value::Array(history_to_input(std::slice::from_ref(&message), NO_LIMIT)),
            expected
        );
        // Not the last item: the quote is dropped (§5.3).
        let input = history_to_input(&[message, assistant("msg_2", "ok")], NO_LIMIT);
        assert_eq!(input.len(), 3);
        assert_eq!(input[1]["content"][0]["text"], TAG_NOTE);
    }

    #[test]
    fn widgets_workflows_tasks_and_structured_input_become_user_text() {
        let text = |item: ThreadItem| -> Vec<String> {
            history_to_input(&[item], NO_LIMIT)
                .iter()
                .map(|v| {
                    assert_eq!(v["role"], "user");
                    v["content"][0]["text"].as_str().unwrap().to_owned()
                })
                .collect()
        };
        assert_eq!(
            text(item(
                "msg_w",
                json!({"type": "widget", "widget": {"type": "Card", "children": [], "size": null}})
            )),
            [
                "The following graphical UI widget (id: msg_w) was displayed to the user:{\"type\":\"Card\",\"children\":[]}"
            ]
        );
        assert_eq!(
            text(item(
                "wf_1",
                json!({"type": "workflow", "workflow": {"type": "custom", "tasks": [
                    {"type": "custom", "title": "Booked", "content": "Table for 2"},
                    {"type": "thought", "content": "hmm"},
                    {"type": "custom", "icon": "check"},
                    {"type": "custom", "content": "Paid"},
                ]}})
            )),
            [
                "A message was displayed to the user that the following task was performed:\n<Task>\nBooked: Table for 2\n</Task>",
                "A message was displayed to the user that the following task was performed:\n<Task>\nPaid\n</Task>",
            ]
        );
        assert_eq!(
            text(item(
                "wf_2",
                json!({"type": "workflow", "workflow": {"type": "reasoning", "tasks": [{"type": "thought", "content": "x"}]}})
            )),
            Vec::<String>::new()
        );
        assert_eq!(
            text(item(
                "tsk_1",
                json!({"type": "task", "task": {"type": "custom", "title": "Saved"}})
            )),
            [
                "A message was displayed to the user that the following task was performed:\n<Task>\nSaved\n</Task>"
            ]
        );
        assert_eq!(
            text(item(
                "tsk_2",
                json!({"type": "task", "task": {"type": "web_search", "queries": ["q"]}})
            )),
            Vec::<String>::new()
        );
        assert_eq!(
            text(item(
                "msg_s",
                json!({"type": "structured_input", "status": "answered", "inputs": [
                    {"id": "a", "question": "Priority?", "answer": {"values": ["High", "Medium"], "skipped": false},
                     "type": "multiple_choice", "options": [{"value": "High"}, {"value": "Medium"}], "multiple": true},
                    {"id": "b", "question": "Notes?", "answer": {"values": [], "skipped": true}, "type": "freeform"},
                    {"id": "c", "question": "Due?", "type": "freeform"},
                ]})
            )),
            [
                "A structured input request was displayed to the user with the following status: answered\n<StructuredInput>\n- Priority?: High, Medium\n- Notes?: skipped\n- Due?: unanswered\n</StructuredInput>"
            ]
        );
    }

    #[test]
    fn hidden_context_and_generated_images() {
        let history = [
            item(
                "hcx",
                json!({"type": "hidden_context_item", "content": "User pressed the red button"}),
            ),
            item(
                "hcx2",
                json!({"type": "hidden_context_item", "content": {"harry": "potter"}}),
            ),
            item(
                "shcx",
                json!({"type": "sdk_hidden_context", "content": "The user cancelled the stream."}),
            ),
            item(
                "img",
                json!({"type": "generated_image", "image": {"id": "i1", "url": "https://x/i.png"}}),
            ),
        ];
        assert_eq!(
            Value::Array(history_to_input(&history, NO_LIMIT)),
            json!([
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text":
                    "Hidden context for the agent (not shown to the user):\n<HiddenContext>\nUser pressed the red button\n</HiddenContext>"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text":
                    "Hidden context for the agent (not shown to the user):\n<HiddenContext>\n{\"harry\":\"potter\"}\n</HiddenContext>"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text":
                    "Hidden context for the agent (not shown to the user):\n<HiddenContext>\nThe user cancelled the stream.\n</HiddenContext>"}]},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "The following image was generated by the agent."},
                    {"type": "input_image", "detail": "auto", "image_url": "https://x/i.png"},
                ]},
            ])
        );
    }

    #[test]
    fn token_estimate_counts_text_and_images() {
        assert_eq!(
            estimate_tokens(&json!({"type": "message", "role": "user", "content": []})),
            ITEM_OVERHEAD_TOKENS + "messageuser".len().div_ceil(4)
        );
        let big_image = json!({"type": "message", "role": "user", "content": [
            {"type": "input_image", "detail": "auto", "image_url": format!("data:image/png;base64,{}", "A".repeat(100_000))},
        ]});
        assert_eq!(
            estimate_tokens(&big_image),
            ITEM_OVERHEAD_TOKENS + "messageuser".len().div_ceil(4) + IMAGE_TOKENS
        );
        // Characters, not bytes.
        let e = estimate_tokens(&json!("ééééééé"));
        assert_eq!(e, ITEM_OVERHEAD_TOKENS + 2);
    }

    /// The estimate of one converted thread item.
    fn cost(item: &ThreadItem) -> usize {
        history_to_input(std::slice::from_ref(item), usize::MAX)
            .iter()
            .map(estimate_tokens)
            .sum()
    }

    #[test]
    fn the_budget_keeps_the_newest_items_and_never_splits_a_call() {
        let history = [
            user("m1", &"old ".repeat(100)),
            assistant("m2", "first answer"),
            user("m3", "second question"),
            tool_call("tc", "completed"),
            assistant("m4", "second answer"),
            user("m5", "third question"),
        ];
        let call = cost(&history[3]);
        let newest_two = cost(&history[5]) + cost(&history[4]);
        // Room for the last two and half the call: the call goes as a whole.
        let input = history_to_input(&history, newest_two + call / 2);
        assert_eq!(input.len(), 2);
        assert_eq!(input[0]["content"][0]["text"], "second answer");
        assert_eq!(input[1]["content"][0]["text"], "third question");
        // Room for the call too: both halves come along.
        let input = history_to_input(&history, newest_two + call);
        let types: Vec<&str> = input.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "function_call",
                "function_call_output",
                "message",
                "message"
            ]
        );
        // The walk stops at the first item that does not fit, even if an
        // older one would: no holes in the conversation.
        let history = [
            assistant("m0", "tiny"),
            user("m1", &"big ".repeat(1000)),
            assistant("m2", "answer"),
            user("m3", "question"),
        ];
        let room_for_all_but_m1 = cost(&history[0]) + cost(&history[2]) + cost(&history[3]);
        let input = history_to_input(&history, room_for_all_but_m1);
        assert_eq!(input.len(), 2);
        assert_eq!(input[0]["content"][0]["text"], "answer");
        // Everything fits: everything is kept, with no item-count cap.
        let many: Vec<ThreadItem> = (0..200).map(|i| user(&format!("m{i}"), "hi")).collect();
        assert_eq!(history_to_input(&many, NO_LIMIT).len(), 200);
    }

    #[test]
    fn the_last_user_message_is_kept_even_over_budget() {
        let huge = "word ".repeat(10_000);
        let history = [
            user("m1", "earlier"),
            assistant("m2", "answer"),
            user("m3", &huge),
        ];
        let input = history_to_input(&history, 10);
        assert_eq!(input.len(), 1);
        assert_eq!(input[0]["content"][0]["text"], huge.as_str());
        // After a client tool call (add_client_tool_output): the user
        // message is kept although newer items took the budget.
        let history = [
            user("m1", "What did I select?"),
            item(
                "hcx",
                json!({"type": "hidden_context_item", "content": huge}),
            ),
            tool_call("tc", "completed"),
        ];
        let budget = cost(&history[0]) + cost(&history[2]);
        let input = history_to_input(&history, budget);
        let types: Vec<&str> = input.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["message", "function_call", "function_call_output"]);
        // A zero budget still sends the last user message.
        assert_eq!(history_to_input(&history, 0).len(), 1);
        assert_eq!(history_to_input(&[], 0), Vec::<Value>::new());
    }
}
