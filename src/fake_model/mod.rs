//! A fake model provider: an actix-web app that speaks the OpenAI Responses
//! and Chat Completions streaming APIs (MODEL_STREAMING.md §1, §2) with
//! deterministic answers, for tests and the load generator.
//!
//! It mirrors `bench/mock_llm.py`: the answer to a user message is
//! `echo: <text> tok1 … tok{N-1}` in N deltas, and `tool_call` answers a
//! turn's first model call with a `get_weather` call. Unlike the Python mock
//! every knob of [`Behaviour`] can change between requests
//! ([`FakeModel::set`]), failures are deterministic (no failure rate), and
//! the server records what it saw: each request body, counters per endpoint,
//! and the streams whose client went away before the end
//! ([`FakeModel::disconnects`]).
//!
//! Routes (also without the `/v1` prefix, like the mock):
//! `POST /v1/responses`, `POST /v1/chat/completions` (`"stream": true` for
//! SSE, otherwise one JSON body), `POST /v1/audio/transcriptions`
//! (multipart `file` and `model`; answers
//! `{"text":"transcribed <N> bytes of <content-type>"}` and records a
//! [`TranscriptionRequest`]; `fail_status` applies), `GET /stats` (`?reset=1` zeroes the
//! counters after reading), `GET /health`.
//!
//! A stream is planned up front (see `stream.rs`): with no pacing and no
//! injected fault it is sent as one pre-rendered body, like the mock;
//! otherwise chunk by chunk, each event a write of its own.

mod answer;
mod chat;
mod handlers;
mod responses;
mod stream;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};
use serde_json::Value;

/// The item id every output item gets with [`Behaviour::fake_ids`], as
/// LiteLLM-backed stacks and the Agents SDK's Chat Completions model send.
pub const FAKE_ID: &str = "__fake_id__";

/// The tool `tool_call` calls, as in `mock_llm.py`.
pub const TOOL_NAME: &str = "get_weather";

/// The arguments of every tool call, byte for byte those of `mock_llm.py`.
pub const TOOL_ARGS: &str = r#"{"city": "Paris", "unit": "celsius"}"#;

/// How a stream cut by [`Behaviour::midstream`] ends, after half the
/// answer's deltas and without a terminal event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Midstream {
    /// Drop the connection: the client sees an incomplete body.
    Abort,
    /// End the body cleanly: the client sees a normal end of stream.
    Eof,
}

/// What the fake model does with the next request. Change it at any time
/// with [`FakeModel::set`]; a request reads it once, when it arrives.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Deltas of a text answer (`echo: <text>`, then ` tok1` …); at least one.
    pub tokens: usize,
    /// Pause before each delta but the first.
    pub delay: Duration,
    /// Pause before the first delta (time to first token).
    pub ttft: Duration,
    /// Every output item id (and the Chat Completions chunk id) is [`FAKE_ID`].
    pub fake_ids: bool,
    /// Answer with a [`TOOL_NAME`] call when the request offers that tool and
    /// no function output follows the last user message.
    pub tool_call: bool,
    /// Like `tool_call`, for a tool of this name (e.g. a client-side tool).
    /// Checked before `tool_call`.
    pub client_tool: Option<String>,
    /// Reasoning summary paragraphs before the answer (0: none). Responses: a
    /// `reasoning` item; Chat Completions: `reasoning_content` deltas.
    pub reasoning: usize,
    /// Put one `url_citation` on a text answer.
    pub citations: bool,
    /// Answer requests with this HTTP status and an OpenAI-style error body.
    pub fail_status: Option<u16>,
    /// How many more requests fail (counted down); `None`: all of them.
    pub fail_times: Option<usize>,
    /// `retry-after-ms` header on failures.
    pub retry_after_ms: Option<u64>,
    /// `x-should-retry` header on failures.
    pub should_retry: Option<bool>,
    /// Cut every stream after half the answer's deltas.
    pub midstream: Option<Midstream>,
    /// Stop sending after the first answer delta, keeping the connection open.
    pub stall: bool,
    /// Send a stream error after the first answer delta and end the stream.
    pub error_event: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            tokens: 5,
            delay: Duration::ZERO,
            ttft: Duration::ZERO,
            fake_ids: false,
            tool_call: false,
            client_tool: None,
            reasoning: 0,
            citations: false,
            fail_status: None,
            fail_times: None,
            retry_after_ms: None,
            should_retry: None,
            midstream: None,
            stall: false,
            error_event: false,
        }
    }
}

/// What a `POST /v1/audio/transcriptions` carried (multipart fields
/// `file` and `model`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscriptionRequest {
    /// The `model` field.
    pub model: Option<String>,
    /// The `file` part's size in bytes.
    pub file_size: usize,
    /// The `file` part's `Content-Type`.
    pub content_type: Option<String>,
    /// The `file` part's file name.
    pub file_name: Option<String>,
}

/// Counters since start (or the last `GET /stats?reset=1`).
#[derive(Default)]
struct Counters {
    responses: AtomicUsize,
    chat: AtomicUsize,
    streamed: AtomicUsize,
    text_answers: AtomicUsize,
    tool_call_answers: AtomicUsize,
    injected_failures: AtomicUsize,
    disconnects: AtomicUsize,
    max_input_len: AtomicUsize,
}

/// The state the handlers share: behaviour, what was seen, id counter.
/// Cheap to clone; every clone is the same fake model.
#[derive(Clone)]
pub struct FakeState {
    inner: Arc<Shared>,
}

/// How many request bodies are kept: all of a test's, a bounded memory for
/// a long load test (older bodies are dropped first).
const REQUEST_LOG_CAPACITY: usize = 10_000;

struct Shared {
    behaviour: Mutex<Behaviour>,
    requests: Mutex<VecDeque<Value>>,
    transcriptions: Mutex<Vec<TranscriptionRequest>>,
    /// `(endpoint, last user text, input length)` of the latest request.
    last_turn: Mutex<Option<(&'static str, String, usize)>>,
    counters: Counters,
    /// Random-ish per process start, so ids differ across restarts.
    salt: String,
    next_id: AtomicU64,
    started: Instant,
}

impl FakeState {
    /// A fresh fake model state with `behaviour`.
    pub fn new(behaviour: Behaviour) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let salt = format!("{:08x}", nanos ^ std::process::id().rotate_left(16));
        Self {
            inner: Arc::new(Shared {
                behaviour: Mutex::new(behaviour),
                requests: Mutex::new(VecDeque::new()),
                transcriptions: Mutex::new(Vec::new()),
                last_turn: Mutex::new(None),
                counters: Counters::default(),
                salt,
                next_id: AtomicU64::new(1),
                started: Instant::now(),
            }),
        }
    }

    /// Changes the behaviour for the requests that arrive from now on.
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut lock(&self.inner.behaviour));
    }

    /// A copy of the current behaviour.
    pub fn behaviour(&self) -> Behaviour {
        lock(&self.inner.behaviour).clone()
    }

    /// Every request body received, in arrival order (the latest
    /// 10,000).
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.inner.requests).iter().cloned().collect()
    }

    /// Requests received on both model endpoints.
    pub fn request_count(&self) -> usize {
        self.responses_count() + self.chat_count()
    }

    /// Every `audio/transcriptions` request received, in arrival order.
    pub fn transcriptions(&self) -> Vec<TranscriptionRequest> {
        lock(&self.inner.transcriptions).clone()
    }

    /// Requests received on `/responses`.
    pub fn responses_count(&self) -> usize {
        self.inner.counters.responses.load(Ordering::SeqCst)
    }

    /// Requests received on `/chat/completions`.
    pub fn chat_count(&self) -> usize {
        self.inner.counters.chat.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before the stream was finished.
    pub fn disconnects(&self) -> usize {
        self.inner.counters.disconnects.load(Ordering::SeqCst)
    }

    /// A fresh provider id, `<prefix>_<salt><counter>` as in the mock.
    fn new_id(&self, prefix: &str) -> String {
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}_{}{n:010x}", self.inner.salt)
    }

    /// An output item id: fresh, or [`FAKE_ID`] with `fake`.
    fn item_id(&self, prefix: &str, fake: bool) -> String {
        if fake {
            FAKE_ID.to_owned()
        } else {
            self.new_id(prefix)
        }
    }

    /// Records a request; returns the behaviour to answer it with and
    /// whether it is to fail (counting down `fail_times`).
    fn admit(&self, endpoint: Endpoint, body: &Value) -> (Behaviour, Option<u16>) {
        let c = &self.inner.counters;
        match endpoint {
            Endpoint::Responses => c.responses.fetch_add(1, Ordering::SeqCst),
            Endpoint::Chat => c.chat.fetch_add(1, Ordering::SeqCst),
        };
        let mut requests = lock(&self.inner.requests);
        if requests.len() == REQUEST_LOG_CAPACITY {
            requests.pop_front();
        }
        requests.push_back(body.clone());
        drop(requests);
        self.take_failure()
    }

    /// The behaviour to answer a request with and whether it is to fail
    /// (counting down `fail_times`).
    fn take_failure(&self) -> (Behaviour, Option<u16>) {
        let c = &self.inner.counters;
        let mut behaviour = lock(&self.inner.behaviour);
        let fail = match (behaviour.fail_status, behaviour.fail_times) {
            (Some(_), Some(0)) | (None, _) => None,
            (Some(status), Some(n)) => {
                behaviour.fail_times = Some(n - 1);
                Some(status)
            }
            (Some(status), None) => Some(status),
        };
        if fail.is_some() {
            c.injected_failures.fetch_add(1, Ordering::SeqCst);
        }
        (behaviour.clone(), fail)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge the fake for the others.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Clone, Copy)]
enum Endpoint {
    Responses,
    Chat,
}

/// A fake model serving on 127.0.0.1 inside the current actix system.
pub struct FakeModel {
    state: FakeState,
    address: SocketAddr,
    handle: ServerHandle,
}

impl FakeModel {
    /// Binds `127.0.0.1:0` and serves with one worker (async: one worker
    /// serves many streams at once, and keeps the fake off the cores the
    /// server under test needs).
    pub async fn start(behaviour: Behaviour) -> std::io::Result<FakeModel> {
        Self::serve(TcpListener::bind("127.0.0.1:0")?, behaviour, 1)
    }

    /// Serves on `listener` with `workers` workers, spawned on the current
    /// actix system. Signals are not handled: stop it with [`Self::stop`].
    pub fn serve(
        listener: TcpListener,
        behaviour: Behaviour,
        workers: usize,
    ) -> std::io::Result<FakeModel> {
        let address = listener.local_addr()?;
        let state = FakeState::new(behaviour);
        let server = run(listener, state.clone(), workers)?;
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(FakeModel {
            state,
            address,
            handle,
        })
    }

    /// The provider base URL, `http://127.0.0.1:<port>/v1` (the listener's
    /// address).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The shared state (for handing to another task).
    pub fn state(&self) -> &FakeState {
        &self.state
    }

    /// Changes the behaviour for the requests that arrive from now on.
    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        self.state.set(f);
    }

    /// Every request body received, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.state.requests()
    }

    /// Requests received on both model endpoints.
    pub fn request_count(&self) -> usize {
        self.state.request_count()
    }

    /// Streams whose client went away before the stream was finished.
    pub fn disconnects(&self) -> usize {
        self.state.disconnects()
    }

    /// Every `audio/transcriptions` request received, in arrival order.
    pub fn transcriptions(&self) -> Vec<TranscriptionRequest> {
        self.state.transcriptions()
    }

    /// Stops the server, closing open connections.
    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// The fake model's HTTP server on `listener`; runs when awaited or
/// spawned. Signals are not handled (the caller decides when to stop).
pub fn run(listener: TcpListener, state: FakeState, workers: usize) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 * 1024 * 1024))
            .route("/v1/responses", web::post().to(handlers::responses_handler))
            .route("/responses", web::post().to(handlers::responses_handler))
            .route(
                "/v1/chat/completions",
                web::post().to(handlers::chat_handler),
            )
            .route("/chat/completions", web::post().to(handlers::chat_handler))
            .route(
                "/v1/audio/transcriptions",
                web::post().to(handlers::transcriptions_handler),
            )
            .route(
                "/audio/transcriptions",
                web::post().to(handlers::transcriptions_handler),
            )
            .route("/stats", web::get().to(handlers::stats))
            .route("/health", web::get().to(|| async { "ok" }))
    })
    .workers(workers.max(1))
    .disable_signals()
    // A provider client never half-closes; treating its EOF as "gone" lets a
    // stalled stream notice the disconnect without writing.
    .h1_allow_half_closed(false)
    .shutdown_timeout(1)
    .on_connect(disable_nagle)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Sets `TCP_NODELAY`: the fake writes many small SSE frames.
fn disable_nagle(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(e) = tcp.set_nodelay(true)
    {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}
