//! Memory runs: many streams held open at once (`--hold N`), and many
//! idle threads of a given length (`--idle-threads N --items 20`), each
//! reporting the server's resident memory per stream or per thread.
//!
//! Both read the server's RSS from /proc (`--server-pid`; this process in
//! process). Every open stream is a socket on both sides: this process
//! raises its own `RLIMIT_NOFILE` ([`raise_open_files_limit`]); the server
//! needs the same (`ulimit -n` before starting it).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Semaphore, watch};

use crate::events::Seen;
use crate::options::Options;
use crate::procfs;
use crate::stats::{Errors, Recorder};
use crate::target::{Failure, FailureKind, Target};
use crate::workload::{Check, message_body, run_turn};

/// Streams being opened at once: opening thousands in one burst overflows
/// the server's accept backlog, which measures the kernel, not the server.
const OPENING_AT_ONCE: usize = 256;

/// Pause before the final RSS reading of idle threads, for the server's
/// last writes and frees to settle.
const SETTLE: Duration = Duration::from_secs(1);

/// Raises this process's soft open-files limit to its hard limit; returns
/// the new soft limit.
pub fn raise_open_files_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|_| {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(0)
    })
}

/// The result of `--hold`.
#[derive(Debug, Clone, Serialize)]
pub struct HoldSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub target: String,
    pub streams: usize,
    /// Streams that delivered their first event.
    pub opened: u64,
    /// Streams still open when released (the rest failed or ended early).
    pub held: u64,
    /// Streams that ended on their own before the release.
    pub ended_early: u64,
    pub errors: Errors,
    pub error_samples: Vec<String>,
    /// Seconds from the first request until every stream was open (or
    /// had failed).
    pub open_s: f64,
    pub held_s: f64,
    pub server_pid: Option<u32>,
    pub rss_before_mb: Option<f64>,
    /// Highest RSS while the streams were held.
    pub rss_open_mb: Option<f64>,
    /// (rss_open - rss_before) / opened.
    pub rss_per_stream_kb: Option<f64>,
    /// This process's open-files limit after raising it.
    pub nofile_limit: u64,
}

enum HoldEnd {
    Held,
    EndedEarly,
    Failed(Failure),
}

/// The message of a held stream: `words` words, so that the echo model's
/// answer has one delta per word.
fn long_message(index: usize, words: usize) -> String {
    let mut text = format!("hold {index}");
    for w in 1..words {
        let _ = write!(text, " w{w}");
    }
    text
}

fn rss_kb(pid: Option<u32>) -> Option<u64> {
    pid.and_then(procfs::sample).map(|s| s.rss_kb)
}

/// The growth from `before` to `after` (KiB) shared by `n`, in KiB.
fn kb_each(before: Option<u64>, after: Option<u64>, n: u64) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if n > 0 => {
            Some((a.saturating_sub(b) as f64 / n as f64 * 10.0).round() / 10.0)
        }
        _ => None,
    }
}

fn mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

/// Opens `--hold` streams, waits until all are open, keeps them open for
/// `--hold-secs` while sampling the server's RSS, then closes them.
pub async fn hold(target: Arc<Target>, options: &Options, server_pid: Option<u32>) -> HoldSummary {
    let n = options.hold.unwrap_or(1);
    let nofile_limit = raise_open_files_limit();
    let timeout = options.request_timeout();
    let before = rss_kb(server_pid);
    let opened = Arc::new(AtomicU64::new(0));
    let settled = Arc::new(AtomicUsize::new(0));
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let (release, released) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let target = target.clone();
        let opened = opened.clone();
        let settled = settled.clone();
        let opening = opening.clone();
        let mut released = released.clone();
        let user = format!("{}-hold-{i}", options.user_prefix);
        let body = message_body(None, &long_message(i, options.hold_words));
        tasks.push(tokio::spawn(async move {
            let permit = opening.acquire_owned().await;
            let first = tokio::time::timeout(timeout, async {
                let mut events = target.stream(body, &user).await?;
                match events.next().await {
                    Some(Ok(_)) => Ok(events),
                    Some(Err(f)) => Err(f),
                    None => Err(Failure::new(
                        FailureKind::MissingAssistant,
                        "the stream ended without an event",
                    )),
                }
            })
            .await
            .unwrap_or_else(|_| {
                Err(Failure::new(
                    FailureKind::Transport,
                    format!("no first event within {timeout:?}"),
                ))
            });
            drop(permit);
            settled.fetch_add(1, Ordering::Relaxed);
            let mut events = match first {
                Ok(events) => events,
                Err(f) => return HoldEnd::Failed(f),
            };
            opened.fetch_add(1, Ordering::Relaxed);
            loop {
                tokio::select! {
                    _ = released.changed() => return HoldEnd::Held,
                    event = events.next() => match event {
                        Some(Ok(Seen::Error(m))) => {
                            return HoldEnd::Failed(Failure::new(FailureKind::ErrorEvent, m));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(f)) => return HoldEnd::Failed(f),
                        None => return HoldEnd::EndedEarly,
                    },
                }
            }
        }));
    }
    let deadline = started + timeout * 2;
    while settled.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open_s = started.elapsed().as_secs_f64();
    let hold_for = Duration::from_secs_f64(options.hold_secs);
    let held_from = Instant::now();
    let mut peak = rss_kb(server_pid);
    while held_from.elapsed() < hold_for {
        tokio::time::sleep(Duration::from_millis(100).min(hold_for)).await;
        peak = peak.max(rss_kb(server_pid));
    }
    let held_s = held_from.elapsed().as_secs_f64();
    let _ = release.send(true);
    let mut rec = Recorder::default();
    let (mut held, mut ended_early) = (0, 0);
    for task in tasks {
        match task.await {
            Ok(HoldEnd::Held) => held += 1,
            Ok(HoldEnd::EndedEarly) => ended_early += 1,
            Ok(HoldEnd::Failed(f)) => rec.failure("hold", &f),
            Err(e) => rec.failure("hold", &Failure::new(FailureKind::Transport, e.to_string())),
        }
    }
    let opened = opened.load(Ordering::Relaxed);
    HoldSummary {
        label: options.label.clone(),
        target: target.describe(),
        streams: n,
        opened,
        held,
        ended_early,
        errors: Errors::of(&rec.failures),
        error_samples: rec.samples,
        open_s: (open_s * 1000.0).round() / 1000.0,
        held_s: (held_s * 1000.0).round() / 1000.0,
        server_pid,
        rss_before_mb: before.map(mb),
        rss_open_mb: peak.map(mb),
        rss_per_stream_kb: kb_each(before, peak, opened),
        nofile_limit,
    }
}

impl HoldSummary {
    /// The readable report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chatkit-loadtest --hold {}: {}",
            self.streams, self.target
        );
        let _ = writeln!(
            out,
            "  opened {} of {} in {:.1} s; held {} for {:.1} s; ended early {}; errors {}",
            self.opened,
            self.streams,
            self.open_s,
            self.held,
            self.held_s,
            self.ended_early,
            self.errors.total
        );
        for s in &self.error_samples {
            let _ = writeln!(out, "    e.g. {s}");
        }
        match (self.rss_before_mb, self.rss_open_mb, self.rss_per_stream_kb) {
            (Some(b), Some(o), per) => {
                let per = per.map(|k| format!("{k:.1} KiB")).unwrap_or("-".into());
                let _ = writeln!(
                    out,
                    "  server RSS {b:.1} MB before, {o:.1} MB with the streams open: {per} per open stream"
                );
            }
            _ => {
                let _ = writeln!(out, "  server RSS: not measured (give --server-pid)");
            }
        }
        let _ = writeln!(
            out,
            "  open-files limit of this process: {}",
            self.nofile_limit
        );
        out
    }
}

/// The result of `--idle-threads`.
#[derive(Debug, Clone, Serialize)]
pub struct IdleSummary {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub target: String,
    pub threads: usize,
    /// Threads whose every turn succeeded.
    pub threads_ok: u64,
    pub items_per_thread: usize,
    pub turns: u64,
    pub errors: Errors,
    pub error_samples: Vec<String>,
    pub seconds: f64,
    pub server_pid: Option<u32>,
    pub rss_before_mb: Option<f64>,
    pub rss_after_mb: Option<f64>,
    /// (rss_after - rss_before) / threads_ok.
    pub rss_per_thread_kb: Option<f64>,
}

/// Creates `--idle-threads` threads of `--items` items (`--conversations`
/// at a time, each turn checked), waits a moment, and reports the
/// server's RSS growth per thread.
pub async fn idle_threads(
    target: Arc<Target>,
    options: &Options,
    server_pid: Option<u32>,
) -> IdleSummary {
    let n = options.idle_threads.unwrap_or(1);
    let turns = options.items.div_ceil(2);
    let before = rss_kb(server_pid);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..options.conversations.min(n))
        .map(|w| {
            let target = target.clone();
            let next = next.clone();
            let check = Check::new(options);
            let timeout = options.request_timeout();
            let user = format!("{}-idle-{w}", options.user_prefix);
            tokio::spawn(async move {
                let mut rec = Recorder::default();
                let (mut ok_threads, mut turns_done) = (0u64, 0u64);
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let mut thread: Option<String> = None;
                    let mut all_ok = true;
                    for turn in 0..turns {
                        let text = format!("idle thread of worker {w}, turn {}", turn + 1);
                        let r = run_turn(&target, &user, thread.as_deref(), &text, &check, timeout)
                            .await;
                        turns_done += 1;
                        if let Err(f) = &r.outcome {
                            rec.failure("idle thread", f);
                            all_ok = false;
                        }
                        if thread.is_none() {
                            thread = r.thread_id;
                        }
                        if thread.is_none() {
                            break;
                        }
                    }
                    ok_threads += u64::from(all_ok);
                }
                (rec, ok_threads, turns_done)
            })
        })
        .collect();
    let mut rec = Recorder::default();
    let (mut threads_ok, mut turns_done) = (0, 0);
    for worker in workers {
        if let Ok((r, ok, t)) = worker.await {
            rec.merge(r);
            threads_ok += ok;
            turns_done += t;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after = rss_kb(server_pid);
    IdleSummary {
        label: options.label.clone(),
        target: target.describe(),
        threads: n,
        threads_ok,
        items_per_thread: turns * 2,
        turns: turns_done,
        errors: Errors::of(&rec.failures),
        error_samples: rec.samples,
        seconds: (seconds * 1000.0).round() / 1000.0,
        server_pid,
        rss_before_mb: before.map(mb),
        rss_after_mb: after.map(mb),
        rss_per_thread_kb: kb_each(before, after, threads_ok),
    }
}

impl IdleSummary {
    /// The readable report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chatkit-loadtest --idle-threads {} --items {}: {}",
            self.threads, self.items_per_thread, self.target
        );
        let _ = writeln!(
            out,
            "  {} threads ok of {} ({} turns in {:.1} s); errors {}",
            self.threads_ok, self.threads, self.turns, self.seconds, self.errors.total
        );
        for s in &self.error_samples {
            let _ = writeln!(out, "    e.g. {s}");
        }
        match (
            self.rss_before_mb,
            self.rss_after_mb,
            self.rss_per_thread_kb,
        ) {
            (Some(b), Some(a), per) => {
                let per = per.map(|k| format!("{k:.1} KiB")).unwrap_or("-".into());
                let _ = writeln!(
                    out,
                    "  server RSS {b:.1} MB before, {a:.1} MB after: {per} per idle thread"
                );
            }
            _ => {
                let _ = writeln!(out, "  server RSS: not measured (give --server-pid)");
            }
        }
        out
    }
}
