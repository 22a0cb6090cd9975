//! The fake model provider (`chatkit_server::fake_model`) over real HTTP:
//! exact framing and event order of both APIs, every knob, and the
//! disconnect counter the cancellation tests rely on.

use std::time::{Duration, Instant};

use chatkit_server::fake_model::{Behaviour, FAKE_ID, FakeModel, Midstream, TOOL_ARGS};
use serde_json::{Value, json};

/// One SSE event as sent: its `event:` name (Responses only) and its data.
struct Event {
    name: Option<String>,
    data: String,
}

impl Event {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("data is JSON")
    }
}

/// Parses a whole SSE body strictly: every event is `event: <name>\n`
/// (optional) `data: <one line>\n` and a blank line, nothing else.
fn parse(body: &str) -> Vec<Event> {
    if body.is_empty() {
        return Vec::new();
    }
    assert!(
        body.ends_with("\n\n"),
        "the body ends with a blank line: {body:?}"
    );
    body[..body.len() - 2]
        .split("\n\n")
        .map(|block| {
            let lines: Vec<&str> = block.split('\n').collect();
            match lines.as_slice() {
                [event, data] => Event {
                    name: Some(
                        event
                            .strip_prefix("event: ")
                            .expect("event line")
                            .to_owned(),
                    ),
                    data: data.strip_prefix("data: ").expect("data line").to_owned(),
                },
                [data] => Event {
                    name: None,
                    data: data.strip_prefix("data: ").expect("data line").to_owned(),
                },
                _ => panic!("unexpected block {block:?}"),
            }
        })
        .collect()
}

/// The Responses events of `body`, checking `event:` = `type` and
/// `sequence_number` counting from 0.
fn responses_events(body: &str) -> Vec<Value> {
    let events: Vec<Value> = parse(body)
        .iter()
        .map(|e| {
            let json = e.json();
            assert_eq!(
                e.name.as_deref(),
                json["type"].as_str(),
                "event: names the type"
            );
            json
        })
        .collect();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["sequence_number"],
            json!(i),
            "sequence numbers count from 0"
        );
    }
    events
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// Chat chunks of `body` (no `event:` lines), with the final `[DONE]` as a
/// `Value::Null`.
fn chat_chunks(body: &str) -> Vec<Value> {
    parse(body)
        .iter()
        .map(|e| {
            assert!(e.name.is_none(), "chat chunks have no event: line");
            if e.data == "[DONE]" {
                Value::Null
            } else {
                e.json()
            }
        })
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn start(behaviour: Behaviour) -> FakeModel {
    FakeModel::start(behaviour)
        .await
        .expect("fake model starts")
}

async fn post(model: &FakeModel, path: &str, body: &Value) -> reqwest::Response {
    post_with(&client(), model, path, body).await
}

async fn post_with(
    client: &reqwest::Client,
    model: &FakeModel,
    path: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(format!("{}{path}", model.base_url()))
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// Reads the body chunk by chunk until its end or an error.
async fn read_all(mut response: reqwest::Response) -> (String, Result<(), reqwest::Error>) {
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8(bytes).unwrap(), Ok(())),
            Err(e) => return (String::from_utf8(bytes).unwrap(), Err(e)),
        }
    }
}

async fn body_of(response: reqwest::Response) -> String {
    assert_eq!(response.status().as_u16(), 200);
    let (body, end) = read_all(response).await;
    end.expect("the body ends cleanly");
    body
}

/// The Responses events of a streamed `/responses` call.
async fn stream_responses(model: &FakeModel, body: &Value) -> Vec<Value> {
    responses_events(&body_of(post(model, "/responses", body).await).await)
}

/// The chunks of a streamed `/chat/completions` call.
async fn stream_chat(model: &FakeModel, body: &Value) -> Vec<Value> {
    chat_chunks(&body_of(post(model, "/chat/completions", body).await).await)
}

fn responses_request(text: &str) -> Value {
    json!({"model": "m", "stream": true, "input": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "type": "message", "content": [{"type": "input_text", "text": text}]}]})
}

fn chat_request(text: &str, include_usage: bool) -> Value {
    let mut body = json!({"model": "m", "stream": true, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": text}]}]});
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn weather_tool_responses() -> Value {
    json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
}

fn weather_tool_chat() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}])
}

const TEXT_EVENTS: [&str; 11] = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
];

#[actix_web::test]
async fn responses_stream_a_plain_answer_in_order() {
    let model = start(Behaviour {
        tokens: 3,
        ..Behaviour::default()
    })
    .await;
    let response = post(&model, "/responses", &responses_request("Hi there")).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = responses_events(&body_of(response).await);
    assert_eq!(types(&events), TEXT_EVENTS);

    let deltas: Vec<&str> = events[4..7]
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["echo: Hi there", " tok1", " tok2"]);
    let id = events[2]["item"]["id"].as_str().unwrap();
    assert!(id.starts_with("msg_"), "{id}");
    assert_eq!(
        events[2]["item"],
        json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant",
            "content": []})
    );
    for e in &events[3..10] {
        if e.get("item_id").is_some() {
            assert_eq!(e["item_id"], id);
        }
    }
    assert_eq!(events[7]["text"], "echo: Hi there tok1 tok2");
    let done = &events[9]["item"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["content"][0]["text"], "echo: Hi there tok1 tok2");
    assert_eq!(done["content"][0]["annotations"], json!([]));
    let completed = &events[10]["response"];
    assert!(completed["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"], json!([done]));
    assert_eq!(completed["usage"]["output_tokens"], 3);
    assert_eq!(
        completed["usage"]["total_tokens"],
        completed["usage"]["input_tokens"].as_u64().unwrap() + 3
    );
    assert_eq!(events[0]["response"]["status"], "in_progress");
    assert_eq!(events[0]["response"]["usage"], Value::Null);

    // Ids are fresh per response; the body was recorded.
    let again = stream_responses(&model, &responses_request("x")).await;
    assert_ne!(again[2]["item"]["id"], events[2]["item"]["id"]);
    assert_ne!(again[0]["response"]["id"], events[0]["response"]["id"]);
    assert_eq!(model.request_count(), 2);
    assert_eq!(model.requests()[0], responses_request("Hi there"));
    assert_eq!(model.disconnects(), 0);
    model.stop().await;
}

#[actix_web::test]
async fn responses_accept_a_bare_string_input_and_key_order_follows_the_spec() {
    let model = start(Behaviour {
        tokens: 1,
        ..Behaviour::default()
    })
    .await;
    let body = json!({"model": "m", "stream": true, "input": "plain"});
    let text = body_of(post(&model, "/responses", &body).await).await;
    let delta = text
        .split("\n\n")
        .find(|b| b.starts_with("event: response.output_text.delta\n"))
        .unwrap();
    let data = delta.split_once("\ndata: ").unwrap().1;
    assert!(
        data.starts_with(r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"#),
        "{data}"
    );
    assert!(
        data.ends_with(
            r#","output_index":0,"content_index":0,"delta":"echo: plain","logprobs":[]}"#
        )
    );
    model.stop().await;
}

#[actix_web::test]
async fn chat_streams_role_content_finish_usage_and_done() {
    let model = start(Behaviour {
        tokens: 3,
        ..Behaviour::default()
    })
    .await;
    let response = post(&model, "/chat/completions", &chat_request("Hi there", true)).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = body_of(response).await;
    assert!(body.ends_with("data: [DONE]\n\n"));
    let chunks = chat_chunks(&body);
    assert_eq!(chunks.len(), 7, "role, 3 content, finish, usage, [DONE]");
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl"), "{id}");
    for c in &chunks[..6] {
        assert_eq!(c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], "m");
    }
    for c in &chunks[..5] {
        assert_eq!(
            c["usage"],
            Value::Null,
            "usage is null until the usage chunk"
        );
        assert_eq!(c["choices"][0]["index"], 0);
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let content: Vec<&str> = chunks[1..4]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(content, ["echo: Hi there", " tok1", " tok2"]);
    for c in &chunks[..4] {
        assert_eq!(c["choices"][0]["finish_reason"], Value::Null);
    }
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(chunks[5]["usage"]["completion_tokens"], 3);
    assert_eq!(chunks[6], Value::Null);

    // Without include_usage: no usage chunk, no usage key.
    let chunks = stream_chat(&model, &chat_request("x", false)).await;
    assert_eq!(chunks.len(), 6);
    assert!(chunks[..5].iter().all(|c| c.get("usage").is_none()));
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_ne!(chunks[0]["id"], id, "chunk ids are fresh per completion");
    assert_eq!(model.state().chat_count(), 2);
    assert_eq!(model.state().responses_count(), 0);
    model.stop().await;
}

#[actix_web::test]
async fn fake_ids_replace_every_item_and_chunk_id() {
    let model = start(Behaviour {
        fake_ids: true,
        reasoning: 1,
        ..Behaviour::default()
    })
    .await;
    let events = stream_responses(&model, &responses_request("a")).await;
    for e in &events {
        if let Some(id) = e.get("item_id") {
            assert_eq!(id, FAKE_ID);
        }
        if let Some(item) = e.get("item") {
            assert_eq!(item["id"], FAKE_ID);
        }
    }
    assert!(events.iter().any(|e| e["item"]["type"] == "reasoning"));
    let chunks = stream_chat(&model, &chat_request("a", true)).await;
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["id"] == FAKE_ID)
    );

    // Flipped off at runtime: fresh ids again.
    model.set(|b| b.fake_ids = false);
    let events = stream_responses(&model, &responses_request("a")).await;
    assert!(events[2]["item"]["id"].as_str().unwrap().starts_with("rs_"));
    model.stop().await;
}

#[actix_web::test]
async fn tool_call_asks_for_get_weather_then_echoes_its_output() {
    let model = start(Behaviour {
        tool_call: true,
        ..Behaviour::default()
    })
    .await;
    let mut first = responses_request("Weather?");
    first["tools"] = weather_tool_responses();
    let events = stream_responses(&model, &first).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let call = &events[6]["item"];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["arguments"], TOOL_ARGS);
    let args: Value = serde_json::from_str(TOOL_ARGS).unwrap();
    assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));
    let fragments = format!(
        "{}{}",
        events[3]["delta"].as_str().unwrap(),
        events[4]["delta"].as_str().unwrap()
    );
    assert_eq!(fragments, TOOL_ARGS);
    assert_eq!(events[2]["item"]["arguments"], "");
    assert_eq!(events[2]["item"]["status"], "in_progress");
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    let call_id = call["call_id"].as_str().unwrap();
    assert!(call_id.starts_with("call_"));
    assert_eq!(events[7]["response"]["output"], json!([call]));

    // Second phase: the output follows the call.
    let mut second = first.clone();
    let input = second["input"].as_array_mut().unwrap();
    input.push(call.clone());
    input.push(json!({"type": "function_call_output", "call_id": call_id, "output": "Sunny"}));
    let events = stream_responses(&model, &second).await;
    assert_eq!(events[2]["item"]["type"], "message");
    let text = events
        .iter()
        .find(|e| e["type"] == "response.output_text.done")
        .unwrap();
    assert_eq!(
        text["text"],
        "echo: Weather? [get_weather: Sunny] tok1 tok2 tok3 tok4"
    );

    // No tool offered: a text answer even with the knob on.
    let events = stream_responses(&model, &responses_request("x")).await;
    assert_eq!(events[2]["item"]["type"], "message");
    model.stop().await;
}

#[actix_web::test]
async fn chat_tool_call_phases() {
    let model = start(Behaviour {
        tool_call: true,
        tokens: 2,
        ..Behaviour::default()
    })
    .await;
    let mut first = chat_request("Weather?", false);
    first["tools"] = weather_tool_chat();
    let chunks = stream_chat(&model, &first).await;
    assert_eq!(
        chunks.len(),
        5,
        "header, 2 argument fragments, finish, [DONE]"
    );
    let header = &chunks[0]["choices"][0]["delta"];
    assert_eq!(header["role"], "assistant");
    assert_eq!(header["content"], Value::Null);
    let call = &header["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert_eq!(
        call["function"],
        json!({"name": "get_weather", "arguments": ""})
    );
    let call_id = call["id"].as_str().unwrap().to_owned();
    let args: String = chunks[1..3]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(args, TOOL_ARGS);
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "tool_calls");

    let mut second = first.clone();
    let messages = second["messages"].as_array_mut().unwrap();
    messages.push(
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": call_id,
        "type": "function", "function": {"name": "get_weather", "arguments": TOOL_ARGS}}]}),
    );
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "Sunny"}));
    let chunks = stream_chat(&model, &second).await;
    let text: String = chunks[1..3]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: Weather? [get_weather: Sunny] tok1");
    model.stop().await;
}

#[actix_web::test]
async fn client_tool_calls_the_named_tool() {
    let model = start(Behaviour {
        client_tool: Some("pick_color".into()),
        tokens: 1,
        ..Behaviour::default()
    })
    .await;
    let mut body = responses_request("Choose");
    body["tools"] = json!([{"type": "function", "name": "pick_color", "parameters": {}}]);
    let events = stream_responses(&model, &body).await;
    let call = &events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap()["item"];
    assert_eq!(call["name"], "pick_color");
    let input = body["input"].as_array_mut().unwrap();
    input.push(call.clone());
    input
        .push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": "red"}));
    let events = stream_responses(&model, &body).await;
    let done = events
        .iter()
        .find(|e| e["type"] == "response.output_text.done")
        .unwrap();
    assert_eq!(done["text"], "echo: Choose [pick_color: red]");

    // Chat, and a request not offering the tool.
    let mut chat = chat_request("Choose", false);
    chat["tools"] = json!([{"type": "function", "function": {"name": "pick_color"}}]);
    let chunks = stream_chat(&model, &chat).await;
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "pick_color"
    );
    let chunks = stream_chat(&model, &chat_request("x", false)).await;
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "echo: x");
    model.stop().await;
}

#[actix_web::test]
async fn reasoning_comes_before_the_answer() {
    let model = start(Behaviour {
        reasoning: 2,
        tokens: 2,
        ..Behaviour::default()
    })
    .await;
    let events = stream_responses(&model, &responses_request("Q")).await;
    let group = [
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ];
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
    ];
    expected.extend(group);
    expected.extend(group);
    expected.push("response.output_item.done");
    expected.extend(&TEXT_EVENTS[2..6]);
    expected.extend(&TEXT_EVENTS[7..]);
    assert_eq!(types(&events), expected);
    let rs_id = events[2]["item"]["id"].as_str().unwrap();
    assert!(rs_id.starts_with("rs_"));
    assert_eq!(
        events[2]["item"],
        json!({"id": rs_id, "type": "reasoning", "summary": []})
    );
    assert_eq!(events[3]["summary_index"], 0);
    assert_eq!(events[8]["summary_index"], 1);
    let paragraph = events[6]["text"].as_str().unwrap();
    assert_eq!(paragraph, "**Thought 1**\n\nThe user wrote: Q");
    let reasoning = &events[13]["item"];
    assert_eq!(reasoning["summary"].as_array().unwrap().len(), 2);
    assert_eq!(
        reasoning["summary"][0],
        json!({"type": "summary_text", "text": paragraph})
    );
    assert_eq!(
        events[14]["output_index"], 1,
        "the message is the second output item"
    );
    let completed = &events.last().unwrap()["response"];
    assert_eq!(completed["output"][0], *reasoning);
    assert_eq!(
        completed["usage"]["output_tokens_details"]["reasoning_tokens"],
        4
    );

    let chunks = stream_chat(&model, &chat_request("Q", false)).await;
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(
        reasoning,
        "**Thought 1**\n\nThe user wrote: Q\n\n**Thought 2**\n\nPlanning step 2."
    );
    let first_content = chunks
        .iter()
        .position(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .unwrap();
    let last_reasoning = chunks
        .iter()
        .rposition(|c| c["choices"][0]["delta"].get("reasoning_content").is_some())
        .unwrap();
    assert!(last_reasoning < first_content);
    model.stop().await;
}

#[actix_web::test]
async fn citations_annotate_the_text() {
    let model = start(Behaviour {
        citations: true,
        tokens: 2,
        ..Behaviour::default()
    })
    .await;
    let events = stream_responses(&model, &responses_request("c")).await;
    let names = types(&events);
    let added = names
        .iter()
        .position(|t| *t == "response.output_text.annotation.added")
        .expect("an annotation event");
    assert_eq!(names[added - 1], "response.output_text.delta");
    assert_eq!(names[added + 1], "response.output_text.done");
    let annotation = &events[added]["annotation"];
    assert_eq!(annotation["type"], "url_citation");
    assert_eq!(annotation["start_index"], 0);
    assert_eq!(annotation["end_index"], "echo: c tok1".len());
    assert_eq!(events[added]["annotation_index"], 0);
    assert!(
        events[added + 1].get("annotations").is_none(),
        "text.done has no annotations"
    );
    let part_done = &events[added + 2]["part"];
    assert_eq!(part_done["annotations"], json!([annotation]));
    assert_eq!(
        events[added + 3]["item"]["content"][0]["annotations"],
        json!([annotation])
    );

    let chunks = stream_chat(&model, &chat_request("c", false)).await;
    let with = chunks
        .iter()
        .find(|c| c["choices"][0]["delta"].get("annotations").is_some())
        .expect("a delta with annotations");
    let a = &with["choices"][0]["delta"]["annotations"][0];
    assert_eq!(a["type"], "url_citation");
    assert_eq!(a["url_citation"]["end_index"], "echo: c tok1".len());
    assert!(
        a["url_citation"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    model.stop().await;
}

#[actix_web::test]
async fn fail_status_fails_k_requests_then_succeeds() {
    let model = start(Behaviour::default()).await;
    model.set(|b| {
        b.fail_status = Some(429);
        b.fail_times = Some(2);
        b.retry_after_ms = Some(100);
        b.should_retry = Some(true);
    });
    for _ in 0..2 {
        let response = post(&model, "/responses", &responses_request("f")).await;
        assert_eq!(response.status().as_u16(), 429);
        assert_eq!(response.headers()["retry-after-ms"], "100");
        assert_eq!(response.headers()["x-should-retry"], "true");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
        assert!(body["error"]["message"].as_str().is_some());
        assert!(body["error"].get("type").is_some() && body["error"].get("param").is_some());
    }
    let events = stream_responses(&model, &responses_request("f")).await;
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    assert_eq!(
        model.request_count(),
        3,
        "failed requests are counted and recorded"
    );
    assert_eq!(model.requests().len(), 3);

    // Every request, no headers unless asked.
    model.set(|b| {
        *b = Behaviour {
            fail_status: Some(500),
            ..Behaviour::default()
        }
    });
    for _ in 0..3 {
        let response = post(&model, "/chat/completions", &chat_request("f", false)).await;
        assert_eq!(response.status().as_u16(), 500);
        assert!(response.headers().get("retry-after-ms").is_none());
        assert!(response.headers().get("x-should-retry").is_none());
    }
    model.stop().await;
}

#[actix_web::test]
async fn midstream_abort_cuts_the_connection_after_half_the_deltas() {
    let model = start(Behaviour {
        tokens: 6,
        midstream: Some(Midstream::Abort),
        ..Behaviour::default()
    })
    .await;
    let response = post(&model, "/responses", &responses_request("m")).await;
    assert_eq!(response.status().as_u16(), 200);
    let (body, end) = read_all(response).await;
    assert!(end.is_err(), "the client sees a cut body");
    let events = responses_events(&body);
    let names = types(&events);
    assert_eq!(
        names
            .iter()
            .filter(|t| **t == "response.output_text.delta")
            .count(),
        3
    );
    assert_eq!(names.last(), Some(&"response.output_text.delta"));

    let response = post(&model, "/chat/completions", &chat_request("m", true)).await;
    let (body, end) = read_all(response).await;
    assert!(end.is_err());
    assert!(!body.contains("[DONE]") && !body.contains("finish_reason\":\"stop"));
    assert_eq!(
        chat_chunks(&body).len(),
        4,
        "role chunk and 3 content chunks"
    );
    assert_eq!(
        model.disconnects(),
        0,
        "an injected abort is not a client disconnect"
    );
    model.stop().await;
}

#[actix_web::test]
async fn midstream_eof_ends_cleanly_without_a_terminal_event() {
    let model = start(Behaviour {
        tokens: 5,
        midstream: Some(Midstream::Eof),
        delay: Duration::from_millis(5),
        ..Behaviour::default()
    })
    .await;
    let events = stream_responses(&model, &responses_request("m")).await;
    let names = types(&events);
    assert_eq!(
        names
            .iter()
            .filter(|t| **t == "response.output_text.delta")
            .count(),
        2
    );
    assert!(!names.contains(&"response.completed"));
    assert_eq!(names.last(), Some(&"response.output_text.delta"));

    let body = body_of(post(&model, "/chat/completions", &chat_request("m", true)).await).await;
    assert!(!body.contains("[DONE]"));
    assert_eq!(chat_chunks(&body).len(), 3);
    assert_eq!(model.disconnects(), 0);
    model.stop().await;
}

#[actix_web::test]
async fn stall_keeps_the_connection_open_and_silent() {
    let model = start(Behaviour {
        stall: true,
        ..Behaviour::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let response = post_with(&client, &model, "/responses", &responses_request("s")).await;
    let (body, end) = read_all(response).await;
    let error = end.expect_err("the read times out");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    let names: Vec<String> = parse(&body)
        .iter()
        .map(|e| e.name.clone().unwrap())
        .collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("response.output_text.delta")
    );
    assert_eq!(names.len(), 5);
    // The client gave up: the stream counts as a disconnect.
    wait_for_disconnects(&model, 1).await;

    let response = post_with(
        &client,
        &model,
        "/chat/completions",
        &chat_request("s", false),
    )
    .await;
    let (body, end) = read_all(response).await;
    assert!(end.unwrap_err().is_timeout());
    assert_eq!(chat_chunks(&body).len(), 2);
    wait_for_disconnects(&model, 2).await;
    model.stop().await;
}

#[actix_web::test]
async fn error_event_follows_the_first_delta() {
    let model = start(Behaviour {
        error_event: true,
        ..Behaviour::default()
    })
    .await;
    let events = stream_responses(&model, &responses_request("e")).await;
    assert_eq!(types(&events)[4..], ["response.output_text.delta", "error"]);
    let error = &events[5];
    assert_eq!(error["error"]["type"], "too_many_requests");
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    assert!(error["error"]["message"].as_str().is_some());

    let body = body_of(post(&model, "/chat/completions", &chat_request("e", true)).await).await;
    let chunks = chat_chunks(&body);
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "echo: e");
    assert_eq!(chunks[2]["error"]["code"], "rate_limit_exceeded");
    assert!(chunks[2].get("choices").is_none());
    model.stop().await;
}

async fn wait_for_disconnects(model: &FakeModel, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while model.disconnects() < n {
        assert!(
            Instant::now() < deadline,
            "{} disconnects, expected {n}",
            model.disconnects()
        );
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(model.disconnects(), n);
}

#[actix_web::test]
async fn a_client_dropping_the_stream_counts_as_a_disconnect() {
    let model = start(Behaviour {
        tokens: 200,
        delay: Duration::from_millis(20),
        ..Behaviour::default()
    })
    .await;
    for (path, body) in [
        ("/responses", responses_request("d")),
        ("/chat/completions", chat_request("d", false)),
    ] {
        let before = model.disconnects();
        let mut response = post(&model, path, &body).await;
        let first = response.chunk().await.unwrap().expect("a first chunk");
        assert!(!first.is_empty());
        drop(response);
        wait_for_disconnects(&model, before + 1).await;
    }
    model.stop().await;
}

#[actix_web::test]
async fn paced_streams_arrive_chunk_by_chunk_and_finish_without_a_disconnect() {
    let model = start(Behaviour {
        tokens: 4,
        ttft: Duration::from_millis(150),
        delay: Duration::from_millis(100),
        ..Behaviour::default()
    })
    .await;
    // Times count from the response headers, which leave with the head
    // events (the server's startup and the request are not measured).
    let mut response = post(&model, "/responses", &responses_request("p")).await;
    let headers_at = Instant::now();
    let mut arrivals = Vec::new();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        arrivals.push((
            headers_at.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
        body.extend_from_slice(&chunk);
    }
    let total = headers_at.elapsed();
    assert!(arrivals[0].1.contains("response.created"));
    assert!(
        arrivals[0].0 < Duration::from_millis(100),
        "the head is not held back: {arrivals:?}"
    );
    let first_delta = arrivals
        .iter()
        .find(|(_, text)| text.contains("response.output_text.delta"))
        .unwrap()
        .0;
    assert!(
        first_delta >= Duration::from_millis(100),
        "ttft: {arrivals:?}"
    );
    assert!(
        total >= first_delta + Duration::from_millis(250),
        "3 delays after the first delta: {arrivals:?}"
    );
    assert!(
        arrivals.len() >= 4,
        "one write per paced delta: {arrivals:?}"
    );
    let events = responses_events(&String::from_utf8(body).unwrap());
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    // A finished stream is not a disconnect.
    actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(model.disconnects(), 0);
    model.stop().await;
}

#[actix_web::test]
async fn knobs_change_between_requests_and_non_streamed_answers_work() {
    let model = start(Behaviour::default()).await;
    let plain = json!({"model": "m", "input": "n"});
    let response: Value = post(&model, "/responses", &plain)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(response["object"], "response");
    assert_eq!(
        response["output"][0]["content"][0]["text"],
        "echo: n tok1 tok2 tok3 tok4"
    );

    model.set(|b| b.tokens = 2);
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "n"}]});
    let response: Value = post(&model, "/chat/completions", &chat)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(response["object"], "chat.completion");
    assert_eq!(response["choices"][0]["message"]["content"], "echo: n tok1");
    assert_eq!(response["choices"][0]["finish_reason"], "stop");

    let bad = client()
        .post(format!("{}/responses", model.base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let stats: Value = client()
        .get(format!("http://127.0.0.1:{}/stats", model.port()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"], 2);
    assert_eq!(stats["chat_requests"], 1);
    assert_eq!(stats["last_user_text"], "n");
    assert_eq!(stats["config"]["tokens"], 2);
    model.stop().await;
}
