//! The command line: what to load, how hard, for how long, and what to
//! check. [`Options`] is a plain clap struct, so tests build one with
//! `Options::try_parse_from([...])`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Most concurrent conversations (virtual users) of one run.
pub const MAX_CONVERSATIONS: usize = 10_000;
/// Most streams `--hold` keeps open at once.
pub const MAX_HOLD: usize = 100_000;
/// Most threads `--idle-threads` creates.
pub const MAX_IDLE_THREADS: usize = 100_000;
/// Longest measured window (plus warm-up) of one run, in seconds: a load
/// run is bounded in time even with a typo in `--duration`.
pub const MAX_SECONDS: f64 = 3_600.0;
/// Most measured turns of `--total`.
pub const MAX_TOTAL: u64 = 10_000_000;

/// Load generator for ChatKit-protocol servers.
///
/// Drives T concurrent conversations (virtual users), each doing K turns
/// (`threads.create` with the first message, then
/// `threads.add_user_message`), against any ChatKit endpoint, or against
/// the chatkit-actors engine in this process (`--in-process`). Reports
/// turns/s, events/s, latency percentiles and errors by kind.
#[derive(Parser, Debug, Clone)]
#[command(name = "chatkit-loadtest", version, about, long_about = None)]
pub struct Options {
    /// The ChatKit endpoint (POST, JSON bodies, SSE answers).
    #[arg(long, default_value = "http://127.0.0.1:8000/chatkit")]
    pub url: String,
    /// Allow a target that is not on this machine (loopback only by default).
    #[arg(long)]
    pub allow_remote: bool,
    /// Concurrent conversations (virtual users).
    #[arg(long, short = 'c', visible_alias = "threads", default_value_t = 16)]
    pub conversations: usize,
    /// Turns per conversation: `threads.create`, then
    /// `threads.add_user_message` K-1 times; then a new conversation starts.
    #[arg(long, default_value_t = 3)]
    pub turns: usize,
    /// Measured seconds (after the warm-up). Ignored with `--total`.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many measured turns (or reads, in read mode)
    /// instead of after `--duration`.
    #[arg(long)]
    pub total: Option<u64>,
    /// Unmeasured seconds before the measured window.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Seconds over which the virtual users start, evenly spaced.
    #[arg(long, default_value_t = 0.0)]
    pub ramp_up: f64,
    /// `chat`: conversations (optionally with reads between turns);
    /// `read`: each virtual user seeds a few conversations unmeasured, then
    /// only reads.
    #[arg(long, value_enum, default_value_t = Mode::Chat)]
    pub mode: Mode,
    /// In chat mode, reads per turn (`threads.get_by_id`, `items.list`,
    /// `threads.list` in turn), e.g. 0.5 or 3.
    #[arg(long, default_value_t = 0.0)]
    pub read_ratio: f64,
    /// In read mode, conversations each virtual user creates before reading.
    #[arg(long, default_value_t = 2)]
    pub seed_threads: usize,
    /// The header naming the user; each virtual user has its own id.
    #[arg(long, default_value = "X-User-Id")]
    pub user_header: String,
    /// Prefix of the user ids (`<prefix>-<n>`).
    #[arg(long, default_value = "loadtest")]
    pub user_prefix: String,
    /// What a correct answer is: `nonempty` (a non-empty assistant message
    /// ended by `thread.item.done`), `echo` (that message also contains
    /// the text sent: the echo model, the fake model and mock_llm.py all
    /// quote it), `exact` (equal to `--expect-text`).
    #[arg(long, value_enum, default_value_t = Expect::Nonempty)]
    pub expect: Expect,
    /// The answer `--expect exact` wants; `{user}` stands for the text sent
    /// (the echo model: `You said: "{user}"`).
    #[arg(long)]
    pub expect_text: Option<String>,
    /// Longest wait for one request: connect, then between two reads, and
    /// for a whole turn, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// Print a one-line JSON summary on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// A label copied into the summary (e.g. `ours-T16`).
    #[arg(long)]
    pub label: Option<String>,
    /// The server's process id: its CPU time and RSS (with its children's)
    /// are sampled from /proc over the measured window.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Exit with status 2 when any request failed (for scripts and CI).
    #[arg(long)]
    pub strict: bool,
    /// No progress bar (it is hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Run the engine in this process (no HTTP) on a temporary SQLite file,
    /// to separate engine cost from HTTP cost.
    #[arg(long)]
    pub in_process: bool,
    /// In-process model: `echo` (built in), or the fake provider started in
    /// this process, speaking `responses` or `chat` SSE.
    #[arg(long, value_enum, default_value_t = ModelKind::Echo)]
    pub model: ModelKind,
    /// In-process echo model: pause before each delta, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub echo_delay_ms: u64,
    /// In-process fake provider: deltas per answer.
    #[arg(long, default_value_t = 20)]
    pub tokens: usize,
    /// In-process SQLite file (default: a fresh temporary one).
    #[arg(long)]
    pub db: Option<PathBuf>,

    /// Open-streams mode: open N streams at once, keep them open for
    /// `--hold-secs`, report errors and the server's RSS per open stream.
    /// Needs a server whose answers last long enough (e.g. the echo model
    /// with `--echo-delay-ms 100`, and `--hold-words`).
    #[arg(long)]
    pub hold: Option<usize>,
    /// Seconds to keep the `--hold` streams open once all are open.
    #[arg(long, default_value_t = 5.0)]
    pub hold_secs: f64,
    /// Words of each `--hold` message: the echo model answers one delta per
    /// word, so a stream lasts about words × echo delay.
    #[arg(long, default_value_t = 200)]
    pub hold_words: usize,
    /// Idle-threads mode: create N threads of `--items` items each
    /// (`--conversations` at a time), then report the server's RSS growth
    /// per thread.
    #[arg(long)]
    pub idle_threads: Option<usize>,
    /// Items per thread in idle-threads mode (a turn adds two: the user's
    /// message and the answer).
    #[arg(long, default_value_t = 20)]
    pub items: usize,
}

/// What the virtual users do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Conversations, with `--read-ratio` reads between turns.
    Chat,
    /// Reads only, on conversations seeded first (unmeasured).
    Read,
}

/// How an answer is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Expect {
    /// A non-empty assistant message ended by `thread.item.done`.
    Nonempty,
    /// ... that contains the text sent.
    Echo,
    /// ... equal to `--expect-text` with `{user}` replaced by the text sent.
    Exact,
}

/// The in-process model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// The engine's offline echo model.
    Echo,
    /// The fake provider, OpenAI Responses SSE.
    Responses,
    /// The fake provider, Chat Completions SSE.
    Chat,
}

impl Options {
    /// Checks the bounds and combinations clap cannot express; the error
    /// says what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.conversations == 0 || self.conversations > MAX_CONVERSATIONS {
            return Err(format!(
                "--conversations must be between 1 and {MAX_CONVERSATIONS}"
            ));
        }
        if self.turns == 0 {
            return Err("--turns must be at least 1".into());
        }
        for (name, secs) in [
            ("--duration", self.duration),
            ("--warmup", self.warmup),
            ("--ramp-up", self.ramp_up),
            ("--hold-secs", self.hold_secs),
        ] {
            if !(0.0..=MAX_SECONDS).contains(&secs) {
                return Err(format!("{name} must be between 0 and {MAX_SECONDS} s"));
            }
        }
        if self.warmup + self.duration > MAX_SECONDS {
            return Err(format!(
                "--warmup + --duration must be at most {MAX_SECONDS} s"
            ));
        }
        if !(self.timeout > 0.0 && self.timeout <= MAX_SECONDS) {
            return Err(format!("--timeout must be between 0 and {MAX_SECONDS} s"));
        }
        if let Some(total) = self.total
            && (total == 0 || total > MAX_TOTAL)
        {
            return Err(format!("--total must be between 1 and {MAX_TOTAL}"));
        }
        if self.total.is_none() && self.duration == 0.0 {
            return Err("give --duration above 0 or --total".into());
        }
        if !(0.0..=1_000.0).contains(&self.read_ratio) {
            return Err("--read-ratio must be between 0 and 1000".into());
        }
        if self.mode == Mode::Read && self.seed_threads == 0 {
            return Err("--mode read needs --seed-threads of at least 1".into());
        }
        if self.expect == Expect::Exact && self.expect_text.is_none() {
            return Err("--expect exact needs --expect-text".into());
        }
        if self.hold.is_some_and(|n| n == 0 || n > MAX_HOLD) {
            return Err(format!("--hold must be between 1 and {MAX_HOLD}"));
        }
        if self
            .idle_threads
            .is_some_and(|n| n == 0 || n > MAX_IDLE_THREADS)
        {
            return Err(format!(
                "--idle-threads must be between 1 and {MAX_IDLE_THREADS}"
            ));
        }
        if self.hold.is_some() && self.idle_threads.is_some() {
            return Err("--hold and --idle-threads are separate runs".into());
        }
        if self.items < 2 {
            return Err("--items must be at least 2 (one turn)".into());
        }
        if self.hold_words == 0 {
            return Err("--hold-words must be at least 1".into());
        }
        if self.tokens == 0 {
            return Err("--tokens must be at least 1".into());
        }
        if !self.in_process && (self.model != ModelKind::Echo || self.db.is_some()) {
            return Err(
                "--model and --db choose the in-process engine's model and file: add --in-process \
                 (an HTTP server picks its own model)"
                    .into(),
            );
        }
        Ok(())
    }

    /// `--timeout` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }
}
