//! `Responder`: the application's hook into a turn — the counterpart of
//! subclassing `ChatKitServer` in the Python SDK.
//!
//! The engine calls a responder for every streamed answer:
//! [`Responder::respond`] for a user message (or a turn resumed by a
//! client tool output or a structured-input answer) and
//! [`Responder::action`] for a widget action. It answers through a
//! [`TurnContext`], which emits protocol events with ids chosen for it; the
//! ThreadActor persists and forwards them exactly as it does for the
//! model's own events (a `done` item is stored before the client sees it).
//!
//! The default responder, [`AgentResponder`], is the model agent (echo,
//! Responses or Chat Completions, with tools). A responder can wrap it —
//! call [`TurnContext::run_agent`] and then add a widget — or replace it.
//!
//! ```
//! use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
//! use chatkit_actors::protocol::ThreadItem;
//!
//! /// Answers every message with a fixed text, streamed in two parts.
//! struct Greeter;
//!
//! impl Responder for Greeter {
//!     fn respond(&self, turn: TurnContext, _input: Option<ThreadItem>) -> BoxFuture<'static, Result<(), ResponderError>> {
//!         Box::pin(async move {
//!             let mut message = turn.assistant_message().await?;
//!             message.delta("Hello").await?;
//!             message.delta(", world").await?;
//!             message.finish().await
//!         })
//!     }
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use crate::agent::{AgentOutput, AgentParams, Emitter, Halt};
use crate::engine::RequestContext;
use crate::ids::{IdKind, ItemId};
use crate::model::ModelError;
use crate::model::transcribe::Transcriber;
use crate::protocol::{
    Action, AssistantMessageContent, AssistantMessageItem, ClientToolCallItem,
    ClientToolCallStatus, ErrorEvent, FeedbackKind, GeneratedImage, GeneratedImageItem,
    HiddenContextItem, ItemKind, NoticeLevel, SdkHiddenContextItem, StreamOptions, StructuredInput,
    StructuredInputItem, StructuredInputStatus, Task, ThreadItem, ThreadItemUpdate, ThreadMetadata,
    ThreadStreamEvent, WidgetItem, WidgetRoot, Workflow, WorkflowItem, WorkflowSummary,
    WorkflowType,
};
use crate::time::Timestamp;
use crate::widgets::WidgetStreamer;

/// A boxed, sendable future (what responder methods return, so a
/// responder can be used as `Arc<dyn Responder>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a responder stopped. Becomes the turn's `error` event (§10.5),
/// except [`ResponderError::Cancelled`], which ends it silently.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    /// `{"type":"error","code":"custom","message":…,"allow_retry":…}`: the
    /// message is shown to the user (the reference's `CustomStreamError`).
    #[error("{message}")]
    Custom {
        /// Shown verbatim.
        message: String,
        /// Whether the client offers a retry.
        allow_retry: bool,
    },
    /// `{"type":"error","code":<code>,"allow_retry":…}` without a message
    /// (the reference's `StreamError`); `allow_retry` defaults to true for
    /// `stream.error`, false otherwise.
    #[error("stream error {code}")]
    Stream {
        /// The error code.
        code: String,
        /// Overrides the code's default.
        allow_retry: Option<bool>,
    },
    /// The model failed (what the default agent returns).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Any other failure: the generic `stream.error` (retryable); the text
    /// is logged, not shown.
    #[error("{0}")]
    Other(String),
    /// The responder does not implement this hook.
    #[error("{0} is not implemented by this responder")]
    NotImplemented(&'static str),
    /// The client left or the server is stopping: stop quietly.
    #[error("the turn was cancelled")]
    Cancelled,
}

impl ResponderError {
    /// A user-visible error (`code: custom`).
    pub fn custom(message: impl Into<String>, allow_retry: bool) -> Self {
        ResponderError::Custom {
            message: message.into(),
            allow_retry,
        }
    }

    /// The `error` event this failure becomes.
    pub fn to_error_event(&self) -> ErrorEvent {
        match self {
            ResponderError::Custom {
                message,
                allow_retry,
            } => ErrorEvent::custom(message.clone(), *allow_retry),
            ResponderError::Stream { code, allow_retry } => ErrorEvent {
                code: code.clone(),
                message: None,
                allow_retry: allow_retry.unwrap_or(code == ErrorEvent::STREAM_ERROR),
            },
            ResponderError::Model(e) => ErrorEvent {
                code: ErrorEvent::STREAM_ERROR.to_owned(),
                message: e.user_message(),
                allow_retry: e.allow_retry(),
            },
            ResponderError::Other(_)
            | ResponderError::NotImplemented(_)
            | ResponderError::Cancelled => ErrorEvent::stream_error(),
        }
    }
}

impl From<Halt> for ResponderError {
    fn from(_: Halt) -> Self {
        ResponderError::Cancelled
    }
}

/// Dictated audio (`input.transcribe`, PROTOCOL.md §9.14).
#[derive(Clone, Debug)]
pub struct AudioInput {
    /// The decoded bytes.
    pub data: Vec<u8>,
    /// The MIME type as sent, e.g. `audio/webm;codecs=opus`.
    pub mime_type: String,
    /// The media type: `mime_type` up to the first `;` (`audio/webm`).
    pub media_type: String,
}

/// Context of a request that is not a streamed turn (sync actions,
/// feedback, transcription).
#[derive(Clone, Debug)]
pub struct RequestScope {
    /// The thread, when the request names one.
    pub thread: Option<ThreadMetadata>,
    /// The user and the app's request data.
    pub request: RequestContext,
    /// The provider's audio transcription, when a real model and a
    /// transcription model are configured (`input.transcribe` only; `None`
    /// elsewhere). [`AgentResponder`] dictates through it; a custom
    /// responder may too.
    pub transcriber: Option<Transcriber>,
}

/// The application's hooks. Only [`respond`](Responder::respond) is
/// required; every other method has the reference's default.
pub trait Responder: Send + Sync + 'static {
    /// Answers a turn. `input` is the new user message, or `None` for a
    /// turn resumed by `threads.add_client_tool_output` or
    /// `threads.add_structured_input` (the history has what happened).
    fn respond(
        &self,
        turn: TurnContext,
        input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>>;

    /// Handles a streamed widget action (`threads.custom_action`). `sender`
    /// is the widget item whose component fired it, if any. Default: not
    /// implemented (the turn ends with `stream.error`, as in the reference).
    fn action(
        &self,
        turn: TurnContext,
        action: Action,
        sender: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        let _ = (turn, action, sender);
        Box::pin(async { Err(ResponderError::NotImplemented("action")) })
    }

    /// Handles a non-streamed action (`threads.sync_custom_action`); may
    /// return an updated sender item, which the engine stores (the
    /// reference does not). Default: not implemented (HTTP 501).
    fn sync_action(
        &self,
        scope: RequestScope,
        action: Action,
        sender: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<Option<ThreadItem>, ResponderError>> {
        let _ = (scope, action, sender);
        Box::pin(async { Err(ResponderError::NotImplemented("sync_action")) })
    }

    /// Called after `items.feedback` was stored (the engine keeps every
    /// rating in its `feedback` table). Default: nothing more.
    fn add_feedback(
        &self,
        scope: RequestScope,
        item_ids: Vec<ItemId>,
        kind: FeedbackKind,
    ) -> BoxFuture<'static, ()> {
        let _ = (scope, item_ids, kind);
        Box::pin(async {})
    }

    /// Turns dictated audio into text for the composer
    /// (`input.transcribe`). Default: not implemented (HTTP 501).
    fn transcribe(
        &self,
        scope: RequestScope,
        audio: AudioInput,
    ) -> BoxFuture<'static, Result<String, ResponderError>> {
        let _ = (scope, audio);
        Box::pin(async { Err(ResponderError::NotImplemented("transcribe")) })
    }

    /// What a cancelled turn leaves in the thread (the client went away
    /// or the server stops). `pending` holds the items that were announced
    /// but not finished, in order. Whatever this returns is stored.
    /// Default: the reference's cleanup (§10.6): assistant messages with
    /// some text, then a hidden note telling the model the user cancelled.
    fn on_cancelled(&self, thread: &ThreadMetadata, pending: Vec<ThreadItem>) -> Vec<ThreadItem> {
        default_cancel_cleanup(thread, pending)
    }

    /// `stream_options` of every turn. Default: `allow_cancel: true`.
    fn stream_options(&self, thread: &ThreadMetadata, request: &RequestContext) -> StreamOptions {
        let _ = (thread, request);
        StreamOptions { allow_cancel: true }
    }
}

/// The text of the hidden note recorded when a client cancels (§10.6).
pub const CANCELLED_NOTE: &str =
    "The user cancelled the stream. Stop responding to the prior request.";

/// The reference's cleanup of a cancelled turn: keeps the pending
/// assistant messages that have non-whitespace text, and adds an
/// `sdk_hidden_context` note with [`CANCELLED_NOTE`].
pub fn default_cancel_cleanup(
    thread: &ThreadMetadata,
    pending: Vec<ThreadItem>,
) -> Vec<ThreadItem> {
    let mut keep: Vec<ThreadItem> = pending
        .into_iter()
        .filter(|item| match &item.kind {
            ItemKind::AssistantMessage(m) => !m.is_empty(),
            _ => false,
        })
        .collect();
    keep.push(ThreadItem::new(
        ItemId::generate(IdKind::SdkHiddenContext),
        thread.id.clone(),
        Timestamp::now(),
        ItemKind::SdkHiddenContext(SdkHiddenContextItem {
            content: CANCELLED_NOTE.to_owned(),
        }),
    ));
    keep
}

/// The default responder: the model agent (echo, Responses or Chat
/// Completions, with the engine's tools).
#[derive(Clone, Copy, Debug, Default)]
pub struct AgentResponder;

impl Responder for AgentResponder {
    fn respond(
        &self,
        turn: TurnContext,
        _input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move { turn.run_agent().await })
    }

    /// Transcribes through the provider's `audio/transcriptions` endpoint
    /// ([`RequestScope::transcriber`]); not implemented without one (the
    /// echo model, or transcription turned off).
    fn transcribe(
        &self,
        scope: RequestScope,
        audio: AudioInput,
    ) -> BoxFuture<'static, Result<String, ResponderError>> {
        Box::pin(async move {
            match scope.transcriber {
                Some(transcriber) => Ok(transcriber.transcribe(&audio).await?),
                None => Err(ResponderError::NotImplemented("transcribe")),
            }
        })
    }
}

/// What a responder emits a turn's events with. Cheap to clone.
///
/// The helpers choose the item ids and return once the event is on its
/// way to the client (a finished item is stored first). A responder can
/// wrap the model: here the echo model answers, then a follow-up is added.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use chatkit_actors::model::ModelConfig;
/// use chatkit_actors::protocol::{ItemKind, ThreadItem, ThreadStreamEvent};
/// use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
/// use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
///
/// struct FollowUp;
/// impl Responder for FollowUp {
///     fn respond(&self, turn: TurnContext, _input: Option<ThreadItem>) -> BoxFuture<'static, Result<(), ResponderError>> {
///         Box::pin(async move {
///             let first_turn = turn.history().len() == 1; // just this turn's user message
///             turn.run_agent().await?; // the model's answer, streamed
///             if first_turn {
///                 turn.message("Anything else?").await?;
///             }
///             Ok(())
///         })
///     }
/// }
///
/// actix_rt::System::new().block_on(async {
///     let dir = tempfile::tempdir().unwrap();
///     let mut config = EngineConfig::new(dir.path().join("chat.sqlite3"));
///     config.model = ModelConfig::echo(Duration::ZERO);
///     config.responder = Arc::new(FollowUp);
///     let engine = Engine::start(config).unwrap();
///     let body = br#"{"type": "threads.create", "params": {"input": {"content":
///         [{"type": "input_text", "text": "Hi"}], "attachments": [], "inference_options": {}}}}"#;
///     let ctx = RequestContext::new("user-42");
///     let EngineResponse::Stream(mut events) = engine.process(body, &ctx).await.unwrap() else {
///         unreachable!("threads.create streams")
///     };
///     let mut answers = Vec::new();
///     while let Some(event) = events.next_event().await {
///         if let ThreadStreamEvent::ThreadItemDone { item } = event {
///             if let ItemKind::AssistantMessage(message) = item.kind {
///                 answers.push(message.content[0].text.clone());
///             }
///         }
///     }
///     assert_eq!(answers, [r#"You said: "Hi""#, "Anything else?"]);
///     engine.shutdown().await;
/// });
/// ```
#[derive(Clone)]
pub struct TurnContext {
    params: Arc<AgentParams>,
    emitter: Emitter,
}

impl TurnContext {
    pub(crate) fn new(params: Arc<AgentParams>, emitter: Emitter) -> Self {
        Self { params, emitter }
    }

    /// The thread as it was when the turn started.
    pub fn thread(&self) -> &ThreadMetadata {
        &self.params.thread
    }

    /// The thread's items, oldest first, hidden ones included (the newest
    /// is this turn's user message, when there is one).
    pub fn history(&self) -> &[ThreadItem] {
        &self.params.history
    }

    /// The user and the app's request data.
    pub fn request(&self) -> &RequestContext {
        &self.params.request
    }

    /// Runs the model agent for this turn (what [`AgentResponder`] does),
    /// so a responder can add to its answer.
    pub async fn run_agent(&self) -> Result<(), ResponderError> {
        crate::agent::run_model(&self.emitter, &self.params).await
    }

    /// Emits any event as is (ids are the caller's to choose; use the
    /// helpers below to have them generated). `done`, `replaced` and
    /// `removed` items are stored before the client sees them.
    pub async fn emit(&self, event: ThreadStreamEvent) -> Result<(), ResponderError> {
        Ok(self.emitter.event(event).await?)
    }

    /// Sets the thread's title; the client gets `thread.updated`.
    pub async fn set_title(&self, title: impl Into<String>) -> Result<(), ResponderError> {
        Ok(self
            .emitter
            .emit(AgentOutput::SetTitle(title.into()))
            .await?)
    }

    fn new_item(&self, kind: IdKind, item: ItemKind) -> ThreadItem {
        ThreadItem::new(
            ItemId::generate(kind),
            self.params.thread.id.clone(),
            Timestamp::now(),
            item,
        )
    }

    /// `thread.item.added` for `item`.
    async fn added(&self, item: &ThreadItem) -> Result<(), ResponderError> {
        self.emit(ThreadStreamEvent::ThreadItemAdded { item: item.clone() })
            .await
    }

    /// `thread.item.updated` for the item `item_id`.
    async fn updated(
        &self,
        item_id: &ItemId,
        update: ThreadItemUpdate,
    ) -> Result<(), ResponderError> {
        self.emit(ThreadStreamEvent::ThreadItemUpdated {
            item_id: item_id.clone(),
            update,
        })
        .await
    }

    async fn done(&self, item: ThreadItem) -> Result<ThreadItem, ResponderError> {
        self.emit(ThreadStreamEvent::ThreadItemDone { item: item.clone() })
            .await?;
        Ok(item)
    }

    /// A notice (markdown) shown in the thread; not stored.
    pub async fn notice(
        &self,
        level: NoticeLevel,
        message: impl Into<String>,
        title: Option<String>,
    ) -> Result<(), ResponderError> {
        self.emit(ThreadStreamEvent::Notice {
            level,
            message: message.into(),
            title,
        })
        .await
    }

    /// A transient status line (`progress_update`); not stored.
    pub async fn progress(
        &self,
        text: impl Into<String>,
        icon: Option<String>,
    ) -> Result<(), ResponderError> {
        self.emit(ThreadStreamEvent::ProgressUpdate {
            icon,
            text: text.into(),
        })
        .await
    }

    /// A fire-and-forget client hook (`client_effect`); not stored.
    pub async fn client_effect(
        &self,
        name: impl Into<String>,
        data: Map<String, Value>,
    ) -> Result<(), ResponderError> {
        self.emit(ThreadStreamEvent::ClientEffect {
            name: name.into(),
            data,
        })
        .await
    }

    /// Stores context for the model that the client never sees.
    pub async fn hidden_context(&self, content: Value) -> Result<ThreadItem, ResponderError> {
        let item = self.new_item(
            IdKind::Message,
            ItemKind::HiddenContextItem(HiddenContextItem {
                content: Some(content),
            }),
        );
        self.done(item).await
    }

    /// A whole assistant message at once.
    pub async fn message(&self, text: impl Into<String>) -> Result<ThreadItem, ResponderError> {
        let content = vec![AssistantMessageContent::text(text)];
        let item = self.new_item(
            IdKind::Message,
            ItemKind::AssistantMessage(AssistantMessageItem { content }),
        );
        self.done(item).await
    }

    /// Starts a streamed assistant message (`added`, then a content part).
    ///
    /// ```
    /// use chatkit_actors::protocol::{ThreadItem, ThreadStreamEvent};
    /// use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
    /// # use std::sync::Arc;
    /// # use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
    /// # fn run_turn(responder: impl Responder) -> Vec<ThreadStreamEvent> {
    /// #     actix_rt::System::new().block_on(async {
    /// #         let dir = tempfile::tempdir().unwrap();
    /// #         let mut config = EngineConfig::new(dir.path().join("chat.sqlite3"));
    /// #         config.responder = Arc::new(responder);
    /// #         let engine = Engine::start(config).unwrap();
    /// #         let body = br#"{"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "Hi"}], "attachments": [], "inference_options": {}}}}"#;
    /// #         let ctx = RequestContext::new("user-42");
    /// #         let EngineResponse::Stream(events) = engine.process(body, &ctx).await.unwrap() else { unreachable!() };
    /// #         let events = futures_util::StreamExt::collect(events).await;
    /// #         engine.shutdown().await;
    /// #         events
    /// #     })
    /// # }
    ///
    /// struct Status;
    /// impl Responder for Status {
    ///     fn respond(&self, turn: TurnContext, _input: Option<ThreadItem>) -> BoxFuture<'static, Result<(), ResponderError>> {
    ///         Box::pin(async move {
    ///             let mut answer = turn.assistant_message().await?;
    ///             answer.delta("Your order ").await?;
    ///             answer.delta("ships tomorrow.").await?;
    ///             answer.finish().await // the whole text, then the stored item
    ///         })
    ///     }
    /// }
    ///
    /// // One `threads.create` through an Engine, as in the `TurnContext` example.
    /// let events = run_turn(Status);
    /// let updates: Vec<_> = events.iter().filter_map(|event| match event {
    ///     ThreadStreamEvent::ThreadItemUpdated { update, .. } => Some(update.type_name()),
    ///     _ => None,
    /// }).collect();
    /// assert_eq!(updates, [
    ///     "assistant_message.content_part.added",
    ///     "assistant_message.content_part.text_delta",
    ///     "assistant_message.content_part.text_delta",
    ///     "assistant_message.content_part.done",
    /// ]);
    /// ```
    pub async fn assistant_message(&self) -> Result<TextStream, ResponderError> {
        let item = self.new_item(
            IdKind::Message,
            ItemKind::AssistantMessage(AssistantMessageItem { content: vec![] }),
        );
        self.added(&item).await?;
        let update = ThreadItemUpdate::AssistantMessageContentPartAdded {
            content_index: 0,
            content: AssistantMessageContent::text(""),
        };
        self.updated(&item.id, update).await?;
        Ok(TextStream {
            turn: self.clone(),
            item,
            text: String::new(),
        })
    }

    /// A widget shown as one finished item.
    pub async fn widget(
        &self,
        widget: impl Into<WidgetRoot>,
        copy_text: Option<String>,
    ) -> Result<ThreadItem, ResponderError> {
        let item = self.new_item(
            IdKind::Message,
            ItemKind::Widget(WidgetItem {
                widget: widget.into(),
                copy_text,
            }),
        );
        self.done(item).await
    }

    /// Starts a streamed widget: the first state goes out as
    /// `thread.item.added`; each [`WidgetStream::update`] sends only the
    /// differences (PROTOCOL.md §8.6); [`WidgetStream::finish`] stores it.
    ///
    /// ```
    /// use chatkit_actors::protocol::{ThreadItem, ThreadStreamEvent};
    /// use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
    /// use chatkit_actors::widgets::{Card, Text, Title};
    /// # use std::sync::Arc;
    /// # use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
    /// # fn run_turn(responder: impl Responder) -> Vec<ThreadStreamEvent> {
    /// #     actix_rt::System::new().block_on(async {
    /// #         let dir = tempfile::tempdir().unwrap();
    /// #         let mut config = EngineConfig::new(dir.path().join("chat.sqlite3"));
    /// #         config.responder = Arc::new(responder);
    /// #         let engine = Engine::start(config).unwrap();
    /// #         let body = br#"{"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "Hi"}], "attachments": [], "inference_options": {}}}}"#;
    /// #         let ctx = RequestContext::new("user-42");
    /// #         let EngineResponse::Stream(events) = engine.process(body, &ctx).await.unwrap() else { unreachable!() };
    /// #         let events = futures_util::StreamExt::collect(events).await;
    /// #         engine.shutdown().await;
    /// #         events
    /// #     })
    /// # }
    ///
    /// fn forecast(text: &str, streaming: bool) -> Card {
    ///     Card::new()
    ///         .child(Title::new("Forecast"))
    ///         .child(Text::new(text).id("body").streaming(streaming))
    /// }
    ///
    /// struct Weather;
    /// impl Responder for Weather {
    ///     fn respond(&self, turn: TurnContext, _input: Option<ThreadItem>) -> BoxFuture<'static, Result<(), ResponderError>> {
    ///         Box::pin(async move {
    ///             let mut widget = turn.stream_widget(forecast("", true), None).await?;
    ///             widget.update(forecast("Sunny", true)).await?; // a text delta
    ///             widget.update(forecast("Sunny, 21 °C", true)).await?; // another
    ///             widget.update(forecast("Sunny, 21 °C", false)).await?; // the whole root
    ///             widget.set_copy_text(Some("Sunny, 21 °C".into()));
    ///             widget.finish().await.map(drop)
    ///         })
    ///     }
    /// }
    ///
    /// // One `threads.create` through an Engine, as in the `TurnContext` example.
    /// let events = run_turn(Weather);
    /// let updates: Vec<_> = events.iter().filter_map(|event| match event {
    ///     ThreadStreamEvent::ThreadItemUpdated { update, .. } => Some(update.type_name()),
    ///     _ => None,
    /// }).collect();
    /// assert_eq!(updates, [
    ///     "widget.streaming_text.value_delta",
    ///     "widget.streaming_text.value_delta",
    ///     "widget.root.updated",
    /// ]);
    /// ```
    pub async fn stream_widget(
        &self,
        first: impl Into<WidgetRoot>,
        copy_text: Option<String>,
    ) -> Result<WidgetStream, ResponderError> {
        let (streamer, added) =
            WidgetStreamer::start(self.params.thread.id.clone(), first, copy_text);
        self.emit(added).await?;
        Ok(WidgetStream {
            turn: self.clone(),
            streamer,
        })
    }

    /// Replaces a stored item (e.g. a widget updated by an action); stored
    /// and sent as `thread.item.replaced`.
    pub async fn replace(&self, item: ThreadItem) -> Result<(), ResponderError> {
        self.emit(ThreadStreamEvent::ThreadItemReplaced { item })
            .await
    }

    /// Asks the user the given questions in place of the composer; the
    /// answer arrives as `threads.add_structured_input`.
    pub async fn structured_input(
        &self,
        inputs: Vec<StructuredInput>,
    ) -> Result<ThreadItem, ResponderError> {
        let item = self.new_item(
            IdKind::Message,
            ItemKind::StructuredInput(StructuredInputItem {
                status: StructuredInputStatus::Pending,
                inputs,
            }),
        );
        self.done(item).await
    }

    /// Asks the client to run a tool; ends the turn's useful work: the
    /// client answers with `threads.add_client_tool_output`, which runs
    /// [`Responder::respond`] again.
    pub async fn client_tool_call(
        &self,
        name: impl Into<String>,
        arguments: Map<String, Value>,
    ) -> Result<ThreadItem, ResponderError> {
        let call = ClientToolCallItem {
            status: ClientToolCallStatus::Pending,
            call_id: crate::ids::generate(IdKind::ToolCall).replacen("tc_", "call_", 1),
            name: name.into(),
            arguments,
            output: None,
        };
        let item = self.new_item(IdKind::ToolCall, ItemKind::ClientToolCall(call));
        self.done(item).await
    }

    /// Starts a generated image (`added` without an image).
    pub async fn generated_image(&self) -> Result<ImageStream, ResponderError> {
        let item = self.new_item(
            IdKind::Message,
            ItemKind::GeneratedImage(GeneratedImageItem { image: None }),
        );
        self.added(&item).await?;
        Ok(ImageStream {
            turn: self.clone(),
            item,
        })
    }

    /// Starts a custom workflow (`added` with no tasks).
    ///
    /// ```
    /// use chatkit_actors::protocol::{
    ///     ItemKind, Task, TaskKind, TaskStatusIndicator, ThreadItem, ThreadStreamEvent, WorkflowSummary,
    /// };
    /// use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
    /// # use std::sync::Arc;
    /// # use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
    /// # fn run_turn(responder: impl Responder) -> Vec<ThreadStreamEvent> {
    /// #     actix_rt::System::new().block_on(async {
    /// #         let dir = tempfile::tempdir().unwrap();
    /// #         let mut config = EngineConfig::new(dir.path().join("chat.sqlite3"));
    /// #         config.responder = Arc::new(responder);
    /// #         let engine = Engine::start(config).unwrap();
    /// #         let body = br#"{"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "Hi"}], "attachments": [], "inference_options": {}}}}"#;
    /// #         let ctx = RequestContext::new("user-42");
    /// #         let EngineResponse::Stream(events) = engine.process(body, &ctx).await.unwrap() else { unreachable!() };
    /// #         let events = futures_util::StreamExt::collect(events).await;
    /// #         engine.shutdown().await;
    /// #         events
    /// #     })
    /// # }
    ///
    /// fn step(status_indicator: TaskStatusIndicator, title: &str) -> Task {
    ///     let kind = TaskKind::Custom { title: Some(title.into()), icon: None, content: None };
    ///     Task { status_indicator, kind }
    /// }
    ///
    /// struct Lookup;
    /// impl Responder for Lookup {
    ///     fn respond(&self, turn: TurnContext, _input: Option<ThreadItem>) -> BoxFuture<'static, Result<(), ResponderError>> {
    ///         Box::pin(async move {
    ///             let mut workflow = turn.workflow(true).await?;
    ///             let search = workflow.add_task(step(TaskStatusIndicator::Loading, "Searching orders")).await?;
    ///             workflow.update_task(search, step(TaskStatusIndicator::Complete, "Found 2 orders")).await?;
    ///             let summary = WorkflowSummary::Custom { title: "Checked your orders".into(), icon: None };
    ///             workflow.finish(Some(summary)).await?; // stored, collapsed
    ///             turn.message("Both orders ship tomorrow.").await.map(drop)
    ///         })
    ///     }
    /// }
    ///
    /// // One `threads.create` through an Engine, as in the `TurnContext` example.
    /// let events = run_turn(Lookup);
    /// let workflow = events.iter().find_map(|event| match event {
    ///     ThreadStreamEvent::ThreadItemDone { item } => match &item.kind {
    ///         ItemKind::Workflow(w) => Some(&w.workflow),
    ///         _ => None,
    ///     },
    ///     _ => None,
    /// }).unwrap();
    /// assert_eq!(workflow.tasks, [step(TaskStatusIndicator::Complete, "Found 2 orders")]);
    /// assert!(!workflow.expanded);
    /// ```
    pub async fn workflow(&self, expanded: bool) -> Result<WorkflowStream, ResponderError> {
        let workflow = Workflow {
            kind: WorkflowType::Custom,
            tasks: vec![],
            summary: None,
            expanded,
        };
        let item = self.new_item(
            IdKind::Workflow,
            ItemKind::Workflow(WorkflowItem { workflow }),
        );
        self.added(&item).await?;
        Ok(WorkflowStream {
            turn: self.clone(),
            item,
            started: Instant::now(),
        })
    }
}

/// A streamed assistant message; see [`TurnContext::assistant_message`].
pub struct TextStream {
    turn: TurnContext,
    item: ThreadItem,
    text: String,
}

impl TextStream {
    /// The message's id.
    pub fn id(&self) -> &ItemId {
        &self.item.id
    }

    /// Appends text.
    pub async fn delta(&mut self, text: &str) -> Result<(), ResponderError> {
        if text.is_empty() {
            return Ok(());
        }
        self.text.push_str(text);
        let update = ThreadItemUpdate::AssistantMessageContentPartTextDelta {
            content_index: 0,
            delta: text.to_owned(),
        };
        self.turn.updated(&self.item.id, update).await
    }

    /// Finishes the message (`content_part.done`, then `done`).
    pub async fn finish(self) -> Result<(), ResponderError> {
        let part = AssistantMessageContent::text(self.text);
        let update = ThreadItemUpdate::AssistantMessageContentPartDone {
            content_index: 0,
            content: part.clone(),
        };
        self.turn.updated(&self.item.id, update).await?;
        let mut item = self.item;
        item.kind = ItemKind::AssistantMessage(AssistantMessageItem {
            content: vec![part],
        });
        self.turn.done(item).await.map(|_| ())
    }
}

/// A widget being streamed; see [`TurnContext::stream_widget`].
pub struct WidgetStream {
    turn: TurnContext,
    streamer: WidgetStreamer,
}

impl WidgetStream {
    /// The widget item's id.
    pub fn id(&self) -> &ItemId {
        self.streamer.item_id()
    }

    /// Moves the widget to its next state. A state the diff rules refuse
    /// (a streamed text that is not an append of the previous one) is an
    /// error, as in the reference; the turn then ends with `stream.error`.
    pub async fn update(&mut self, next: impl Into<WidgetRoot>) -> Result<(), ResponderError> {
        let events = self
            .streamer
            .update(next)
            .map_err(|e| ResponderError::Other(format!("widget update refused: {e}")))?;
        for event in events {
            self.turn.emit(event).await?;
        }
        Ok(())
    }

    /// Sets the text of the client's copy button.
    pub fn set_copy_text(&mut self, copy_text: Option<String>) {
        self.streamer.set_copy_text(copy_text);
    }

    /// Finishes the widget: `thread.item.done` with the last state.
    pub async fn finish(self) -> Result<ThreadItem, ResponderError> {
        let item = self.streamer.item();
        self.turn.emit(self.streamer.finish()).await?;
        Ok(item)
    }
}

/// A generated image in progress; see [`TurnContext::generated_image`].
pub struct ImageStream {
    turn: TurnContext,
    item: ThreadItem,
}

impl ImageStream {
    /// A partial preview, with an optional completion fraction (0..1).
    pub async fn progress(
        &self,
        image: GeneratedImage,
        progress: Option<f64>,
    ) -> Result<(), ResponderError> {
        let update = ThreadItemUpdate::GeneratedImageUpdated { image, progress };
        self.turn.updated(&self.item.id, update).await
    }

    /// The final image (`done`).
    pub async fn finish(self, image: GeneratedImage) -> Result<ThreadItem, ResponderError> {
        let mut item = self.item;
        item.kind = ItemKind::GeneratedImage(GeneratedImageItem { image: Some(image) });
        self.turn.done(item).await
    }
}

/// A workflow in progress; see [`TurnContext::workflow`].
pub struct WorkflowStream {
    turn: TurnContext,
    item: ThreadItem,
    started: Instant,
}

impl WorkflowStream {
    fn workflow(&mut self) -> &mut Workflow {
        match &mut self.item.kind {
            ItemKind::Workflow(w) => &mut w.workflow,
            _ => unreachable!("a workflow stream holds a workflow item"),
        }
    }

    /// Adds a task at the end; returns its index.
    pub async fn add_task(&mut self, task: Task) -> Result<usize, ResponderError> {
        let index = self.workflow().tasks.len();
        self.workflow().tasks.push(task.clone());
        let update = ThreadItemUpdate::WorkflowTaskAdded {
            task_index: index,
            task,
        };
        self.turn.updated(&self.item.id, update).await?;
        Ok(index)
    }

    /// Replaces the task at `index`.
    pub async fn update_task(&mut self, index: usize, task: Task) -> Result<(), ResponderError> {
        match self.workflow().tasks.get_mut(index) {
            Some(slot) => *slot = task.clone(),
            None => {
                return Err(ResponderError::Other(format!(
                    "workflow has no task {index}"
                )));
            }
        }
        let update = ThreadItemUpdate::WorkflowTaskUpdated {
            task_index: index,
            task,
        };
        self.turn.updated(&self.item.id, update).await
    }

    /// Ends the workflow (`done`), collapsed, with a summary: the given
    /// one, or its duration in seconds.
    pub async fn finish(
        mut self,
        summary: Option<WorkflowSummary>,
    ) -> Result<ThreadItem, ResponderError> {
        let duration = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX);
        let workflow = self.workflow();
        workflow.summary = Some(summary.unwrap_or(WorkflowSummary::Duration { duration }));
        workflow.expanded = false;
        self.turn.done(self.item).await
    }
}
