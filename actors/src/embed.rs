//! Embedding the engine: inside an actix system, or on any runtime.
//!
//! The engine is made of actix actors, and actors need actix's runtime:
//! starting one under a bare `#[tokio::main]` panics. There are two ways
//! to embed it.
//!
//! # 1. Inside an actix system: [`Engine::start`]
//!
//! An application that already runs an actix system (`#[actix_web::main]`,
//! `#[actix_rt::main]`, `actix::System`) starts the [`Engine`] directly and
//! calls it on its own arbiter. This is what the HTTP server does.
//!
//! ```
//! use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
//!
//! actix_rt::System::new().block_on(async {
//!     let dir = tempfile::tempdir().unwrap();
//!     let engine = Engine::start(EngineConfig::new(dir.path().join("chat.sqlite3"))).unwrap();
//!     let body = br#"{"type": "threads.create", "params": {"input": {
//!         "content": [{"type": "input_text", "text": "Hello"}],
//!         "attachments": [], "inference_options": {}}}}"#;
//!     let EngineResponse::Stream(mut events) =
//!         engine.process(body, &RequestContext::new("user-42")).await.unwrap()
//!     else {
//!         panic!("threads.create streams");
//!     };
//!     while let Some(event) = events.next_event().await {
//!         println!("{}", serde_json::to_string(&event).unwrap());
//!     }
//!     engine.shutdown().await;
//! });
//! ```
//!
//! # 2. On any runtime: [`EngineHandle::spawn`]
//!
//! Any other program (a plain tokio runtime, multi-thread or current-thread,
//! or no async runtime at all) spawns an [`EngineHandle`]. The handle runs
//! an `actix::System` on a dedicated OS thread, starts the [`Engine`] in
//! it, and talks to it over tokio channels only, which work from every
//! executor. The [`EventStream`](crate::EventStream) of a streaming answer is the receiving
//! end of a tokio channel, so it too can be read from any executor.
//!
//! ```
//! use chatkit_actors::{EngineConfig, EngineHandle, EngineResponse, RequestContext};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let dir = tempfile::tempdir()?;
//!     let engine = EngineHandle::spawn(EngineConfig::new(dir.path().join("chat.sqlite3")))?;
//!     let body = br#"{"type": "threads.create", "params": {"input": {
//!         "content": [{"type": "input_text", "text": "Hello"}],
//!         "attachments": [], "inference_options": {}}}}"#;
//!     let user = RequestContext::new("user-42");
//!     if let EngineResponse::Stream(mut events) = engine.process(body, user).await? {
//!         while let Some(event) = events.next_event().await {
//!             println!("{}", serde_json::to_string(&event)?);
//!         }
//!     }
//!     // Cancels running turns, closes the store, stops the thread.
//!     engine.shutdown().await;
//!     Ok(())
//! }
//! ```
//!
//! `examples/embed_tokio.rs` (at the workspace root) is a complete program.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot, watch};

use crate::engine::{Engine, EngineConfig, EngineResponse, RequestContext};
use crate::error::EngineError;

/// The name of the OS thread that runs a spawned engine's actix system.
const ENGINE_THREAD_NAME: &str = "chatkit-engine";

/// A message from a handle to its engine thread.
enum Call {
    Process {
        body: Vec<u8>,
        ctx: RequestContext,
        reply: oneshot::Sender<Result<EngineResponse, EngineError>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// An [`Engine`] running in its own actix system on a dedicated OS thread,
/// callable from any async runtime.
///
/// Cheap to clone; every clone talks to the same engine, and the handle is
/// `Send + Sync`. [`shutdown`](Self::shutdown) stops it and waits for the
/// thread. Dropping the last clone without it also stops the engine (its
/// turns are cancelled and the store closed after its last write), in the
/// background: await [`stopped`](Self::stopped) to wait for that end.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
}

struct Inner {
    /// Unbounded: each caller awaits its reply before it can send again,
    /// so the queue holds at most one message per request in flight (the
    /// same bound as the registry's `do_send`), and the engine thread
    /// takes each one off at once.
    calls: mpsc::UnboundedSender<Call>,
    /// Closed (never sent on) when the engine thread ends.
    exited: watch::Receiver<()>,
    /// Taken by the first `shutdown` that joins the thread.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl EngineHandle {
    /// Starts an actix system on a new OS thread, starts the [`Engine`] in
    /// it, and returns once the engine is up, or with the error of
    /// [`Engine::start`] (the thread has then ended).
    ///
    /// Blocks the calling thread while the store opens (migrations
    /// included): usually milliseconds. Needs no runtime, so it can be
    /// called before one is built.
    pub fn spawn(config: EngineConfig) -> Result<EngineHandle, EngineError> {
        let (calls, rx) = mpsc::unbounded_channel();
        let (exit_tx, exited) = watch::channel(());
        // A std channel: the caller may be on an async executor thread,
        // where tokio's `blocking_recv` panics.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(ENGINE_THREAD_NAME.into())
            .spawn(move || {
                run_system(config, ready_tx, rx);
                // Dropped last, after the system and its store: whoever
                // waits on `exited` sees a finished engine.
                drop(exit_tx);
            })
            .map_err(|e| EngineError::Internal(format!("spawning the engine thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(EngineHandle {
                inner: Arc::new(Inner {
                    calls,
                    exited,
                    thread: Mutex::new(Some(thread)),
                }),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(EngineError::Internal(
                    "the engine thread panicked while starting".into(),
                ))
            }
        }
    }

    /// Parses and runs one request body, like [`Engine::process`].
    ///
    /// Uses only tokio channels on the caller's side, so it works from any
    /// executor; the future is `Send`. After [`shutdown`](Self::shutdown)
    /// (or if the engine thread died) it fails with
    /// [`EngineError::ShuttingDown`]. Dropping the returned
    /// [`EventStream`](crate::EventStream) cancels the turn, as with [`Engine::process`].
    pub async fn process(
        &self,
        body: impl Into<Vec<u8>>,
        ctx: RequestContext,
    ) -> Result<EngineResponse, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .calls
            .send(Call::Process {
                body: body.into(),
                ctx,
                reply,
            })
            .map_err(|_| EngineError::ShuttingDown)?;
        // A dropped reply: the system stopped with the request in flight.
        answer.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Stops the engine: runs [`Engine::shutdown`] inside its system
    /// (running turns are cancelled like a disconnect, the store closes
    /// after its last write), stops the system, and joins its thread.
    /// Later requests, from any clone, fail with
    /// [`EngineError::ShuttingDown`]. Safe to call more than once, from
    /// any clone; each call returns once the thread has ended.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        // Err: the engine already stopped (another shutdown, or a panic).
        if self.inner.calls.send(Call::Shutdown { done }).is_ok() {
            let _ = finished.await;
        }
        self.stopped().await;
        // The thread has dropped its last value and is returning, so this
        // join does not wait on anything that can block.
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Resolves once the engine thread has finished: its system stopped
    /// and its store closed, whether by [`shutdown`](Self::shutdown) or
    /// because every handle was dropped. Holds no handle, so it can be
    /// awaited after dropping the last one.
    pub fn stopped(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut exited = self.inner.exited.clone();
        async move {
            // Nothing is ever sent: `changed` fails once the sender is
            // dropped, at the thread's end.
            while exited.changed().await.is_ok() {}
        }
    }
}

/// The engine thread: an actix system serving calls until a shutdown, or
/// until every handle is gone.
fn run_system(
    config: EngineConfig,
    ready: std::sync::mpsc::SyncSender<Result<(), EngineError>>,
    mut calls: mpsc::UnboundedReceiver<Call>,
) {
    let system = actix_rt::System::new();
    system.block_on(async move {
        let engine = match Engine::start(config) {
            Ok(engine) => engine,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let mut done = None;
        while let Some(call) = calls.recv().await {
            match call {
                Call::Process { body, ctx, reply } => {
                    let engine = engine.clone();
                    actix_rt::spawn(async move {
                        let answer = engine.process(&body, &ctx).await;
                        // Err: the caller stopped waiting; dropping an
                        // unwanted stream cancels its turn.
                        let _ = reply.send(answer);
                    });
                }
                Call::Shutdown { done: tx } => {
                    done = Some(tx);
                    break;
                }
            }
        }
        // Refuse what is queued behind the shutdown (its callers see a
        // dropped reply), then stop like `Engine::shutdown` does for the
        // server. Also reached when every handle was dropped.
        drop(calls);
        engine.shutdown().await;
        tracing::debug!("embedded engine stopped");
        actix_rt::System::current().stop();
        if let Some(done) = done {
            let _ = done.send(());
        }
    });
    // Dropping the system's runtime drops its remaining actors and tasks
    // (requests still in flight see their reply dropped).
    drop(system);
}
