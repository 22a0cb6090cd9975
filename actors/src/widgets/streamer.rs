//! [`WidgetStreamer`]: the events of one streamed widget item (§8.4), the
//! reference's `stream_widget` without the I/O.

use super::diff::{WidgetDiffError, diff_widget};
use crate::ids::{IdKind, ItemId, ThreadId};
use crate::protocol::{ItemKind, ThreadItem, ThreadStreamEvent, WidgetItem, WidgetRoot};
use crate::time::Timestamp;

/// Turns successive full states of one widget into ChatKit events: the
/// first state is a `thread.item.added` (a new `msg_` widget item, created
/// now), each next state the `thread.item.updated` events of
/// [`diff_widget`] against the previous one, and [`finish`](Self::finish)
/// a `thread.item.done` with the last state (same id and `created_at`).
/// [`one_shot`](Self::one_shot) is a widget sent whole (`done` only).
///
/// ```
/// use chatkit_actors::ids::ThreadId;
/// use chatkit_actors::widgets::{Card, Text, WidgetStreamer};
///
/// let state = |text: &str, streaming: bool| {
///     Card::new().child(Text::new(text).id("summary").streaming(streaming))
/// };
/// let thread = ThreadId::from("thr_1");
/// let (mut streamer, added) = WidgetStreamer::start(thread, state("", true), None);
/// assert_eq!(added.type_name(), "thread.item.added");
/// let updates = streamer.update(state("Sunny", true)).unwrap();
/// assert_eq!(updates.len(), 1); // a value delta
/// let updates = streamer.update(state("Sunny", false)).unwrap();
/// assert_eq!(updates.len(), 1); // streaming flipped: the whole root
/// let done = streamer.finish();
/// assert_eq!(done.type_name(), "thread.item.done");
/// ```
#[derive(Clone, Debug)]
pub struct WidgetStreamer {
    id: ItemId,
    thread_id: ThreadId,
    created_at: Timestamp,
    widget: WidgetItem,
}

impl WidgetStreamer {
    /// Starts a widget item in thread `thread_id` with its first state;
    /// returns the streamer and the `thread.item.added` event to send.
    pub fn start(
        thread_id: ThreadId,
        first: impl Into<WidgetRoot>,
        copy_text: Option<String>,
    ) -> (Self, ThreadStreamEvent) {
        let streamer = Self {
            id: ItemId::generate(IdKind::Message),
            thread_id,
            created_at: Timestamp::now(),
            widget: WidgetItem {
                widget: first.into(),
                copy_text,
            },
        };
        let added = ThreadStreamEvent::ThreadItemAdded {
            item: streamer.item(),
        };
        (streamer, added)
    }

    /// The widget item's id.
    pub fn item_id(&self) -> &ItemId {
        &self.id
    }

    /// The item in its current state.
    pub fn item(&self) -> ThreadItem {
        ThreadItem::new(
            self.id.clone(),
            self.thread_id.clone(),
            self.created_at,
            ItemKind::Widget(self.widget.clone()),
        )
    }

    /// The current (last accepted) state.
    pub fn current(&self) -> &WidgetRoot {
        &self.widget.widget
    }

    /// Replaces the `copy_text` the final `thread.item.done` carries.
    pub fn set_copy_text(&mut self, copy_text: Option<String>) {
        self.widget.copy_text = copy_text;
    }

    /// The events taking the client to state `next` (none if nothing
    /// changed). On an error the state stays the previous one; like the
    /// reference, the stream should then end with an `error` event.
    pub fn update(
        &mut self,
        next: impl Into<WidgetRoot>,
    ) -> Result<Vec<ThreadStreamEvent>, WidgetDiffError> {
        let next = next.into();
        let updates = diff_widget(self.current(), &next)?;
        self.widget.widget = next;
        Ok(updates
            .into_iter()
            .map(|update| ThreadStreamEvent::ThreadItemUpdated {
                item_id: self.id.clone(),
                update,
            })
            .collect())
    }

    /// The `thread.item.done` event: the item with the last state.
    pub fn finish(self) -> ThreadStreamEvent {
        let item = ThreadItem::new(
            self.id,
            self.thread_id,
            self.created_at,
            ItemKind::Widget(self.widget),
        );
        ThreadStreamEvent::ThreadItemDone { item }
    }

    /// A widget sent whole: a single `thread.item.done` with a new widget
    /// item (no `added`).
    ///
    /// ```
    /// use chatkit_actors::ids::ThreadId;
    /// use chatkit_actors::widgets::{Card, Title, WidgetStreamer};
    ///
    /// let done = WidgetStreamer::one_shot(
    ///     ThreadId::from("thr_1"),
    ///     Card::new().child(Title::new("Done")),
    ///     Some("Done".into()),
    /// );
    /// assert_eq!(done.type_name(), "thread.item.done");
    /// ```
    pub fn one_shot(
        thread_id: ThreadId,
        widget: impl Into<WidgetRoot>,
        copy_text: Option<String>,
    ) -> ThreadStreamEvent {
        let item = ThreadItem::new(
            ItemId::generate(IdKind::Message),
            thread_id,
            Timestamp::now(),
            ItemKind::Widget(WidgetItem {
                widget: widget.into(),
                copy_text,
            }),
        );
        ThreadStreamEvent::ThreadItemDone { item }
    }
}
