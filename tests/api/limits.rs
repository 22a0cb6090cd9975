//! Limits over real HTTP: the per-user rate (429 + `Retry-After`), streams
//! per user and in total (429 before a stream starts, nothing written),
//! message length and attachment count, and the cap on thread actors kept
//! in memory (quiet ones retired least recently used first, busy ones
//! never).

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use chatkit_server::limits::Limits;
use serde_json::json;

use crate::auth::post_with;
use crate::helpers::*;

fn list() -> serde_json::Value {
    json!({"type": "threads.list", "params": {}})
}

#[actix_web::test]
async fn over_the_rate_a_user_gets_a_429_with_retry_after() {
    let app = spawn_app_with(AppOptions {
        limits: Limits {
            rate_per_second: NonZeroU32::new(1),
            rate_burst: NonZeroU32::new(3).unwrap(),
            ..Limits::none()
        },
        ..AppOptions::default()
    })
    .await;
    for _ in 0..3 {
        let ok = post_with(&app, &[("x-user-id", "alice")], &list()).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
    }
    let refused = post_with(&app, &[("x-user-id", "alice")], &list()).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "rate_limited");
    let retry: u64 = refused.header("retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Another user has a budget of their own.
    let bob = post_with(&app, &[("x-user-id", "bob")], &list()).await;
    assert_eq!(bob.status, 200);
    // After Retry-After, Alice is served again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let again = post_with(&app, &[("x-user-id", "alice")], &list()).await;
    assert_eq!(again.status, 200, "{}", again.body);
    app.stop().await;
}

/// Opens a streamed answer and returns the response once its headers
/// arrived (the stream is still running).
async fn open_stream(app: &TestApp, user: &str, text: &str) -> reqwest::Response {
    let resp = app
        .client
        .post(app.endpoint())
        .header("x-user-id", user)
        .json(&create(text))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp
}

/// Retries `create` as `user` until it is accepted (the previous stream's
/// place is freed when the server drops its body, just after the client
/// read the end).
async fn eventually_accepted(app: &TestApp, user: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = app.post_as(user, &create("again")).await;
        if reply.status == 200 {
            return;
        }
        assert_eq!(reply.status, 429, "{}", reply.body);
        assert!(
            Instant::now() < deadline,
            "the stream's place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_user_over_their_stream_limit_gets_a_429_before_anything_is_written() {
    let app = spawn_app_with(AppOptions {
        echo_delay: Duration::from_millis(100),
        limits: Limits {
            max_streams_per_user: Some(1),
            ..Limits::none()
        },
        ..AppOptions::default()
    })
    .await;
    let running = open_stream(&app, "alice", "one two three four").await;
    let refused = post_with(&app, &[("x-user-id", "alice")], &create("second")).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "too_many_streams");
    assert_eq!(refused.header("retry-after"), "5");
    assert_eq!(app.count_rows("SELECT count(*) FROM threads"), 1);
    // JSON requests and other users are not held up.
    assert_eq!(app.post_as("alice", &list()).await.status, 200);
    let bob = open_stream(&app, "bob", "hi").await;
    // The running answer is whole.
    let body = running.text().await.unwrap();
    assert_eq!(
        answer_text(&parse_sse(&body)),
        "You said: \"one two three four\""
    );
    eventually_accepted(&app, "alice").await;
    drop(bob);
    app.stop().await;
}

#[actix_web::test]
async fn the_global_stream_cap_refuses_everyone_and_a_closed_stream_frees_its_place() {
    let app = spawn_app_with(AppOptions {
        echo_delay: Duration::from_millis(200),
        limits: Limits {
            max_streams: Some(1),
            ..Limits::none()
        },
        ..AppOptions::default()
    })
    .await;
    let mut running = open_stream(&app, "alice", "a long answer of many words").await;
    let refused = post_with(&app, &[("x-user-id", "bob")], &create("me too")).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.headers.contains_key("retry-after"));
    // The client leaves mid-answer: its place is freed.
    let _first = running.chunk().await.unwrap();
    drop(running);
    eventually_accepted(&app, "bob").await;
    app.stop().await;
}

#[actix_web::test]
async fn long_messages_and_too_many_attachments_are_refused_with_a_clear_message() {
    let app = spawn_app_with(AppOptions {
        limits: Limits {
            max_message_chars: Some(10),
            max_attachments_per_message: Some(1),
            ..Limits::none()
        },
        ..AppOptions::default()
    })
    .await;
    // Ten characters (multibyte ones count once) pass.
    assert_eq!(app.post(&create("ééééééééé!")).await.status, 200);
    let long = app.post(&create("eleven char")).await;
    assert_eq!(long.status, 413, "{}", long.body);
    assert_eq!(long.error_code(), "message_too_long");
    assert_eq!(
        long.json()["error"]["message"],
        "the message is 11 characters long; the limit is 10"
    );
    let mut two = create("hi");
    two["params"]["input"]["attachments"] = json!(["atc_1", "atc_2"]);
    let refused = app.post(&two).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error_code(), "too_many_attachments");
    assert_eq!(app.count_rows("SELECT count(*) FROM threads"), 1);
    app.stop().await;
}

#[actix_web::test]
async fn over_the_thread_cap_quiet_actors_retire_and_busy_ones_stay() {
    let app = spawn_app_with(AppOptions {
        echo_delay: Duration::from_millis(50),
        max_cached_threads: Some(1),
        ..AppOptions::default()
    })
    .await;
    let (first, _) = app.create_thread("first").await;
    let (_second, _) = app.create_thread("second").await;
    // The first (least recently used, quiet) was retired for the second.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.engine.active_threads().await > 1 {
        assert!(Instant::now() < deadline, "over the cap");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A retired thread comes back from the store, whole.
    let items = app.all_items("alice", &first).await;
    assert_eq!(items.len(), 2);

    // Two answers streaming at once: both actors are busy, so the cap
    // yields, and neither answer loses a word.
    let a = open_stream(&app, "alice", "one two three").await;
    let b = open_stream(&app, "alice", "four five six").await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.engine.active_threads().await != 2 {
        assert!(Instant::now() < deadline, "the quiet actor was not retired");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (a, b) = tokio::join!(a.text(), b.text());
    assert_eq!(
        answer_text(&parse_sse(&a.unwrap())),
        "You said: \"one two three\""
    );
    assert_eq!(
        answer_text(&parse_sse(&b.unwrap())),
        "You said: \"four five six\""
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while app.engine.active_threads().await > 1 {
        assert!(Instant::now() < deadline, "quiet actors were not retired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await;
}
