//! Assistant messages (MODEL_STREAMING.md §4.3) and annotations (§4.4).

use std::collections::HashMap;

use serde_json::Value;
use tracing::debug;

use crate::ids::{IdKind, ItemId, ThreadId};
use crate::protocol::{
    Annotation, AssistantMessageContent, AssistantMessageItem, ItemKind, Source, SourceKind,
    ThreadItem, ThreadItemUpdate, ThreadStreamEvent,
};
use crate::time::Timestamp;

/// Converts a provider annotation to a ChatKit one (§4.4), or `None` when
/// it has no ChatKit form:
///
/// - `url_citation` → URL source (`title`, falling back to the URL),
///   `index` = `end_index`; dropped without a URL;
/// - `file_citation` → file source named `filename`, `index` = `index`;
/// - `container_file_citation` → file source, `index` = `end_index`;
/// - both file kinds are dropped when `filename` is empty;
/// - `file_path` and anything else → dropped.
///
/// The Chat Completions shape, with the fields nested under the type's
/// name (`{"type":"url_citation","url_citation":{…}}`), is read too.
pub fn convert_annotation(annotation: &Value) -> Option<Annotation> {
    let kind = annotation.get("type")?.as_str()?;
    let body = annotation
        .get(kind)
        .filter(|b| b.is_object())
        .unwrap_or(annotation);
    let text = |key: &str| {
        body.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let number = |key: &str| {
        body.get(key)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    match kind {
        "url_citation" => {
            let url = text("url")?;
            let title = text("title").unwrap_or(url);
            Some(Annotation {
                source: Source::url(title, url),
                index: number("end_index"),
            })
        }
        "file_citation" => Some(Annotation {
            source: file_source(text("filename")?),
            index: number("index"),
        }),
        "container_file_citation" => Some(Annotation {
            source: file_source(text("filename")?),
            index: number("end_index"),
        }),
        _ => None,
    }
}

fn file_source(filename: &str) -> Source {
    Source {
        title: filename.to_owned(),
        description: None,
        timestamp: None,
        group: None,
        kind: SourceKind::File {
            filename: filename.to_owned(),
        },
    }
}

/// The converted annotations of a provider part (`annotations` array).
fn convert_all(part: &Value) -> Vec<Annotation> {
    part.get("annotations")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(convert_annotation).collect())
        .unwrap_or_default()
}

/// The text of a provider part: `text` (`output_text`) or `refusal`.
fn part_text(part: &Value) -> &str {
    part.get("text")
        .or_else(|| part.get("refusal"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether a provider part becomes ChatKit text: `output_text`,
/// `refusal` (a refusal is shown as a normal answer, §1.8), or an
/// untyped part with text.
fn is_text_part(part: &Value) -> bool {
    match part.get("type").and_then(Value::as_str) {
        Some(kind) => kind == "output_text" || kind == "refusal",
        None => part.get("text").is_some(),
    }
}

/// One content part as streamed so far.
#[derive(Default)]
struct Part {
    text: String,
    annotations: Vec<Annotation>,
    /// The content of the last `content_part.done` we sent for it.
    sent_done: Option<AssistantMessageContent>,
}

impl Part {
    fn content(&self) -> AssistantMessageContent {
        AssistantMessageContent {
            annotations: self.annotations.clone(),
            text: self.text.clone(),
        }
    }
}

/// One ChatKit assistant message: the state behind its `added`, updates
/// and `done`, which all carry [`MessageState::id`].
pub(super) struct MessageState {
    /// The ChatKit id (fresh, never the provider's).
    pub(super) id: ItemId,
    created_at: Timestamp,
    /// Parts in ChatKit order (dense indexes from 0).
    parts: Vec<Part>,
    /// Provider `content_index` → ChatKit index.
    by_provider: HashMap<usize, usize>,
    /// Whether `thread.item.done` (or `removed`) was sent.
    pub(super) done: bool,
}

impl MessageState {
    /// A new message with a fresh id; text parts of the provider's
    /// `added` item (normally none) become its first parts.
    pub(super) fn new(item: &Value) -> Self {
        let mut message = Self {
            id: ItemId::generate(IdKind::Message),
            created_at: Timestamp::now(),
            parts: Vec::new(),
            by_provider: HashMap::new(),
            done: false,
        };
        let content = item.get("content").and_then(Value::as_array);
        for (index, part) in content.into_iter().flatten().enumerate() {
            if is_text_part(part) {
                message.by_provider.insert(index, message.parts.len());
                message.parts.push(Part {
                    text: part_text(part).to_owned(),
                    annotations: convert_all(part),
                    sent_done: None,
                });
            }
        }
        message
    }

    /// `thread.item.added` for this message.
    pub(super) fn added_event(&self, thread_id: &ThreadId) -> ThreadStreamEvent {
        let content = self.parts.iter().map(Part::content).collect();
        ThreadStreamEvent::ThreadItemAdded {
            item: self.item(thread_id, content),
        }
    }

    fn item(&self, thread_id: &ThreadId, content: Vec<AssistantMessageContent>) -> ThreadItem {
        ThreadItem::new(
            self.id.clone(),
            thread_id.clone(),
            self.created_at,
            ItemKind::AssistantMessage(AssistantMessageItem { content }),
        )
    }

    fn update(&self, update: ThreadItemUpdate) -> ThreadStreamEvent {
        ThreadStreamEvent::ThreadItemUpdated {
            item_id: self.id.clone(),
            update,
        }
    }

    /// The ChatKit index of provider part `content_index`, creating the
    /// part (and announcing it) when it is new.
    fn part(&mut self, content_index: usize, out: &mut Vec<ThreadStreamEvent>) -> usize {
        if let Some(&index) = self.by_provider.get(&content_index) {
            return index;
        }
        let index = self.parts.len();
        self.parts.push(Part::default());
        self.by_provider.insert(content_index, index);
        out.push(
            self.update(ThreadItemUpdate::AssistantMessageContentPartAdded {
                content_index: index,
                content: AssistantMessageContent::default(),
            }),
        );
        index
    }

    /// `response.content_part.added` (`output_text` or `refusal`).
    pub(super) fn part_added(
        &mut self,
        content_index: usize,
        part: &Value,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        if self.by_provider.contains_key(&content_index) {
            debug!(content_index, "content part announced twice; ignored");
            return;
        }
        let index = self.parts.len();
        let new = Part {
            text: part_text(part).to_owned(),
            annotations: convert_all(part),
            sent_done: None,
        };
        let content = new.content();
        self.parts.push(new);
        self.by_provider.insert(content_index, index);
        out.push(
            self.update(ThreadItemUpdate::AssistantMessageContentPartAdded {
                content_index: index,
                content,
            }),
        );
    }

    /// A text or refusal delta. Empty deltas are dropped.
    pub(super) fn delta(
        &mut self,
        content_index: usize,
        delta: String,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        if delta.is_empty() {
            return;
        }
        let index = self.part(content_index, out);
        self.parts[index].text.push_str(&delta);
        out.push(
            self.update(ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                content_index: index,
                delta,
            }),
        );
    }

    /// `response.output_text.annotation.added`: converted, numbered by our
    /// own per-part counter (only converted annotations count).
    pub(super) fn annotation(
        &mut self,
        content_index: usize,
        annotation: &Value,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        let Some(annotation) = convert_annotation(annotation) else {
            debug!(%annotation, "annotation without a ChatKit form; dropped");
            return;
        };
        let index = self.part(content_index, out);
        let annotation_index = self.parts[index].annotations.len();
        self.parts[index].annotations.push(annotation.clone());
        out.push(self.update(
            ThreadItemUpdate::AssistantMessageContentPartAnnotationAdded {
                content_index: index,
                annotation_index,
                annotation,
            },
        ));
    }

    /// `response.output_text.done` / `response.refusal.done`: the full
    /// text (kept as streamed when empty); `content_part.done` carries
    /// the annotations streamed so far.
    pub(super) fn text_done(
        &mut self,
        content_index: usize,
        text: String,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        let index = self.part(content_index, out);
        if !text.is_empty() {
            self.parts[index].text = text;
        }
        self.send_part_done(index, out);
    }

    /// `response.content_part.done`: the final part. Its annotations
    /// replace the streamed ones when it has any convertible ones.
    pub(super) fn part_done(
        &mut self,
        content_index: usize,
        part: &Value,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        let index = self.part(content_index, out);
        let text = part_text(part);
        if !text.is_empty() {
            self.parts[index].text = text.to_owned();
        }
        let annotations = convert_all(part);
        if !annotations.is_empty() {
            self.parts[index].annotations = annotations;
        }
        self.send_part_done(index, out);
    }

    /// Sends `content_part.done` for part `index` unless the client
    /// already has exactly this content.
    fn send_part_done(&mut self, index: usize, out: &mut Vec<ThreadStreamEvent>) {
        let content = self.parts[index].content();
        if self.parts[index].sent_done.as_ref() == Some(&content) {
            return;
        }
        self.parts[index].sent_done = Some(content.clone());
        out.push(
            self.update(ThreadItemUpdate::AssistantMessageContentPartDone {
                content_index: index,
                content,
            }),
        );
    }

    /// `response.output_item.done`: `thread.item.done` with the final
    /// content, rebuilt from the done item, part by part falling back to
    /// what was streamed (empty text or no convertible annotations in the
    /// item → the streamed ones; an item without parts → the streamed
    /// parts). Streamed parts that never got a `content_part.done` get
    /// one first.
    pub(super) fn finish(
        &mut self,
        thread_id: &ThreadId,
        item: &Value,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        let streamed: Vec<AssistantMessageContent> = self.parts.iter().map(Part::content).collect();
        let given: Vec<&Value> = item
            .get("content")
            .and_then(Value::as_array)
            .map(|parts| parts.iter().filter(|p| is_text_part(p)).collect())
            .unwrap_or_default();
        let content = if given.is_empty() {
            streamed
        } else {
            let mut content: Vec<AssistantMessageContent> = given
                .iter()
                .enumerate()
                .map(|(i, part)| {
                    let fallback = streamed.get(i).cloned().unwrap_or_default();
                    let text = part_text(part);
                    let annotations = convert_all(part);
                    AssistantMessageContent {
                        text: if text.is_empty() {
                            fallback.text
                        } else {
                            text.to_owned()
                        },
                        annotations: if annotations.is_empty() {
                            fallback.annotations
                        } else {
                            annotations
                        },
                    }
                })
                .collect();
            let extra = streamed.into_iter().skip(content.len());
            content.extend(extra.filter(|p| !p.text.trim().is_empty()));
            content
        };
        for (index, final_part) in content.iter().enumerate().take(self.parts.len()) {
            if self.parts[index].sent_done.is_none() {
                self.parts[index].text = final_part.text.clone();
                self.parts[index].annotations = final_part.annotations.clone();
                self.send_part_done(index, out);
            }
        }
        self.done = true;
        out.push(ThreadStreamEvent::ThreadItemDone {
            item: self.item(thread_id, content),
        });
    }

    /// Ends a message whose `output_item.done` never came (end of the
    /// model call, or its slot reused): `thread.item.done` with the
    /// streamed content if it has non-whitespace text (true), else
    /// `thread.item.removed` (false).
    pub(super) fn close(&mut self, thread_id: &ThreadId, out: &mut Vec<ThreadStreamEvent>) -> bool {
        self.done = true;
        if self.is_blank() {
            out.push(ThreadStreamEvent::ThreadItemRemoved {
                item_id: self.id.clone(),
            });
            return false;
        }
        for index in 0..self.parts.len() {
            self.send_part_done(index, out);
        }
        let content = self.parts.iter().map(Part::content).collect();
        out.push(ThreadStreamEvent::ThreadItemDone {
            item: self.item(thread_id, content),
        });
        true
    }

    /// Whether no part has non-whitespace text.
    pub(super) fn is_blank(&self) -> bool {
        self.parts.iter().all(|p| p.text.trim().is_empty())
    }

    /// The message in provider form, for replay when the provider never
    /// sent its `output_item.done`.
    pub(super) fn provider_item(&self) -> Value {
        let content: Vec<Value> = self
            .parts
            .iter()
            .map(|p| serde_json::json!({"type": "output_text", "text": p.text, "annotations": []}))
            .collect();
        serde_json::json!({
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": content,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn annotation_shapes() {
        let url = convert_annotation(&json!({"type":"url_citation","start_index":0,"end_index":12,"url":"https://e.com","title":"E"})).unwrap();
        assert_eq!(
            serde_json::to_value(&url).unwrap(),
            json!({"type":"annotation","source":{"title":"E","type":"url","url":"https://e.com"},"index":12})
        );
        let untitled =
            convert_annotation(&json!({"type":"url_citation","url":"https://e.com"})).unwrap();
        assert_eq!(untitled.source.title, "https://e.com");
        assert_eq!(untitled.index, None);
        let nested = convert_annotation(&json!({"type":"url_citation","url_citation":{"url":"https://n.com","title":"N","end_index":3}})).unwrap();
        assert_eq!(nested.index, Some(3));
        let file = convert_annotation(
            &json!({"type":"file_citation","file_id":"f","filename":"a.pdf","index":4}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&file).unwrap(),
            json!({"type":"annotation","source":{"title":"a.pdf","type":"file","filename":"a.pdf"},"index":4})
        );
        let container = convert_annotation(&json!({"type":"container_file_citation","container_id":"c","file_id":"f","filename":"b.csv","start_index":1,"end_index":9})).unwrap();
        assert_eq!(container.index, Some(9));
        for dropped in [
            json!({"type":"file_citation","file_id":"f","filename":"","index":1}),
            json!({"type":"file_path","file_id":"f","index":1}),
            json!({"type":"url_citation","title":"no url"}),
            json!({"no":"type"}),
        ] {
            assert_eq!(convert_annotation(&dropped), None, "{dropped}");
        }
    }
}
