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

mod echo;
mod provider;

use std::sync::Arc;

use futures_util::FutureExt;

use crate::engine::RequestContext;
use crate::ids::UserId;
use crate::model::http::ModelHttp;
use crate::model::{Api, ModelConfig};
use crate::protocol::{Action, ThreadItem, ThreadMetadata, ThreadStreamEvent};
use crate::responder::{Responder, ResponderError, TurnContext};
use crate::tools::Tools;

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
    /// `Err` when the responder (or the model) failed; what was emitted
    /// before stays.
    pub result: Result<(), ResponderError>,
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
    /// The HTTP client of a real provider (shared by every agent, so
    /// connections are pooled); `None` for the offline model.
    pub http: Option<ModelHttp>,
    /// The tools offered to the model.
    pub tools: Tools,
    /// Where attachment bytes are, for model input.
    pub attachments: Option<crate::attachments::AttachmentStore>,
    /// The user the turn runs for (tool handlers get it).
    pub user: UserId,
    /// Whether untitled threads get a title (the echo model derives it
    /// from the first message; real models get a background call).
    pub titles: bool,
    /// The application's responder.
    pub responder: Arc<dyn Responder>,
    /// What the turn asks of it.
    pub job: TurnJob,
    /// The request that started the turn (user, app data).
    pub request: RequestContext,
    /// Where outputs go (the ThreadActor).
    pub outputs: Recipient<AgentEmitted>,
    /// Where the end of the answer is reported (the ThreadActor).
    pub finished: Recipient<AgentFinished>,
}

/// What a turn asks of the responder.
#[derive(Clone, Debug)]
pub enum TurnJob {
    /// Answer: a new user message, or `None` when the turn resumes after a
    /// client tool output or a structured-input answer.
    Respond(Option<ThreadItem>),
    /// Handle a widget action, from its sender widget item if any.
    Action(Action, Option<ThreadItem>),
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
pub(crate) enum Halt {
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
        // A panic in application code (a responder, a tool handler) must
        // not leave the turn open forever: it ends the turn with an error.
        let answer = std::panic::AssertUnwindSafe(run(params)).catch_unwind();
        ctx.spawn(answer.into_actor(self).map(move |result, _act, ctx| {
            // Always report the end: a turn the ThreadActor already ended
            // (cancelled, replaced) ignores it; a live one must end now.
            let result = match result {
                Ok(Ok(result)) => result,
                Ok(Err(Halt::TurnGone)) => Err(ResponderError::Cancelled),
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".to_owned());
                    tracing::error!(turn, panic = %what, "the responder panicked");
                    Err(ResponderError::Other(format!(
                        "the responder panicked: {what}"
                    )))
                }
            };
            finished.do_send(AgentFinished { turn, result });
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
#[derive(Clone)]
pub(crate) struct Emitter {
    turn: TurnId,
    outputs: Recipient<AgentEmitted>,
}

impl Emitter {
    pub(crate) async fn emit(&self, output: AgentOutput) -> Result<(), Halt> {
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

    pub(crate) async fn event(&self, event: ThreadStreamEvent) -> Result<(), Halt> {
        self.emit(AgentOutput::Event(event)).await
    }
}

/// Drives one answer to its end: the responder, then its result.
async fn run(params: AgentParams) -> Result<Result<(), ResponderError>, Halt> {
    let params = Arc::new(params);
    let emitter = Emitter {
        turn: params.turn,
        outputs: params.outputs.clone(),
    };
    let turn = TurnContext::new(params.clone(), emitter);
    let result = match &params.job {
        TurnJob::Respond(input) => params.responder.respond(turn, input.clone()).await,
        TurnJob::Action(action, sender) => {
            params
                .responder
                .action(turn, action.clone(), sender.clone())
                .await
        }
    };
    match result {
        Err(ResponderError::Cancelled) => Err(Halt::TurnGone),
        other => Ok(other),
    }
}

/// Runs the model agent (echo or a provider) for a turn.
pub(crate) async fn run_model(
    emitter: &Emitter,
    params: &AgentParams,
) -> Result<(), ResponderError> {
    let result = match &params.model {
        ModelConfig::Echo(config) => echo::run(emitter, params, config).await,
        ModelConfig::Responses(settings) => {
            provider::run(emitter, params, settings, Api::Responses).await
        }
        ModelConfig::Chat(settings) => provider::run(emitter, params, settings, Api::Chat).await,
    };
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ResponderError::Model(e)),
        Err(Halt::TurnGone) => Err(ResponderError::Cancelled),
    }
}
