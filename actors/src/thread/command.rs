//! The commands a ThreadActor runs for clients, and the control messages
//! it takes from the registry.

use actix::prelude::*;
use tokio::sync::oneshot;

use crate::engine::EventStream;
use crate::error::EngineError;
use crate::ids::ItemId;
use crate::protocol::{Attachment, Thread, ThreadMetadata, UserMessageItem};

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
        attachments: Vec<Attachment>,
        /// Where the event stream goes once the thread is stored.
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
    },
    /// `threads.add_user_message`.
    UserMessage {
        /// The user message.
        message: UserMessageItem,
        /// Attachments to mark as belonging to this thread.
        attachments: Vec<Attachment>,
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
    /// `threads.add_client_tool_output`.
    ClientToolOutput {
        /// The client's result (may be null).
        result: serde_json::Value,
        /// Where the event stream goes once the call is completed.
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
    },
    /// `threads.custom_action`: a widget action, streamed.
    CustomAction {
        /// The sender widget item, if any.
        item_id: Option<ItemId>,
        /// The action.
        action: crate::protocol::Action,
        /// Where the event stream goes once the sender is checked.
        reply: oneshot::Sender<Result<EventStream, EngineError>>,
    },
    /// `threads.sync_custom_action`: a widget action answered as JSON.
    SyncAction {
        /// The sender widget item, if any.
        item_id: Option<ItemId>,
        /// The action.
        action: crate::protocol::Action,
        /// The updated sender item (stored), if the responder returned one.
        reply: oneshot::Sender<Result<Option<crate::protocol::ThreadItem>, EngineError>>,
    },
    /// `threads.add_structured_input`.
    StructuredInput {
        /// The `structured_input` item.
        item_id: ItemId,
        /// The answers.
        input: crate::protocol::StructuredInputSubmission,
        /// Where the event stream goes once the answers are stored.
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
    /// Whether the requester has gone away (its reply can no longer be
    /// delivered): such a command is dropped rather than run, so a message
    /// the client never saw acknowledged is not stored.
    pub fn is_abandoned(&self) -> bool {
        match self {
            Command::Create { reply, .. }
            | Command::UserMessage { reply, .. }
            | Command::Retry { reply, .. }
            | Command::ClientToolOutput { reply, .. }
            | Command::CustomAction { reply, .. }
            | Command::StructuredInput { reply, .. } => reply.is_closed(),
            Command::SyncAction { reply, .. } => reply.is_closed(),
            Command::Rename { reply, .. } => reply.is_closed(),
            Command::Delete { reply } => reply.is_closed(),
        }
    }

    /// Answers the command with an error without running it.
    pub fn refuse(self, error: EngineError) {
        // A closed reply channel means the requester left: nothing to tell.
        match self {
            Command::Create { reply, .. }
            | Command::UserMessage { reply, .. }
            | Command::Retry { reply, .. }
            | Command::ClientToolOutput { reply, .. }
            | Command::CustomAction { reply, .. }
            | Command::StructuredInput { reply, .. } => drop(reply.send(Err(error))),
            Command::SyncAction { reply, .. } => drop(reply.send(Err(error))),
            Command::Rename { reply, .. } => drop(reply.send(Err(error))),
            Command::Delete { reply } => drop(reply.send(Err(error))),
        }
    }
}

/// A command from the registry.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    /// What to do.
    pub command: Command,
    /// Who asked (user, app data); a turn hands it to the responder.
    pub request: crate::engine::RequestContext,
}

/// Cancel the running turn, if any, as a disconnect would; answered once
/// its partial answer and note are stored. Queued commands are refused.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelTurn;

/// The registry removed this actor: stop now.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;
