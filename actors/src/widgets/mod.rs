//! Typed widgets (PROTOCOL.md §8) and the streaming widget diff (§8.6).
//!
//! The engine stores and sends widgets as JSON ([`WidgetRoot`]); this
//! module is for code that **builds** them, diffs successive states, or
//! reads one back:
//!
//! - Components of the catalogue (§8.2), each a struct with builder
//!   methods whose fields are declared in wire order, so serde writes the
//!   reference's bytes: `key`, `id`, `type`, then the props; the box-like
//!   [`WidgetBox`] (`Box`), [`Row`], [`Col`] and [`Form`] write their
//!   [`BoxLayout`] props first. `None` props are omitted, numbers follow
//!   the reference's types (a float prop set to `4` is written `4.0`), and
//!   [`ActionConfig`](crate::protocol::ActionConfig) always writes its
//!   defaults.
//! - [`WidgetComponent`]: any component, with
//!   [`Dynamic`](WidgetComponent::Dynamic) JSON as the escape hatch for
//!   unknown or template components; [`Widget`]: a typed root ([`Card`],
//!   [`ListView`], [`Basic`]). Roots convert into [`WidgetRoot`] and parse
//!   back from it losslessly (byte for byte).
//! - [`diff_widget`] and [`apply_widget_update`]: the §8.6 diff between two
//!   states and the client's side of it.
//! - [`WidgetStreamer`]: the events of one streamed widget item (§8.4).
//!
//! ```
//! use chatkit_actors::protocol::{ActionConfig, WidgetRoot};
//! use chatkit_actors::widgets::{Badge, Button, Card, Row, Spacer, Text, Title};
//! use serde_json::json;
//!
//! let card = Card::new()
//!     .child(Title::new("Draft email"))
//!     .child(Text::new("Hi team, the release is ready.").id("body"))
//!     .child(
//!         Row::new()
//!             .child(Badge::new("Draft"))
//!             .child(Spacer::new())
//!             .child(
//!                 Button::new("Send")
//!                     .on_click(ActionConfig::new("send_email").payload(json!({"draft_id": "d_1"}))),
//!             ),
//!     );
//! let root = WidgetRoot::from(card);
//! assert_eq!(root.component_type(), Some("Card"));
//! ```
//!
//! # The diff, and where it departs from the reference
//!
//! [`diff_widget`] follows §8.6: the full-replace test R, then value deltas
//! for appends to streamed text (Text/Markdown with a non-empty `id` and a
//! string `value`; `done` is `!(streaming == true)`), errors for a new
//! streamed node or a non-cumulative value, nothing for an unchanged
//! widget. Of the blind spots of §13 item 7 it fixes the ones that made a
//! client miss text until the final `thread.item.done`:
//!
//! 1. **Text under a `Transition` is found.** The reference walks only
//!    `children` arrays, so the single component in `Transition.children`
//!    (or a template component's single child) was never visited: R let
//!    its appends through as appends, and no delta was sent. The walk now
//!    follows a single `children` component too, and its appends are
//!    value deltas.
//! 2. **Appends to text without an `id` are a root update.** No delta can
//!    address such a node, yet R treated its append as one, so nothing was
//!    sent. R now exempts an append only when a delta can carry it; other
//!    appends are a `widget.root.updated`.
//! 3. **Repeated ids** (not in §13, same family). The reference keys nodes
//!    by id (the last one wins), so an append to an earlier node with a
//!    repeated id was lost, and a client could not tell which node a delta
//!    meant. An append to a node whose id is not unique in both states is
//!    a root update.
//!
//! Kept as in the reference, because clients see and may depend on them:
//! flipping `streaming` from `true` to `false` is an ordinary prop change,
//! so it gives a full `widget.root.updated` (the golden transcript
//! `threads_create_widget_streaming.sse` ends that way); and `done` is
//! `true` on every delta of a node without `streaming: true` (such a node
//! never shows a streaming state, and with `false` no later delta would
//! ever close it). The two errors are kept too, though R rules them out
//! (in the reference as here): a new or shortened streamed node is a
//! structural or non-append change, hence a full replace. Values are
//! compared with Python's equality (`1 == 1.0`, object key order ignored,
//! a missing key equal to `null`), on the wire form.

#[macro_use]
mod macros;

mod action;
mod apply;
mod chart;
mod common;
mod component;
mod controls;
mod diff;
mod layout;
mod roots;
mod streamer;
mod text;

pub use apply::apply_widget_update;
pub use chart::{Chart, Series, SeriesKind, XAxisConfig};
pub use common::{Border, ComponentType, Spacing, ThemeColor};
pub use component::{Widget, WidgetComponent, WidgetParseError};
pub use controls::{
    Button, Checkbox, DatePicker, Input, RadioGroup, RadioOption, Select, SelectOption, Textarea,
};
pub use diff::{WidgetDiffError, diff_widget};
pub use layout::{BoxLayout, Col, Divider, Form, Image, Row, Spacer, Transition, WidgetBox};
pub use roots::{Basic, Card, CardAction, Children, ListView, ListViewItem, WidgetStatus};
pub use streamer::WidgetStreamer;
pub use text::{Badge, Caption, EditableProps, Icon, Label, Markdown, Text, Title};

#[doc(no_inline)]
pub use crate::protocol::WidgetRoot;
