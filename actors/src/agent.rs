//! `AgentActor`: one per running answer.
//!
//! Owns the model request of one turn. It is started by the turn's
//! [`ThreadActor`](crate::thread::ThreadActor) with the thread's history,
//! produces thread events from the model's output, and sends each one to
//! the ThreadActor with `send().await`: the ThreadActor persists `done`
//! items before it answers, so the agent never runs ahead of the store.
//!
//! Messages it accepts: [`StopAgent`] (from its ThreadActor, when the
//! client left or the server shuts down). Stopping the actor drops the
//! future that drives the model, which ends the model request too.
//! Mailbox: actix's default (16); only its own ThreadActor writes to it.
//!
//! Messages it sends: [`AgentEmitted`] for each output, then one
//! [`AgentFinished`] when the answer ended on its own (not when stopped).

use actix::prelude::*;

use crate::ids::{IdKind, ItemId, ThreadId};
use crate::model::{ModelConfig, ModelError, echo};
use crate::protocol::{
    AssistantMessageContent, AssistantMessageItem, ItemKind, ThreadItem, ThreadItemUpdate,
    ThreadMetadata, ThreadStreamEvent,
};
use crate::time::Timestamp;

/// Identifies one turn of one thread; stale messages from an earlier turn
/// are recognised by it and dropped.
pub type TurnId = u64;

/// What an agent produces.
// Almost every output is an `Event`; boxing it to shrink the rare
// `SetTitle` would cost an allocation per text delta.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum AgentOutput {
    /// A thread event for the client (and the store, for `done`, `replaced`
    /// and `removed`).
    Event(ThreadStreamEvent),
    /// Give the thread a title; reported to the client as `thread.updated`.
    SetTitle(String),
}

/// An agent produced an output for its turn.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), TurnGone>")]
pub struct AgentEmitted {
    /// The turn it belongs to.
    pub turn: TurnId,
    /// The output.
    pub output: AgentOutput,
}

/// The turn no longer exists (cancelled or finished): stop producing.
#[derive(Debug, Clone, Copy)]
pub struct TurnGone;

/// The agent's answer ended on its own, successfully or not.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct AgentFinished {
    /// The turn it belongs to.
    pub turn: TurnId,
    /// `Err` when the model failed; what was emitted before stays.
    pub result: Result<(), ModelError>,
}

/// Stop answering now; the model request is dropped with the actor.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct StopAgent;

/// Everything an agent needs to answer one turn.
pub struct AgentParams {
    /// The turn it answers.
    pub turn: TurnId,
    /// The thread as it was when the turn started.
    pub thread: ThreadMetadata,
    /// The thread's items, oldest first, hidden ones included.
    pub history: Vec<ThreadItem>,
    /// The model to ask.
    pub model: ModelConfig,
    /// Where outputs go (the ThreadActor).
    pub outputs: Recipient<AgentEmitted>,
    /// Where the end of the answer is reported (the ThreadActor).
    pub finished: Recipient<AgentFinished>,
}

/// One running answer. See the module documentation.
pub struct AgentActor {
    params: Option<AgentParams>,
}

impl AgentActor {
    /// An agent that starts answering as soon as it is started.
    pub fn new(params: AgentParams) -> Self {
        Self {
            params: Some(params),
        }
    }
}

/// Why an answer stopped early.
enum Halt {
    /// The turn went away: stop quietly.
    TurnGone,
}

impl Actor for AgentActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(params) = self.params.take() else {
            ctx.stop();
            return;
        };
        let turn = params.turn;
        let finished = params.finished.clone();
        let answer = run(params);
        ctx.spawn(answer.into_actor(self).map(move |result, _act, ctx| {
            match result {
                Ok(result) => finished.do_send(AgentFinished { turn, result }),
                Err(Halt::TurnGone) => {}
            }
            ctx.stop();
        }));
    }
}

impl Handler<StopAgent> for AgentActor {
    type Result = ();

    fn handle(&mut self, _msg: StopAgent, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Sends outputs of one turn to its ThreadActor.
struct Emitter {
    turn: TurnId,
    outputs: Recipient<AgentEmitted>,
}

impl Emitter {
    async fn emit(&self, output: AgentOutput) -> Result<(), Halt> {
        match self
            .outputs
            .send(AgentEmitted {
                turn: self.turn,
                output,
            })
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(TurnGone)) | Err(_) => Err(Halt::TurnGone),
        }
    }

    async fn event(&self, event: ThreadStreamEvent) -> Result<(), Halt> {
        self.emit(AgentOutput::Event(event)).await
    }
}

/// Drives one answer to its end. `Ok(Err(_))` is a model failure to report.
async fn run(params: AgentParams) -> Result<Result<(), ModelError>, Halt> {
    let emitter = Emitter {
        turn: params.turn,
        outputs: params.outputs,
    };
    match &params.model {
        ModelConfig::Echo(config) => {
            let user_text = echo::last_user_text(&params.history);
            let text = echo::answer(&user_text);
            let deltas = echo::deltas(&text);
            stream_text(&emitter, &params.thread.id, deltas, config.delay).await?;
            if params.thread.title.is_none()
                && let Some(title) = echo::title_for(&user_text)
            {
                emitter.emit(AgentOutput::SetTitle(title)).await?;
            }
            Ok(Ok(()))
        }
        ModelConfig::Responses(_) | ModelConfig::Chat(_) => Ok(Err(ModelError::Failed(
            "real model providers are not wired into the agent yet".to_owned(),
        ))),
    }
}

/// Streams one assistant message as the reference does: added, part added,
/// one text delta per chunk, part done, done.
async fn stream_text(
    emitter: &Emitter,
    thread_id: &ThreadId,
    chunks: Vec<String>,
    delay: std::time::Duration,
) -> Result<(), Halt> {
    let id = ItemId::generate(IdKind::Message);
    let created_at = Timestamp::now();
    let item = |content: Vec<AssistantMessageContent>| ThreadItem {
        id: id.clone(),
        thread_id: thread_id.clone(),
        created_at,
        kind: ItemKind::AssistantMessage(AssistantMessageItem { content }),
    };
    emitter
        .event(ThreadStreamEvent::ThreadItemAdded { item: item(vec![]) })
        .await?;
    let update = |update| ThreadStreamEvent::ThreadItemUpdated {
        item_id: id.clone(),
        update,
    };
    emitter
        .event(update(ThreadItemUpdate::AssistantMessageContentPartAdded {
            content_index: 0,
            content: AssistantMessageContent::text(""),
        }))
        .await?;
    let mut text = String::new();
    for chunk in chunks {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        text.push_str(&chunk);
        emitter
            .event(update(
                ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                    content_index: 0,
                    delta: chunk,
                },
            ))
            .await?;
    }
    let part = AssistantMessageContent::text(text);
    emitter
        .event(update(ThreadItemUpdate::AssistantMessageContentPartDone {
            content_index: 0,
            content: part.clone(),
        }))
        .await?;
    emitter
        .event(ThreadStreamEvent::ThreadItemDone {
            item: item(vec![part]),
        })
        .await
}
