//! `Settings`: how the HTTP server behaves. A plain struct, so embedding
//! code and tests build it directly; `main.rs` fills it from the CLI.

use std::time::Duration;

/// The default request body limit: room for long pasted messages and, later,
/// base64 audio of a dictation clip.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Where the metrics are served unless told otherwise (Prometheus' default
/// scrape path).
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// A stream idle this long gets an SSE comment, so proxies and browsers do
/// not time the connection out. Longer than any ordinary pause between
/// deltas, so an ordinary answer keeps the reference's framing exactly.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// HTTP server settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The path of the ChatKit endpoint.
    pub chatkit_path: String,
    /// The header that names the user (until real authentication exists).
    pub user_header: String,
    /// The user when that header is absent (for local use).
    pub default_user: String,
    /// Largest accepted request body, in bytes; larger is a 413.
    pub body_limit: usize,
    /// See [`DEFAULT_KEEP_ALIVE`].
    pub keep_alive: Duration,
    /// How long running requests (turns) may go on after a shutdown signal
    /// before their connections are closed, which cancels their turns.
    pub shutdown_timeout: Duration,
    /// Stop gracefully on SIGINT/SIGTERM (off in tests).
    pub handle_signals: bool,
    /// HTTP worker threads; `None` is one per core.
    pub workers: Option<usize>,
    /// Request headers copied into the responder's
    /// `RequestContext::data` (lower-cased names), e.g. the locale
    /// ChatKit.js sends as `Accept-Language`.
    pub context_headers: Vec<String>,
    /// Where `GET` serves the metrics in the Prometheus text format
    /// (installing the Prometheus recorder); `None`: not served, and no
    /// recorder is installed.
    pub metrics_path: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            chatkit_path: "/chatkit".to_owned(),
            user_header: "X-User-Id".to_owned(),
            default_user: "local-user".to_owned(),
            body_limit: DEFAULT_BODY_LIMIT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            shutdown_timeout: Duration::from_secs(30),
            handle_signals: true,
            workers: None,
            context_headers: vec!["accept-language".to_owned()],
            metrics_path: Some(DEFAULT_METRICS_PATH.to_owned()),
        }
    }
}
