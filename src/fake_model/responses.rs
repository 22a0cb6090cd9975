//! The Responses API rendering (MODEL_STREAMING.md §1.5–1.7): the SSE
//! event sequence of a streamed answer, and the `Response` object.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::answer::{Answer, AnswerKind, Turn};
use super::stream::{Delta, Frame};
use super::{Behaviour, FakeState};

/// The events of a streamed answer, numbered and framed.
pub(super) fn stream(
    turn: &Turn,
    answer: &Answer,
    behaviour: &Behaviour,
    state: &FakeState,
) -> Vec<Frame> {
    let mut built = build(turn, answer, state, behaviour.fake_ids);
    let mut events = vec![
        (
            event(
                "response.created",
                json!({"response": built.envelope("in_progress", &[], None)}),
            ),
            Delta::No,
        ),
        (
            event(
                "response.in_progress",
                json!({"response": built.envelope("in_progress", &[], None)}),
            ),
            Delta::No,
        ),
    ];
    events.append(&mut built.events);
    if behaviour.error_event
        && let Some(first) = events.iter().position(|(_, d)| *d == Delta::Answer)
    {
        events.truncate(first + 1);
        let error = json!({"error": {"type": "too_many_requests", "code": "rate_limit_exceeded",
            "message": "fake_model: injected stream error", "param": null}});
        events.push((event("error", error), Delta::No));
    } else {
        let completed = built.envelope("completed", &built.output, Some(built.usage.clone()));
        events.push((
            event("response.completed", json!({"response": completed})),
            Delta::No,
        ));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(seq, (mut ev, delta))| {
            ev["sequence_number"] = json!(seq);
            let kind = ev["type"].as_str().unwrap_or_default();
            let text = format!("event: {kind}\ndata: {ev}\n\n");
            Frame::new(text, delta)
        })
        .collect()
}

/// The `Response` object of a non-streamed answer.
pub(super) fn complete(turn: &Turn, answer: &Answer, state: &FakeState) -> Value {
    let built = build(turn, answer, state, false);
    built.envelope("completed", &built.output, Some(built.usage.clone()))
}

/// An event with `type` and `sequence_number` first, then `fields`.
fn event(kind: &str, fields: Value) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), json!(kind));
    map.insert("sequence_number".into(), json!(0));
    if let Value::Object(fields) = fields {
        map.extend(fields);
    }
    Value::Object(map)
}

struct Built {
    id: String,
    created_at: u64,
    model: String,
    /// The output items, complete.
    output: Vec<Value>,
    /// The item events between `response.in_progress` and the terminal one.
    events: Vec<(Value, Delta)>,
    usage: Value,
}

impl Built {
    /// The `Response` object, with the fields `mock_llm.py` sends.
    fn envelope(&self, status: &str, output: &[Value], usage: Option<Value>) -> Value {
        json!({
            "id": self.id, "object": "response", "created_at": self.created_at,
            "status": status, "model": self.model, "output": output,
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "error": null,
            "incomplete_details": null, "instructions": null, "metadata": {},
            "temperature": 1.0, "top_p": 1.0, "text": {"format": {"type": "text"}},
            "usage": usage,
        })
    }
}

fn build(turn: &Turn, answer: &Answer, state: &FakeState, fake_ids: bool) -> Built {
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut push =
        |kind: &str, fields: Value, delta: Delta| events.push((event(kind, fields), delta));

    if !answer.reasoning.is_empty() {
        let id = state.item_id("rs", fake_ids);
        let index = output.len();
        push(
            "response.output_item.added",
            json!({"output_index": index, "item": {"id": id, "type": "reasoning", "summary": []}}),
            Delta::No,
        );
        let mut summary = Vec::new();
        for (si, pieces) in answer.reasoning.iter().enumerate() {
            let at = json!({"item_id": id, "output_index": index, "summary_index": si});
            let with = |extra: Value| merge(&at, extra);
            let text = pieces.concat();
            push(
                "response.reasoning_summary_part.added",
                with(json!({"part": {"type": "summary_text", "text": ""}})),
                Delta::No,
            );
            for piece in pieces {
                push(
                    "response.reasoning_summary_text.delta",
                    with(json!({"delta": piece})),
                    Delta::Reasoning,
                );
            }
            push(
                "response.reasoning_summary_text.done",
                with(json!({"text": text})),
                Delta::No,
            );
            let part = json!({"type": "summary_text", "text": text});
            push(
                "response.reasoning_summary_part.done",
                with(json!({"part": part})),
                Delta::No,
            );
            summary.push(part);
        }
        let item = json!({"id": id, "type": "reasoning", "summary": summary});
        push(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            Delta::No,
        );
        output.push(item);
    }

    let index = output.len();
    match &answer.kind {
        AnswerKind::Tool {
            name,
            call_id,
            arguments,
            pieces,
        } => {
            let id = state.item_id("fc", fake_ids);
            let item = json!({"id": id, "type": "function_call", "status": "completed",
                "arguments": arguments, "call_id": call_id, "name": name});
            let mut added = item.clone();
            added["status"] = json!("in_progress");
            added["arguments"] = json!("");
            push(
                "response.output_item.added",
                json!({"output_index": index, "item": added}),
                Delta::No,
            );
            for piece in pieces {
                push(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id, "output_index": index, "delta": piece}),
                    Delta::Answer,
                );
            }
            push(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "name": name, "arguments": arguments}),
                Delta::No,
            );
            push(
                "response.output_item.done",
                json!({"output_index": index, "item": item}),
                Delta::No,
            );
            output.push(item);
        }
        AnswerKind::Text { pieces } => {
            let id = state.item_id("msg", fake_ids);
            let text = answer.text();
            let at = json!({"item_id": id, "output_index": index, "content_index": 0});
            let with = |extra: Value| merge(&at, extra);
            let annotation = answer.citation.as_ref().map(|c| {
                json!({"type": "url_citation", "start_index": c.start_index,
                    "end_index": c.end_index, "url": c.url, "title": c.title})
            });
            let annotations: Vec<Value> = annotation.iter().cloned().collect();
            let part_done = json!({"type": "output_text", "text": text,
                "annotations": annotations, "logprobs": []});
            let item = json!({"id": id, "type": "message", "status": "completed",
                "role": "assistant", "content": [part_done]});
            push(
                "response.output_item.added",
                json!({"output_index": index, "item": {"id": id, "type": "message",
                    "status": "in_progress", "role": "assistant", "content": []}}),
                Delta::No,
            );
            push(
                "response.content_part.added",
                with(
                    json!({"part": {"type": "output_text", "text": "", "annotations": [],
                    "logprobs": []}}),
                ),
                Delta::No,
            );
            for piece in pieces {
                push(
                    "response.output_text.delta",
                    with(json!({"delta": piece, "logprobs": []})),
                    Delta::Answer,
                );
            }
            if let Some(annotation) = annotation {
                push(
                    "response.output_text.annotation.added",
                    with(json!({"annotation_index": 0, "annotation": annotation})),
                    Delta::No,
                );
            }
            push(
                "response.output_text.done",
                with(json!({"text": text, "logprobs": []})),
                Delta::No,
            );
            push(
                "response.content_part.done",
                with(json!({"part": part_done})),
                Delta::No,
            );
            push(
                "response.output_item.done",
                json!({"output_index": index, "item": item}),
                Delta::No,
            );
            output.push(item);
        }
    }

    let out_tokens = answer.output_tokens();
    let usage = json!({
        "input_tokens": turn.input_tokens, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out_tokens,
        "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens()},
        "total_tokens": turn.input_tokens + out_tokens,
    });
    Built {
        id: state.new_id("resp"),
        created_at: unix_now(),
        model: turn.model.clone(),
        output,
        events,
        usage,
    }
}

/// `base`'s keys, then `extra`'s.
fn merge(base: &Value, extra: Value) -> Value {
    let mut out = base.clone();
    if let (Value::Object(out), Value::Object(extra)) = (&mut out, extra) {
        out.extend(extra);
    }
    out
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
