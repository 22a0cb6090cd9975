//! Widget actions and structured-input answers (PROTOCOL.md §9.4, §9.6,
//! §9.7): the requests that name an item of the thread and hand it to the
//! responder.
//!
//! Every check is made before the stream starts, so a refusal is a 4xx:
//! an unknown (or foreign) item is a 404, a sender that is not a widget a
//! 400, a structured input that is not pending a 409.

use actix::prelude::*;
use futures_util::FutureExt;
use tokio::sync::oneshot;
use tracing::warn;

use super::ThreadActor;
use crate::agent::TurnJob;
use crate::engine::EventStream;
use crate::error::EngineError;
use crate::ids::ItemId;
use crate::protocol::{
    Action, ItemKind, StructuredInputAnswer, StructuredInputKind, StructuredInputStatus,
    StructuredInputSubmission, StructuredInputSubmissionStatus, ThreadItem, ThreadStreamEvent,
};
use crate::responder::{RequestScope, ResponderError};
use crate::rows;
use crate::store::{ReadPool, WriteOp};

/// Loads an item of the thread with its sequence number.
async fn load_item(
    reads: &ReadPool,
    user: &str,
    thread: &str,
    id: &ItemId,
) -> Result<(i64, ThreadItem), EngineError> {
    // Hidden items do not exist for clients.
    let row = reads
        .load_item(user, thread, id.as_str())
        .await?
        .filter(|row| !row.hidden)
        .ok_or(EngineError::NotFound("item"))?;
    Ok((row.seq, rows::item_from_row(&row)?))
}

/// The sender of an action: absent, or a widget item of this thread.
async fn load_sender(
    reads: &ReadPool,
    user: &str,
    thread: &str,
    id: Option<ItemId>,
) -> Result<Option<(i64, ThreadItem)>, EngineError> {
    let Some(id) = id.filter(|id| !id.as_str().is_empty()) else {
        return Ok(None);
    };
    let (seq, item) = load_item(reads, user, thread, &id).await?;
    if !matches!(item.kind, ItemKind::Widget(_)) {
        return Err(EngineError::bad_request(
            "invalid_request",
            format!(
                "item {} is a {}: only widget items send actions",
                item.id,
                item.type_name()
            ),
        ));
    }
    Ok(Some((seq, item)))
}

/// §9.4 step 2: the answered copy of a structured-input item.
pub(super) fn answer_structured_input(
    item: &ThreadItem,
    submission: &StructuredInputSubmission,
) -> ThreadItem {
    let mut answered = item.clone();
    if let ItemKind::StructuredInput(si) = &mut answered.kind {
        for question in &mut si.inputs {
            let given = submission.answers.get(&question.id);
            let skipped = submission.status == StructuredInputSubmissionStatus::Skipped
                || given.is_none_or(|a| a.skipped || a.values.is_empty());
            question.answer = Some(if skipped {
                StructuredInputAnswer {
                    values: vec![],
                    skipped: true,
                }
            } else {
                let mut values = given.map(|a| a.values.clone()).unwrap_or_default();
                if matches!(
                    question.kind,
                    StructuredInputKind::MultipleChoice {
                        multiple: false,
                        ..
                    }
                ) {
                    values.truncate(1);
                }
                StructuredInputAnswer {
                    values,
                    skipped: false,
                }
            });
        }
        for id in submission.answers.keys() {
            if !si.inputs.iter().any(|q| &q.id == id) {
                warn!(question = %id, "answer for an unknown question ignored");
            }
        }
        si.status = submission.status.into();
    }
    answered
}

impl ThreadActor {
    /// `threads.custom_action`: checks the sender, then runs the
    /// responder's `action` in a turn.
    pub(super) fn start_action_turn(
        &mut self,
        item_id: Option<ItemId>,
        action: Action,
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        let reads = self.deps.store.reads.clone();
        let (user, thread) = (self.key.user.0.clone(), self.key.thread.0.clone());
        self.busy = true;
        let fut = async move { load_sender(&reads, &user, &thread, item_id).await };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| {
            let checked = res.map(|sender| {
                (
                    TurnJob::Action(action, sender.map(|(_, item)| item)),
                    Vec::new(),
                )
            });
            act.start_checked_turn(checked, reply, ctx);
        }));
    }

    /// `threads.sync_custom_action`: checks the sender, runs the
    /// responder's `sync_action`, and stores the updated item it returns
    /// (the reference returns it without storing it). Later commands wait.
    pub(super) fn run_sync_action(
        &mut self,
        item_id: Option<ItemId>,
        action: Action,
        reply: oneshot::Sender<Result<Option<ThreadItem>, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        let reads = self.deps.store.reads.clone();
        let writer = self.deps.store.writer.clone();
        let responder = self.deps.responder.clone();
        let (user, thread) = (self.key.user.0.clone(), self.key.thread.0.clone());
        let thread_id = self.key.thread.clone();
        let scope = RequestScope {
            thread: Some(self.loaded_ref().meta.clone()),
            request: self.request.clone(),
            transcriber: None,
        };
        let next_seq = self.loaded_ref().next_seq;
        self.busy = true;
        let fut = async move {
            let sender = load_sender(&reads, &user, &thread, item_id).await?;
            let sender_seq = sender.as_ref().map(|(seq, _)| *seq);
            let hook = responder.sync_action(scope, action, sender.map(|(_, item)| item));
            let updated = std::panic::AssertUnwindSafe(hook)
                .catch_unwind()
                .await
                .map_err(|_| EngineError::Internal("the sync action panicked".to_owned()))?
                .map_err(sync_error)?;
            let Some(mut item) = updated else {
                return Ok(None);
            };
            item.thread_id = thread_id;
            let seq = match load_item(&reads, &user, &thread, &item.id).await {
                Ok((seq, _)) => seq,
                Err(EngineError::NotFound(_)) => sender_seq.filter(|_| false).unwrap_or(next_seq),
                Err(e) => return Err(e),
            };
            writer
                .write(vec![WriteOp::UpsertItem {
                    user_id: user,
                    item: rows::item_row(&item, seq),
                }])
                .await?;
            Ok(Some((seq, item)))
        };
        // Spawned, not awaited by the actor: a slow sync action holds later
        // commands (busy) but not cancellation or shutdown.
        ctx.spawn(fut.into_actor(self).map(
            move |res: Result<Option<(i64, ThreadItem)>, EngineError>, act, ctx| {
                act.busy = false;
                let res = res.map(|stored| {
                    stored.map(|(seq, item)| {
                        let loaded = act.loaded();
                        loaded.next_seq = loaded.next_seq.max(seq + 1);
                        act.cache_put(seq, item.clone());
                        item
                    })
                });
                let _ = reply.send(res);
                act.pump(ctx);
            },
        ));
    }

    /// `threads.add_structured_input` (§9.4): stores the answered item,
    /// sends it as `thread.item.replaced` after `stream_options`, then runs
    /// the responder without a new message.
    pub(super) fn start_structured_input_turn(
        &mut self,
        item_id: ItemId,
        submission: StructuredInputSubmission,
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
        ctx: &mut Context<Self>,
    ) {
        let reads = self.deps.store.reads.clone();
        let writer = self.deps.store.writer.clone();
        let (user, thread) = (self.key.user.0.clone(), self.key.thread.0.clone());
        self.busy = true;
        let fut = async move {
            let (seq, item) = load_item(&reads, &user, &thread, &item_id).await?;
            let ItemKind::StructuredInput(si) = &item.kind else {
                return Err(EngineError::bad_request(
                    "invalid_request",
                    format!(
                        "item {} is a {}, not a structured_input",
                        item.id,
                        item.type_name()
                    ),
                ));
            };
            if si.status != StructuredInputStatus::Pending {
                return Err(EngineError::Conflict(format!(
                    "structured input {} was already answered",
                    item.id
                )));
            }
            let answered = answer_structured_input(&item, &submission);
            writer
                .write(vec![WriteOp::UpsertItem {
                    user_id: user,
                    item: rows::item_row(&answered, seq),
                }])
                .await?;
            Ok((seq, answered))
        };
        ctx.wait(fut.into_actor(self).map(move |res, act, ctx| {
            let checked = res.map(|(seq, answered)| {
                act.cache_put(seq, answered.clone());
                let replaced = ThreadStreamEvent::ThreadItemReplaced { item: answered };
                (TurnJob::Respond(None), vec![replaced])
            });
            act.start_checked_turn(checked, reply, ctx);
        }));
    }
}

/// A sync action's failure as a request error.
fn sync_error(e: ResponderError) -> EngineError {
    match e {
        ResponderError::NotImplemented(what) => EngineError::NotImplemented(what),
        ResponderError::Custom { message, .. } => {
            EngineError::bad_request("action_failed", message)
        }
        other => EngineError::Internal(format!("the sync action failed: {other}")),
    }
}
