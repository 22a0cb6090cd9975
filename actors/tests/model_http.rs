//! The model transport (`chatkit_actors::model::http`) against wiremock
//! and against tiny raw TCP servers (for what wiremock cannot do: chunked
//! writes, stalls, cut connections, watching the client hang up).
//! Everything listens on 127.0.0.1.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chatkit_actors::model::ModelError;
use chatkit_actors::model::ProviderSettings;
use chatkit_actors::model::http::{ModelHttp, SseStream};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-0123456789";

/// Settings for a provider at `base`, with short timeouts.
fn settings(base: &str) -> ProviderSettings {
    let mut s = ProviderSettings::new("gpt-test");
    s.base_url = base.to_owned();
    s.api_key = Some(KEY.to_owned());
    s.connect_timeout = Duration::from_secs(2);
    s.read_timeout = Duration::from_secs(5);
    s.max_retries = 2;
    s
}

/// A client with a 10 ms backoff, so retry tests are quick.
fn client(settings: &ProviderSettings) -> ModelHttp {
    ModelHttp::new(settings)
        .expect("client")
        .with_backoff(Duration::from_millis(10), Duration::from_millis(40))
}

fn body() -> serde_json::Value {
    json!({"model": "gpt-test", "stream": true, "input": "hi"})
}

/// An SSE body from payloads.
fn sse(payloads: &[&str]) -> String {
    payloads.iter().map(|p| format!("data: {p}\n\n")).collect()
}

fn sse_ok(payloads: &[&str]) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(sse(payloads), "text/event-stream")
}

async fn collect(stream: SseStream) -> Vec<Result<String, ModelError>> {
    tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .expect("the stream ended")
}

fn payloads(items: &[Result<String, ModelError>]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i.as_ref().expect("no error").as_str())
        .collect()
}

/// Mounts `first` for one request, then a successful stream.
async fn fail_once_then_succeed(server: &MockServer, first: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/responses"))
        .respond_with(first)
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/responses"))
        .respond_with(sse_ok(&["{\"n\":1}", "[DONE]"]))
        .expect(1)
        .mount(server)
        .await;
}

/// A stream from `POST {base}/responses` of the settings' provider.
async fn open(s: &ProviderSettings) -> Result<SseStream, ModelError> {
    client(s).stream(&s.url("responses"), &body()).await
}

async fn stream_from(server: &MockServer, s: &ProviderSettings) -> Result<SseStream, ModelError> {
    client(s)
        .stream(&format!("{}/v1/responses", server.uri()), &body())
        .await
}

// ---- retries -------------------------------------------------------------

#[tokio::test]
async fn retries_500_then_503_then_succeeds() {
    let server = MockServer::start().await;
    for status in [500, 503] {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .respond_with(sse_ok(&["a", "b"]))
        .expect(1)
        .mount(&server)
        .await;
    let stream = stream_from(&server, &settings(&format!("{}/v1", server.uri())))
        .await
        .expect("succeeds on the third attempt");
    assert_eq!(payloads(&collect(stream).await), ["a", "b"]);
}

#[tokio::test]
async fn retries_408_409_429_and_other_5xx() {
    for status in [408, 409, 429, 502, 504] {
        let server = MockServer::start().await;
        fail_once_then_succeed(&server, ResponseTemplate::new(status)).await;
        let s = settings(&server.uri());
        let stream = stream_from(&server, &s)
            .await
            .unwrap_or_else(|e| panic!("{status} is retried: {e}"));
        assert_eq!(payloads(&collect(stream).await), ["{\"n\":1}"]);
        server.verify().await;
    }
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_json(json!({"error": {"message": "overloaded", "type": "server_error"}})),
        )
        .expect(3)
        .mount(&server)
        .await;
    let err = stream_from(&server, &settings(&server.uri()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModelError::Http { status: 503, message, .. } if message == "overloaded"),
        "{err:?}"
    );
    assert!(err.allow_retry());
}

#[tokio::test]
async fn max_retries_zero_makes_one_attempt() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server.uri());
    s.max_retries = 0;
    let err = stream_from(&server, &s).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 422] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "error": {"message": format!("nope {status}"), "type": "invalid_request_error", "code": "bad_thing"}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let err = stream_from(&server, &settings(&server.uri()))
            .await
            .unwrap_err();
        match &err {
            ModelError::Http {
                status: s,
                code,
                message,
                rate_limited,
            } => {
                assert_eq!(*s, status);
                assert_eq!(code.as_deref(), Some("bad_thing"));
                assert_eq!(message, &format!("nope {status}"));
                assert!(!rate_limited);
            }
            other => panic!("{status}: {other:?}"),
        }
        assert!(!err.allow_retry(), "{status}");
        let shown = err.user_message().expect("a message for the user");
        assert!(!shown.contains("nope"), "no provider details: {shown}");
        server.verify().await;
    }
}

#[tokio::test]
async fn x_should_retry_false_stops_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).insert_header("x-should-retry", "false"))
        .expect(1)
        .mount(&server)
        .await;
    let err = stream_from(&server, &settings(&server.uri()))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
}

#[tokio::test]
async fn x_should_retry_true_retries_any_status() {
    let server = MockServer::start().await;
    fail_once_then_succeed(
        &server,
        ResponseTemplate::new(400).insert_header("x-should-retry", "true"),
    )
    .await;
    assert!(stream_from(&server, &settings(&server.uri())).await.is_ok());
}

#[tokio::test]
async fn retry_after_ms_is_honoured() {
    let server = MockServer::start().await;
    fail_once_then_succeed(
        &server,
        ResponseTemplate::new(429).insert_header("retry-after-ms", "300"),
    )
    .await;
    let start = Instant::now();
    let stream = stream_from(&server, &settings(&server.uri()))
        .await
        .expect("retried");
    // The backoff alone would be ≤ 10 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(payloads(&collect(stream).await), ["{\"n\":1}"]);
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() {
    let server = MockServer::start().await;
    fail_once_then_succeed(
        &server,
        ResponseTemplate::new(503).insert_header("retry-after", "0.3"),
    )
    .await;
    let start = Instant::now();
    stream_from(&server, &settings(&server.uri()))
        .await
        .expect("retried");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_not_waited_for() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3600")
                .set_body_json(
                    json!({"error": {"message": "come back later", "code": "rate_limit_exceeded"}}),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let start = Instant::now();
    let err = stream_from(&server, &settings(&server.uri()))
        .await
        .unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.is_rate_limit() && err.allow_retry(), "{err:?}");
    assert!(err.user_message().is_some());
}

#[tokio::test]
async fn connection_refused_fails_after_the_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let s = settings(&format!("http://127.0.0.1:{port}/v1"));
    let err = open(&s).await.unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Connection {
                timed_out: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.allow_retry());
    assert!(!err.to_string().contains(KEY));
}

#[tokio::test]
async fn connections_closed_before_the_headers_are_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            read_request(&mut socket).await;
            drop(socket);
        }
    });
    let s = settings(&format!("http://{addr}"));
    let err = open(&s).await.unwrap_err();
    assert!(matches!(err, ModelError::Connection { .. }), "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn no_response_headers_within_the_read_timeout_is_a_retried_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket); // never answered
        }
    });
    let mut s = settings(&format!("http://{addr}"));
    s.read_timeout = Duration::from_millis(300);
    s.max_retries = 1;
    let err = open(&s).await.unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Connection {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

// ---- request shape and error bodies ---------------------------------------

#[tokio::test]
async fn sends_the_key_the_extra_headers_and_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse_ok(&["[DONE]"]))
        .expect(2)
        .mount(&server)
        .await;
    let mut with_key = settings(&server.uri());
    with_key.extra_headers = vec![
        ("OpenAI-Organization".into(), "org-1".into()),
        ("x-gateway".into(), "a".into()),
    ];
    let mut without_key = settings(&server.uri());
    without_key.api_key = None;

    for s in [&with_key, &without_key] {
        let stream = open(s).await.unwrap();
        assert!(collect(stream).await.is_empty());
    }
    let requests = server.received_requests().await.unwrap();
    let header = |i: usize, name: &str| {
        requests[i]
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(
        header(0, "authorization").as_deref(),
        Some("Bearer sk-test-0123456789")
    );
    assert_eq!(header(0, "openai-organization").as_deref(), Some("org-1"));
    assert_eq!(header(0, "x-gateway").as_deref(), Some("a"));
    assert_eq!(header(1, "authorization"), None);
    assert_eq!(header(1, "x-gateway"), None);
    assert_eq!(requests.len(), 2);
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(header(i, "accept").as_deref(), Some("text/event-stream"));
        assert_eq!(
            header(i, "content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(request.url.path(), "/responses");
        let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(sent, body());
    }
}

#[tokio::test]
async fn an_extra_header_replaces_a_default() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse_ok(&["x"]))
        .mount(&server)
        .await;
    let mut s = settings(&server.uri());
    s.extra_headers = vec![("Authorization".into(), "Token gateway".into())];
    open(&s).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let auth: Vec<_> = requests[0]
        .headers
        .get_all("authorization")
        .iter()
        .collect();
    assert_eq!(auth, ["Token gateway"]);
}

#[tokio::test]
async fn invalid_header_settings_are_config_errors() {
    let mut s = settings("http://127.0.0.1:9");
    s.api_key = Some("bad\nkey".into());
    let err = ModelHttp::new(&s).unwrap_err();
    assert!(matches!(err, ModelError::Config(_)) && !err.to_string().contains("bad\nkey"));
    let mut s = settings("http://127.0.0.1:9");
    s.extra_headers = vec![("bad name".into(), "v".into())];
    assert!(matches!(ModelHttp::new(&s), Err(ModelError::Config(_))));
    assert!(!format!("{:?}", client(&settings("http://127.0.0.1:9"))).contains(KEY));
}

#[tokio::test]
async fn error_messages_fall_back_to_the_text_truncated_and_never_show_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/long"))
        .respond_with(ResponseTemplate::new(400).set_body_string("x".repeat(5000)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/key"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": format!("Incorrect API key provided: {KEY}"), "code": "invalid_api_key"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/empty"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let http = client(&settings(&server.uri()));

    let err = http
        .stream(&format!("{}/long", server.uri()), &body())
        .await
        .unwrap_err();
    let ModelError::Http { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.chars().count() <= 501 && message.starts_with("xxx"),
        "{}",
        message.len()
    );

    let err = http
        .stream(&format!("{}/key", server.uri()), &body())
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(KEY), "{err}");
    assert!(err.to_string().contains("Incorrect API key provided"));
    assert!(!err.allow_retry());

    let err = http
        .stream(&format!("{}/empty", server.uri()), &body())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404 Not Found"), "{err}");
}

#[tokio::test]
async fn a_spent_quota_is_not_a_rate_limit() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/quota"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-should-retry", "false")
                .set_body_json(json!({"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut s = settings(&server.uri());
    s.max_retries = 0;
    let err = client(&s)
        .stream(&format!("{}/quota", server.uri()), &body())
        .await
        .unwrap_err();
    assert!(!err.is_rate_limit() && !err.allow_retry(), "{err:?}");
}

#[tokio::test]
async fn a_json_answer_instead_of_a_stream_is_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/error"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "error": {"message": "busy", "type": "too_many_requests", "code": "rate_limit_exceeded"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/completion"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "chatcmpl-1", "choices": []})),
        )
        .mount(&server)
        .await;
    let http = client(&settings(&server.uri()));
    let err = http
        .stream(&format!("{}/error", server.uri()), &body())
        .await
        .unwrap_err();
    assert!(err.is_rate_limit(), "{err:?}");
    let err = http
        .stream(&format!("{}/completion", server.uri()), &body())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::Malformed(_)), "{err:?}");
}

// ---- SSE decoding ----------------------------------------------------------

#[tokio::test]
async fn parses_crlf_multiline_data_comments_and_skips_empty_events() {
    let server = MockServer::start().await;
    let raw = concat!(
        ": keep-alive\r\n\r\n",
        "event: response.created\r\n",
        "data: {\"a\":1}\r\n\r\n",
        "data: line one\r\n",
        ": a comment inside an event\r\n",
        "data: line two\r\n",
        "data:no space\r\n\r\n",
        "data:\r\n\r\n",
        "id: 7\nretry: 10\ndata: lf\n\n",
        "data: cr\r\r",
    );
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(raw, "text/event-stream"))
        .mount(&server)
        .await;
    let stream = stream_from(&server, &settings(&server.uri()))
        .await
        .unwrap();
    assert_eq!(
        payloads(&collect(stream).await),
        ["{\"a\":1}", "line one\nline two\nno space", "lf", "cr"]
    );
}

#[tokio::test]
async fn done_ends_the_stream() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse_ok(&["a", "[DONE]", "b"]))
        .mount(&server)
        .await;
    let stream = stream_from(&server, &settings(&server.uri()))
        .await
        .unwrap();
    assert_eq!(payloads(&collect(stream).await), ["a"]);
}

#[tokio::test]
async fn nothing_after_done_is_read() {
    let (addr, _seen) = raw_server(vec![
        Step::Head,
        Step::Write(b"data: a\n\ndata: [DONE] \n\n".to_vec()),
        Step::Sleep(10_000),
        Step::Write(b"data: after\n\n".to_vec()),
    ])
    .await;
    let s = settings(&format!("http://{addr}"));
    let mut stream = open(&s).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), "a");
    let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
    assert!(
        matches!(end, Ok(None)),
        "ends at [DONE] without waiting for more"
    );
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn a_character_split_across_network_chunks_survives() {
    let euro = "€".as_bytes(); // 3 bytes
    let grin = "😀".as_bytes(); // 4 bytes
    let mut steps = vec![Step::Head];
    for piece in [
        b"data: caf\xc3".to_vec(),
        b"\xa9 ".to_vec(),
        euro[..1].to_vec(),
        euro[1..2].to_vec(),
        [&euro[2..], b"\r".as_slice()].concat(),
        b"\n\r\ndata: ".to_vec(),
        grin[..2].to_vec(),
        grin[2..].to_vec(),
        b"\n\n".to_vec(),
    ] {
        steps.push(Step::Write(piece));
        steps.push(Step::Sleep(20));
    }
    let (addr, _seen) = raw_server(steps).await;
    let s = settings(&format!("http://{addr}"));
    let stream = open(&s).await.unwrap();
    assert_eq!(payloads(&collect(stream).await), ["café €", "😀"]);
}

#[tokio::test]
async fn an_oversized_event_is_an_error_and_the_end() {
    let server = MockServer::start().await;
    let big = "x".repeat(200);
    Mock::given(method("POST"))
        .respond_with(sse_ok(&["small", &big, "after"]))
        .mount(&server)
        .await;
    let mut s = settings(&server.uri());
    s.max_event_bytes = 100;
    let items = collect(stream_from(&server, &s).await.unwrap()).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "small");
    assert!(matches!(
        items[1],
        Err(ModelError::EventTooLarge { limit: 100 })
    ));
    assert!(!items[1].as_ref().unwrap_err().allow_retry());
}

#[tokio::test]
async fn an_endless_line_is_cut_off_without_waiting_for_its_end() {
    let mut steps = vec![Step::Head, Step::Write(b"data: ".to_vec())];
    for _ in 0..40 {
        steps.push(Step::Write(vec![b'x'; 8 * 1024]));
    }
    steps.push(Step::Sleep(30_000));
    let (addr, _seen) = raw_server(steps).await;
    let mut s = settings(&format!("http://{addr}"));
    s.max_event_bytes = 1024;
    let stream = open(&s).await.unwrap();
    let items = collect(stream).await;
    assert!(
        matches!(
            items.as_slice(),
            [Err(ModelError::EventTooLarge { limit: 1024 })]
        ),
        "{items:?}"
    );
}

#[tokio::test]
async fn an_idle_provider_is_a_timeout() {
    let (addr, _seen) = raw_server(vec![
        Step::Head,
        Step::Write(b"data: first\n\n".to_vec()),
        Step::Sleep(10_000),
        Step::Write(b"data: late\n\n".to_vec()),
    ])
    .await;
    let mut s = settings(&format!("http://{addr}"));
    s.read_timeout = Duration::from_millis(300);
    let stream = open(&s).await.unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "first");
    let err = items[1].as_ref().unwrap_err();
    assert!(
        matches!(err, ModelError::IdleTimeout(d) if *d == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.allow_retry());
}

#[tokio::test]
async fn keep_alive_comments_reset_the_idle_timeout() {
    let mut steps = vec![Step::Head];
    for _ in 0..5 {
        steps.push(Step::Sleep(150));
        steps.push(Step::Write(b": keep-alive\n\n".to_vec()));
    }
    steps.push(Step::Write(b"data: done\n\n".to_vec()));
    let (addr, _seen) = raw_server(steps).await;
    let mut s = settings(&format!("http://{addr}"));
    s.read_timeout = Duration::from_millis(400);
    let stream = open(&s).await.unwrap();
    assert_eq!(payloads(&collect(stream).await), ["done"]);
}

#[tokio::test]
async fn a_body_cut_mid_event_ends_without_the_partial_event() {
    let (addr, _seen) = raw_server(vec![
        Step::Head,
        Step::Write(b"data: whole\n\ndata: {\"partial\":".to_vec()),
    ])
    .await;
    let s = settings(&format!("http://{addr}"));
    let stream = open(&s).await.unwrap();
    assert_eq!(payloads(&collect(stream).await), ["whole"]);
}

#[tokio::test]
async fn a_connection_broken_mid_body_is_an_error() {
    let (addr, _seen) = raw_server(vec![
        Step::ChunkedHead,
        Step::Write(chunk(b"data: a\n\n")),
        Step::Write(chunk(b"data: b")),
        // Closed without the last chunk: the body is incomplete.
    ])
    .await;
    let s = settings(&format!("http://{addr}"));
    let stream = open(&s).await.unwrap();
    let items = collect(stream).await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "a");
    assert!(
        matches!(items[1], Err(ModelError::Truncated(_))),
        "{items:?}"
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let (addr, seen) = raw_server(vec![
        Step::Head,
        Step::Write(b"data: first\n\n".to_vec()),
        Step::AwaitClose,
    ])
    .await;
    let s = settings(&format!("http://{addr}"));
    let mut stream = open(&s).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), "first");
    drop(stream);
    let closed = tokio::time::timeout(Duration::from_secs(5), seen)
        .await
        .expect("the server saw the connection close");
    assert!(closed.is_ok());
}

#[tokio::test]
async fn the_request_id_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse_ok(&["x"]).insert_header("x-request-id", "req_123"))
        .mount(&server)
        .await;
    let stream = stream_from(&server, &settings(&server.uri()))
        .await
        .unwrap();
    assert_eq!(stream.request_id(), Some("req_123"));
}

// ---- a raw HTTP/1.1 server -------------------------------------------------

/// What the raw server does after reading the request.
enum Step {
    /// `200` with an SSE content type, body delimited by closing.
    Head,
    /// `200` with a chunked body.
    ChunkedHead,
    Write(Vec<u8>),
    Sleep(u64),
    /// Read until the client closes (EOF or reset), then report.
    AwaitClose,
}

/// One chunk of a chunked body.
fn chunk(data: &[u8]) -> Vec<u8> {
    [format!("{:x}\r\n", data.len()).as_bytes(), data, b"\r\n"].concat()
}

/// Serves one connection with `steps` (then closes it). The receiver
/// fires when an `AwaitClose` step saw the client hang up.
async fn raw_server(steps: Vec<Step>) -> (SocketAddr, oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.set_nodelay(true).unwrap();
        read_request(&mut socket).await;
        let mut closed_tx = Some(closed_tx);
        for step in steps {
            let written = match step {
                Step::Head => {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
                        .await
                }
                Step::ChunkedHead => {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                        .await
                }
                Step::Write(bytes) => socket.write_all(&bytes).await,
                Step::Sleep(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    Ok(())
                }
                Step::AwaitClose => {
                    let mut buf = [0u8; 1024];
                    loop {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                    if let Some(tx) = closed_tx.take() {
                        let _ = tx.send(());
                    }
                    Ok(())
                }
            };
            if written.is_err() {
                break;
            }
        }
    });
    (addr, closed_rx)
}

/// Reads a request's head and its `content-length` body.
async fn read_request(socket: &mut TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}
