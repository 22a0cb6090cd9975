//! A client that disconnects mid-answer cancels its turn (PROTOCOL.md
//! §10.6): the model stops, the partial answer is kept, a hidden note is
//! stored, and the thread takes the next message normally.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::helpers::*;

/// Sends a message and hangs up after `after_deltas` text deltas; returns
/// the events received.
pub async fn send_and_hang_up(app: &TestApp, body: &Value, after_deltas: usize) -> Vec<Value> {
    let resp = app
        .client
        .post(app.endpoint())
        .header("X-User-Id", "alice")
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut events = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if let Some(end) = text.rfind("\n\n") {
            events = parse_sse(&text[..end + 2]);
            let deltas = events
                .iter()
                .filter(|e| e["update"]["type"] == "assistant_message.content_part.text_delta")
                .count();
            if deltas >= after_deltas {
                break;
            }
        }
    }
    drop(stream);
    events
}

async fn wait_for_note(app: &TestApp, thread: &str) {
    let sql = format!(
        "SELECT count(*) FROM items WHERE thread_id = '{thread}' AND item_type = 'sdk_hidden_context'"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.count_rows(&sql) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no cancellation note stored"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn disconnect_mid_answer_keeps_the_partial_answer_and_a_hidden_note() {
    let app = spawn_app_with(AppOptions {
        echo_delay: Duration::from_millis(150),
        ..Default::default()
    })
    .await;
    let (thread, _) = app.create_thread("first").await;
    let long = "one two three four five six seven eight nine ten eleven twelve";
    let seen = send_and_hang_up(&app, &add_message(&thread, long), 2).await;
    let partial_id = seen
        .iter()
        .find(|e| e["type"] == "thread.item.added")
        .unwrap()["item"]["id"]
        .clone();
    wait_for_note(&app, &thread).await;

    // The model stopped: the partial answer did not grow to the end.
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items.len(), 4, "{items:#?}");
    assert_eq!(items[2]["content"][0]["text"], long);
    assert_eq!(items[3]["id"], partial_id);
    let partial = items[3]["content"][0]["text"].as_str().unwrap();
    assert!(partial.starts_with("You said:"), "{partial}");
    assert!(
        partial.len() < long.len(),
        "answer ran to the end: {partial}"
    );
    // The note is stored, hidden, with the reference's exact text.
    let note: String = rusqlite::Connection::open(&app.db_path)
        .unwrap()
        .query_row(
            "SELECT data FROM items WHERE item_type = 'sdk_hidden_context'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let note: Value = serde_json::from_str(&note).unwrap();
    assert_eq!(
        note["content"],
        "The user cancelled the stream. Stop responding to the prior request."
    );
    assert!(note["id"].as_str().unwrap().starts_with("shcx_"));

    // The partial message is not extended later by a stray agent.
    actix_web::rt::time::sleep(Duration::from_millis(600)).await;
    let again = app.all_items("alice", &thread).await;
    assert_eq!(again, items);

    // The thread accepts the next message normally.
    let app_fast = &app;
    let events = app_fast.send(&thread, "after").await;
    assert_eq!(answer_text(&events), "You said: \"after\"");
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items.len(), 6);
}
