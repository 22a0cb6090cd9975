//! `chatkit-server`: parses the command line and runs the server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chatkit_actors::attachments::AttachmentConfig;
use chatkit_actors::model::{DEFAULT_BASE_URL, ModelConfig, ProviderSettings};
use chatkit_actors::{Engine, EngineConfig};
use chatkit_server::telemetry::{self, LogFormat};
use chatkit_server::{Settings, run};
use clap::Parser;
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
    engine_config.engine_threads = cli.engine_threads;
    let settings = Settings {
        chatkit_path: cli.path.clone(),
        user_header: cli.user_header.clone(),
        default_user: cli.default_user.clone(),
        body_limit: cli.body_limit,
        shutdown_timeout: Duration::from_secs(cli.shutdown_timeout_secs),
        context_headers: cli.context_headers.clone(),
        metrics_path: (!cli.no_metrics).then(|| cli.metrics_path.clone()),
        ..Settings::default()
    };

    let listener = TcpListener::bind(&cli.bind).with_context(|| format!("binding {}", cli.bind))?;
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
            let mut addr = listener.local_addr()?;
            if addr.ip().is_unspecified() {
                warn!(
                    "listening on {addr}: attachment URLs use 127.0.0.1; set --public-base-url for other clients"
                );
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        }
    };
    let attachments_dir = attachments.dir.clone();
    engine_config.attachments = attachments;
    let engine = Engine::start(engine_config)
        .with_context(|| format!("opening the database {}", cli.db.display()))?;
    info!(
        addr = %listener.local_addr()?,
        path = %settings.chatkit_path,
        db = %cli.db.display(),
        attachments = %attachments_dir.display(),
        model = %engine_config_model(&engine),
        "chatkit-server listening"
    );
    let server = run(listener, settings, engine.clone())?;
    server.await?;
    info!("HTTP server stopped; cancelling remaining turns and closing the store");
    engine.shutdown().await;
    info!("bye");
    Ok(())
}

fn engine_config_model(engine: &Engine) -> String {
    engine.model().describe()
}
