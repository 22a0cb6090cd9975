//! Bad input never crashes the server and never writes anything: each case
//! gets a 4xx JSON error before any stream starts, and the next request
//! still works.

use serde_json::json;

use crate::helpers::*;

/// Asserts a refusal, that nothing was written, and that the server still
/// answers a good request afterwards.
async fn refused(
    app: &TestApp,
    user: &str,
    body: impl Into<reqwest::Body>,
    status: u16,
    code: &str,
) {
    let threads = app.count_rows("SELECT count(*) FROM threads");
    let items = app.count_rows("SELECT count(*) FROM items");
    let reply = app.post_raw(user, body).await;
    assert_eq!(reply.status, status, "body: {}", reply.body);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.error_code(), code, "body: {}", reply.body);
    assert_eq!(
        app.count_rows("SELECT count(*) FROM threads"),
        threads,
        "a thread was written"
    );
    assert_eq!(
        app.count_rows("SELECT count(*) FROM items"),
        items,
        "an item was written"
    );
    let next = app
        .post(&json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(
        next.status, 200,
        "the server stopped answering: {}",
        next.body
    );
}

#[actix_web::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    refused(&app, "alice", "{not json", 400, "invalid_json").await;
    refused(&app, "alice", "", 400, "invalid_json").await;
    refused(&app, "alice", vec![0xff, 0xfe, 0x00], 400, "invalid_json").await;
}

#[actix_web::test]
async fn unknown_type_is_a_400_naming_it() {
    let app = spawn_app().await;
    let body = json!({"type": "threads.explode", "params": {}}).to_string();
    let reply = app.post_raw("alice", body.clone()).await;
    assert!(reply.body.contains("threads.explode"), "{}", reply.body);
    refused(&app, "alice", body, 400, "unknown_request_type").await;
}

#[actix_web::test]
async fn missing_or_wrong_typed_params_are_400s() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("x").await;
    let cases = [
        json!({"type": "threads.create"}),
        json!({"type": "threads.create", "params": {}}),
        json!({"type": "threads.create", "params": {"input": {"content": "hi", "attachments": [], "inference_options": {}}}}),
        json!({"type": "threads.create", "params": {"input": {"content": [], "attachments": null, "inference_options": {}}}}),
        json!({"type": "threads.add_user_message", "params": {"input": {"content": [], "attachments": [], "inference_options": {}}}}),
        json!({"type": "items.list", "params": {"thread_id": thread, "order": "DESC"}}),
        json!({"type": "items.list", "params": {"thread_id": thread, "limit": "five"}}),
        json!({"type": "threads.update", "params": {"thread_id": thread, "title": null}}),
        json!({"type": "threads.update", "params": {"thread_id": thread, "title": 7}}),
        json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [], "kind": "meh"}}),
        json!({"params": {}}),
        json!(["threads.list"]),
    ];
    for body in cases {
        let reply = app.post(&body).await;
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!message.is_empty(), "{body}: {}", reply.body);
        refused(
            &app,
            "alice",
            body.to_string(),
            400,
            if reply.json()["error"]["code"] == "invalid_json" {
                "invalid_json"
            } else {
                "invalid_request"
            },
        )
        .await;
    }
}

#[actix_web::test]
async fn unknown_thread_or_item_is_a_404_before_streaming() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("x").await;
    let unknown = "thr_00000000000000000000000000000000";
    let cases = [
        add_message(unknown, "hello"),
        json!({"type": "threads.get_by_id", "params": {"thread_id": unknown}}),
        json!({"type": "items.list", "params": {"thread_id": unknown}}),
        json!({"type": "threads.update", "params": {"thread_id": unknown, "title": "t"}}),
        json!({"type": "threads.delete", "params": {"thread_id": unknown}}),
        json!({"type": "items.feedback", "params": {"thread_id": unknown, "item_ids": [], "kind": "positive"}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": unknown, "item_id": "msg_1"}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": "msg_nope"}}),
        json!({"type": "threads.create", "params": {"input": {"content": [], "attachments": ["atc_nope"], "inference_options": {}}}}),
    ];
    for body in cases {
        refused(&app, "alice", body.to_string(), 404, "not_found").await;
    }
}

#[actix_web::test]
async fn retrying_a_non_user_message_is_a_400() {
    let app = spawn_app().await;
    let (thread, events) = app.create_thread("x").await;
    let answer = events
        .iter()
        .rev()
        .find(|e| e["type"] == "thread.item.done")
        .unwrap()["item"]["id"]
        .clone();
    let body = json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": answer}});
    refused(&app, "alice", body.to_string(), 400, "invalid_request").await;
    assert_eq!(
        app.all_items("alice", &thread).await.len(),
        2,
        "nothing deleted"
    );
}

#[actix_web::test]
async fn unknown_cursor_is_a_400() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("x").await;
    let body = json!({"type": "items.list", "params": {"thread_id": thread, "after": "msg_nope"}});
    refused(&app, "alice", body.to_string(), 400, "invalid_cursor").await;
    let body = json!({"type": "threads.list", "params": {"after": "thr_nope"}});
    refused(&app, "alice", body.to_string(), 400, "invalid_cursor").await;
}

#[actix_web::test]
async fn another_users_thread_is_a_404_and_untouched() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread_as("alice", "secret").await;
    let answer = app.all_items("alice", &thread).await[1]["id"].clone();
    let cases = [
        add_message(&thread, "let me in"),
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}),
        json!({"type": "items.list", "params": {"thread_id": thread}}),
        json!({"type": "threads.update", "params": {"thread_id": thread, "title": "mine"}}),
        json!({"type": "threads.delete", "params": {"thread_id": thread}}),
        json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [answer], "kind": "negative"}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": answer}}),
    ];
    for body in cases {
        refused(&app, "mallory", body.to_string(), 404, "not_found").await;
    }
    let listed = app
        .post_as("mallory", &json!({"type": "threads.list", "params": {}}))
        .await
        .json();
    assert_eq!(listed["data"], json!([]));
    // Alice's thread is intact and still hers.
    let got = app
        .post_as(
            "alice",
            &json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}),
        )
        .await
        .json();
    assert_eq!(got["title"], "secret");
    assert_eq!(got["items"]["data"].as_array().unwrap().len(), 2);
    assert_eq!(app.count_rows("SELECT count(*) FROM feedback"), 0);
}

#[actix_web::test]
async fn oversized_body_is_a_413() {
    let app = spawn_app_with(AppOptions {
        body_limit: 4096,
        ..Default::default()
    })
    .await;
    let big = create(&"x".repeat(5000)).to_string();
    refused(&app, "alice", big.clone(), 413, "payload_too_large").await;
    // Without a Content-Length (chunked), the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(1000)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = futures_util::stream::iter(chunks);
    refused(
        &app,
        "alice",
        reqwest::Body::wrap_stream(stream),
        413,
        "payload_too_large",
    )
    .await;
    // Just under the limit is fine.
    let ok = app.post(&create(&"y".repeat(3000))).await;
    assert_eq!(ok.status, 200);
}
