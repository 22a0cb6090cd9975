//! A turn: from the user's message being stored to the end of the answer.
//!
//! The ThreadActor starts the turn, relays the AgentActor's outputs
//! (persisting `done`, `replaced` and `removed` items before forwarding
//! them), reports thread changes as `thread.updated`, and cancels the turn
//! when the client leaves (§10.6).

use actix::prelude::*;
use indexmap::IndexMap;
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, info, warn};

use super::cache::HistoryCache;
use super::{State, ThreadActor};
use crate::agent::{AgentActor, AgentParams, StopAgent, TurnId, TurnJob};
use crate::engine::EventStream;
use crate::error::EngineError;
use crate::ids::{IdKind, ItemId};
use crate::protocol::{
    Attachment, ClientToolCallStatus, ErrorEvent, ItemKind, Page, ThreadItem, ThreadMetadata,
    ThreadStreamEvent, UserMessageItem,
};
use crate::rows;
use crate::store::{StoreError, WriteOp};
use crate::telemetry::{self, TurnOutcome};
use crate::time::Timestamp;

/// The client of a turn went away (its event channel closed).
#[derive(Message)]
#[rtype(result = "()")]
struct ClientGone(TurnId);

/// An item the client has seen announced but not finished.
pub(super) struct Pending {
    pub(super) seq: i64,
    pub(super) item: ThreadItem,
}

/// The state of the running turn.
pub(super) struct Turn {
    pub(super) id: TurnId,
    /// Events to the client; `None` once it left.
    pub(super) events: Option<mpsc::Sender<ThreadStreamEvent>>,
    pub(super) agent: Option<Addr<AgentActor>>,
    /// Announced (`added`) items not yet done, in announcement order.
    pub(super) pending: IndexMap<ItemId, Pending>,
    /// The thread as last reported to the client (§10.4).
    pub(super) snapshot: ThreadMetadata,
    /// Set once cancellation started; later cancels just wait.
    pub(super) cancelling: bool,
    /// Watches the client's channel for closing while no event flows.
    pub(super) watcher: Option<SpawnHandle>,
    /// When the turn started, until its first agent event was forwarded.
    pub(super) first_output: Option<std::time::Instant>,
    /// An `error` event went to the client: the turn ends as failed.
    pub(super) failed: bool,
    pub(super) span: tracing::Span,
}

impl ThreadActor {
    pub(super) fn new_turn(&mut self, ctx: &mut Context<Self>) -> (TurnId, EventStream) {
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
            failed: false,
            span,
        });
        telemetry::turn_started();
        (id, EventStream::new(rx))
    }

    pub(super) fn start_message_turn(
        &mut self,
        mut message: UserMessageItem,
        attachments: Vec<Attachment>,
        create: bool,
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        let user = self.key.user.clone();
        let thread_id = self.key.thread.clone();
        // The message embeds its attachments as bound to this thread
        // (§11.7), like the records bound below.
        for a in &mut message.attachments {
            a.thread_id = Some(thread_id.clone());
        }
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
        // Only `thread_id` changes in the records: an upload finishing
        // meanwhile keeps its mark, and a record deleted meanwhile stays
        // deleted (the message keeps its copy).
        for a in attachments {
            ops.push(WriteOp::BindAttachment {
                user_id: user.0.clone(),
                attachment_id: a.id,
                thread_id: thread_id.0.clone(),
            });
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
                        act.end_turn_silently(TurnOutcome::Failed, ctx);
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
                    let first_text =
                        crate::model::echo::last_user_text(std::slice::from_ref(&item));
                    let job = TurnJob::Respond(Some(item.clone()));
                    act.forward(turn_id, ThreadStreamEvent::ThreadItemDone { item }, ctx);
                    act.begin_pipeline(turn_id, job, ctx);
                    act.maybe_start_title(first_text, ctx);
                }),
        );
    }

    pub(super) fn start_retry_turn(
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
        let max_tokens = self.deps.max_cached_tokens;
        self.busy = true;
        let fut = async move {
            let Some(row) = reads
                .load_item(&user, &thread, item_id.as_str())
                .await?
                .filter(|row| !row.hidden)
            else {
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
            let message = rows::item_from_row(&row)?;
            // Refill the cache with what is left. If that read fails, the
            // cache is pruned instead: the deletion is done either way.
            let reloaded = async {
                let recent = reads.load_recent_items(&user, &thread, limit).await?;
                recent
                    .iter()
                    .map(|r| Ok((r.seq, rows::item_from_row(r)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            }
            .await;
            let cache = match reloaded {
                Ok(items) => Some(HistoryCache::with_items(limit, max_tokens, items)),
                Err(e) => {
                    warn!(error = %e, "reloading the history after a retry failed; pruning the cache");
                    None
                }
            };
            Ok((cache, message, row.seq))
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| {
            let checked = res.map(|(cache, message, kept_up_to)| {
                match cache {
                    Some(items) => act.loaded().items = items,
                    None => act.loaded().items.retain_up_to(kept_up_to),
                }
                (TurnJob::Respond(Some(message)), Vec::new())
            });
            act.start_checked_turn(checked, reply, ctx);
        }));
    }

    /// `threads.add_client_tool_output` (PROTOCOL.md §9.3): the newest item
    /// (hidden ones included) must be a pending client tool call. It is
    /// completed with the result (no event), other pending calls among the
    /// newest 20 items are deleted, and the model is asked to go on.
    pub(super) fn start_tool_output_turn(
        &mut self,
        result: serde_json::Value,
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        let user_id = self.key.user.0.clone();
        let thread_id = self.key.thread.0.clone();
        let loaded = self.loaded_ref();
        let pending = loaded
            .items
            .newest()
            .and_then(|(seq, item)| match &item.kind {
                ItemKind::ClientToolCall(c) if c.status == ClientToolCallStatus::Pending => {
                    Some((seq, item.clone()))
                }
                _ => None,
            });
        let Some((seq, mut call)) = pending else {
            let _ = reply.send(Err(EngineError::Conflict(
                "the thread has no pending client tool call to answer".to_owned(),
            )));
            return;
        };
        if let ItemKind::ClientToolCall(c) = &mut call.kind {
            c.status = ClientToolCallStatus::Completed;
            c.output = (!result.is_null()).then_some(result);
        }
        let stale: Vec<ItemId> = loaded
            .items
            .iter()
            .rev()
            .take(20)
            .filter(|(_, i)| {
                i.id != call.id
                    && matches!(&i.kind, ItemKind::ClientToolCall(c) if c.status == ClientToolCallStatus::Pending)
            })
            .map(|(_, i)| i.id.clone())
            .collect();
        if !stale.is_empty() {
            warn!(parent: &self.span, count = stale.len(), "deleting client tool calls that never got an output");
        }
        let mut ops = vec![WriteOp::UpsertItem {
            user_id: user_id.clone(),
            item: rows::item_row(&call, seq),
        }];
        ops.extend(stale.iter().map(|id| WriteOp::DeleteItem {
            user_id: user_id.clone(),
            thread_id: thread_id.clone(),
            item_id: id.0.clone(),
        }));
        let (turn_id, stream) = self.new_turn(ctx);
        let writer = self.deps.store.writer.clone();
        ctx.wait(async move { writer.write(ops).await }.into_actor(self).map(
            move |res, act, ctx| {
                if let Err(e) = res {
                    act.end_turn_silently(TurnOutcome::Failed, ctx);
                    let _ = reply.send(Err(e.into()));
                    act.pump(ctx);
                    return;
                }
                for id in &stale {
                    act.cache_remove(id);
                }
                act.cache_put(seq, call);
                let _ = reply.send(Ok(stream));
                act.begin_pipeline(turn_id, TurnJob::Respond(None), ctx);
            },
        ));
    }

    /// Ends the checks a turn request needed (reads and writes made while
    /// `busy`): a refusal goes back to the requester and the next command
    /// runs; otherwise the turn starts with `job`, after `prelude`.
    pub(super) fn start_checked_turn(
        &mut self,
        checked: Result<(TurnJob, Vec<ThreadStreamEvent>), EngineError>,
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        self.busy = false;
        match checked {
            Err(e) => {
                let _ = reply.send(Err(e));
                self.pump(ctx);
            }
            Ok((job, prelude)) => {
                let (turn_id, stream) = self.new_turn(ctx);
                let _ = reply.send(Ok(stream));
                self.begin_pipeline_after(turn_id, job, prelude, ctx);
            }
        }
    }

    /// `stream_options`, then the responder.
    pub(super) fn begin_pipeline(
        &mut self,
        turn_id: TurnId,
        job: TurnJob,
        ctx: &mut Context<Self>,
    ) {
        self.begin_pipeline_after(turn_id, job, Vec::new(), ctx);
    }

    /// `stream_options`, then `prelude` (the server's own events, already
    /// stored), then the responder.
    pub(super) fn begin_pipeline_after(
        &mut self,
        turn_id: TurnId,
        job: TurnJob,
        prelude: Vec<ThreadStreamEvent>,
        ctx: &mut Context<Self>,
    ) {
        let responder = self.deps.responder.clone();
        let (meta, request) = (&self.loaded_ref().meta, &self.request);
        // Application code must not take the thread down with a panic.
        let mut stream_options = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            responder.stream_options(meta, request)
        }))
        .unwrap_or(crate::protocol::StreamOptions { allow_cancel: true });
        stream_options.allow_cancel &= self.deps.allow_cancel;
        self.forward(
            turn_id,
            ThreadStreamEvent::StreamOptions { stream_options },
            ctx,
        );
        for event in prelude {
            self.forward(turn_id, event, ctx);
        }
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
            http: self.deps.http.clone(),
            tools: self.deps.tools.clone(),
            attachments: Some(self.deps.attachments.clone()),
            user: self.key.user.clone(),
            titles: self.deps.titles,
            responder: self.deps.responder.clone(),
            job,
            request: self.request.clone(),
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
    pub(super) fn forward(
        &mut self,
        turn_id: TurnId,
        event: ThreadStreamEvent,
        ctx: &mut Context<Self>,
    ) {
        let Some(turn) = self.turn.as_mut().filter(|t| t.id == turn_id) else {
            return;
        };
        let Some(tx) = &turn.events else { return };
        turn.failed |= matches!(event, ThreadStreamEvent::Error(_));
        match tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => self.client_gone(turn_id, ctx),
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(parent: &turn.span, "client is not reading its stream; cancelling the turn");
                crate::telemetry::slow_subscriber_dropped();
                self.client_gone(turn_id, ctx);
            }
        }
    }

    /// Ends the turn without any further event: it finished, or its start
    /// failed. A turn that sent an `error` event counts as failed.
    pub(super) fn end_turn_silently(&mut self, outcome: TurnOutcome, ctx: &mut Context<Self>) {
        if let Some(turn) = self.turn.take() {
            // A cancelled turn was counted when cancelling began.
            if !turn.cancelling {
                telemetry::turn_ended(if turn.failed {
                    TurnOutcome::Failed
                } else {
                    outcome
                });
            }
            if let Some(h) = turn.watcher {
                ctx.cancel_future(h);
            }
            if let Some(agent) = turn.agent {
                agent.do_send(StopAgent);
            }
        }
    }

    pub(super) fn client_gone(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        if self.turn.as_ref().is_some_and(|t| t.id == turn_id) {
            self.cancel_turn(ctx);
        }
    }

    /// Cancels the running turn (§10.6): stop the agent, keep non-empty
    /// pending assistant messages, add the hidden note.
    pub(super) fn cancel_turn(&mut self, ctx: &mut Context<Self>) {
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        if turn.cancelling {
            return;
        }
        turn.cancelling = true;
        turn.events = None;
        telemetry::turn_ended(TurnOutcome::Cancelled);
        if let Some(h) = turn.watcher.take() {
            ctx.cancel_future(h);
        }
        if let Some(agent) = turn.agent.take() {
            agent.do_send(StopAgent);
        }
        info!(parent: &turn.span, "client cancelled the turn");
        let pending: Vec<(i64, ThreadItem)> = std::mem::take(&mut turn.pending)
            .into_values()
            .map(|p| (p.seq, p.item))
            .collect();
        let span = turn.span.clone();
        // The responder decides what a cancelled turn leaves behind; by
        // default the reference's cleanup (§10.6).
        let items: Vec<ThreadItem> = pending.iter().map(|(_, i)| i.clone()).collect();
        let responder = self.deps.responder.clone();
        let meta = self.loaded_ref().meta.clone();
        let to_store = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            responder.on_cancelled(&meta, items.clone())
        }))
        .unwrap_or_else(|_| crate::responder::default_cancel_cleanup(&meta, items));
        let mut keep = Vec::with_capacity(to_store.len());
        for mut item in to_store {
            item.thread_id = self.key.thread.clone();
            let seq = match pending.iter().find(|(_, p)| p.id == item.id) {
                Some((seq, _)) => *seq,
                None => self.take_seq(),
            };
            keep.push((seq, item));
        }
        let ops = self.upsert_ops(&keep);
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

    /// A store failure mid-turn: tell the client, keep what can be kept.
    pub(super) fn fail_turn(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        self.forward(
            turn_id,
            ThreadStreamEvent::Error(ErrorEvent::stream_error()),
            ctx,
        );
        self.finish_turn(turn_id, ctx);
    }

    /// Ends a turn normally: the final thread-change check (§10.4), then
    /// stop the agent, drop the client's channel (which ends its stream),
    /// and run the next command.
    pub(super) fn finish_turn(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        if !self
            .turn
            .as_ref()
            .is_some_and(|t| t.id == turn_id && !t.cancelling)
        {
            return;
        }
        self.report_thread_change_then(turn_id, ctx, move |act, ctx| {
            let Some(turn) = act
                .turn
                .as_ref()
                .filter(|t| t.id == turn_id && !t.cancelling)
            else {
                return;
            };
            debug!(parent: &turn.span, "turn finished");
            act.end_turn_silently(TurnOutcome::Finished, ctx);
            act.pump(ctx);
        });
    }
}

impl Handler<ClientGone> for ThreadActor {
    type Result = ();

    fn handle(&mut self, ClientGone(turn): ClientGone, ctx: &mut Self::Context) {
        self.client_gone(turn, ctx);
    }
}

/// Whether a pending item is an assistant message with some text: the
/// only pending items kept when a turn is cancelled (§10.6) or fails.
pub(super) fn is_non_empty_assistant_message(item: &ThreadItem) -> bool {
    match &item.kind {
        ItemKind::AssistantMessage(m) => !m.is_empty(),
        _ => false,
    }
}
