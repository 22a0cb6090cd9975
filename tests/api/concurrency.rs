//! Threads never block each other; turns of one thread never interleave.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::*;

#[actix_web::test]
async fn two_hundred_threads_created_at_once() {
    let app = spawn_app().await;
    let replies = join_all((0..200).map(|i| {
        let app = &app;
        async move {
            app.post_as(&format!("user{}", i % 7), &create(&format!("hello {i}")))
                .await
        }
    }))
    .await;
    let mut ids = std::collections::HashSet::new();
    for (i, reply) in replies.iter().enumerate() {
        let events = reply.events();
        assert!(ids.insert(events[0]["thread"]["id"].as_str().unwrap().to_owned()));
        assert_eq!(answer_text(&events), format!("You said: \"hello {i}\""));
    }
    assert_eq!(app.count_rows("SELECT count(*) FROM threads"), 200);
    assert_eq!(app.count_rows("SELECT count(*) FROM items"), 400);
    let listed = app
        .post_as(
            "user3",
            &json!({"type": "threads.list", "params": {"limit": 100}}),
        )
        .await
        .json();
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        (0..200).filter(|i| i % 7 == 3).count()
    );
}

#[actix_web::test]
async fn concurrent_messages_to_one_thread_run_one_after_another() {
    let app = spawn_app_with(AppOptions {
        echo_delay: Duration::from_millis(5),
        ..Default::default()
    })
    .await;
    let (thread, _) = app.create_thread("start").await;
    let texts: Vec<String> = (1..=5).map(|i| format!("message number {i}")).collect();
    let bodies: Vec<_> = texts.iter().map(|t| add_message(&thread, t)).collect();
    let replies = join_all(bodies.iter().map(|b| app.post(b))).await;

    let mut answered = Vec::new();
    for (text, reply) in texts.iter().zip(&replies) {
        let events = reply.events();
        // Each stream is one whole turn: its own message, then its answer.
        assert_eq!(events[0]["item"]["content"][0]["text"], text.as_str());
        assert_eq!(answer_text(&events), format!("You said: \"{text}\""));
        let done_ids: Vec<_> = events
            .iter()
            .filter(|e| e["type"] == "thread.item.done")
            .map(|e| e["item"]["id"].clone())
            .collect();
        answered.push(done_ids);
    }
    // Stored in order, as pairs: each user message directly followed by
    // its own answer (turns did not interleave).
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items.len(), 12);
    let stored_pairs: Vec<Vec<_>> = items[2..]
        .chunks(2)
        .map(|p| vec![p[0]["id"].clone(), p[1]["id"].clone()])
        .collect();
    for pair in &stored_pairs {
        assert!(answered.contains(pair), "pair {pair:?} is not one turn");
    }
    for pair in items[2..].chunks(2) {
        let said = pair[0]["content"][0]["text"].as_str().unwrap();
        assert_eq!(
            pair[1]["content"][0]["text"],
            format!("You said: \"{said}\"")
        );
    }
}

#[actix_web::test]
async fn concurrent_first_requests_share_one_thread_actor() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("start").await;
    // Retire the actor by waiting is slow; instead restart the engine so
    // the thread is cold, then hit it from many requests at once.
    let dir = app.stop().await;
    let db = dir.as_ref().unwrap().path().join("chatkit.sqlite3");
    let app = spawn_app_on(db, AppOptions::default()).await;
    let bodies: Vec<_> = (0..10)
        .map(|i| add_message(&thread, &format!("m{i}")))
        .collect();
    let replies = join_all(bodies.iter().map(|b| app.post(b))).await;
    for r in &replies {
        r.events();
    }
    assert_eq!(app.engine.active_threads().await, 1);
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items.len(), 22);
    let ids: std::collections::HashSet<_> =
        items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 22);
    drop(dir);
}

#[actix_web::test]
async fn idle_thread_actors_stop() {
    let app = spawn_app_with(AppOptions {
        idle_timeout: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let (thread, _) = app.create_thread("hi").await;
    app.create_thread("another").await;
    assert_eq!(app.engine.active_threads().await, 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app.engine.active_threads().await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "idle actors did not stop"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    // A retired thread comes back on demand with its history.
    let events = app.send(&thread, "again").await;
    assert_eq!(answer_text(&events), "You said: \"again\"");
    assert_eq!(app.all_items("alice", &thread).await.len(), 4);
}
