//! The SSE body of a streaming answer.
//!
//! Each event is exactly `data: <compact JSON>\n\n` (PROTOCOL.md §2.3),
//! flushed as it is produced. After [`Settings::keep_alive`](crate::Settings)
//! without an event, a `: keep-alive\n\n` comment goes out; SSE parsers
//! ignore it. (actix-web-lab's `Sse` ticks a fixed interval from the first
//! poll, which would put a comment at the very start of a stream; here
//! the timer restarts with every event, so only idle streams get one.)
//!
//! Dropping the body (the client disconnected) drops the
//! [`EventStream`], which cancels the turn.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use chatkit_actors::EventStream;
use chatkit_actors::protocol::ThreadStreamEvent;
use futures_util::Stream;
use tokio::time::{Instant, Sleep, sleep};

use crate::limits::StreamPermit;

/// The keep-alive comment.
pub const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// Frames one event.
pub fn frame(event: &ThreadStreamEvent) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut buf, event).expect("events serialize");
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// A streaming response body of SSE frames.
pub struct SseBody {
    events: EventStream,
    keep_alive: Duration,
    idle: Pin<Box<Sleep>>,
    /// The stream's place under the stream limits, freed with the body.
    _permit: Option<StreamPermit>,
}

impl SseBody {
    /// A body relaying `events`, with a comment after `keep_alive` of quiet.
    pub fn new(events: EventStream, keep_alive: Duration) -> Self {
        Self {
            events,
            keep_alive,
            idle: Box::pin(sleep(keep_alive)),
            _permit: None,
        }
    }

    /// Keeps `permit` until the body is dropped (the stream ended or the
    /// client left).
    pub fn holding(mut self, permit: Option<StreamPermit>) -> Self {
        self._permit = permit;
        self
    }
}

impl MessageBody for SseBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.events).poll_next(cx) {
            Poll::Ready(Some(event)) => {
                this.idle.as_mut().reset(Instant::now() + this.keep_alive);
                Poll::Ready(Some(Ok(frame(&event))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.idle.as_mut().reset(Instant::now() + this.keep_alive);
                    Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE_FRAME))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chatkit_actors::ids::ItemId;
    use chatkit_actors::protocol::{ThreadItemUpdate, ThreadStreamEvent};
    use proptest::prelude::*;

    use super::frame;

    fn delta(text: String) -> ThreadStreamEvent {
        ThreadStreamEvent::ThreadItemUpdated {
            item_id: ItemId::from("msg_1"),
            update: ThreadItemUpdate::AssistantMessageContentPartTextDelta {
                content_index: 0,
                delta: text,
            },
        }
    }

    proptest! {
        /// Any text (CR, LF, U+2028, multibyte, control characters) makes
        /// exactly one `data:` line that an SSE parser reads back intact.
        #[test]
        fn a_frame_is_one_data_line_that_reads_back(text in "(?s)\\PC*|[\r\n\u{2028}\u{2029}\u{0}-\u{1f}é😀]*") {
            let event = delta(text);
            let bytes = frame(&event);
            let s = std::str::from_utf8(&bytes).unwrap();
            prop_assert!(s.starts_with("data: ") && s.ends_with("\n\n"));
            let line = &s["data: ".len()..s.len() - 2];
            prop_assert!(!line.contains('\n') && !line.contains('\r'));
            let back: ThreadStreamEvent = serde_json::from_str(line).unwrap();
            prop_assert_eq!(back, event);
        }
    }
}
