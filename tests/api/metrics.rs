//! `GET /metrics`: the counters and gauges move as turns, cancellations,
//! model failures and refusals happen. Each test runs the real binary as a
//! child process, so it owns its process-wide recorder and the numbers
//! are exact (tests in this binary run concurrently and would share one).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chatkit_server::fake_model::{Behaviour, FakeModel};
use serde_json::json;

use crate::helpers::*;
use crate::process::{ServerProcess, is_text_delta};

/// One scrape, parsed from the text exposition format: series (name plus
/// sorted labels) → value.
struct Scrape(BTreeMap<(String, Vec<(String, String)>), f64>);

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut series = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|e| panic!("bad value in {line:?}: {e}"));
            let (name, labels) = match head.split_once('{') {
                None => (head.to_owned(), Vec::new()),
                Some((name, rest)) => {
                    let body = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                    let mut labels: Vec<(String, String)> = body
                        .split("\",")
                        .filter(|p| !p.is_empty())
                        .map(|pair| {
                            let (k, v) = pair
                                .split_once("=\"")
                                .unwrap_or_else(|| panic!("bad label in {line:?}"));
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    labels.sort();
                    (name.to_owned(), labels)
                }
            };
            assert!(
                series.insert((name, labels), value).is_none(),
                "series twice: {line}"
            );
        }
        Scrape(series)
    }

    /// The value of the series `name` with exactly `labels` (0 when the
    /// series does not exist yet).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        key.sort();
        self.0.get(&(name.to_owned(), key)).copied().unwrap_or(0.0)
    }

    fn requests(&self, kind: &str, status: &str) -> f64 {
        self.get(
            "chatkit_requests_total",
            &[("type", kind), ("status", status)],
        )
    }

    fn ended(&self, outcome: &str) -> f64 {
        self.get("chatkit_turns_ended_total", &[("outcome", outcome)])
    }
}

impl ServerProcess {
    async fn scrape_at(&self, path: &str) -> Reply {
        let resp = reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("scrape sent");
        reply_of(resp).await
    }

    async fn scrape(&self) -> Scrape {
        let reply = self.scrape_at("/metrics").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(
            reply.content_type.starts_with("text/plain"),
            "{}",
            reply.content_type
        );
        Scrape::parse(&reply.body)
    }

    /// Scrapes until `pred` holds (gauges settle when a body is dropped,
    /// just after the client saw its end), or panics after 5 s.
    async fn scrape_until(&self, what: &str, pred: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let scrape = self.scrape().await;
            if pred(&scrape) {
                return scrape;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not seen within 5 s in\n{:#?}\nlog:\n{}",
                scrape.0,
                self.log()
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[actix_web::test]
async fn turns_cancellations_failures_and_refusals_move_the_metrics() {
    let fake = FakeModel::start(Behaviour::default())
        .await
        .expect("fake model starts");
    let dir = tempfile::tempdir().unwrap();
    let base_url = fake.base_url();
    let server = ServerProcess::start_with(
        &dir.path().join("chatkit.sqlite3"),
        0,
        5,
        &[
            "--model",
            "chat",
            "--base-url",
            &base_url,
            "--titles",
            "false",
            "--model-max-retries",
            "0",
        ],
    )
    .await;

    // Counters and gauges exist, at zero, before anything happened.
    let body = server.scrape_at("/metrics").await.body;
    for line in [
        "chatkit_turns_started_total 0",
        "chatkit_turns_ended_total{outcome=\"cancelled\"} 0",
        "chatkit_open_streams 0",
        "chatkit_thread_actors 0",
        "chatkit_store_queue_depth 0",
        "chatkit_slow_subscribers_dropped_total 0",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "{line:?} missing from\n{body}"
        );
    }

    // A turn that completes.
    let (status, events) = server.post(&create("Hello")).await;
    assert_eq!(status, 200);
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_owned();
    let s = server
        .scrape_until("the finished turn's stream closed", |s| {
            s.ended("finished") == 1.0 && s.get("chatkit_open_streams", &[]) == 0.0
        })
        .await;
    assert_eq!(s.requests("threads.create", "200"), 1.0);
    assert_eq!(s.get("chatkit_turns_started_total", &[]), 1.0);
    assert_eq!(s.ended("failed") + s.ended("cancelled"), 0.0);
    assert_eq!(s.get("chatkit_thread_actors", &[]), 1.0);
    assert_eq!(s.get("chatkit_store_queue_depth", &[]), 0.0);
    let chat = [("provider", "chat")];
    assert_eq!(s.get("chatkit_model_ttft_seconds_count", &chat), 1.0);
    assert_eq!(s.get("chatkit_model_stream_seconds_count", &chat), 1.0);
    assert!(s.get("chatkit_model_stream_seconds_sum", &chat) > 0.0);
    let create_type = [("type", "threads.create")];
    assert_eq!(
        s.get("chatkit_request_duration_seconds_count", &create_type),
        1.0
    );
    // Buckets are cumulative; everything is under the last finite one.
    assert_eq!(
        s.get(
            "chatkit_request_duration_seconds_bucket",
            &[("type", "threads.create"), ("le", "+Inf")]
        ),
        1.0
    );
    // The thread with the user message, then the answer: two writes at
    // least, in one commit or more.
    let batches = s.get("chatkit_store_batch_size_count", &[]);
    assert!(batches >= 1.0, "{:#?}", s.0);
    assert_eq!(s.get("chatkit_store_commit_seconds_count", &[]), batches);
    assert!(s.get("chatkit_store_batch_size_sum", &[]) >= 2.0);

    // A model that fails: the turn ends with an error event.
    fake.set(|b| {
        b.fail_status = Some(500);
        b.should_retry = Some(false);
    });
    let (status, events) = server.post(&add_message(&thread_id, "Fail")).await;
    assert_eq!(status, 200);
    let events = events.as_array().unwrap().clone();
    assert!(types(&events).contains(&"error"), "{events:#?}");
    let s = server
        .scrape_until("the failed turn", |s| s.ended("failed") == 1.0)
        .await;
    assert_eq!(s.requests("threads.add_user_message", "200"), 1.0);
    assert_eq!(s.get("chatkit_turns_started_total", &[]), 2.0);
    assert_eq!(s.ended("finished"), 1.0);

    // A turn whose client leaves mid-answer: cancelled, stream closed.
    fake.set(|b| {
        b.fail_status = None;
        b.tokens = 50;
        b.delay = Duration::from_millis(100);
    });
    let mut reader = server
        .open_stream(&add_message(&thread_id, "Long answer"))
        .await;
    reader.until(Duration::from_secs(10), is_text_delta).await;
    let s = server.scrape().await;
    assert_eq!(s.get("chatkit_open_streams", &[]), 1.0);
    assert_eq!(s.get("chatkit_turns_started_total", &[]), 3.0);
    drop(reader);
    let s = server
        .scrape_until("the cancelled turn", |s| {
            s.ended("cancelled") == 1.0 && s.get("chatkit_open_streams", &[]) == 0.0
        })
        .await;
    assert_eq!(s.ended("finished"), 1.0);
    assert_eq!(s.ended("failed"), 1.0);
    assert_eq!(s.get("chatkit_slow_subscribers_dropped_total", &[]), 0.0);

    // Refusals: counted by type and status, no turn.
    let (status, _) = server
        .post(&json!({"type": "items.list", "params": {"thread_id": "thr_unknown"}}))
        .await;
    assert_eq!(status, 404);
    let resp = reqwest::Client::new()
        .post(format!("{}/chatkit", server.url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let s = server.scrape().await;
    assert_eq!(s.requests("items.list", "404"), 1.0);
    assert_eq!(s.requests("unknown", "400"), 1.0);
    assert_eq!(s.requests("threads.add_user_message", "200"), 2.0);
    assert_eq!(s.get("chatkit_turns_started_total", &[]), 3.0);
    assert_eq!(
        s.ended("finished") + s.ended("failed") + s.ended("cancelled"),
        3.0
    );
}

#[actix_web::test]
async fn the_metrics_path_can_move_or_go_away() {
    let dir = tempfile::tempdir().unwrap();
    let moved = ServerProcess::start_with(
        &dir.path().join("a.sqlite3"),
        0,
        5,
        &["--metrics-path", "/internal/metrics"],
    )
    .await;
    let Reply { status, body, .. } = moved.scrape_at("/internal/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE chatkit_open_streams gauge"), "{body}");
    assert_eq!(moved.scrape_at("/metrics").await.status, 404);

    let off =
        ServerProcess::start_with(&dir.path().join("b.sqlite3"), 0, 5, &["--no-metrics"]).await;
    assert_eq!(off.scrape_at("/metrics").await.status, 404);
    // The server works as usual.
    let (status, _) = off.post(&create("Hi")).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn an_embedded_server_serves_metrics_with_help_text() {
    // In process: the recorder is shared with the other tests of this
    // binary, so only the presence and shape of what is served is checked.
    let app = spawn_app().await;
    app.create_thread("Hi").await;
    let resp = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    for line in [
        "# TYPE chatkit_requests_total counter",
        "# HELP chatkit_turns_started_total Turns started",
        "# TYPE chatkit_store_commit_seconds histogram",
        "# TYPE chatkit_thread_actors gauge",
    ] {
        assert!(body.contains(line), "{line:?} missing from\n{body}");
    }
    let s = Scrape::parse(&body);
    assert!(s.requests("threads.create", "200") >= 1.0);
}
