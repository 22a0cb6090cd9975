//! `ModelHttp`: the HTTP transport to a model provider, and `SseStream`,
//! the `data` payloads of its streamed answer (MODEL_STREAMING.md §1.3,
//! §2.2, §7.2, §7.3).
//!
//! One `reqwest::Client` per provider, built once from
//! [`ProviderSettings`]: a connect timeout and a *read* timeout (reset by
//! every read, so a long answer is never cut while bytes flow; it also
//! bounds the wait for the response headers), no total timeout.
//!
//! [`ModelHttp::stream`] POSTs one request and retries, like the Python
//! client (§7.2), connection failures and 408, 409, 429 and 5xx answers
//! (or whatever `x-should-retry` says) with capped exponential backoff and
//! jitter, honouring `retry-after-ms` / `retry-after`. Retries happen only
//! while waiting for the response headers: once an [`SseStream`] is handed
//! out nothing is retried here, so nothing can reach the client twice.
//!
//! [`SseStream`] decodes the body with eventsource-stream: complete lines
//! only (CR, LF or CRLF), UTF-8 decoded across network chunks, `data:`
//! lines of one event joined with `\n`, comments ignored, an event left
//! open at the end of the body discarded. It ends at a `[DONE]` payload or
//! at the end of the body, and fails on an oversized event, an idle read
//! timeout or a broken connection. Dropping it drops the response, which
//! closes the connection (HTTP/1.1) or resets the stream (HTTP/2): the
//! provider sees the request cancelled and stops generating.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::stream::FusedStream;
use futures_util::{Stream, StreamExt};
use reqwest::Response;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tracing::warn;

use super::ProviderSettings;
use super::error::{ModelError, truncate_message};

/// The first retry's pause before jitter; it doubles per retry. The
/// Python client's value (§7.2).
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// The longest backoff pause before jitter (the Python client's cap).
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// The longest `retry-after` we wait for. A provider asking for more is
/// not retried at all: a chat user should hear "try later" now rather than
/// stare at a spinner (openai-python 2.x honours up to 60 s; 3.x refuses
/// to retry past 120 s).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How much of an error response's body is read for its message.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Room for field names, `data:` prefixes and `event:`/`id:` lines when
/// guarding the raw bytes of one event (see [`Utf8Framing`]).
const FRAMING_SLACK_BYTES: usize = 64 * 1024;

/// Sent as `User-Agent`.
const USER_AGENT: &str = concat!("chatkit-actix/", env!("CARGO_PKG_VERSION"));

/// The HTTP client of one model provider. Cheap to clone (the connection
/// pool is shared).
#[derive(Clone)]
pub struct ModelHttp {
    client: reqwest::Client,
    max_retries: u32,
    max_event_bytes: usize,
    read_timeout: Duration,
    backoff: Backoff,
    /// The API key and secret-looking extra header values, cut out of any
    /// provider message we keep.
    secrets: Arc<[String]>,
}

impl fmt::Debug for ModelHttp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelHttp")
            .field("max_retries", &self.max_retries)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("read_timeout", &self.read_timeout)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl ModelHttp {
    /// Builds the client from the provider settings. Default headers:
    /// `Authorization: Bearer <key>` when a non-blank key is set,
    /// `Accept: text/event-stream`, `Content-Type: application/json`, then
    /// the `extra_headers` (which replace a default of the same name). A
    /// zero `connect_timeout` or `read_timeout` means none.
    ///
    /// Fails with [`ModelError::Config`] when the key or an extra header
    /// is not a valid header (the error names the header, never the value).
    pub fn new(settings: &ProviderSettings) -> Result<Self, ModelError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let mut secrets = Vec::new();
        let key = settings
            .api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty());
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                ModelError::Config("the API key is not a valid HTTP header value".to_owned())
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
            secrets.push(key.to_owned());
        }
        let mut extra = HeaderMap::new();
        for (name, value) in &settings.extra_headers {
            let header_name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                ModelError::Config(format!("`{name}` is not a valid HTTP header name"))
            })?;
            let mut header_value = HeaderValue::from_str(value.trim()).map_err(|_| {
                ModelError::Config(format!(
                    "the value of header `{name}` is not a valid HTTP header value"
                ))
            })?;
            if looks_secret(header_name.as_str()) {
                header_value.set_sensitive(true);
                secrets.push(value.trim().to_owned());
            }
            extra.append(header_name, header_value);
        }
        // Replaces the defaults an extra header names, keeps repeated extras.
        headers.extend(extra);
        secrets.retain(|s| s.len() >= 4);

        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(USER_AGENT);
        if !settings.connect_timeout.is_zero() {
            builder = builder.connect_timeout(settings.connect_timeout);
        }
        if !settings.read_timeout.is_zero() {
            builder = builder.read_timeout(settings.read_timeout);
        }
        let client = builder.build().map_err(|e| {
            ModelError::Config(format!("building the HTTP client: {}", describe(e)))
        })?;
        Ok(Self {
            client,
            max_retries: settings.max_retries,
            max_event_bytes: settings.max_event_bytes,
            read_timeout: settings.read_timeout,
            backoff: Backoff {
                initial: INITIAL_BACKOFF,
                max: MAX_BACKOFF,
            },
            secrets: secrets.into(),
        })
    }

    /// The same client with another backoff: the first pause and the cap
    /// (before jitter). For tests and impatient deployments;
    /// `retry-after` headers still win.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff { initial, max };
        self
    }

    /// POSTs `body` (as JSON) to `url` and returns the event stream once a
    /// 2xx response's headers arrived.
    ///
    /// Retries, up to `max_retries` times: connection failures and
    /// timeouts before the headers, and statuses 408, 409, 429 and 5xx,
    /// unless the response says `x-should-retry: false` (`true` retries
    /// any status). The pause is `retry-after-ms`, else `retry-after`
    /// (seconds or an HTTP date), else `min(initial · 2ⁿ, max)` less up to
    /// 25 % jitter; a `retry-after` over [`MAX_RETRY_AFTER`] is not waited
    /// for (the error is returned at once).
    ///
    /// Errors: [`ModelError::Connection`] (unreachable, after retries),
    /// [`ModelError::Http`] (status and the provider's message),
    /// [`ModelError::Config`] (a malformed URL), and for a 2xx answer in
    /// JSON instead of SSE, [`ModelError::Provider`] (it held an `error`)
    /// or [`ModelError::Malformed`].
    pub async fn stream(&self, url: &str, body: &Value) -> Result<SseStream, ModelError> {
        let payload = serde_json::to_vec(body)
            .map_err(|e| ModelError::Failed(format!("serializing the request body: {e}")))?;
        let response = self
            .send_with_retries(|| self.client.post(url).body(payload.clone()))
            .await?;
        self.open(response).await
    }

    /// Sends the request `build` makes (once per attempt) until it gets a
    /// 2xx answer, retrying what the policy allows (see [`stream`](Self::stream)).
    async fn send_with_retries<F>(&self, build: F) -> Result<Response, ModelError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let mut retries = 0;
        loop {
            let (failure, delay) = match build().send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status().as_u16();
                    match self.retry_delay(status, response.headers(), retries) {
                        // Dropping the response closes its connection; the
                        // error body is not worth a stalled read.
                        Some(delay) => (format!("HTTP {status}"), delay),
                        None => return Err(self.http_error(response).await),
                    }
                }
                Err(error) => {
                    let retryable = !(error.is_builder() || error.is_redirect());
                    let error = self.send_error(error);
                    if !retryable || retries >= self.max_retries {
                        return Err(error);
                    }
                    (error.to_string(), self.backoff.delay(retries))
                }
            };
            retries += 1;
            warn!(
                error = %failure,
                retry = retries,
                max_retries = self.max_retries,
                delay_ms = delay.as_millis() as u64,
                "model request failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// POSTs a `multipart/form-data` request to `url` and returns its JSON
    /// answer (a non-streaming call, e.g. an audio transcription).
    ///
    /// A multipart form cannot be cloned, so `form` builds it afresh for
    /// every attempt. Same headers and retry policy as
    /// [`stream`](Self::stream) (the `Content-Type` is the form's, and
    /// `Accept` is `application/json`). Errors: as `stream`, and for a 2xx
    /// answer, [`ModelError::Provider`] when it holds an `error` and
    /// [`ModelError::Malformed`] when it is not JSON.
    pub async fn post_multipart<F>(&self, url: &str, form: F) -> Result<Value, ModelError>
    where
        F: Fn() -> reqwest::multipart::Form,
    {
        let response = self
            .send_with_retries(|| {
                self.client
                    .post(url)
                    .header(header::ACCEPT, "application/json")
                    .multipart(form())
            })
            .await?;
        self.read_json(response).await
    }

    /// The JSON body of a 2xx answer (at most `max_event_bytes`), unless it
    /// reports an error.
    async fn read_json(&self, response: Response) -> Result<Value, ModelError> {
        let body = read_limited(response, self.max_event_bytes).await;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| ModelError::Malformed("the provider's answer is not JSON".to_owned()))?;
        match self.answer_error(&value) {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    /// The error a 2xx JSON answer reports, if any (its message redacted).
    fn answer_error(&self, value: &Value) -> Option<ModelError> {
        let error = error_object(value)?;
        Some(ModelError::provider(
            error.code,
            error.message.map(|m| self.redact(&m)),
        ))
    }

    /// The pause before retrying a non-2xx answer, or `None` to give up.
    fn retry_delay(&self, status: u16, headers: &HeaderMap, retries: u32) -> Option<Duration> {
        if retries >= self.max_retries {
            return None;
        }
        let should_retry = match header_text(headers, "x-should-retry") {
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            _ => matches!(status, 408 | 409 | 429) || status >= 500,
        };
        if !should_retry {
            return None;
        }
        match retry_after(headers) {
            Some(asked) if asked > MAX_RETRY_AFTER => None,
            Some(asked) if !asked.is_zero() => Some(asked),
            _ => Some(self.backoff.delay(retries)),
        }
    }

    /// The stream of a 2xx response, unless the provider answered JSON.
    async fn open(&self, response: Response) -> Result<SseStream, ModelError> {
        let is_json = header_text(response.headers(), header::CONTENT_TYPE.as_str())
            .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
        if !is_json {
            return Ok(SseStream::from_response(
                response,
                self.max_event_bytes,
                self.read_timeout,
            ));
        }
        let body = read_limited(response, self.max_event_bytes).await;
        let error = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|value| self.answer_error(&value));
        Err(error.unwrap_or_else(|| {
            ModelError::Malformed(
                "the provider answered with JSON instead of an event stream".to_owned(),
            )
        }))
    }

    /// A non-2xx answer as an error, with the provider's message.
    async fn http_error(&self, response: Response) -> ModelError {
        let status = response.status();
        let body = read_limited(response, MAX_ERROR_BODY_BYTES).await;
        let (code, message) = parse_error_body(&body);
        let message = match message {
            Some(m) => self.redact(&m),
            None => format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("(no message)")
            ),
        };
        ModelError::http(status.as_u16(), code, truncate_message(&message))
    }

    /// A failed `send` as an error.
    fn send_error(&self, error: reqwest::Error) -> ModelError {
        if error.is_builder() {
            return ModelError::Config(format!("the request cannot be built: {}", describe(error)));
        }
        let timed_out = error.is_timeout();
        ModelError::Connection {
            message: self.redact(&describe(error)),
            timed_out,
        }
    }

    /// `text` with every secret replaced.
    fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "<redacted>")
        })
    }
}

/// Exponential backoff with jitter.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    initial: Duration,
    max: Duration,
}

impl Backoff {
    /// The pause after `retries` retries: `min(initial · 2ⁿ, max)` less a
    /// random 0–25 %.
    fn delay(&self, retries: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(2u32.saturating_pow(retries))
            .min(self.max);
        base.mul_f64(1.0 - 0.25 * random_fraction())
    }
}

/// A random number in `[0, 1)`, from std's randomly keyed hasher (jitter
/// needs no better randomness, and no extra dependency).
fn random_fraction() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// What the server asked us to wait: `retry-after-ms`, else `retry-after`
/// as seconds (fractions allowed) or an HTTP date. `None` when absent,
/// unparsable or in the past.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = header_text(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    let value = header_text(headers, "retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    Duration::try_from(at.duration_since(jiff::Timestamp::now())).ok()
}

/// A header's value as trimmed text.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// Whether a header probably carries a credential.
fn looks_secret(name: &str) -> bool {
    ["key", "token", "auth", "secret", "password", "cookie"]
        .iter()
        .any(|word| name.contains(word))
}

/// Reads at most `limit` bytes of a body; a failed read ends it.
async fn read_limited(mut response: Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// The code and message of a provider error object.
#[derive(Debug, PartialEq)]
struct ErrorObject {
    code: Option<String>,
    message: Option<String>,
}

/// The error in a JSON body: `{"error":{"message","type","code"}}`,
/// `{"error":"text"}`, or Gemini's `[{"error":{…}}]`. `None` if there is
/// no `error`.
fn error_object(body: &Value) -> Option<ErrorObject> {
    let body = match body {
        Value::Array(items) => items.first()?,
        other => other,
    };
    match body.get("error")? {
        Value::String(message) => Some(ErrorObject {
            code: None,
            message: Some(message.clone()),
        }),
        error @ Value::Object(_) => {
            let text = |key: &str| match error.get(key) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            Some(ErrorObject {
                code: text("code").or_else(|| text("type")),
                message: text("message"),
            })
        }
        _ => None,
    }
}

/// The code and message of an error body: the JSON error object (or a
/// FastAPI-style `{"detail": "…"}`), else the body's text.
fn parse_error_body(body: &[u8]) -> (Option<String>, Option<String>) {
    let text = || String::from_utf8_lossy(body).trim().to_owned();
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        let error = error_object(&json);
        if let Some(Value::String(detail)) = json.get("detail")
            && error.as_ref().is_none_or(|e| e.message.is_none())
        {
            return (None, Some(detail.clone()));
        }
        if let Some(ErrorObject { code, message }) = error {
            return (code, Some(message.unwrap_or_else(text)));
        }
    }
    let text = text();
    (None, (!text.is_empty()).then_some(text))
}

/// A reqwest error's message with its causes, without the URL (which may
/// carry a key in its query).
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The parsed events, boxed so [`SseStream`] is one concrete type.
type Events = Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<ModelError>>> + Send>>;

/// The `data` payloads of a streamed answer, one per SSE event.
///
/// Yields `Ok(data)` per event with non-empty data; ends (`None`) at a
/// payload starting with `[DONE]` (nothing after it is read) or at the end
/// of the body (an unterminated last event is discarded). An oversized
/// event ([`ModelError::EventTooLarge`]), an idle read timeout
/// ([`ModelError::IdleTimeout`]), a broken connection
/// ([`ModelError::Truncated`]) or bytes that are not UTF-8
/// ([`ModelError::Malformed`]) yield one error, then the end. Whether the
/// stream ended with its terminal event is for the caller to judge.
///
/// Dropping it (or reaching its end) drops the HTTP response, closing the
/// connection.
pub struct SseStream {
    /// `None` once ended: the response is gone.
    events: Option<Events>,
    max_event_bytes: usize,
    request_id: Option<String>,
    /// A `[DONE]` payload ended the stream (rather than the body ending).
    saw_done: bool,
}

impl fmt::Debug for SseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStream")
            .field("ended", &self.events.is_none())
            .field("max_event_bytes", &self.max_event_bytes)
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl SseStream {
    /// Decodes any byte stream (a test's chunks, another transport) the
    /// way a provider's response is decoded; `max_event_bytes` bounds one
    /// event's data.
    pub fn from_byte_stream<S, B>(bytes: S, max_event_bytes: usize) -> Self
    where
        S: Stream<Item = Result<B, ModelError>> + Send + 'static,
        B: AsRef<[u8]> + Send + 'static,
    {
        let framing = Utf8Framing::new(Box::pin(bytes), max_event_bytes);
        Self {
            events: Some(Box::pin(framing.eventsource())),
            max_event_bytes,
            request_id: None,
            saw_done: false,
        }
    }

    /// The stream of a 2xx response.
    fn from_response(response: Response, max_event_bytes: usize, read_timeout: Duration) -> Self {
        let request_id = header_text(response.headers(), "x-request-id").map(str::to_owned);
        let bytes = response.bytes_stream().map(move |chunk| {
            chunk.map_err(|error| {
                if error.is_timeout() {
                    ModelError::IdleTimeout(read_timeout)
                } else {
                    ModelError::Truncated(format!("the connection broke: {}", describe(error)))
                }
            })
        });
        Self {
            request_id,
            ..Self::from_byte_stream(bytes, max_event_bytes)
        }
    }

    /// Whether a `[DONE]` payload ended the stream. Chat Completions ends
    /// with it; a body that stops without it (and without a
    /// `finish_reason`) was cut (MODEL_STREAMING.md §7.3).
    pub fn saw_done(&self) -> bool {
        self.saw_done
    }

    /// The provider's `x-request-id`, for logs and support tickets.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl Stream for SseStream {
    type Item = Result<String, ModelError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(events) = this.events.as_mut() else {
                return Poll::Ready(None);
            };
            let last = match ready!(events.as_mut().poll_next(cx)) {
                Some(Ok(event)) if event.data.is_empty() => continue,
                Some(Ok(event)) if event.data.starts_with("[DONE]") => {
                    this.saw_done = true;
                    None
                }
                Some(Ok(event)) if event.data.len() > this.max_event_bytes => {
                    Some(Err(ModelError::EventTooLarge {
                        limit: this.max_event_bytes,
                    }))
                }
                Some(Ok(event)) => return Poll::Ready(Some(Ok(event.data))),
                Some(Err(error)) => Some(Err(stream_error(error))),
                None => None,
            };
            // The end: drop the response now, which closes the connection.
            this.events = None;
            return Poll::Ready(last);
        }
    }
}

impl FusedStream for SseStream {
    fn is_terminated(&self) -> bool {
        self.events.is_none()
    }
}

/// A parser error as a model error.
fn stream_error(error: EventStreamError<ModelError>) -> ModelError {
    match error {
        EventStreamError::Transport(error) => error,
        EventStreamError::Utf8(error) => {
            ModelError::Malformed(format!("the stream is not UTF-8: {error}"))
        }
        EventStreamError::Parser(error) => ModelError::Malformed(format!("bad SSE line: {error}")),
    }
}

/// The body's bytes as UTF-8 text for the SSE parser, with three guards
/// eventsource-stream lacks:
///
/// - Size: it counts the bytes of the current event's non-comment lines
///   and fails once they pass twice `max_event_bytes` plus
///   [`FRAMING_SLACK_BYTES`], so an endless line cannot grow the parser's
///   buffers without bound. (The exact limit is checked on the parsed
///   data; a `data:` line is never shorter than its data, so the slack
///   only matters for absurdly many tiny `data:` lines.)
/// - UTF-8: invalid bytes fail at once (the parser would wait for the end
///   of the body); a character split across chunks waits for its end, and
///   an incomplete one at the end of the body is dropped with its
///   unterminated line.
/// - A body ending in a lone CR gets an LF, so that CR still ends its line
///   (the parser waits to see whether an LF follows).
struct Utf8Framing<S> {
    /// `None` after the end or an error.
    inner: Option<S>,
    /// The start of a character split across chunks (at most 3 bytes).
    carry: Vec<u8>,
    max_event_bytes: usize,
    limit: usize,
    /// Bytes of the current event's non-comment lines so far.
    event_bytes: usize,
    line_start: bool,
    in_comment: bool,
    after_cr: bool,
}

impl<S> Utf8Framing<S> {
    fn new(inner: S, max_event_bytes: usize) -> Self {
        Self {
            inner: Some(inner),
            carry: Vec::new(),
            max_event_bytes,
            limit: max_event_bytes
                .saturating_mul(2)
                .saturating_add(FRAMING_SLACK_BYTES),
            event_bytes: 0,
            line_start: true,
            in_comment: false,
            after_cr: false,
        }
    }

    /// One chunk as text (without a trailing partial character).
    fn push(&mut self, chunk: &[u8]) -> Result<String, ModelError> {
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let utf8 = error.utf8_error();
                if utf8.error_len().is_some() {
                    return Err(ModelError::Malformed(format!(
                        "the stream is not UTF-8: {utf8}"
                    )));
                }
                let mut bytes = error.into_bytes();
                self.carry = bytes.split_off(utf8.valid_up_to());
                String::from_utf8(bytes)
                    .map_err(|e| ModelError::Malformed(format!("the stream is not UTF-8: {e}")))?
            }
        };
        self.track_lines(text.as_bytes())?;
        Ok(text)
    }

    /// Follows lines and events to count the current event's bytes.
    fn track_lines(&mut self, bytes: &[u8]) -> Result<(), ModelError> {
        for &byte in bytes {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    if self.line_start {
                        // A blank line: the event is dispatched.
                        self.event_bytes = 0;
                    }
                    self.line_start = true;
                    self.in_comment = false;
                    self.after_cr = byte == b'\r';
                }
                _ => {
                    self.after_cr = false;
                    if self.line_start {
                        self.line_start = false;
                        self.in_comment = byte == b':';
                    }
                    if !self.in_comment {
                        self.event_bytes += 1;
                    }
                }
            }
        }
        if self.event_bytes > self.limit {
            return Err(ModelError::EventTooLarge {
                limit: self.max_event_bytes,
            });
        }
        Ok(())
    }
}

impl<S, B> Stream for Utf8Framing<S>
where
    S: Stream<Item = Result<B, ModelError>> + Unpin,
    B: AsRef<[u8]>,
{
    type Item = Result<String, ModelError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(inner) = this.inner.as_mut() else {
                return Poll::Ready(None);
            };
            let item = match ready!(inner.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => match this.push(chunk.as_ref()) {
                    Ok(text) if text.is_empty() => continue,
                    Ok(text) => return Poll::Ready(Some(Ok(text))),
                    Err(error) => Some(Err(error)),
                },
                Some(Err(error)) => Some(Err(error)),
                None if this.after_cr => Some(Ok("\n".to_owned())),
                None => None,
            };
            this.inner = None;
            return Poll::Ready(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;

    /// The payloads (or errors) of `chunks` decoded as one body.
    async fn decode(chunks: &[&[u8]], max_event_bytes: usize) -> Vec<Result<String, String>> {
        let chunks: Vec<Result<Vec<u8>, ModelError>> =
            chunks.iter().map(|c| Ok(c.to_vec())).collect();
        SseStream::from_byte_stream(stream::iter(chunks), max_event_bytes)
            .map(|item| item.map_err(|e| e.to_string()))
            .collect()
            .await
    }

    fn ok(items: &[&str]) -> Vec<Result<String, String>> {
        items.iter().map(|s| Ok((*s).to_owned())).collect()
    }

    #[tokio::test]
    async fn lines_end_at_cr_lf_or_crlf() {
        let body: &[&[u8]] = &[b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata:d\r\n", b"\r\n"];
        assert_eq!(decode(body, 1024).await, ok(&["a", "b", "c", "d"]));
    }

    #[tokio::test]
    async fn a_crlf_split_across_chunks_is_one_line_end() {
        let body: &[&[u8]] = &[b"data: a\r", b"\n", b"data: b\r", b"\n\r", b"\n"];
        assert_eq!(decode(body, 1024).await, ok(&["a\nb"]));
    }

    #[tokio::test]
    async fn a_final_lone_cr_still_ends_the_event() {
        assert_eq!(decode(&[b"data: a\r\r"], 1024).await, ok(&["a"]));
        assert_eq!(decode(&[b"data: a\r"], 1024).await, ok(&[]));
    }

    #[tokio::test]
    async fn characters_split_across_chunks_are_kept_whole() {
        let text = "data: caf\u{e9} \u{1F600}\n\n".as_bytes();
        let chunks: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(decode(&chunks, 1024).await, ok(&["caf\u{e9} \u{1F600}"]));
    }

    #[tokio::test]
    async fn invalid_utf8_fails_at_once() {
        let out = decode(
            &[b"data: a\n\n", b"data: \xff\xfe\n\n", b"data: b\n\n"],
            1024,
        )
        .await;
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], Ok("a".to_owned()));
        assert!(out[1].as_ref().unwrap_err().contains("UTF-8"));
    }

    #[tokio::test]
    async fn a_partial_character_at_the_end_goes_with_its_line() {
        assert_eq!(decode(&[b"data: a\n\ndata: \xc3"], 1024).await, ok(&["a"]));
    }

    #[tokio::test]
    async fn the_framing_guard_ignores_comments_and_resets_per_event() {
        let mut framing = Utf8Framing::new(stream::empty::<Result<Vec<u8>, ModelError>>(), 10);
        framing.limit = 10;
        assert!(
            framing
                .track_lines(b": a very long keep-alive comment\n\n")
                .is_ok()
        );
        assert!(framing.track_lines(b"data: 1234\n\n").is_ok());
        assert!(
            framing
                .track_lines(b"data: 1234\r\n\r\ndata: 1234\r\r")
                .is_ok()
        );
        assert!(framing.track_lines(b"data: 12345").is_err());
    }

    #[test]
    fn retry_after_headers() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.insert(*name, HeaderValue::from_str(value).unwrap());
            }
            map
        };
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "150")])), ms(150));
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "150"), ("retry-after", "9")])),
            ms(150)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "1.5")])), ms(1500));
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
        let future = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
        let date = jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&future)
            .unwrap();
        let wait = retry_after(&headers(&[("retry-after", &date)])).unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        let past = "Thu, 01 Jan 1970 00:00:01 GMT";
        assert_eq!(retry_after(&headers(&[("retry-after", past)])), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let backoff = Backoff {
            initial: INITIAL_BACKOFF,
            max: MAX_BACKOFF,
        };
        for (retries, base) in [
            (0, 500),
            (1, 1000),
            (2, 2000),
            (4, 8000),
            (10, 8000),
            (40, 8000),
        ] {
            let delay = backoff.delay(retries).as_millis() as u64;
            assert!(delay <= base && delay >= base * 3 / 4, "{retries}: {delay}");
        }
    }

    #[test]
    fn error_bodies() {
        let parse = |body: &str| parse_error_body(body.as_bytes());
        assert_eq!(
            parse(
                r#"{"error":{"message":"Bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#
            ),
            (Some("invalid_api_key".into()), Some("Bad key".into()))
        );
        assert_eq!(
            parse(r#"{"error":{"message":"Slow down","type":"requests","code":null}}"#),
            (Some("requests".into()), Some("Slow down".into()))
        );
        assert_eq!(
            parse(
                r#"[{"error":{"code":400,"message":"Gemini says no","status":"INVALID_ARGUMENT"}}]"#
            ),
            (Some("400".into()), Some("Gemini says no".into()))
        );
        assert_eq!(parse(r#"{"error":"plain"}"#), (None, Some("plain".into())));
        assert_eq!(
            parse(r#"{"detail":"Not Found"}"#),
            (None, Some("Not Found".into()))
        );
        assert_eq!(
            parse("  <html>oops</html> "),
            (None, Some("<html>oops</html>".into()))
        );
        assert_eq!(parse(""), (None, None));
    }
}
