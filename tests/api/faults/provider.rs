//! A broken model provider: it hangs, refuses connections or answers
//! garbage. Each turn ends with an `error` event, the acknowledged user
//! message stays, and the next message on the same thread is answered
//! normally (the thread actor is not stuck).
//!
//! The provider is a raw TCP listener in front of the fake model: per
//! connection it either commits one fault or pipes bytes to the fake model.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chatkit_actors::model::{ModelConfig, ProviderSettings};
use chatkit_server::fake_model::{Behaviour, FakeModel};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

/// What the provider does with a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Reads the request and never answers.
    Hang,
    /// Answers bytes that are not HTTP, then closes.
    NotHttp,
    /// `200` with an HTML page instead of an event stream.
    NotSse,
    /// `200` event stream whose frame is not JSON.
    BadJson,
    /// `200` event stream whose frame is not UTF-8.
    NotUtf8,
    /// `200` event stream cut after one Chat Completions delta (the body
    /// promised more).
    Truncated,
    /// Pipes the connection to the fake model: a healthy provider.
    Healthy,
}

const CHAT_DELTA: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"partial answer"},"finish_reason":null}]}"#;

/// Reads one HTTP request (headers and a `content-length` body).
async fn read_request(sock: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return;
            }
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn stream_head(extra: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n{extra}connection: close\r\n\r\n"
    )
}

async fn handle(mut sock: TcpStream, fault: Fault, upstream: u16) {
    if fault == Fault::Healthy {
        let mut up = TcpStream::connect(("127.0.0.1", upstream))
            .await
            .expect("fake model up");
        let _ = tokio::io::copy_bidirectional(&mut sock, &mut up).await;
        return;
    }
    read_request(&mut sock).await;
    let reply: Vec<u8> = match fault {
        Fault::Hang => {
            // Hold the connection open without a byte.
            actix_web::rt::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        Fault::NotHttp => b"\x00\x01\xfegarbage, not HTTP at all\r\n\r\n".to_vec(),
        Fault::NotSse => {
            b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body>Bad gateway</body></html>".to_vec()
        }
        Fault::BadJson => format!("{}data: {{\"choices\": [{{\"delta\"\n\n", stream_head("")).into_bytes(),
        Fault::NotUtf8 => {
            let mut r = stream_head("").into_bytes();
            r.extend_from_slice(b"data: \xff\xfe\xfd\n\n");
            r
        }
        Fault::Truncated => format!(
            "{}{CHAT_DELTA}\n\n",
            stream_head("content-length: 100000\r\n")
        )
        .into_bytes(),
        Fault::Healthy => unreachable!(),
    };
    let _ = sock.write_all(&reply).await;
    let _ = sock.shutdown().await;
}

/// Accepts connections on `listener`, each handled as `mode` says when it
/// arrives.
fn serve(listener: TcpListener, mode: Arc<Mutex<Fault>>, upstream: u16) {
    actix_web::rt::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let fault = *mode.lock().unwrap();
            actix_web::rt::spawn(handle(sock, fault, upstream));
        }
    });
}

fn provider_settings(port: u16) -> ProviderSettings {
    let mut s = ProviderSettings::new("test-model");
    s.base_url = format!("http://127.0.0.1:{port}/v1");
    s.api_key = Some("test-key".into());
    s.connect_timeout = Duration::from_millis(500);
    s.read_timeout = Duration::from_millis(400);
    s.max_retries = 1;
    s
}

fn model(chat: bool, s: ProviderSettings) -> ModelConfig {
    if chat {
        ModelConfig::Chat(s)
    } else {
        ModelConfig::Responses(s)
    }
}

async fn app_on(port: u16, chat: bool) -> TestApp {
    spawn_app_with(AppOptions::with_model(model(chat, provider_settings(port)))).await
}

/// One failed turn: the stream ends with an `error` event and the user
/// message it acknowledged is stored. Returns the thread and how long the
/// turn took.
async fn failed_turn(app: &TestApp, label: &str) -> (String, Duration) {
    let started = Instant::now();
    let (thread, events) = app.create_thread("are you there?").await;
    let took = started.elapsed();
    let last = events.last().unwrap();
    assert_eq!(last["type"], "error", "{label}: {events:#?}");
    assert!(last["code"].is_string(), "{label}: {last}");
    assert!(last["allow_retry"].is_boolean(), "{label}: {last}");
    let user = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "user_message")
        .unwrap_or_else(|| panic!("{label}: no acknowledged user message"));
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items[0]["id"], user["item"]["id"], "{label}: {items:#?}");
    assert!(
        items
            .iter()
            .filter(|i| i["type"] == "assistant_message")
            .all(|i| i["content"][0]["text"] != ""),
        "{label}: an empty answer was stored: {items:#?}"
    );
    (thread, took)
}

/// The next message on `thread` gets a full answer from a healthy provider.
async fn next_message_works(app: &TestApp, thread: &str, label: &str) {
    let events = app.send(thread, "and now?").await;
    assert!(
        !events.iter().any(|e| e["type"] == "error"),
        "{label}: {events:#?}"
    );
    assert_eq!(answer_text(&events), "echo: and now? tok1 tok2", "{label}");
    let items = app.all_items("alice", thread).await;
    let last: Vec<&Value> = items.iter().rev().take(2).collect();
    assert_eq!(last[1]["content"][0]["text"], "and now?", "{label}");
}

/// The fake model behind a healthy provider: three deltas an answer.
async fn healthy_fake() -> FakeModel {
    FakeModel::start(Behaviour {
        tokens: 3,
        ..Default::default()
    })
    .await
    .expect("fake model starts")
}

#[actix_web::test]
async fn a_broken_provider_ends_the_turn_with_an_error_and_the_thread_goes_on() {
    let fake = healthy_fake().await;
    let faults = [
        Fault::Hang,
        Fault::NotHttp,
        Fault::NotSse,
        Fault::BadJson,
        Fault::NotUtf8,
        Fault::Truncated,
    ];
    for chat in [true, false] {
        for fault in faults {
            if fault == Fault::Truncated && !chat {
                // A cut Responses stream: `models::failures_end_with_an_error_event_and_keep_what_was_said`.
                continue;
            }
            let label = format!("{fault:?} ({})", if chat { "chat" } else { "responses" });
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let mode = Arc::new(Mutex::new(fault));
            serve(listener, mode.clone(), fake.port());
            let app = app_on(port, chat).await;
            let (thread, took) = failed_turn(&app, &label).await;
            println!("provider {label}: error event after {took:?}");
            if fault == Fault::Truncated {
                let items = app.all_items("alice", &thread).await;
                assert_eq!(items[1]["content"][0]["text"], "partial answer", "{label}");
            }
            *mode.lock().unwrap() = Fault::Healthy;
            next_message_works(&app, &thread, &label).await;
            app.stop().await;
        }
    }
}

#[actix_web::test]
async fn a_provider_refusing_connections_ends_the_turn_then_recovers() {
    let fake = healthy_fake().await;
    for chat in [true, false] {
        let label = format!("refused ({})", if chat { "chat" } else { "responses" });
        // A port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let app = app_on(port, chat).await;
        let (thread, took) = failed_turn(&app, &label).await;
        println!("provider {label}: error event after {took:?}");
        // The provider comes back on the same port.
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        serve(listener, Arc::new(Mutex::new(Fault::Healthy)), fake.port());
        next_message_works(&app, &thread, &label).await;
        app.stop().await;
    }
}
