//! The real `chatkit-server` binary as a child process: graceful shutdown
//! on SIGTERM (short grace period: the turn is cancelled like a client
//! disconnect; long one: the answer completes), durability across
//! `kill -9`, and, in process, the SSE keep-alive comments.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::*;

/// The note the server stores when it cancels a turn (PROTOCOL.md §10.6).
const CANCEL_NOTE: &str = "The user cancelled the stream. Stop responding to the prior request.";

/// A running `chatkit-server` child process, killed (SIGKILL) and reaped
/// on drop so that a failing test never leaks a process.
pub(crate) struct ServerProcess {
    child: std::process::Child,
    pub(crate) url: String,
    log_path: PathBuf,
    client: reqwest::Client,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().unwrap().port()
}

impl ServerProcess {
    /// Starts the binary on a free loopback port with the database `db`
    /// (its log goes to `<db>.<port>.log`) and waits until `/healthz`
    /// answers. Retries with another port if the chosen one was taken in
    /// the meantime.
    async fn start(db: &Path, echo_delay_ms: u64, shutdown_timeout_secs: u64) -> Self {
        Self::start_with(
            db,
            &[
                "--echo-delay-ms",
                &echo_delay_ms.to_string(),
                "--shutdown-timeout-secs",
                &shutdown_timeout_secs.to_string(),
            ],
        )
        .await
    }

    /// Like [`start`](Self::start), with these extra command-line arguments.
    pub(crate) async fn start_with(db: &Path, args: &[&str]) -> Self {
        for _ in 0..3 {
            let port = free_port();
            let log_path = db.with_extension(format!("{port}.log"));
            let log = std::fs::File::create(&log_path).expect("create log file");
            let child = Command::new(env!("CARGO_BIN_EXE_chatkit-server"))
                .args([
                    "--bind",
                    &format!("127.0.0.1:{port}"),
                    "--db",
                    db.to_str().expect("utf-8 temp path"),
                ])
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn chatkit-server");
            let mut server = ServerProcess {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log_path,
                client: reqwest::Client::new(),
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(log) if log.contains("binding 127.0.0.1:") => continue,
                Err(log) => panic!("server exited before it was ready:\n{log}"),
            }
        }
        panic!("no free port after 3 attempts")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's log so far, for failure messages.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Polls `/healthz` until it answers; `Err(log)` if the child exited.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("({status}) {}", self.log()));
            }
            let probe = self
                .client
                .get(format!("{}/healthz", self.url))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if let Ok(resp) = probe
                && resp.status() == 200
            {
                let body: Value = resp.json().await.expect("healthz JSON");
                assert_eq!(body, json!({"status": "ok"}));
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "server not ready after 20 s:\n{}",
                self.log()
            );
            actix_web::rt::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends a signal (`TERM`, `KILL`, ...) with kill(1).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the child to exit, at most `limit`.
    async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server still running {limit:?} after the signal:\n{}",
                self.log()
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a streaming request as `alice`.
    pub(crate) async fn open_stream(&self, body: &Value) -> EventReader {
        let resp = self
            .client
            .post(format!("{}/chatkit", self.url))
            .header("X-User-Id", "alice")
            .json(body)
            .send()
            .await
            .expect("request sent");
        assert_eq!(resp.status(), 200);
        EventReader {
            stream: Box::pin(resp.bytes_stream()),
            text: String::new(),
            events: Vec::new(),
            ended: false,
        }
    }

    /// A JSON request as `alice`.
    pub(crate) async fn post(&self, body: &Value) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/chatkit", self.url))
            .header("X-User-Id", "alice")
            .json(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body read");
        let value = if text.starts_with("data: ") {
            Value::Array(parse_sse(&text))
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        (status, value)
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>>>>;

/// Reads an SSE body incrementally.
pub(crate) struct EventReader {
    stream: ByteStream,
    text: String,
    events: Vec<Value>,
    ended: bool,
}

impl EventReader {
    /// Reads until `pred` holds for some event received so far, or panics
    /// after `limit`.
    pub(crate) async fn until(&mut self, limit: Duration, pred: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + limit;
        while !self.events.iter().any(&pred) {
            assert!(!self.ended, "stream ended early: {:#?}", self.events);
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = actix_web::rt::time::timeout(left, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("no such event within {limit:?}: {:#?}", self.events));
            self.push(chunk);
        }
    }

    /// Reads to the end of the body (clean or not), at most `limit`.
    pub(crate) async fn read_to_end(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = actix_web::rt::time::timeout(left, self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("stream still open after {limit:?}"));
            self.push(chunk);
        }
    }

    fn push(&mut self, chunk: Option<reqwest::Result<bytes::Bytes>>) {
        match chunk {
            Some(Ok(bytes)) => {
                self.text
                    .push_str(std::str::from_utf8(&bytes).expect("UTF-8"));
                if let Some(end) = self.text.rfind("\n\n") {
                    self.events = parse_sse(&self.text[..end + 2]);
                }
            }
            // A cut connection ends the body as far as we are concerned.
            Some(Err(_)) | None => self.ended = true,
        }
    }
}

pub(crate) fn is_text_delta(e: &Value) -> bool {
    e["update"]["type"] == "assistant_message.content_part.text_delta"
}

fn is_done_of(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["type"] == "thread.item.done" && e["item"]["type"] == kind
}

/// `(item_type, data)` of every stored item of `thread`, in thread order,
/// read straight from the SQLite file (read-only).
fn stored_items(db: &Path, thread: &str) -> Vec<(String, Value)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open db read-only");
    let mut stmt = conn
        .prepare("SELECT item_type, data FROM items WHERE thread_id = ?1 ORDER BY seq")
        .unwrap();
    stmt.query_map([thread], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })
    .unwrap()
    .map(|row| {
        let (kind, data) = row.unwrap();
        (
            kind,
            serde_json::from_str(&data).expect("item data is JSON"),
        )
    })
    .collect()
}

#[actix_web::test]
async fn sigterm_mid_answer_cancels_the_turn_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatkit.sqlite3");
    let mut server = ServerProcess::start(&db, 200, 1).await;
    // 28 words: about 6 s of answer at 200 ms a word, far beyond the
    // 1 s grace period.
    let long = "one two three four five six seven eight nine ten eleven twelve \
                thirteen fourteen fifteen sixteen seventeen eighteen nineteen \
                twenty twenty-one twenty-two twenty-three twenty-four \
                twenty-five twenty-six twenty-seven twenty-eight";
    let full_answer = format!("You said: \"{long}\"");
    let mut reader = server.open_stream(&create(long)).await;
    reader.until(Duration::from_secs(10), is_text_delta).await;
    let thread = reader.events[0]["thread"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let signalled = Instant::now();
    server.signal("TERM");
    reader.read_to_end(Duration::from_secs(10)).await;
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{status}:\n{}", server.log());
    assert!(
        took < Duration::from_secs(5),
        "exit took {took:?}, the answer was not cut after the grace period"
    );
    assert!(
        !reader.events.iter().any(is_done_of("assistant_message")),
        "the answer completed within the grace period: {:#?}",
        reader.events
    );

    let items = stored_items(&db, &thread);
    let kinds: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["user_message", "assistant_message", "sdk_hidden_context"],
        "{items:#?}"
    );
    assert_eq!(items[0].1["content"][0]["text"], long);
    let partial = items[1].1["content"][0]["text"].as_str().unwrap();
    assert!(
        partial.starts_with("You") && full_answer.starts_with(partial) && partial != full_answer,
        "not a strict prefix of {full_answer:?}: {partial:?}"
    );
    // The partial answer holds at least what the client saw.
    let seen: String = reader
        .events
        .iter()
        .filter(|e| is_text_delta(e))
        .map(|e| e["update"]["delta"].as_str().unwrap())
        .collect();
    assert!(partial.starts_with(&seen), "{partial:?} vs seen {seen:?}");
    assert_eq!(items[1].1["id"], reader.events[3]["item"]["id"]);
    assert_eq!(items[2].1["content"], CANCEL_NOTE);
    assert_eq!(items[2].1["thread_id"], thread.as_str());
    assert!(items[2].1["id"].as_str().unwrap().starts_with("shcx_"));
}

#[actix_web::test]
async fn sigterm_with_a_long_grace_period_lets_the_answer_finish() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatkit.sqlite3");
    let mut server = ServerProcess::start(&db, 50, 10).await;
    let mut reader = server.open_stream(&create("short one")).await;
    reader.until(Duration::from_secs(10), is_text_delta).await;
    let thread = reader.events[0]["thread"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    server.signal("TERM");
    reader.read_to_end(Duration::from_secs(10)).await;
    assert!(
        reader.events.iter().any(is_done_of("assistant_message")),
        "the answer was cut: {:#?}",
        reader.events
    );
    assert_eq!(answer_text(&reader.events), "You said: \"short one\"");
    // The body ended on a frame boundary (not torn).
    assert!(reader.text.ends_with("\n\n"), "{:?}", reader.text);
    drop(reader);
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0), "{status}:\n{}", server.log());

    let items = stored_items(&db, &thread);
    let kinds: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["user_message", "assistant_message"], "{items:#?}");
    assert_eq!(items[1].1["content"][0]["text"], "You said: \"short one\"");
}

#[actix_web::test]
async fn an_acknowledged_user_message_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatkit.sqlite3");
    let mut server = ServerProcess::start(&db, 300, 1).await;
    let text = "remember me through a crash";
    let mut reader = server.open_stream(&create(text)).await;
    reader
        .until(Duration::from_secs(10), is_done_of("user_message"))
        .await;
    let thread = reader.events[0]["thread"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = reader
        .events
        .iter()
        .find(|e| is_done_of("user_message")(e))
        .unwrap()["item"]
        .clone();

    server.signal("KILL");
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "{status}");
    drop(reader);
    drop(server);

    let server = ServerProcess::start(&db, 0, 1).await;
    let (status, page) = server
        .post(&json!({"type": "items.list", "params": {"thread_id": thread, "order": "asc"}}))
        .await;
    assert_eq!(status, 200, "{page}");
    let data = page["data"].as_array().unwrap();
    // Only the user message: the answer had not finished, and a killed
    // process writes no cancellation note.
    assert_eq!(data.len(), 1, "{page:#}");
    assert_eq!(data[0]["id"], message["id"]);
    assert_eq!(
        data[0]["content"],
        json!([{"type": "input_text", "text": text}])
    );
    assert_eq!(data[0], message);

    let (status, got) = server
        .post(&json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
        .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["id"], thread.as_str());
    assert_eq!(got["items"]["data"][0]["id"], message["id"]);

    let (status, events) = server.post(&add_message(&thread, "still there?")).await;
    assert_eq!(status, 200, "{events}");
    let events = events.as_array().unwrap();
    assert_eq!(answer_text(events), "You said: \"still there?\"");
}

/// Splits a raw SSE body into frames, checking that every frame is either
/// the keep-alive comment or one `data: <JSON>` line; returns the number of
/// keep-alive frames.
fn check_frames(body: &str) -> usize {
    assert!(body.ends_with("\n\n"), "torn body: {body:?}");
    let mut keep_alives = 0;
    for frame in body.split_terminator("\n\n") {
        if frame == ": keep-alive" {
            keep_alives += 1;
            continue;
        }
        let data = frame
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("frame is neither an event nor a keep-alive: {frame:?}"));
        assert!(
            !data.contains('\n'),
            "keep-alive inside an event: {frame:?}"
        );
        serde_json::from_str::<Value>(data)
            .unwrap_or_else(|e| panic!("keep-alive inside an event? ({e}) {frame:?}"));
    }
    keep_alives
}

const CREATE_SEQUENCE: [&str; 12] = [
    "thread.created",
    "thread.item.done",
    "stream_options",
    "thread.item.added",
    "thread.item.updated",
    "thread.item.updated",
    "thread.item.updated",
    "thread.item.updated",
    "thread.item.updated",
    "thread.item.updated",
    "thread.item.done",
    "thread.updated",
];

#[actix_web::test]
async fn idle_streams_get_keep_alive_comments_between_frames() {
    let app = spawn_app_with(AppOptions {
        keep_alive: Duration::from_millis(100),
        echo_delay: Duration::from_millis(350),
        ..Default::default()
    })
    .await;
    let reply = app.post(&create("Hi there")).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains(": keep-alive\n\n"), "{:?}", reply.body);
    // Four pauses of 350 ms before the deltas, 100 ms keep-alive: several
    // comments, each on a frame boundary.
    let keep_alives = check_frames(&reply.body);
    assert!(
        keep_alives >= 4,
        "{keep_alives} keep-alives: {:?}",
        reply.body
    );
    let events = reply.events();
    assert_eq!(types(&events), CREATE_SEQUENCE);
    assert_eq!(answer_text(&events), "You said: \"Hi there\"");
}

#[actix_web::test]
async fn a_quick_answer_has_no_comment_lines() {
    let app = spawn_app().await;
    let reply = app.post(&create("Hi there")).await;
    assert_eq!(reply.status, 200);
    assert!(
        !reply.body.starts_with(':') && !reply.body.contains("\n:"),
        "comment in a quick answer: {:?}",
        reply.body
    );
    assert_eq!(check_frames(&reply.body), 0);
    assert_eq!(types(&reply.events()), CREATE_SEQUENCE);
}
