//! `ThreadActor`: one per active thread (and user).
//!
//! Owns the thread's state ([`ThreadMetadata`]) and a bounded cache of its
//! newest items, so a turn never re-reads the thread from SQLite. All work
//! on one thread passes through its mailbox, in order: a second message
//! sent while an answer streams waits in the actor's queue until that
//! turn ends, and its model input then includes that answer.
//!
//! Messages it accepts:
//! - [`Deliver`] from the [`Registry`]: a
//!   client command (new thread, user message, retry, rename, delete). The
//!   registry is the only sender and every command carries its own reply
//!   channel, so the number queued is bounded by the requests in flight.
//! - [`AgentEmitted`](crate::agent::AgentEmitted) /
//!   [`AgentFinished`](crate::agent::AgentFinished) from the turn's AgentActor, which
//!   awaits each reply (backpressure on the model stream).
//! - [`CancelTurn`] from the registry at shutdown, and [`Retire`] when the
//!   registry agreed that the actor has been idle long enough, or that it
//!   is quiet and the least recently used over the thread cap.
//!
//! It tells the registry [`Quiet`] each time it runs out of work.
//!
//! Mailbox capacity: [`THREAD_MAILBOX_CAPACITY`].
//!
//! Events of a turn go to the client through a bounded channel with
//! `try_send`: the model stream never waits on a browser. A closed channel
//! means the client left; a full one means it stopped reading. Either way
//! the turn is cancelled (§10.6): the partial assistant message is kept if
//! it has text, and a hidden note records the cancellation.
//!
//! Files: `command.rs` (what clients ask), `turn.rs` (a turn's start,
//! cancellation and end), `relay.rs` (the agent's outputs: persist, then
//! forward, then report thread changes).

mod actions;
mod cache;
mod command;
mod relay;
mod title;
mod turn;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::oneshot;
use tracing::{Instrument, debug, info, warn};

use cache::HistoryCache;
pub use command::{CancelTurn, Command, Deliver, Initial, Retire};
use turn::Turn;

use crate::agent::TurnId;
use crate::engine::{RequestContext, ThreadDeps};
use crate::error::EngineError;
use crate::ids::ItemId;
use crate::protocol::{Page, ThreadItem, ThreadMetadata};
use crate::registry::{Idle, Quiet, Registry, ThreadKey};
use crate::rows;
use crate::store::WriteOp;

/// Capacity of a ThreadActor's mailbox. Senders (the registry's `do_send`
/// and the agent's awaited `send`) are few per thread, so a small number
/// suffices; `do_send` from the registry may exceed it, bounded by the
/// requests in flight.
pub const THREAD_MAILBOX_CAPACITY: usize = 64;

pub use crate::responder::CANCELLED_NOTE;

/// The loaded thread.
struct Loaded {
    meta: ThreadMetadata,
    /// Newest items, oldest first, bounded in items and tokens.
    items: HistoryCache,
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
    /// Loading failed (a store error): refuse with a 500 and retire, so
    /// the next request tries again.
    Failed,
}

/// One thread's actor. See the module documentation.
pub struct ThreadActor {
    key: ThreadKey,
    deps: Arc<ThreadDeps>,
    registry: Addr<Registry>,
    initial: Option<Initial>,
    state: State,
    queue: VecDeque<(Command, RequestContext)>,
    /// The request of the command being run (a turn's responder gets it).
    request: RequestContext,
    turn: Option<Turn>,
    /// A store write outside a turn (rename, delete) is in flight.
    busy: bool,
    /// A background title call has not been applied yet: the actor is not
    /// quiet, so the thread cap does not retire it and lose the title.
    titling: bool,
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
        let key_user = key.user.0.clone();
        Self {
            key,
            deps,
            registry,
            initial: Some(initial),
            state: State::Loading,
            queue: VecDeque::new(),
            request: RequestContext::new(key_user.clone()),
            turn: None,
            busy: false,
            titling: false,
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
        let max_tokens = self.deps.max_cached_tokens;
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
                .collect::<Result<Vec<_>, crate::store::StoreError>>()?;
            let items = HistoryCache::with_items(limit, max_tokens, items);
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
                            for (cmd, _) in act.queue.drain(..) {
                                cmd.refuse(EngineError::Internal(format!(
                                    "loading the thread failed: {e}"
                                )));
                            }
                            act.state = State::Failed;
                        }
                    }
                    act.pump(ctx);
                }),
        );
    }

    /// Runs queued commands until one starts a turn or a write.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.turn.is_none() && !self.busy {
            let Some((cmd, request)) = self.queue.pop_front() else {
                break;
            };
            if cmd.is_abandoned() {
                debug!(parent: &self.span, "dropping a command whose requester left");
                continue;
            }
            match &self.state {
                State::Loading => {
                    self.queue.push_front((cmd, request));
                    return;
                }
                State::Missing => cmd.refuse(EngineError::NotFound("thread")),
                State::Failed => cmd.refuse(EngineError::Internal(
                    "loading the thread failed".to_owned(),
                )),
                State::Ready(_) => {
                    self.request = request;
                    self.run(cmd, ctx)
                }
            }
        }
        if self.turn.is_none() && !self.busy && self.queue.is_empty() {
            if !self.titling {
                self.registry.do_send(Quiet {
                    key: self.key.clone(),
                    seen: self.received,
                });
            }
            self.arm_idle_timer(ctx);
        }
    }

    fn arm_idle_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.idle_timer.take() {
            ctx.cancel_future(h);
        }
        // A missing thread has nothing to keep: retire at once.
        let after = match self.state {
            State::Missing | State::Failed => Duration::ZERO,
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
            Command::CustomAction {
                item_id,
                action,
                reply,
            } => self.start_action_turn(item_id, action, reply, ctx),
            Command::SyncAction {
                item_id,
                action,
                reply,
            } => self.run_sync_action(item_id, action, reply, ctx),
            Command::StructuredInput {
                item_id,
                input,
                reply,
            } => self.start_structured_input_turn(item_id, input, reply, ctx),
            Command::ClientToolOutput { result, reply } => {
                self.start_tool_output_turn(result, reply, ctx)
            }
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

    fn cache_put(&mut self, seq: i64, item: ThreadItem) {
        self.loaded().items.put(seq, item);
    }

    fn cache_remove(&mut self, id: &ItemId) {
        self.loaded().items.remove(id);
    }
}

impl Actor for ThreadActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(THREAD_MAILBOX_CAPACITY);
        crate::telemetry::thread_actor_started();
        debug!(parent: &self.span, "thread actor started");
        match self.initial.take() {
            Some(Initial::New(meta)) => {
                self.state = State::Ready(Box::new(Loaded {
                    meta,
                    items: HistoryCache::new(
                        self.deps.max_cached_items,
                        self.deps.max_cached_tokens,
                    ),
                    next_seq: 1,
                    stored: false,
                }));
            }
            Some(Initial::Load) | None => self.load(ctx),
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        debug!(parent: &self.span, "thread actor stopped");
        crate::telemetry::thread_actor_stopped();
        for (cmd, _) in self.queue.drain(..) {
            cmd.refuse(EngineError::ShuttingDown);
        }
    }
}

impl Handler<Deliver> for ThreadActor {
    type Result = ();

    fn handle(&mut self, Deliver { command, request }: Deliver, ctx: &mut Self::Context) {
        self.received += 1;
        if let Some(h) = self.idle_timer.take() {
            ctx.cancel_future(h);
        }
        self.queue.push_back((command, request));
        self.pump(ctx);
    }
}

impl ThreadActor {
    fn loaded_ref(&self) -> &Loaded {
        match &self.state {
            State::Ready(l) => l,
            _ => unreachable!("thread state used before it was loaded"),
        }
    }
}

impl Handler<CancelTurn> for ThreadActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: CancelTurn, ctx: &mut Self::Context) -> Self::Result {
        for (cmd, _) in self.queue.drain(..) {
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
