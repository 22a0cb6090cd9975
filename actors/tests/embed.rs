//! `EngineHandle`: the engine on its own actix system, driven from plain
//! tokio runtimes (never actix's) and from a bare executor with no runtime.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use chatkit_actors::model::ModelConfig;
use chatkit_actors::protocol::ThreadStreamEvent;
use chatkit_actors::{
    EngineConfig, EngineError, EngineHandle, EngineResponse, EventStream, RequestContext,
};
use futures_util::FutureExt;
use serde_json::{Value, json};

/// Long enough for any step of these tests on a loaded 2-core machine;
/// reaching it means something hangs.
const HANG: Duration = Duration::from_secs(20);

fn spawn(dir: &tempfile::TempDir, delay: Duration) -> EngineHandle {
    let mut config = EngineConfig::new(dir.path().join("db.sqlite3"));
    config.model = ModelConfig::echo(delay);
    EngineHandle::spawn(config).expect("engine starts")
}

fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}})
}

fn items_list(thread_id: &str) -> Value {
    json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}})
}

async fn stream(engine: &EngineHandle, user: &str, body: Value) -> EventStream {
    match engine
        .process(body.to_string(), RequestContext::new(user))
        .await
    {
        Ok(EngineResponse::Stream(s)) => s,
        Ok(EngineResponse::Json(j)) => {
            panic!("expected a stream, got {}", String::from_utf8_lossy(&j))
        }
        Err(e) => panic!("request failed: {e}"),
    }
}

async fn json_reply(engine: &EngineHandle, user: &str, body: Value) -> Value {
    match engine
        .process(body.to_string(), RequestContext::new(user))
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

/// A whole conversation turn: create, read every event, list the items.
/// Returns the thread id.
async fn one_turn(engine: &EngineHandle, user: &str, text: &str) -> String {
    let events = collect(stream(engine, user, create(text)).await).await;
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
    let thread_id = thread.id.to_string();
    let page = json_reply(engine, user, items_list(&thread_id)).await;
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{page}");
    assert_eq!(data[0]["content"][0]["text"], text);
    assert_eq!(data[1]["type"], "assistant_message");
    thread_id
}

fn item_types(db: &Path) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.prepare("SELECT item_type FROM items ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Drives a future on the current OS thread with no async runtime at all:
/// what `futures::executor::block_on` does.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn the_handle_and_its_futures_are_send_and_sync() {
    fn check<T: Clone + Send + Sync + 'static>(_: &T) {}
    fn check_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::ZERO);
    check(&engine);
    let process = engine.process(b"{}".as_slice(), RequestContext::new("u"));
    check_send(&process);
    drop(process);
    let shutdown = engine.shutdown();
    check_send(&shutdown);
    block_on(shutdown);
}

#[tokio::test(flavor = "current_thread")]
async fn a_turn_on_a_current_thread_tokio_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::ZERO);
    // The caller's runtime is plain tokio: there is no actix system here.
    assert!(actix_rt::System::try_current().is_none());
    one_turn(&engine, "u", "Hello from tokio").await;
    let stopped = engine.stopped();
    tokio::time::timeout(HANG, engine.shutdown())
        .await
        .expect("shutdown returns");
    // `shutdown` returned after the thread had ended and was joined.
    assert!(stopped.now_or_never().is_some(), "the engine thread ended");
    assert!(engine.stopped().now_or_never().is_some());
    // A second shutdown, from a clone, returns at once.
    tokio::time::timeout(Duration::from_secs(1), engine.clone().shutdown())
        .await
        .expect("a second shutdown returns");
}

#[tokio::test(flavor = "current_thread")]
async fn several_handles_serve_concurrent_tasks() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let engines: Vec<_> = dirs
        .iter()
        .map(|d| spawn(d, Duration::from_millis(2)))
        .collect();
    // Four tasks per engine, each its own user and thread, all at once;
    // `tokio::spawn` also proves the futures are `Send`.
    let mut tasks = Vec::new();
    for (e, engine) in engines.iter().enumerate() {
        for t in 0..4 {
            let engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                let user = format!("user-{e}-{t}");
                let text = format!("message {t} to engine {e}");
                let thread_id = one_turn(&engine, &user, &text).await;
                (e, user, thread_id)
            }));
        }
    }
    let mut done = Vec::new();
    for task in tasks {
        done.push(
            tokio::time::timeout(HANG, task)
                .await
                .expect("no hang")
                .unwrap(),
        );
    }
    // Each engine has exactly its own users' threads.
    for (e, user, thread_id) in &done {
        let list = json_reply(
            &engines[*e],
            user,
            json!({"type": "threads.list", "params": {}}),
        )
        .await;
        let ids: Vec<_> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [thread_id.as_str()]);
        for other in engines.iter().enumerate().filter(|(o, _)| o != e) {
            let err = other
                .1
                .process(items_list(thread_id).to_string(), RequestContext::new(user))
                .await
                .err()
                .expect("another engine does not know the thread");
            assert!(matches!(err, EngineError::NotFound("thread")), "{err}");
        }
    }
    for engine in &engines {
        tokio::time::timeout(HANG, engine.shutdown())
            .await
            .expect("shutdown returns");
    }
}

#[test]
fn one_handle_shared_by_runtimes_on_several_os_threads() {
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::from_millis(2));
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    for turn in 0..2 {
                        one_turn(&engine, &format!("u{i}"), &format!("turn {turn}")).await;
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    block_on(engine.shutdown());
    assert_eq!(
        item_types(&dir.path().join("db.sqlite3")).len(),
        12,
        "3 threads x 2 turns x (message + answer)"
    );
}

#[test]
fn a_bare_executor_without_any_runtime_drives_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::from_millis(1));
    block_on(async {
        // The event stream is a tokio channel: readable without tokio.
        let thread_id = one_turn(&engine, "u", "no runtime here").await;
        let add = json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": {"content": [{"type": "input_text", "text": "again"}], "attachments": [], "inference_options": {}}}});
        let events = collect(stream(&engine, "u", add).await).await;
        assert_eq!(events.last().unwrap().type_name(), "thread.item.done");
        engine.shutdown().await;
    });
}

#[tokio::test(flavor = "current_thread")]
async fn process_after_shutdown_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::ZERO);
    let clone = engine.clone();
    engine.shutdown().await;
    for handle in [&engine, &clone] {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            handle.process(create("late").to_string(), RequestContext::new("u")),
        )
        .await
        .expect("no hang");
        let Err(err) = answer else {
            panic!("a request after shutdown succeeded")
        };
        assert!(matches!(err, EngineError::ShuttingDown), "{err}");
        assert_eq!(err.status(), 503);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn shutdown_mid_turn_cancels_it_and_ends_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::from_millis(200));
    let mut s = stream(&engine, "u", create("one two three four five six")).await;
    assert_eq!(s.next_event().await.unwrap().type_name(), "thread.created");
    tokio::time::timeout(HANG, engine.shutdown())
        .await
        .expect("shutdown returns");
    // The stream ends (no hang), and the cancellation was stored.
    let rest = tokio::time::timeout(HANG, collect(s))
        .await
        .expect("the stream ends");
    assert!(rest.len() < 10, "the turn did not run to its end: {rest:?}");
    let types = item_types(&dir.path().join("db.sqlite3"));
    assert_eq!(types.first().map(String::as_str), Some("user_message"));
    assert_eq!(
        types.last().map(String::as_str),
        Some("sdk_hidden_context"),
        "{types:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_stream_dropped_mid_turn_cancels_the_turn() {
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::from_millis(300));
    let mut s = stream(&engine, "u", create("quick")).await;
    let types: Vec<_> = [
        s.next_event().await,
        s.next_event().await,
        s.next_event().await,
    ]
    .iter()
    .map(|e| e.as_ref().unwrap().type_name())
    .collect();
    assert_eq!(
        types,
        ["thread.created", "thread.item.done", "stream_options"]
    );
    // The client leaves before the first delta (300 ms away).
    drop(s);
    let db = dir.path().join("db.sqlite3");
    let deadline = Instant::now() + HANG;
    loop {
        if item_types(&db) == ["user_message", "sdk_hidden_context"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the turn was not cancelled: {:?}",
            item_types(&db)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_last_handle_stops_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let engine = spawn(&dir, Duration::from_millis(200));
    let thread_id = one_turn(&engine, "u", "first").await;
    let stopped = engine.stopped();
    // A turn is running when the last handle goes.
    let add = json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": {"content": [{"type": "input_text", "text": "second turn"}], "attachments": [], "inference_options": {}}}});
    let mut s = stream(&engine, "u", add).await;
    assert_eq!(
        s.next_event().await.unwrap().type_name(),
        "thread.item.done"
    );
    let clone = engine.clone();
    drop(engine);
    drop(clone);
    tokio::time::timeout(HANG, stopped)
        .await
        .expect("the engine thread ends without a shutdown call");
    // The running turn was cancelled like a disconnect, and stored.
    tokio::time::timeout(HANG, collect(s))
        .await
        .expect("the stream ends");
    assert_eq!(
        item_types(&dir.path().join("db.sqlite3")),
        [
            "user_message",
            "assistant_message",
            "user_message",
            "sdk_hidden_context"
        ]
    );
    // The store was closed: a new engine opens the same file.
    let again = spawn(&dir, Duration::ZERO);
    let page = json_reply(&again, "u", items_list(&thread_id)).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    again.shutdown().await;
}

#[test]
fn a_start_error_is_returned_and_the_thread_ends() {
    let dir = tempfile::tempdir().unwrap();
    // A directory is no database file.
    let err = EngineHandle::spawn(EngineConfig::new(dir.path()))
        .err()
        .expect("the engine does not start");
    assert!(matches!(err, EngineError::Store(_)), "{err}");
}
