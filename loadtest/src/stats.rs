//! Counting and reporting: a [`Recorder`] per virtual user (no shared
//! locks on the hot path), merged into a [`Summary`] at the end, printed
//! as a table or one JSON line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procfs::ProcUsage;
use crate::target::{Failure, FailureKind};

/// Error descriptions kept for the report (the first ones seen).
const MAX_SAMPLES: usize = 5;

/// Histogram range: 1 µs to one hour, three significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// What one virtual user measured.
pub struct Recorder {
    pub first_event: Histogram<u64>,
    pub first_delta: Histogram<u64>,
    pub end: Histogram<u64>,
    pub read: Histogram<u64>,
    pub turns_ok: u64,
    pub reads_ok: u64,
    pub events: u64,
    pub failures: BTreeMap<FailureKind, u64>,
    pub samples: Vec<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            first_event: histogram(),
            first_delta: histogram(),
            end: histogram(),
            read: histogram(),
            turns_ok: 0,
            reads_ok: 0,
            events: 0,
            failures: BTreeMap::new(),
            samples: Vec::new(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Recorder {
    /// Records a successful turn's latencies.
    pub fn turn_ok(
        &mut self,
        first_event: Option<Duration>,
        first_delta: Option<Duration>,
        end: Duration,
    ) {
        self.turns_ok += 1;
        if let Some(d) = first_event {
            self.first_event.saturating_record(micros(d));
        }
        if let Some(d) = first_delta {
            self.first_delta.saturating_record(micros(d));
        }
        self.end.saturating_record(micros(end));
    }

    /// Records a successful read's latency.
    pub fn read_ok(&mut self, latency: Duration) {
        self.reads_ok += 1;
        self.read.saturating_record(micros(latency));
    }

    /// Counts a failure by kind, keeping the first few descriptions.
    pub fn failure(&mut self, what: &str, failure: &Failure) {
        *self.failures.entry(failure.kind).or_default() += 1;
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(format!("{what}: {}", failure.message));
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: Recorder) {
        for (mine, theirs) in [
            (&mut self.first_event, &other.first_event),
            (&mut self.first_delta, &other.first_delta),
            (&mut self.end, &other.end),
            (&mut self.read, &other.read),
        ] {
            mine.add(theirs).expect("histograms share their bounds");
        }
        self.turns_ok += other.turns_ok;
        self.reads_ok += other.reads_ok;
        self.events += other.events;
        for (kind, n) in other.failures {
            *self.failures.entry(kind).or_default() += n;
        }
        for sample in other.samples {
            if self.samples.len() < MAX_SAMPLES {
                self.samples.push(sample);
            }
        }
    }
}

/// Percentiles of one latency, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Option<Latency> {
        let ms = |us: u64| (us as f64 / 10.0).round() / 100.0;
        (!h.is_empty()).then(|| Latency {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
            mean: (h.mean() / 10.0).round() / 100.0,
        })
    }
}

/// Failures by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Errors {
    pub total: u64,
    /// Non-200 answers, by status.
    pub http: BTreeMap<u16, u64>,
    pub transport: u64,
    pub bad_stream: u64,
    pub error_event: u64,
    pub missing_assistant: u64,
    pub wrong_answer: u64,
}

impl Errors {
    pub(crate) fn of(failures: &BTreeMap<FailureKind, u64>) -> Errors {
        let mut e = Errors::default();
        for (&kind, &n) in failures {
            e.total += n;
            match kind {
                FailureKind::Http(status) => *e.http.entry(status).or_default() += n,
                FailureKind::Transport => e.transport += n,
                FailureKind::BadStream => e.bad_stream += n,
                FailureKind::ErrorEvent => e.error_event += n,
                FailureKind::MissingAssistant => e.missing_assistant += n,
                FailureKind::WrongAnswer => e.wrong_answer += n,
            }
        }
        e
    }
}

/// What the caller knows of a run besides the counts.
#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub target: String,
    pub mode: &'static str,
    pub conversations: usize,
    pub turns_per_conversation: usize,
    pub read_ratio: f64,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// The server's CPU and memory over the window (`--server-pid`, or
    /// this process in process).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ProcUsage>,
    /// This process's CPU over the window, in % of one core.
    pub loadtest_cpu_pct: f64,
}

/// The result of a run, as printed and as JSON (one flat object).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub run: RunFacts,
    pub turns_ok: u64,
    pub turns_per_s: f64,
    pub events: u64,
    pub events_per_s: f64,
    pub reads_ok: u64,
    pub reads_per_s: f64,
    pub first_event_ms: Option<Latency>,
    pub first_delta_ms: Option<Latency>,
    pub end_of_stream_ms: Option<Latency>,
    pub read_ms: Option<Latency>,
    pub errors: Errors,
    pub error_samples: Vec<String>,
}

impl Summary {
    /// Builds the summary of a run.
    pub fn new(facts: RunFacts, rec: &Recorder) -> Summary {
        let per_s = |n: u64| {
            if facts.seconds > 0.0 {
                (n as f64 / facts.seconds * 10.0).round() / 10.0
            } else {
                0.0
            }
        };
        let seconds = (facts.seconds * 1000.0).round() / 1000.0;
        Summary {
            turns_per_s: per_s(rec.turns_ok),
            events_per_s: per_s(rec.events),
            reads_per_s: per_s(rec.reads_ok),
            run: RunFacts { seconds, ..facts },
            turns_ok: rec.turns_ok,
            events: rec.events,
            reads_ok: rec.reads_ok,
            first_event_ms: Latency::of(&rec.first_event),
            first_delta_ms: Latency::of(&rec.first_delta),
            end_of_stream_ms: Latency::of(&rec.end),
            read_ms: Latency::of(&rec.read),
            errors: Errors::of(&rec.failures),
            error_samples: rec.samples.clone(),
        }
    }

    /// The readable report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let label = self
            .run
            .label
            .as_deref()
            .map(|l| format!(" [{l}]"))
            .unwrap_or_default();
        let _ = writeln!(out, "chatkit-loadtest{label}: {}", self.run.target);
        let _ = writeln!(
            out,
            "  {} mode, {} conversations x {} turns, read ratio {}, {:.1} s measured",
            self.run.mode,
            self.run.conversations,
            self.run.turns_per_conversation,
            self.run.read_ratio,
            self.run.seconds
        );
        let _ = writeln!(
            out,
            "  turns ok {:>8}   {:>9.1} turns/s   events {:>9} {:>10.1} events/s",
            self.turns_ok, self.turns_per_s, self.events, self.events_per_s
        );
        if self.reads_ok > 0 || self.read_ms.is_some() {
            let _ = writeln!(
                out,
                "  reads ok {:>8}   {:>9.1} reads/s",
                self.reads_ok, self.reads_per_s
            );
        }
        let _ = writeln!(
            out,
            "  {:<20} {:>8} {:>9} {:>9} {:>9} {:>9}",
            "latency (ms)", "count", "p50", "p90", "p99", "max"
        );
        for (name, l) in [
            ("first event", &self.first_event_ms),
            ("first text delta", &self.first_delta_ms),
            ("end of stream", &self.end_of_stream_ms),
            ("read", &self.read_ms),
        ] {
            if let Some(l) = l {
                let _ = writeln!(
                    out,
                    "  {:<20} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                    name, l.count, l.p50, l.p90, l.p99, l.max
                );
            }
        }
        let e = &self.errors;
        let http: Vec<String> = e.http.iter().map(|(s, n)| format!("{s}x{n}")).collect();
        let _ = writeln!(
            out,
            "  errors {}: http [{}], transport {}, bad stream {}, error events {}, no answer {}, wrong answer {}",
            e.total,
            http.join(" "),
            e.transport,
            e.bad_stream,
            e.error_event,
            e.missing_assistant,
            e.wrong_answer
        );
        for s in &self.error_samples {
            let _ = writeln!(out, "    e.g. {s}");
        }
        if let Some(s) = &self.run.server {
            let _ = writeln!(
                out,
                "  server: CPU {:.2} s ({:.0}% of one core), RSS {:.1} MB, peak RSS {:.1} MB",
                s.cpu_s, s.cpu_pct, s.rss_mb, s.peak_rss_mb
            );
        }
        let _ = writeln!(
            out,
            "  load generator CPU: {:.0}% of one core",
            self.run.loadtest_cpu_pct
        );
        out
    }
}
