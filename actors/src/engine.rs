//! `Engine`: the entry point of the actor system.
//!
//! An application (the HTTP server, or any Rust program embedding the
//! engine) starts one [`Engine`] inside an actix system and hands it raw
//! request bodies with a [`RequestContext`]. Streaming requests come back
//! as an [`EventStream`] of [`ThreadStreamEvent`](crate::protocol::ThreadStreamEvent)s; the others as JSON
//! bytes. Every failure that can be known before the stream starts is an
//! [`EngineError`] (a 4xx or 5xx), never a torn stream.

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::prelude::*;
use futures_util::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::attachments::{AttachmentConfig, AttachmentStore};
use crate::error::EngineError;
use crate::ids::{ThreadId, UserId};
use crate::model::ModelConfig;
use crate::model::http::ModelHttp;
use crate::model::transcribe::Transcriber;
use crate::protocol::{
    Attachment, AttachmentKind, ChatKitRequest, EmptyResponse, ItemsFeedbackParams,
    ItemsListParams, Order, Page, Request, SyncCustomActionResponse, ThreadItem, ThreadMetadata,
    ThreadsListParams, TranscriptionResult, UserMessageInput, UserMessageItem,
};
use crate::registry::{CountThreads, Registry, Route, ShutdownThreads, ThreadKey};
use crate::responder::{AgentResponder, AudioInput, RequestScope, Responder, ResponderError};
use crate::rows;
use crate::store::{self, Store, StoreConfig, StoreError, WriteOp};
use crate::thread::{Command, Initial};
use crate::time::Timestamp;
use crate::tools::Tools;

/// How long an idle thread actor stays in memory. Long enough that a user
/// typing their next message finds the thread warm, short enough that a
/// server with many one-off conversations does not hold them all.
pub const DEFAULT_THREAD_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How many of a thread's newest items its actor keeps in memory, at most.
/// Older items stay in SQLite. With a real model the cache is also bounded
/// by the model's history budget (in estimated tokens), which is usually
/// the tighter bound; this one caps threads of many tiny items.
pub const DEFAULT_MAX_CACHED_ITEMS: usize = 5000;

/// Estimated tokens cached per thread with the offline model (which reads
/// only the last user message).
pub const ECHO_MAX_CACHED_TOKENS: usize = 100_000;

/// Events buffered per client before it is considered not reading. An
/// answer of a few thousand deltas fits; a client that stalls longer is
/// cut off rather than slowing the model stream.
pub const DEFAULT_EVENT_BUFFER: usize = 4096;

/// How long shutdown waits for running turns to be cancelled and stored.
pub const SHUTDOWN_CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

/// Thread actors kept in memory by default. Each holds a thread's recent
/// history (up to [`DEFAULT_MAX_CACHED_ITEMS`] items); ten thousand of them
/// is a few hundred MiB at most, and a thread that was retired reloads
/// from SQLite on its next request.
pub const DEFAULT_MAX_CACHED_THREADS: usize = 10_000;

/// The largest dictated audio accepted by default: 10 MiB.
pub const DEFAULT_MAX_AUDIO_BYTES: usize = 10 * 1024 * 1024;

/// Page size when a listing gives none (or 0), as in the reference.
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// The largest page a listing returns, whatever it asks for.
pub const MAX_PAGE_SIZE: usize = 100;

/// Everything the engine needs to start. [`EngineConfig::new`] gives the
/// defaults (the offline echo model, the model agent as responder, no
/// tools); set the public fields before [`Engine::start`].
///
/// ```
/// use std::time::Duration;
/// use chatkit_actors::model::{ModelConfig, ProviderSettings};
/// use chatkit_actors::{Engine, EngineConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut config = EngineConfig::new(dir.path().join("chat.sqlite3"));
/// config.model = ModelConfig::Chat(ProviderSettings {
///     base_url: "http://127.0.0.1:11434/v1".into(), // Ollama
///     ..ProviderSettings::new("llama3.2")
/// });
/// config.title_model = Some("llama3.2:1b".into()); // a smaller model writes titles
/// config.thread_idle_timeout = Duration::from_secs(60);
///
/// actix_rt::System::new().block_on(async {
///     let engine = Engine::start(config).unwrap(); // no model request is made yet
///     assert_eq!(
///         engine.model().describe(),
///         "chat completions: llama3.2 at http://127.0.0.1:11434/v1"
///     );
///     engine.shutdown().await;
/// });
/// ```
#[derive(Clone)]
pub struct EngineConfig {
    /// The SQLite database file (created if missing).
    pub db_path: PathBuf,
    /// The model that answers.
    pub model: ModelConfig,
    /// See [`DEFAULT_THREAD_IDLE_TIMEOUT`].
    pub thread_idle_timeout: Duration,
    /// See [`DEFAULT_MAX_CACHED_ITEMS`].
    pub max_cached_items: usize,
    /// Thread actors kept in memory; past it, the least recently used idle
    /// ones are retired (a busy one never is). See
    /// [`DEFAULT_MAX_CACHED_THREADS`].
    pub max_cached_threads: usize,
    /// See [`DEFAULT_EVENT_BUFFER`].
    pub event_buffer: usize,
    /// Sent in every `stream_options` (shows the client's stop button).
    pub allow_cancel: bool,
    /// Function tools offered to real models.
    pub tools: Tools,
    /// The application's responder; default: the model agent
    /// ([`AgentResponder`]).
    pub responder: Arc<dyn Responder>,
    /// Give untitled threads a title after their first answer (a short
    /// background model call; derived from the first message with `echo`).
    pub titles: bool,
    /// The model that writes titles (a cheaper one, say); `None`: the
    /// answering model.
    pub title_model: Option<String>,
    /// The model [`AgentResponder`] dictates `input.transcribe` with, at
    /// the provider's `audio/transcriptions` endpoint (Responses and Chat
    /// models only); `None` turns provider transcription off. Default:
    /// [`DEFAULT_TRANSCRIPTION_MODEL`](crate::model::transcribe::DEFAULT_TRANSCRIPTION_MODEL).
    pub transcription_model: Option<String>,
    /// Largest decoded audio of `input.transcribe`, in bytes (larger:
    /// 413 `payload_too_large`, whatever the responder). See
    /// [`DEFAULT_MAX_AUDIO_BYTES`].
    pub max_audio_bytes: usize,
    /// Attachment bytes, limits and upload/preview URLs; default: an
    /// `attachments` directory beside the database file.
    pub attachments: AttachmentConfig,
    /// Threads (actix arbiters) the thread and agent actors are spread
    /// over, each thread's actors staying on one; 0: all of them on the
    /// arbiter that called [`Engine::start`].
    pub engine_threads: usize,
}

impl EngineConfig {
    /// Defaults for a database at `db_path`: the offline echo model.
    pub fn new(db_path: impl Into<PathBuf>) -> Self {
        let db_path = db_path.into();
        Self {
            attachments: AttachmentConfig::beside(&db_path),
            db_path,
            model: ModelConfig::default(),
            thread_idle_timeout: DEFAULT_THREAD_IDLE_TIMEOUT,
            max_cached_items: DEFAULT_MAX_CACHED_ITEMS,
            max_cached_threads: DEFAULT_MAX_CACHED_THREADS,
            event_buffer: DEFAULT_EVENT_BUFFER,
            allow_cancel: true,
            tools: Tools::new(),
            responder: Arc::new(AgentResponder),
            titles: true,
            title_model: None,
            transcription_model: Some(
                crate::model::transcribe::DEFAULT_TRANSCRIPTION_MODEL.to_owned(),
            ),
            max_audio_bytes: DEFAULT_MAX_AUDIO_BYTES,
            engine_threads: 0,
        }
    }
}

/// Who a request acts for, and what the application wants its responder
/// to know about it. Every store query is scoped by `user_id`.
///
/// ```
/// use std::sync::Arc;
/// use chatkit_actors::protocol::ThreadItem;
/// use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
/// use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
///
/// // The HTTP layer builds one per request, from its auth and headers…
/// let ctx = RequestContext::new("user-42").with("tenant", "acme");
///
/// // …and the responder reads it back in the turn.
/// struct Welcome;
/// impl Responder for Welcome {
///     fn respond(&self, turn: TurnContext, _: Option<ThreadItem>) -> BoxFuture<'static, Result<(), ResponderError>> {
///         let tenant = turn.request().data.get("tenant").cloned().unwrap_or_default();
///         Box::pin(async move { turn.message(format!("Welcome to {tenant}!")).await.map(drop) })
///     }
/// }
///
/// actix_rt::System::new().block_on(async {
///     let dir = tempfile::tempdir().unwrap();
///     let mut config = EngineConfig::new(dir.path().join("chat.sqlite3"));
///     config.responder = Arc::new(Welcome);
///     let engine = Engine::start(config).unwrap();
///     let body = br#"{"type": "threads.create", "params": {"input": {"content":
///         [{"type": "input_text", "text": "Hi"}], "attachments": [], "inference_options": {}}}}"#;
///     let EngineResponse::Stream(mut events) = engine.process(body, &ctx).await.unwrap() else {
///         unreachable!("threads.create streams")
///     };
///     let mut sse = String::new();
///     while let Some(event) = events.next_event().await {
///         sse.push_str(&event.to_sse_frame());
///     }
///     assert!(sse.contains("Welcome to acme!"));
///     engine.shutdown().await;
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    /// The user.
    pub user_id: UserId,
    /// Application data passed from the HTTP layer (or the embedding app)
    /// to the responder, e.g. a locale or a tenant header.
    pub data: std::collections::BTreeMap<String, String>,
}

impl RequestContext {
    /// A context for `user_id`.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: UserId(user_id.into()),
            data: Default::default(),
        }
    }

    /// Adds an entry to [`RequestContext::data`].
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }
}

/// What thread actors share.
pub(crate) struct ThreadDeps {
    pub(crate) store: Store,
    pub(crate) model: ModelConfig,
    /// The provider's HTTP client, shared so connections are pooled.
    pub(crate) http: Option<ModelHttp>,
    /// Attachment bytes, for model input.
    pub(crate) attachments: AttachmentStore,
    pub(crate) tools: Tools,
    pub(crate) responder: Arc<dyn Responder>,
    pub(crate) titles: bool,
    pub(crate) title_model: Option<String>,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_cached_items: usize,
    /// The cache's bound in estimated tokens: the history budget plus a
    /// margin (stored items estimate a little larger than their input).
    pub(crate) max_cached_tokens: usize,
    pub(crate) event_buffer: usize,
    pub(crate) allow_cancel: bool,
}

/// The answer to a request.
pub enum EngineResponse {
    /// A JSON body (compact, exactly as the reference emits it).
    Json(Vec<u8>),
    /// The events of a streaming request; the stream ends with the turn.
    /// Dropping it cancels the turn, as a client disconnect does.
    Stream(EventStream),
}

/// The events of one streaming request, in order.
pub struct EventStream {
    rx: mpsc::Receiver<crate::protocol::ThreadStreamEvent>,
}

impl EventStream {
    pub(crate) fn new(rx: mpsc::Receiver<crate::protocol::ThreadStreamEvent>) -> Self {
        crate::telemetry::stream_opened();
        Self { rx }
    }

    /// The next event, or `None` when the turn has ended.
    pub async fn next_event(&mut self) -> Option<crate::protocol::ThreadStreamEvent> {
        self.rx.recv().await
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        crate::telemetry::stream_closed();
    }
}

impl Stream for EventStream {
    type Item = crate::protocol::ThreadStreamEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// The running engine. Cheap to clone; all clones drive the same actors.
///
/// Start one per process with [`Engine::start`] inside an actix system,
/// give a clone to every request handler, and call
/// [`shutdown`](Engine::shutdown) before the system stops.
///
/// ```
/// use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
///
/// actix_rt::System::new().block_on(async {
///     let dir = tempfile::tempdir().unwrap();
///     let engine = Engine::start(EngineConfig::new(dir.path().join("chat.sqlite3"))).unwrap();
///     assert!(engine.model().is_offline()); // the default: the echo model
///
///     let handler = engine.clone(); // what each request handler holds
///     let body = br#"{"type": "threads.create", "params": {"input": {"content":
///         [{"type": "input_text", "text": "Hello"}], "attachments": [], "inference_options": {}}}}"#;
///     let ctx = RequestContext::new("user-42");
///     let EngineResponse::Stream(mut events) = handler.process(body, &ctx).await.unwrap() else {
///         unreachable!("threads.create streams")
///     };
///     while events.next_event().await.is_some() {}
///     assert_eq!(engine.active_threads().await, 1); // the thread stays warm
///
///     engine.shutdown().await; // cancels running turns, closes the store
/// });
/// ```
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Addr<Registry>,
    /// Where thread actors run; stopped when the last engine clone goes.
    _arbiters: ArbiterPool,
    responder: Arc<dyn Responder>,
    store: Store,
    model: ModelConfig,
    attachments: AttachmentStore,
    /// Provider transcription for `input.transcribe`, when configured.
    transcriber: Option<Transcriber>,
    max_audio_bytes: usize,
    /// The periodic orphan-attachment sweep, stopped on shutdown.
    sweeper: std::sync::Mutex<Option<actix_rt::task::JoinHandle<()>>>,
}

/// The engine's own arbiters (see [`EngineConfig::engine_threads`]),
/// stopped on drop.
struct ArbiterPool(Vec<actix::Arbiter>);

impl ArbiterPool {
    fn new(threads: usize) -> Self {
        Self((0..threads).map(|_| actix::Arbiter::new()).collect())
    }

    fn handles(&self) -> Vec<actix::dev::ArbiterHandle> {
        self.0.iter().map(|a| a.handle()).collect()
    }
}

impl Drop for ArbiterPool {
    fn drop(&mut self) {
        for arbiter in &self.0 {
            arbiter.stop();
        }
    }
}

impl Engine {
    /// Opens the store and starts the actors. Must be called from inside
    /// a running actix system (`#[actix_web::main]`, `actix::System`).
    pub fn start(config: EngineConfig) -> Result<Engine, EngineError> {
        config
            .attachments
            .validate()
            .map_err(|e| EngineError::NotConfigured(format!("attachments: {e}")))?;
        let store = Store::open(StoreConfig::new(config.db_path.clone()))?;
        let attachments = AttachmentStore::open(config.attachments.clone()).map_err(|e| {
            EngineError::Internal(format!(
                "opening the attachment directory {}: {e}",
                config.attachments.dir.display()
            ))
        })?;
        let http = match &config.model {
            ModelConfig::Responses(s) | ModelConfig::Chat(s) => {
                Some(ModelHttp::new(s).map_err(|e| {
                    EngineError::Internal(format!("building the model client: {e}"))
                })?)
            }
            ModelConfig::Echo(_) => None,
        };
        let transcriber = match (&config.model, &http, &config.transcription_model) {
            (ModelConfig::Responses(s) | ModelConfig::Chat(s), Some(http), Some(model))
                if !model.trim().is_empty() =>
            {
                Some(Transcriber::new(http.clone(), s.clone(), model.trim()))
            }
            _ => None,
        };
        let deps = Arc::new(ThreadDeps {
            store: store.clone(),
            attachments: attachments.clone(),
            model: config.model.clone(),
            http,
            tools: config.tools.clone(),
            responder: config.responder.clone(),
            titles: config.titles,
            title_model: config.title_model.clone(),
            idle_timeout: config.thread_idle_timeout,
            max_cached_items: config.max_cached_items.max(1),
            max_cached_tokens: match &config.model {
                ModelConfig::Responses(s) | ModelConfig::Chat(s) => {
                    s.history_budget_tokens.saturating_mul(2).max(1024)
                }
                ModelConfig::Echo(_) => ECHO_MAX_CACHED_TOKENS,
            },
            event_buffer: config.event_buffer.max(16),
            allow_cancel: config.allow_cancel,
        });
        let arbiters = ArbiterPool::new(config.engine_threads);
        let registry =
            Registry::new(deps, config.max_cached_threads.max(1), arbiters.handles()).start();
        let sweeper = spawn_orphan_sweep(&store, &attachments);
        Ok(Engine {
            inner: Arc::new(Inner {
                registry,
                _arbiters: arbiters,
                responder: config.responder.clone(),
                store,
                model: config.model,
                attachments,
                transcriber,
                max_audio_bytes: config.max_audio_bytes,
                sweeper: std::sync::Mutex::new(sweeper),
            }),
        })
    }

    /// The store, for reads an embedding application wants to make itself.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The model that answers.
    pub fn model(&self) -> &ModelConfig {
        &self.inner.model
    }

    /// The attachment bytes and their configuration.
    pub fn attachments(&self) -> &AttachmentStore {
        &self.inner.attachments
    }

    /// Stores the uploaded bytes of `user`'s attachment `attachment_id`
    /// (the second phase of a two-phase upload) from a stream of chunks.
    /// Unknown or foreign: 404 before anything is written; over the size
    /// limit: 413, and not the size declared in `attachments.create`: 400,
    /// with nothing kept. The bytes replace earlier ones at once, when
    /// complete. Then the record loses its `upload_descriptor` (§4.5: the
    /// upload is done; later reads and messages carry none). If the
    /// attachment was deleted while the bytes were on their way, they are
    /// removed and the answer is 404. Returns the record.
    pub async fn upload_attachment<S, B, E>(
        &self,
        user: &UserId,
        attachment_id: &str,
        bytes: S,
    ) -> Result<Attachment, EngineError>
    where
        S: Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let row = self.load_attachment_row(user, attachment_id).await?;
        let mut attachment = rows::attachment_from_row(&row)?;
        let files = &self.inner.attachments;
        files.check_type(&attachment.mime_type)?;
        files
            .write_stream(&attachment.id, bytes, row.declared_size)
            .await?;
        // Also the check that the record still exists: a delete (or the
        // orphan sweep) removes the record before the bytes, so either it
        // sees these bytes, or this sees the record gone.
        let op = WriteOp::MarkAttachmentUploaded {
            user_id: user.0.clone(),
            attachment_id: attachment.id.clone(),
        };
        match self.inner.store.writer.write(vec![op]).await {
            Ok(()) => {}
            Err(e) => {
                if let Err(e) = files.delete(&attachment.id).await {
                    tracing::warn!(attachment = %attachment.id, error = %e, "removing the bytes of an upload that failed to finish failed");
                }
                return Err(match e {
                    StoreError::NotFound => EngineError::NotFound("attachment"),
                    e => e.into(),
                });
            }
        }
        attachment.upload_descriptor = None;
        Ok(attachment)
    }

    /// The MIME type and bytes behind an image attachment's `preview_url`,
    /// whoever asks: the URL is a capability (an unguessable id), so that
    /// `<img>` tags, which cannot send the user header, can load it.
    /// Not an image, unknown, or not uploaded yet: 404.
    pub async fn attachment_preview(
        &self,
        attachment_id: &str,
    ) -> Result<(String, Vec<u8>), EngineError> {
        let row = self
            .inner
            .store
            .reads
            .load_attachment_by_id(attachment_id)
            .await?
            .ok_or(EngineError::NotFound("attachment"))?;
        let attachment = rows::attachment_from_row(&row)?;
        if !matches!(attachment.kind, AttachmentKind::Image { .. }) {
            return Err(EngineError::NotFound("attachment"));
        }
        let bytes = self
            .inner
            .attachments
            .read(&attachment.id)
            .await?
            .ok_or(EngineError::NotFound("attachment"))?;
        Ok((attachment.mime_type, bytes))
    }

    async fn load_attachment(
        &self,
        user: &UserId,
        attachment_id: &str,
    ) -> Result<Attachment, EngineError> {
        let row = self.load_attachment_row(user, attachment_id).await?;
        Ok(rows::attachment_from_row(&row)?)
    }

    /// The user's attachment record as stored; unknown or foreign: 404.
    async fn load_attachment_row(
        &self,
        user: &UserId,
        attachment_id: &str,
    ) -> Result<store::AttachmentRow, EngineError> {
        self.inner
            .store
            .reads
            .load_attachment(&user.0, attachment_id)
            .await?
            .ok_or(EngineError::NotFound("attachment"))
    }

    /// How many thread actors are in memory.
    pub async fn active_threads(&self) -> usize {
        self.inner.registry.send(CountThreads).await.unwrap_or(0)
    }

    /// Parses and runs one request body.
    ///
    /// Streamed requests (`threads.create`, `threads.add_user_message`, …)
    /// answer [`EngineResponse::Stream`], the others
    /// [`EngineResponse::Json`]. Errors all come before a stream starts;
    /// answer them with [`EngineError::status`] and [`EngineError::code`].
    ///
    /// ```
    /// use chatkit_actors::{Engine, EngineConfig, EngineError, EngineResponse, RequestContext};
    ///
    /// /// What an HTTP handler writes back: a JSON body, or SSE frames.
    /// async fn reply(engine: &Engine, body: &str, ctx: &RequestContext) -> Result<String, EngineError> {
    ///     Ok(match engine.process(body.as_bytes(), ctx).await? {
    ///         EngineResponse::Json(json) => String::from_utf8(json).unwrap(),
    ///         EngineResponse::Stream(mut events) => {
    ///             let mut sse = String::new();
    ///             while let Some(event) = events.next_event().await {
    ///                 sse.push_str(&event.to_sse_frame()); // `data: {…}\n\n`
    ///             }
    ///             sse
    ///         }
    ///     })
    /// }
    ///
    /// actix_rt::System::new().block_on(async {
    ///     let dir = tempfile::tempdir().unwrap();
    ///     let engine = Engine::start(EngineConfig::new(dir.path().join("chat.sqlite3"))).unwrap();
    ///     let ctx = RequestContext::new("user-42");
    ///     let create = r#"{"type": "threads.create", "params": {"input": {"content":
    ///         [{"type": "input_text", "text": "Hi"}], "attachments": [], "inference_options": {}}}}"#;
    ///     let sse = reply(&engine, create, &ctx).await.unwrap();
    ///     assert!(sse.starts_with(r#"data: {"type":"thread.created""#));
    ///     let list = reply(&engine, r#"{"type": "threads.list", "params": {}}"#, &ctx).await.unwrap();
    ///     assert!(list.starts_with(r#"{"data":[{"#));
    ///     let missing = r#"{"type": "threads.get_by_id", "params": {"thread_id": "thr_nope"}}"#;
    ///     let error = reply(&engine, missing, &ctx).await.unwrap_err();
    ///     assert_eq!((error.status(), error.code()), (404, "not_found"));
    ///     engine.shutdown().await;
    /// });
    /// ```
    pub async fn process(
        &self,
        body: &[u8],
        ctx: &RequestContext,
    ) -> Result<EngineResponse, EngineError> {
        let request = ChatKitRequest::parse(body)?;
        self.handle(request.request, ctx).await
    }

    /// Runs one parsed request.
    pub async fn handle(
        &self,
        request: Request,
        ctx: &RequestContext,
    ) -> Result<EngineResponse, EngineError> {
        let user = &ctx.user_id;
        match request {
            Request::ThreadsCreate(p) => self
                .create_thread(ctx, p.input)
                .await
                .map(EngineResponse::Stream),
            Request::ThreadsAddUserMessage(p) => {
                let (message, attachments) = self.user_message(user, p.input).await?;
                let key = ThreadKey::new(user, p.thread_id);
                let stream = self
                    .ask(ctx, key, Initial::Load, |reply| Command::UserMessage {
                        message,
                        attachments,
                        reply,
                    })
                    .await?;
                Ok(EngineResponse::Stream(stream))
            }
            Request::ThreadsRetryAfterItem(p) => {
                let key = ThreadKey::new(user, p.thread_id);
                let item_id = p.item_id;
                let stream = self
                    .ask(ctx, key, Initial::Load, |reply| Command::Retry {
                        item_id,
                        reply,
                    })
                    .await?;
                Ok(EngineResponse::Stream(stream))
            }
            Request::ThreadsAddClientToolOutput(p) => {
                let key = ThreadKey::new(user, p.thread_id);
                let result = p.result;
                let stream = self
                    .ask(ctx, key, Initial::Load, |reply| Command::ClientToolOutput {
                        result,
                        reply,
                    })
                    .await?;
                Ok(EngineResponse::Stream(stream))
            }
            Request::ThreadsCustomAction(p) => {
                let item_id = p.sender_id().cloned();
                let key = ThreadKey::new(user, p.thread_id);
                let action = p.action;
                let stream = self
                    .ask(ctx, key, Initial::Load, |reply| Command::CustomAction {
                        item_id,
                        action,
                        reply,
                    })
                    .await?;
                Ok(EngineResponse::Stream(stream))
            }
            Request::ThreadsSyncCustomAction(p) => {
                let item_id = p.sender_id().cloned();
                let key = ThreadKey::new(user, p.thread_id);
                let action = p.action;
                let updated_item = self
                    .ask(ctx, key, Initial::Load, |reply| Command::SyncAction {
                        item_id,
                        action,
                        reply,
                    })
                    .await?;
                json(&SyncCustomActionResponse { updated_item })
            }
            Request::ThreadsAddStructuredInput(p) => {
                let key = ThreadKey::new(user, p.thread_id);
                let (item_id, input) = (p.item_id, p.input);
                let stream = self
                    .ask(ctx, key, Initial::Load, |reply| Command::StructuredInput {
                        item_id,
                        input,
                        reply,
                    })
                    .await?;
                Ok(EngineResponse::Stream(stream))
            }
            Request::ThreadsGetById(p) => {
                let meta = self.load_thread(user, &p.thread_id).await?;
                let items = self
                    .list_items(user, &p.thread_id, DEFAULT_PAGE_SIZE, None, Order::Asc)
                    .await?;
                json(&meta.to_wire(items))
            }
            Request::ThreadsList(ThreadsListParams {
                limit,
                order,
                after,
            }) => {
                let page = self
                    .inner
                    .store
                    .reads
                    .list_threads(
                        &user.0,
                        page_size(limit),
                        after.as_deref(),
                        store_order(order),
                    )
                    .await
                    .map_err(cursor_error)?;
                let data = page
                    .rows
                    .iter()
                    .map(|r| rows::thread_from_row(r).map(|m| m.to_wire(Page::default())))
                    .collect::<Result<Vec<_>, _>>()?;
                let after = page
                    .has_more
                    .then(|| data.last().map(|t| t.id.0.clone()))
                    .flatten();
                json(&Page {
                    data,
                    has_more: page.has_more,
                    after,
                })
            }
            Request::ItemsList(ItemsListParams {
                thread_id,
                limit,
                order,
                after,
            }) => {
                self.load_thread(user, &thread_id).await?;
                json(
                    &self
                        .list_items(user, &thread_id, page_size(limit), after.as_deref(), order)
                        .await?,
                )
            }
            Request::ThreadsUpdate(p) => {
                let key = ThreadKey::new(user, p.thread_id);
                let title = p.title;
                json(
                    &self
                        .ask(ctx, key, Initial::Load, |reply| Command::Rename {
                            title,
                            reply,
                        })
                        .await?,
                )
            }
            Request::ThreadsDelete(p) => {
                let thread_id = p.thread_id.clone();
                let key = ThreadKey::new(user, p.thread_id);
                self.ask(ctx, key, Initial::Load, |reply| Command::Delete { reply })
                    .await?;
                self.delete_thread_attachments(user, &thread_id).await;
                json(&EmptyResponse {})
            }
            Request::ItemsFeedback(ItemsFeedbackParams {
                thread_id,
                item_ids,
                kind,
            }) => {
                let thread = self.load_thread(user, &thread_id).await?;
                let op = WriteOp::SaveFeedback {
                    user_id: user.0.clone(),
                    thread_id: thread_id.0.clone(),
                    item_ids: item_ids.iter().map(|i| i.0.clone()).collect(),
                    kind: kind.as_str().to_owned(),
                    created_at: Timestamp::now().to_string(),
                };
                self.inner.store.writer.write(vec![op]).await?;
                let scope = RequestScope {
                    thread: Some(thread),
                    request: ctx.clone(),
                    transcriber: None,
                };
                self.inner
                    .responder
                    .add_feedback(scope, item_ids, kind)
                    .await;
                json(&EmptyResponse {})
            }
            Request::InputTranscribe(p) => {
                let data = decode_audio(&p.audio_base64)?;
                if data.len() > self.inner.max_audio_bytes {
                    return Err(EngineError::PayloadTooLarge(format!(
                        "the audio is {} bytes; this server accepts at most {}",
                        data.len(),
                        self.inner.max_audio_bytes
                    )));
                }
                let audio = AudioInput {
                    data,
                    media_type: p.media_type().to_owned(),
                    mime_type: p.mime_type,
                };
                let scope = RequestScope {
                    thread: None,
                    request: ctx.clone(),
                    transcriber: self.inner.transcriber.clone(),
                };
                let text = self
                    .inner
                    .responder
                    .transcribe(scope, audio)
                    .await
                    .map_err(|e| self.transcription_error(e))?;
                json(&TranscriptionResult { text })
            }
            Request::AttachmentsCreate(p) => {
                let store = &self.inner.attachments;
                store.check(&p.mime_type, p.size)?;
                let attachment = store.new_record(p.name, p.mime_type);
                let row = rows::attachment_row(user, &attachment, Some(p.size));
                let op = WriteOp::UpsertAttachment(row);
                self.inner.store.writer.write(vec![op]).await?;
                json(&attachment)
            }
            Request::AttachmentsDelete(p) => {
                let attachment = self.load_attachment(user, &p.attachment_id).await?;
                // The record first, then the bytes: an upload finishing
                // meanwhile either sees the record gone (and removes its
                // bytes) or renamed them before this removes them.
                let op = WriteOp::DeleteAttachment {
                    user_id: user.0.clone(),
                    attachment_id: attachment.id.clone(),
                };
                self.inner.store.writer.write(vec![op]).await?;
                self.inner.attachments.delete(&attachment.id).await?;
                json(&EmptyResponse {})
            }
        }
    }

    /// Removes the files and records of the attachments bound to a deleted
    /// thread. The thread is gone already; a failure here is logged, and
    /// the leftovers are only unreachable files.
    async fn delete_thread_attachments(&self, user: &UserId, thread_id: &ThreadId) {
        let rows = match self
            .inner
            .store
            .reads
            .attachments_of_thread(&user.0, &thread_id.0)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(thread_id = %thread_id, error = %e, "listing a deleted thread's attachments failed");
                return;
            }
        };
        // Records first, then bytes (see `attachments.delete`), each
        // attachment on its own; sent together so group commit folds the
        // record deletes into one transaction (as the orphan sweep does).
        let deletes = rows.iter().map(|row| async move {
            let op = WriteOp::DeleteAttachment {
                user_id: user.0.clone(),
                attachment_id: row.id.clone(),
            };
            if let Err(e) = self.inner.store.writer.write(vec![op]).await {
                tracing::warn!(attachment = %row.id, error = %e, "deleting an attachment's record failed");
                return;
            }
            if let Err(e) = self.inner.attachments.delete(&row.id).await {
                tracing::warn!(attachment = %row.id, error = %e, "deleting an attachment's file failed");
            }
        });
        futures_util::future::join_all(deletes).await;
    }

    /// How a failed `transcribe` hook is answered: not implemented without
    /// a transcriber → 501 saying what to configure; a provider failure →
    /// 502 `transcription_failed` (details logged); a custom refusal →
    /// 400 `transcription_failed`.
    fn transcription_error(&self, error: ResponderError) -> EngineError {
        match error {
            ResponderError::NotImplemented(_) if self.inner.transcriber.is_none() => {
                EngineError::NotConfigured(if self.inner.model.is_offline() {
                    "transcription is not configured: the offline echo model cannot transcribe; \
                     set a provider or a transcription model"
                        .to_owned()
                } else {
                    "transcription is not configured: set a transcription model \
                     (--transcription-model)"
                        .to_owned()
                })
            }
            ResponderError::NotImplemented(what) => EngineError::NotImplemented(what),
            ResponderError::Custom { message, .. } => {
                EngineError::bad_request("transcription_failed", message)
            }
            ResponderError::Model(e) => {
                tracing::warn!(error = %e, "transcription failed");
                let reason = e.user_message().unwrap_or_else(|| {
                    "The transcription provider failed; see the server logs.".to_owned()
                });
                EngineError::Upstream {
                    code: "transcription_failed",
                    message: format!("transcription failed: {reason}"),
                }
            }
            other => EngineError::Internal(format!("transcription failed: {other}")),
        }
    }

    /// Cancels every running turn (as a disconnect would: partial answers
    /// and the cancellation note are stored), refuses new work, and closes
    /// the store after its last write.
    pub async fn shutdown(&self) {
        if let Some(sweeper) = self.inner.sweeper.lock().ok().and_then(|mut s| s.take()) {
            sweeper.abort();
        }
        // Cancelling stores partial answers; it should take milliseconds,
        // but a stuck application hook must not keep the process alive.
        let cancel = self.inner.registry.send(ShutdownThreads);
        if tokio::time::timeout(SHUTDOWN_CANCEL_TIMEOUT, cancel)
            .await
            .is_err()
        {
            tracing::warn!("cancelling the running turns took too long; closing the store anyway");
        }
        self.inner.store.writer.shutdown().await;
    }

    /// Runs one orphan-attachment sweep now (the engine also runs them
    /// periodically, see [`AttachmentConfig::orphan_ttl`]). With the sweep
    /// off: nothing removed.
    pub async fn sweep_orphan_attachments(
        &self,
    ) -> Result<crate::attachments::SweepReport, EngineError> {
        let files = &self.inner.attachments;
        match files.config().orphan_ttl() {
            Some(ttl) => crate::attachments::sweep_orphans(&self.inner.store, files, ttl).await,
            None => Ok(Default::default()),
        }
    }

    /// Routes a command to its thread's actor and waits for the reply.
    /// Commands reach the actor in the order they were routed (`do_send`
    /// through the registry); a dropped reply means the system is going
    /// down.
    async fn ask<T>(
        &self,
        request: &RequestContext,
        key: ThreadKey,
        initial: Initial,
        command: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> Command,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        let command = command(reply);
        self.inner.registry.do_send(Route {
            key,
            initial,
            command,
            request: request.clone(),
        });
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }

    async fn create_thread(
        &self,
        ctx: &RequestContext,
        input: UserMessageInput,
    ) -> Result<crate::engine::EventStream, EngineError> {
        let user = &ctx.user_id;
        let (message, attachments) = self.user_message(user, input).await?;
        let meta = ThreadMetadata {
            title: None,
            id: ThreadId::generate(),
            created_at: Timestamp::now(),
            status: Default::default(),
            allowed_image_domains: None,
            metadata: Default::default(),
        };
        let key = ThreadKey::new(user, meta.id.clone());
        self.ask(ctx, key, Initial::New(meta), |reply| Command::Create {
            message,
            attachments,
            reply,
        })
        .await
    }

    /// Builds a user message from its input, checking that every
    /// attachment exists and belongs to the user.
    async fn user_message(
        &self,
        user: &UserId,
        input: UserMessageInput,
    ) -> Result<(UserMessageItem, Vec<crate::protocol::Attachment>), EngineError> {
        let mut attachments = Vec::with_capacity(input.attachments.len());
        for id in &input.attachments {
            attachments.push(self.load_attachment(user, id).await?);
        }
        let message = UserMessageItem {
            content: input.content,
            attachments: attachments.clone(),
            quoted_text: input.quoted_text,
            inference_options: input.inference_options,
        };
        Ok((message, attachments))
    }

    async fn load_thread(
        &self,
        user: &UserId,
        thread: &ThreadId,
    ) -> Result<ThreadMetadata, EngineError> {
        let row = self
            .inner
            .store
            .reads
            .load_thread(&user.0, &thread.0)
            .await?;
        let row = row.ok_or(EngineError::NotFound("thread"))?;
        Ok(rows::thread_from_row(&row)?)
    }

    async fn list_items(
        &self,
        user: &UserId,
        thread: &ThreadId,
        limit: usize,
        after: Option<&str>,
        order: Order,
    ) -> Result<Page<ThreadItem>, EngineError> {
        let page = self
            .inner
            .store
            .reads
            .list_items(&user.0, &thread.0, limit, after, store_order(order), false)
            .await
            .map_err(cursor_error)?;
        let data = page
            .rows
            .iter()
            .map(rows::item_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let after = page
            .has_more
            .then(|| data.last().map(|i| i.id.0.clone()))
            .flatten();
        Ok(Page {
            data,
            has_more: page.has_more,
            after,
        })
    }
}

/// Decodes `audio_base64` the way the reference does (§9.14): characters
/// outside the base64 alphabet are skipped; a wrong length or padding is
/// a 400.
fn decode_audio(text: &str) -> Result<Vec<u8>, EngineError> {
    use base64::Engine as _;
    let clean: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|e| {
            EngineError::bad_request(
                "invalid_request",
                format!("audio_base64 is not valid base64: {e}"),
            )
        })
}

fn json<T: serde::Serialize>(value: &T) -> Result<EngineResponse, EngineError> {
    serde_json::to_vec(value)
        .map(EngineResponse::Json)
        .map_err(|e| EngineError::Internal(format!("serializing the response: {e}")))
}

/// `limit` absent, null, zero or negative means the default (§11.3);
/// larger than [`MAX_PAGE_SIZE`] is cut to it.
fn page_size(limit: Option<i64>) -> usize {
    match limit {
        Some(n) if n > 0 => (n as usize).min(MAX_PAGE_SIZE),
        _ => DEFAULT_PAGE_SIZE,
    }
}

fn store_order(order: Order) -> store::Order {
    match order {
        Order::Asc => store::Order::Asc,
        Order::Desc => store::Order::Desc,
    }
}

fn cursor_error(e: StoreError) -> EngineError {
    match e {
        StoreError::UnknownCursor => EngineError::bad_request(
            "invalid_cursor",
            "`after` does not name an entry of this listing (unknown, hidden or foreign id)",
        ),
        other => other.into(),
    }
}

/// Starts the periodic orphan-attachment sweep on the current actix
/// system (first run now, to clean up after downtime), unless it is off.
fn spawn_orphan_sweep(
    store: &Store,
    files: &AttachmentStore,
) -> Option<actix_rt::task::JoinHandle<()>> {
    let ttl = files.config().orphan_ttl()?;
    let every = files.config().orphan_sweep_interval()?;
    let (store, files) = (store.clone(), files.clone());
    tracing::debug!(
        ttl_secs = ttl.as_secs_f64(),
        every_secs = every.as_secs_f64(),
        "orphan attachment sweep started"
    );
    Some(actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match crate::attachments::sweep_orphans(&store, &files, ttl).await {
                Ok(r) if r.attachments + r.temp_files > 0 => tracing::info!(
                    attachments = r.attachments,
                    temp_files = r.temp_files,
                    "removed orphan attachments older than {}s",
                    ttl.as_secs()
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "orphan attachment sweep failed"),
            }
        }
    }))
}
