//! Workflows, tasks and workflow summaries (§4.7).

use serde::{Deserialize, Serialize};

use super::content::Source;

/// A group of tasks shown as one collapsible block (§4.7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    /// `custom` or `reasoning` (required, no default).
    #[serde(rename = "type")]
    pub kind: WorkflowType,
    /// The tasks, in display order.
    pub tasks: Vec<Task>,
    /// Summary shown when collapsed; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<WorkflowSummary>,
    /// Whether the block is expanded; always emitted.
    #[serde(default)]
    pub expanded: bool,
}

/// The workflow's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowType {
    /// Integration-defined steps.
    Custom,
    /// Model reasoning.
    Reasoning,
}

/// A workflow summary: an **untagged** union told apart by its keys
/// (`title` or `duration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WorkflowSummary {
    /// `{"title":"...","icon":"..."}`.
    Custom {
        /// The summary text.
        title: String,
        /// An icon name; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
    },
    /// `{"duration":12}`: seconds spent.
    Duration {
        /// Seconds.
        duration: i64,
    },
}

/// A task (§4.7): `status_indicator` (always emitted, before `type`),
/// then `type` and its fields ([`TaskKind`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Progress indicator; defaults to `none`.
    #[serde(default)]
    pub status_indicator: TaskStatusIndicator,
    /// The task's `type` and fields.
    #[serde(flatten)]
    pub kind: TaskKind,
}

/// A task's progress indicator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatusIndicator {
    /// No indicator.
    #[default]
    None,
    /// A spinner.
    Loading,
    /// A check mark.
    Complete,
}

/// The task's `type` and type-specific fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskKind {
    /// `custom`.
    Custom {
        /// Title; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Icon name; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
        /// Body text; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<String>,
    },
    /// `web_search`.
    WebSearch {
        /// Title; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The query shown in the title; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title_query: Option<String>,
        /// Queries run; always emitted.
        #[serde(default)]
        queries: Vec<String>,
        /// URL sources found; always emitted.
        #[serde(default)]
        sources: Vec<Source>,
    },
    /// `thought`: reasoning text.
    Thought {
        /// Title; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// The thought (required).
        content: String,
    },
    /// `file`.
    File {
        /// Title; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// File sources read; always emitted.
        #[serde(default)]
        sources: Vec<Source>,
    },
    /// `image`.
    Image {
        /// Title; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_untagged() {
        let d: WorkflowSummary = serde_json::from_str(r#"{"duration":7}"#).unwrap();
        assert_eq!(d, WorkflowSummary::Duration { duration: 7 });
        let c: WorkflowSummary = serde_json::from_str(r#"{"title":"Done"}"#).unwrap();
        assert_eq!(
            c,
            WorkflowSummary::Custom {
                title: "Done".into(),
                icon: None
            }
        );
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"title":"Done"}"#);
    }

    #[test]
    fn task_status_indicator_precedes_type() {
        let t = Task {
            status_indicator: TaskStatusIndicator::Complete,
            kind: TaskKind::Thought {
                title: None,
                content: "x".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"status_indicator":"complete","type":"thought","content":"x"}"#
        );
        let parsed: Task = serde_json::from_str(r#"{"type":"image"}"#).unwrap();
        assert_eq!(parsed.status_indicator, TaskStatusIndicator::None);
        assert!(serde_json::from_str::<Task>(r#"{"type":"thought"}"#).is_err());
        assert!(serde_json::from_str::<Task>(r#"{"status_indicator":"none"}"#).is_err());
    }
}
