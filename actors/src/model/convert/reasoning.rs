//! Reasoning → a `reasoning` workflow with `thought` tasks
//! (MODEL_STREAMING.md §4.5).
//!
//! One workflow per run at a time: it is announced with the first
//! non-blank reasoning text (so a reasoning item without a summary shows
//! nothing, and no workflow ever has zero tasks), collects the thoughts of
//! every model call until an assistant message starts or the run ends,
//! and is then closed with `summary: {"duration": seconds}` and
//! `expanded: false`.
//!
//! Every summary paragraph (and raw reasoning text) is one thought task,
//! added at its first non-blank text, updated with the whole accumulated
//! text as deltas arrive, and set to the `…done` text when that arrives.

use std::collections::HashMap;

use crate::ids::{IdKind, ItemId, ThreadId};
use crate::protocol::{
    ItemKind, Task, TaskKind, TaskStatusIndicator, ThreadItem, ThreadItemUpdate, ThreadStreamEvent,
    Workflow, WorkflowItem, WorkflowSummary, WorkflowType,
};
use crate::time::Timestamp;

/// Which text of a reasoning item: `(summary_index, raw)`, where `raw`
/// marks `reasoning_text` content rather than a summary paragraph.
pub(super) type ThoughtKey = (usize, bool);

/// Per reasoning item (of one model call): its thoughts, by key, as
/// `(workflow generation, task index)`.
#[derive(Default)]
pub(super) struct ReasoningState {
    thoughts: HashMap<ThoughtKey, (u64, usize)>,
}

/// The workflow being built.
struct Active {
    id: ItemId,
    created_at: Timestamp,
    tasks: Vec<String>,
    generation: u64,
}

/// The run's reasoning workflow, if one is open.
#[derive(Default)]
pub(super) struct Workflows {
    active: Option<Active>,
    generations: u64,
}

/// How a text arrives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Text {
    /// Appended to what came before.
    Delta,
    /// The whole text.
    Done,
}

fn thought(content: String) -> Task {
    Task {
        status_indicator: TaskStatusIndicator::None,
        kind: TaskKind::Thought {
            title: None,
            content,
        },
    }
}

impl Workflows {
    /// Applies reasoning text `text` for thought `key` of `slot`.
    ///
    /// A thought seen before is updated (whole task) if its workflow is
    /// still open and the content changed; one whose workflow was closed
    /// is left alone (e.g. a Chat-style reasoning `done` after the answer
    /// started). A new thought with non-blank text becomes a task of the
    /// open workflow, which is created and announced first if needed.
    pub(super) fn text(
        &mut self,
        thread_id: &ThreadId,
        slot: &mut ReasoningState,
        key: ThoughtKey,
        text: &str,
        how: Text,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        if let Some(&(generation, task_index)) = slot.thoughts.get(&key) {
            let Some(active) = self.active.as_mut().filter(|a| a.generation == generation) else {
                return;
            };
            let content = &mut active.tasks[task_index];
            match how {
                Text::Delta if text.is_empty() => return,
                Text::Delta => content.push_str(text),
                Text::Done if text.is_empty() || text == content.as_str() => return,
                Text::Done => text.clone_into(content),
            }
            let new = content.clone();
            out.push(ThreadStreamEvent::ThreadItemUpdated {
                item_id: active.id.clone(),
                update: ThreadItemUpdate::WorkflowTaskUpdated {
                    task_index,
                    task: thought(new),
                },
            });
            return;
        }
        if text.trim().is_empty() {
            return;
        }
        let active = self.open(thread_id, out);
        let task_index = active.tasks.len();
        active.tasks.push(text.to_owned());
        slot.thoughts.insert(key, (active.generation, task_index));
        out.push(ThreadStreamEvent::ThreadItemUpdated {
            item_id: active.id.clone(),
            update: ThreadItemUpdate::WorkflowTaskAdded {
                task_index,
                task: thought(text.to_owned()),
            },
        });
    }

    /// The open workflow, created and announced if there is none.
    fn open(&mut self, thread_id: &ThreadId, out: &mut Vec<ThreadStreamEvent>) -> &mut Active {
        if self.active.is_none() {
            self.generations += 1;
            let active = Active {
                id: ItemId::generate(IdKind::Workflow),
                created_at: Timestamp::now(),
                tasks: Vec::new(),
                generation: self.generations,
            };
            out.push(ThreadStreamEvent::ThreadItemAdded {
                item: item(thread_id, &active, None),
            });
            self.active = Some(active);
        }
        self.active.as_mut().expect("just opened")
    }

    /// Closes the open workflow: its `thread.item.done`, with
    /// `summary: {"duration": whole seconds since it was created}` and
    /// `expanded: false`. `None` when no workflow is open.
    pub(super) fn close(&mut self, thread_id: &ThreadId) -> Option<ThreadStreamEvent> {
        let active = self.active.take()?;
        let elapsed = Timestamp::now().as_micros() - active.created_at.as_micros();
        let summary = WorkflowSummary::Duration {
            duration: elapsed.max(0) / 1_000_000,
        };
        Some(ThreadStreamEvent::ThreadItemDone {
            item: item(thread_id, &active, Some(summary)),
        })
    }
}

fn item(thread_id: &ThreadId, active: &Active, summary: Option<WorkflowSummary>) -> ThreadItem {
    ThreadItem::new(
        active.id.clone(),
        thread_id.clone(),
        active.created_at,
        ItemKind::Workflow(WorkflowItem {
            workflow: Workflow {
                kind: WorkflowType::Reasoning,
                tasks: active.tasks.iter().cloned().map(thought).collect(),
                summary,
                expanded: false,
            },
        }),
    )
}
