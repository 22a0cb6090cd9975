//! Engine tests: the actor system without HTTP, as an embedding app uses it.

use std::time::Duration;

use chatkit_actors::model::ModelConfig;
use chatkit_actors::protocol::ThreadStreamEvent;
use chatkit_actors::{Engine, EngineConfig, EngineResponse, EventStream, RequestContext};
use serde_json::{Value, json};

fn engine(dir: &tempfile::TempDir, delay: Duration) -> Engine {
    let mut config = EngineConfig::new(dir.path().join("db.sqlite3"));
    config.model = ModelConfig::echo(delay);
    Engine::start(config).expect("engine starts")
}

async fn stream(engine: &Engine, user: &str, body: Value) -> EventStream {
    match engine
        .process(body.to_string().as_bytes(), &RequestContext::new(user))
        .await
    {
        Ok(EngineResponse::Stream(s)) => s,
        Ok(EngineResponse::Json(j)) => {
            panic!("expected a stream, got {}", String::from_utf8_lossy(&j))
        }
        Err(e) => panic!("request failed: {e}"),
    }
}

async fn json_reply(engine: &Engine, user: &str, body: Value) -> Value {
    match engine
        .process(body.to_string().as_bytes(), &RequestContext::new(user))
        .await
    {
        Ok(EngineResponse::Json(j)) => serde_json::from_slice(&j).unwrap(),
        Ok(EngineResponse::Stream(_)) => panic!("expected JSON"),
        Err(e) => panic!("request failed: {e}"),
    }
}

async fn collect(mut s: EventStream) -> Vec<ThreadStreamEvent> {
    let mut out = Vec::new();
    while let Some(e) = s.next_event().await {
        out.push(e);
    }
    out
}

fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}})
}

#[actix_rt::test]
async fn a_turn_through_the_engine_alone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Duration::ZERO);
    let events = collect(stream(&engine, "u", create("Hi")).await).await;
    let types: Vec<_> = events.iter().map(ThreadStreamEvent::type_name).collect();
    assert_eq!(
        types[..3],
        ["thread.created", "thread.item.done", "stream_options"]
    );
    assert_eq!(
        types[types.len() - 2..],
        ["thread.item.done", "thread.updated"]
    );
    let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else {
        panic!()
    };
    let page = json_reply(
        &engine,
        "u",
        json!({"type": "items.list", "params": {"thread_id": thread.id, "order": "asc"}}),
    )
    .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    engine.shutdown().await;
}

#[actix_rt::test]
async fn dropping_the_stream_before_any_text_stores_only_the_note() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Duration::from_millis(300));
    let mut s = stream(&engine, "u", create("quick")).await;
    let ThreadStreamEvent::ThreadCreated { thread } = s.next_event().await.unwrap() else {
        panic!()
    };
    // The user message and stream_options arrive, then the client leaves
    // before the first delta (300 ms away).
    assert!(matches!(
        s.next_event().await,
        Some(ThreadStreamEvent::ThreadItemDone { .. })
    ));
    assert!(matches!(
        s.next_event().await,
        Some(ThreadStreamEvent::StreamOptions { .. })
    ));
    drop(s);
    // The cancellation is stored before the next command runs (turns are
    // serialized), so a read through the thread's actor sees it.
    actix_rt::time::sleep(Duration::from_millis(100)).await;
    let rename =
        json!({"type": "threads.update", "params": {"thread_id": thread.id, "title": "t"}});
    json_reply(&engine, "u", rename).await;
    let visible = json_reply(
        &engine,
        "u",
        json!({"type": "items.list", "params": {"thread_id": thread.id}}),
    )
    .await;
    let visible = visible["data"].as_array().unwrap();
    assert_eq!(
        visible.len(),
        1,
        "only the user message is visible: {visible:?}"
    );
    assert_eq!(visible[0]["type"], "user_message");
    let conn = rusqlite::Connection::open(dir.path().join("db.sqlite3")).unwrap();
    let types: Vec<String> = conn
        .prepare("SELECT item_type FROM items ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(types, ["user_message", "sdk_hidden_context"]);
    engine.shutdown().await;
}

#[actix_rt::test]
async fn a_second_message_waits_for_the_running_turn() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Duration::from_millis(20));
    let events = collect(stream(&engine, "u", create("one")).await).await;
    let ThreadStreamEvent::ThreadCreated { thread } = &events[0] else {
        panic!()
    };
    let add = |text: &str| json!({"type": "threads.add_user_message", "params": {"thread_id": thread.id, "input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}});
    let first = stream(&engine, "u", add("two")).await;
    // The second request is accepted only when its turn starts: after the
    // first answer is complete.
    let (first_events, second) = tokio::join!(collect(first), async {
        let s = stream(&engine, "u", add("three")).await;
        collect(s).await
    });
    let done_first = first_events
        .iter()
        .filter(|e| e.type_name() == "thread.item.done")
        .count();
    assert_eq!(done_first, 2);
    let ThreadStreamEvent::ThreadItemDone { item } = &second[0] else {
        panic!("{second:?}")
    };
    assert_eq!(
        serde_json::to_value(item).unwrap()["content"][0]["text"],
        "three"
    );
    engine.shutdown().await;
}

#[actix_rt::test]
async fn a_client_that_stops_reading_is_cut_off_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().join("db.sqlite3"));
    config.model = ModelConfig::echo(Duration::ZERO);
    config.event_buffer = 16;
    let engine = Engine::start(config).unwrap();
    let words: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
    let s = stream(&engine, "u", create(&words.join(" "))).await;
    // Nobody reads: the model is not held back; the turn is cancelled once
    // the buffer is full, and the note is stored.
    let db = dir.path().join("db.sqlite3");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let notes: i64 = conn
            .query_row(
                "SELECT count(*) FROM items WHERE item_type = 'sdk_hidden_context'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if notes == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled turn was not cancelled"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    // What was buffered is delivered, in order, and then the stream ends:
    // a prefix of the turn, never a stream with a hole in it.
    let events = collect(s).await;
    assert_eq!(events.len(), 16);
    let types: Vec<_> = events.iter().map(ThreadStreamEvent::type_name).collect();
    assert_eq!(
        types[..4],
        [
            "thread.created",
            "thread.item.done",
            "stream_options",
            "thread.item.added"
        ]
    );
    assert!(types[4..].iter().all(|t| *t == "thread.item.updated"));
    let mut text = String::new();
    for e in &events[5..] {
        let v = serde_json::to_value(e).unwrap();
        text.push_str(v["update"]["delta"].as_str().unwrap());
    }
    assert!(format!("You said: \"{}\"", words.join(" ")).starts_with(&text));
    engine.shutdown().await;
}

#[actix_rt::test]
async fn attachments_through_the_engine_alone() {
    use chatkit_actors::ids::UserId;

    let dir = tempfile::tempdir().unwrap();
    let engine = engine(&dir, Duration::ZERO);
    let created = json_reply(
        &engine,
        "u",
        json!({"type": "attachments.create", "params": {"name": "a.png", "size": 3, "mime_type": "image/png"}}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["type"], "image");
    // Bytes come from any stream of chunks; another user's upload is a 404.
    let chunks = || {
        futures_util::stream::iter(vec![
            Ok::<_, std::io::Error>(b"ab".to_vec()),
            Ok(b"c".to_vec()),
        ])
    };
    let err = engine
        .upload_attachment(&UserId::from("v"), &id, chunks())
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404);
    engine
        .upload_attachment(&UserId::from("u"), &id, chunks())
        .await
        .unwrap();
    let (mime, bytes) = engine.attachment_preview(&id).await.unwrap();
    assert_eq!(
        (mime.as_str(), bytes.as_slice()),
        ("image/png", &b"abc"[..])
    );
    assert_eq!(
        std::fs::read(dir.path().join("attachments").join(&id)).unwrap(),
        b"abc"
    );
    let delete = json!({"type": "attachments.delete", "params": {"attachment_id": id}});
    let foreign = engine
        .process(delete.to_string().as_bytes(), &RequestContext::new("v"))
        .await;
    assert_eq!(foreign.err().map(|e| e.status()), Some(404));
    assert_eq!(json_reply(&engine, "u", delete).await, json!({}));
    assert!(!dir.path().join("attachments").join(&id).exists());
    assert_eq!(
        engine
            .attachment_preview(&id)
            .await
            .err()
            .map(|e| e.status()),
        Some(404)
    );
    engine.shutdown().await;
}

#[actix_rt::test]
async fn thread_actors_spread_over_engine_threads_answer_and_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path().join("db.sqlite3"));
    config.model = ModelConfig::echo(Duration::from_millis(5));
    config.engine_threads = 3;
    let engine = Engine::start(config).expect("engine starts");
    // Eight conversations at once: each lands on one of the three
    // arbiters, and every answer completes in order.
    let answers =
        futures_util::future::join_all((0..8).map(|i| {
            let engine = engine.clone();
            async move {
                collect(stream(&engine, &format!("u{i}"), create(&format!("Hi {i}"))).await).await
            }
        }))
        .await;
    for (i, events) in answers.iter().enumerate() {
        let done = events.iter().rev().find_map(|e| match e {
            ThreadStreamEvent::ThreadItemDone { item } => Some(item.clone()),
            _ => None,
        });
        let text = serde_json::to_string(&done.expect("an answer")).unwrap();
        assert!(text.contains(&format!("Hi {i}")), "{text}");
    }
    // A stream dropped mid-answer cancels its turn on its own arbiter, and
    // that thread's actor takes the next message.
    let mut s = stream(&engine, "u0", create("Cancel me")).await;
    let Some(ThreadStreamEvent::ThreadCreated { thread }) = s.next_event().await else {
        panic!("thread.created first")
    };
    drop(s);
    let next = json!({"type": "threads.add_user_message", "params": {"thread_id": thread.id, "input": {"content": [{"type": "input_text", "text": "After"}], "attachments": [], "inference_options": {}}}});
    let events = collect(stream(&engine, "u0", next).await).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ThreadStreamEvent::ThreadItemDone { item } if serde_json::to_string(item).unwrap().contains("After"))),
        "{events:?}"
    );
    engine.shutdown().await;
}
