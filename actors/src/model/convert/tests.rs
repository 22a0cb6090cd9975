//! Converter tests: literal streams of MODEL_STREAMING.md §1.5/§1.6 and
//! the id-collision vectors of §6.4, compared as JSON with ids and
//! timestamps redacted.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;
use crate::ids::ItemId;
use crate::protocol::ItemKind;
use crate::time::Timestamp;

const THREAD: &str = "thr_test";

fn converter() -> RunConverter {
    RunConverter::new(ThreadId::from(THREAD))
}

/// The events of an SSE text: every `data:` line.
fn sse(text: &str) -> Vec<ResponsesEvent> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| ResponsesEvent::parse(d).expect("valid event"))
        .collect()
}

fn ev(value: Value) -> ResponsesEvent {
    serde_json::from_value(value).expect("valid event")
}

fn push_all(
    c: &mut RunConverter,
    events: impl IntoIterator<Item = ResponsesEvent>,
) -> Vec<ThreadStreamEvent> {
    events.into_iter().flat_map(|e| c.push(e)).collect()
}

/// One call: start, push everything, finish; the ChatKit events
/// (including the outcome's) and the outcome.
fn call(
    c: &mut RunConverter,
    events: impl IntoIterator<Item = ResponsesEvent>,
) -> (Vec<ThreadStreamEvent>, CallOutcome) {
    c.start_call();
    let mut out = push_all(c, events);
    let outcome = c.finish_call();
    out.extend(outcome.events.iter().cloned());
    (out, outcome)
}

/// JSON of the events with generated ids replaced by `<prefix>#<n>` (in
/// order of first appearance) and every `created_at` by `<ts>`.
fn redact(events: &[ThreadStreamEvent]) -> Vec<Value> {
    let mut names: HashMap<String, String> = HashMap::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    fn walk(
        v: &mut Value,
        names: &mut HashMap<String, String>,
        counts: &mut HashMap<String, usize>,
    ) {
        match v {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    match (key.as_str(), value.as_str()) {
                        ("created_at", Some(_)) => *value = "<ts>".into(),
                        ("id" | "item_id", Some(id)) if is_generated(id) => {
                            let prefix = id.split('_').next().unwrap().to_owned();
                            let name = names.entry(id.to_owned()).or_insert_with(|| {
                                let n = counts.entry(prefix.clone()).or_default();
                                *n += 1;
                                format!("{prefix}#{n}")
                            });
                            *value = name.clone().into();
                        }
                        _ => walk(value, names, counts),
                    }
                }
            }
            Value::Array(list) => list.iter_mut().for_each(|x| walk(x, names, counts)),
            _ => {}
        }
    }
    events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap();
            walk(&mut v, &mut names, &mut counts);
            v
        })
        .collect()
}

fn is_generated(id: &str) -> bool {
    id.split_once('_').is_some_and(|(p, rest)| {
        ["msg", "wf", "tc"].contains(&p)
            && rest.len() == 32
            && rest.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn assert_events(events: &[ThreadStreamEvent], expected: Value) {
    let got = Value::Array(redact(events));
    assert_eq!(
        got,
        expected,
        "\ngot:\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );
}

/// Checks the id rules on a whole run: no provider or placeholder id, and
/// every `updated`/`done`/`removed` names an item announced before, with
/// the same `created_at` on its `added` and `done`.
fn check_ids(events: &[ThreadStreamEvent]) {
    let mut announced: HashMap<ItemId, Timestamp> = HashMap::new();
    for e in events {
        match e {
            ThreadStreamEvent::ThreadItemAdded { item } => {
                assert!(is_generated(item.id.as_str()), "{}", item.id);
                assert!(
                    announced.insert(item.id.clone(), item.created_at).is_none(),
                    "added twice"
                );
            }
            ThreadStreamEvent::ThreadItemUpdated { item_id, .. }
            | ThreadStreamEvent::ThreadItemRemoved { item_id } => {
                assert!(announced.contains_key(item_id), "{item_id} not announced");
            }
            ThreadStreamEvent::ThreadItemDone { item } => {
                assert_eq!(
                    announced.get(&item.id),
                    Some(&item.created_at),
                    "{}",
                    item.id
                );
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// The ids of the assistant messages `done` in these events.
fn done_messages(events: &[ThreadStreamEvent]) -> Vec<(ItemId, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            ThreadStreamEvent::ThreadItemDone { item } => match &item.kind {
                ItemKind::AssistantMessage(m) => Some((
                    item.id.clone(),
                    m.content.iter().map(|p| p.text.as_str()).collect(),
                )),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

const STREAM_1_5: &str = r#"
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_01","object":"response","created_at":1767000000,"status":"in_progress","model":"gpt-4.1","output":[],"error":null,"incomplete_details":null,"usage":null}}
data: {"type":"response.in_progress","sequence_number":1,"response":{"id":"resp_01","object":"response","created_at":1767000000,"status":"in_progress","model":"gpt-4.1","output":[]}}
data: {"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"id":"msg_01","type":"message","status":"in_progress","role":"assistant","content":[]}}
data: {"type":"response.content_part.added","sequence_number":3,"item_id":"msg_01","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}
data: {"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_01","output_index":0,"content_index":0,"delta":"It is ","logprobs":[],"obfuscation":"k2"}
data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_01","output_index":0,"content_index":0,"delta":"sunny.","logprobs":[],"obfuscation":"Qp"}
data: {"type":"response.output_text.annotation.added","sequence_number":6,"item_id":"msg_01","output_index":0,"content_index":0,"annotation_index":0,"annotation":{"type":"url_citation","start_index":0,"end_index":12,"url":"https://example.com/w","title":"Weather"}}
data: {"type":"response.output_text.done","sequence_number":7,"item_id":"msg_01","output_index":0,"content_index":0,"text":"It is sunny.","logprobs":[]}
data: {"type":"response.content_part.done","sequence_number":8,"item_id":"msg_01","output_index":0,"content_index":0,"part":{"type":"output_text","text":"It is sunny.","annotations":[{"type":"url_citation","start_index":0,"end_index":12,"url":"https://example.com/w","title":"Weather"}],"logprobs":[]}}
data: {"type":"response.output_item.done","sequence_number":9,"output_index":0,"item":{"id":"msg_01","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"It is sunny.","annotations":[{"type":"url_citation","start_index":0,"end_index":12,"url":"https://example.com/w","title":"Weather"}],"logprobs":[]}]}}
data: {"type":"response.completed","sequence_number":10,"response":{"id":"resp_01","object":"response","created_at":1767000000,"status":"completed","model":"gpt-4.1","output":[{"id":"msg_01","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"It is sunny.","annotations":[{"type":"url_citation","start_index":0,"end_index":12,"url":"https://example.com/w","title":"Weather"}],"logprobs":[]}]}],"usage":{"input_tokens":25,"input_tokens_details":{"cached_tokens":0},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":31}}}
"#;

const STREAM_1_6: &str = r#"
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_02","object":"response","status":"in_progress","output":[]}}
data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"rs_01","type":"reasoning","summary":[]}}
data: {"type":"response.reasoning_summary_part.added","sequence_number":2,"item_id":"rs_01","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}
data: {"type":"response.reasoning_summary_text.delta","sequence_number":3,"item_id":"rs_01","output_index":0,"summary_index":0,"delta":"**Checking weather**\n\n"}
data: {"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_01","output_index":0,"summary_index":0,"delta":"I will call the tool."}
data: {"type":"response.reasoning_summary_text.done","sequence_number":5,"item_id":"rs_01","output_index":0,"summary_index":0,"text":"**Checking weather**\n\nI will call the tool."}
data: {"type":"response.reasoning_summary_part.done","sequence_number":6,"item_id":"rs_01","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":"**Checking weather**\n\nI will call the tool."}}
data: {"type":"response.output_item.done","sequence_number":7,"output_index":0,"item":{"id":"rs_01","type":"reasoning","summary":[{"type":"summary_text","text":"**Checking weather**\n\nI will call the tool."}],"encrypted_content":"gAAAAB…"}}
data: {"type":"response.output_item.added","sequence_number":8,"output_index":1,"item":{"id":"fc_01","type":"function_call","status":"in_progress","call_id":"call_A1","name":"get_weather","arguments":""}}
data: {"type":"response.function_call_arguments.delta","sequence_number":9,"item_id":"fc_01","output_index":1,"delta":"{\"city\":"}
data: {"type":"response.function_call_arguments.delta","sequence_number":10,"item_id":"fc_01","output_index":1,"delta":"\"Paris\"}"}
data: {"type":"response.function_call_arguments.done","sequence_number":11,"item_id":"fc_01","output_index":1,"arguments":"{\"city\":\"Paris\"}"}
data: {"type":"response.output_item.done","sequence_number":12,"output_index":1,"item":{"id":"fc_01","type":"function_call","status":"completed","call_id":"call_A1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}
data: {"type":"response.completed","sequence_number":13,"response":{"id":"resp_02","object":"response","status":"completed","output":[{"id":"rs_01","type":"reasoning","summary":[{"type":"summary_text","text":"…"}]},{"id":"fc_01","type":"function_call","status":"completed","call_id":"call_A1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}],"usage":{"input_tokens":60,"input_tokens_details":{"cached_tokens":0},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":24},"total_tokens":100}}}
"#;

fn url_annotation(title: &str, url: &str, index: usize) -> Value {
    json!({"type":"annotation","source":{"title":title,"type":"url","url":url},"index":index})
}

fn part(text: &str, annotations: Value) -> Value {
    json!({"annotations":annotations,"text":text,"type":"output_text"})
}

fn added_msg(id: &str) -> Value {
    json!({"type":"thread.item.added","item":{"id":id,"thread_id":THREAD,"created_at":"<ts>","type":"assistant_message","content":[]}})
}

fn done_msg(id: &str, content: Value) -> Value {
    json!({"type":"thread.item.done","item":{"id":id,"thread_id":THREAD,"created_at":"<ts>","type":"assistant_message","content":content}})
}

fn update(id: &str, update: Value) -> Value {
    json!({"type":"thread.item.updated","item_id":id,"update":update})
}

fn part_added(id: &str, index: usize) -> Value {
    update(
        id,
        json!({"type":"assistant_message.content_part.added","content_index":index,"content":part("", json!([]))}),
    )
}

fn delta(id: &str, index: usize, text: &str) -> Value {
    update(
        id,
        json!({"type":"assistant_message.content_part.text_delta","content_index":index,"delta":text}),
    )
}

fn part_done(id: &str, index: usize, content: Value) -> Value {
    update(
        id,
        json!({"type":"assistant_message.content_part.done","content_index":index,"content":content}),
    )
}

fn thought(content: &str) -> Value {
    json!({"status_indicator":"none","type":"thought","content":content})
}

fn workflow(id: &str, tasks: Value, done: bool) -> Value {
    let mut w = json!({"type":"reasoning","tasks":tasks,"expanded":false});
    if done {
        w = json!({"type":"reasoning","tasks":tasks,"summary":{"duration":0},"expanded":false});
    }
    let kind = if done {
        "thread.item.done"
    } else {
        "thread.item.added"
    };
    json!({"type":kind,"item":{"id":id,"thread_id":THREAD,"created_at":"<ts>","type":"workflow","workflow":w}})
}

fn task(id: &str, kind: &str, index: usize, content: &str) -> Value {
    update(
        id,
        json!({"type":format!("workflow.task.{kind}"),"task_index":index,"task":thought(content)}),
    )
}

#[test]
fn plain_answer_with_citation_literal_stream() {
    let mut c = converter();
    let (events, outcome) = call(&mut c, sse(STREAM_1_5));
    let cite = url_annotation("Weather", "https://example.com/w", 12);
    let full = part("It is sunny.", json!([cite]));
    assert_events(
        &events,
        json!([
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "It is "),
            delta("msg#1", 0, "sunny."),
            update(
                "msg#1",
                json!({"type":"assistant_message.content_part.annotation_added","content_index":0,"annotation_index":0,"annotation":cite})
            ),
            part_done("msg#1", 0, full.clone()),
            done_msg("msg#1", json!([full])),
        ]),
    );
    check_ids(&events);
    assert_eq!(outcome.terminal, Terminal::Completed);
    assert!(outcome.events.is_empty() && outcome.closed.is_empty() && outcome.removed.is_empty());
    assert!(outcome.function_calls.is_empty());
    assert_eq!(outcome.response_id.as_deref(), Some("resp_01"));
    assert_eq!(outcome.usage.unwrap()["total_tokens"], 31);
    let done_item = &sse(STREAM_1_5)[9];
    let ResponsesEvent::OutputItemDone { item, .. } = done_item else {
        panic!()
    };
    assert_eq!(outcome.output_items, vec![item.clone()]);
    assert!(c.finish_run().is_empty());
}

#[test]
fn reasoning_then_function_call_literal_stream() {
    let mut c = converter();
    let (mut events, outcome) = call(&mut c, sse(STREAM_1_6));
    assert_eq!(outcome.terminal, Terminal::Completed);
    assert_eq!(
        outcome.function_calls,
        vec![FunctionCall {
            call_id: "call_A1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into()
        }]
    );
    assert_eq!(outcome.output_items.len(), 2);
    assert_eq!(outcome.output_items[0]["id"], "rs_01");
    assert_eq!(outcome.output_items[0]["encrypted_content"], "gAAAAB…");
    assert_eq!(outcome.output_items[1]["call_id"], "call_A1");
    assert_eq!(
        outcome.usage.unwrap()["output_tokens_details"]["reasoning_tokens"],
        24
    );
    // The workflow stays open across the call; the run's end closes it.
    events.extend(c.finish_run());
    let text = "**Checking weather**\n\nI will call the tool.";
    assert_events(
        &events,
        json!([
            workflow("wf#1", json!([]), false),
            task("wf#1", "added", 0, "**Checking weather**\n\n"),
            task("wf#1", "updated", 0, text),
            workflow("wf#1", json!([thought(text)]), true),
        ]),
    );
    check_ids(&events);
}

#[test]
fn the_workflow_continues_into_the_next_call_and_closes_at_the_answer() {
    let mut c = converter();
    let (mut events, _) = call(&mut c, sse(STREAM_1_6));
    let (second, outcome) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"rs_02","type":"reasoning","summary":[]}}),
            ),
            ev(
                json!({"type":"response.reasoning_summary_text.delta","item_id":"rs_02","output_index":0,"summary_index":0,"delta":"Got it."}),
            ),
            ev(
                json!({"type":"response.reasoning_summary_text.done","item_id":"rs_02","output_index":0,"summary_index":0,"text":"Got it."}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"rs_02","type":"reasoning","summary":[{"type":"summary_text","text":"Got it."}]}}),
            ),
            ev(
                json!({"type":"response.output_item.added","output_index":1,"item":{"id":"msg_02","type":"message","role":"assistant","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_02","output_index":1,"content_index":0,"delta":"Sunny."}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":1,"item":{"id":"msg_02","type":"message","role":"assistant","content":[{"type":"output_text","text":"Sunny.","annotations":[]}]}}),
            ),
            ev(json!({"type":"response.completed","response":{"id":"resp_03"}})),
        ],
    );
    events.extend(second);
    events.extend(c.finish_run());
    let first = "**Checking weather**\n\nI will call the tool.";
    assert_events(
        &events,
        json!([
            workflow("wf#1", json!([]), false),
            task("wf#1", "added", 0, "**Checking weather**\n\n"),
            task("wf#1", "updated", 0, first),
            task("wf#1", "added", 1, "Got it."),
            workflow("wf#1", json!([thought(first), thought("Got it.")]), true),
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "Sunny."),
            part_done("msg#1", 0, part("Sunny.", json!([]))),
            done_msg("msg#1", json!([part("Sunny.", json!([]))])),
        ]),
    );
    check_ids(&events);
    assert!(outcome.function_calls.is_empty());
}

#[test]
fn several_summary_paragraphs_then_a_message() {
    let mut c = converter();
    let mut stream = vec![ev(
        json!({"type":"response.output_item.added","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}),
    )];
    for (i, (a, b)) in [("Plan", " A"), ("Then", " B")].into_iter().enumerate() {
        stream.push(ev(json!({"type":"response.reasoning_summary_part.added","item_id":"rs_1","output_index":0,"summary_index":i})));
        stream.push(ev(json!({"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":i,"delta":a})));
        stream.push(ev(json!({"type":"response.reasoning_summary_text.delta","item_id":"rs_1","output_index":0,"summary_index":i,"delta":b})));
        stream.push(ev(json!({"type":"response.reasoning_summary_text.done","item_id":"rs_1","output_index":0,"summary_index":i,"text":format!("{a}{b}")})));
    }
    stream.push(ev(json!({"type":"response.output_item.added","output_index":1,"item":{"id":"msg_1","type":"message","content":[]}})));
    stream.push(ev(json!({"type":"response.content_part.added","item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}})));
    stream.push(ev(json!({"type":"response.output_text.delta","item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi"})));
    stream.push(ev(json!({"type":"response.output_item.done","output_index":1,"item":{"id":"msg_1","type":"message","content":[{"type":"output_text","text":"Hi","annotations":[]}]}})));
    stream.push(ev(json!({"type":"response.completed","response":{}})));
    let (mut events, _) = call(&mut c, stream);
    events.extend(c.finish_run());
    assert_events(
        &events,
        json!([
            workflow("wf#1", json!([]), false),
            task("wf#1", "added", 0, "Plan"),
            task("wf#1", "updated", 0, "Plan A"),
            task("wf#1", "added", 1, "Then"),
            task("wf#1", "updated", 1, "Then B"),
            workflow("wf#1", json!([thought("Plan A"), thought("Then B")]), true),
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "Hi"),
            part_done("msg#1", 0, part("Hi", json!([]))),
            done_msg("msg#1", json!([part("Hi", json!([]))])),
        ]),
    );
}

#[test]
fn reasoning_without_summary_text_shows_no_workflow() {
    let mut c = converter();
    let (mut events, _) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}),
            ),
            ev(
                json!({"type":"response.reasoning_summary_text.delta","output_index":0,"summary_index":0,"delta":" \n"}),
            ),
            ev(
                json!({"type":"response.reasoning_summary_text.done","output_index":0,"summary_index":0,"text":""}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[],"encrypted_content":"x"}}),
            ),
            ev(json!({"type":"response.completed","response":{}})),
        ],
    );
    events.extend(c.finish_run());
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn reasoning_only_in_the_done_item_and_raw_reasoning_text() {
    let mut c = converter();
    let (mut events, _) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"type":"reasoning","summary":[{"type":"summary_text","text":"Whole"}]}}),
            ),
            ev(json!({"type":"response.reasoning_text.delta","output_index":1,"delta":"raw "})),
            ev(json!({"type":"response.reasoning_text.delta","output_index":1,"delta":"thinking"})),
            ev(json!({"type":"response.completed","response":{}})),
        ],
    );
    events.extend(c.finish_run());
    assert_events(
        &events,
        json!([
            workflow("wf#1", json!([]), false),
            task("wf#1", "added", 0, "Whole"),
            task("wf#1", "added", 1, "raw "),
            task("wf#1", "updated", 1, "raw thinking"),
            workflow(
                "wf#1",
                json!([thought("Whole"), thought("raw thinking")]),
                true
            ),
        ]),
    );
}

/// What the Agents SDK fabricates from Chat Completions chunks (§2.5):
/// `__fake_id__` everywhere, the 0.15.3 `content_index: 1` bug, no
/// `…text.done`, the reasoning item closed after the answer.
fn fake_id_call(answer: &str, with_reasoning_and_call: bool) -> Vec<ResponsesEvent> {
    let f = FAKE_ID;
    let mut s = vec![ev(json!({"type":"response.created","response":{"id":f}}))];
    let (msg_index, ci) = if with_reasoning_and_call {
        (1, 1)
    } else {
        (0, 0)
    };
    if with_reasoning_and_call {
        s.push(ev(json!({"type":"response.output_item.added","output_index":0,"item":{"id":f,"type":"reasoning","summary":[]}})));
        s.push(ev(json!({"type":"response.reasoning_summary_part.added","item_id":f,"output_index":0,"summary_index":0})));
        s.push(ev(json!({"type":"response.reasoning_summary_text.delta","item_id":f,"output_index":0,"summary_index":0,"delta":"Think"})));
        s.push(ev(json!({"type":"response.reasoning_summary_part.done","item_id":f,"output_index":0,"summary_index":0})));
    }
    s.push(ev(json!({"type":"response.output_item.added","output_index":msg_index,"item":{"id":f,"type":"message","status":"in_progress","role":"assistant","content":[]}})));
    s.push(ev(json!({"type":"response.content_part.added","item_id":f,"output_index":msg_index,"content_index":ci,"part":{"type":"output_text","text":"","annotations":[]}})));
    s.push(ev(json!({"type":"response.output_text.delta","item_id":f,"output_index":msg_index,"content_index":ci,"delta":""})));
    s.push(ev(json!({"type":"response.output_text.delta","item_id":f,"output_index":msg_index,"content_index":ci,"delta":answer})));
    if with_reasoning_and_call {
        s.push(ev(json!({"type":"response.output_item.added","output_index":2,"item":{"id":f,"type":"function_call","call_id":"call_1","name":"lookup","arguments":""}})));
        s.push(ev(json!({"type":"response.function_call_arguments.delta","item_id":f,"output_index":2,"delta":"{}"})));
        s.push(ev(json!({"type":"response.output_item.done","output_index":0,"item":{"id":f,"type":"reasoning","summary":[{"type":"summary_text","text":"Think"}]}})));
    }
    s.push(ev(json!({"type":"response.content_part.done","item_id":f,"output_index":msg_index,"content_index":ci,"part":{"type":"output_text","text":answer,"annotations":[]}})));
    if with_reasoning_and_call {
        s.push(ev(json!({"type":"response.output_item.done","output_index":2,"item":{"id":f,"type":"function_call","call_id":"call_1","name":"lookup","arguments":"{}"}})));
    }
    s.push(ev(json!({"type":"response.output_item.done","output_index":msg_index,"item":{"id":f,"type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":answer,"annotations":[]}]}})));
    s.push(ev(
        json!({"type":"response.completed","response":{"id":f,"output":[]}}),
    ));
    s
}

#[test]
fn fake_ids_in_every_item_across_two_calls() {
    let mut c = converter();
    let (mut events, first) = call(&mut c, fake_id_call("Let me check.", true));
    let (second_events, second) = call(&mut c, fake_id_call("Sunny.", false));
    events.extend(second_events);
    events.extend(c.finish_run());
    check_ids(&events);
    let messages = done_messages(&events);
    assert_eq!(messages.len(), 2);
    assert_ne!(messages[0].0, messages[1].0);
    assert_eq!(messages[0].1, "Let me check.");
    assert_eq!(messages[1].1, "Sunny.");
    assert_events(
        &events,
        json!([
            workflow("wf#1", json!([]), false),
            task("wf#1", "added", 0, "Think"),
            workflow("wf#1", json!([thought("Think")]), true),
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "Let me check."),
            part_done("msg#1", 0, part("Let me check.", json!([]))),
            done_msg("msg#1", json!([part("Let me check.", json!([]))])),
            added_msg("msg#2"),
            part_added("msg#2", 0),
            delta("msg#2", 0, "Sunny."),
            part_done("msg#2", 0, part("Sunny.", json!([]))),
            done_msg("msg#2", json!([part("Sunny.", json!([]))])),
        ]),
    );
    // Provider form kept for replay, placeholder ids dropped.
    assert_eq!(first.response_id, None);
    assert_eq!(first.output_items.len(), 3);
    assert!(first.output_items.iter().all(|i| i.get("id").is_none()));
    assert_eq!(first.output_items[2]["type"], "function_call");
    assert_eq!(first.function_calls[0].call_id, "call_1");
    assert_eq!(second.output_items.len(), 1);
}

#[test]
fn a_responses_server_reusing_msg_0() {
    let msg = |index: usize, text: &str| {
        vec![
            ev(
                json!({"type":"response.output_item.added","output_index":index,"item":{"id":"msg_0","type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_0","output_index":index,"content_index":0,"delta":text}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":index,"item":{"id":"msg_0","type":"message","content":[{"type":"output_text","text":text}]}}),
            ),
        ]
    };
    let mut c = converter();
    let mut one = msg(0, "A");
    one.extend(msg(1, "B"));
    let (mut events, _) = call(&mut c, one);
    events.extend(call(&mut c, msg(0, "C")).0);
    check_ids(&events);
    let messages = done_messages(&events);
    let texts: Vec<&str> = messages.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, ["A", "B", "C"]);
    let mut ids: Vec<&ItemId> = messages.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[test]
fn added_and_done_with_different_ids_are_one_item() {
    let mut c = converter();
    let (events, outcome) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_a","type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_a","output_index":0,"content_index":0,"delta":"Hi"}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"msg_b","type":"message","content":[{"type":"output_text","text":"Hi","annotations":[]}]}}),
            ),
            ev(json!({"type":"response.completed","response":{}})),
        ],
    );
    check_ids(&events);
    assert_eq!(done_messages(&events).len(), 1);
    assert_eq!(outcome.output_items[0]["id"], "msg_b");
}

#[test]
fn a_message_without_added_or_done_events() {
    let mut c = converter();
    let (events, outcome) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_x","output_index":0,"content_index":0,"delta":"Hello"}),
            ),
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_x","content_index":0,"delta":" you"}),
            ),
            ev(json!({"type":"response.completed","response":{"output":[]}})),
        ],
    );
    assert_events(
        &events,
        json!([
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "Hello"),
            delta("msg#1", 0, " you"),
            part_done("msg#1", 0, part("Hello you", json!([]))),
            done_msg("msg#1", json!([part("Hello you", json!([]))])),
        ]),
    );
    check_ids(&events);
    assert_eq!(outcome.terminal, Terminal::Completed);
    assert_eq!(outcome.closed.len(), 1);
    assert_eq!(
        outcome.output_items,
        vec![
            json!({"type":"message","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Hello you","annotations":[]}]})
        ]
    );
}

#[test]
fn a_late_added_is_adopted_not_duplicated() {
    let mut c = converter();
    let (events, _) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"Hi"}),
            ),
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","content":[{"type":"output_text","text":"Hi"}]}}),
            ),
        ],
    );
    check_ids(&events);
    assert_eq!(done_messages(&events).len(), 1);
}

#[test]
fn a_second_added_for_a_bound_slot_is_a_new_item() {
    let mut c = converter();
    let (events, _) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"First"}),
            ),
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Second"}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","content":[{"type":"output_text","text":"Second"}]}}),
            ),
            // An empty message replaced by another: removed.
            ev(
                json!({"type":"response.output_item.added","output_index":1,"item":{"type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_item.added","output_index":1,"item":{"type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","output_index":1,"content_index":0,"delta":"Third"}),
            ),
        ],
    );
    check_ids(&events);
    let redacted = redact(&events);
    let kinds: Vec<String> = redacted
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["item_id"].as_str().or(e["item"]["id"].as_str()).unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "thread.item.added msg#1",
            "thread.item.updated msg#1",
            "thread.item.updated msg#1",
            "thread.item.updated msg#1",
            "thread.item.done msg#1",
            "thread.item.added msg#2",
            "thread.item.updated msg#2",
            "thread.item.updated msg#2",
            "thread.item.updated msg#2",
            "thread.item.done msg#2",
            "thread.item.added msg#3",
            "thread.item.removed msg#3",
            "thread.item.added msg#4",
            "thread.item.updated msg#4",
            "thread.item.updated msg#4",
            "thread.item.updated msg#4",
            "thread.item.done msg#4",
        ]
    );
    let texts: Vec<String> = done_messages(&events).into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, ["First", "Second", "Third"]);
}

#[test]
fn citations_become_annotations_with_our_own_counter() {
    let m = |v: Value| {
        let mut base = json!({"item_id":"msg_1","output_index":0,"content_index":0});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        ev(base)
    };
    let file = json!({"type":"file_citation","file_id":"file_1","filename":"report.pdf","index":5});
    let url = json!({"type":"url_citation","start_index":0,"end_index":9,"url":"https://a.com","title":"A"});
    let container = json!({"type":"container_file_citation","container_id":"c","file_id":"f","filename":"data.csv","start_index":2,"end_index":7});
    let mut c = converter();
    let (events, _) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","content":[]}}),
            ),
            m(json!({"type":"response.output_text.delta","delta":"See the sources."})),
            m(
                json!({"type":"response.output_text.annotation.added","annotation_index":0,"annotation":{"type":"file_path","file_id":"f","index":1}}),
            ),
            m(
                json!({"type":"response.output_text.annotation.added","annotation_index":1,"annotation":url}),
            ),
            m(
                json!({"type":"response.output_text.annotation.added","annotation_index":2,"annotation":file}),
            ),
            m(json!({"type":"response.output_text.done","text":"See the sources."})),
            // The done part adds one more citation: it wins.
            m(
                json!({"type":"response.content_part.done","part":{"type":"output_text","text":"See the sources.","annotations":[url, file, container]}}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","content":[{"type":"output_text","text":"See the sources.","annotations":[url, file, container]}]}}),
            ),
        ],
    );
    let a_url = url_annotation("A", "https://a.com", 9);
    let a_file = json!({"type":"annotation","source":{"title":"report.pdf","type":"file","filename":"report.pdf"},"index":5});
    let a_container = json!({"type":"annotation","source":{"title":"data.csv","type":"file","filename":"data.csv"},"index":7});
    let added = |i: usize, a: &Value| {
        update(
            "msg#1",
            json!({"type":"assistant_message.content_part.annotation_added","content_index":0,"annotation_index":i,"annotation":a}),
        )
    };
    let all = json!([a_url, a_file, a_container]);
    assert_events(
        &events,
        json!([
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "See the sources."),
            added(0, &a_url),
            added(1, &a_file),
            part_done("msg#1", 0, part("See the sources.", json!([a_url, a_file]))),
            part_done("msg#1", 0, part("See the sources.", all.clone())),
            done_msg("msg#1", json!([part("See the sources.", all)])),
        ]),
    );
}

#[test]
fn streamed_annotations_survive_a_done_item_without_them() {
    let mut c = converter();
    let url = json!({"type":"url_citation","end_index":2,"url":"https://a.com","title":"A"});
    let (events, _) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"Yo"}),
            ),
            ev(
                json!({"type":"response.output_text.annotation.added","output_index":0,"content_index":0,"annotation":url}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"type":"message","content":[{"type":"output_text","text":"","annotations":[]}]}}),
            ),
        ],
    );
    let full = part("Yo", json!([url_annotation("A", "https://a.com", 2)]));
    assert_eq!(redact(&events)[4], part_done("msg#1", 0, full.clone()));
    assert_eq!(redact(&events)[5], done_msg("msg#1", json!([full])));
}

#[test]
fn a_refusal_is_plain_text() {
    let mut c = converter();
    let f = |v: Value| {
        let mut base = json!({"item_id":"msg_1","output_index":0,"content_index":0});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        ev(base)
    };
    let (events, outcome) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","content":[]}}),
            ),
            f(json!({"type":"response.content_part.added","part":{"type":"refusal","refusal":""}})),
            f(json!({"type":"response.refusal.delta","delta":"I can't "})),
            f(json!({"type":"response.refusal.delta","delta":"help."})),
            f(json!({"type":"response.refusal.done","refusal":"I can't help."})),
            f(
                json!({"type":"response.content_part.done","part":{"type":"refusal","refusal":"I can't help."}}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"msg_1","type":"message","content":[{"type":"refusal","refusal":"I can't help."}]}}),
            ),
            ev(json!({"type":"response.completed","response":{}})),
        ],
    );
    let text = part("I can't help.", json!([]));
    assert_events(
        &events,
        json!([
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "I can't "),
            delta("msg#1", 0, "help."),
            part_done("msg#1", 0, text.clone()),
            done_msg("msg#1", json!([text])),
        ]),
    );
    assert_eq!(outcome.terminal, Terminal::Completed);
}

fn terminal_of(events: Vec<Value>) -> Terminal {
    let mut c = converter();
    call(&mut c, events.into_iter().map(ev)).1.terminal
}

#[test]
fn terminal_events() {
    assert_eq!(
        terminal_of(vec![
            json!({"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}}})
        ]),
        Terminal::Incomplete {
            reason: "max_output_tokens".into()
        }
    );
    assert_eq!(
        terminal_of(vec![
            json!({"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}})
        ]),
        Terminal::Failed {
            code: Some("server_error".into()),
            message: Some("boom".into())
        }
    );
    assert_eq!(
        terminal_of(vec![
            json!({"type":"error","sequence_number":2,"code":"server_error","message":"flat","param":null})
        ]),
        Terminal::Error {
            code: Some("server_error".into()),
            message: Some("flat".into())
        }
    );
    assert_eq!(
        terminal_of(vec![
            json!({"type":"error","error":{"type":"too_many_requests","code":"rate_limit_exceeded","message":"slow down","param":null}})
        ]),
        Terminal::Error {
            code: Some("rate_limit_exceeded".into()),
            message: Some("slow down".into())
        }
    );
    assert_eq!(
        terminal_of(vec![
            json!({"type":"error","error":{"type":"too_many_requests","code":null,"message":"slow"}})
        ]),
        Terminal::Error {
            code: Some("too_many_requests".into()),
            message: Some("slow".into())
        }
    );
    // The first terminal event wins.
    assert_eq!(
        terminal_of(vec![
            json!({"type":"error","code":"server_error","message":"first"}),
            json!({"type":"response.failed","response":{"error":{"code":"x","message":"second"}}}),
        ]),
        Terminal::Error {
            code: Some("server_error".into()),
            message: Some("first".into())
        }
    );
    assert_eq!(
        terminal_of(vec![json!({"type":"response.created","response":{}})]),
        Terminal::Eof
    );
    assert!(Terminal::Completed.is_success() && !Terminal::Eof.is_success());
}

#[test]
fn eof_mid_message_keeps_the_partial_answer() {
    let mut c = converter();
    c.start_call();
    let mut events = push_all(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"msg_1","type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.content_part.added","item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":""}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Half an ans"}),
            ),
        ],
    );
    let outcome = c.finish_call();
    assert_eq!(outcome.terminal, Terminal::Eof);
    assert_events(
        &outcome.events,
        json!([
            part_done("msg#1", 0, part("Half an ans", json!([]))),
            done_msg("msg#1", json!([part("Half an ans", json!([]))])),
        ]),
    );
    events.extend(outcome.events.iter().cloned());
    check_ids(&events);
    assert_eq!(outcome.closed.len(), 1);
    assert!(outcome.removed.is_empty());
}

#[test]
fn a_failure_removes_an_empty_message_and_runs_end_the_workflow() {
    let mut c = converter();
    let (mut events, outcome) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.reasoning_summary_text.delta","output_index":0,"summary_index":0,"delta":"Hmm"}),
            ),
            ev(
                json!({"type":"response.output_item.added","output_index":1,"item":{"type":"message","content":[]}}),
            ),
            ev(
                json!({"type":"response.content_part.added","output_index":1,"content_index":0,"part":{"type":"output_text","text":""}}),
            ),
            ev(
                json!({"type":"response.output_text.delta","output_index":1,"content_index":0,"delta":"  "}),
            ),
            ev(
                json!({"type":"response.failed","response":{"error":{"code":"server_error","message":"x"}}}),
            ),
        ],
    );
    events.extend(c.finish_run());
    assert_eq!(outcome.removed.len(), 1);
    assert!(outcome.closed.is_empty() && outcome.output_items.is_empty());
    assert_events(
        &events,
        json!([
            workflow("wf#1", json!([]), false),
            task("wf#1", "added", 0, "Hmm"),
            workflow("wf#1", json!([thought("Hmm")]), true),
            added_msg("msg#1"),
            part_added("msg#1", 0),
            delta("msg#1", 0, "  "),
            {"type":"thread.item.removed","item_id":"msg#1"},
        ]),
    );
}

#[test]
fn function_calls_are_collected_in_output_order() {
    let mut c = converter();
    let (events, outcome) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1","type":"function_call","call_id":"call_1","name":"a","arguments":""}}),
            ),
            ev(
                json!({"type":"response.output_item.added","output_index":1,"item":{"id":FAKE_ID,"type":"function_call","call_id":"","name":"b","arguments":""}}),
            ),
            ev(
                json!({"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":0,"delta":"{\"x\":"}),
            ),
            ev(
                json!({"type":"response.function_call_arguments.delta","item_id":FAKE_ID,"output_index":1,"delta":"{}"}),
            ),
            ev(
                json!({"type":"response.function_call_arguments.delta","item_id":"fc_1","output_index":0,"delta":"1}"}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"fc_1","type":"function_call","status":"completed","call_id":"call_1","name":"a","arguments":"{\"x\":1}"}}),
            ),
            // The second call's done never comes: rebuilt from the stream.
            ev(json!({"type":"response.completed","response":{"output":[]}})),
        ],
    );
    assert!(
        events.is_empty(),
        "function calls produce no ChatKit events"
    );
    assert_eq!(outcome.function_calls.len(), 2);
    assert_eq!(
        outcome.function_calls[0],
        FunctionCall {
            call_id: "call_1".into(),
            name: "a".into(),
            arguments: r#"{"x":1}"#.into()
        }
    );
    let synthesized = &outcome.function_calls[1];
    assert!(synthesized.call_id.starts_with("call_") && synthesized.call_id.len() > 10);
    assert_eq!(
        (synthesized.name.as_str(), synthesized.arguments.as_str()),
        ("b", "{}")
    );
    assert_eq!(outcome.output_items[0]["id"], "fc_1");
    assert_eq!(
        outcome.output_items[1],
        json!({"type":"function_call","call_id":synthesized.call_id,"name":"b","arguments":"{}","status":"completed"})
    );
}

#[test]
fn hosted_tools_and_unknown_events_are_ignored() {
    let mut c = converter();
    let (events, outcome) = call(
        &mut c,
        [
            ev(
                json!({"type":"response.output_item.added","output_index":0,"item":{"id":"ws_1","type":"web_search_call","status":"in_progress"}}),
            ),
            ev(
                json!({"type":"response.web_search_call.searching","output_index":0,"item_id":"ws_1"}),
            ),
            ev(
                json!({"type":"response.output_item.done","output_index":0,"item":{"id":"ws_1","type":"web_search_call","status":"completed"}}),
            ),
            ev(json!({"type":"response.completed","response":{}})),
        ],
    );
    assert!(events.is_empty());
    assert_eq!(
        outcome.output_items,
        vec![json!({"id":"ws_1","type":"web_search_call","status":"completed"})]
    );
}

#[test]
fn completed_output_is_used_when_no_item_was_done() {
    let mut c = converter();
    let item = json!({"id":"rs_1","type":"reasoning","summary":[],"encrypted_content":"e"});
    let (_, outcome) = call(
        &mut c,
        [ev(
            json!({"type":"response.completed","response":{"id":"resp_9","output":[item, {"id":FAKE_ID,"type":"function_call","call_id":"call_z","name":"n","arguments":"{}"}]}}),
        )],
    );
    assert_eq!(outcome.output_items[0], item);
    assert_eq!(
        outcome.output_items[1],
        json!({"type":"function_call","call_id":"call_z","name":"n","arguments":"{}"})
    );
    assert_eq!(outcome.function_calls.len(), 1);
}

#[test]
fn events_after_the_terminal_event_are_ignored() {
    let mut c = converter();
    c.start_call();
    assert!(
        c.push(ev(json!({"type":"response.completed","response":{}})))
            .is_empty()
    );
    let late = ev(
        json!({"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"late"}),
    );
    assert!(c.push(late).is_empty());
    let outcome = c.finish_call();
    assert_eq!(outcome.terminal, Terminal::Completed);
    assert!(outcome.events.is_empty() && outcome.output_items.is_empty());
}

#[test]
fn client_tool_call_items() {
    let thread = ThreadId::from(THREAD);
    let call = FunctionCall {
        call_id: "call_9".into(),
        name: "get_selection".into(),
        arguments: r#"{"scope":"doc"}"#.into(),
    };
    let item = client_tool_call_item(&thread, &call);
    assert_eq!(
        redact(&[ThreadStreamEvent::ThreadItemDone { item }])[0],
        json!({"type":"thread.item.done","item":{"id":"tc#1","thread_id":THREAD,"created_at":"<ts>","type":"client_tool_call","status":"pending","call_id":"call_9","name":"get_selection","arguments":{"scope":"doc"}}})
    );
    let other = client_tool_call_item(
        &thread,
        &FunctionCall {
            call_id: String::new(),
            name: "n".into(),
            arguments: "not json".into(),
        },
    );
    let ItemKind::ClientToolCall(tc) = &other.kind else {
        panic!()
    };
    assert!(tc.call_id.starts_with("call_"));
    assert_eq!(
        Value::Object(tc.arguments.clone()),
        json!({"raw":"not json"})
    );
    assert!(parse_arguments("").is_empty() && parse_arguments(" null ").is_empty());
    assert_eq!(Value::Object(parse_arguments("[1]")), json!({"raw":"[1]"}));
}
