//! chatkit-loadtest: a load generator for ChatKit-protocol servers.
//!
//! A pure client of the protocol (`POST` JSON bodies, SSE answers), so it
//! measures this project's server and the reference Python server alike;
//! or, with `--in-process`, the chatkit-actors engine through its
//! embedding API, without HTTP.
//!
//! - [`run`]: T virtual users doing conversations of K turns (optionally
//!   with reads), or reads only; a [`Summary`] of throughput, latency
//!   histograms and errors by kind.
//! - [`hold::hold`] and [`hold::idle_threads`]: memory per open stream and
//!   per idle thread.
//!
//! The binary (`src/main.rs`) is a thin shell over [`execute`].
#![forbid(unsafe_code)]

pub mod events;
pub mod hold;
pub mod inprocess;
pub mod options;
pub mod procfs;
pub mod stats;
pub mod target;
pub mod workload;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Url;
use serde::Serialize;

pub use options::Options;
pub use stats::Summary;

use crate::hold::{HoldSummary, IdleSummary};
use crate::inprocess::InProcess;
use crate::options::Mode;
use crate::procfs::ProcWatch;
use crate::stats::{Recorder, RunFacts};
use crate::target::{HttpTarget, Target, is_loopback};
use crate::workload::{Clock, VirtualUser};

/// The result of any kind of run.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Report {
    Load(Box<Summary>),
    Hold(Box<HoldSummary>),
    Idle(Box<IdleSummary>),
}

impl Report {
    /// The readable report.
    pub fn table(&self) -> String {
        match self {
            Report::Load(s) => s.table(),
            Report::Hold(s) => s.table(),
            Report::Idle(s) => s.table(),
        }
    }

    /// Failed requests of the run.
    pub fn errors(&self) -> u64 {
        match self {
            Report::Load(s) => s.errors.total,
            Report::Hold(s) => s.errors.total + s.ended_early,
            Report::Idle(s) => s.errors.total,
        }
    }

    /// The one-line JSON summary.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a summary serializes")
    }
}

/// Checks `options`, connects (or starts the engine), runs what they ask
/// for, and stops what it started.
pub async fn execute(options: Options) -> anyhow::Result<Report> {
    options.validate().map_err(anyhow::Error::msg)?;
    let target = Arc::new(connect(&options)?);
    let server_pid = if options.in_process {
        Some(std::process::id())
    } else {
        options.server_pid
    };
    let report = if options.hold.is_some() {
        Report::Hold(Box::new(
            hold::hold(target.clone(), &options, server_pid).await,
        ))
    } else if options.idle_threads.is_some() {
        Report::Idle(Box::new(
            hold::idle_threads(target.clone(), &options, server_pid).await,
        ))
    } else {
        Report::Load(Box::new(run(target.clone(), options, server_pid).await))
    };
    if let Some(target) = Arc::into_inner(target) {
        target.shutdown().await;
    }
    Ok(report)
}

/// The target `options` name: the engine in process, or an HTTP endpoint
/// on this machine (elsewhere only with `--allow-remote`).
pub fn connect(options: &Options) -> anyhow::Result<Target> {
    if options.in_process {
        return Ok(Target::InProcess(InProcess::start(options)?));
    }
    let url = Url::parse(&options.url).with_context(|| format!("--url {:?}", options.url))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("--url must be http:// or https://, not {}", url.scheme());
    }
    if !options.allow_remote && !is_loopback(&url) {
        bail!(
            "{url} is not on this machine; chatkit-loadtest loads only loopback targets \
             (127.0.0.0/8, ::1, localhost) unless --allow-remote is given"
        );
    }
    let pool = options.conversations.max(options.hold.unwrap_or(0));
    Ok(Target::Http(HttpTarget::new(
        url,
        &options.user_header,
        pool,
        options.request_timeout(),
    )?))
}

/// Runs the virtual users against `target` and summarises what they
/// measured. `server_pid`: whose CPU and memory to sample over the window.
pub async fn run(target: Arc<Target>, options: Options, server_pid: Option<u32>) -> Summary {
    let options = Arc::new(options);
    let vus: Vec<VirtualUser> = (0..options.conversations)
        .map(|i| VirtualUser::new(&options, i))
        .collect();
    // Read mode seeds its threads before the clock starts.
    let mut seeded: Vec<(Vec<String>, Recorder)> = Vec::with_capacity(vus.len());
    if options.mode == Mode::Read {
        let tasks: Vec<_> = vus
            .iter()
            .map(|vu| {
                let (target, options) = (target.clone(), options.clone());
                let vu = VirtualUser::new(&options, vu.index);
                tokio::spawn(async move {
                    let mut rec = Recorder::default();
                    let threads = workload::seed(&target, &options, &vu, &mut rec).await;
                    (threads, rec)
                })
            })
            .collect();
        for task in tasks {
            seeded.push(
                task.await
                    .unwrap_or_else(|_| (Vec::new(), Recorder::default())),
            );
        }
    } else {
        seeded.resize_with(vus.len(), || (Vec::new(), Recorder::default()));
    }

    let clock = Arc::new(Clock::new(&options));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(sample_window(clock.clone(), server_pid, done_rx));
    let progress = Progress::start(&options, clock.clone());
    let tasks: Vec<_> = vus
        .into_iter()
        .zip(seeded)
        .map(|(vu, (threads, rec))| {
            tokio::spawn(workload::run_user(
                target.clone(),
                options.clone(),
                clock.clone(),
                vu,
                threads,
                rec,
            ))
        })
        .collect();
    let mut total = Recorder::default();
    for task in tasks {
        if let Ok(rec) = task.await {
            total.merge(rec);
        }
    }
    let _ = done_tx.send(());
    progress.finish();
    let (server, loadtest_cpu_pct) = sampler.await.unwrap_or((None, 0.0));
    Summary::new(
        RunFacts {
            label: options.label.clone(),
            target: target.describe(),
            mode: match options.mode {
                Mode::Chat => "chat",
                Mode::Read => "read",
            },
            conversations: options.conversations,
            turns_per_conversation: options.turns,
            read_ratio: options.read_ratio,
            seconds: clock.seconds(),
            server,
            loadtest_cpu_pct,
        },
        &total,
    )
}

/// Samples the server and this process from the start of the measured
/// window until `done` (the last measured request has ended).
async fn sample_window(
    clock: Arc<Clock>,
    server_pid: Option<u32>,
    done: tokio::sync::oneshot::Receiver<()>,
) -> (Option<procfs::ProcUsage>, f64) {
    tokio::time::sleep_until(clock.measure_from.into()).await;
    let watch = server_pid.and_then(ProcWatch::start);
    let own_before = procfs::own_cpu_seconds();
    let from = std::time::Instant::now();
    let _ = done.await;
    let own = procfs::own_cpu_seconds() - own_before;
    let seconds = from.elapsed().as_secs_f64().max(1e-9);
    (
        watch.and_then(|w| w.finish()),
        (1000.0 * own / seconds).round() / 10.0,
    )
}

/// The progress bar on stderr, hidden when stderr is not a terminal.
struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(options: &Options, clock: Arc<Clock>) -> Progress {
        let visible = !options.no_progress && std::io::stderr().is_terminal();
        let warmup_and_window = options.warmup + options.duration;
        let bar = if !visible {
            ProgressBar::hidden()
        } else if let Some(total) = options.total {
            ProgressBar::new(total)
        } else {
            ProgressBar::new((warmup_and_window * 10.0).ceil() as u64)
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
                .expect("a valid template"),
        );
        let by_count = options.total.is_some();
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                let done = clock.done.load(std::sync::atomic::Ordering::Relaxed);
                let failed = clock.failed.load(std::sync::atomic::Ordering::Relaxed);
                let position = if by_count {
                    done + failed
                } else {
                    (clock.started.elapsed().as_secs_f64() * 10.0) as u64
                };
                shown.set_position(position);
                shown.set_message(format!("{done} ok, {failed} failed"));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Progress { bar, ticker }
    }

    fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}
