//! Item updates, the `update` of a `thread.item.updated` event (§7).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::content::{Annotation, AssistantMessageContent};
use super::items::GeneratedImage;
use super::widgets::{WidgetRoot, serialize_without_nulls};
use super::workflow::Task;

/// A change to a streamed item (§7), tagged by `type` (always first).
/// How to apply them to a pending copy: [`crate::protocol::ThreadItem::apply`].
// Updates are built, forwarded and dropped; boxing the annotation would only
// complicate construction and matching.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ThreadItemUpdate {
    /// Sets part `content_index` (padding with empty parts).
    #[serde(rename = "assistant_message.content_part.added")]
    AssistantMessageContentPartAdded {
        /// Index of the part.
        content_index: usize,
        /// The new part (usually empty).
        content: AssistantMessageContent,
    },
    /// Appends text to part `content_index`.
    #[serde(rename = "assistant_message.content_part.text_delta")]
    AssistantMessageContentPartTextDelta {
        /// Index of the part.
        content_index: usize,
        /// Text to append.
        delta: String,
    },
    /// Inserts an annotation into part `content_index`.
    #[serde(rename = "assistant_message.content_part.annotation_added")]
    AssistantMessageContentPartAnnotationAdded {
        /// Index of the part.
        content_index: usize,
        /// Where to insert among the part's annotations.
        annotation_index: usize,
        /// The annotation.
        annotation: Annotation,
    },
    /// Replaces part `content_index` with its final state.
    #[serde(rename = "assistant_message.content_part.done")]
    AssistantMessageContentPartDone {
        /// Index of the part.
        content_index: usize,
        /// The final part.
        content: AssistantMessageContent,
    },
    /// Appends to the `value` of the Text/Markdown component `component_id`.
    #[serde(rename = "widget.streaming_text.value_delta")]
    WidgetStreamingTextValueDelta {
        /// The component's `id`.
        component_id: String,
        /// Text to append.
        delta: String,
        /// True once the component stopped streaming.
        done: bool,
    },
    /// Replaces the whole widget.
    #[serde(rename = "widget.root.updated")]
    WidgetRootUpdated {
        /// The new root.
        widget: WidgetRoot,
    },
    /// Replaces the component with that id.
    #[serde(rename = "widget.component.updated")]
    WidgetComponentUpdated {
        /// The component's `id`.
        component_id: String,
        /// The new component (nulls stripped on output, §8.3).
        #[serde(serialize_with = "serialize_without_nulls")]
        component: Value,
    },
    /// Adds a task to a workflow (producers append).
    #[serde(rename = "workflow.task.added")]
    WorkflowTaskAdded {
        /// Position of the new task.
        task_index: usize,
        /// The task.
        task: Task,
    },
    /// Replaces `tasks[task_index]`.
    #[serde(rename = "workflow.task.updated")]
    WorkflowTaskUpdated {
        /// Position of the task.
        task_index: usize,
        /// The new task.
        task: Task,
    },
    /// Sets a (partial) generated image.
    #[serde(rename = "generated_image.updated")]
    GeneratedImageUpdated {
        /// The image so far.
        image: GeneratedImage,
        /// Completion fraction in 0..1; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        progress: Option<f64>,
    },
}

impl ThreadItemUpdate {
    /// The wire `type` string, e.g. `"workflow.task.added"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::AssistantMessageContentPartAdded { .. } => "assistant_message.content_part.added",
            Self::AssistantMessageContentPartTextDelta { .. } => {
                "assistant_message.content_part.text_delta"
            }
            Self::AssistantMessageContentPartAnnotationAdded { .. } => {
                "assistant_message.content_part.annotation_added"
            }
            Self::AssistantMessageContentPartDone { .. } => "assistant_message.content_part.done",
            Self::WidgetStreamingTextValueDelta { .. } => "widget.streaming_text.value_delta",
            Self::WidgetRootUpdated { .. } => "widget.root.updated",
            Self::WidgetComponentUpdated { .. } => "widget.component.updated",
            Self::WorkflowTaskAdded { .. } => "workflow.task.added",
            Self::WorkflowTaskUpdated { .. } => "workflow.task.updated",
            Self::GeneratedImageUpdated { .. } => "generated_image.updated",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn progress_is_written_as_float() {
        let u: ThreadItemUpdate = serde_json::from_str(
            r#"{"type":"generated_image.updated","image":{"id":"i","url":"u"},"progress":1}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"type":"generated_image.updated","image":{"id":"i","url":"u"},"progress":1.0}"#
        );
    }

    #[test]
    fn component_update_strips_nulls() {
        let u = ThreadItemUpdate::WidgetComponentUpdated {
            component_id: "b".into(),
            component: json!({"id":"b","type":"Badge","label":"x","color":null}),
        };
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"type":"widget.component.updated","component_id":"b","component":{"id":"b","type":"Badge","label":"x"}}"#
        );
    }
}
