//! Titles for new threads, from a background model call.
//!
//! Started with the first answer of an untitled thread; it never delays
//! that answer. A title that arrives while a turn streams is announced on
//! that stream as `thread.updated` (§10.4); otherwise it is only saved, and
//! the client sees it on its next read.

use actix::prelude::*;
use tracing::{debug, info};

use super::{State, ThreadActor};
use crate::agent::TurnId;
use crate::model::title;
use crate::protocol::ItemKind;
use crate::rows;
use crate::store::WriteOp;

impl ThreadActor {
    /// Starts the title call if this thread wants one: titles are on, the
    /// model is real, the thread has no title and this is its first message.
    pub(super) fn maybe_start_title(&mut self, first_text: String, ctx: &mut Context<Self>) {
        let State::Ready(loaded) = &self.state else {
            return;
        };
        let user_messages = loaded
            .items
            .iter()
            .filter(|(_, i)| matches!(i.kind, ItemKind::UserMessage(_)))
            .count();
        if !self.deps.titles
            || self.deps.model.is_offline()
            || loaded.meta.title.is_some()
            || user_messages != 1
        {
            return;
        }
        let Some(http) = self.deps.http.clone() else {
            return;
        };
        let model = self.deps.model.clone();
        let title_model = self.deps.title_model.clone();
        self.titling = true;
        ctx.spawn(
            async move { title::generate(&http, &model, title_model.as_deref(), &first_text).await }
                .into_actor(self)
                .map(|res, act, ctx| match res {
                    Ok(Some(title)) => act.apply_title(title, ctx),
                    Ok(None) => {
                        debug!(parent: &act.span, "the title model answered nothing usable");
                        act.title_settled(ctx);
                    }
                    Err(e) => {
                        info!(parent: &act.span, error = %e, "no title: the title request failed");
                        act.title_settled(ctx);
                    }
                }),
        );
    }

    /// Sets the title unless the thread got one meanwhile (renamed) or is
    /// gone; announces it on a running turn's stream, or just saves it.
    fn apply_title(&mut self, title: String, ctx: &mut Context<Self>) {
        // A write outside a turn (a rename, a delete) is in flight, or a
        // delete is queued: decide once it is done, so a title can neither
        // race a rename nor bring a deleted thread back.
        let delete_queued = self
            .queue
            .iter()
            .any(|(c, _)| matches!(c, super::Command::Delete { .. }));
        if self.busy || delete_queued {
            ctx.run_later(std::time::Duration::from_millis(50), move |act, ctx| {
                act.apply_title(title, ctx)
            });
            return;
        }
        let untitled = matches!(&self.state, State::Ready(l) if l.meta.title.is_none());
        if !untitled {
            return self.title_settled(ctx);
        }
        // Settled from here: a running turn or the write below makes the
        // actor busy, and it reports quiet when they end.
        self.titling = false;
        let State::Ready(loaded) = &mut self.state else {
            unreachable!("checked above")
        };
        loaded.meta.title = Some(title);
        let running: Option<TurnId> = self.turn.as_ref().filter(|t| !t.cancelling).map(|t| t.id);
        match running {
            Some(turn_id) => self.report_thread_change(turn_id, ctx),
            None => {
                let meta = loaded.meta.clone();
                let op = WriteOp::UpsertThread(rows::thread_row(&self.key.user, &meta));
                self.write_then(vec![op], ctx, |act, res| {
                    if let Err(e) = res {
                        info!(parent: &act.span, error = %e, "saving the title failed");
                    }
                });
            }
        }
    }

    /// The title call is over (applied, or nothing to apply): the actor
    /// may be quiet again.
    fn title_settled(&mut self, ctx: &mut Context<Self>) {
        self.titling = false;
        self.pump(ctx);
    }
}
