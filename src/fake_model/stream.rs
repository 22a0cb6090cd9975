//! Sending a stream: the frames of an answer become a plan of writes,
//! pauses and faults, played by a body stream that counts a disconnect when
//! it is dropped before its end.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::header;
use bytes::Bytes;
use futures_util::stream;

use super::{Behaviour, FakeState, Midstream};

/// What a frame carries, for pacing and fault injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Delta {
    /// Not a delta: sent right after the frame before it.
    No,
    /// A reasoning delta: paced, not counted for faults.
    Reasoning,
    /// A delta of the answer (text or tool arguments): paced, and the unit
    /// `midstream`, `stall` and `error_event` count in.
    Answer,
}

/// One SSE event (or chunk), framed.
pub(super) struct Frame {
    pub bytes: Bytes,
    pub delta: Delta,
}

impl Frame {
    pub fn new(text: String, delta: Delta) -> Self {
        Self {
            bytes: Bytes::from(text),
            delta,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Step {
    Send(Bytes),
    Sleep(Duration),
    /// End the body with an error: actix-web drops the connection.
    Abort,
    /// Never send anything more.
    Stall,
}

/// Before an abort, a pause long enough for actix-web to flush what was
/// written (it drops its write buffer with the connection).
const FLUSH_BEFORE_ABORT: Duration = Duration::from_millis(20);

/// The steps that send `frames` under `behaviour`: `ttft` before the first
/// delta and `delay` before the others; a `midstream` cut before the answer
/// delta past half of them; a `stall` after the first answer delta.
fn plan(frames: Vec<Frame>, behaviour: &Behaviour) -> Vec<Step> {
    let answers = frames.iter().filter(|f| f.delta == Delta::Answer).count();
    let cut_after = behaviour.midstream.map(|_| answers / 2);
    let (mut steps, mut deltas, mut answers_sent) = (Vec::new(), 0, 0);
    for frame in frames {
        if frame.delta == Delta::Answer && Some(answers_sent) == cut_after {
            if behaviour.midstream == Some(Midstream::Abort) {
                steps.extend([Step::Sleep(FLUSH_BEFORE_ABORT), Step::Abort]);
            }
            return steps;
        }
        if frame.delta != Delta::No {
            let pause = if deltas == 0 {
                behaviour.ttft
            } else {
                behaviour.delay
            };
            if !pause.is_zero() {
                steps.push(Step::Sleep(pause));
            }
            deltas += 1;
        }
        steps.push(Step::Send(frame.bytes));
        if frame.delta == Delta::Answer {
            answers_sent += 1;
            if behaviour.stall && answers_sent == 1 {
                steps.push(Step::Stall);
                return steps;
            }
        }
    }
    steps
}

/// The SSE response for `frames`: one body when nothing is paced or
/// injected (cheapest, as in the mock), else a stream written step by step.
pub(super) fn respond(frames: Vec<Frame>, behaviour: &Behaviour, state: FakeState) -> HttpResponse {
    let steps = plan(frames, behaviour);
    let mut response = HttpResponse::Ok();
    response
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if steps.iter().all(|s| matches!(s, Step::Send(_))) {
        let mut body = Vec::new();
        for step in steps {
            if let Step::Send(bytes) = step {
                body.extend_from_slice(&bytes);
            }
        }
        return response.body(body);
    }
    let guard = Guard {
        state,
        finished: false,
    };
    let body = stream::unfold(
        (VecDeque::from(steps), guard),
        |(mut steps, mut guard)| async move {
            loop {
                match steps.pop_front() {
                    None => {
                        guard.finish();
                        return None;
                    }
                    Some(Step::Send(bytes)) => return Some((Ok(bytes), (steps, guard))),
                    Some(Step::Sleep(pause)) => actix_web::rt::time::sleep(pause).await,
                    Some(Step::Stall) => std::future::pending::<()>().await,
                    Some(Step::Abort) => {
                        guard.finish();
                        let error = std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "fake_model: injected midstream abort",
                        );
                        return Some((Err(error), (steps, guard)));
                    }
                }
            }
        },
    );
    response.streaming(body)
}

/// Lives as long as a streamed body; dropped before the end, it counts a
/// disconnect (actix-web drops the body when the client goes away).
struct Guard {
    state: FakeState,
    finished: bool,
}

impl Guard {
    /// The stream ended as planned (completed, cut, or aborted on purpose).
    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.finished {
            let counters = &self.state.inner.counters;
            counters.disconnects.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(kinds: &[Delta]) -> Vec<Frame> {
        kinds
            .iter()
            .enumerate()
            .map(|(i, d)| Frame::new(i.to_string(), *d))
            .collect()
    }

    fn sent(steps: &[Step]) -> String {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect()
    }

    const KINDS: [Delta; 7] = [
        Delta::No,
        Delta::Reasoning,
        Delta::Answer,
        Delta::Answer,
        Delta::Answer,
        Delta::Answer,
        Delta::No,
    ];

    #[test]
    fn pauses_go_before_deltas_only() {
        let b = Behaviour {
            ttft: Duration::from_millis(7),
            delay: Duration::from_millis(3),
            ..Behaviour::default()
        };
        let steps = plan(frames(&KINDS), &b);
        let ms = |n| Step::Sleep(Duration::from_millis(n));
        assert_eq!(steps[1], ms(7));
        assert_eq!(steps.iter().filter(|s| **s == ms(3)).count(), 4);
        assert_eq!(sent(&steps), "0123456");
    }

    #[test]
    fn faults_cut_where_they_should() {
        let cut = |b: Behaviour| plan(frames(&KINDS), &b);
        let eof = cut(Behaviour {
            midstream: Some(Midstream::Eof),
            ..Behaviour::default()
        });
        assert_eq!(sent(&eof), "0123");
        assert!(matches!(eof.last(), Some(Step::Send(_))));
        let abort = cut(Behaviour {
            midstream: Some(Midstream::Abort),
            ..Behaviour::default()
        });
        assert_eq!(
            (sent(&abort).as_str(), abort.last()),
            ("0123", Some(&Step::Abort))
        );
        let stall = cut(Behaviour {
            stall: true,
            ..Behaviour::default()
        });
        assert_eq!(
            (sent(&stall).as_str(), stall.last()),
            ("012", Some(&Step::Stall))
        );
    }
}
