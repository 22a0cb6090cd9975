//! Model providers: what writes the assistant's answer.
//!
//! - `echo`: the built-in offline model (no key, no network).
//! - `responses`: the OpenAI Responses API (`POST {base}/responses`).
//! - `chat`: Chat Completions (`POST {base}/chat/completions`), which
//!   LiteLLM, Gemini's compatible endpoint, Ollama and vLLM speak.
//!
//! Both real providers stream; their events are normalised to
//! [`ResponsesEvent`] and turned into ChatKit events by one converter.
//! MODEL_STREAMING.md is the specification.

mod body;
pub mod chat;
pub mod convert;
pub mod echo;
pub mod error;
pub mod events;
pub mod http;
pub mod input;
pub mod responses;
pub mod title;
pub mod transcribe;

use std::time::Duration;

pub use echo::EchoConfig;
pub use error::ModelError;
pub use events::ResponsesEvent;
use serde_json::Value;

/// The OpenAI API root, used when no base URL is configured.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Which model answers, and how to reach it; goes in
/// [`EngineConfig::model`](crate::EngineConfig::model).
///
/// ```
/// use std::time::Duration;
/// use chatkit_actors::model::{ModelConfig, ProviderSettings};
///
/// // What the server does: the Responses API when a key is set, else echo.
/// fn pick(api_key: Option<String>) -> ModelConfig {
///     match api_key {
///         Some(key) => ModelConfig::Responses(ProviderSettings {
///             api_key: Some(key),
///             instructions: Some("You are a helpful assistant.".into()),
///             ..ProviderSettings::new("gpt-4.1-mini")
///         }),
///         None => ModelConfig::echo(Duration::from_millis(30)),
///     }
/// }
///
/// let offline = pick(None);
/// assert!(offline.is_offline());
/// assert_eq!(offline.describe(), "echo (offline, 30 ms between deltas)");
/// let openai = pick(Some("sk-test".into()));
/// assert_eq!(openai.describe(), "responses: gpt-4.1-mini at https://api.openai.com/v1");
/// ```
#[derive(Clone, Debug)]
pub enum ModelConfig {
    /// The built-in offline model: quotes the user's last message back.
    Echo(EchoConfig),
    /// The Responses API.
    Responses(ProviderSettings),
    /// Chat Completions.
    Chat(ProviderSettings),
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::Echo(EchoConfig::default())
    }
}

impl ModelConfig {
    /// The offline echo model with the given pause between deltas.
    pub fn echo(delay: Duration) -> Self {
        ModelConfig::Echo(EchoConfig { delay })
    }

    /// A short human description for logs and the start-up banner. Never
    /// contains the API key.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::Echo(c) => {
                format!("echo (offline, {} ms between deltas)", c.delay.as_millis())
            }
            ModelConfig::Responses(s) => format!("responses: {} at {}", s.model, s.base_url),
            ModelConfig::Chat(s) => format!("chat completions: {} at {}", s.model, s.base_url),
        }
    }

    /// Whether this is the offline model.
    pub fn is_offline(&self) -> bool {
        matches!(self, ModelConfig::Echo(_))
    }

    /// A real provider's wire format and settings; `None` for echo.
    pub(crate) fn provider(&self) -> Option<(Api, &ProviderSettings)> {
        match self {
            ModelConfig::Echo(_) => None,
            ModelConfig::Responses(s) => Some((Api::Responses, s)),
            ModelConfig::Chat(s) => Some((Api::Chat, s)),
        }
    }
}

/// Which wire format a real provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    /// `POST {base}/responses`.
    Responses,
    /// `POST {base}/chat/completions`.
    Chat,
}

impl Api {
    /// The URL and body of one streamed call: [`responses::request_body`]
    /// or [`chat::request_body`] at that endpoint.
    pub(crate) fn request(
        self,
        settings: &ProviderSettings,
        input: &[Value],
        tools: &[FunctionTool],
    ) -> (String, Value) {
        match self {
            Api::Responses => (
                settings.url("responses"),
                responses::request_body(settings, input, tools, None),
            ),
            Api::Chat => (
                settings.url("chat/completions"),
                chat::request_body(settings, input, tools, None),
            ),
        }
    }

    /// A decoder of this format's SSE payloads.
    pub(crate) fn decoder(self) -> StreamDecoder {
        match self {
            Api::Responses => StreamDecoder::Responses,
            Api::Chat => StreamDecoder::Chat(Box::default()),
        }
    }
}

/// Turns one call's SSE payloads into [`ResponsesEvent`]s, whichever the
/// wire format.
pub(crate) enum StreamDecoder {
    /// [`responses::parse_event`], one event per payload.
    Responses,
    /// A [`chat::ChunkAccumulator`].
    Chat(Box<chat::ChunkAccumulator>),
}

impl StreamDecoder {
    /// The events of one SSE data payload.
    pub(crate) fn push(&mut self, data: &str) -> Result<Vec<ResponsesEvent>, ModelError> {
        match self {
            StreamDecoder::Responses => responses::parse_event(data).map(|e| vec![e]),
            StreamDecoder::Chat(acc) => acc.push(data),
        }
    }

    /// The events due when the stream has ended (see
    /// [`chat::ChunkAccumulator::finish`]); none for the Responses API.
    pub(crate) fn finish(self, saw_done: bool) -> Vec<ResponsesEvent> {
        match self {
            StreamDecoder::Responses => Vec::new(),
            StreamDecoder::Chat(acc) => acc.finish(saw_done),
        }
    }
}

/// How to call a real provider. [`ProviderSettings::new`] gives the
/// defaults for a model at the OpenAI API; change the public fields for
/// another service, then wrap them in [`ModelConfig::Responses`] or
/// [`ModelConfig::Chat`].
///
/// ```
/// use std::time::Duration;
/// use chatkit_actors::model::{ModelConfig, ProviderSettings};
/// use serde_json::json;
///
/// // Chat Completions through a LiteLLM proxy.
/// let mut settings = ProviderSettings::new("your-model-alias");
/// settings.base_url = "http://127.0.0.1:4000/v1/".into();
/// settings.api_key = Some("sk-your-litellm-key".into());
/// settings.temperature = Some(0.2);
/// settings.extra_body.insert("user".into(), json!("support-bot")); // merged into each request
/// settings.extra_headers.push(("X-Team".into(), "support".into()));
/// settings.read_timeout = Duration::from_secs(300); // longest silence, not total time
///
/// assert_eq!(settings.url("chat/completions"), "http://127.0.0.1:4000/v1/chat/completions");
/// assert!(!format!("{settings:?}").contains("sk-your-litellm-key")); // Debug redacts the key
/// let model = ModelConfig::Chat(settings);
/// assert_eq!(model.describe(), "chat completions: your-model-alias at http://127.0.0.1:4000/v1/");
/// ```
#[derive(Clone)]
pub struct ProviderSettings {
    /// API root including the version path (`https://api.openai.com/v1`);
    /// requests go to `{base_url}/responses` or `{base_url}/chat/completions`.
    pub base_url: String,
    /// Sent as `Authorization: Bearer …`; never logged.
    pub api_key: Option<String>,
    /// The model name (`gpt-4.1-mini`, `gemini-2.5-flash`, `llama3.2`, …).
    pub model: String,
    /// The system prompt.
    pub instructions: Option<String>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Cap on output tokens per model call.
    pub max_output_tokens: Option<u32>,
    /// Extra request body fields merged into every request (e.g.
    /// `{"reasoning":{"effort":"low","summary":"auto"}}`, `{"store":false}`).
    pub extra_body: serde_json::Map<String, Value>,
    /// Extra HTTP headers for gateways (name, value).
    pub extra_headers: Vec<(String, String)>,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Longest silence allowed while reading a response (reset by every
    /// read); there is no total timeout, so long answers are not cut.
    pub read_timeout: Duration,
    /// Retries before the first event reached the client (§7).
    pub max_retries: u32,
    /// Largest single SSE event accepted, in bytes.
    pub max_event_bytes: usize,
    /// Budget of the history sent to the model, in estimated tokens.
    pub history_budget_tokens: usize,
    /// Most model calls in one turn (the agent loop's limit).
    pub max_model_calls: usize,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("temperature", &self.temperature)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl ProviderSettings {
    /// Defaults for `model` at the OpenAI API.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            model: model.into(),
            instructions: None,
            temperature: None,
            top_p: None,
            max_output_tokens: None,
            extra_body: serde_json::Map::new(),
            extra_headers: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            max_retries: 2,
            max_event_bytes: 4 * 1024 * 1024,
            history_budget_tokens: 100_000,
            max_model_calls: 10,
        }
    }

    /// `{base_url}/{path}`, with one trailing `/` of the base trimmed.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.strip_suffix('/').unwrap_or(&self.base_url),
            path
        )
    }
}

/// A function tool offered to the model.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionTool {
    /// The function name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
    /// Strict schema adherence (`"strict": true`).
    pub strict: bool,
}
