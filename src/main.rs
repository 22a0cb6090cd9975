//! `chatkit-server`: parses the command line and runs the server.

use std::net::{IpAddr, TcpListener};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chatkit_actors::attachments::{AttachmentConfig, ImageInput};
use chatkit_actors::model::{DEFAULT_BASE_URL, ModelConfig, ProviderSettings};
use chatkit_actors::{Engine, EngineConfig};
use chatkit_server::auth::{Auth, BearerTokens, JwtConfig, JwtVerifier};
use chatkit_server::limits::Limits;
use chatkit_server::telemetry::{self, LogFormat};
use chatkit_server::{Settings, run};
use clap::Parser;
use ipnet::IpNet;
use tracing::{info, warn};

/// A ChatKit-protocol conversation server: threads in SQLite, answers
/// streamed from a language model.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "CHATKIT_BIND", default_value = "127.0.0.1:8000")]
    bind: String,
    /// SQLite database file (created if missing).
    #[arg(long, env = "CHATKIT_DB", default_value = "chatkit.sqlite3")]
    db: PathBuf,
    /// Which model answers: `responses` (OpenAI Responses API), `chat`
    /// (Chat Completions: LiteLLM, Gemini, Ollama, vLLM, …) or `echo` (the
    /// built-in offline model). Default: `responses` when OPENAI_API_KEY is
    /// set, `echo` otherwise.
    #[arg(long, env = "CHATKIT_MODEL", value_enum)]
    model: Option<ModelKind>,
    /// The provider's API root, including the version path.
    #[arg(long, visible_alias = "model-base-url", env = "OPENAI_BASE_URL", default_value = DEFAULT_BASE_URL)]
    base_url: String,
    /// The provider's API key (environment only, so it stays out of the
    /// process list).
    #[arg(skip)]
    api_key: Option<String>,
    /// The model name sent to the provider.
    #[arg(long, env = "CHATKIT_MODEL_NAME", default_value = "gpt-4.1-mini")]
    model_name: String,
    /// The system prompt.
    #[arg(long, env = "CHATKIT_INSTRUCTIONS")]
    instructions: Option<String>,
    /// Sampling temperature.
    #[arg(long, env = "CHATKIT_TEMPERATURE")]
    temperature: Option<f64>,
    /// Nucleus sampling (top_p).
    #[arg(long, env = "CHATKIT_TOP_P")]
    top_p: Option<f64>,
    /// Cap on output tokens per model call.
    #[arg(long, env = "CHATKIT_MAX_OUTPUT_TOKENS")]
    max_output_tokens: Option<u32>,
    /// Extra JSON fields for every model request, e.g.
    /// '{"reasoning":{"effort":"low","summary":"auto"}}'.
    #[arg(long, env = "CHATKIT_MODEL_EXTRA_BODY")]
    model_extra_body: Option<String>,
    /// Extra HTTP header for the provider, `Name: value` (repeatable; in the
    /// environment, separate headers with newlines).
    #[arg(
        long = "model-header",
        env = "CHATKIT_MODEL_HEADERS",
        value_delimiter = '\n'
    )]
    model_headers: Vec<String>,
    /// Seconds allowed to connect to the provider.
    #[arg(long, env = "CHATKIT_MODEL_CONNECT_TIMEOUT_SECS", default_value_t = 10)]
    model_connect_timeout_secs: u64,
    /// Longest silence while reading a model stream, in seconds (no total
    /// timeout: long answers are never cut).
    #[arg(long, env = "CHATKIT_MODEL_READ_TIMEOUT_SECS", default_value_t = 120)]
    model_read_timeout_secs: u64,
    /// Retries of a failed model request before anything was streamed.
    #[arg(long, env = "CHATKIT_MODEL_MAX_RETRIES", default_value_t = 2)]
    model_max_retries: u32,
    /// History sent to the model, in estimated tokens (newest items first).
    #[arg(long, env = "CHATKIT_HISTORY_BUDGET_TOKENS", default_value_t = 100_000)]
    history_budget_tokens: usize,
    /// Most model calls in one turn (tool calls loop back to the model).
    #[arg(long, env = "CHATKIT_MAX_MODEL_CALLS", default_value_t = 10)]
    max_model_calls: usize,
    /// Give untitled threads a title after their first answer.
    #[arg(long, env = "CHATKIT_TITLES", default_value_t = true, action = clap::ArgAction::Set)]
    titles: bool,
    /// The model that writes titles (e.g. a cheaper one); default: --model-name.
    #[arg(long, env = "CHATKIT_TITLE_MODEL")]
    title_model: Option<String>,
    /// The model that transcribes dictation (`input.transcribe`) at the
    /// provider's `audio/transcriptions` endpoint; `off` (or empty) turns
    /// transcription off. Needs `--model responses` or `chat`.
    #[arg(
        long,
        env = "CHATKIT_TRANSCRIPTION_MODEL",
        default_value = chatkit_actors::model::transcribe::DEFAULT_TRANSCRIPTION_MODEL
    )]
    transcription_model: String,
    /// Largest dictated audio accepted, in decoded bytes (the request
    /// body, base64, is a third larger and must fit --body-limit too).
    #[arg(long, env = "CHATKIT_MAX_AUDIO_BYTES", default_value_t = chatkit_actors::engine::DEFAULT_MAX_AUDIO_BYTES)]
    max_audio_bytes: usize,
    /// Request header passed to the responder (repeatable).
    #[arg(
        long = "context-header",
        env = "CHATKIT_CONTEXT_HEADERS",
        value_delimiter = ',',
        default_value = "accept-language"
    )]
    context_headers: Vec<String>,
    /// Port to listen on (overrides the port of --bind).
    #[arg(long, env = "CHATKIT_PORT")]
    port: Option<u16>,
    /// Pause of the echo model before each delta, in milliseconds.
    #[arg(long, env = "CHATKIT_ECHO_DELAY_MS", default_value_t = 30)]
    echo_delay_ms: u64,
    /// Path of the ChatKit endpoint.
    #[arg(long, env = "CHATKIT_PATH", default_value = "/chatkit")]
    path: String,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CHATKIT_BODY_LIMIT", default_value_t = chatkit_server::settings::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// Seconds an idle thread stays in memory.
    #[arg(long, env = "CHATKIT_IDLE_TIMEOUT_SECS", default_value_t = 300)]
    idle_timeout_secs: u64,
    /// Seconds running turns may go on after SIGINT/SIGTERM before they
    /// are cancelled.
    #[arg(long, env = "CHATKIT_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    shutdown_timeout_secs: u64,
    /// Seconds a connection may go without its sent data being
    /// acknowledged (a client that stopped reading) before it is dropped;
    /// 0 turns this off. Linux only.
    #[arg(long, env = "CHATKIT_SEND_TIMEOUT_SECS", default_value_t = chatkit_server::settings::DEFAULT_SEND_TIMEOUT.as_secs())]
    send_timeout_secs: u64,
    /// Header that names the user.
    #[arg(long, env = "CHATKIT_USER_HEADER", default_value = "X-User-Id")]
    user_header: String,
    /// User assumed when that header is absent.
    #[arg(long, env = "CHATKIT_DEFAULT_USER", default_value = "local-user")]
    default_user: String,
    /// Directory of attachment bytes (default: `attachments` beside --db).
    #[arg(long, env = "CHATKIT_ATTACHMENTS_DIR")]
    attachments_dir: Option<PathBuf>,
    /// Largest attachment, in bytes.
    #[arg(long, env = "CHATKIT_ATTACHMENT_MAX_BYTES", default_value_t = chatkit_actors::attachments::DEFAULT_MAX_BYTES)]
    attachment_max_bytes: u64,
    /// Accepted attachment MIME types, comma-separated (`image/*`,
    /// `application/pdf`, `*/*`, …).
    #[arg(
        long,
        env = "CHATKIT_ATTACHMENT_TYPES",
        value_delimiter = ',',
        default_value = "image/*,application/pdf,text/*"
    )]
    attachment_types: Vec<String>,
    /// This server's URL as browsers reach it (behind a proxy: the proxy's),
    /// for attachment upload and preview URLs. Default: from the listen
    /// address.
    #[arg(long, env = "CHATKIT_PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// Path of the built-in chat page (its files are under `{path}/assets/`).
    #[arg(long, env = "CHATKIT_UI_PATH", default_value = "/")]
    ui_path: String,
    /// Do not serve the built-in chat page.
    #[arg(long, env = "CHATKIT_NO_UI")]
    no_ui: bool,
    /// Seconds after which an attachment never sent in a message is
    /// removed (record and bytes), as are upload temporary files that old;
    /// 0 keeps them forever.
    #[arg(long, env = "CHATKIT_ATTACHMENT_ORPHAN_TTL_SECS", default_value_t = chatkit_actors::attachments::DEFAULT_ORPHAN_TTL.as_secs())]
    attachment_orphan_ttl_secs: u64,
    /// Seconds between two orphan sweeps (default: a quarter of the
    /// orphan age, between 1 s and 1 h).
    #[arg(long, env = "CHATKIT_ATTACHMENT_ORPHAN_SWEEP_SECS")]
    attachment_orphan_sweep_secs: Option<u64>,
    /// How images reach the model: `data-url` (the bytes, inline) or `url`
    /// (their preview URL under --public-base-url, fetched by the
    /// provider; needs --public-base-url).
    #[arg(
        long,
        env = "CHATKIT_ATTACHMENT_IMAGE_INPUT",
        value_enum,
        default_value = "data-url"
    )]
    attachment_image_input: ImageInputKind,
    /// Path of the Prometheus metrics endpoint (`GET`).
    #[arg(long, env = "CHATKIT_METRICS_PATH", default_value = chatkit_server::settings::DEFAULT_METRICS_PATH)]
    metrics_path: String,
    /// Do not record or serve metrics.
    #[arg(long, env = "CHATKIT_NO_METRICS")]
    no_metrics: bool,
    /// Threads the conversation actors are spread over (0: one shared
    /// thread).
    #[arg(long, env = "CHATKIT_ENGINE_THREADS", default_value_t = 0)]
    engine_threads: usize,
    /// Log format.
    #[arg(long, env = "CHATKIT_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// How requests are authenticated: `none` (the user header, for local
    /// development), `bearer` (tokens from --auth-tokens-file), `jwt`, or
    /// `proxy-header` (the user header, from --trusted-proxies only).
    #[arg(long, env = "CHATKIT_AUTH", value_enum, default_value = "none")]
    auth: AuthKind,
    /// Bearer tokens file (`--auth bearer`): one `token user [tenant]`
    /// per line; re-read on SIGHUP.
    #[arg(long, env = "CHATKIT_AUTH_TOKENS_FILE")]
    auth_tokens_file: Option<PathBuf>,
    /// File holding the HS256 secret (`--auth jwt`); or set
    /// CHATKIT_JWT_SECRET.
    #[arg(long, env = "CHATKIT_JWT_SECRET_FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// The HS256 secret (environment only, so it stays out of the process
    /// list).
    #[arg(skip)]
    jwt_secret: Option<String>,
    /// JWKS file of RS256/ES256 public keys (`--auth jwt`); re-read on
    /// SIGHUP.
    #[arg(long, env = "CHATKIT_JWT_JWKS_FILE")]
    jwt_jwks_file: Option<PathBuf>,
    /// Required `iss` of tokens.
    #[arg(long, env = "CHATKIT_JWT_ISSUER")]
    jwt_issuer: Option<String>,
    /// Accepted `aud` values of tokens, comma-separated (required claim
    /// when set).
    #[arg(long, env = "CHATKIT_JWT_AUDIENCE", value_delimiter = ',')]
    jwt_audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    #[arg(long, env = "CHATKIT_JWT_LEEWAY_SECS", default_value_t = 30)]
    jwt_leeway_secs: u64,
    /// The claim that names the user.
    #[arg(long, env = "CHATKIT_JWT_USER_CLAIM", default_value = "sub")]
    jwt_user_claim: String,
    /// The claim that names the tenant (turns tenancy on with `--auth jwt`).
    #[arg(long, env = "CHATKIT_JWT_TENANT_CLAIM")]
    jwt_tenant_claim: Option<String>,
    /// Addresses or CIDRs of the reverse proxies trusted to set the user
    /// header (`--auth proxy-header`), comma-separated.
    #[arg(long, env = "CHATKIT_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<String>,
    /// Header that names the tenant (`--auth none` or `proxy-header`);
    /// turns tenancy on: threads belong to tenant and user together.
    #[arg(long, env = "CHATKIT_TENANT_HEADER")]
    tenant_header: Option<String>,
    /// Requests per second per user, sustained (0: no limit). Default: 10
    /// with authentication; off with `--auth none`, where any client can
    /// pick any user and a per-user limit protects nothing.
    #[arg(long, env = "CHATKIT_RATE_LIMIT")]
    rate_limit: Option<u32>,
    /// Requests a user may make in a burst above --rate-limit.
    #[arg(long, env = "CHATKIT_RATE_BURST", default_value_t = 40)]
    rate_burst: u32,
    /// Answers one user may have streaming at once (0: no limit). Default:
    /// 4 with authentication; off with `--auth none`.
    #[arg(long, env = "CHATKIT_MAX_STREAMS_PER_USER")]
    max_streams_per_user: Option<usize>,
    /// Answers streaming at once over all users (0: no limit).
    #[arg(long, env = "CHATKIT_MAX_STREAMS", default_value_t = 512)]
    max_streams: usize,
    /// Characters in one user message (0: no limit).
    #[arg(long, env = "CHATKIT_MAX_MESSAGE_CHARS", default_value_t = 32_000)]
    max_message_chars: usize,
    /// Attachments on one user message (0: no limit).
    #[arg(
        long,
        env = "CHATKIT_MAX_ATTACHMENTS_PER_MESSAGE",
        default_value_t = 10
    )]
    max_attachments_per_message: usize,
    /// Thread actors kept in memory; past it, the least recently used idle
    /// ones are retired (busy ones never).
    #[arg(long, env = "CHATKIT_MAX_CACHED_THREADS", default_value_t = chatkit_actors::engine::DEFAULT_MAX_CACHED_THREADS)]
    max_cached_threads: usize,
    /// Origins allowed to call the server from a browser (CORS),
    /// comma-separated, e.g. `https://app.example.com`; `*` for any.
    /// Default: none (no CORS headers).
    #[arg(long, env = "CHATKIT_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
}

/// The authentication modes `--auth` can choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum AuthKind {
    /// The user header, or the default user: local development only.
    None,
    /// Static bearer tokens from a file.
    Bearer,
    /// Signed JSON Web Tokens.
    Jwt,
    /// A user header set by a trusted reverse proxy.
    ProxyHeader,
}

/// The choices of `--attachment-image-input`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ImageInputKind {
    /// Inline `data:` URLs.
    DataUrl,
    /// Preview URLs the provider fetches.
    Url,
}

/// The model providers `--model` can choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModelKind {
    /// The OpenAI Responses API.
    Responses,
    /// Chat Completions.
    Chat,
    /// The built-in offline model.
    Echo,
}

impl Cli {
    fn auth(&self) -> anyhow::Result<Auth> {
        let tenancy_from_header = self.tenant_header.is_some();
        if tenancy_from_header && matches!(self.auth, AuthKind::Bearer | AuthKind::Jwt) {
            anyhow::bail!(
                "--tenant-header works with --auth none or proxy-header; with tokens the tenant comes from the token (the tokens file's third field, --jwt-tenant-claim)"
            );
        }
        if self.jwt_tenant_claim.is_some() && self.auth != AuthKind::Jwt {
            anyhow::bail!("--jwt-tenant-claim needs --auth jwt");
        }
        Ok(match self.auth {
            AuthKind::None => Auth::None,
            AuthKind::Bearer => {
                let path = self
                    .auth_tokens_file
                    .as_ref()
                    .context("--auth bearer needs --auth-tokens-file")?;
                Auth::Bearer(BearerTokens::open(path).map_err(anyhow::Error::msg)?)
            }
            AuthKind::Jwt => {
                let secret = match (&self.jwt_secret_file, &self.jwt_secret) {
                    (Some(path), _) => Some(
                        std::fs::read_to_string(path)
                            .with_context(|| format!("reading {}", path.display()))?
                            .trim()
                            .as_bytes()
                            .to_vec(),
                    ),
                    (None, Some(secret)) => Some(secret.as_bytes().to_vec()),
                    (None, None) => None,
                };
                let config = JwtConfig {
                    secret,
                    jwks_file: self.jwt_jwks_file.clone(),
                    issuer: self.jwt_issuer.clone(),
                    audience: nonempty(&self.jwt_audience),
                    leeway: Duration::from_secs(self.jwt_leeway_secs),
                    user_claim: self.jwt_user_claim.clone(),
                    tenant_claim: self.jwt_tenant_claim.clone(),
                };
                Auth::Jwt(Arc::new(
                    JwtVerifier::new(config).map_err(anyhow::Error::msg)?,
                ))
            }
            AuthKind::ProxyHeader => {
                let trusted = nonempty(&self.trusted_proxies)
                    .iter()
                    .map(|p| {
                        p.parse::<IpNet>()
                            .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                            .with_context(|| {
                                format!("--trusted-proxies: {p:?} is not an address or CIDR")
                            })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                if trusted.is_empty() {
                    anyhow::bail!("--auth proxy-header needs --trusted-proxies");
                }
                Auth::ProxyHeader { trusted }
            }
        })
    }

    /// The limits; per-user ones default to off under `--auth none`.
    fn limits(&self) -> Limits {
        let some = |n: usize| Some(n).filter(|&n| n > 0);
        let defaults = Limits::default();
        let authenticated = self.auth != AuthKind::None;
        let rate = self.rate_limit.unwrap_or(if authenticated {
            defaults.rate_per_second.map_or(0, NonZeroU32::get)
        } else {
            0
        });
        let streams_per_user = self.max_streams_per_user.unwrap_or(if authenticated {
            defaults.max_streams_per_user.unwrap_or(0)
        } else {
            0
        });
        Limits {
            rate_per_second: NonZeroU32::new(rate),
            rate_burst: NonZeroU32::new(self.rate_burst)
                .unwrap_or(NonZeroU32::MIN)
                .max(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN)),
            max_streams_per_user: some(streams_per_user),
            max_streams: some(self.max_streams),
            max_message_chars: some(self.max_message_chars),
            max_attachments_per_message: some(self.max_attachments_per_message),
        }
    }

    fn cors_origins(&self) -> anyhow::Result<Vec<String>> {
        let origins = nonempty(&self.cors_origins);
        for origin in &origins {
            let valid = origin == "*"
                || origin.split_once("://").is_some_and(|(scheme, rest)| {
                    ["http", "https"].contains(&scheme) && !rest.is_empty() && !rest.contains('/')
                });
            if !valid {
                anyhow::bail!(
                    "--cors-origins: {origin:?} is not an origin like https://app.example.com (no path, no trailing slash) or *"
                );
            }
        }
        Ok(origins)
    }

    fn model_config(&self) -> anyhow::Result<ModelConfig> {
        let kind = self.model.unwrap_or(if self.api_key.is_some() {
            ModelKind::Responses
        } else {
            ModelKind::Echo
        });
        if kind == ModelKind::Echo {
            return Ok(ModelConfig::echo(Duration::from_millis(self.echo_delay_ms)));
        }
        let mut s = ProviderSettings::new(&self.model_name);
        s.base_url = self.base_url.clone();
        s.api_key = self.api_key.clone();
        s.instructions = self.instructions.clone();
        s.temperature = self.temperature;
        s.top_p = self.top_p;
        s.max_output_tokens = self.max_output_tokens;
        if let Some(extra) = &self.model_extra_body {
            s.extra_body =
                serde_json::from_str(extra).context("--model-extra-body must be a JSON object")?;
        }
        for header in self.model_headers.iter().filter(|h| !h.trim().is_empty()) {
            let (name, value) = header
                .split_once(':')
                .with_context(|| format!("--model-header {header:?} is not `Name: value`"))?;
            s.extra_headers
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
        s.connect_timeout = Duration::from_secs(self.model_connect_timeout_secs);
        s.read_timeout = Duration::from_secs(self.model_read_timeout_secs);
        s.max_retries = self.model_max_retries;
        s.history_budget_tokens = self.history_budget_tokens;
        s.max_model_calls = self.max_model_calls.max(1);
        Ok(match kind {
            ModelKind::Responses => ModelConfig::Responses(s),
            _ => ModelConfig::Chat(s),
        })
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    cli.api_key = std::env::var("OPENAI_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    cli.jwt_secret = std::env::var("CHATKIT_JWT_SECRET")
        .ok()
        .filter(|k| !k.trim().is_empty());
    if let Some(port) = cli.port {
        let host = cli
            .bind
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h)
            .to_owned();
        cli.bind = format!("{host}:{port}");
    }
    telemetry::init(cli.log_format);

    let model = cli.model_config()?;
    if let ModelConfig::Responses(s) | ModelConfig::Chat(s) = &model
        && s.api_key.is_none()
    {
        warn!(
            "OPENAI_API_KEY is not set: requests to {} carry no Authorization header",
            s.base_url
        );
    }
    if model.is_offline() {
        warn!(
            "OFFLINE MODEL: answers come from the built-in `echo` model, which quotes the user's message back. No language model is used."
        );
    }
    let mut engine_config = EngineConfig::new(&cli.db);
    engine_config.model = model;
    engine_config.titles = cli.titles;
    engine_config.title_model = cli.title_model.clone();
    engine_config.transcription_model = Some(cli.transcription_model.trim())
        .filter(|m| !m.is_empty() && !["off", "none"].contains(&m.to_ascii_lowercase().as_str()))
        .map(str::to_owned);
    engine_config.max_audio_bytes = cli.max_audio_bytes;
    engine_config.thread_idle_timeout = Duration::from_secs(cli.idle_timeout_secs);
    engine_config.max_cached_threads = cli.max_cached_threads.max(1);
    let auth = cli.auth()?;
    engine_config.engine_threads = cli.engine_threads;
    let settings = Settings {
        chatkit_path: cli.path.clone(),
        auth: auth.clone(),
        user_header: cli.user_header.clone(),
        default_user: cli.default_user.clone(),
        tenant_header: cli.tenant_header.clone(),
        limits: cli.limits(),
        cors_origins: cli.cors_origins()?,
        body_limit: cli.body_limit,
        shutdown_timeout: Duration::from_secs(cli.shutdown_timeout_secs),
        send_timeout: (cli.send_timeout_secs > 0)
            .then(|| Duration::from_secs(cli.send_timeout_secs)),
        context_headers: cli.context_headers.clone(),
        ui_path: (!cli.no_ui).then(|| cli.ui_path.clone()),
        metrics_path: (!cli.no_metrics).then(|| cli.metrics_path.clone()),
        ..Settings::default()
    };

    if let Some(ui_path) = &settings.ui_path {
        let trim = |p: &str| p.trim().trim_matches('/').to_owned();
        anyhow::ensure!(
            trim(ui_path) != trim(&settings.chatkit_path),
            "--ui-path {ui_path:?} is the ChatKit endpoint's path (--path); choose another, or --no-ui"
        );
    }
    if cli.attachment_image_input == ImageInputKind::Url && cli.public_base_url.is_none() {
        anyhow::bail!(
            "--attachment-image-input url sends images to the model as URLs under this server's \
             public address, so it needs --public-base-url (CHATKIT_PUBLIC_BASE_URL) set to a URL \
             the model provider can reach"
        );
    }
    let listener = TcpListener::bind(&cli.bind).with_context(|| format!("binding {}", cli.bind))?;
    let local = listener.local_addr()?;
    if matches!(auth, Auth::None) && !local.ip().is_loopback() {
        warn!(
            addr = %local,
            "NO AUTHENTICATION on a non-loopback address: anyone who can reach {local} can act as any user by sending the {} header. Use --auth bearer, jwt or proxy-header, or bind to 127.0.0.1.",
            cli.user_header
        );
    }
    info!(auth = auth.name(), tenancy = settings.tenant_header.is_some() || cli.jwt_tenant_claim.is_some(), limits = ?settings.limits, cors = ?settings.cors_origins, "access control");
    let mut attachments = match &cli.attachments_dir {
        Some(dir) => AttachmentConfig::new(dir),
        None => AttachmentConfig::beside(&cli.db),
    };
    attachments.max_bytes = cli.attachment_max_bytes;
    attachments.allowed_types = cli
        .attachment_types
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    attachments.public_base_url = match &cli.public_base_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let mut addr = local;
            if addr.ip().is_unspecified() {
                warn!(
                    "listening on {addr}: attachment URLs use 127.0.0.1; set --public-base-url for other clients"
                );
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
    };
    attachments.orphan_ttl = Some(Duration::from_secs(cli.attachment_orphan_ttl_secs));
    attachments.orphan_sweep_interval = cli.attachment_orphan_sweep_secs.map(Duration::from_secs);
    attachments.image_input = match cli.attachment_image_input {
        ImageInputKind::DataUrl => ImageInput::DataUrl,
        ImageInputKind::Url => ImageInput::Url,
    };
    if attachments.image_input == ImageInput::Url {
        let host = attachments
            .public_base_url
            .split("://")
            .nth(1)
            .unwrap_or_default();
        if ["127.", "localhost", "[::1]"]
            .iter()
            .any(|loopback| host.starts_with(loopback))
        {
            warn!(
                public_base_url = %attachments.public_base_url,
                "images go to the model as URLs on a loopback address: only a provider on this machine can fetch them"
            );
        }
    }
    let attachments_dir = attachments.dir.clone();
    engine_config.attachments = attachments;
    let engine = Engine::start(engine_config)
        .with_context(|| format!("opening the database {}", cli.db.display()))?;
    info!(
        addr = %local,
        path = %settings.chatkit_path,
        db = %cli.db.display(),
        attachments = %attachments_dir.display(),
        model = %engine.model().describe(),
        "chatkit-server listening"
    );
    if let Some(ui_path) = &settings.ui_path {
        let base = engine.attachments().config().public_base_url.clone();
        let page = chatkit_server::ui::page_url(&base, ui_path);
        info!(url = %page, "chat page: {page}");
    }
    reload_on_sighup(auth);
    let server = run(listener, settings, engine.clone())?;
    server.await?;
    info!("HTTP server stopped; cancelling remaining turns and closing the store");
    engine.shutdown().await;
    info!("bye");
    Ok(())
}

/// Re-reads the tokens file or JWKS on every SIGHUP; a bad file is logged
/// and the keys in force stay.
fn reload_on_sighup(auth: Auth) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot listen for SIGHUP: credentials will not be reloaded");
            return;
        }
    };
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            match auth.reload() {
                Ok(Some(n)) => info!(
                    auth = auth.name(),
                    loaded = n,
                    "SIGHUP: credentials reloaded"
                ),
                Ok(None) => info!(auth = auth.name(), "SIGHUP: nothing to reload"),
                Err(e) => {
                    warn!(error = %e, "SIGHUP: reloading credentials failed; the previous ones stay in force")
                }
            }
        }
    });
}

/// The non-blank entries of a comma-separated list flag.
fn nonempty(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("chatkit-server").chain(args.iter().copied()))
            .expect("valid arguments")
    }

    #[test]
    fn per_user_limits_are_off_without_authentication_unless_asked_for() {
        let open = cli(&[]).limits();
        assert_eq!(open.rate_per_second, None);
        assert_eq!(open.max_streams_per_user, None);
        assert_eq!(open.max_streams, Limits::default().max_streams);

        let asked = cli(&["--rate-limit", "3", "--max-streams-per-user", "2"]).limits();
        assert_eq!(asked.rate_per_second, NonZeroU32::new(3));
        assert_eq!(asked.max_streams_per_user, Some(2));

        let authenticated = cli(&["--auth", "jwt"]).limits();
        assert_eq!(authenticated, Limits::default());
    }

    #[test]
    fn cors_origins_must_be_bare_origins() {
        let ok = cli(&[
            "--cors-origins",
            "https://app.example.com, http://localhost:3000",
        ]);
        assert_eq!(
            ok.cors_origins().unwrap(),
            ["https://app.example.com", "http://localhost:3000"]
        );
        for bad in ["https://app.example.com/", "app.example.com", "ftp://x"] {
            assert!(
                cli(&["--cors-origins", bad]).cors_origins().is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn auth_modes_need_their_settings() {
        assert!(cli(&["--auth", "bearer"]).auth().is_err());
        assert!(cli(&["--auth", "proxy-header"]).auth().is_err());
        assert!(cli(&["--auth", "jwt"]).auth().is_err());
        assert!(
            cli(&["--auth", "jwt", "--tenant-header", "X-Tenant"])
                .auth()
                .is_err()
        );
        let proxy = cli(&[
            "--auth",
            "proxy-header",
            "--trusted-proxies",
            "10.0.0.1,192.168.0.0/16",
        ])
        .auth()
        .unwrap();
        assert_eq!(proxy.name(), "proxy-header");
    }
}
