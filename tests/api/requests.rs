//! The event sequence and JSON answer of each implemented request, pinned
//! with snapshots (ids and times redacted), plus what each one stored.

use insta::assert_json_snapshot;
use serde_json::{Value, json};

use crate::helpers::*;

#[actix_web::test]
async fn threads_create_streams_the_reference_sequence() {
    let app = spawn_app().await;
    let reply = app.post(&create("Hi there")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "text/event-stream; charset=utf-8");
    // Exact framing: every event is one `data: ` line and a blank line,
    // and no keep-alive comment shows up in an ordinary answer.
    assert!(reply.body.starts_with("data: {\"type\":\"thread.created\""));
    assert!(!reply.body.contains("\n:"), "keep-alive in a short answer");
    let events = reply.events();
    assert_eq!(
        types(&events),
        [
            "thread.created",
            "thread.item.done",
            "stream_options",
            "thread.item.added",
            "thread.item.updated", // content part added
            "thread.item.updated", // "You"
            "thread.item.updated", // " said:"
            "thread.item.updated", // " \"Hi"
            "thread.item.updated", // " there\""
            "thread.item.updated", // content part done
            "thread.item.done",
            "thread.updated",
        ]
    );
    assert_eq!(answer_text(&events), "You said: \"Hi there\"");
    assert_json_snapshot!(redact(&Value::Array(events)));
}

#[actix_web::test]
async fn add_user_message_answers_in_the_same_thread() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("first").await;
    let events = app.send(&thread, "second one").await;
    // No thread.created, the user message first, no title change (the
    // thread has one since the first turn).
    assert_eq!(
        types(&events)[..3],
        ["thread.item.done", "stream_options", "thread.item.added"]
    );
    assert_eq!(*types(&events).last().unwrap(), "thread.item.done");
    assert_eq!(events[0]["item"]["thread_id"], thread.as_str());
    assert_eq!(events[0]["item"]["content"][0]["text"], "second one");
    assert_eq!(answer_text(&events), "You said: \"second one\"");
    assert_json_snapshot!(redact(&Value::Array(events)));
    assert_eq!(app.all_items("alice", &thread).await.len(), 4);
}

#[actix_web::test]
async fn user_message_keeps_tags_quoted_text_and_inference_options() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("first").await;
    let input = json!({
        "content": [
            {"type": "input_text", "text": "What is the capital of "},
            {"type": "input_tag", "id": "country_fr", "text": "France", "data": {"iso": "FR", "n": null}, "group": "Countries", "interactive": true},
            {"type": "input_text", "text": "?"}
        ],
        "attachments": [],
        "quoted_text": "the capital",
        "inference_options": {"tool_choice": {"id": "web_search"}, "model": "gpt-4.1-mini"}
    });
    let events = app
        .post(&json!({"type": "threads.add_user_message", "params": {"thread_id": thread, "input": input}}))
        .await
        .events();
    let item = &events[0]["item"];
    assert_eq!(item["content"], input["content"]);
    assert_eq!(item["quoted_text"], "the capital");
    assert_eq!(item["inference_options"], input["inference_options"]);
    assert_eq!(
        answer_text(&events),
        "You said: \"What is the capital of France?\""
    );
    let stored = app.all_items("alice", &thread).await;
    assert_eq!(stored[2], *item, "stored exactly as announced");
}

#[actix_web::test]
async fn retry_after_item_deletes_later_items_and_answers_again() {
    let app = spawn_app().await;
    let (thread, created) = app.create_thread("one").await;
    let first_user = created[1]["item"]["id"].as_str().unwrap().to_owned();
    app.send(&thread, "two").await;
    assert_eq!(app.all_items("alice", &thread).await.len(), 4);

    let events = app
        .post(&json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": first_user}}))
        .await
        .events();
    // No removal events and the user message is not re-sent (§9.5).
    assert_eq!(types(&events)[..2], ["stream_options", "thread.item.added"]);
    assert_eq!(answer_text(&events), "You said: \"one\"");
    assert_json_snapshot!(redact(&Value::Array(events.clone())));

    let items = app.all_items("alice", &thread).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], first_user.as_str());
    assert_eq!(items[1]["id"], events[1]["item"]["id"]);
}

#[actix_web::test]
async fn get_by_id_returns_the_thread_with_its_oldest_items() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("Plan a trip to Rome").await;
    let reply = app
        .post(&json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/json");
    let body = reply.json();
    assert_eq!(body["title"], "Plan a trip to Rome");
    assert_eq!(body["metadata"], json!({}));
    assert_json_snapshot!(redact(&body));
}

#[actix_web::test]
async fn threads_list_is_newest_first_with_empty_item_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for text in ["a", "b", "c"] {
        ids.push(app.create_thread(text).await.0);
    }
    let page = app
        .post(&json!({"type": "threads.list", "params": {}}))
        .await
        .json();
    let listed: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    ids.reverse();
    assert_eq!(listed, ids);
    assert_eq!(page["has_more"], false);
    assert!(page.get("after").is_none());
    assert_json_snapshot!(redact(&page));
}

#[actix_web::test]
async fn items_list_pages_newest_first_by_default() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("one").await;
    app.send(&thread, "two").await;
    let page = app
        .post(&json!({"type": "items.list", "params": {"thread_id": thread, "limit": 3}}))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type, "application/json");
    let page = page.json();
    assert_eq!(page["has_more"], true);
    assert_eq!(page["after"], page["data"][2]["id"]);
    assert_eq!(page["data"][0]["content"][0]["text"], "You said: \"two\"");
    assert_json_snapshot!(redact(&page));
}

#[actix_web::test]
async fn threads_update_renames_without_events() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("x").await;
    let reply = app.post(&json!({"type": "threads.update", "params": {"thread_id": thread, "title": "Trip planning"}})).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["title"], "Trip planning");
    assert_eq!(body["items"], json!({"data": [], "has_more": false}));
    assert_json_snapshot!(redact(&body));
    let got = app
        .post(&json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
        .await
        .json();
    assert_eq!(got["title"], "Trip planning");
    // The next turn does not put the echo's automatic title back.
    let events = app.send(&thread, "more").await;
    assert!(!types(&events).contains(&"thread.updated"));
}

#[actix_web::test]
async fn threads_delete_removes_the_thread_and_its_items() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("bye").await;
    let (other, _) = app.create_thread("stay").await;
    let reply = app
        .post(&json!({"type": "threads.delete", "params": {"thread_id": thread}}))
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "{}"));
    let gone = app
        .post(&json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
        .await;
    assert_eq!(gone.status, 404);
    let again = app
        .post(&json!({"type": "threads.delete", "params": {"thread_id": thread}}))
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(
        app.count_rows(&format!(
            "SELECT count(*) FROM items WHERE thread_id = '{thread}'"
        )),
        0
    );
    assert_eq!(app.all_items("alice", &other).await.len(), 2);
}

#[actix_web::test]
async fn items_feedback_is_stored() {
    let app = spawn_app().await;
    let (thread, events) = app.create_thread("rate me").await;
    let answer = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message")
        .unwrap();
    let item_id = answer["item"]["id"].as_str().unwrap();
    let reply = app
        .post(&json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [item_id], "kind": "positive"}}))
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "{}"));
    assert_eq!(
        app.count_rows(&format!(
            "SELECT count(*) FROM feedback WHERE item_id = '{item_id}' AND kind = 'positive'"
        )),
        1
    );
}

#[actix_web::test]
async fn transcription_without_a_hook_is_a_501_and_bad_audio_a_400() {
    let app = spawn_app().await;
    let reply = app
        .post(&json!({"type": "input.transcribe", "params": {"audio_base64": "GkXfo2Zha2U=", "mime_type": "audio/webm;codecs=opus"}}))
        .await;
    assert_eq!(reply.status, 501, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_implemented");
    let reply = app
        .post(&json!({"type": "input.transcribe", "params": {"audio_base64": "abc", "mime_type": "audio/webm"}}))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

#[actix_web::test]
async fn healthz_and_method_not_allowed() {
    let app = spawn_app().await;
    let ok = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let get = app.client.get(app.endpoint()).send().await.unwrap();
    assert_eq!(get.status(), 405);
}
