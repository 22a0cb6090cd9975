//! Pagination walked exhaustively: both orders, several limits, hidden
//! items present in the thread. No duplicates, no gaps, no hidden item,
//! and every page is full while `has_more` is true.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cancellation::send_and_hang_up;
use crate::helpers::*;

pub async fn walk(app: &TestApp, thread: &str, order: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let page = app
            .post(&json!({"type": "items.list", "params": {"thread_id": thread, "order": order, "limit": limit, "after": after}}))
            .await
            .json();
        let data = page["data"].as_array().unwrap();
        let has_more = page["has_more"].as_bool().unwrap();
        if has_more {
            assert_eq!(
                data.len(),
                limit,
                "short page while has_more ({order}, limit {limit})"
            );
            assert_eq!(
                page["after"],
                data.last().unwrap()["id"],
                "after is not the last item of the page"
            );
        } else {
            assert!(page.get("after").is_none(), "after without has_more");
        }
        out.extend(data.iter().cloned());
        if !has_more {
            return out;
        }
        after = Some(page["after"].as_str().unwrap().to_owned());
    }
    panic!("pagination did not end");
}

#[actix_web::test]
async fn items_list_walks_every_visible_item_once_in_both_orders() {
    let app = spawn_app_with(AppOptions {
        echo_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let (thread, _) = app.create_thread("turn 0").await;
    for i in 1..12 {
        if i % 3 == 0 {
            send_and_hang_up(
                &app,
                &add_message(&thread, &format!("turn {i} to be cancelled here")),
                1,
            )
            .await;
            // Wait for the cancellation to be stored before the next turn.
            let sql = format!(
                "SELECT count(*) FROM items WHERE thread_id = '{thread}' AND item_type = 'sdk_hidden_context'"
            );
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while app.count_rows(&sql) < i64::from(i / 3) {
                assert!(std::time::Instant::now() < deadline);
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
        } else {
            app.send(&thread, &format!("turn {i}")).await;
        }
    }
    let hidden = app.count_rows("SELECT count(*) FROM items WHERE hidden = 1");
    let total = app.count_rows("SELECT count(*) FROM items");
    assert!(hidden >= 3, "the thread has hidden items");
    let visible = (total - hidden) as usize;

    let reference = walk(&app, &thread, "asc", 100).await;
    assert_eq!(reference.len(), visible);
    assert!(
        reference
            .iter()
            .all(|i| i["type"] == "user_message" || i["type"] == "assistant_message")
    );
    let ids: Vec<&str> = reference
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "duplicate ids");
    // Ascending order is the order of the conversation.
    let user_texts: Vec<&str> = reference
        .iter()
        .filter(|i| i["type"] == "user_message")
        .map(|i| i["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(user_texts.len(), 12);
    for (i, text) in user_texts.iter().enumerate() {
        assert!(text.starts_with(&format!("turn {i}")), "{user_texts:?}");
    }

    for limit in [1, 2, 3, 5, 7, 20, 100] {
        let asc = walk(&app, &thread, "asc", limit).await;
        assert_eq!(asc, reference, "asc, limit {limit}");
        let mut desc = walk(&app, &thread, "desc", limit).await;
        desc.reverse();
        assert_eq!(desc, reference, "desc, limit {limit}");
    }

    // The default (no params) is newest first, 20 items.
    let page = app
        .post(&json!({"type": "items.list", "params": {"thread_id": thread, "limit": 0}}))
        .await
        .json();
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 20.min(visible));
    assert_eq!(data[0], *reference.last().unwrap());

    // get_by_id embeds the oldest 20 visible items.
    let got = app
        .post(&json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
        .await
        .json();
    assert_eq!(
        got["items"]["data"].as_array().unwrap()[..],
        reference[..20.min(visible)]
    );
    assert_eq!(got["items"]["has_more"], visible > 20);
}

#[actix_web::test]
async fn threads_list_walks_every_thread_once() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..9 {
        created.push(app.create_thread(&format!("thread {i}")).await.0);
    }
    for limit in [1, 2, 4, 9, 10] {
        for order in ["asc", "desc"] {
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = app
                    .post(&json!({"type": "threads.list", "params": {"order": order, "limit": limit, "after": after}}))
                    .await
                    .json();
                let data = page["data"].as_array().unwrap();
                seen.extend(data.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
                if !page["has_more"].as_bool().unwrap() {
                    break;
                }
                assert_eq!(data.len(), limit);
                after = Some(page["after"].as_str().unwrap().to_owned());
            }
            if order == "desc" {
                seen.reverse();
            }
            assert_eq!(seen, created, "{order}, limit {limit}");
        }
    }
}
