//! What is acknowledged is on disk: restarts, long conversations, and a
//! shutdown in the middle of an answer.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn history_survives_a_restart() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("remember me").await;
    app.send(&thread, "and this").await;
    let before = app.all_items("alice", &thread).await;
    let db = app.db_path.clone();
    let dir = app.stop().await;

    let app = spawn_app_on(db, AppOptions::default()).await;
    assert_eq!(app.all_items("alice", &thread).await, before);
    let got = app
        .post(&json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
        .await
        .json();
    assert_eq!(got["title"], "remember me");
    // The restarted server continues the thread; new items sort after old.
    let events = app.send(&thread, "still here?").await;
    assert_eq!(answer_text(&events), "You said: \"still here?\"");
    let after = app.all_items("alice", &thread).await;
    assert_eq!(after[..4], before[..]);
    assert_eq!(after.len(), 6);
    drop(dir);
}

#[actix_web::test]
async fn fifty_turns_read_back_in_order() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("turn 0").await;
    for i in 1..50 {
        app.send(&thread, &format!("turn {i}")).await;
    }
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items.len(), 100);
    for (i, pair) in items.chunks(2).enumerate() {
        assert_eq!(pair[0]["type"], "user_message");
        assert_eq!(pair[0]["content"][0]["text"], format!("turn {i}"));
        assert_eq!(pair[1]["type"], "assistant_message");
        assert_eq!(
            pair[1]["content"][0]["text"],
            format!("You said: \"turn {i}\"")
        );
    }
}

#[actix_web::test]
async fn shutdown_mid_answer_cancels_like_a_disconnect() {
    let app = spawn_app_with(AppOptions {
        echo_delay: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let (thread, _) = app.create_thread("first").await;
    let body = add_message(&thread, "a long message that takes a while to echo back");
    let url = app.endpoint();
    let client = app.client.clone();
    let request = actix_web::rt::spawn(async move {
        let resp = client
            .post(url)
            .header("X-User-Id", "alice")
            .json(&body)
            .send()
            .await
            .unwrap();
        resp.text().await.unwrap_or_default()
    });
    actix_web::rt::time::sleep(Duration::from_millis(350)).await;
    let db = app.db_path.clone();
    // The engine stops first (as after the HTTP grace period ran out).
    app.engine.shutdown().await;
    let received = request.await.unwrap();
    assert!(received.contains("text_delta"), "{received}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let note: i64 = conn
        .query_row(
            "SELECT count(*) FROM items WHERE item_type = 'sdk_hidden_context'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(note, 1);
    let assistants: i64 = conn
        .query_row(
            "SELECT count(*) FROM items WHERE item_type = 'assistant_message'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(assistants, 2, "the partial answer is kept");
    // New work is refused while shutting down.
    let refused = app.post(&add_message(&thread, "too late")).await;
    assert_eq!(refused.status, 503);
    app.server.stop(false).await;
}
