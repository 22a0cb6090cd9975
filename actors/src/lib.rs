//! The chatkit-actix engine: everything below HTTP.
//!
//! - [`protocol`]: the ChatKit wire types, byte-compatible with the
//!   reference SDK.
//! - [`store`]: SQLite, with one writer thread (group commit) and a pool of
//!   readers.
//! - [`model`]: what answers (so far the offline `echo` model).
//! - The actors: [`registry::Registry`] finds or starts the
//!   [`thread::ThreadActor`] of a thread, which runs one turn at a time with
//!   an [`agent::AgentActor`] per answer.
//! - [`engine::Engine`]: the entry point an application calls.
//!
//! This crate does not depend on actix-web: it can be embedded in any
//! program that runs an actix system.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agent;
pub mod attachments;
pub mod embed;
pub mod engine;
pub mod error;
pub mod ids;
pub mod model;
pub mod protocol;
pub mod registry;
pub mod responder;
pub mod rows;
pub mod store;
pub mod telemetry;
pub mod thread;
pub mod time;
pub mod tools;
pub mod widgets;

pub use embed::EngineHandle;
pub use engine::{Engine, EngineConfig, EngineResponse, EventStream, RequestContext};
pub use error::EngineError;
