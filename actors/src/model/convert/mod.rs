//! The output converter: a run's model events ([`ResponsesEvent`]) →
//! ChatKit stream events (MODEL_STREAMING.md §4, §6.4, Appendix A).
//!
//! Pure: no I/O, no actors. One [`RunConverter`] per run; for each model
//! call `start_call`, `push` every event (emitting what it returns, in
//! order), then `finish_call`; at the end of the run `finish_run`.
//!
//! - Ids: every ChatKit item gets a fresh id; provider ids are never used
//!   as ChatKit ids. Each model call has its own id map keyed by output
//!   slot (see `idmap`), so placeholder (`__fake_id__`), reused (`msg_0`),
//!   mismatched or missing provider ids still give one ChatKit item per
//!   provider item, with the same id on its `added`, updates and `done`.
//! - Assistant messages: `thread.item.added` (content `[]`),
//!   `content_part.added`, text deltas, `annotation_added`,
//!   `content_part.done` (with the annotations), `thread.item.done`.
//!   Refusals are plain text. Missing `added` or `…done` events are made
//!   up for: a message still open when the call ends is finished with its
//!   text, or removed when it has none.
//! - Reasoning: one `reasoning` workflow of `thought` tasks per run at a
//!   time (see `reasoning`), closed when a message starts or the run ends.
//! - Function calls and hosted tools produce no ChatKit events; calls are
//!   returned in [`CallOutcome`], and [`client_tool_call_item`] builds the
//!   item of a client tool.

mod idmap;
mod message;
mod outcome;
mod reasoning;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};
use tracing::debug;

pub use idmap::{FAKE_ID, is_placeholder};
pub use message::convert_annotation;
pub use outcome::{CallOutcome, FunctionCall, Terminal, client_tool_call_item, parse_arguments};

use self::idmap::{Class, IdMap};
use self::message::MessageState;
use self::outcome::{function_call, strip_placeholder_id};
use self::reasoning::{ReasoningState, Text, ThoughtKey, Workflows};
use super::ResponsesEvent;
use crate::ids::ThreadId;
use crate::protocol::ThreadStreamEvent;

/// What a slot of the id map holds.
enum State {
    Message(MessageState),
    Reasoning(ReasoningState),
    Call { item: Value, arguments: String },
    Other,
}

/// One provider output item of the current call.
struct Slot {
    state: State,
    /// Announced by `output_item.added` (rather than lazily).
    announced: bool,
    /// The item as received in `output_item.done`.
    done_item: Option<Value>,
}

/// The state of one model call.
#[derive(Default)]
struct Call {
    map: IdMap<Slot>,
    terminal: Option<Terminal>,
    usage: Option<Value>,
    response_id: Option<String>,
    completed_output: Vec<Value>,
    saw_item_done: bool,
}

/// Converts the model calls of one run into ChatKit events.
///
/// Holds what spans calls (the open reasoning workflow) and the current
/// call's id map, which [`RunConverter::start_call`] replaces.
pub struct RunConverter {
    thread_id: ThreadId,
    call: Call,
    workflows: Workflows,
}

impl RunConverter {
    /// A converter for a run in `thread_id`, ready for its first call.
    pub fn new(thread_id: ThreadId) -> Self {
        Self {
            thread_id,
            call: Call::default(),
            workflows: Workflows::default(),
        }
    }

    /// Starts a model call: a fresh id map (§6.4 rule 2). Call
    /// [`RunConverter::finish_call`] for the previous call first; what it
    /// left open is dropped here.
    pub fn start_call(&mut self) {
        if !self.call.map.is_empty() && self.call.terminal.is_none() {
            debug!("a model call was started before the previous one was finished");
        }
        self.call = Call::default();
    }

    /// Converts one event of the current call; returns the ChatKit events
    /// to emit now, in order. Events after a terminal event are ignored.
    pub fn push(&mut self, event: ResponsesEvent) -> Vec<ThreadStreamEvent> {
        let mut out = Vec::new();
        if self.call.terminal.is_some() {
            debug!(?event, "event after the terminal event; ignored");
            return out;
        }
        match event {
            ResponsesEvent::Created { response } => self.note_response(&response),
            ResponsesEvent::InProgress {} => {}
            ResponsesEvent::OutputItemAdded { output_index, item } => {
                self.item_added(output_index, item, &mut out);
            }
            ResponsesEvent::ContentPartAdded {
                item_id,
                output_index,
                content_index,
                part,
            } => {
                if !is_reasoning_part(&part) {
                    let m = self.message(output_index, item_id.as_deref(), &mut out);
                    m.part_added(content_index, &part, &mut out);
                }
            }
            ResponsesEvent::OutputTextDelta {
                item_id,
                output_index,
                content_index,
                delta,
            }
            | ResponsesEvent::RefusalDelta {
                item_id,
                output_index,
                content_index,
                delta,
            } => {
                let m = self.message(output_index, item_id.as_deref(), &mut out);
                m.delta(content_index, delta, &mut out);
            }
            ResponsesEvent::OutputTextAnnotationAdded {
                item_id,
                output_index,
                content_index,
                annotation,
                ..
            } => {
                let m = self.message(output_index, item_id.as_deref(), &mut out);
                m.annotation(content_index, &annotation, &mut out);
            }
            ResponsesEvent::OutputTextDone {
                item_id,
                output_index,
                content_index,
                text,
            }
            | ResponsesEvent::RefusalDone {
                item_id,
                output_index,
                content_index,
                refusal: text,
            } => {
                let m = self.message(output_index, item_id.as_deref(), &mut out);
                m.text_done(content_index, text, &mut out);
            }
            ResponsesEvent::ContentPartDone {
                item_id,
                output_index,
                content_index,
                part,
            } => {
                if !is_reasoning_part(&part) {
                    let m = self.message(output_index, item_id.as_deref(), &mut out);
                    m.part_done(content_index, &part, &mut out);
                }
            }
            ResponsesEvent::FunctionCallArgumentsDelta {
                item_id,
                output_index,
                delta,
            } => {
                if let State::Call { arguments, .. } = self.slot_state(
                    Class::FunctionCall,
                    output_index,
                    item_id.as_deref(),
                    &mut out,
                ) {
                    arguments.push_str(&delta);
                }
            }
            ResponsesEvent::FunctionCallArgumentsDone {
                item_id,
                output_index,
                arguments: all,
            } => {
                if let State::Call { arguments, .. } = self.slot_state(
                    Class::FunctionCall,
                    output_index,
                    item_id.as_deref(),
                    &mut out,
                ) && !all.is_empty()
                {
                    *arguments = all;
                }
            }
            ResponsesEvent::ReasoningSummaryPartAdded { .. }
            | ResponsesEvent::ReasoningSummaryPartDone { .. } => {}
            ResponsesEvent::ReasoningSummaryTextDelta {
                item_id,
                output_index,
                summary_index,
                delta,
            } => {
                let key = (summary_index, false);
                self.thought(
                    output_index,
                    item_id.as_deref(),
                    key,
                    &delta,
                    Text::Delta,
                    &mut out,
                );
            }
            ResponsesEvent::ReasoningSummaryTextDone {
                item_id,
                output_index,
                summary_index,
                text,
            } => {
                let key = (summary_index, false);
                self.thought(
                    output_index,
                    item_id.as_deref(),
                    key,
                    &text,
                    Text::Done,
                    &mut out,
                );
            }
            ResponsesEvent::ReasoningTextDelta {
                item_id,
                output_index,
                delta,
            } => {
                self.thought(
                    output_index,
                    item_id.as_deref(),
                    (0, true),
                    &delta,
                    Text::Delta,
                    &mut out,
                );
            }
            ResponsesEvent::OutputItemDone { output_index, item } => {
                self.item_done(output_index, item, &mut out);
            }
            ResponsesEvent::Completed { response } => {
                self.note_response(&response);
                if let Some(output) = response.get("output").and_then(Value::as_array) {
                    self.call.completed_output = output.clone();
                }
                self.call.terminal = Some(Terminal::Completed);
            }
            ResponsesEvent::Incomplete { response } => {
                self.note_response(&response);
                self.call.terminal = Some(Terminal::incomplete(&response));
            }
            ResponsesEvent::Failed { response } => {
                self.note_response(&response);
                self.call.terminal = Some(Terminal::failed(&response));
            }
            ResponsesEvent::Error {
                code,
                message,
                error,
            } => {
                self.call.terminal = Some(Terminal::error(code, message, error));
            }
            ResponsesEvent::Unknown => debug!("unknown model event; ignored"),
        }
        out
    }

    /// Ends the current call (after its terminal event, or at EOF): closes
    /// the assistant messages left open, and collects what the agent loop
    /// needs. The id map is dropped; the reasoning workflow stays open.
    pub fn finish_call(&mut self) -> CallOutcome {
        let call = std::mem::take(&mut self.call);
        let terminal = call.terminal.unwrap_or(Terminal::Eof);
        let mut events = Vec::new();
        let (mut closed, mut removed) = (Vec::new(), Vec::new());
        let mut entries = call.map.into_entries();
        for (_, slot) in &mut entries {
            if let State::Message(m) = &mut slot.state
                && !m.done
            {
                if m.close(&self.thread_id, &mut events) {
                    closed.push(m.id.clone());
                } else {
                    removed.push(m.id.clone());
                }
            }
        }
        let items = if !call.saw_item_done && !call.completed_output.is_empty() {
            call.completed_output
        } else {
            // Output order: by output_index, synthetic slots last.
            entries.sort_by_key(|(index, _)| *index);
            entries
                .into_iter()
                .filter_map(|(_, slot)| provider_item(slot))
                .collect()
        };
        let mut output_items = Vec::with_capacity(items.len());
        let mut function_calls = Vec::new();
        for mut item in items {
            strip_placeholder_id(&mut item);
            if item.get("type").and_then(Value::as_str) == Some("function_call") {
                function_calls.push(function_call(&mut item));
            }
            output_items.push(item);
        }
        CallOutcome {
            terminal,
            output_items,
            function_calls,
            usage: call.usage,
            events,
            closed,
            removed,
            response_id: call.response_id,
        }
    }

    /// Ends the run: closes the reasoning workflow if one is open
    /// (`thread.item.done` with its duration).
    pub fn finish_run(&mut self) -> Vec<ThreadStreamEvent> {
        self.workflows.close(&self.thread_id).into_iter().collect()
    }

    fn note_response(&mut self, response: &Value) {
        if let Some(id) = response.get("id").and_then(Value::as_str)
            && !is_placeholder(id)
        {
            self.call.response_id = Some(id.to_owned());
        }
        if let Some(usage) = response.get("usage").filter(|u| !u.is_null()) {
            self.call.usage = Some(usage.clone());
        }
    }

    /// `response.output_item.added`: a new item, unless it announces an
    /// item whose events came first (then it is adopted).
    fn item_added(
        &mut self,
        output_index: Option<usize>,
        item: Value,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        let class =
            Class::of_item_type(item.get("type").and_then(Value::as_str).unwrap_or_default());
        let item_id = item.get("id").and_then(Value::as_str).map(str::to_owned);
        let item_id = item_id.as_deref();
        // Only the slot itself (or, without an index, an alias or the newest
        // item of the class): a late `added` must not adopt another slot.
        let lazy = match output_index {
            Some(_) => self.call.map.bound(output_index, class),
            None => self.call.map.resolve(None, item_id, class),
        }
        .filter(|&entry| {
            let slot = self.call.map.get(entry);
            !slot.announced && !matches!(&slot.state, State::Message(m) if m.done)
        });
        if let Some(entry) = lazy {
            self.call.map.note_alias(item_id, entry, class);
            let slot = self.call.map.get_mut(entry);
            slot.announced = true;
            if let State::Call { item: stored, .. } = &mut slot.state {
                *stored = item;
            }
            return;
        }
        if class == Class::Other {
            debug!(item_type = ?item.get("type"), "hosted or unknown output item; no ChatKit events");
        }
        self.new_slot(class, output_index, item_id, &item, true, out);
    }

    /// `response.output_item.done`.
    fn item_done(
        &mut self,
        output_index: Option<usize>,
        item: Value,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        self.call.saw_item_done = true;
        let class =
            Class::of_item_type(item.get("type").and_then(Value::as_str).unwrap_or_default());
        let item_id = item.get("id").and_then(Value::as_str).map(str::to_owned);
        let item_id = item_id.as_deref();
        let entry = match self.call.map.resolve(output_index, item_id, class) {
            Some(entry) => {
                if self.call.map.get(entry).done_item.is_some() {
                    debug!(
                        ?output_index,
                        "second output_item.done for one item; ignored"
                    );
                    return;
                }
                self.call.map.note_alias(item_id, entry, class);
                entry
            }
            None => self.new_slot(class, output_index, item_id, &Value::Null, false, out),
        };
        let thread_id = &self.thread_id;
        let slot = self.call.map.get_mut(entry);
        match &mut slot.state {
            State::Message(m) => m.finish(thread_id, &item, out),
            State::Reasoning(r) => {
                for (key, text) in reasoning_texts(&item) {
                    self.workflows
                        .text(thread_id, r, key, &text, Text::Done, out);
                }
            }
            State::Call { .. } | State::Other => {}
        }
        slot.done_item = Some(item);
    }

    /// The slot an item-scoped event refers to, created lazily (§6.4 rule
    /// 5) when none is bound, or when its message is already done.
    fn slot(
        &mut self,
        class: Class,
        output_index: Option<usize>,
        item_id: Option<&str>,
        out: &mut Vec<ThreadStreamEvent>,
    ) -> usize {
        let found = self.call.map.resolve(output_index, item_id, class).filter(
            |&entry| !matches!(&self.call.map.get(entry).state, State::Message(m) if m.done),
        );
        match found {
            Some(entry) => {
                self.call.map.note_alias(item_id, entry, class);
                entry
            }
            None => self.new_slot(class, output_index, item_id, &Value::Null, false, out),
        }
    }

    /// The state of the slot an event refers to (see [`Self::slot`]).
    fn slot_state(
        &mut self,
        class: Class,
        output_index: Option<usize>,
        item_id: Option<&str>,
        out: &mut Vec<ThreadStreamEvent>,
    ) -> &mut State {
        let entry = self.slot(class, output_index, item_id, out);
        &mut self.call.map.get_mut(entry).state
    }

    /// The message an event refers to (see [`Self::slot`]).
    fn message(
        &mut self,
        output_index: Option<usize>,
        item_id: Option<&str>,
        out: &mut Vec<ThreadStreamEvent>,
    ) -> &mut MessageState {
        match self.slot_state(Class::Message, output_index, item_id, out) {
            State::Message(m) => m,
            _ => unreachable!("message slots hold messages"),
        }
    }

    /// Reasoning text for thought `key` of the item the event refers to.
    fn thought(
        &mut self,
        output_index: Option<usize>,
        item_id: Option<&str>,
        key: ThoughtKey,
        text: &str,
        how: Text,
        out: &mut Vec<ThreadStreamEvent>,
    ) {
        let entry = self.slot(Class::Reasoning, output_index, item_id, out);
        if let State::Reasoning(r) = &mut self.call.map.get_mut(entry).state {
            self.workflows.text(&self.thread_id, r, key, text, how, out);
        }
    }

    /// Binds a new slot. A message closes the open workflow and is
    /// announced; an open message this slot was bound to is closed first
    /// (§6.4 rule 6: a second `added` is a new item).
    fn new_slot(
        &mut self,
        class: Class,
        output_index: Option<usize>,
        item_id: Option<&str>,
        item: &Value,
        announced: bool,
        out: &mut Vec<ThreadStreamEvent>,
    ) -> usize {
        if let Some(old) = self.call.map.bound(output_index, class)
            && let State::Message(m) = &mut self.call.map.get_mut(old).state
            && !m.done
        {
            debug!(
                ?output_index,
                "output slot reused while its message was open"
            );
            m.close(&self.thread_id, out);
        }
        let state = match class {
            Class::Message => {
                out.extend(self.workflows.close(&self.thread_id));
                let m = MessageState::new(item);
                out.push(m.added_event(&self.thread_id));
                State::Message(m)
            }
            Class::Reasoning => State::Reasoning(ReasoningState::default()),
            Class::FunctionCall => State::Call {
                item: item.clone(),
                arguments: String::new(),
            },
            Class::Other => State::Other,
        };
        let slot = Slot {
            state,
            announced,
            done_item: None,
        };
        self.call.map.bind(output_index, item_id, class, slot)
    }
}

/// Whether a content part is raw reasoning (`reasoning_text`), which
/// belongs to a reasoning item, not a message.
fn is_reasoning_part(part: &Value) -> bool {
    part.get("type").and_then(Value::as_str) == Some("reasoning_text")
}

/// The texts of a finished reasoning item: `summary[i].text` and raw
/// `content[i].text`.
fn reasoning_texts(item: &Value) -> Vec<(ThoughtKey, String)> {
    let mut texts = Vec::new();
    for (field, raw) in [("summary", false), ("content", true)] {
        let parts = item.get(field).and_then(Value::as_array);
        for (index, part) in parts.into_iter().flatten().enumerate() {
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                texts.push(((index, raw), text.to_owned()));
            }
        }
    }
    texts
}

/// The provider form of a slot's item: the `done` item, or one rebuilt
/// from what was streamed (messages with text, function calls).
fn provider_item(slot: Slot) -> Option<Value> {
    if let Some(mut item) = slot.done_item {
        if let State::Call { arguments, .. } = slot.state
            && !arguments.is_empty()
            && item
                .get("arguments")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            && item.is_object()
        {
            item["arguments"] = arguments.into();
        }
        return Some(item);
    }
    match slot.state {
        State::Message(m) if !m.is_blank() => Some(m.provider_item()),
        State::Call { item, arguments } => {
            let mut item = match item {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            item.insert("type".into(), "function_call".into());
            if !arguments.is_empty() || !item.contains_key("arguments") {
                item.insert("arguments".into(), arguments.into());
            }
            item.insert("status".into(), "completed".into());
            Some(Value::Object(item))
        }
        _ => None,
    }
}
