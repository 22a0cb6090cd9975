//! Thread items (§5): [`ThreadItem`] and the per-type payloads of
//! [`ItemKind`], with the pending-copy update rules of §7 / §10.3.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attachments::Attachment;
use super::common::ordered_map;
use super::content::{AssistantMessageContent, InferenceOptions, UserMessageContent};
use super::updates::ThreadItemUpdate;
use super::widgets::WidgetRoot;
use super::workflow::{Task, Workflow};
use crate::ids::{ItemId, ThreadId};
use crate::time::Timestamp;

/// One item of a thread (§5): `id`, `thread_id`, `created_at`, then `type`
/// and the type-specific fields ([`ItemKind`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadItem {
    /// The item id, unique within its thread.
    pub id: ItemId,
    /// The thread it belongs to.
    pub thread_id: ThreadId,
    /// When the item was created.
    pub created_at: Timestamp,
    /// The `type` and its fields.
    #[serde(flatten)]
    pub kind: ItemKind,
}

impl ThreadItem {
    /// Builds an item.
    pub fn new(id: ItemId, thread_id: ThreadId, created_at: Timestamp, kind: ItemKind) -> Self {
        Self {
            id,
            thread_id,
            created_at,
            kind,
        }
    }

    /// True for `hidden_context_item` and `sdk_hidden_context`: stored and
    /// given to the model, never sent to a client (§5.12).
    pub fn is_hidden(&self) -> bool {
        self.kind.is_hidden()
    }

    /// The wire `type` string, e.g. `"user_message"`.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// Applies an update to a pending copy of this item (§10.3): the four
    /// `assistant_message.content_part.*` updates to an assistant message,
    /// `workflow.task.*` to a workflow. Every other combination is ignored.
    pub fn apply(&mut self, update: &ThreadItemUpdate) {
        match &mut self.kind {
            ItemKind::AssistantMessage(message) => message.apply(update),
            ItemKind::Workflow(workflow) => workflow.apply(update),
            _ => {}
        }
    }
}

/// The item's `type` and type-specific fields (§5.1–5.11).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemKind {
    /// `user_message` (§5.1).
    UserMessage(UserMessageItem),
    /// `assistant_message` (§5.2).
    AssistantMessage(AssistantMessageItem),
    /// `client_tool_call` (§5.3).
    ClientToolCall(ClientToolCallItem),
    /// `widget` (§5.4).
    Widget(WidgetItem),
    /// `generated_image` (§5.5).
    GeneratedImage(GeneratedImageItem),
    /// `structured_input` (§5.6).
    StructuredInput(StructuredInputItem),
    /// `workflow` (§5.7).
    Workflow(WorkflowItem),
    /// `task` (§5.8).
    Task(TaskItem),
    /// `end_of_turn` (§5.9): no fields.
    EndOfTurn,
    /// `hidden_context_item` (§5.10): never sent to clients.
    HiddenContextItem(HiddenContextItem),
    /// `sdk_hidden_context` (§5.11): never sent to clients.
    SdkHiddenContext(SdkHiddenContextItem),
}

impl ItemKind {
    /// True for the two hidden item types (§5.12).
    pub fn is_hidden(&self) -> bool {
        matches!(
            self,
            ItemKind::HiddenContextItem(_) | ItemKind::SdkHiddenContext(_)
        )
    }

    /// The wire `type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            ItemKind::UserMessage(_) => "user_message",
            ItemKind::AssistantMessage(_) => "assistant_message",
            ItemKind::ClientToolCall(_) => "client_tool_call",
            ItemKind::Widget(_) => "widget",
            ItemKind::GeneratedImage(_) => "generated_image",
            ItemKind::StructuredInput(_) => "structured_input",
            ItemKind::Workflow(_) => "workflow",
            ItemKind::Task(_) => "task",
            ItemKind::EndOfTurn => "end_of_turn",
            ItemKind::HiddenContextItem(_) => "hidden_context_item",
            ItemKind::SdkHiddenContext(_) => "sdk_hidden_context",
        }
    }
}

/// A user message (§5.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserMessageItem {
    /// The message parts.
    pub content: Vec<UserMessageContent>,
    /// Full attachment objects (metadata never serialized); always emitted.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Quoted text; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_text: Option<String>,
    /// Model options as given by the client; always emitted (`{}`).
    #[serde(default)]
    pub inference_options: InferenceOptions,
}

/// An assistant message (§5.2).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessageItem {
    /// The content parts (may be empty while streaming).
    pub content: Vec<AssistantMessageContent>,
}

impl AssistantMessageItem {
    /// Applies one of the four `assistant_message.content_part.*` updates
    /// with the rules of §7 (other updates are ignored): the content is
    /// first padded with empty parts up to `content_index`; then `added`
    /// and `done` replace the part, `text_delta` appends to its text, and
    /// `annotation_added` inserts at `annotation_index` (appends when the
    /// index is past the end).
    ///
    /// Indexes are trusted: they come from our own responder, and padding
    /// allocates up to `content_index` parts.
    pub fn apply(&mut self, update: &ThreadItemUpdate) {
        match update {
            ThreadItemUpdate::AssistantMessageContentPartAdded {
                content_index,
                content,
            }
            | ThreadItemUpdate::AssistantMessageContentPartDone {
                content_index,
                content,
            } => *self.part_mut(*content_index) = content.clone(),
            ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                content_index,
                delta,
            } => self.part_mut(*content_index).text.push_str(delta),
            ThreadItemUpdate::AssistantMessageContentPartAnnotationAdded {
                content_index,
                annotation_index,
                annotation,
            } => {
                let annotations = &mut self.part_mut(*content_index).annotations;
                if *annotation_index <= annotations.len() {
                    annotations.insert(*annotation_index, annotation.clone());
                } else {
                    annotations.push(annotation.clone());
                }
            }
            _ => {}
        }
    }

    /// True when there is nothing worth keeping: no parts, or only parts
    /// whose text is empty or whitespace (the cancellation rule, §10.6).
    pub fn is_empty(&self) -> bool {
        self.content.iter().all(|part| part.text.trim().is_empty())
    }

    fn part_mut(&mut self, index: usize) -> &mut AssistantMessageContent {
        if self.content.len() <= index {
            self.content.resize_with(index + 1, Default::default);
        }
        &mut self.content[index]
    }
}

/// A tool call the client runs (§5.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientToolCallItem {
    /// `pending` until the client sent the output; always emitted.
    #[serde(default)]
    pub status: ClientToolCallStatus,
    /// The model's call id.
    pub call_id: String,
    /// The tool name.
    pub name: String,
    /// The arguments (kept verbatim).
    pub arguments: Map<String, Value>,
    /// The client's result; omitted while `None` (and when the client sent
    /// `null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// Status of a client tool call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientToolCallStatus {
    /// Waiting for `threads.add_client_tool_output`.
    #[default]
    Pending,
    /// The output arrived.
    Completed,
}

/// A widget shown in the thread (§5.4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidgetItem {
    /// The widget tree (nulls stripped on output).
    pub widget: WidgetRoot,
    /// Text for the client's copy button; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_text: Option<String>,
}

/// A generated image (§5.5); `image` is absent while generating.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratedImageItem {
    /// The image once (partly) available; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<GeneratedImage>,
}

/// An image produced by a model (§4.9).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedImage {
    /// The image id.
    pub id: String,
    /// An https or `data:` URL (kept verbatim).
    pub url: String,
}

/// A set of questions shown instead of the composer (§5.6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StructuredInputItem {
    /// `pending` until answered or skipped; always emitted.
    #[serde(default)]
    pub status: StructuredInputStatus,
    /// The questions.
    pub inputs: Vec<StructuredInput>,
}

/// Status of a structured input item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredInputStatus {
    /// Waiting for the user.
    #[default]
    Pending,
    /// The user submitted answers.
    Answered,
    /// The user skipped the whole set.
    Skipped,
}

/// One question (§4.8): `id`, `question`, `answer`, then `type` and its
/// fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StructuredInput {
    /// Stable question id.
    pub id: String,
    /// The question text.
    pub question: String,
    /// The answer once given; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<StructuredInputAnswer>,
    /// `multiple_choice` or `freeform`.
    #[serde(flatten)]
    pub kind: StructuredInputKind,
}

/// The question's `type` and type-specific fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StructuredInputKind {
    /// Pick one (or several) of the options.
    MultipleChoice {
        /// The choices.
        options: Vec<StructuredInputOption>,
        /// Whether several may be picked; always emitted.
        #[serde(default)]
        multiple: bool,
    },
    /// Free text.
    Freeform {
        /// Help text; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

/// One choice of a multiple-choice question: `{"value":"High"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructuredInputOption {
    /// The choice text.
    pub value: String,
}

/// An answer (§4.8); both fields always emitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructuredInputAnswer {
    /// The chosen or typed values.
    #[serde(default)]
    pub values: Vec<String>,
    /// Whether the question was skipped.
    #[serde(default)]
    pub skipped: bool,
}

impl StructuredInputAnswer {
    /// `{"values":[],"skipped":true}`.
    pub fn skipped() -> Self {
        Self {
            values: Vec::new(),
            skipped: true,
        }
    }
}

/// The client's answers in `threads.add_structured_input` (§9.4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructuredInputSubmission {
    /// `answered` (default) or `skipped`.
    #[serde(default)]
    pub status: StructuredInputSubmissionStatus,
    /// Answers by question id, in the client's order.
    #[serde(default, with = "ordered_map")]
    pub answers: indexmap::IndexMap<String, StructuredInputAnswer>,
}

/// Status of a structured input submission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredInputSubmissionStatus {
    /// The user answered (some questions may still be skipped).
    #[default]
    Answered,
    /// The user skipped the whole set.
    Skipped,
}

impl From<StructuredInputSubmissionStatus> for StructuredInputStatus {
    fn from(status: StructuredInputSubmissionStatus) -> Self {
        match status {
            StructuredInputSubmissionStatus::Answered => StructuredInputStatus::Answered,
            StructuredInputSubmissionStatus::Skipped => StructuredInputStatus::Skipped,
        }
    }
}

/// A workflow item (§5.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowItem {
    /// The workflow.
    pub workflow: Workflow,
}

impl WorkflowItem {
    /// Applies a `workflow.task.*` update to a pending copy (§10.3):
    /// `task.added` appends (ignoring `task_index`), `task.updated`
    /// replaces `tasks[task_index]` (ignored when out of range). Other
    /// updates are ignored.
    pub fn apply(&mut self, update: &ThreadItemUpdate) {
        match update {
            ThreadItemUpdate::WorkflowTaskAdded { task, .. } => {
                self.workflow.tasks.push(task.clone());
            }
            ThreadItemUpdate::WorkflowTaskUpdated { task_index, task } => {
                if let Some(slot) = self.workflow.tasks.get_mut(*task_index) {
                    *slot = task.clone();
                }
            }
            _ => {}
        }
    }
}

/// A standalone task (§5.8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskItem {
    /// The task.
    pub task: Task,
}

/// Integration-defined context for the model (§5.10). Never sent to
/// clients.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HiddenContextItem {
    /// Any JSON; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Value>,
}

/// A note written by the server itself, e.g. the cancellation note
/// (§5.11, §10.6). Never sent to clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdkHiddenContextItem {
    /// The note text.
    pub content: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Annotation, Source, TaskKind, TaskStatusIndicator, WorkflowType};

    fn annotation(title: &str) -> Annotation {
        Annotation {
            source: Source::url(title, "https://example.com"),
            index: None,
        }
    }

    #[test]
    fn content_part_updates_pad_with_empty_parts() {
        let mut m = AssistantMessageItem::default();
        m.apply(&ThreadItemUpdate::AssistantMessageContentPartTextDelta {
            content_index: 2,
            delta: "Hi".into(),
        });
        assert_eq!(m.content.len(), 3);
        assert_eq!(m.content[0], AssistantMessageContent::default());
        assert_eq!(m.content[2].text, "Hi");
        m.apply(&ThreadItemUpdate::AssistantMessageContentPartTextDelta {
            content_index: 2,
            delta: " there".into(),
        });
        assert_eq!(m.content[2].text, "Hi there");

        m.apply(&ThreadItemUpdate::AssistantMessageContentPartAdded {
            content_index: 3,
            content: AssistantMessageContent::text("new"),
        });
        assert_eq!(m.content.len(), 4);
        assert_eq!(m.content[3].text, "new");

        m.apply(&ThreadItemUpdate::AssistantMessageContentPartDone {
            content_index: 0,
            content: AssistantMessageContent::text("final"),
        });
        assert_eq!(m.content[0].text, "final");
        assert_eq!(m.content.len(), 4);
    }

    #[test]
    fn annotations_insert_at_index_or_append() {
        let mut m = AssistantMessageItem::default();
        let add = |index: usize, title: &str| {
            ThreadItemUpdate::AssistantMessageContentPartAnnotationAdded {
                content_index: 1,
                annotation_index: index,
                annotation: annotation(title),
            }
        };
        m.apply(&add(0, "a"));
        m.apply(&add(7, "c")); // past the end: appended
        m.apply(&add(1, "b")); // inserted between
        m.apply(&add(0, "z")); // inserted first
        assert_eq!(m.content.len(), 2);
        let titles: Vec<&str> = m.content[1]
            .annotations
            .iter()
            .map(|a| a.source.title.as_str())
            .collect();
        assert_eq!(titles, ["z", "a", "b", "c"]);
    }

    #[test]
    fn other_updates_are_ignored_and_emptiness() {
        let mut m = AssistantMessageItem::default();
        assert!(m.is_empty());
        m.apply(&ThreadItemUpdate::WidgetStreamingTextValueDelta {
            component_id: "x".into(),
            delta: "y".into(),
            done: true,
        });
        assert!(m.content.is_empty());
        m.apply(&ThreadItemUpdate::AssistantMessageContentPartTextDelta {
            content_index: 0,
            delta: " \n".into(),
        });
        assert!(m.is_empty());
        m.apply(&ThreadItemUpdate::AssistantMessageContentPartTextDelta {
            content_index: 0,
            delta: "x".into(),
        });
        assert!(!m.is_empty());
    }

    #[test]
    fn workflow_tasks_append_and_replace() {
        let thought = |content: &str| Task {
            status_indicator: TaskStatusIndicator::None,
            kind: TaskKind::Thought {
                title: None,
                content: content.into(),
            },
        };
        let mut w = WorkflowItem {
            workflow: Workflow {
                kind: WorkflowType::Reasoning,
                tasks: vec![],
                summary: None,
                expanded: false,
            },
        };
        w.apply(&ThreadItemUpdate::WorkflowTaskAdded {
            task_index: 5,
            task: thought("a"),
        });
        w.apply(&ThreadItemUpdate::WorkflowTaskAdded {
            task_index: 0,
            task: thought("b"),
        });
        w.apply(&ThreadItemUpdate::WorkflowTaskUpdated {
            task_index: 0,
            task: thought("a2"),
        });
        w.apply(&ThreadItemUpdate::WorkflowTaskUpdated {
            task_index: 9,
            task: thought("ignored"),
        });
        assert_eq!(w.workflow.tasks, vec![thought("a2"), thought("b")]);
    }

    #[test]
    fn hidden_items_and_type_names() {
        let item: ThreadItem = serde_json::from_str(
            r#"{"id":"m","thread_id":"t","created_at":"2025-06-01T09:30:00","type":"hidden_context_item","content":{"a":null}}"#,
        )
        .unwrap();
        assert!(item.is_hidden());
        assert_eq!(item.type_name(), "hidden_context_item");
        assert_eq!(
            serde_json::to_string(&item).unwrap(),
            r#"{"id":"m","thread_id":"t","created_at":"2025-06-01T09:30:00.000000Z","type":"hidden_context_item","content":{"a":null}}"#
        );
        let eot: ThreadItem = serde_json::from_str(
            r#"{"id":"m","thread_id":"t","created_at":"2025-06-01T09:30:00","type":"end_of_turn"}"#,
        )
        .unwrap();
        assert!(!eot.is_hidden());
        assert_eq!(eot.kind, ItemKind::EndOfTurn);
    }

    #[test]
    fn client_tool_call_output_null_is_omitted() {
        let json = r#"{"id":"tc","thread_id":"t","created_at":"2025-06-01T09:30:00","type":"client_tool_call","call_id":"c","name":"n","arguments":{},"output":null}"#;
        let item: ThreadItem = serde_json::from_str(json).unwrap();
        assert_eq!(
            serde_json::to_string(&item).unwrap(),
            r#"{"id":"tc","thread_id":"t","created_at":"2025-06-01T09:30:00.000000Z","type":"client_tool_call","status":"pending","call_id":"c","name":"n","arguments":{}}"#
        );
    }

    #[test]
    fn submission_keeps_answer_order_and_rejects_null() {
        let json = r#"{"answers":{"z":{"values":["1"]},"a":{"skipped":true}}}"#;
        let sub: StructuredInputSubmission = serde_json::from_str(json).unwrap();
        assert_eq!(sub.status, StructuredInputSubmissionStatus::Answered);
        assert_eq!(
            serde_json::to_string(&sub).unwrap(),
            r#"{"status":"answered","answers":{"z":{"values":["1"],"skipped":false},"a":{"values":[],"skipped":true}}}"#
        );
        assert!(serde_json::from_str::<StructuredInputSubmission>(r#"{"answers":null}"#).is_err());
        assert!(serde_json::from_str::<StructuredInputSubmission>(r#"{"status":null}"#).is_err());
        assert!(
            serde_json::from_str::<StructuredInputSubmission>(
                r#"{"answers":{"a":{"values":null}}}"#
            )
            .is_err()
        );
    }
}
