//! The virtual users: conversations of K turns, reads between turns or
//! on their own, timed and checked; and the clock that decides which
//! turns are measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::events::Seen;
use crate::options::{Expect, Mode, Options};
use crate::stats::Recorder;
use crate::target::{Failure, FailureKind, Target};

/// The body of a `threads.create` (no thread yet) or
/// `threads.add_user_message`.
pub fn message_body(thread_id: Option<&str>, text: &str) -> Vec<u8> {
    let input = json!({
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    });
    let request = match thread_id {
        None => json!({"type": "threads.create", "params": {"input": input}}),
        Some(id) => json!({
            "type": "threads.add_user_message",
            "params": {"thread_id": id, "input": input},
        }),
    };
    serde_json::to_vec(&request).expect("a JSON value serializes")
}

/// The reads a virtual user cycles through.
#[derive(Clone, Copy, Debug)]
enum ReadOp {
    GetById,
    ItemsList,
    ThreadsList,
}

impl ReadOp {
    const ALL: [ReadOp; 3] = [ReadOp::GetById, ReadOp::ItemsList, ReadOp::ThreadsList];

    fn body(self, thread_id: &str) -> Vec<u8> {
        let request = match self {
            ReadOp::GetById => {
                json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
            }
            ReadOp::ItemsList => json!({
                "type": "items.list",
                "params": {"thread_id": thread_id, "limit": 20, "order": "desc"},
            }),
            ReadOp::ThreadsList => {
                json!({"type": "threads.list", "params": {"limit": 20, "order": "desc"}})
            }
        };
        serde_json::to_vec(&request).expect("a JSON value serializes")
    }

    fn name(self) -> &'static str {
        match self {
            ReadOp::GetById => "threads.get_by_id",
            ReadOp::ItemsList => "items.list",
            ReadOp::ThreadsList => "threads.list",
        }
    }
}

/// What a correct answer is.
#[derive(Clone, Debug)]
pub struct Check {
    expect: Expect,
    template: Option<String>,
}

impl Check {
    pub fn new(options: &Options) -> Check {
        Check {
            expect: options.expect,
            template: options.expect_text.clone(),
        }
    }

    /// Checks the assistant text of a turn that sent `sent`.
    fn answer(&self, sent: &str, answer: &str) -> Result<(), Failure> {
        let wrong = |want: String| {
            let head: String = answer.chars().take(120).collect();
            Err(Failure::new(
                FailureKind::WrongAnswer,
                format!("{want}, got {head:?}"),
            ))
        };
        match self.expect {
            Expect::Nonempty => Ok(()),
            Expect::Echo if answer.contains(sent) => Ok(()),
            Expect::Echo => wrong(format!("expected the answer to quote {sent:?}")),
            Expect::Exact => {
                let want = self
                    .template
                    .as_deref()
                    .unwrap_or_default()
                    .replace("{user}", sent);
                if answer == want {
                    Ok(())
                } else {
                    wrong(format!("expected {want:?}"))
                }
            }
        }
    }
}

/// One turn's timings.
#[derive(Debug, Default, Clone)]
pub struct TurnTimes {
    pub first_event: Option<Duration>,
    pub first_delta: Option<Duration>,
    pub end: Duration,
    pub events: u64,
}

/// One finished turn.
#[derive(Debug)]
pub struct TurnResult {
    pub times: TurnTimes,
    /// From `thread.created`, when there was one.
    pub thread_id: Option<String>,
    pub outcome: Result<(), Failure>,
}

/// Sends one message and reads its stream to the end (or `timeout`),
/// timing it and checking the answer.
pub async fn run_turn(
    target: &Target,
    user: &str,
    thread_id: Option<&str>,
    text: &str,
    check: &Check,
    timeout: Duration,
) -> TurnResult {
    let started = Instant::now();
    let mut times = TurnTimes::default();
    let mut created = None;
    let body = message_body(thread_id, text);
    let outcome = match tokio::time::timeout(
        timeout,
        read_stream(target, user, body, started, &mut times, &mut created),
    )
    .await
    {
        Ok(Ok(answer)) => match answer {
            StreamEnd::Answer(answer) => check.answer(text, &answer),
            StreamEnd::Error(message) => Err(Failure::new(FailureKind::ErrorEvent, message)),
            StreamEnd::NoAnswer => Err(Failure::new(
                FailureKind::MissingAssistant,
                "the stream ended without a non-empty assistant message",
            )),
        },
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(Failure::new(
            FailureKind::Transport,
            format!("the turn took longer than {timeout:?}"),
        )),
    };
    times.end = started.elapsed();
    let outcome = match (&outcome, thread_id, &created) {
        (Ok(()), None, None) => Err(Failure::new(
            FailureKind::BadStream,
            "threads.create streamed no thread.created",
        )),
        _ => outcome,
    };
    TurnResult {
        times,
        thread_id: created,
        outcome,
    }
}

enum StreamEnd {
    Answer(String),
    Error(String),
    NoAnswer,
}

async fn read_stream(
    target: &Target,
    user: &str,
    body: Vec<u8>,
    started: Instant,
    times: &mut TurnTimes,
    created: &mut Option<String>,
) -> Result<StreamEnd, Failure> {
    let mut events = target.stream(body, user).await?;
    let mut answer: Option<String> = None;
    let mut error = None;
    while let Some(event) = events.next().await {
        let event = event?;
        times.events += 1;
        if times.first_event.is_none() {
            times.first_event = Some(started.elapsed());
        }
        match event {
            Seen::ThreadCreated(id) => *created = Some(id),
            Seen::TextDelta if times.first_delta.is_none() => {
                times.first_delta = Some(started.elapsed());
            }
            Seen::AssistantDone(text) if !text.is_empty() => answer = Some(text),
            Seen::Error(message) if error.is_none() => error = Some(message),
            _ => {}
        }
    }
    Ok(match (error, answer) {
        (Some(message), _) => StreamEnd::Error(message),
        (None, Some(answer)) => StreamEnd::Answer(answer),
        (None, None) => StreamEnd::NoAnswer,
    })
}

/// Which turns count: those that start at or after `measure_from` and,
/// with a duration, before `measure_until`; with `--total`, the first N
/// (tickets taken before each turn). Each counted turn is waited for.
pub struct Clock {
    pub started: Instant,
    pub measure_from: Instant,
    pub measure_until: Option<Instant>,
    total: Option<u64>,
    tickets: AtomicU64,
    /// Measured successes and failures so far, for the progress bar.
    pub done: AtomicU64,
    pub failed: AtomicU64,
    /// When the last measured request ended (micros after `measure_from`).
    pub last_end_us: AtomicU64,
}

impl Clock {
    pub fn new(options: &Options) -> Clock {
        let started = Instant::now();
        let measure_from = started + Duration::from_secs_f64(options.warmup);
        Clock {
            started,
            measure_from,
            measure_until: options
                .total
                .is_none()
                .then(|| measure_from + Duration::from_secs_f64(options.duration)),
            total: options.total,
            tickets: AtomicU64::new(0),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_end_us: AtomicU64::new(0),
        }
    }

    /// Whether a virtual user may start another request now, and whether
    /// it will be measured. `None`: stop.
    fn admit(&self) -> Option<bool> {
        let now = Instant::now();
        if let Some(until) = self.measure_until {
            return (now < until).then_some(now >= self.measure_from);
        }
        if now < self.measure_from {
            return Some(false);
        }
        let total = self.total.unwrap_or(u64::MAX);
        (self.tickets.fetch_add(1, Ordering::Relaxed) < total).then_some(true)
    }

    fn ended(&self, ok: bool) {
        let at = self.measure_from.elapsed().as_micros();
        self.last_end_us
            .fetch_max(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
        if ok {
            self.done.fetch_add(1, Ordering::Relaxed);
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The measured window's length, in seconds: from its start until the
    /// last measured request ended (every request started in the window
    /// is waited for, so none is lost at the end, as in loadgen.py).
    pub fn seconds(&self) -> f64 {
        self.last_end_us.load(Ordering::Relaxed) as f64 / 1e6
    }
}

/// One virtual user's identity and settings.
pub struct VirtualUser {
    pub index: usize,
    pub user: String,
    pub start_delay: Duration,
}

impl VirtualUser {
    pub fn new(options: &Options, index: usize) -> VirtualUser {
        let spacing = if options.conversations > 1 {
            options.ramp_up / options.conversations as f64
        } else {
            0.0
        };
        VirtualUser {
            index,
            user: format!("{}-{index}", options.user_prefix),
            start_delay: Duration::from_secs_f64(spacing * index as f64),
        }
    }
}

/// Runs one virtual user until the clock stops it (in read mode, on the
/// threads it `seeded`); returns what it measured, added to `rec`.
pub async fn run_user(
    target: Arc<Target>,
    options: Arc<Options>,
    clock: Arc<Clock>,
    vu: VirtualUser,
    seeded: Vec<String>,
    mut rec: Recorder,
) -> Recorder {
    tokio::time::sleep(vu.start_delay).await;
    match options.mode {
        Mode::Chat => chat(&target, &options, &clock, &vu, &mut rec).await,
        Mode::Read => read_only(&target, &options, &clock, &vu, &seeded, &mut rec).await,
    }
    rec
}

async fn chat(
    target: &Target,
    options: &Options,
    clock: &Clock,
    vu: &VirtualUser,
    rec: &mut Recorder,
) {
    let check = Check::new(options);
    let timeout = options.request_timeout();
    let mut reads_due = 0.0;
    let mut next_read = 0;
    let mut conversation = 0u64;
    'conversations: loop {
        conversation += 1;
        let mut thread: Option<String> = None;
        for turn in 0..options.turns {
            let Some(measured) = clock.admit() else {
                break 'conversations;
            };
            let text = format!(
                "vu {} conversation {conversation} turn {}",
                vu.index,
                turn + 1
            );
            let result =
                run_turn(target, &vu.user, thread.as_deref(), &text, &check, timeout).await;
            let ok = result.outcome.is_ok();
            if measured {
                rec.events += result.times.events;
                match &result.outcome {
                    Ok(()) => rec.turn_ok(
                        result.times.first_event,
                        result.times.first_delta,
                        result.times.end,
                    ),
                    Err(f) => rec.failure(
                        if thread.is_none() {
                            "threads.create"
                        } else {
                            "threads.add_user_message"
                        },
                        f,
                    ),
                }
                clock.ended(ok);
            }
            if thread.is_none() {
                thread = result.thread_id;
            }
            // Without a thread there is nothing to continue: start over.
            let Some(thread_id) = thread.as_deref() else {
                continue 'conversations;
            };
            reads_due += options.read_ratio;
            while reads_due >= 1.0 {
                reads_due -= 1.0;
                let Some(measured) = clock.admit_read() else {
                    break 'conversations;
                };
                let op = ReadOp::ALL[next_read % ReadOp::ALL.len()];
                next_read += 1;
                one_read(
                    target, clock, &vu.user, op, thread_id, measured, timeout, rec,
                )
                .await;
            }
        }
    }
}

impl Clock {
    /// Reads between turns never take `--total` tickets (those count turns).
    fn admit_read(&self) -> Option<bool> {
        let now = Instant::now();
        match self.measure_until {
            Some(until) => (now < until).then_some(now >= self.measure_from),
            None if self
                .total
                .is_some_and(|t| self.tickets.load(Ordering::Relaxed) >= t) =>
            {
                None
            }
            None => Some(now >= self.measure_from),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn one_read(
    target: &Target,
    clock: &Clock,
    user: &str,
    op: ReadOp,
    thread_id: &str,
    measured: bool,
    timeout: Duration,
    rec: &mut Recorder,
) {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, target.json(op.body(thread_id), user)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(f)) => Err(f),
        Err(_) => Err(Failure::new(
            FailureKind::Transport,
            format!("the read took longer than {timeout:?}"),
        )),
    };
    if measured {
        match &outcome {
            Ok(()) => rec.read_ok(started.elapsed()),
            Err(f) => rec.failure(op.name(), f),
        }
        clock.ended(outcome.is_ok());
    }
}

/// Read mode, before the clock starts: each virtual user creates
/// `--seed-threads` conversations of `--turns` turns (failures count, the
/// timings do not). Returns the threads created.
pub async fn seed(
    target: &Target,
    options: &Options,
    vu: &VirtualUser,
    rec: &mut Recorder,
) -> Vec<String> {
    let check = Check::new(options);
    let timeout = options.request_timeout();
    let mut threads = Vec::new();
    for seed in 0..options.seed_threads {
        let mut thread: Option<String> = None;
        for turn in 0..options.turns {
            let text = format!("vu {} seed {} turn {}", vu.index, seed + 1, turn + 1);
            let result =
                run_turn(target, &vu.user, thread.as_deref(), &text, &check, timeout).await;
            if let Err(f) = &result.outcome {
                rec.failure("seeding", f);
            }
            if thread.is_none() {
                thread = result.thread_id;
            }
            if thread.is_none() {
                break;
            }
        }
        threads.extend(thread);
    }
    threads
}

/// Read mode: reads round-robin over the seeded `threads` until the clock
/// stops.
async fn read_only(
    target: &Target,
    options: &Options,
    clock: &Clock,
    vu: &VirtualUser,
    threads: &[String],
    rec: &mut Recorder,
) {
    let timeout = options.request_timeout();
    if threads.is_empty() {
        return;
    }
    let mut n = 0usize;
    loop {
        let Some(measured) = clock.admit() else {
            return;
        };
        let op = ReadOp::ALL[n % ReadOp::ALL.len()];
        let thread_id = &threads[(n / ReadOp::ALL.len()) % threads.len()];
        n += 1;
        one_read(
            target, clock, &vu.user, op, thread_id, measured, timeout, rec,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expect: Expect, template: Option<&str>) -> Check {
        Check {
            expect,
            template: template.map(str::to_owned),
        }
    }

    #[test]
    fn answers_are_checked_as_asked() {
        let sent = "vu 1 conversation 1 turn 1";
        let echo = format!("You said: \"{sent}\"");
        assert!(
            check(Expect::Nonempty, None)
                .answer(sent, "anything")
                .is_ok()
        );
        assert!(check(Expect::Echo, None).answer(sent, &echo).is_ok());
        let wrong = check(Expect::Echo, None).answer(sent, "something else");
        assert_eq!(wrong.unwrap_err().kind, FailureKind::WrongAnswer);
        let exact = check(Expect::Exact, Some("You said: \"{user}\""));
        assert!(exact.answer(sent, &echo).is_ok());
        assert!(exact.answer(sent, &format!("{echo}!")).is_err());
    }

    #[test]
    fn bodies_are_chatkit_requests() {
        let create: serde_json::Value = serde_json::from_slice(&message_body(None, "hi")).unwrap();
        assert_eq!(create["type"], "threads.create");
        assert_eq!(create["params"]["input"]["content"][0]["text"], "hi");
        let add: serde_json::Value =
            serde_json::from_slice(&message_body(Some("thr_1"), "again")).unwrap();
        assert_eq!(add["type"], "threads.add_user_message");
        assert_eq!(add["params"]["thread_id"], "thr_1");
        for op in ReadOp::ALL {
            let body: serde_json::Value = serde_json::from_slice(&op.body("thr_1")).unwrap();
            assert_eq!(body["type"], op.name());
        }
    }
}
