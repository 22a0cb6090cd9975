//! `spawn_app()` and friends: a server on 127.0.0.1:0 with its own database.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use chatkit_actors::model::{ModelConfig, ProviderSettings};
use chatkit_actors::{Engine, EngineConfig};
use chatkit_server::fake_model::FakeModel;
use chatkit_server::{Settings, run};
use serde_json::{Value, json};

/// A running server.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub engine: Engine,
    pub server: ServerHandle,
    pub db_path: PathBuf,
    /// Keeps the database directory alive; `None` when the caller owns it.
    pub _dir: Option<tempfile::TempDir>,
}

/// How to start a test server.
#[derive(Clone)]
pub struct AppOptions {
    /// A real provider instead of the echo model.
    pub model: Option<ModelConfig>,
    /// Tools offered to a real provider.
    pub tools: chatkit_actors::tools::Tools,
    /// Title new threads with a background model call.
    pub titles: bool,
    /// The application's responder (default: the model agent).
    pub responder: Option<std::sync::Arc<dyn chatkit_actors::responder::Responder>>,
    pub echo_delay: Duration,
    pub body_limit: usize,
    pub keep_alive: Duration,
    pub idle_timeout: Duration,
    /// Largest attachment (default: the engine's).
    pub attachment_max_bytes: Option<u64>,
    /// Largest dictated audio (default: the engine's).
    pub max_audio_bytes: Option<usize>,
    /// The transcription model (`None`: the engine's default).
    pub transcription_model: Option<Option<String>>,
    /// Where the chat page is served (`None`: not at all).
    pub ui_path: Option<String>,
    /// Authentication (default: none, the user header).
    pub auth: chatkit_server::auth::Auth,
    /// The tenant header (tenancy on).
    pub tenant_header: Option<String>,
    /// Limits (default: none, so tests can send freely).
    pub limits: chatkit_server::limits::Limits,
    /// CORS origins (default: none).
    pub cors_origins: Vec<String>,
    /// Thread actors kept in memory (default: the engine's).
    pub max_cached_threads: Option<usize>,
    /// Age of orphan attachments (`None`: the engine's default).
    pub attachment_orphan_ttl: Option<Duration>,
    /// Pause between orphan sweeps (`None`: derived from the age).
    pub attachment_sweep_interval: Option<Duration>,
    /// How images reach the model.
    pub image_input: chatkit_actors::attachments::ImageInput,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            model: None,
            tools: chatkit_actors::tools::Tools::new(),
            titles: true,
            responder: None,
            echo_delay: Duration::ZERO,
            body_limit: 1024 * 1024,
            keep_alive: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(300),
            attachment_max_bytes: None,
            max_audio_bytes: None,
            transcription_model: None,
            ui_path: Some("/".to_owned()),
            auth: chatkit_server::auth::Auth::None,
            tenant_header: None,
            limits: chatkit_server::limits::Limits::none(),
            cors_origins: Vec::new(),
            max_cached_threads: None,
            attachment_orphan_ttl: None,
            attachment_sweep_interval: None,
            image_input: Default::default(),
        }
    }
}

impl AppOptions {
    /// A real provider `model`, without background titles (so the provider
    /// sees only the turns a test sends).
    pub fn with_model(model: ModelConfig) -> Self {
        Self {
            model: Some(model),
            titles: false,
            ..Default::default()
        }
    }
}

/// Settings for a provider aimed at `fake`: a test key, 2 s timeouts, no
/// retries.
pub fn fake_provider(fake: &FakeModel) -> ProviderSettings {
    let mut s = ProviderSettings::new("test-model");
    s.base_url = fake.base_url();
    s.api_key = Some("test-key".into());
    s.connect_timeout = Duration::from_secs(2);
    s.read_timeout = Duration::from_secs(2);
    s.max_retries = 0;
    s
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        chatkit_server::telemetry::init(chatkit_server::telemetry::LogFormat::Text);
    }
}

/// A server with default options and a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// A server with `options` and a fresh database.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("chatkit.sqlite3");
    let mut app = spawn_app_on(db_path, options).await;
    app._dir = Some(dir);
    app
}

/// A server on an existing database file (for restarts).
pub async fn spawn_app_on(db_path: PathBuf, options: AppOptions) -> TestApp {
    init_logs();
    let mut config = EngineConfig::new(&db_path);
    config.model = options
        .model
        .clone()
        .unwrap_or_else(|| ModelConfig::echo(options.echo_delay));
    config.tools = options.tools.clone();
    config.titles = options.titles;
    if let Some(responder) = &options.responder {
        config.responder = responder.clone();
    }
    config.thread_idle_timeout = options.idle_timeout;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    config.attachments.public_base_url = format!("http://127.0.0.1:{port}");
    if let Some(max) = options.attachment_max_bytes {
        config.attachments.max_bytes = max;
    }
    if let Some(ttl) = options.attachment_orphan_ttl {
        config.attachments.orphan_ttl = Some(ttl);
    }
    config.attachments.orphan_sweep_interval = options.attachment_sweep_interval;
    config.attachments.image_input = options.image_input;
    if let Some(max) = options.max_audio_bytes {
        config.max_audio_bytes = max;
    }
    if let Some(model) = &options.transcription_model {
        config.transcription_model = model.clone();
    }
    if let Some(max) = options.max_cached_threads {
        config.max_cached_threads = max;
    }
    let engine = Engine::start(config).expect("engine starts");
    let settings = Settings {
        auth: options.auth.clone(),
        tenant_header: options.tenant_header.clone(),
        limits: options.limits.clone(),
        cors_origins: options.cors_origins.clone(),
        body_limit: options.body_limit,
        keep_alive: options.keep_alive,
        shutdown_timeout: Duration::from_secs(1),
        handle_signals: false,
        workers: Some(2),
        ui_path: options.ui_path.clone(),
        ..Settings::default()
    };
    let server = run(listener, settings, engine.clone()).expect("server starts");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    TestApp {
        url: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        engine,
        server: handle,
        db_path,
        _dir: None,
    }
}

/// A finished HTTP exchange.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The SSE events of a streaming reply, checking the exact framing.
    pub fn events(&self) -> Vec<Value> {
        assert_eq!(self.status, 200, "body: {}", self.body);
        assert!(
            self.content_type.starts_with("text/event-stream"),
            "{}",
            self.content_type
        );
        parse_sse(&self.body)
    }

    /// The `{"error":{...}}` body of a refusal, checked for shape.
    pub fn error_code(&self) -> String {
        let v = self.json();
        let err = &v["error"];
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message in {v}"
        );
        err["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code in {v}"))
            .to_owned()
    }
}

/// Reads a whole answer.
pub async fn reply_of(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.text().await.expect("body read");
    Reply {
        status,
        content_type,
        body,
    }
}

/// Splits an SSE body into events: every frame is `data: <json>\n\n`;
/// keep-alive comments are dropped.
pub fn parse_sse(body: &str) -> Vec<Value> {
    assert!(
        body.is_empty() || body.ends_with("\n\n"),
        "stream does not end on a frame boundary: {body:?}"
    );
    body.split_terminator("\n\n")
        .filter(|frame| !frame.starts_with(':'))
        .map(|frame| {
            let data = frame
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("bad frame {frame:?}"));
            assert!(!data.contains('\n'), "multi-line frame {frame:?}");
            serde_json::from_str(data).unwrap_or_else(|e| panic!("bad JSON in frame ({e}): {data}"))
        })
        .collect()
}

impl TestApp {
    pub fn endpoint(&self) -> String {
        format!("{}/chatkit", self.url)
    }

    /// POSTs raw bytes as `user`.
    pub async fn post_raw(&self, user: &str, body: impl Into<reqwest::Body>) -> Reply {
        let resp = self
            .client
            .post(self.endpoint())
            .header("X-User-Id", user)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        reply_of(resp).await
    }

    /// POSTs a request as the default test user.
    pub async fn post(&self, request: &Value) -> Reply {
        self.post_as("alice", request).await
    }

    pub async fn post_as(&self, user: &str, request: &Value) -> Reply {
        self.post_raw(user, serde_json::to_vec(request).unwrap())
            .await
    }

    /// Creates a thread with a first message; returns its id and events.
    pub async fn create_thread(&self, text: &str) -> (String, Vec<Value>) {
        self.create_thread_as("alice", text).await
    }

    pub async fn create_thread_as(&self, user: &str, text: &str) -> (String, Vec<Value>) {
        let events = self.post_as(user, &create(text)).await.events();
        let id = events[0]["thread"]["id"]
            .as_str()
            .expect("thread.created first")
            .to_owned();
        (id, events)
    }

    /// Sends a user message to a thread; returns the events.
    pub async fn send(&self, thread_id: &str, text: &str) -> Vec<Value> {
        self.post(&add_message(thread_id, text)).await.events()
    }

    /// Every visible item of a thread, oldest first, via `items.list`.
    pub async fn all_items(&self, user: &str, thread_id: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .post_as(user, &json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc", "limit": 100, "after": after}}))
                .await;
            assert_eq!(page.status, 200, "{}", page.body);
            let page = page.json();
            out.extend(page["data"].as_array().unwrap().iter().cloned());
            if !page["has_more"].as_bool().unwrap() {
                return out;
            }
            after = Some(page["after"].as_str().unwrap().to_owned());
        }
    }

    /// Rows of a table, read straight from the SQLite file.
    pub fn count_rows(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open_with_flags(
            &self.db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open db");
        conn.query_row(sql, [], |r| r.get(0)).expect("count query")
    }

    /// Stops the server and the engine (as a shutdown signal would).
    pub async fn stop(self) -> Option<tempfile::TempDir> {
        self.server.stop(true).await;
        self.engine.shutdown().await;
        self._dir
    }
}

/// A `threads.create` body.
pub fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}})
}

/// A `threads.add_user_message` body.
pub fn add_message(thread_id: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}}})
}

/// The event types, in order.
pub fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// The text of the assistant message finished in `events`.
pub fn answer_text(events: &[Value]) -> String {
    events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message")
        .map(|e| e["item"]["content"][0]["text"].as_str().unwrap().to_owned())
        .expect("an assistant message")
}

/// Replaces generated ids and timestamps by stable placeholders, keeping
/// which ids are equal (`thr_1`, `msg_1`, `msg_2`, ...), so snapshots
/// compare the shape and the links between events.
pub fn redact(value: &Value) -> Value {
    let mut ids = std::collections::HashMap::new();
    redact_inner(value, &mut ids)
}

fn redact_inner(value: &Value, ids: &mut std::collections::HashMap<String, String>) -> Value {
    match value {
        Value::String(s) => {
            if let Some((prefix, hex)) = s.split_once('_')
                && hex.len() == 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
            {
                let n = ids.len() + 1;
                return Value::String(
                    ids.entry(s.clone())
                        .or_insert_with(|| format!("{prefix}_{n}"))
                        .clone(),
                );
            }
            if s.len() == 27 && s.ends_with('Z') && s.as_bytes()[10] == b'T' {
                assert!(
                    s.as_bytes()[19] == b'.' && s[20..26].chars().all(|c| c.is_ascii_digit()),
                    "timestamp not in the one wire form: {s}"
                );
                return Value::String("<time>".into());
            }
            value.clone()
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| redact_inner(v, ids)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), redact_inner(v, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}
