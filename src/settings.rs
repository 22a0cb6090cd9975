//! `Settings`: how the HTTP server behaves. A plain struct, so embedding
//! code and tests build it directly; `main.rs` fills it from the CLI.

use std::time::Duration;

use crate::auth::Auth;
use crate::limits::Limits;

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

/// A connection whose sent bytes make no progress this long is dropped:
/// see [`Settings::send_timeout`]. As nginx's `send_timeout`.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP server settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The path of the ChatKit endpoint.
    pub chatkit_path: String,
    /// How requests are authenticated (see [`Auth`]).
    pub auth: Auth,
    /// The header that names the user (`auth` `None` and `ProxyHeader`).
    pub user_header: String,
    /// The user when that header is absent (`auth` `None` only).
    pub default_user: String,
    /// The header that names the tenant (`auth` `None` and
    /// `ProxyHeader`); when set, every request needs it and threads are
    /// owned by tenant and user together.
    pub tenant_header: Option<String>,
    /// Request rate, stream and message limits.
    pub limits: Limits,
    /// Origins allowed to call the server from a browser (CORS); empty:
    /// no CORS headers at all. `*` allows any origin.
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes; larger is a 413.
    pub body_limit: usize,
    /// See [`DEFAULT_KEEP_ALIVE`].
    pub keep_alive: Duration,
    /// How long running requests (turns) may go on after a shutdown signal
    /// before their connections are closed, which cancels their turns.
    pub shutdown_timeout: Duration,
    /// Stop gracefully on SIGINT/SIGTERM (off in tests).
    pub handle_signals: bool,
    /// A connection whose sent data stays unacknowledged this long (the
    /// client stopped reading and its receive window stayed shut, or it
    /// vanished) is dropped by the kernel (`TCP_USER_TIMEOUT`, Linux only),
    /// which frees the events waiting for it. Idle connections are not
    /// affected. `None`: the kernel's default (such a connection can live
    /// forever). See [`DEFAULT_SEND_TIMEOUT`].
    pub send_timeout: Option<Duration>,
    /// HTTP worker threads; `None` is one per core.
    pub workers: Option<usize>,
    /// Request headers copied into the responder's
    /// `RequestContext::data` (lower-cased names), e.g. the locale
    /// ChatKit.js sends as `Accept-Language`.
    pub context_headers: Vec<String>,
    /// Where the built-in chat page is served (`/` by default); `None`
    /// turns it off. Its scripts and styles live under `{ui_path}/assets/`.
    pub ui_path: Option<String>,
    /// Where `GET` serves the metrics in the Prometheus text format
    /// (installing the Prometheus recorder); `None`: not served, and no
    /// recorder is installed.
    pub metrics_path: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            chatkit_path: "/chatkit".to_owned(),
            auth: Auth::None,
            user_header: "X-User-Id".to_owned(),
            default_user: "local-user".to_owned(),
            tenant_header: None,
            limits: Limits::default(),
            cors_origins: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            keep_alive: DEFAULT_KEEP_ALIVE,
            shutdown_timeout: Duration::from_secs(30),
            handle_signals: true,
            send_timeout: Some(DEFAULT_SEND_TIMEOUT),
            workers: None,
            context_headers: vec!["accept-language".to_owned()],
            ui_path: Some("/".to_owned()),
            metrics_path: Some(DEFAULT_METRICS_PATH.to_owned()),
        }
    }
}
