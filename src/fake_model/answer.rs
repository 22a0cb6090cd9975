//! What the fake model answers: the request read into a [`Turn`], the
//! endpoint-independent [`Answer`] (text pieces or a tool call, reasoning,
//! citation), decided as `mock_llm.py` does.

use serde_json::Value;

use super::{Behaviour, FakeState, TOOL_ARGS, TOOL_NAME};

/// What the fake model reads from a request body.
pub(super) struct Turn {
    pub model: String,
    /// Text of the last user message (`""` when there is none).
    pub user_text: String,
    /// `(tool name, output)` of the last function output after that message.
    pub tool_output: Option<(String, String)>,
    /// Names of the function tools offered.
    pub offered: Vec<String>,
    /// Items in `input` / messages in `messages`.
    pub input_len: usize,
    /// A rough token count of the input, as the mock computes it.
    pub input_tokens: usize,
}

impl Turn {
    /// A Responses request: `input` (a list of items, or a bare string).
    pub fn from_responses(body: &Value) -> Self {
        let single;
        let items: &[Value] = match body.get("input") {
            Some(Value::Array(items)) => items,
            other => {
                let text = other.cloned().filter(|v| !v.is_null()).unwrap_or_default();
                single = [serde_json::json!({"role": "user", "content": text})];
                &single
            }
        };
        let user = items.iter().rposition(|it| {
            it.get("role").and_then(Value::as_str) == Some("user")
                && it.get("type").and_then(Value::as_str).unwrap_or("message") == "message"
        });
        let tool_output = after(items, user)
            .iter()
            .rfind(|it| str_of(it, "type") == Some("function_call_output"))
            .map(|it| {
                let output = match it.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => "null".to_owned(),
                };
                let call_id = str_of(it, "call_id");
                let name = items
                    .iter()
                    .find(|c| {
                        str_of(c, "type") == Some("function_call")
                            && str_of(c, "call_id") == call_id
                    })
                    .and_then(|c| str_of(c, "name"));
                (name.unwrap_or(TOOL_NAME).to_owned(), output)
            });
        Turn {
            model: model_of(body),
            user_text: user
                .map(|i| text_of(items[i].get("content")))
                .unwrap_or_default(),
            tool_output,
            offered: tool_names(body, |t| str_of(t, "name")),
            input_len: items.len(),
            input_tokens: tokens_of(items),
        }
    }

    /// A Chat Completions request: `messages`.
    pub fn from_chat(body: &Value) -> Self {
        let messages: &[Value] = body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let user = messages
            .iter()
            .rposition(|m| str_of(m, "role") == Some("user"));
        let tool_output = after(messages, user)
            .iter()
            .rfind(|m| str_of(m, "role") == Some("tool"))
            .map(|m| {
                let call_id = str_of(m, "tool_call_id");
                let name = messages
                    .iter()
                    .filter_map(|a| a.get("tool_calls").and_then(Value::as_array))
                    .flatten()
                    .find(|call| str_of(call, "id") == call_id)
                    .and_then(|call| call.get("function"))
                    .and_then(|f| str_of(f, "name"));
                (
                    name.unwrap_or(TOOL_NAME).to_owned(),
                    text_of(m.get("content")),
                )
            });
        Turn {
            model: model_of(body),
            user_text: user
                .map(|i| text_of(messages[i].get("content")))
                .unwrap_or_default(),
            tool_output,
            offered: tool_names(body, |t| t.get("function").and_then(|f| str_of(f, "name"))),
            input_len: messages.len(),
            input_tokens: tokens_of(messages),
        }
    }
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn model_of(body: &Value) -> String {
    str_of(body, "model").unwrap_or("mock-model").to_owned()
}

/// The items after index `user` (all of them when there is no user message).
fn after(items: &[Value], user: Option<usize>) -> &[Value] {
    user.map_or(items, |i| &items[i + 1..])
}

fn tool_names(body: &Value, name: impl Fn(&Value) -> Option<&str>) -> Vec<String> {
    let tools = body.get("tools").and_then(Value::as_array);
    tools
        .into_iter()
        .flatten()
        .filter_map(|t| name(t).map(str::to_owned))
        .collect()
}

/// `len(json) // 4 + 1` summed over the items, as the mock counts.
fn tokens_of(items: &[Value]) -> usize {
    items
        .iter()
        .map(|it| it.to_string().chars().count())
        .sum::<usize>()
        / 4
        + 1
}

/// The text of message content: a string, or the text parts joined.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|p| {
                matches!(
                    str_of(p, "type"),
                    Some("input_text" | "text" | "output_text")
                )
            })
            .filter_map(|p| str_of(p, "text"))
            .collect(),
        _ => String::new(),
    }
}

/// The answer, before it is rendered for an endpoint.
pub(super) struct Answer {
    pub kind: AnswerKind,
    /// Reasoning summary paragraphs, each as its deltas.
    pub reasoning: Vec<Vec<String>>,
    /// A citation spanning the whole text (text answers only).
    pub citation: Option<Citation>,
}

pub(super) enum AnswerKind {
    /// Text, as its deltas.
    Text { pieces: Vec<String> },
    /// One function call; `pieces` are the argument deltas.
    Tool {
        name: String,
        call_id: String,
        arguments: String,
        pieces: Vec<String>,
    },
}

/// A `url_citation`.
pub(super) struct Citation {
    pub url: &'static str,
    pub title: &'static str,
    pub start_index: usize,
    pub end_index: usize,
}

impl Answer {
    pub fn new(turn: &Turn, behaviour: &Behaviour, state: &FakeState) -> Self {
        let candidates = [
            behaviour.client_tool.as_deref(),
            behaviour.tool_call.then_some(TOOL_NAME),
        ];
        let tool = candidates
            .into_iter()
            .flatten()
            .find(|name| turn.tool_output.is_none() && turn.offered.iter().any(|o| o == name));
        let kind = match tool {
            Some(name) => {
                let mid = TOOL_ARGS.len() / 2;
                AnswerKind::Tool {
                    name: name.to_owned(),
                    call_id: state.new_id("call"),
                    arguments: TOOL_ARGS.to_owned(),
                    pieces: vec![TOOL_ARGS[..mid].to_owned(), TOOL_ARGS[mid..].to_owned()],
                }
            }
            None => {
                let mut head = format!("echo: {}", turn.user_text);
                if let Some((name, output)) = &turn.tool_output {
                    head.push_str(&format!(" [{name}: {output}]"));
                }
                let tail = (1..behaviour.tokens.max(1)).map(|i| format!(" tok{i}"));
                AnswerKind::Text {
                    pieces: std::iter::once(head).chain(tail).collect(),
                }
            }
        };
        let reasoning = (1..=behaviour.reasoning)
            .map(|i| {
                let body = if i == 1 {
                    format!("The user wrote: {}", turn.user_text)
                } else {
                    format!("Planning step {i}.")
                };
                vec![format!("**Thought {i}**\n\n"), body]
            })
            .collect();
        let citation = match &kind {
            AnswerKind::Text { pieces } if behaviour.citations => Some(Citation {
                url: "https://example.com/fake-source",
                title: "Fake source",
                start_index: 0,
                end_index: pieces.iter().map(|p| p.chars().count()).sum(),
            }),
            _ => None,
        };
        Answer {
            kind,
            reasoning,
            citation,
        }
    }

    /// The deltas of the answer proper (text or arguments).
    pub fn pieces(&self) -> &[String] {
        match &self.kind {
            AnswerKind::Text { pieces } | AnswerKind::Tool { pieces, .. } => pieces,
        }
    }

    /// The full text of a text answer.
    pub fn text(&self) -> String {
        self.pieces().concat()
    }

    /// Deltas of reasoning.
    pub fn reasoning_tokens(&self) -> usize {
        self.reasoning.iter().map(Vec::len).sum()
    }

    /// Output tokens: one per delta.
    pub fn output_tokens(&self) -> usize {
        self.pieces().len() + self.reasoning_tokens()
    }
}
