//! Where requests go: a ChatKit server over HTTP ([`HttpTarget`]), or the
//! engine in this process ([`crate::inprocess::InProcess`]). Both answer a
//! body with JSON bytes or a stream of [`Seen`] events, so the workload
//! code is the same for both.

use std::pin::Pin;
use std::time::Duration;

use chatkit_actors::{EngineResponse, EventStream};
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};
use reqwest::Url;

use crate::events::Seen;
use crate::inprocess::InProcess;

/// Why a request failed, by kind (the summary counts each kind apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// A status other than 200 before any event.
    Http(u16),
    /// Connect, reset, timeout, cut body.
    Transport,
    /// A 200 answer that is not a ChatKit stream or JSON body.
    BadStream,
    /// An `error` event in the stream.
    ErrorEvent,
    /// A stream without a finished, non-empty assistant message.
    MissingAssistant,
    /// An assistant message other than the one expected.
    WrongAnswer,
}

/// A failed request: its kind and a short description.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn transport(e: impl std::fmt::Display) -> Self {
        Self::new(FailureKind::Transport, e.to_string())
    }
}

/// A ChatKit endpoint over HTTP.
pub struct HttpTarget {
    client: reqwest::Client,
    url: Url,
    user_header: String,
}

impl HttpTarget {
    /// A client for `url` with a connection pool of `pool` keep-alive
    /// connections (one per virtual user), `TCP_NODELAY`, and `timeout`
    /// for connecting and between two reads (never a total timeout: a
    /// long answer is not an error).
    pub fn new(
        url: Url,
        user_header: &str,
        pool: usize,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(pool)
            .tcp_nodelay(true)
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()?;
        Ok(Self {
            client,
            url,
            user_header: user_header.to_owned(),
        })
    }

    async fn send(&self, body: Vec<u8>, user: &str) -> Result<reqwest::Response, Failure> {
        let response = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header(self.user_header.as_str(), user)
            .body(body)
            .send()
            .await
            .map_err(Failure::transport)?;
        let status = response.status().as_u16();
        if status != 200 {
            let text = response.text().await.unwrap_or_default();
            let head: String = text.chars().take(200).collect();
            return Err(Failure::new(
                FailureKind::Http(status),
                format!("HTTP {status}: {head}"),
            ));
        }
        Ok(response)
    }
}

/// The server under load.
pub enum Target {
    /// Over HTTP.
    Http(HttpTarget),
    /// The engine in this process.
    InProcess(InProcess),
}

/// The events of one streamed answer.
pub struct Events {
    inner: EventsInner,
}

type SseStream = Pin<
    Box<
        dyn Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            > + Send,
    >,
>;

enum EventsInner {
    Http(SseStream),
    Engine(EventStream),
}

impl Events {
    /// The next event; `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<Result<Seen, Failure>> {
        match &mut self.inner {
            EventsInner::Http(stream) => loop {
                return match stream.next().await? {
                    // Comments (keep-alives) never reach here; named
                    // events other than `message` are not ChatKit's.
                    Ok(event) if event.data.is_empty() => continue,
                    Ok(event) => Some(
                        Seen::from_json(&event.data)
                            .map_err(|m| Failure::new(FailureKind::BadStream, m)),
                    ),
                    Err(e) => Some(Err(Failure::transport(e))),
                };
            },
            EventsInner::Engine(stream) => {
                stream.next_event().await.map(|e| Ok(Seen::from_event(&e)))
            }
        }
    }
}

impl Target {
    /// Sends a streaming request (`threads.create`,
    /// `threads.add_user_message`, ...).
    pub async fn stream(&self, body: Vec<u8>, user: &str) -> Result<Events, Failure> {
        match self {
            Target::Http(http) => {
                let response = http.send(body, user).await?;
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                if !content_type.starts_with("text/event-stream") {
                    return Err(Failure::new(
                        FailureKind::BadStream,
                        format!("a streaming request answered {content_type:?}, not SSE"),
                    ));
                }
                Ok(Events {
                    inner: EventsInner::Http(Box::pin(response.bytes_stream().eventsource())),
                })
            }
            Target::InProcess(engine) => match engine.process(body, user).await? {
                EngineResponse::Stream(events) => Ok(Events {
                    inner: EventsInner::Engine(events),
                }),
                EngineResponse::Json(_) => Err(Failure::new(
                    FailureKind::BadStream,
                    "a streaming request answered JSON",
                )),
            },
        }
    }

    /// Sends a JSON request (`threads.get_by_id`, `items.list`,
    /// `threads.list`, ...) and returns the body, checked to be JSON.
    pub async fn json(&self, body: Vec<u8>, user: &str) -> Result<Vec<u8>, Failure> {
        let bytes = match self {
            Target::Http(http) => http
                .send(body, user)
                .await?
                .bytes()
                .await
                .map_err(Failure::transport)?
                .to_vec(),
            Target::InProcess(engine) => match engine.process(body, user).await? {
                EngineResponse::Json(bytes) => bytes,
                EngineResponse::Stream(_) => {
                    return Err(Failure::new(
                        FailureKind::BadStream,
                        "a JSON request answered a stream",
                    ));
                }
            },
        };
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
            return Err(Failure::new(
                FailureKind::BadStream,
                format!("not a JSON body: {head}"),
            ));
        }
        Ok(bytes)
    }

    /// What the summary calls the target.
    pub fn describe(&self) -> String {
        match self {
            Target::Http(http) => http.url.to_string(),
            Target::InProcess(engine) => engine.describe(),
        }
    }

    /// Stops what an in-process target started (no-op over HTTP).
    pub async fn shutdown(self) {
        if let Target::InProcess(engine) = self {
            engine.shutdown().await;
        }
    }
}

/// Whether `url` may be loaded without `--allow-remote`: its host is a
/// loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some(host) if host.eq_ignore_ascii_case("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_local() {
        for ok in [
            "http://127.0.0.1:8000/chatkit",
            "http://127.1.2.3/chatkit",
            "http://localhost:8000/chatkit",
            "http://[::1]:8000/chatkit",
        ] {
            assert!(is_loopback(&Url::parse(ok).unwrap()), "{ok}");
        }
        for remote in [
            "http://10.0.0.1:8000/chatkit",
            "https://example.com/chatkit",
            "http://[2001:db8::1]/chatkit",
            "http://localhost.example.com/chatkit",
        ] {
            assert!(!is_loopback(&Url::parse(remote).unwrap()), "{remote}");
        }
    }
}
