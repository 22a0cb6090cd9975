//! The offline `echo` model's answer: the user's last message, quoted back
//! word by word, as an assistant message streamed like a real one.

use std::time::Duration;

use super::{AgentOutput, AgentParams, Emitter, Halt};
use crate::ids::{IdKind, ItemId, ThreadId};
use crate::model::{EchoConfig, ModelError, echo};
use crate::protocol::{
    AssistantMessageContent, AssistantMessageItem, ItemKind, ThreadItem, ThreadItemUpdate,
    ThreadStreamEvent,
};
use crate::time::Timestamp;

/// Answers one turn with the echo model; titles a new thread from its
/// first message.
pub(super) async fn run(
    emitter: &Emitter,
    params: &AgentParams,
    config: &EchoConfig,
) -> Result<Result<(), ModelError>, Halt> {
    let user_text = echo::last_user_text(&params.history);
    let text = echo::answer(&user_text);
    let deltas = echo::deltas(&text);
    stream_text(emitter, &params.thread.id, deltas, config.delay).await?;
    if params.titles
        && params.thread.title.is_none()
        && let Some(title) = echo::title_for(&user_text)
    {
        emitter.emit(AgentOutput::SetTitle(title)).await?;
    }
    Ok(Ok(()))
}

/// Streams one assistant message as the reference does: added, part added,
/// one text delta per chunk, part done, done.
pub(super) async fn stream_text(
    emitter: &Emitter,
    thread_id: &ThreadId,
    chunks: Vec<String>,
    delay: Duration,
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
