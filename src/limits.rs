//! Limits that keep one user (or everyone together) from exhausting the
//! server: a per-user request rate, concurrent streams per user and in
//! total, and the size of a message. All are checked before a stream
//! starts: a refused request writes nothing and gets a 4xx (429 with
//! `Retry-After` for the rate and stream caps).
//!
//! [`Limits`] is the configuration (in [`Settings`](crate::Settings));
//! [`Limiter`] the shared state behind it, one per server.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use chatkit_actors::protocol::{Request, UserMessageContent, UserMessageInput};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

/// `Retry-After` for a refused stream: how long a stream lasts is unknown,
/// and a few seconds is about one short answer.
pub const STREAM_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How often (in checked requests) idle users are dropped from the rate
/// limiter's table, which otherwise keeps one entry per user ever seen.
const RATE_TABLE_SWEEP_EVERY: u64 = 4096;

/// Limit settings; `None` is no limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests per second per user (on `/chatkit` and the upload
    /// endpoint), sustained.
    pub rate_per_second: Option<NonZeroU32>,
    /// Requests a user may make at once above the sustained rate.
    pub rate_burst: NonZeroU32,
    /// Streams (answers being streamed) one user may have open at once.
    pub max_streams_per_user: Option<usize>,
    /// Streams open at once over all users.
    pub max_streams: Option<usize>,
    /// Characters in one user message (text, tags and quoted text).
    pub max_message_chars: Option<usize>,
    /// Attachments on one user message.
    pub max_attachments_per_message: Option<usize>,
}

impl Default for Limits {
    /// The defaults of the command line: generous for a person at a
    /// keyboard, tight enough that one client cannot take the server.
    fn default() -> Self {
        Self {
            rate_per_second: NonZeroU32::new(10),
            rate_burst: NonZeroU32::new(40).expect("non-zero"),
            max_streams_per_user: Some(4),
            max_streams: Some(512),
            max_message_chars: Some(32_000),
            max_attachments_per_message: Some(10),
        }
    }
}

impl Limits {
    /// No limit at all (embedding code that limits elsewhere, tests).
    pub fn none() -> Self {
        Self {
            rate_per_second: None,
            rate_burst: NonZeroU32::MIN,
            max_streams_per_user: None,
            max_streams: None,
            max_message_chars: None,
            max_attachments_per_message: None,
        }
    }
}

/// A request refused by a limit.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Over the per-user request rate.
    #[error("too many requests: retry in {} s", retry_secs(*.retry_after))]
    Rate {
        /// When the next request would be accepted.
        retry_after: Duration,
    },
    /// The user already has this many streams open.
    #[error("too many answers in progress for this user (limit {limit}): wait for one to finish")]
    UserStreams {
        /// The limit.
        limit: usize,
    },
    /// The server already streams this many answers.
    #[error("the server is busy (limit of {limit} answers in progress): retry shortly")]
    Streams {
        /// The limit.
        limit: usize,
    },
    /// A message over `max_message_chars`.
    #[error("the message is {chars} characters long; the limit is {limit}")]
    MessageTooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// A message with more than `max_attachments_per_message`.
    #[error("the message has {count} attachments; the limit is {limit}")]
    TooManyAttachments {
        /// How many it has.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

/// Whole seconds to wait, rounded up (`Retry-After` has no fractions; its
/// header is kept at 1 or more where it is written).
fn retry_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl LimitError {
    fn code(&self) -> &'static str {
        match self {
            LimitError::Rate { .. } => "rate_limited",
            LimitError::UserStreams { .. } | LimitError::Streams { .. } => "too_many_streams",
            LimitError::MessageTooLong { .. } => "message_too_long",
            LimitError::TooManyAttachments { .. } => "too_many_attachments",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            LimitError::Rate { retry_after } => Some(*retry_after),
            LimitError::UserStreams { .. } | LimitError::Streams { .. } => Some(STREAM_RETRY_AFTER),
            _ => None,
        }
    }
}

impl ResponseError for LimitError {
    fn status_code(&self) -> StatusCode {
        match self {
            LimitError::MessageTooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            LimitError::TooManyAttachments { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(after) = self.retry_after() {
            resp.insert_header((header::RETRY_AFTER, retry_secs(after).max(1).to_string()));
        }
        resp.json(json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}

#[derive(Default)]
struct StreamCounts {
    total: usize,
    per_owner: HashMap<String, usize>,
}

/// The state behind [`Limits`], shared by every worker.
pub struct Limiter {
    limits: Limits,
    rate: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
    streams: Arc<Mutex<StreamCounts>>,
}

impl Limiter {
    /// A limiter enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        let rate = limits.rate_per_second.map(|per_second| {
            RateLimiter::keyed(Quota::per_second(per_second).allow_burst(limits.rate_burst))
        });
        Self {
            limits,
            rate,
            checks: AtomicU64::new(0),
            streams: Arc::default(),
        }
    }

    /// Counts one request of `owner` against the rate limit.
    pub fn check_rate(&self, owner: &str) -> Result<(), LimitError> {
        let Some(rate) = &self.rate else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % RATE_TABLE_SWEEP_EVERY
            == RATE_TABLE_SWEEP_EVERY - 1
        {
            rate.retain_recent();
            rate.shrink_to_fit();
        }
        rate.check_key(&owner.to_owned())
            .map_err(|not_until| LimitError::Rate {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// Checks a parsed request's message against the size limits.
    pub fn check_request(&self, request: &Request) -> Result<(), LimitError> {
        let input = match request {
            Request::ThreadsCreate(p) => &p.input,
            Request::ThreadsAddUserMessage(p) => &p.input,
            _ => return Ok(()),
        };
        if let Some(limit) = self.limits.max_message_chars {
            let chars = message_chars(input);
            if chars > limit {
                return Err(LimitError::MessageTooLong { chars, limit });
            }
        }
        if let Some(limit) = self.limits.max_attachments_per_message {
            let count = input.attachments.len();
            if count > limit {
                return Err(LimitError::TooManyAttachments { count, limit });
            }
        }
        Ok(())
    }

    /// A place for one more stream of `owner`, held until the permit is
    /// dropped (when the response body ends or the client leaves).
    pub fn open_stream(&self, owner: &str) -> Result<StreamPermit, LimitError> {
        let mut counts = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(limit) = self.limits.max_streams
            && counts.total >= limit
        {
            return Err(LimitError::Streams { limit });
        }
        let mine = counts.per_owner.get(owner).copied().unwrap_or(0);
        if let Some(limit) = self.limits.max_streams_per_user
            && mine >= limit
        {
            return Err(LimitError::UserStreams { limit });
        }
        counts.total += 1;
        counts.per_owner.insert(owner.to_owned(), mine + 1);
        Ok(StreamPermit {
            streams: self.streams.clone(),
            owner: owner.to_owned(),
        })
    }

    /// Streams open now (for logs and tests).
    pub fn open_streams(&self) -> usize {
        self.streams.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

/// Characters of a user message: its text and tag parts and quoted text.
fn message_chars(input: &UserMessageInput) -> usize {
    let parts: usize = input
        .content
        .iter()
        .map(|part| match part {
            UserMessageContent::InputText { text } | UserMessageContent::InputTag { text, .. } => {
                text.chars().count()
            }
        })
        .sum();
    parts
        + input
            .quoted_text
            .as_deref()
            .map_or(0, |q| q.chars().count())
}

/// One open stream; dropping it frees its place.
pub struct StreamPermit {
    streams: Arc<Mutex<StreamCounts>>,
    owner: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut counts = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_owner.get_mut(&self.owner) {
            *n -= 1;
            if *n == 0 {
                counts.per_owner.remove(&self.owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_permits_count_per_owner_and_in_total() {
        let limiter = Limiter::new(Limits {
            max_streams_per_user: Some(2),
            max_streams: Some(3),
            ..Limits::none()
        });
        let a1 = limiter.open_stream("a").unwrap();
        let _a2 = limiter.open_stream("a").unwrap();
        assert!(matches!(
            limiter.open_stream("a"),
            Err(LimitError::UserStreams { limit: 2 })
        ));
        let _b1 = limiter.open_stream("b").unwrap();
        assert!(matches!(
            limiter.open_stream("c"),
            Err(LimitError::Streams { limit: 3 })
        ));
        drop(a1);
        assert_eq!(limiter.open_streams(), 2);
        let _a3 = limiter.open_stream("a").unwrap();
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_secs(Duration::from_millis(2100)), 3);
    }
}
