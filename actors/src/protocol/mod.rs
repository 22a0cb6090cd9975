//! Wire types of the ChatKit protocol (PROTOCOL.md), with serde.
//!
//! Every type here serializes byte for byte like the reference SDK
//! (`openai-chatkit` 1.6.5), timestamps excepted (we emit UTC with `Z`,
//! see [`crate::time`]). The rules, applied by hand in every struct
//! (PROTOCOL.md §1):
//!
//! - Fields are declared in **wire order**: serde writes them in
//!   declaration order, so the output matches the fixtures' key order. The
//!   `type` discriminator is not always first (items put it after `id`,
//!   `thread_id`, `created_at`; sources and tasks after their common
//!   fields; [`AssistantMessageContent`] writes it last).
//! - An optional field that is `None` is **omitted**
//!   (`skip_serializing_if = "Option::is_none"`) and accepts `null` or
//!   absence on input.
//! - A field with a non-null default is **always emitted** and may be
//!   absent on input, but an explicit `null` is rejected (plain serde).
//! - Free-form JSON (`serde_json::Value` / `Map`) is kept verbatim,
//!   including inner nulls, except in widgets, where every null is
//!   stripped on output (§8.3, [`WidgetRoot`]).
//! - Unknown input keys are ignored everywhere.
//!
//! Module map: [`common`] (pages, shared serde helpers), [`thread`],
//! [`attachments`], [`content`] (user input, assistant content, sources),
//! [`items`] (thread items), [`workflow`] (workflows and tasks),
//! [`widgets`] (widget trees and actions), [`events`] (stream events),
//! [`updates`] (item updates), [`requests`] and [`responses`].
//! Everything is re-exported here.

pub mod attachments;
pub mod common;
pub mod content;
pub mod events;
pub mod items;
pub mod requests;
pub mod responses;
pub mod thread;
pub mod updates;
pub mod widgets;
pub mod workflow;

pub use attachments::*;
pub use common::*;
pub use content::*;
pub use events::*;
pub use items::*;
pub use requests::*;
pub use responses::*;
pub use thread::*;
pub use updates::*;
pub use widgets::*;
pub use workflow::*;
