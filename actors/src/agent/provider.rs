//! The agent loop against a real provider (MODEL_STREAMING.md §3.5).
//!
//! ```text
//! input ← the thread's history as provider input (budgeted)
//! repeat up to max_model_calls:
//!     stream one model call; convert its events to ChatKit events as they come
//!     failure → (retry if nothing of this call reached the client) or error
//!     input += the call's output items
//!     no function calls → done
//!     a client tool → emit the pending client_tool_call item, end the turn
//!     run the server tools (concurrently), input += their outputs
//! ```

use futures_util::StreamExt;
use futures_util::future::join_all;
use serde_json::{Value, json};
use tracing::{debug, warn};

use super::{AgentParams, Emitter, Halt};
use crate::attachments::ImageInput;
use crate::model::convert::{
    CallOutcome, FunctionCall, RunConverter, Terminal, client_tool_call_item,
};
use crate::model::{Api, ModelError, ProviderSettings, ResponsesEvent, input};
use crate::protocol::{AttachmentKind, ThreadStreamEvent};
use crate::telemetry;
use crate::tools::{ToolContext, ToolKind};

/// Times one model call for the metrics: time to its first ChatKit event
/// and to the end of its stream.
struct CallTimer {
    started: std::time::Instant,
    provider: telemetry::Provider,
    first_seen: bool,
}

impl CallTimer {
    fn start(api: Api) -> Self {
        Self {
            started: std::time::Instant::now(),
            provider: match api {
                Api::Responses => telemetry::Provider::Responses,
                Api::Chat => telemetry::Provider::Chat,
            },
            first_seen: false,
        }
    }

    /// Called after each forward; records the first one that emitted.
    fn emitted(&mut self, any: bool) {
        if any && !self.first_seen {
            self.first_seen = true;
            telemetry::model_first_event(self.provider, self.started.elapsed());
        }
    }

    fn stream_ended(&self) {
        telemetry::model_stream_ended(self.provider, self.started.elapsed());
    }
}

/// How one model call ended.
enum CallEnd {
    /// The call completed; here is what it produced.
    Done(Box<CallOutcome>),
    /// The call failed. It may be retried only if no ChatKit event of it
    /// reached the client and the transport has not already retried it
    /// (a failed request: the transport's retries are spent).
    Failed { error: ModelError, retryable: bool },
}

/// Runs one turn against the provider.
pub(super) async fn run(
    emitter: &Emitter,
    params: &AgentParams,
    settings: &ProviderSettings,
    api: Api,
) -> Result<Result<(), ModelError>, Halt> {
    let Some(http) = &params.http else {
        return Ok(Err(ModelError::Config(
            "no HTTP client for the model provider".into(),
        )));
    };
    let attachments = attachment_contents(params).await;
    let mut input = input::history_to_input_with(
        &params.history,
        settings.history_budget_tokens,
        &attachments,
    );
    let tools = params.tools.specs();
    let mut converter = RunConverter::new(params.thread.id.clone());
    let tool_ctx = ToolContext {
        thread_id: params.thread.id.clone(),
        user_id: params.user.clone(),
    };

    for call_number in 0..settings.max_model_calls {
        let (url, body) = api.request(settings, &input, &tools);
        let mut attempt = 0;
        let outcome = loop {
            match call(emitter, http, &url, &body, api, &mut converter).await? {
                CallEnd::Done(outcome) => break outcome,
                CallEnd::Failed { error, retryable } => {
                    // Nothing of this call reached the client: a retry
                    // cannot duplicate items (§7.3).
                    if retryable && error.allow_retry() && attempt < settings.max_retries {
                        attempt += 1;
                        let pause = std::time::Duration::from_millis(250 << attempt.min(5));
                        warn!(error = %error, attempt, "model call failed before any output; retrying");
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                    return finish(emitter, &mut converter, Err(error)).await;
                }
            }
        };
        debug!(
            call_number,
            calls = outcome.function_calls.len(),
            "model call finished"
        );
        input.extend(outcome.output_items.iter().cloned());
        if outcome.function_calls.is_empty() {
            return finish(emitter, &mut converter, Ok(())).await;
        }

        // A client tool ends the turn with a pending call for the browser.
        if let Some(client_call) = outcome.function_calls.iter().find(|c| {
            matches!(
                params.tools.get(&c.name).map(|t| &t.kind),
                Some(ToolKind::Client)
            )
        }) {
            for event in converter.finish_run() {
                emitter.event(event).await?;
            }
            let item = client_tool_call_item(&params.thread.id, client_call);
            emitter
                .event(ThreadStreamEvent::ThreadItemDone { item })
                .await?;
            return Ok(Ok(()));
        }
        if let Some(unknown) = outcome
            .function_calls
            .iter()
            .find(|c| params.tools.get(&c.name).is_none())
        {
            let error = ModelError::UnknownTool(unknown.name.clone());
            return finish(emitter, &mut converter, Err(error)).await;
        }
        let outputs = join_all(
            outcome
                .function_calls
                .iter()
                .map(|c| run_server_tool(params, c, &tool_ctx)),
        )
        .await;
        for (c, output) in outcome.function_calls.iter().zip(outputs) {
            input.push(
                json!({"type": "function_call_output", "call_id": c.call_id, "output": output}),
            );
        }
    }
    let error = ModelError::TooManyModelCalls(settings.max_model_calls);
    finish(emitter, &mut converter, Err(error)).await
}

/// The most attachments read for one model input (newest first); older
/// ones are named in text, which keeps a long thread's input bounded.
const MAX_ATTACHMENTS_READ: usize = 16;

/// The contents of the newest attachments of the history's user
/// messages: their bytes, or for images with [`ImageInput::Url`] their
/// preview URL (when their bytes exist, so the provider finds them).
async fn attachment_contents(params: &AgentParams) -> input::AttachmentContents {
    let mut out = input::AttachmentContents::new();
    let Some(store) = &params.attachments else {
        return out;
    };
    let by_url = store.config().image_input == ImageInput::Url;
    let newest = params
        .history
        .iter()
        .rev()
        .filter_map(|item| match &item.kind {
            crate::protocol::ItemKind::UserMessage(m) => Some(m.attachments.iter()),
            _ => None,
        })
        .flatten()
        .take(MAX_ATTACHMENTS_READ)
        .map(|a| (a.id.clone(), matches!(a.kind, AttachmentKind::Image { .. })))
        .collect::<Vec<(String, bool)>>();
    for (id, image) in newest {
        if by_url && image {
            if store.exists(&id).await {
                let url = store.preview_url(&id);
                out.insert(id, input::AttachmentContent::Url(url));
            } else {
                debug!(attachment = %id, "attachment has no bytes (never uploaded or deleted)");
            }
            continue;
        }
        match store.read(&id).await {
            Ok(Some(bytes)) => {
                out.insert(id, input::AttachmentContent::Bytes(bytes));
            }
            Ok(None) => {
                debug!(attachment = %id, "attachment has no bytes (never uploaded or deleted)")
            }
            Err(e) => warn!(attachment = %id, error = %e, "reading an attachment failed"),
        }
    }
    out
}

/// Runs one server tool; a failure becomes text the model reads.
async fn run_server_tool(params: &AgentParams, call: &FunctionCall, ctx: &ToolContext) -> String {
    let Some(ToolKind::Server(handler)) = params.tools.get(&call.name).map(|t| &t.kind) else {
        return format!("Error: no server tool named {}", call.name);
    };
    let args: Value = if call.arguments.trim().is_empty() {
        json!({})
    } else {
        match serde_json::from_str(&call.arguments) {
            Ok(v) => v,
            Err(e) => return format!("Error: the arguments are not valid JSON: {e}"),
        }
    };
    match handler(args, ctx.clone()).await {
        Ok(output) => output,
        Err(message) => format!("Error: {message}"),
    }
}

/// Streams one model call through the converter.
async fn call(
    emitter: &Emitter,
    http: &crate::model::http::ModelHttp,
    url: &str,
    body: &Value,
    api: Api,
    converter: &mut RunConverter,
) -> Result<CallEnd, Halt> {
    converter.start_call();
    let mut timer = CallTimer::start(api);
    let mut emitted = false;
    let mut stream = match http.stream(url, body).await {
        Ok(s) => s,
        Err(error) => {
            return Ok(CallEnd::Failed {
                error,
                retryable: false,
            });
        }
    };
    let mut decoder = api.decoder();
    let mut failure = None;
    'read: while let Some(data) = stream.next().await {
        let events = match data.and_then(|d| decoder.push(&d)) {
            Ok(events) => events,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        for event in events {
            let terminal = event.is_terminal();
            let any = forward(emitter, converter, event).await?;
            timer.emitted(any);
            emitted |= any;
            if terminal {
                break 'read;
            }
        }
    }
    let saw_done = stream.saw_done();
    drop(stream);
    timer.stream_ended();
    if failure.is_none() {
        for event in decoder.finish(saw_done) {
            emitted |= forward(emitter, converter, event).await?;
        }
    }
    let mut outcome = converter.finish_call();
    // Messages left open are finished with their text (or removed when
    // empty) before anything else is said.
    for event in std::mem::take(&mut outcome.events) {
        emitted = true;
        emitter.event(event).await?;
    }
    if let Some(error) = failure {
        return Ok(CallEnd::Failed {
            error,
            retryable: !emitted,
        });
    }
    match terminal_error(&outcome.terminal) {
        Some(error) => Ok(CallEnd::Failed {
            error,
            retryable: !emitted,
        }),
        None => Ok(CallEnd::Done(Box::new(outcome))),
    }
}

/// Converts one event and sends what it produced; true if anything was sent.
async fn forward(
    emitter: &Emitter,
    converter: &mut RunConverter,
    event: ResponsesEvent,
) -> Result<bool, Halt> {
    let out = converter.push(event);
    let any = !out.is_empty();
    for e in out {
        emitter.event(e).await?;
    }
    Ok(any)
}

/// The failure a terminal state stands for, if any (§7.3).
fn terminal_error(terminal: &Terminal) -> Option<ModelError> {
    match terminal {
        Terminal::Completed => None,
        Terminal::Incomplete { reason } => Some(ModelError::Incomplete {
            reason: reason.clone(),
        }),
        Terminal::Failed { code, message } | Terminal::Error { code, message } => {
            Some(ModelError::provider(code.clone(), message.clone()))
        }
        Terminal::Eof => Some(ModelError::Truncated(
            "the stream ended without a terminal event".to_owned(),
        )),
    }
}

/// Ends the run: close what the converter still has open, then report.
async fn finish(
    emitter: &Emitter,
    converter: &mut RunConverter,
    result: Result<(), ModelError>,
) -> Result<Result<(), ModelError>, Halt> {
    for event in converter.finish_run() {
        emitter.event(event).await?;
    }
    Ok(result)
}
