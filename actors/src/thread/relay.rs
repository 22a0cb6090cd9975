//! Relaying the agent's outputs: persist, then forward, then report a
//! thread change (§10.2–10.4).

use actix::prelude::*;
use tracing::warn;

use super::ThreadActor;
use super::turn::{Pending, Turn, is_non_empty_assistant_message};
use crate::agent::{AgentEmitted, AgentFinished, AgentOutput, TurnGone, TurnId};
use crate::protocol::{
    ItemKind, Page, ThreadItem, ThreadItemUpdate, ThreadMetadata, ThreadStreamEvent,
};
use crate::responder::ResponderError;
use crate::rows;
use crate::store::WriteOp;

impl ThreadActor {
    pub(super) fn take_seq(&mut self) -> i64 {
        let loaded = self.loaded();
        let seq = loaded.next_seq;
        loaded.next_seq += 1;
        seq
    }

    /// The write that stores `item` at `seq` in this thread.
    pub(super) fn upsert_op(&self, seq: i64, item: &ThreadItem) -> WriteOp {
        WriteOp::UpsertItem {
            user_id: self.key.user.0.clone(),
            item: rows::item_row(item, seq),
        }
    }

    /// The writes that store `items` (with their sequence numbers).
    pub(super) fn upsert_ops(&self, items: &[(i64, ThreadItem)]) -> Vec<WriteOp> {
        items
            .iter()
            .map(|(seq, item)| self.upsert_op(*seq, item))
            .collect()
    }

    /// Applies one agent output to the turn's state and says what must be
    /// written before it is forwarded, and the item's sequence number for
    /// `done`/`replaced` (taken when the item was first announced).
    pub(super) fn prepare_output(&mut self, output: &AgentOutput) -> (Vec<WriteOp>, Option<i64>) {
        // Called for every event (each delta too): nothing is cloned or
        // written for the events that need no write.
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
                let cached = self
                    .loaded_ref()
                    .items
                    .iter()
                    .find(|(_, i)| i.id == item.id)
                    .map(|(seq, _)| seq);
                let known = pending.or(cached);
                let seq = known.unwrap_or_else(|| self.take_seq());
                // A replaced item that is neither pending nor cached is an
                // older one: the store keeps its position (an upsert), and
                // the cache must not put it at the end.
                let is_replace = matches!(
                    output,
                    AgentOutput::Event(ThreadStreamEvent::ThreadItemReplaced { .. })
                );
                let cache_at = (known.is_some() || !is_replace).then_some(seq);
                (vec![self.upsert_op(seq, item)], cache_at)
            }
            AgentOutput::Event(ThreadStreamEvent::ThreadItemRemoved { item_id }) => {
                let thread_id = self.key.thread.0.clone();
                (
                    vec![WriteOp::DeleteItem {
                        user_id: self.key.user.0.clone(),
                        thread_id,
                        item_id: item_id.0.clone(),
                    }],
                    None,
                )
            }
            AgentOutput::Event(_) => (vec![], None),
        }
    }

    /// Updates the cache and pending set for a persisted event and forwards it.
    pub(super) fn after_persisted(
        &mut self,
        turn_id: TurnId,
        event: ThreadStreamEvent,
        seq: Option<i64>,
        ctx: &mut Context<Self>,
    ) {
        // An update or removal may name a hidden item stored earlier.
        let names_hidden_stored = match &event {
            ThreadStreamEvent::ThreadItemUpdated { item_id, .. }
            | ThreadStreamEvent::ThreadItemRemoved { item_id } => self
                .loaded_ref()
                .items
                .iter()
                .any(|(_, i)| &i.id == item_id && i.is_hidden()),
            _ => false,
        };
        let Some(turn) = self.turn.as_mut() else {
            return;
        };
        let visible = !names_hidden_stored && is_visible(turn, &event);
        match &event {
            ThreadStreamEvent::ThreadItemDone { item }
            | ThreadStreamEvent::ThreadItemReplaced { item } => {
                turn.pending.shift_remove(&item.id);
                if let Some(seq) = seq {
                    self.cache_put(seq, item.clone());
                }
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

    /// §10.4: if the thread changed since the client last saw it, the
    /// write that saves it and the new state to announce.
    pub(super) fn thread_change(&mut self, turn_id: TurnId) -> Option<(WriteOp, ThreadMetadata)> {
        let meta = self.loaded_ref().meta.clone();
        let turn = self.turn.as_mut().filter(|t| t.id == turn_id)?;
        if meta == turn.snapshot {
            return None;
        }
        turn.snapshot = meta.clone();
        Some((
            WriteOp::UpsertThread(rows::thread_row(&self.key.user, &meta)),
            meta,
        ))
    }

    /// Saves a changed thread and sends `thread.updated`, then runs `then`.
    /// Other messages wait meanwhile, so the event keeps its place.
    pub(super) fn report_thread_change_then(
        &mut self,
        turn_id: TurnId,
        ctx: &mut Context<Self>,
        then: impl FnOnce(&mut Self, &mut Context<Self>) + 'static,
    ) {
        let Some((op, meta)) = self.thread_change(turn_id) else {
            then(self, ctx);
            return;
        };
        let writer = self.deps.store.writer.clone();
        ctx.wait(
            async move { writer.write(vec![op]).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    match res {
                        Ok(()) => {
                            let thread = meta.to_wire(Page::default());
                            act.forward(turn_id, ThreadStreamEvent::ThreadUpdated { thread }, ctx);
                        }
                        Err(e) => warn!(parent: &act.span, error = %e, "saving the thread failed"),
                    }
                    then(act, ctx);
                }),
        );
    }

    /// Reports a thread change after an event (§10.4).
    pub(super) fn report_thread_change(&mut self, turn_id: TurnId, ctx: &mut Context<Self>) {
        self.report_thread_change_then(turn_id, ctx, |_, _| {});
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
        // Items a responder emits belong to this thread, whatever it wrote.
        let mut output = msg.output;
        if let AgentOutput::Event(
            ThreadStreamEvent::ThreadItemAdded { item }
            | ThreadStreamEvent::ThreadItemDone { item }
            | ThreadStreamEvent::ThreadItemReplaced { item },
        ) = &mut output
        {
            item.thread_id = self.key.thread.clone();
        }
        let (ops, seq) = self.prepare_output(&output);
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
            if let AgentOutput::Event(event) = output {
                act.after_persisted(turn_id, event, seq, ctx);
            }
            act.report_thread_change(turn_id, ctx);
            Ok(())
        })))
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
        // The responder ended. Whatever it left unfinished that has text
        // is kept (the client saw it), as after a failure or a cancel.
        let error_event = match &msg.result {
            Ok(()) | Err(ResponderError::Cancelled) => None,
            Err(e) => {
                warn!(parent: &turn.span, error = %e, "the turn failed");
                Some(e.to_error_event())
            }
        };
        let partial: Vec<(i64, ThreadItem)> = std::mem::take(&mut turn.pending)
            .into_values()
            .filter(|p| is_non_empty_assistant_message(&p.item))
            .map(|p| (p.seq, p.item))
            .collect();
        let ops = self.upsert_ops(&partial);
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
                        act.forward(turn_id, ThreadStreamEvent::ThreadItemDone { item }, ctx);
                    }
                }
                // The detail was logged above; clients get a short safe
                // message (or none) and whether a retry makes sense
                // (MODEL_STREAMING.md §7.3).
                if let Some(error) = error_event {
                    act.forward(turn_id, ThreadStreamEvent::Error(error), ctx);
                }
                act.finish_turn(turn_id, ctx);
            }),
        );
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

/// Applies an update to a pending copy (§10.3): assistant message parts
/// and workflow tasks; anything else is ignored.
fn apply_update(item: &mut ThreadItem, update: &ThreadItemUpdate) {
    match &mut item.kind {
        ItemKind::AssistantMessage(m) => m.apply(update),
        ItemKind::Workflow(w) => w.apply(update),
        _ => {}
    }
}
