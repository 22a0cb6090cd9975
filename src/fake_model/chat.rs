//! The Chat Completions rendering (MODEL_STREAMING.md §2.2–2.3): the
//! `chat.completion.chunk` stream of an answer, and the `chat.completion`.

use serde_json::{Value, json};

use super::answer::{Answer, AnswerKind, Turn};
use super::responses::unix_now;
use super::stream::{Delta, Frame};
use super::{Behaviour, FAKE_ID, FakeState};

/// The chunks of a streamed answer, framed, ending with `data: [DONE]`.
pub(super) fn stream(
    turn: &Turn,
    answer: &Answer,
    behaviour: &Behaviour,
    state: &FakeState,
    body: &Value,
) -> Vec<Frame> {
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let id = if behaviour.fake_ids {
        FAKE_ID.to_owned()
    } else {
        state.new_id("chatcmpl")
    };
    let created = unix_now();
    let chunk = |delta: Value, finish: Value, kind: Delta| {
        let mut chunk = json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": turn.model, "choices": [{"index": 0, "delta": delta, "logprobs": null,
            "finish_reason": finish}]});
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        Frame::new(format!("data: {chunk}\n\n"), kind)
    };
    let delta = |delta: Value, kind: Delta| chunk(delta, Value::Null, kind);

    let mut frames = Vec::new();
    let tool_header = |call_id: &str, name: &str| {
        json!([{"index": 0, "id": call_id, "type": "function",
            "function": {"name": name, "arguments": ""}}])
    };
    // The first chunk: the role, and (as the mock sends it) the tool call's
    // header unless reasoning comes first.
    frames.push(match &answer.kind {
        AnswerKind::Tool { call_id, name, .. } if answer.reasoning.is_empty() => delta(
            json!({"role": "assistant", "content": null, "tool_calls": tool_header(call_id, name)}),
            Delta::No,
        ),
        AnswerKind::Tool { .. } => delta(json!({"role": "assistant", "content": null}), Delta::No),
        AnswerKind::Text { .. } => delta(json!({"role": "assistant", "content": ""}), Delta::No),
    });
    for piece in reasoning_pieces(answer) {
        frames.push(delta(json!({"reasoning_content": piece}), Delta::Reasoning));
    }
    match &answer.kind {
        AnswerKind::Tool {
            call_id,
            name,
            pieces,
            ..
        } => {
            if !answer.reasoning.is_empty() {
                frames.push(delta(
                    json!({"tool_calls": tool_header(call_id, name)}),
                    Delta::No,
                ));
            }
            for piece in pieces {
                frames.push(delta(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    Delta::Answer,
                ));
            }
        }
        AnswerKind::Text { pieces } => {
            for piece in pieces {
                frames.push(delta(json!({"content": piece}), Delta::Answer));
            }
        }
    }
    if behaviour.error_event
        && let Some(first) = frames.iter().position(|f| f.delta == Delta::Answer)
    {
        frames.truncate(first + 1);
        let error = json!({"error": {"message": "fake_model: injected stream error",
            "type": "too_many_requests", "param": null, "code": "rate_limit_exceeded"}});
        frames.push(Frame::new(format!("data: {error}\n\n"), Delta::No));
        return frames;
    }
    if let Some(annotations) = annotations(answer) {
        frames.push(delta(json!({"annotations": annotations}), Delta::No));
    }
    frames.push(chunk(json!({}), json!(finish_reason(answer)), Delta::No));
    if include_usage {
        let usage = json!({"id": id, "object": "chat.completion.chunk", "created": created,
            "model": turn.model, "choices": [], "usage": usage(turn, answer)});
        frames.push(Frame::new(format!("data: {usage}\n\n"), Delta::No));
    }
    frames.push(Frame::new("data: [DONE]\n\n".to_owned(), Delta::No));
    frames
}

/// The `chat.completion` of a non-streamed answer.
pub(super) fn complete(turn: &Turn, answer: &Answer, state: &FakeState) -> Value {
    let mut message = match &answer.kind {
        AnswerKind::Tool {
            call_id,
            name,
            arguments,
            ..
        } => json!({"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": call_id, "type": "function",
                "function": {"name": name, "arguments": arguments}}]}),
        AnswerKind::Text { .. } => {
            json!({"role": "assistant", "content": answer.text(), "refusal": null})
        }
    };
    if !answer.reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning_pieces(answer).collect::<String>());
    }
    if let Some(annotations) = annotations(answer) {
        message["annotations"] = annotations;
    }
    json!({"id": state.new_id("chatcmpl"), "object": "chat.completion", "created": unix_now(),
        "model": turn.model, "choices": [{"index": 0, "message": message, "logprobs": null,
        "finish_reason": finish_reason(answer)}], "usage": usage(turn, answer)})
}

/// The reasoning deltas, paragraphs separated by a blank line.
fn reasoning_pieces(answer: &Answer) -> impl Iterator<Item = String> + '_ {
    answer.reasoning.iter().enumerate().flat_map(|(p, pieces)| {
        pieces.iter().enumerate().map(move |(i, piece)| {
            if p > 0 && i == 0 {
                format!("\n\n{piece}")
            } else {
                piece.clone()
            }
        })
    })
}

fn annotations(answer: &Answer) -> Option<Value> {
    answer.citation.as_ref().map(|c| {
        json!([{"type": "url_citation", "url_citation": {"url": c.url, "title": c.title,
            "start_index": c.start_index, "end_index": c.end_index}}])
    })
}

fn finish_reason(answer: &Answer) -> &'static str {
    match answer.kind {
        AnswerKind::Tool { .. } => "tool_calls",
        AnswerKind::Text { .. } => "stop",
    }
}

fn usage(turn: &Turn, answer: &Answer) -> Value {
    let out = answer.output_tokens();
    json!({"prompt_tokens": turn.input_tokens, "completion_tokens": out,
        "total_tokens": turn.input_tokens + out})
}
