//! `ModelError`: why a model call, or a turn's agent loop, failed
//! (MODEL_STREAMING.md §7).
//!
//! One enum for the whole model boundary: the HTTP transport
//! ([`super::http`]) produces the connection, status, stream and size
//! variants; the providers' event parsers produce
//! [`ModelError::provider`], [`ModelError::Incomplete`],
//! [`ModelError::Truncated`] and [`ModelError::Malformed`]; the agent loop
//! produces [`ModelError::TooManyModelCalls`] and
//! [`ModelError::UnknownTool`].
//!
//! Two questions are answered here and nowhere else: may the user retry
//! ([`ModelError::allow_retry`], the ChatKit `error` event's
//! `allow_retry`, §7.3), and what may the user be told
//! ([`ModelError::user_message`]: a short sentence without internal
//! details, or `None` for ChatKit's generic error). `Display` is for logs:
//! it carries the provider's message, never our API key.

use std::time::Duration;

/// Longest provider message kept in an error, in characters. Provider
/// messages go to logs; a whole HTML error page does not need to.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// Provider error codes that mean "this model is rate limited" (Responses
/// `error.code`, and `error.type` of the live API's nested error event).
const RATE_LIMIT_CODES: [&str; 2] = ["rate_limit_exceeded", "too_many_requests"];

/// The OpenAI code for an exhausted quota: sent with HTTP 429, but waiting
/// does not help, so it is not a rate limit.
const INSUFFICIENT_QUOTA: &str = "insufficient_quota";

/// Why the model failed to produce (all of) an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The provider could not be reached, after the transport's retries:
    /// connecting failed or timed out, the connection broke before the
    /// response headers, or no headers came within `read_timeout`.
    #[error("could not reach the model provider{}: {message}", if *.timed_out { " (timed out)" } else { "" })]
    Connection {
        /// What failed, for logs.
        message: String,
        /// Whether it was a timeout rather than a refused or broken connection.
        timed_out: bool,
    },
    /// The provider answered with a non-2xx status (after the retries the
    /// status allowed).
    #[error("the model provider answered HTTP {status}: {message}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// `error.code` (or `error.type`) from the body, if any.
        code: Option<String>,
        /// `error.message` from the body, else the body's text, truncated.
        message: String,
        /// A 429 (other than an exhausted quota) or a rate-limit code.
        rate_limited: bool,
    },
    /// The provider reported an error inside a 200 response: an `error`
    /// or `response.failed` event, or a Chat Completions `{"error":…}`
    /// chunk. Build it with [`ModelError::provider`].
    #[error("the model provider reported an error ({}): {message}", .code.as_deref().unwrap_or("no code"))]
    Provider {
        /// The provider's code (`server_error`, `rate_limit_exceeded`, …).
        code: Option<String>,
        /// The provider's message.
        message: String,
        /// Whether the code says the model is rate limited.
        rate_limited: bool,
    },
    /// The response ended as `incomplete` (Responses
    /// `incomplete_details.reason`, or a Chat Completions `finish_reason`
    /// of `length` / `content_filter`).
    #[error("the model's answer is incomplete: {reason}")]
    Incomplete {
        /// `max_output_tokens`, `content_filter`, or what the provider said.
        reason: String,
    },
    /// The stream stopped before its terminal event: the body ended
    /// without one, or the connection broke mid-body.
    #[error("the model stream was cut off: {0}")]
    Truncated(String),
    /// The stream is not what the API promises: a `data:` payload that is
    /// not JSON, invalid UTF-8, a JSON body where SSE was expected.
    #[error("malformed model stream: {0}")]
    Malformed(String),
    /// One SSE event was larger than `max_event_bytes`.
    #[error("a model stream event is larger than {limit} bytes")]
    EventTooLarge {
        /// The limit (`ProviderSettings::max_event_bytes`).
        limit: usize,
    },
    /// No byte of the body arrived for `read_timeout`.
    #[error("the model provider sent nothing for {} ms", .0.as_millis())]
    IdleTimeout(Duration),
    /// The agent loop reached `max_model_calls` without a final answer.
    #[error("the model was called {0} times in one turn without finishing")]
    TooManyModelCalls(usize),
    /// The model called a tool that was not offered.
    #[error("the model called an unknown tool `{0}`")]
    UnknownTool(String),
    /// The provider settings cannot work (an API key or extra header that
    /// is not a valid header value, a malformed URL).
    #[error("the model client is misconfigured: {0}")]
    Config(String),
    /// Any other failure.
    #[error("model request failed: {0}")]
    Failed(String),
}

impl ModelError {
    /// A provider error reported inside a stream. `code` is the event's
    /// `code` (or, when it has none, `error.type`); `rate_limit_exceeded`
    /// and `too_many_requests` make it a rate limit even though the HTTP
    /// status was 200 (§1.7). The message is truncated.
    pub fn provider(code: Option<String>, message: Option<String>) -> Self {
        let code = code.filter(|c| !c.is_empty());
        let rate_limited = code
            .as_deref()
            .is_some_and(|c| RATE_LIMIT_CODES.contains(&c));
        let message = message
            .filter(|m| !m.trim().is_empty())
            .map(|m| truncate_message(&m))
            .unwrap_or_else(|| "the provider reported an error without a message".to_owned());
        ModelError::Provider {
            code,
            message,
            rate_limited,
        }
    }

    /// A non-2xx answer. It is a rate limit on 429 (unless the code says
    /// the quota is exhausted) or when the code is a rate-limit code.
    pub fn http(status: u16, code: Option<String>, message: String) -> Self {
        let code = code.filter(|c| !c.is_empty());
        let rate_limited = match code.as_deref() {
            Some(INSUFFICIENT_QUOTA) => false,
            Some(c) if RATE_LIMIT_CODES.contains(&c) => true,
            _ => status == 429,
        };
        ModelError::Http {
            status,
            code,
            message,
            rate_limited,
        }
    }

    /// Whether the client should offer a retry: the `allow_retry` of the
    /// ChatKit `error` event (§7.3). True for what may pass (rate limits,
    /// 5xx, timeouts, broken or cut streams); false for what a retry would
    /// only repeat (a rejected request or key, an answer cut by the token
    /// limit or the content filter, an unknown tool, bad configuration).
    pub fn allow_retry(&self) -> bool {
        match self {
            ModelError::Connection { .. } => true,
            ModelError::Http {
                status,
                code,
                rate_limited,
                ..
            } => {
                if code.as_deref() == Some(INSUFFICIENT_QUOTA) {
                    false
                } else {
                    *rate_limited || *status >= 500 || matches!(status, 408 | 409 | 429)
                }
            }
            ModelError::Provider {
                code, rate_limited, ..
            } => *rate_limited || !code.as_deref().is_some_and(is_permanent_code),
            ModelError::Incomplete { reason } => {
                !matches!(reason.as_str(), "max_output_tokens" | "content_filter")
            }
            ModelError::Truncated(_) => true,
            ModelError::Malformed(_) => true,
            ModelError::EventTooLarge { .. } => false,
            ModelError::IdleTimeout(_) => true,
            ModelError::TooManyModelCalls(_) => true,
            ModelError::UnknownTool(_) => false,
            ModelError::Config(_) => false,
            ModelError::Failed(_) => true,
        }
    }

    /// Whether the provider said the model is rate limited (HTTP 429 or a
    /// rate-limit code in the stream).
    pub fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            ModelError::Http {
                rate_limited: true,
                ..
            } | ModelError::Provider {
                rate_limited: true,
                ..
            }
        )
    }

    /// The HTTP status, for [`ModelError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ModelError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short message the client may show, without internal details
    /// (no provider message, URL or key); `None` where ChatKit's generic
    /// error says all there is to say.
    pub fn user_message(&self) -> Option<String> {
        let text = match self {
            ModelError::Connection { .. } => {
                "The AI model could not be reached. Please try again later."
            }
            ModelError::Http { code, .. } if code.as_deref() == Some(INSUFFICIENT_QUOTA) => {
                "The AI provider's usage quota is exhausted."
            }
            ModelError::Http {
                rate_limited: true, ..
            }
            | ModelError::Provider {
                rate_limited: true, ..
            } => "The AI model is receiving too many requests. Please try again in a moment.",
            ModelError::Http { status, .. } => match status {
                401 | 403 => {
                    "The assistant is not configured correctly: the AI provider rejected its credentials."
                }
                404 => "The assistant is not configured correctly: the AI model was not found.",
                400 | 413 | 422 => "The AI model could not process this request.",
                408 | 409 | 500.. => "The AI model is temporarily unavailable. Please try again.",
                _ => return None,
            },
            ModelError::Provider { code, .. } => {
                if code.as_deref().is_some_and(is_permanent_code) {
                    "The AI model could not process this request."
                } else {
                    return None;
                }
            }
            ModelError::Incomplete { reason } => match reason.as_str() {
                "max_output_tokens" | "length" => {
                    "The answer was cut off because it reached the length limit."
                }
                "content_filter" => "The answer was stopped by the content filter.",
                _ => return None,
            },
            ModelError::EventTooLarge { .. } => {
                "The AI model sent a response too large to process."
            }
            ModelError::IdleTimeout(_) => "The AI model stopped responding. Please try again.",
            ModelError::TooManyModelCalls(_) => "The assistant took too many steps and stopped.",
            ModelError::UnknownTool(_) => "The assistant tried to use a tool that does not exist.",
            ModelError::Config(_) => "The assistant is not configured correctly.",
            ModelError::Truncated(_) | ModelError::Malformed(_) | ModelError::Failed(_) => {
                return None;
            }
        };
        Some(text.to_owned())
    }
}

/// Provider codes for which a retry would fail the same way: a bad
/// prompt or image, a context or policy violation.
fn is_permanent_code(code: &str) -> bool {
    code.starts_with("invalid_")
        || code.starts_with("unsupported_")
        || code.contains("image")
        || matches!(
            code,
            "context_length_exceeded"
                | "content_policy_violation"
                | "content_filter"
                | INSUFFICIENT_QUOTA
        )
}

/// `message` cut to [`MAX_MESSAGE_CHARS`] characters (with `…` when cut),
/// trimmed.
pub fn truncate_message(message: &str) -> String {
    let message = message.trim();
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &message[..cut]),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_codes_classify_rate_limits() {
        let e = ModelError::provider(Some("rate_limit_exceeded".into()), Some("slow down".into()));
        assert!(e.is_rate_limit() && e.allow_retry());
        let e = ModelError::provider(Some("too_many_requests".into()), None);
        assert!(e.is_rate_limit());
        let e = ModelError::provider(Some("server_error".into()), None);
        assert!(!e.is_rate_limit() && e.allow_retry());
        assert_eq!(e.user_message(), None);
        let e = ModelError::provider(Some("invalid_prompt".into()), Some("no".into()));
        assert!(!e.allow_retry());
        let e = ModelError::provider(Some(String::new()), Some("  ".into()));
        assert!(
            matches!(&e, ModelError::Provider { code: None, message, .. } if !message.is_empty())
        );
    }

    #[test]
    fn allow_retry_follows_the_status() {
        let http = |status, code: Option<&str>| ModelError::Http {
            status,
            code: code.map(str::to_owned),
            message: "m".into(),
            rate_limited: status == 429 && code != Some(INSUFFICIENT_QUOTA),
        };
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(!http(status, None).allow_retry(), "{status}");
        }
        for status in [408, 409, 429, 500, 502, 503, 504] {
            assert!(http(status, None).allow_retry(), "{status}");
        }
        assert!(!http(429, Some(INSUFFICIENT_QUOTA)).allow_retry());
        assert!(!http(429, Some(INSUFFICIENT_QUOTA)).is_rate_limit());
    }

    #[test]
    fn incomplete_reasons() {
        let inc = |r: &str| ModelError::Incomplete { reason: r.into() };
        assert!(!inc("max_output_tokens").allow_retry());
        assert!(!inc("content_filter").allow_retry());
        assert!(inc("something_else").allow_retry());
        assert!(inc("max_output_tokens").user_message().is_some());
    }

    #[test]
    fn user_messages_hold_no_details() {
        let e = ModelError::Http {
            status: 401,
            code: Some("invalid_api_key".into()),
            message: "Incorrect API key provided: sk-abc".into(),
            rate_limited: false,
        };
        let shown = e.user_message().unwrap();
        assert!(!shown.contains("sk-abc") && !shown.contains("invalid_api_key"));
        assert!(!e.allow_retry());
        assert!(e.to_string().contains("Incorrect API key"));
        let e = ModelError::Connection {
            message: "tcp connect error: 10.0.0.1:443".into(),
            timed_out: false,
        };
        assert!(!e.user_message().unwrap().contains("10.0.0.1"));
        assert_eq!(ModelError::Failed("x".into()).user_message(), None);
        assert!(ModelError::Failed("x".into()).allow_retry());
        assert!(!ModelError::UnknownTool("t".into()).allow_retry());
        assert!(ModelError::TooManyModelCalls(10).allow_retry());
    }

    #[test]
    fn truncation_is_on_char_boundaries() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let cut = truncate_message(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(truncate_message("  short  "), "short");
    }
}
