//! What the load generator needs from a stream event, from either source:
//! the JSON of an SSE `data:` line (any ChatKit server) or the engine's
//! typed [`ThreadStreamEvent`] (in process, no serialisation).

use chatkit_actors::protocol::{ItemKind, ThreadItemUpdate, ThreadStreamEvent};
use serde::Deserialize;

/// One stream event, reduced to what is checked and timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// `thread.created`, with the new thread's id.
    ThreadCreated(String),
    /// An assistant `text_delta` update.
    TextDelta,
    /// `thread.item.done` of an assistant message, with its text.
    AssistantDone(String),
    /// An `error` event: code and message.
    Error(String),
    /// Any other event.
    Other,
}

/// The fields of a wire event that [`Seen`] needs; serde skips the rest.
#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    thread: Option<WireThread>,
    #[serde(default)]
    item: Option<WireItem>,
    #[serde(default)]
    update: Option<WireUpdate>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct WireThread {
    id: String,
}

#[derive(Deserialize)]
struct WireItem {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    content: Vec<WirePart>,
}

#[derive(Deserialize)]
struct WirePart {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct WireUpdate {
    #[serde(rename = "type")]
    kind: String,
}

impl Seen {
    /// Reads the JSON of one SSE `data:` payload.
    pub fn from_json(data: &str) -> Result<Seen, String> {
        let event: WireEvent = serde_json::from_str(data).map_err(|e| {
            let head: String = data.chars().take(120).collect();
            format!("event is not ChatKit JSON ({e}): {head}")
        })?;
        Ok(match event.kind.as_str() {
            "thread.created" => match event.thread {
                Some(thread) => Seen::ThreadCreated(thread.id),
                None => return Err("thread.created without a thread".into()),
            },
            "thread.item.updated" => match event.update {
                Some(u) if u.kind == "assistant_message.content_part.text_delta" => Seen::TextDelta,
                _ => Seen::Other,
            },
            "thread.item.done" => match event.item {
                Some(item) if item.kind == "assistant_message" => Seen::AssistantDone(
                    item.content
                        .into_iter()
                        .filter_map(|p| p.text)
                        .collect::<String>(),
                ),
                _ => Seen::Other,
            },
            "error" => Seen::Error(format!(
                "{}: {}",
                event.code.as_deref().unwrap_or("custom"),
                event.message.as_deref().unwrap_or("")
            )),
            _ => Seen::Other,
        })
    }

    /// Reads an engine event.
    pub fn from_event(event: &ThreadStreamEvent) -> Seen {
        match event {
            ThreadStreamEvent::ThreadCreated { thread } => {
                Seen::ThreadCreated(thread.id.as_str().to_owned())
            }
            ThreadStreamEvent::ThreadItemUpdated {
                update: ThreadItemUpdate::AssistantMessageContentPartTextDelta { .. },
                ..
            } => Seen::TextDelta,
            ThreadStreamEvent::ThreadItemDone { item } => match &item.kind {
                ItemKind::AssistantMessage(m) => {
                    Seen::AssistantDone(m.content.iter().map(|p| p.text.as_str()).collect())
                }
                _ => Seen::Other,
            },
            ThreadStreamEvent::Error(e) => Seen::Error(format!(
                "{}: {}",
                e.code,
                e.message.as_deref().unwrap_or("")
            )),
            _ => Seen::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_events_are_classified() {
        let created = r#"{"type":"thread.created","thread":{"id":"thr_1","created_at":"x","status":{"type":"active"},"metadata":{},"items":{"data":[],"has_more":false}}}"#;
        assert_eq!(
            Seen::from_json(created).unwrap(),
            Seen::ThreadCreated("thr_1".into())
        );
        let delta = r#"{"type":"thread.item.updated","item_id":"m","update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"Hi"}}"#;
        assert_eq!(Seen::from_json(delta).unwrap(), Seen::TextDelta);
        let done = r#"{"type":"thread.item.done","item":{"id":"m","thread_id":"t","created_at":"x","type":"assistant_message","content":[{"annotations":[],"text":"You said: ","type":"output_text"},{"annotations":[],"text":"\"hi\"","type":"output_text"}]}}"#;
        assert_eq!(
            Seen::from_json(done).unwrap(),
            Seen::AssistantDone("You said: \"hi\"".into())
        );
        let user_done = r#"{"type":"thread.item.done","item":{"id":"m","type":"user_message","content":[{"type":"input_text","text":"hi"}]}}"#;
        assert_eq!(Seen::from_json(user_done).unwrap(), Seen::Other);
        let error = r#"{"type":"error","code":"stream.error","allow_retry":true}"#;
        assert_eq!(
            Seen::from_json(error).unwrap(),
            Seen::Error("stream.error: ".into())
        );
        assert!(Seen::from_json("not json").is_err());
        assert!(Seen::from_json(r#"{"type":"thread.created"}"#).is_err());
    }
}
