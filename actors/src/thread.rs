//! `ThreadActor`: one per active thread (and user).
//!
//! Owns the thread's state ([`ThreadMetadata`]) and a bounded cache of its
//! newest items, so a turn never re-reads the thread from SQLite. All work
//! on one thread passes through its mailbox, in order: a second message
//! sent while an answer streams waits in [`ThreadActor::queue`] until that
//! turn ends, and its model input then includes that answer.
//!
//! Messages it accepts:
//! - [`Deliver`] from the [`Registry`](crate::registry::Registry): a
//!   client command (new thread, user message, retry, rename, delete). The
//!   registry is the only sender and every command carries its own reply
//!   channel, so the number queued is bounded by the requests in flight.
//! - [`AgentEmitted`] / [`AgentFinished`] from the turn's AgentActor, which
//!   awaits each reply (backpressure on the model stream).
//! - [`CancelTurn`] from the registry at shutdown, and [`Retire`] when the
//!   registry agreed that the actor has been idle long enough.
//!
//! Mailbox capacity: [`THREAD_MAILBOX_CAPACITY`].
//!
//! Events of a turn go to the client through a bounded channel with
//! `try_send`: the model stream never waits on a browser. A closed channel
//! means the client left; a full one means it stopped reading. Either way
//! the turn is cancelled (§10.6): the partial assistant message is kept if
//! it has text, and a hidden note records the cancellation.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use indexmap::IndexMap;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, info, warn};

use crate::agent::{
    AgentActor, AgentEmitted, AgentFinished, AgentOutput, AgentParams, StopAgent, TurnGone, TurnId,
};
use crate::engine::{EventStream, ThreadDeps};
use crate::error::EngineError;
use crate::ids::{IdKind, ItemId};
use crate::protocol::{
    ErrorEvent, ItemKind, Page, SdkHiddenContextItem, StreamOptions, Thread, ThreadItem,
    ThreadMetadata, ThreadStreamEvent, UserMessageItem,
};
use crate::registry::{Idle, Registry, ThreadKey};
use crate::rows;
use crate::store::WriteOp;
use crate::time::Timestamp;

/// Capacity of a ThreadActor's mailbox. Senders (the registry's `do_send`
/// and the agent's awaited `send`) are few per thread, so a small number
/// suffices; `do_send` from the registry may exceed it, bounded by the
/// requests in flight.
pub const THREAD_MAILBOX_CAPACITY: usize = 64;

/// The text of the hidden note recorded when a client cancels (§10.6).
pub const CANCELLED_NOTE: &str =
    "The user cancelled the stream. Stop responding to the prior request.";

/// How a new ThreadActor gets its state.
pub enum Initial {
    /// A thread created by `threads.create`: nothing to load, nothing stored
    /// yet (the first turn stores it together with the first message).
    New(ThreadMetadata),
    /// An existing thread: load it (and its newest items) from the store.
    Load,
}

/// A client command for one thread. Each carries its reply channel; the
/// reply is sent when the command is accepted (streams) or done (JSON).
pub enum Command {
    /// `threads.create`: store the thread and its first message, then answer.
    Create {
        /// The first user message (its id and time already chosen).
        message: UserMessageItem,
        /// Attachments to mark as belonging to this thread.
        attachments: Vec<crate::protocol::Attachment>,
        /// Where the event stream goes once the thread is stored.
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
    },
    /// `threads.add_user_message`.
    UserMessage {
        /// The user message.
        message: UserMessageItem,
        /// Attachments to mark as belonging to this thread.
        attachments: Vec<crate::protocol::Attachment>,
        /// Where the event stream goes once the message is stored.
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
    },
    /// `threads.retry_after_item`.
    Retry {
        /// The user message to answer again.
        item_id: ItemId,
        /// Where the event stream goes once later items are deleted.
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
    },
    /// `threads.update`.
    Rename {
        /// The new title.
        title: String,
        /// The thread as saved (empty items page).
        reply: oneshot::Sender<Result<Thread, EngineError>>,
    },
    /// `threads.delete`.
    Delete {
        /// Done once the thread and its items are deleted.
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
}

impl Command {
    /// Answers the command with an error without running it.
    pub fn refuse(self, error: EngineError) {
        // A closed reply channel means the requester left: nothing to tell.
        match self {
            Command::Create { reply, .. }
            | Command::UserMessage { reply, .. }
            | Command::Retry { reply, .. } => drop(reply.send(Err(error))),
            Command::Rename { reply, .. } => drop(reply.send(Err(error))),
            Command::Delete { reply } => drop(reply.send(Err(error))),
        }
    }
}

/// A command from the registry.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Command);

/// Cancel the running turn, if any, as a disconnect would; answered once
/// its partial answer and note are stored. Queued commands are refused.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelTurn;

/// The registry removed this actor: stop now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

/// The client of a turn went away (its event channel closed).
#[derive(Message)]
#[rtype(result = "()")]
struct ClientGone(TurnId);

/// An item the client has seen announced but not finished.
struct Pending {
    seq: i64,
    item: ThreadItem,
}

/// The state of the running turn.
struct Turn {
    id: TurnId,
    /// Events to the client; `None` once it left.
    events: Option<mpsc::Sender<ThreadStreamEvent>>,
    agent: Option<Addr<AgentActor>>,
    /// Announced (`added`) items not yet done, in announcement order.
    pending: IndexMap<ItemId, Pending>,
    /// The thread as last reported to the client (§10.4).
    snapshot: ThreadMetadata,
    /// Set once cancellation started; later cancels just wait.
    cancelling: bool,
    /// Watches the client's channel for closing while no event flows.
    watcher: Option<SpawnHandle>,
    /// When the turn started, until its first agent event was forwarded.
    first_output: Option<std::time::Instant>,
    span: tracing::Span,
}

/// The loaded thread.
struct Loaded {
    meta: ThreadMetadata,
    /// Newest items, oldest first, with their sequence numbers.
    items: VecDeque<(i64, ThreadItem)>,
    /// Next sequence number to hand out.
    next_seq: i64,
    /// Whether the thread exists in the store yet (`threads.create` stores
    /// it with its first message).
    stored: bool,
}

enum State {
    Loading,
    Ready(Box<Loaded>),
    /// No such thread for this user (or it was deleted).
    Missing,
}

/// One thread's actor. See the module documentation.
pub struct ThreadActor {
    key: ThreadKey,
    deps: Arc<ThreadDeps>,
    registry: Addr<Registry>,
    initial: Option<Initial>,
    state: State,
    queue: VecDeque<Command>,
    turn: Option<Turn>,
    /// A store write outside a turn (rename, delete) is in flight.
    busy: bool,
    /// Commands received so far; the idle handshake compares it with the
    /// number the registry routed, so no command is lost when retiring.
    received: u64,
    next_turn: TurnId,
    idle_timer: Option<SpawnHandle>,
    /// Answered when a cancellation in progress has been stored.
    cancel_waiters: Vec<oneshot::Sender<()>>,
    span: tracing::Span,
}

impl ThreadActor {
    /// An actor for `key`, reporting idleness to `registry`.
    pub(crate) fn new(
        key: ThreadKey,
        deps: Arc<ThreadDeps>,
        registry: Addr<Registry>,
        initial: Initial,
    ) -> Self {
        let span = tracing::info_span!("thread", thread_id = %key.thread, user_id = %key.user);
        Self {
            key,
            deps,
            registry,
            initial: Some(initial),
            state: State::Loading,
            queue: VecDeque::new(),
            turn: None,
            busy: false,
            received: 0,
            next_turn: 1,
            idle_timer: None,
            cancel_waiters: Vec::new(),
            span,
        }
    }

    fn loaded(&mut self) -> &mut Loaded {
        match &mut self.state {
            State::Ready(l) => l,
            _ => unreachable!("thread state used before it was loaded"),
        }
    }

    fn load(&mut self, ctx: &mut Context<Self>) {
        let reads = self.deps.store.reads.clone();
        let user = self.key.user.0.clone();
        let thread = self.key.thread.0.clone();
        let limit = self.deps.max_cached_items;
        let fut = async move {
            let Some(row) = reads.load_thread(&user, &thread).await? else {
                return Ok(None);
            };
            let meta = rows::thread_from_row(&row)?;
            let recent = reads.load_recent_items(&user, &thread, limit).await?;
            let max_seq = reads.max_seq(&thread).await?;
            let items = recent
                .iter()
                .map(|r| Ok((r.seq, rows::item_from_row(r)?)))
                .collect::<Result<VecDeque<_>, crate::store::StoreError>>()?;
            Ok::<_, crate::store::StoreError>(Some(Loaded {
                meta,
                items,
                next_seq: max_seq + 1,
                stored: true,
            }))
        };
        ctx.wait(
            fut.instrument(self.span.clone())
                .into_actor(self)
                .map(|res, act, ctx| {
                    match res {
                        Ok(Some(loaded)) => act.state = State::Ready(Box::new(loaded)),
                        Ok(None) => act.state = State::Missing,
                        Err(e) => {
                            warn!(parent: &act.span, error = %e, "loading the thread failed");
                            for cmd in act.queue.drain(..) {
                                cmd.refuse(EngineError::Internal(format!(
                                    "loading the thread failed: {e}"
                                )));
                            }
                            act.state = State::Missing;
                        }
                    }
                    act.pump(ctx);
                }),
        );
    }

    /// Runs queued commands until one starts a turn or a write.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.turn.is_none() && !self.busy {
            let Some(cmd) = self.queue.pop_front() else {
                break;
            };
            match &self.state {
                State::Loading => {
                    self.queue.push_front(cmd);
                    return;
                }
                State::Missing => cmd.refuse(EngineError::NotFound("thread")),
                State::Ready(_) => self.run(cmd, ctx),
            }
        }
        if self.turn.is_none() && !self.busy && self.queue.is_empty() {
            self.arm_idle_timer(ctx);
        }
    }

    fn arm_idle_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.idle_timer.take() {
            ctx.cancel_future(h);
        }
        // A missing thread has nothing to keep: retire at once.
        let after = match self.state {
            State::Missing => Duration::ZERO,
            _ => self.deps.idle_timeout,
        };
        self.idle_timer = Some(ctx.run_later(after, |act, _ctx| {
            act.idle_timer = None;
            if act.turn.is_none() && !act.busy && act.queue.is_empty() {
                act.registry.do_send(Idle {
                    key: act.key.clone(),
                    seen: act.received,
                });
            }
        }));
    }

    fn run(&mut self, cmd: Command, ctx: &mut Context<Self>) {
        match cmd {
            Command::Create {
                message,
                attachments,
                reply,
            } => self.start_message_turn(message, attachments, true, reply, ctx),
            Command::UserMessage {
                message,
                attachments,
                reply,
            } => self.start_message_turn(message, attachments, false, reply, ctx),
            Command::Retry { item_id, reply } => self.start_retry_turn(item_id, reply, ctx),
            Command::Rename { title, reply } => {
                let loaded = self.loaded();
                loaded.meta.title = Some(title);
                let meta = loaded.meta.clone();
                let op = WriteOp::UpsertThread(rows::thread_row(&self.key.user, &meta));
                self.write_then(vec![op], ctx, move |_act, res| {
                    let _ = reply.send(res.map(|()| meta.to_wire(Page::default())));
                });
            }
            Command::Delete { reply } => {
                let op = WriteOp::DeleteThread {
                    user_id: self.key.user.0.clone(),
                    thread_id: self.key.thread.0.clone(),
                };
                self.write_then(vec![op], ctx, move |act, res| {
                    if res.is_ok() {
                        info!(parent: &act.span, "thread deleted");
                        act.state = State::Missing;
                    }
                    let _ = reply.send(res);
                });
            }
        }
    }

    /// A store write outside a turn; later commands wait for it.
    fn write_then<F>(&mut self, ops: Vec<WriteOp>, ctx: &mut Context<Self>, then: F)
    where
        F: FnOnce(&mut Self, Result<(), EngineError>) + 'static,
    {
        self.busy = true;
        let writer = self.deps.store.writer.clone();
        ctx.spawn(async move { writer.write(ops).await }.into_actor(self).map(
            move |res, act, ctx| {
                act.busy = false;
                then(act, res.map_err(EngineError::from));
                act.pump(ctx);
            },
        ));
    }

    fn new_turn(&mut self, ctx: &mut Context<Self>) -> (TurnId, EventStream) {
        let id = self.next_turn;
        self.next_turn += 1;
        let (tx, rx) = mpsc::channel(self.deps.event_buffer);
        let closed = tx.clone();
        let watcher = ctx.spawn(async move { closed.closed().await }.into_actor(self).map(
            move |(), act, ctx| {
                act.client_gone(id, ctx);
            },
        ));
        let snapshot = self.loaded().meta.clone();
        let span = tracing::info_span!(parent: &self.span, "turn", turn = id, ttft_ms = tracing::field::Empty);
        self.turn = Some(Turn {
            id,
            events: Some(tx),
            agent: None,
            pending: IndexMap::new(),
            snapshot,
            cancelling: false,
            watcher: Some(watcher),
            first_output: Some(std::time::Instant::now()),
            span,
        });
        (id, EventStream::new(rx))
    }

    fn start_message_turn(
        &mut self,
        message: UserMessageItem,
        attachments: Vec<crate::protocol::Attachment>,
        create: bool,
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        let user = self.key.user.clone();
        let thread_id = self.key.thread.clone();
        let item = ThreadItem {
            id: ItemId::generate(IdKind::Message),
            thread_id: thread_id.clone(),
            created_at: Timestamp::now(),
            kind: ItemKind::UserMessage(message),
        };
        let loaded = self.loaded();
        let seq = loaded.next_seq;
        loaded.next_seq += 1;
        let mut ops = Vec::with_capacity(2 + attachments.len());
        if !loaded.stored {
            ops.push(WriteOp::UpsertThread(rows::thread_row(&user, &loaded.meta)));
        }
        for mut a in attachments {
            a.thread_id = Some(thread_id.clone());
            ops.push(WriteOp::UpsertAttachment(rows::attachment_row(&user, &a)));
        }
        ops.push(WriteOp::UpsertItem {
            user_id: user.0.clone(),
            item: rows::item_row(&item, seq),
        });
        let (turn_id, stream) = self.new_turn(ctx);
        let writer = self.deps.store.writer.clone();
        let span = self
            .turn
            .as_ref()
            .map_or_else(tracing::Span::none, |t| t.span.clone());
        ctx.wait(
            async move { writer.write(ops).await }
                .instrument(span)
                .into_actor(self)
                .map(move |res, act, ctx| {
                    if let Err(e) = res {
                        warn!(parent: &act.span, error = %e, "storing the user message failed");
                        act.end_turn_silently(ctx);
                        if create {
                            act.state = State::Missing;
                        }
                        let _ = reply.send(Err(e.into()));
                        act.pump(ctx);
                        return;
                    }
                    let loaded = act.loaded();
                    loaded.stored = true;
                    let thread_created = create.then(|| loaded.meta.to_wire(Page::default()));
                    act.cache_put(seq, item.clone());
                    // A dropped receiver shows up as a failed forward below, which
                    // cancels the turn like any other disconnect.
                    let _ = reply.send(Ok(stream));
                    if let Some(thread) = thread_created {
                        act.forward(turn_id, ThreadStreamEvent::ThreadCreated { thread }, ctx);
                    }
                    act.forward(turn_id, ThreadStreamEvent::ThreadItemDone { item }, ctx);
                    act.begin_pipeline(turn_id, ctx);
                }),
        );
    }

    fn start_retry_turn(
        &mut self,
        item_id: ItemId,
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        let reads = self.deps.store.reads.clone();
        let writer = self.deps.store.writer.clone();
        let user = self.key.user.0.clone();
        let thread = self.key.thread.0.clone();
        let limit = self.deps.max_cached_items;
        self.busy = true;
        let fut = async move {
            let Some(row) = reads.load_item(&user, &thread, item_id.as_str()).await? else {
                return Err(EngineError::NotFound("item"));
            };
            if row.item_type != "user_message" {
                return Err(EngineError::bad_request(
                    "invalid_request",
                    format!(
                        "item {} is a {}, not a user_message: only user messages can be retried",
                        row.id, row.item_type
                    ),
                ));
            }
            writer
                .write(vec![WriteOp::DeleteItemsFromSeq {
                    user_id: user.clone(),
                    thread_id: thread.clone(),
                    from_seq: row.seq + 1,
                }])
                .await?;
            let recent = reads.load_recent_items(&user, &thread, limit).await?;
            let items = recent
                .iter()
                .map(|r| Ok((r.seq, rows::item_from_row(r)?)))
                .collect::<Result<VecDeque<_>, crate::store::StoreError>>()?;
            Ok(items)
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| {
            act.busy = false;
            match res {
                Err(e) => {
                    let _ = reply.send(Err(e));
                    act.pump(ctx);
                }
                Ok(items) => {
                    act.loaded().items = items;
                    let (turn_id, stream) = act.new_turn(ctx);
                    let _ = reply.send(Ok(stream));
                    act.begin_pipeline(turn_id, ctx);
                }
            }
        }));
    }

    /// `stream_options`, then the agent.
    fn begin_pipeline(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        let allow_cancel = self.deps.allow_cancel;
        self.forward(
            turn_id,
            ThreadStreamEvent::StreamOptions {
                stream_options: StreamOptions { allow_cancel },
            },
            ctx,
        );
        let Some(turn) = self
            .turn
            .as_ref()
            .filter(|t| t.id == turn_id && !t.cancelling)
        else {
            return;
        };
        let _entered = turn.span.clone().entered();
        let loaded = self.loaded();
        let params = AgentParams {
            turn: turn_id,
            thread: loaded.meta.clone(),
            history: loaded.items.iter().map(|(_, i)| i.clone()).collect(),
            model: self.deps.model.clone(),
            outputs: ctx.address().recipient(),
            finished: ctx.address().recipient(),
        };
        let agent = AgentActor::new(params).start();
        if let Some(turn) = self.turn.as_mut() {
            turn.agent = Some(agent);
        }
        debug!("agent started");
    }

    /// Sends an event to the turn's client. A closed or full channel
    /// cancels the turn: the client left, or stopped reading and would
    /// otherwise get a stream with a gap.
    fn forward(&mut self, turn_id: TurnId, event: ThreadStreamEvent, ctx: &mut Context<Self>) {
        let Some(turn) = self.turn.as_mut().filter(|t| t.id == turn_id) else {
            return;
        };
        let Some(tx) = &turn.events else { return };
        match tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => self.client_gone(turn_id, ctx),
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(parent: &turn.span, "client is not reading its stream; cancelling the turn");
                self.client_gone(turn_id, ctx);
            }
        }
    }

    fn cache_put(&mut self, seq: i64, item: ThreadItem) {
        let max = self.deps.max_cached_items;
        let items = &mut self.loaded().items;
        if let Some(pos) = items.iter().position(|(_, i)| i.id == item.id) {
            items[pos].1 = item;
        } else {
            let at = items.partition_point(|(s, _)| *s < seq);
            items.insert(at, (seq, item));
        }
        while items.len() > max {
            items.pop_front();
        }
    }

    fn cache_remove(&mut self, id: &ItemId) {
        self.loaded().items.retain(|(_, i)| &i.id != id);
    }

    /// Ends the turn without any further event (its start failed).
    fn end_turn_silently(&mut self, ctx: &mut Context<Self>) {
        if let Some(turn) = self.turn.take() {
            if let Some(h) = turn.watcher {
                ctx.cancel_future(h);
            }
            if let Some(agent) = turn.agent {
                agent.do_send(StopAgent);
            }
        }
    }

    fn client_gone(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        if self.turn.as_ref().is_some_and(|t| t.id == turn_id) {
            self.cancel_turn(ctx);
        }
    }

    /// Cancels the running turn (§10.6): stop the agent, keep non-empty
    /// pending assistant messages, add the hidden note.
    fn cancel_turn(&mut self, ctx: &mut Context<Self>) {
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        if turn.cancelling {
            return;
        }
        turn.cancelling = true;
        turn.events = None;
        if let Some(h) = turn.watcher.take() {
            ctx.cancel_future(h);
        }
        if let Some(agent) = turn.agent.take() {
            agent.do_send(StopAgent);
        }
        info!(parent: &turn.span, "client cancelled the turn");
        let pending: Vec<(i64, ThreadItem)> = std::mem::take(&mut turn.pending)
            .into_values()
            .filter(|p| is_non_empty_assistant_message(&p.item))
            .map(|p| (p.seq, p.item))
            .collect();
        let span = turn.span.clone();
        let loaded = self.loaded();
        let note_seq = loaded.next_seq;
        loaded.next_seq += 1;
        let note = ThreadItem {
            id: ItemId::generate(IdKind::SdkHiddenContext),
            thread_id: self.key.thread.clone(),
            created_at: Timestamp::now(),
            kind: ItemKind::SdkHiddenContext(SdkHiddenContextItem {
                content: CANCELLED_NOTE.to_owned(),
            }),
        };
        let mut keep = pending;
        keep.push((note_seq, note));
        let user = self.key.user.0.clone();
        let ops = keep
            .iter()
            .map(|(seq, item)| WriteOp::UpsertItem {
                user_id: user.clone(),
                item: rows::item_row(item, *seq),
            })
            .collect();
        let writer = self.deps.store.writer.clone();
        ctx.spawn(async move { writer.write(ops).await }.instrument(span).into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok(()) => {
                    for (seq, item) in keep {
                        act.cache_put(seq, item);
                    }
                }
                Err(e) => warn!(parent: &act.span, error = %e, "storing the cancelled turn failed"),
            }
            act.turn = None;
            for w in act.cancel_waiters.drain(..) {
                let _ = w.send(());
            }
            act.pump(ctx);
        }));
    }

    fn take_seq(&mut self) -> i64 {
        let loaded = self.loaded();
        let seq = loaded.next_seq;
        loaded.next_seq += 1;
        seq
    }

    /// Applies one agent output to the turn's state and says what must be
    /// written before it is forwarded, and the item's sequence number for
    /// `done`/`replaced` (taken when the item was first announced).
    fn prepare_output(&mut self, output: &AgentOutput) -> (Vec<WriteOp>, Option<i64>) {
        let user_id = self.key.user.0.clone();
        match output {
            AgentOutput::SetTitle(title) => {
                self.loaded().meta.title = Some(title.clone());
                (vec![], None)
            }
            AgentOutput::Event(ThreadStreamEvent::ThreadItemAdded { item }) => {
                let seq = self.take_seq();
                if let Some(turn) = self.turn.as_mut() {
                    turn.pending.insert(
                        item.id.clone(),
                        Pending {
                            seq,
                            item: item.clone(),
                        },
                    );
                }
                (vec![], None)
            }
            AgentOutput::Event(ThreadStreamEvent::ThreadItemUpdated { item_id, update }) => {
                if let Some(p) = self.turn.as_mut().and_then(|t| t.pending.get_mut(item_id)) {
                    apply_update(&mut p.item, update);
                }
                (vec![], None)
            }
            AgentOutput::Event(
                ThreadStreamEvent::ThreadItemDone { item }
                | ThreadStreamEvent::ThreadItemReplaced { item },
            ) => {
                let pending = self
                    .turn
                    .as_ref()
                    .and_then(|t| t.pending.get(&item.id))
                    .map(|p| p.seq);
                let seq = pending.unwrap_or_else(|| self.take_seq());
                (
                    vec![WriteOp::UpsertItem {
                        user_id,
                        item: rows::item_row(item, seq),
                    }],
                    Some(seq),
                )
            }
            AgentOutput::Event(ThreadStreamEvent::ThreadItemRemoved { item_id }) => {
                let thread_id = self.key.thread.0.clone();
                (
                    vec![WriteOp::DeleteItem {
                        user_id,
                        thread_id,
                        item_id: item_id.0.clone(),
                    }],
                    None,
                )
            }
            AgentOutput::Event(_) => (vec![], None),
        }
    }
}

/// Whether an item may reach a client.
fn is_visible(turn: &Turn, event: &ThreadStreamEvent) -> bool {
    match event {
        ThreadStreamEvent::ThreadItemAdded { item }
        | ThreadStreamEvent::ThreadItemDone { item }
        | ThreadStreamEvent::ThreadItemReplaced { item } => !item.is_hidden(),
        ThreadStreamEvent::ThreadItemUpdated { item_id, .. }
        | ThreadStreamEvent::ThreadItemRemoved { item_id } => turn
            .pending
            .get(item_id)
            .is_none_or(|p| !p.item.is_hidden()),
        _ => true,
    }
}

fn is_non_empty_assistant_message(item: &ThreadItem) -> bool {
    match &item.kind {
        ItemKind::AssistantMessage(m) => m.content.iter().any(|c| !c.text.trim().is_empty()),
        _ => false,
    }
}

/// Applies an update to a pending copy (§10.3): assistant message parts
/// and workflow tasks; anything else is ignored.
fn apply_update(item: &mut ThreadItem, update: &crate::protocol::ThreadItemUpdate) {
    match &mut item.kind {
        ItemKind::AssistantMessage(m) => m.apply(update),
        ItemKind::Workflow(w) => w.apply(update),
        _ => {}
    }
}

impl Actor for ThreadActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(THREAD_MAILBOX_CAPACITY);
        debug!(parent: &self.span, "thread actor started");
        match self.initial.take() {
            Some(Initial::New(meta)) => {
                self.state = State::Ready(Box::new(Loaded {
                    meta,
                    items: VecDeque::new(),
                    next_seq: 1,
                    stored: false,
                }));
            }
            Some(Initial::Load) | None => self.load(ctx),
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        debug!(parent: &self.span, "thread actor stopped");
        for cmd in self.queue.drain(..) {
            cmd.refuse(EngineError::ShuttingDown);
        }
    }
}

impl Handler<Deliver> for ThreadActor {
    type Result = ();

    fn handle(&mut self, Deliver(cmd): Deliver, ctx: &mut Self::Context) {
        self.received += 1;
        if let Some(h) = self.idle_timer.take() {
            ctx.cancel_future(h);
        }
        self.queue.push_back(cmd);
        self.pump(ctx);
    }
}

impl Handler<AgentEmitted> for ThreadActor {
    type Result = AtomicResponse<Self, Result<(), TurnGone>>;

    fn handle(&mut self, msg: AgentEmitted, _ctx: &mut Self::Context) -> Self::Result {
        let live = self
            .turn
            .as_ref()
            .is_some_and(|t| t.id == msg.turn && !t.cancelling);
        if !live {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(TurnGone))));
        }
        let (ops, seq) = self.prepare_output(&msg.output);
        let writer = self.deps.store.writer.clone();
        let turn_id = msg.turn;
        let fut = async move {
            if ops.is_empty() {
                Ok(())
            } else {
                writer.write(ops).await
            }
        };
        AtomicResponse::new(Box::pin(fut.into_actor(self).map(move |res, act, ctx| {
            if act
                .turn
                .as_ref()
                .is_none_or(|t| t.id != turn_id || t.cancelling)
            {
                return Err(TurnGone);
            }
            if let Err(e) = res {
                warn!(parent: &act.span, error = %e, "storing a streamed item failed");
                act.fail_turn(turn_id, ctx);
                return Err(TurnGone);
            }
            if let AgentOutput::Event(event) = msg.output {
                act.after_persisted(turn_id, event, seq, ctx);
            }
            act.report_thread_change(turn_id, ctx);
            Ok(())
        })))
    }
}

impl ThreadActor {
    /// Updates the cache and pending set for a persisted event and forwards it.
    fn after_persisted(
        &mut self,
        turn_id: TurnId,
        event: ThreadStreamEvent,
        seq: Option<i64>,
        ctx: &mut Context<Self>,
    ) {
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        let visible = is_visible(turn, &event);
        match &event {
            ThreadStreamEvent::ThreadItemDone { item }
            | ThreadStreamEvent::ThreadItemReplaced { item } => {
                turn.pending.shift_remove(&item.id);
                self.cache_put(seq.unwrap_or_default(), item.clone());
            }
            ThreadStreamEvent::ThreadItemRemoved { item_id } => {
                turn.pending.shift_remove(item_id);
                let id = item_id.clone();
                self.cache_remove(&id);
            }
            _ => {}
        }
        if visible {
            if let Some(turn) = self.turn.as_mut()
                && let Some(started) = turn.first_output.take()
            {
                turn.span
                    .record("ttft_ms", started.elapsed().as_millis() as u64);
            }
            self.forward(turn_id, event, ctx);
        }
    }

    /// §10.4: after each event, a changed thread is saved and announced.
    fn report_thread_change(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        let Some(turn) = self.turn.as_ref().filter(|t| t.id == turn_id) else {
            return;
        };
        let meta = self.loaded_ref().meta.clone();
        if meta == turn.snapshot {
            return;
        }
        if let Some(turn) = self.turn.as_mut() {
            turn.snapshot = meta.clone();
        }
        let op = WriteOp::UpsertThread(rows::thread_row(&self.key.user, &meta));
        let writer = self.deps.store.writer.clone();
        ctx.wait(
            async move { writer.write(vec![op]).await }
                .into_actor(self)
                .map(move |res, act, ctx| match res {
                    Ok(()) => {
                        let thread = meta.to_wire(Page::default());
                        act.forward(turn_id, ThreadStreamEvent::ThreadUpdated { thread }, ctx);
                    }
                    Err(e) => warn!(parent: &act.span, error = %e, "saving the thread failed"),
                }),
        );
    }

    fn loaded_ref(&self) -> &Loaded {
        match &self.state {
            State::Ready(l) => l,
            _ => unreachable!("thread state used before it was loaded"),
        }
    }

    /// A store failure mid-turn: tell the client, keep what can be kept.
    fn fail_turn(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        self.forward(
            turn_id,
            ThreadStreamEvent::Error(ErrorEvent::stream_error()),
            ctx,
        );
        self.finish_turn(turn_id, ctx);
    }

    /// Ends a turn normally: stop the agent, drop the client's channel
    /// (which ends its stream), run the next command.
    fn finish_turn(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        let Some(turn) = self
            .turn
            .as_ref()
            .filter(|t| t.id == turn_id && !t.cancelling)
        else {
            return;
        };
        debug!(parent: &turn.span, "turn finished");
        self.end_turn_silently(ctx);
        self.pump(ctx);
    }
}

impl Handler<AgentFinished> for ThreadActor {
    type Result = ();

    fn handle(&mut self, msg: AgentFinished, ctx: &mut Self::Context) {
        let Some(turn) = self
            .turn
            .as_mut()
            .filter(|t| t.id == msg.turn && !t.cancelling)
        else {
            return;
        };
        turn.agent = None;
        match msg.result {
            Ok(()) => {
                self.report_thread_change(msg.turn, ctx);
                self.finish_turn(msg.turn, ctx);
            }
            Err(e) => {
                warn!(parent: &turn.span, error = %e, "the model failed");
                // Keep partial answers: store non-empty pending assistant
                // messages as done, then report the error.
                let user = self.key.user.0.clone();
                let partial: Vec<(i64, ThreadItem)> = std::mem::take(&mut turn.pending)
                    .into_values()
                    .filter(|p| is_non_empty_assistant_message(&p.item))
                    .map(|p| (p.seq, p.item))
                    .collect();
                let ops: Vec<WriteOp> = partial
                    .iter()
                    .map(|(seq, item)| WriteOp::UpsertItem {
                        user_id: user.clone(),
                        item: rows::item_row(item, *seq),
                    })
                    .collect();
                let writer = self.deps.store.writer.clone();
                let turn_id = msg.turn;
                ctx.wait(
                    async move {
                        if ops.is_empty() {
                            Ok(())
                        } else {
                            writer.write(ops).await
                        }
                    }
                    .into_actor(self)
                    .map(move |res, act, ctx| {
                        if res.is_ok() {
                            for (seq, item) in partial {
                                act.cache_put(seq, item.clone());
                                act.forward(
                                    turn_id,
                                    ThreadStreamEvent::ThreadItemDone { item },
                                    ctx,
                                );
                            }
                        }
                        // The detail was logged above; clients get the
                        // reference's generic, retryable error.
                        act.forward(
                            turn_id,
                            ThreadStreamEvent::Error(ErrorEvent::stream_error()),
                            ctx,
                        );
                        act.report_thread_change(turn_id, ctx);
                        act.finish_turn(turn_id, ctx);
                    }),
                );
            }
        }
    }
}

impl Handler<ClientGone> for ThreadActor {
    type Result = ();

    fn handle(&mut self, ClientGone(turn): ClientGone, ctx: &mut Self::Context) {
        self.client_gone(turn, ctx);
    }
}

impl Handler<CancelTurn> for ThreadActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: CancelTurn, ctx: &mut Self::Context) -> Self::Result {
        for cmd in self.queue.drain(..) {
            cmd.refuse(EngineError::ShuttingDown);
        }
        if self.turn.is_none() {
            return Box::pin(async {});
        }
        let (tx, rx) = oneshot::channel();
        self.cancel_waiters.push(tx);
        self.cancel_turn(ctx);
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

impl Handler<Retire> for ThreadActor {
    type Result = ();

    fn handle(&mut self, _msg: Retire, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
