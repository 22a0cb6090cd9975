//! `EngineError`: how a request can fail before its answer starts.
//!
//! Every variant maps to an HTTP status and a stable snake_case code, so
//! the server (or an embedding app) can answer with a clear 4xx/5xx
//! instead of the reference's bare 500 or torn stream.

use crate::protocol::RequestError;
use crate::store::StoreError;

/// A request failed before any event was sent.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The body is not a valid request.
    #[error("{message}")]
    BadRequest {
        /// Stable machine-readable code (`invalid_json`, `invalid_request`, ...).
        code: &'static str,
        /// What is wrong, for a developer.
        message: String,
    },
    /// The thread, item or attachment does not exist for this user
    /// (unknown and foreign look the same).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The item is not in a state that allows this request (e.g. no pending
    /// client tool call).
    #[error("{0}")]
    Conflict(String),
    /// The responder does not implement the hook this request needs.
    #[error("this server does not implement {0}")]
    NotImplemented(&'static str),
    /// An attachment is larger than the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// An attachment's MIME type is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A feature the server is not configured for (e.g. transcription
    /// with the offline model): 501 `not_implemented`, with this message.
    #[error("{0}")]
    NotConfigured(String),
    /// A provider this request relies on failed (e.g. the transcription
    /// endpoint): 502 with `code`; the message is safe to show.
    #[error("{message}")]
    Upstream {
        /// Stable machine-readable code (`transcription_failed`).
        code: &'static str,
        /// What failed, for the user.
        message: String,
    },
    /// The engine is shutting down and takes no new work.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The store failed.
    #[error("storage error: {0}")]
    Store(StoreError),
    /// Anything else that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// A 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        EngineError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status this error should be answered with.
    pub fn status(&self) -> u16 {
        match self {
            EngineError::BadRequest { .. } => 400,
            EngineError::NotFound(_) => 404,
            EngineError::Conflict(_) => 409,
            EngineError::PayloadTooLarge(_) => 413,
            EngineError::UnsupportedMediaType(_) => 415,
            EngineError::NotImplemented(_) | EngineError::NotConfigured(_) => 501,
            EngineError::Upstream { .. } => 502,
            EngineError::ShuttingDown => 503,
            EngineError::Store(_) | EngineError::Internal(_) => 500,
        }
    }

    /// A stable snake_case code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::BadRequest { code, .. } => code,
            EngineError::NotFound(_) => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::PayloadTooLarge(_) => "payload_too_large",
            EngineError::UnsupportedMediaType(_) => "unsupported_media_type",
            EngineError::NotImplemented(_) | EngineError::NotConfigured(_) => "not_implemented",
            EngineError::Upstream { code, .. } => code,
            EngineError::ShuttingDown => "shutting_down",
            EngineError::Store(_) => "storage_error",
            EngineError::Internal(_) => "internal_error",
        }
    }

    /// The message for the error body. Internal details are not revealed
    /// to clients; they are logged where the error is handled.
    pub fn public_message(&self) -> String {
        match self {
            EngineError::Store(_) | EngineError::Internal(_) => {
                "the server failed to handle this request; see its logs".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl From<RequestError> for EngineError {
    fn from(e: RequestError) -> Self {
        EngineError::BadRequest {
            code: e.code,
            message: e.message,
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            // The thread went away between a check and a write (deleted
            // concurrently): for the client it is simply not there.
            StoreError::NotFound => EngineError::NotFound("thread"),
            other => EngineError::Store(other),
        }
    }
}
