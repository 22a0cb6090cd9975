//! Real model providers over real HTTP: the server talks to the fake model
//! (both wire formats) on 127.0.0.1.

use std::collections::HashSet;
use std::time::Duration;

use chatkit_actors::model::{ModelConfig, ProviderSettings};
use chatkit_actors::tools::Tools;
use chatkit_server::fake_model::{Behaviour, FakeModel, Midstream};
use serde_json::{Value, json};

use crate::cancellation::send_and_hang_up;
use crate::helpers::*;

#[derive(Clone, Copy, Debug)]
enum Api {
    Responses,
    Chat,
}

const APIS: [Api; 2] = [Api::Responses, Api::Chat];

/// [`fake_provider`], with two retries.
fn settings(fake: &FakeModel) -> ProviderSettings {
    let mut s = fake_provider(fake);
    s.max_retries = 2;
    s
}

fn config(api: Api, s: ProviderSettings) -> ModelConfig {
    match api {
        Api::Responses => ModelConfig::Responses(s),
        Api::Chat => ModelConfig::Chat(s),
    }
}

/// A server on `api` against a fresh fake model.
async fn app_with(
    api: Api,
    behaviour: Behaviour,
    tools: Tools,
    tweak: impl FnOnce(&mut ProviderSettings),
) -> (TestApp, FakeModel) {
    let fake = FakeModel::start(behaviour)
        .await
        .expect("fake model starts");
    let mut s = settings(&fake);
    tweak(&mut s);
    let app = spawn_app_with(AppOptions {
        tools,
        ..AppOptions::with_model(config(api, s))
    })
    .await;
    (app, fake)
}

async fn app(api: Api, behaviour: Behaviour) -> (TestApp, FakeModel) {
    app_with(api, behaviour, Tools::new(), |_| {}).await
}

fn weather_tool(tools: Tools) -> Tools {
    tools.server(
        "get_weather",
        "Get the weather for a city.",
        json!({"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}}, "required": ["city"]}),
        |args, _ctx| async move { Ok(format!("Sunny in {}", args["city"].as_str().unwrap_or("?"))) },
    )
}

/// The user texts a model request carried, in order, whatever its shape.
fn texts_sent(request: &Value) -> Vec<String> {
    let items = request
        .get("input")
        .or_else(|| request.get("messages"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|i| {
            let role = i["role"].as_str()?;
            let text = match &i["content"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<String>(),
                _ => return None,
            };
            Some(format!("{role}: {text}"))
        })
        .collect()
}

fn error_event(events: &[Value]) -> Option<&Value> {
    events.iter().find(|e| e["type"] == "error")
}

#[actix_web::test]
async fn multi_turn_conversations_send_the_whole_history() {
    for api in APIS {
        let (app, fake) = app(
            api,
            Behaviour {
                tokens: 3,
                ..Default::default()
            },
        )
        .await;
        let (thread, events) = app.create_thread("first question").await;
        assert_eq!(
            answer_text(&events),
            "echo: first question tok1 tok2",
            "{api:?}"
        );
        assert!(error_event(&events).is_none());
        let events = app.send(&thread, "second question").await;
        assert_eq!(answer_text(&events), "echo: second question tok1 tok2");
        let events = app.send(&thread, "third question").await;
        assert_eq!(answer_text(&events), "echo: third question tok1 tok2");

        let requests = fake.requests();
        assert_eq!(requests.len(), 3, "{api:?}");
        let sent = texts_sent(&requests[2]);
        let expected = [
            "user: first question",
            "assistant: echo: first question tok1 tok2",
            "user: second question",
            "assistant: echo: second question tok1 tok2",
            "user: third question",
        ];
        assert_eq!(sent, expected, "{api:?}: {}", requests[2]);
        assert_eq!(requests[2]["model"], "test-model");
        assert_eq!(requests[2]["stream"], true);
        assert_eq!(app.all_items("alice", &thread).await.len(), 6);
    }
}

#[actix_web::test]
async fn fake_ids_never_collide_across_twenty_turns() {
    for api in APIS {
        let (app, _fake) = app(
            api,
            Behaviour {
                tokens: 3,
                fake_ids: true,
                ..Default::default()
            },
        )
        .await;
        let (thread, first) = app.create_thread("turn 0").await;
        let mut streams = vec![first];
        for i in 1..20 {
            streams.push(app.send(&thread, &format!("turn {i}")).await);
        }
        for events in &streams {
            assert!(error_event(events).is_none(), "{api:?}: {events:?}");
            // added, every update and done name the same assistant item.
            let added = events
                .iter()
                .find(|e| e["type"] == "thread.item.added")
                .unwrap()["item"]["id"]
                .clone();
            assert!(added.as_str().unwrap().starts_with("msg_") && added != "__fake_id__");
            for e in events.iter().filter(|e| e["type"] == "thread.item.updated") {
                assert_eq!(e["item_id"], added);
            }
            let done: Vec<_> = events
                .iter()
                .filter(|e| e["type"] == "thread.item.done")
                .map(|e| e["item"]["id"].clone())
                .collect();
            assert_eq!(done[1], added);
        }
        let items = app.all_items("alice", &thread).await;
        assert_eq!(items.len(), 40, "{api:?}");
        let ids: HashSet<_> = items
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), 40, "{api:?}: stored ids collide");
        assert!(!ids.contains("__fake_id__"));
        for (i, pair) in items.chunks(2).enumerate() {
            assert_eq!(
                pair[1]["content"][0]["text"],
                format!("echo: turn {i} tok1 tok2")
            );
        }
    }
}

#[actix_web::test]
async fn server_tools_run_and_the_model_is_called_again() {
    for api in APIS {
        let behaviour = Behaviour {
            tokens: 2,
            tool_call: true,
            ..Default::default()
        };
        let (app, fake) = app_with(api, behaviour, weather_tool(Tools::new()), |_| {}).await;
        let (thread, events) = app.create_thread("weather in Paris?").await;
        assert!(error_event(&events).is_none(), "{api:?}: {events:?}");
        let answer = answer_text(&events);
        assert!(
            answer.contains("[get_weather: Sunny in Paris]"),
            "{api:?}: {answer}"
        );
        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        // The tool is offered in the provider's own shape.
        match api {
            Api::Responses => assert_eq!(requests[0]["tools"][0]["name"], "get_weather"),
            Api::Chat => assert_eq!(requests[0]["tools"][0]["function"]["name"], "get_weather"),
        }
        // Server tools are invisible to the client: the thread holds the
        // question and the answer.
        let items = app.all_items("alice", &thread).await;
        assert_eq!(items.len(), 2, "{items:#?}");
    }
}

#[actix_web::test]
async fn client_tools_pause_the_turn_until_the_output_arrives() {
    for api in APIS {
        let behaviour = Behaviour {
            tokens: 2,
            client_tool: Some("pick_color".into()),
            ..Default::default()
        };
        let tools = Tools::new().client(
            "pick_color",
            "Ask the user to pick a color.",
            json!({"type": "object", "properties": {}}),
        );
        let (app, fake) = app_with(api, behaviour, tools, |_| {}).await;
        let (thread, events) = app.create_thread("choose a color").await;
        let last = events.last().unwrap();
        assert_eq!(last["type"], "thread.item.done", "{api:?}: {events:?}");
        let call = &last["item"];
        assert_eq!(call["type"], "client_tool_call");
        assert_eq!(call["status"], "pending");
        assert_eq!(call["name"], "pick_color");
        assert!(call["id"].as_str().unwrap().starts_with("tc_"));
        assert!(call.get("output").is_none());

        // Nothing to answer yet for a second request of another kind.
        let events = app
            .post(&json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread, "result": {"color": "blue"}}}))
            .await
            .events();
        assert_eq!(events[0]["type"], "stream_options");
        assert!(
            !events
                .iter()
                .any(|e| e["item"]["type"] == "client_tool_call"),
            "no event for the completed call"
        );
        let answer = answer_text(&events);
        assert!(answer.contains("[pick_color:"), "{api:?}: {answer}");
        assert!(answer.contains("blue"), "{answer}");
        // The second model call carried the call and its output.
        assert_eq!(fake.requests().len(), 2);
        let items = app.all_items("alice", &thread).await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[1]["type"], "client_tool_call");
        assert_eq!(items[1]["status"], "completed");
        assert_eq!(items[1]["output"], json!({"color": "blue"}));

        // Now there is no pending call: a second output is a conflict.
        let again = app
            .post(&json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread, "result": null}}))
            .await;
        assert_eq!(again.status, 409, "{}", again.body);
        assert_eq!(again.error_code(), "conflict");
    }
}

#[actix_web::test]
async fn reasoning_becomes_a_workflow_and_citations_annotations() {
    for api in APIS {
        let behaviour = Behaviour {
            tokens: 3,
            reasoning: 2,
            citations: true,
            ..Default::default()
        };
        let (app, _fake) = app(api, behaviour).await;
        let (thread, events) = app.create_thread("think about it").await;
        assert!(error_event(&events).is_none(), "{api:?}: {events:?}");
        let workflow = events
            .iter()
            .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "workflow")
            .unwrap_or_else(|| panic!("{api:?}: no workflow in {events:#?}"));
        assert_eq!(workflow["item"]["workflow"]["type"], "reasoning");
        assert!(
            !workflow["item"]["workflow"]["tasks"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(workflow["item"]["workflow"]["summary"]["duration"].is_number());
        let message = events
            .iter()
            .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message")
            .unwrap();
        let annotations = message["item"]["content"][0]["annotations"]
            .as_array()
            .unwrap();
        assert_eq!(annotations.len(), 1, "{api:?}: {message}");
        assert_eq!(annotations[0]["source"]["type"], "url");
        let items = app.all_items("alice", &thread).await;
        assert_eq!(
            items
                .iter()
                .map(|i| i["type"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["user_message", "workflow", "assistant_message"]
        );
    }
}

#[actix_web::test]
async fn transient_failures_are_retried_before_anything_streams() {
    for api in APIS {
        let behaviour = Behaviour {
            tokens: 2,
            fail_status: Some(503),
            fail_times: Some(2),
            retry_after_ms: Some(10),
            ..Default::default()
        };
        let (app, fake) = app(api, behaviour).await;
        let (_, events) = app.create_thread("hello").await;
        assert!(error_event(&events).is_none(), "{api:?}: {events:?}");
        assert_eq!(answer_text(&events), "echo: hello tok1");
        assert_eq!(
            fake.request_count(),
            3,
            "{api:?}: two failures, then success"
        );
    }
}

/// Runs one turn against a failing fake and returns the events and the
/// stored items.
async fn failing_turn(
    api: Api,
    behaviour: Behaviour,
    tweak: impl FnOnce(&mut ProviderSettings),
) -> (Vec<Value>, Vec<Value>, FakeModel) {
    let (app, fake) = app_with(api, behaviour, Tools::new(), tweak).await;
    let (thread, events) = app.create_thread("a question").await;
    let items = app.all_items("alice", &thread).await;
    (events, items, fake)
}

#[actix_web::test]
async fn failures_end_with_an_error_event_and_keep_what_was_said() {
    for api in APIS {
        // 401: not retried, not retryable; the user message stays.
        let (events, items, fake) = failing_turn(
            api,
            Behaviour {
                fail_status: Some(401),
                ..Default::default()
            },
            |_| {},
        )
        .await;
        let error = error_event(&events).unwrap_or_else(|| panic!("{api:?}: {events:?}"));
        assert_eq!(error["allow_retry"], false, "{api:?}");
        assert_eq!(fake.request_count(), 1);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["type"], "user_message");

        // 429 until retries run out: retryable.
        let (events, items, fake) = failing_turn(
            api,
            Behaviour {
                fail_status: Some(429),
                retry_after_ms: Some(5),
                ..Default::default()
            },
            |s| s.max_retries = 1,
        )
        .await;
        assert_eq!(
            error_event(&events).unwrap()["allow_retry"],
            true,
            "{api:?}"
        );
        assert_eq!(fake.request_count(), 2);
        assert_eq!(items.len(), 1);

        // Cut mid-stream (dropped connection, or a clean end without a
        // terminal event): the partial answer is finished and kept.
        for mode in [Midstream::Abort, Midstream::Eof] {
            let (events, items, fake) = failing_turn(
                api,
                Behaviour {
                    tokens: 6,
                    midstream: Some(mode),
                    ..Default::default()
                },
                |_| {},
            )
            .await;
            let error =
                error_event(&events).unwrap_or_else(|| panic!("{api:?} {mode:?}: {events:?}"));
            assert_eq!(error["allow_retry"], true, "{api:?} {mode:?}");
            assert_eq!(
                fake.request_count(),
                1,
                "{api:?} {mode:?}: no retry once text streamed"
            );
            assert_eq!(items.len(), 2, "{api:?} {mode:?}: {items:#?}");
            let partial = items[1]["content"][0]["text"].as_str().unwrap();
            assert!(
                partial.starts_with("echo: a question") && !partial.contains("tok5"),
                "{partial}"
            );
            assert_eq!(*events.last().unwrap(), *error, "the error ends the stream");
        }

        // An error event inside the stream (rate limit at HTTP 200).
        let (events, items, _) = failing_turn(
            api,
            Behaviour {
                tokens: 4,
                error_event: true,
                ..Default::default()
            },
            |_| {},
        )
        .await;
        assert_eq!(
            error_event(&events).unwrap()["allow_retry"],
            true,
            "{api:?}: {events:?}"
        );
        assert_eq!(items.len(), 2, "{api:?}: the first delta is kept");

        // A stalled stream hits the idle read timeout.
        let (events, items, _) = failing_turn(
            api,
            Behaviour {
                tokens: 4,
                stall: true,
                ..Default::default()
            },
            |s| s.read_timeout = Duration::from_millis(300),
        )
        .await;
        assert_eq!(
            error_event(&events).unwrap()["allow_retry"],
            true,
            "{api:?}: {events:?}"
        );
        assert_eq!(items.len(), 2);
    }
}

#[actix_web::test]
async fn cancelling_a_turn_closes_the_upstream_request() {
    for api in APIS {
        let behaviour = Behaviour {
            tokens: 40,
            delay: Duration::from_millis(50),
            ..Default::default()
        };
        let (app, fake) = app(api, behaviour).await;
        let (thread, _) = {
            fake.set(|b| b.delay = Duration::ZERO);
            let created = app.create_thread("first").await;
            fake.set(|b| b.delay = Duration::from_millis(50));
            created
        };
        send_and_hang_up(&app, &add_message(&thread, "a long one"), 3).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fake.disconnects() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "{api:?}: the model request was not closed"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        // The partial answer and the note are stored; the next turn works.
        fake.set(|b| b.delay = Duration::ZERO);
        let sql = format!(
            "SELECT count(*) FROM items WHERE thread_id = '{thread}' AND item_type = 'sdk_hidden_context'"
        );
        while app.count_rows(&sql) == 0 {
            assert!(std::time::Instant::now() < deadline);
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let events = app.send(&thread, "again").await;
        assert!(answer_text(&events).starts_with("echo: again"));
    }
}

#[actix_web::test]
async fn new_threads_get_a_title_from_a_background_call() {
    for api in APIS {
        let fake = FakeModel::start(Behaviour {
            tokens: 2,
            delay: Duration::from_millis(20),
            ..Default::default()
        })
        .await
        .unwrap();
        let app = spawn_app_with(AppOptions {
            model: Some(config(api, settings(&fake))),
            titles: true,
            ..Default::default()
        })
        .await;
        let (thread, events) = app.create_thread("Plan a trip to Rome").await;
        assert!(error_event(&events).is_none());
        // The title call is a separate, tool-less request with its own
        // instructions; the answer does not wait for it.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = app
                .post(&json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
                .await
                .json();
            if let Some(title) = got["title"].as_str() {
                assert!(title.contains("Plan a trip to Rome"), "{api:?}: {title}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{api:?}: no title");
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        let title_request = requests
            .iter()
            .find(|r| serde_json::to_string(r).unwrap().contains("Write a title"))
            .expect("a title request");
        assert!(title_request.get("tools").is_none());
        // A second message does not ask for a title again.
        app.send(&thread, "and Florence?").await;
        assert_eq!(fake.requests().len(), 3);
    }
}

/// The content of the first user message of a model request.
fn first_user_content(api: Api, request: &Value) -> Value {
    match api {
        Api::Responses => request["input"][0]["content"].clone(),
        Api::Chat => request["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "user")
            .unwrap()["content"]
            .clone(),
    }
}

/// Creates and uploads an attachment as alice; returns its id.
async fn upload(app: &TestApp, name: &str, mime: &str, bytes: &[u8]) -> String {
    let created = app
        .post(&json!({"type": "attachments.create", "params": {"name": name, "size": bytes.len(), "mime_type": mime}}))
        .await
        .json();
    let url = created["upload_descriptor"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .client
        .put(url)
        .header("X-User-Id", "alice")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    created["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn an_image_and_a_pdf_reach_the_model_in_its_own_shape() {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    for api in APIS {
        let (app, fake) = app(
            api,
            Behaviour {
                tokens: 2,
                ..Default::default()
            },
        )
        .await;
        let png = b"\x89PNG fake image";
        let pdf = b"%PDF-1.4 fake";
        let image = upload(&app, "cat.png", "image/png", png).await;
        let file = upload(&app, "report.pdf", "application/pdf", pdf).await;
        let body = json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "What is in these?"}],
            "attachments": [image, file], "inference_options": {}}}});
        let events = app.post(&body).await.events();
        assert!(error_event(&events).is_none(), "{api:?}: {events:?}");
        let request = fake.requests().pop().unwrap();
        let image_url = format!("data:image/png;base64,{}", b64(png));
        let file_data = format!("data:application/pdf;base64,{}", b64(pdf));
        let user = first_user_content(api, &request);
        let expected = match api {
            Api::Responses => json!([
                {"type": "input_text", "text": "What is in these?"},
                {"type": "input_image", "detail": "auto", "image_url": image_url},
                {"type": "input_file", "filename": "report.pdf", "file_data": file_data},
            ]),
            Api::Chat => json!([
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": image_url, "detail": "auto"}},
                {"type": "file", "file": {"file_data": file_data, "filename": "report.pdf"}},
            ]),
        };
        assert_eq!(user, expected, "{api:?}: {request}");
    }
}

#[actix_web::test]
async fn images_can_reach_the_model_as_urls_it_fetches() {
    use base64::Engine as _;
    for api in APIS {
        let fake = FakeModel::start(Behaviour {
            tokens: 2,
            ..Default::default()
        })
        .await
        .expect("fake model starts");
        let app = spawn_app_with(AppOptions {
            image_input: chatkit_actors::attachments::ImageInput::Url,
            ..AppOptions::with_model(config(api, settings(&fake)))
        })
        .await;
        let png = b"\x89PNG fetched by the provider";
        let pdf = b"%PDF-1.4 still inline";
        let image = upload(&app, "cat.png", "image/png", png).await;
        let file = upload(&app, "report.pdf", "application/pdf", pdf).await;
        let body = json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "Look"}],
            "attachments": [image, file], "inference_options": {}}}});
        let events = app.post(&body).await.events();
        assert!(error_event(&events).is_none(), "{api:?}: {events:?}");
        let request = fake.requests().pop().unwrap();
        let preview = format!("{}/chatkit/attachments/{image}/preview", app.url);
        let file_data = format!(
            "data:application/pdf;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(pdf)
        );
        let expected = match api {
            Api::Responses => json!([
                {"type": "input_text", "text": "Look"},
                {"type": "input_image", "detail": "auto", "image_url": preview},
                {"type": "input_file", "filename": "report.pdf", "file_data": file_data},
            ]),
            Api::Chat => json!([
                {"type": "text", "text": "Look"},
                {"type": "image_url", "image_url": {"url": preview, "detail": "auto"}},
                {"type": "file", "file": {"file_data": file_data, "filename": "report.pdf"}},
            ]),
        };
        let user = first_user_content(api, &request);
        assert_eq!(user, expected, "{api:?}: {request}");
        // The URL serves the image to a client without the user header,
        // as a provider fetching it is.
        let resp = reqwest::get(&preview).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap().as_ref(), png);

        // An image whose bytes never arrived is named, not linked.
        let created = app
            .post(&json!({"type": "attachments.create", "params": {"name": "lost.png", "size": 3, "mime_type": "image/png"}}))
            .await
            .json();
        let thread = events[0]["thread"]["id"].as_str().unwrap();
        let body = json!({"type": "threads.add_user_message", "params": {"thread_id": thread, "input": {
            "content": [{"type": "input_text", "text": "And this?"}],
            "attachments": [created["id"]], "inference_options": {}}}});
        app.post(&body).await.events();
        let request = serde_json::to_string(&fake.requests().pop().unwrap()).unwrap();
        assert!(
            request.contains("[attachment: lost.png (image/png)]"),
            "{api:?}: {request}"
        );
        assert!(
            !request.contains(created["id"].as_str().unwrap()),
            "{api:?}: {request}"
        );
    }
}
