//! Identifier types.
//!
//! Ids the server generates keep the reference SDK's prefixes (`thr_`,
//! `msg_`, `shcx_`, ...) followed by a full UUIDv7 in 32 lowercase hex
//! digits: time-ordered, and with 74 random bits instead of the
//! reference's 32, which collide within one load test. Ids chosen by an
//! integration are arbitrary strings and are kept as given: clients treat
//! ids as opaque.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds of ids the server generates, with their wire prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// `thr_`: a thread.
    Thread,
    /// `msg_`: user and assistant messages, widgets, images, structured input.
    Message,
    /// `tc_`: a client tool call.
    ToolCall,
    /// `tsk_`: a standalone task.
    Task,
    /// `wf_`: a workflow.
    Workflow,
    /// `atc_`: an attachment.
    Attachment,
    /// `shcx_`: a hidden note written by the server (cancellation).
    SdkHiddenContext,
}

impl IdKind {
    /// The prefix written before the `_`.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Thread => "thr",
            IdKind::Message => "msg",
            IdKind::ToolCall => "tc",
            IdKind::Task => "tsk",
            IdKind::Workflow => "wf",
            IdKind::Attachment => "atc",
            IdKind::SdkHiddenContext => "shcx",
        }
    }
}

/// A fresh id of the given kind: `<prefix>_<uuidv7 as 32 hex digits>`.
pub fn generate(kind: IdKind) -> String {
    format!("{}_{}", kind.prefix(), uuid::Uuid::now_v7().simple())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

string_id!(
    /// A thread id (`thr_...` when the server generated it).
    ThreadId
);
string_id!(
    /// A thread item id, unique within its thread.
    ItemId
);
string_id!(
    /// The user a request acts for; every store query is scoped by it.
    UserId
);

impl ThreadId {
    /// A fresh `thr_` id.
    pub fn generate() -> Self {
        Self(generate(IdKind::Thread))
    }
}

impl ItemId {
    /// A fresh item id of the given kind.
    pub fn generate(kind: IdKind) -> Self {
        Self(generate(kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_prefix_and_full_uuid() {
        let id = ThreadId::generate();
        let (prefix, hex) = id.as_str().split_once('_').unwrap();
        assert_eq!(prefix, "thr");
        assert_eq!(hex.len(), 32);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(uuid::Uuid::parse_str(hex).unwrap().get_version_num(), 7);
    }

    #[test]
    fn generated_ids_are_distinct_and_time_ordered() {
        let ids: Vec<String> = (0..1000).map(|_| generate(IdKind::Message)).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert_eq!(sorted, ids);
    }
}
