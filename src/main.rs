//! `chatkit-server`: parses the command line and runs the server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chatkit_actors::model::ModelConfig;
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
    /// The model: `echo` is the built-in offline model.
    #[arg(long, env = "CHATKIT_MODEL", default_value = "echo")]
    model: String,
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
    /// Log format.
    #[arg(long, env = "CHATKIT_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);

    let model = match cli.model.as_str() {
        "echo" => ModelConfig::echo(Duration::from_millis(cli.echo_delay_ms)),
        other => anyhow::bail!(
            "unknown model {other:?}: this build knows only `echo` (the offline model)"
        ),
    };
    if matches!(model, ModelConfig::Echo(_)) {
        warn!(
            "OFFLINE MODEL: answers come from the built-in `echo` model, which quotes the user's message back. No language model is used."
        );
    }
    let mut engine_config = EngineConfig::new(&cli.db);
    engine_config.model = model;
    engine_config.thread_idle_timeout = Duration::from_secs(cli.idle_timeout_secs);
    let settings = Settings {
        chatkit_path: cli.path,
        user_header: cli.user_header,
        default_user: cli.default_user,
        body_limit: cli.body_limit,
        shutdown_timeout: Duration::from_secs(cli.shutdown_timeout_secs),
        ..Settings::default()
    };

    let engine = Engine::start(engine_config)
        .with_context(|| format!("opening the database {}", cli.db.display()))?;
    let listener = TcpListener::bind(&cli.bind).with_context(|| format!("binding {}", cli.bind))?;
    info!(
        addr = %listener.local_addr()?,
        path = %settings.chatkit_path,
        db = %cli.db.display(),
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
