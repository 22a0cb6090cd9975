//! The fake model provider as a program: a stand-in for `bench/mock_llm.py`
//! (same answers, same tool-call logic, same knobs, plus the Rust fake's
//! deterministic faults).
//!
//! ```sh
//! cargo run --release --example fake_model -- --port 8100 --tokens 20 --delay-ms 0 \
//!     [--ttft-ms 0] [--fake-ids] [--tool-call] [--client-tool NAME] [--reasoning N] \
//!     [--citations] [--fail-status 500 [--fail-times K] [--retry-after-ms MS] [--fail-no-retry]] \
//!     [--midstream abort|eof] [--stall] [--error-event] [--workers 1]
//! ```
//!
//! Serves `POST /v1/responses`, `POST /v1/chat/completions`, `GET /stats`
//! (`?reset=1`) and `GET /health` until Ctrl-C.

use std::net::TcpListener;
use std::time::Duration;

use chatkit_server::fake_model::{Behaviour, FakeModel, Midstream};
use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(about = "A fake OpenAI model provider (Responses and Chat Completions streaming)")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8100)]
    port: u16,
    /// Text deltas per answer.
    #[arg(long, default_value_t = 20)]
    tokens: usize,
    /// Pause between deltas, in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    delay_ms: f64,
    /// Pause before the first delta (time to first token), in milliseconds.
    #[arg(long, default_value_t = 0.0)]
    ttft_ms: f64,
    /// Every output item id (and chat chunk id) is `__fake_id__`.
    #[arg(long)]
    fake_ids: bool,
    /// Answer a turn's first model call with a `get_weather` call.
    #[arg(long)]
    tool_call: bool,
    /// Like --tool-call, for a tool of this name.
    #[arg(long)]
    client_tool: Option<String>,
    /// Reasoning summary paragraphs before each answer.
    #[arg(long, default_value_t = 0)]
    reasoning: usize,
    /// Put a url_citation on text answers.
    #[arg(long)]
    citations: bool,
    /// Answer requests with this HTTP status.
    #[arg(long)]
    fail_status: Option<u16>,
    /// Only the first K requests fail.
    #[arg(long, requires = "fail_status")]
    fail_times: Option<usize>,
    /// `retry-after-ms` header on failures.
    #[arg(long, requires = "fail_status")]
    retry_after_ms: Option<u64>,
    /// `x-should-retry: false` on failures.
    #[arg(long, requires = "fail_status")]
    fail_no_retry: bool,
    /// Cut every stream after half the deltas.
    #[arg(long, value_enum)]
    midstream: Option<MidstreamArg>,
    /// Stop sending after the first delta, keeping the connection open.
    #[arg(long)]
    stall: bool,
    /// Send a stream error after the first delta.
    #[arg(long)]
    error_event: bool,
    /// HTTP workers.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum MidstreamArg {
    Abort,
    Eof,
}

fn millis(ms: f64) -> Duration {
    Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let behaviour = Behaviour {
        tokens: cli.tokens,
        delay: millis(cli.delay_ms),
        ttft: millis(cli.ttft_ms),
        fake_ids: cli.fake_ids,
        tool_call: cli.tool_call,
        client_tool: cli.client_tool,
        reasoning: cli.reasoning,
        citations: cli.citations,
        fail_status: cli.fail_status,
        fail_times: cli.fail_times,
        retry_after_ms: cli.retry_after_ms,
        should_retry: cli.fail_no_retry.then_some(false),
        midstream: cli.midstream.map(|m| match m {
            MidstreamArg::Abort => Midstream::Abort,
            MidstreamArg::Eof => Midstream::Eof,
        }),
        stall: cli.stall,
        error_event: cli.error_event,
    };
    let listener = TcpListener::bind((cli.host.as_str(), cli.port))?;
    let address = listener.local_addr()?;
    let model = FakeModel::serve(listener, behaviour, cli.workers)?;
    eprintln!(
        "fake_model listening on http://{address}/v1 (pid {})",
        std::process::id()
    );
    tokio::signal::ctrl_c().await?;
    model.stop().await;
    Ok(())
}
