//! A custom responder drives every event kind the TurnContext can emit;
//! the events are checked in order and what is stored is read back.

use std::sync::Arc;
use std::time::Duration;

use chatkit_actors::model::echo::last_user_text;
use chatkit_actors::protocol::{
    GeneratedImage, NoticeLevel, StructuredInput, StructuredInputKind, StructuredInputOption, Task,
    TaskKind, TaskStatusIndicator, ThreadItem, ThreadStreamEvent, WidgetRoot, WorkflowSummary,
};
use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
use chatkit_actors::{Engine, EngineConfig, EngineResponse, EventStream, RequestContext};
use serde_json::{Map, Value, json};

/// Emits one of everything, then fails if the user asked for it.
struct Everything;

impl Responder for Everything {
    fn respond(
        &self,
        turn: TurnContext,
        input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move {
            let text = last_user_text(input.as_slice());
            if text == "fail custom" {
                turn.progress("about to fail", None).await?;
                return Err(ResponderError::custom("Nope.", false));
            }
            if text == "fail other" {
                return Err(ResponderError::Other("boom".into()));
            }
            turn.progress("Working", Some("bolt".into())).await?;
            turn.notice(NoticeLevel::Info, "**Heads up**", Some("Note".into()))
                .await?;
            let mut data = Map::new();
            data.insert("k".into(), json!(null));
            turn.client_effect("confetti", data).await?;
            turn.hidden_context(json!({"secret": 1})).await?;
            let mut message = turn.assistant_message().await?;
            message.delta("Hel").await?;
            message.delta("lo").await?;
            message.finish().await?;
            let mut workflow = turn.workflow(true).await?;
            let task = Task {
                status_indicator: TaskStatusIndicator::Loading,
                kind: TaskKind::Thought {
                    title: None,
                    content: "Thinking".into(),
                },
            };
            let index = workflow.add_task(task).await?;
            let done = Task {
                status_indicator: TaskStatusIndicator::Complete,
                kind: TaskKind::Thought {
                    title: None,
                    content: "Done thinking".into(),
                },
            };
            workflow.update_task(index, done).await?;
            workflow
                .finish(Some(WorkflowSummary::Custom {
                    title: "Thought it through".into(),
                    icon: None,
                }))
                .await?;
            let widget: WidgetRoot = serde_json::from_value(
                json!({"type": "Card", "children": [{"type": "Text", "value": "Hi"}]}),
            )
            .unwrap();
            turn.widget(widget, Some("Hi".into())).await?;
            let image = turn.generated_image().await?;
            image
                .progress(
                    GeneratedImage {
                        id: "img".into(),
                        url: "data:image/png;base64,AA".into(),
                    },
                    Some(0.5),
                )
                .await?;
            image
                .finish(GeneratedImage {
                    id: "img".into(),
                    url: "https://example.com/i.png".into(),
                })
                .await?;
            turn.structured_input(vec![StructuredInput {
                id: "q".into(),
                question: "Which?".into(),
                answer: None,
                kind: StructuredInputKind::MultipleChoice {
                    options: vec![StructuredInputOption { value: "A".into() }],
                    multiple: false,
                },
            }])
            .await?;
            turn.set_title("Everything").await?;
            turn.message("Bye").await?;
            Ok(())
        })
    }
}

/// An engine on `db.sqlite3` in `dir` that answers with `responder`.
fn engine(dir: &tempfile::TempDir, responder: impl Responder) -> Engine {
    let mut config = EngineConfig::new(dir.path().join("db.sqlite3"));
    config.responder = Arc::new(responder);
    Engine::start(config).unwrap()
}

/// Sends a streamed request as user `u`.
async fn open(engine: &Engine, body: Value) -> EventStream {
    let EngineResponse::Stream(s) = engine
        .process(body.to_string().as_bytes(), &RequestContext::new("u"))
        .await
        .unwrap()
    else {
        panic!("expected a stream")
    };
    s
}

async fn stream(engine: &Engine, body: Value) -> Vec<Value> {
    collect(&mut open(engine, body).await).await
}

/// Sends a non-streamed request; its JSON body.
async fn reply(engine: &Engine, body: Value, ctx: &RequestContext) -> Vec<u8> {
    let EngineResponse::Json(reply) = engine
        .process(body.to_string().as_bytes(), ctx)
        .await
        .unwrap()
    else {
        panic!("expected a JSON reply")
    };
    reply
}

/// The `item_type` of every stored item, in order.
fn stored_types(db: &std::path::Path) -> Vec<String> {
    rusqlite::Connection::open(db)
        .unwrap()
        .prepare("SELECT item_type FROM items ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn collect(s: &mut EventStream) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some(e) = s.next_event().await {
        out.push(serde_json::to_value(&e).unwrap());
    }
    out
}

fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}})
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let t = e["type"].as_str().unwrap();
            match t {
                "thread.item.updated" => {
                    format!("updated:{}", e["update"]["type"].as_str().unwrap())
                }
                "thread.item.added" | "thread.item.done" => {
                    format!("{t}:{}", e["item"]["type"].as_str().unwrap())
                }
                other => other.to_owned(),
            }
        })
        .collect()
}

#[actix_rt::test]
async fn every_event_kind_is_emitted_stored_and_hidden_where_it_must_be() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Everything);
    let events = stream(&engine, create("go")).await;
    assert_eq!(
        kinds(&events),
        [
            "thread.created",
            "thread.item.done:user_message",
            "stream_options",
            "progress_update",
            "notice",
            "client_effect",
            // the hidden context item is stored but never sent
            "thread.item.added:assistant_message",
            "updated:assistant_message.content_part.added",
            "updated:assistant_message.content_part.text_delta",
            "updated:assistant_message.content_part.text_delta",
            "updated:assistant_message.content_part.done",
            "thread.item.done:assistant_message",
            "thread.item.added:workflow",
            "updated:workflow.task.added",
            "updated:workflow.task.updated",
            "thread.item.done:workflow",
            "thread.item.done:widget",
            "thread.item.added:generated_image",
            "updated:generated_image.updated",
            "thread.item.done:generated_image",
            "thread.item.done:structured_input",
            "thread.updated",
            "thread.item.done:assistant_message",
        ]
    );
    assert_eq!(
        events[5]["data"],
        json!({"k": null}),
        "free-form data keeps its nulls"
    );
    let workflow = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "workflow")
        .unwrap();
    assert_eq!(
        workflow["item"]["workflow"]["summary"],
        json!({"title": "Thought it through"})
    );
    assert_eq!(workflow["item"]["workflow"]["expanded"], false);
    assert_eq!(
        workflow["item"]["workflow"]["tasks"][0]["content"],
        "Done thinking"
    );
    assert_eq!(events[21]["thread"]["title"], "Everything");

    // Stored: everything that was done, in order, the hidden item too;
    // the client-facing read leaves the hidden item out.
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_owned();
    let stored = stored_types(&dir.path().join("db.sqlite3"));
    assert_eq!(
        stored,
        [
            "user_message",
            "hidden_context_item",
            "assistant_message",
            "workflow",
            "widget",
            "generated_image",
            "structured_input",
            "assistant_message"
        ]
    );
    let page = reply(
        &engine,
        json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}),
        &RequestContext::new("u"),
    )
    .await;
    let page: Value = serde_json::from_slice(&page).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 7);
    assert_eq!(page["data"][1]["content"][0]["text"], "Hello");
    engine.shutdown().await;
}

#[actix_rt::test]
async fn responder_errors_become_error_events() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Everything);
    let events = stream(&engine, create("fail custom")).await;
    assert_eq!(
        *events.last().unwrap(),
        json!({"type": "error", "code": "custom", "message": "Nope.", "allow_retry": false})
    );
    let events = stream(&engine, create("fail other")).await;
    assert_eq!(
        *events.last().unwrap(),
        json!({"type": "error", "code": "stream.error", "allow_retry": true})
    );
    // Actions are not implemented by this responder: the reference's error.
    let thread_id = events[0]["thread"]["id"].as_str().unwrap();
    let events = stream(&engine, json!({"type": "threads.custom_action", "params": {"thread_id": thread_id, "action": {"type": "go"}}})).await;
    assert_eq!(kinds(&events), ["stream_options", "error"]);
    assert_eq!(
        events[1],
        json!({"type": "error", "code": "stream.error", "allow_retry": true})
    );
    engine.shutdown().await;
}

/// Records feedback it is told about.
struct Rater(Arc<std::sync::Mutex<Vec<String>>>);

impl Responder for Rater {
    fn respond(
        &self,
        turn: TurnContext,
        _input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move { turn.message("rate me").await.map(|_| ()) })
    }

    fn add_feedback(
        &self,
        scope: chatkit_actors::responder::RequestScope,
        item_ids: Vec<chatkit_actors::ids::ItemId>,
        kind: chatkit_actors::protocol::FeedbackKind,
    ) -> BoxFuture<'static, ()> {
        let seen = self.0.clone();
        Box::pin(async move {
            let user = scope.request.user_id.0.clone();
            let tenant = scope
                .request
                .data
                .get("tenant")
                .cloned()
                .unwrap_or_default();
            seen.lock().unwrap().push(format!(
                "{user}/{tenant}: {} {}",
                kind.as_str(),
                item_ids.len()
            ));
        })
    }
}

#[actix_rt::test]
async fn feedback_reaches_the_responder_with_the_request_data() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let engine = engine(&dir, Rater(seen.clone()));
    let events = stream(&engine, create("hi")).await;
    let thread_id = events[0]["thread"]["id"].as_str().unwrap();
    let answer = events.last().unwrap()["item"]["id"].clone();
    let body = json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [answer], "kind": "negative"}});
    let ctx = RequestContext::new("u").with("tenant", "acme");
    assert_eq!(reply(&engine, body, &ctx).await, b"{}");
    assert_eq!(*seen.lock().unwrap(), ["u/acme: negative 1"]);
    engine.shutdown().await;
}

/// Streams slowly; keeps nothing of a cancelled turn but its own note.
struct Tidy;

impl Responder for Tidy {
    fn respond(
        &self,
        turn: TurnContext,
        _input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move {
            let mut message = turn.assistant_message().await?;
            for word in ["one ", "two ", "three ", "four "] {
                message.delta(word).await?;
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
            message.finish().await
        })
    }

    fn on_cancelled(
        &self,
        thread: &chatkit_actors::protocol::ThreadMetadata,
        pending: Vec<ThreadItem>,
    ) -> Vec<ThreadItem> {
        // The reference's cleanup, plus a note of our own.
        let mut keep = chatkit_actors::responder::default_cancel_cleanup(thread, pending);
        keep.push(ThreadItem {
            id: "note_cancel".into(),
            thread_id: thread.id.clone(),
            created_at: chatkit_actors::time::Timestamp::now(),
            kind: chatkit_actors::protocol::ItemKind::HiddenContextItem(
                chatkit_actors::protocol::HiddenContextItem {
                    content: Some(json!({"cancelled": true})),
                },
            ),
        });
        keep
    }
}

#[actix_rt::test]
async fn on_cancelled_decides_what_a_cancelled_turn_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Tidy);
    let mut s = open(&engine, create("go")).await;
    // Read until the first delta, then leave.
    while let Some(e) = s.next_event().await {
        if serde_json::to_value(&e).unwrap()["update"]["type"]
            == "assistant_message.content_part.text_delta"
        {
            break;
        }
    }
    drop(s);
    let db = dir.path().join("db.sqlite3");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let types = loop {
        let types = stored_types(&db);
        if types.len() >= 4 || std::time::Instant::now() > deadline {
            break types;
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        types,
        [
            "user_message",
            "assistant_message",
            "sdk_hidden_context",
            "hidden_context_item"
        ]
    );
    engine.shutdown().await;
}

/// Transcribes by describing the audio it got.
struct Scribe;

impl Responder for Scribe {
    fn respond(
        &self,
        turn: TurnContext,
        _input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move { turn.message("hi").await.map(|_| ()) })
    }

    fn transcribe(
        &self,
        _scope: chatkit_actors::responder::RequestScope,
        audio: chatkit_actors::responder::AudioInput,
    ) -> BoxFuture<'static, Result<String, ResponderError>> {
        Box::pin(async move {
            Ok(format!(
                "{} bytes of {} ({})",
                audio.data.len(),
                audio.media_type,
                audio.mime_type
            ))
        })
    }
}

#[actix_rt::test]
async fn transcription_goes_through_the_responder_hook() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Scribe);
    // The reference's decoder skips characters outside the alphabet.
    let body = json!({"type": "input.transcribe", "params": {"audio_base64": "GkXf o2Zh\na2U=", "mime_type": "audio/webm;codecs=opus"}});
    let reply = reply(&engine, body, &RequestContext::new("u")).await;
    assert_eq!(
        String::from_utf8(reply).unwrap(),
        r#"{"text":"8 bytes of audio/webm (audio/webm;codecs=opus)"}"#
    );
    engine.shutdown().await;
}

/// Misbehaves in the ways application code can.
struct Unruly;

impl Responder for Unruly {
    fn respond(
        &self,
        turn: TurnContext,
        input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move {
            let text = last_user_text(input.as_slice());
            match text.as_str() {
                "give up" => {
                    let mut m = turn.assistant_message().await?;
                    m.delta("half an answer").await?;
                    Err(ResponderError::Cancelled)
                }
                "panic" => panic!("boom"),
                "unfinished" => {
                    let mut m = turn.assistant_message().await?;
                    m.delta("left open").await?;
                    Ok(())
                }
                "hide" => {
                    let hidden = turn.hidden_context(json!("secret")).await?;
                    turn.emit(ThreadStreamEvent::ThreadItemRemoved { item_id: hidden.id })
                        .await?;
                    turn.message("done").await.map(|_| ())
                }
                _ => turn.message("ok").await.map(|_| ()),
            }
        })
    }

    fn sync_action(
        &self,
        _scope: chatkit_actors::responder::RequestScope,
        _action: chatkit_actors::protocol::Action,
        _sender: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<Option<ThreadItem>, ResponderError>> {
        Box::pin(async { panic!("sync boom") })
    }
}

fn add(thread: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread, "input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}})
}

async fn visible_texts(engine: &Engine, thread: &str) -> Vec<String> {
    let body = json!({"type": "items.list", "params": {"thread_id": thread, "order": "asc", "limit": 100}});
    let page = reply(engine, body, &RequestContext::new("u")).await;
    let page: Value = serde_json::from_slice(&page).unwrap();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["content"][0]["text"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[actix_rt::test]
async fn misbehaving_responders_never_leave_a_turn_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Unruly);
    let events = stream(&engine, create("hello")).await;
    let thread = events[0]["thread"]["id"].as_str().unwrap().to_owned();

    // Giving up mid-answer ends the stream; the text shown is kept.
    let events = tokio::time::timeout(
        Duration::from_secs(5),
        stream(&engine, add(&thread, "give up")),
    )
    .await
    .expect("the stream ends");
    assert_eq!(
        events.last().unwrap()["type"],
        "thread.item.done",
        "{events:?}"
    );
    // A panic ends the stream with the generic error.
    let events = tokio::time::timeout(
        Duration::from_secs(5),
        stream(&engine, add(&thread, "panic")),
    )
    .await
    .expect("the stream ends");
    assert_eq!(
        *events.last().unwrap(),
        json!({"type": "error", "code": "stream.error", "allow_retry": true})
    );
    // Returning with a message left open keeps it (finished).
    let events = stream(&engine, add(&thread, "unfinished")).await;
    assert_eq!(events.last().unwrap()["type"], "thread.item.done");
    // Removing a hidden item says nothing to the client.
    let events = stream(&engine, add(&thread, "hide")).await;
    assert!(
        events.iter().all(|e| e["type"] != "thread.item.removed"),
        "{events:?}"
    );
    // A panicking sync action is a 500, and the thread goes on.
    let body = json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread, "action": {"type": "x"}}});
    let err = match engine
        .process(body.to_string().as_bytes(), &RequestContext::new("u"))
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("a panicking sync action succeeded"),
    };
    assert_eq!(err.status(), 500);
    let events = stream(&engine, add(&thread, "still there?")).await;
    assert_eq!(events.last().unwrap()["item"]["content"][0]["text"], "ok");

    assert_eq!(
        visible_texts(&engine, &thread).await,
        [
            "hello",
            "ok",
            "give up",
            "half an answer",
            "panic",
            "unfinished",
            "left open",
            "hide",
            "done",
            "still there?",
            "ok"
        ]
    );
    engine.shutdown().await;
}

#[actix_rt::test]
async fn a_queued_message_whose_client_left_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().join("db.sqlite3"));
    config.model = chatkit_actors::model::ModelConfig::echo(Duration::from_millis(50));
    let engine = Engine::start(config).unwrap();
    let events = stream(&engine, create("first")).await;
    let thread = events[0]["thread"]["id"].as_str().unwrap().to_owned();
    // A slow turn runs; a second message queues behind it, and its client
    // gives up before its turn starts.
    let mut running = open(&engine, add(&thread, "a b c d e f")).await;
    let queued = tokio::time::timeout(
        Duration::from_millis(100),
        engine.process(
            add(&thread, "never acknowledged").to_string().as_bytes(),
            &RequestContext::new("u"),
        ),
    )
    .await;
    assert!(queued.is_err(), "the queued request waits for its turn");
    collect(&mut running).await;
    let texts = visible_texts(&engine, &thread).await;
    assert!(
        !texts.iter().any(|t| t == "never acknowledged"),
        "{texts:?}"
    );
    engine.shutdown().await;
}
