//! Property tests over HTTP: junk request bodies always get a 4xx JSON
//! error and write nothing; arbitrary pagination parameters never fail
//! the server; pages of any size never overlap or skip an item. Cases are
//! drawn from proptest strategies with a deterministic runner (the checks
//! are async, so proptest's own runner and shrinking are not used; a
//! failure names its case).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::pagination::walk;

/// `cases` values of `strategy`, the same on every run.
fn samples<S: Strategy>(strategy: S, cases: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::deterministic();
    (0..cases)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Request envelopes that are JSON but not a valid request, or that name a
/// thread that does not exist.
fn wrong_requests() -> impl Strategy<Value = Value> {
    let kind = proptest::sample::select(vec![
        "threads.create",
        "threads.add_user_message",
        "threads.get_by_id",
        "items.list",
        "threads.update",
        "threads.delete",
        "threads.list",
        "items.feedback",
        "threads.retry_after_item",
        "attachments.delete",
    ]);
    let odd = prop_oneof![
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        Just(json!([])),
        Just(json!(true)),
    ];
    prop_oneof![
        // params not an object
        (kind.clone(), odd.clone()).prop_map(|(t, p)| json!({"type": t, "params": p})),
        // an unknown or non-string type
        ("[a-z.]{1,12}", odd.clone()).prop_map(|(t, p)| json!({"type": format!("x.{t}"), "params": {"x": p}})),
        odd.clone().prop_map(|t| json!({"type": t, "params": {}})),
        // a thread that does not exist
        (kind.prop_filter("names a thread", |t| !t.ends_with("create") && !t.ends_with("list") || *t == "items.list"), "[0-9a-f]{32}").prop_map(|(t, id)| json!({"type": t, "params": {
            "thread_id": format!("thr_{id}"), "item_id": format!("msg_{id}"), "item_ids": [format!("msg_{id}")],
            "kind": "positive", "title": "t", "attachment_id": format!("atc_{id}"),
            "input": {"content": [{"type": "input_text", "text": "x"}], "attachments": [], "inference_options": {}}}})),
        // not an object at all
        odd.prop_map(|v| json!([v])),
    ]
}

#[actix_web::test]
async fn junk_bodies_always_get_a_4xx_json_error_and_write_nothing() {
    let app = spawn_app().await;
    let bytes = samples(proptest::collection::vec(any::<u8>(), 0..200), 40);
    let wrong = samples(wrong_requests(), 60);
    let bodies = bytes
        .into_iter()
        .chain(wrong.iter().map(|v| serde_json::to_vec(v).unwrap()));
    let mut statuses = std::collections::BTreeMap::new();
    for body in bodies {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let reply = app.post_raw("alice", body).await;
        assert!(
            (400..500).contains(&reply.status),
            "{shown} -> {} {}",
            reply.status,
            reply.body
        );
        let code = reply.error_code();
        *statuses.entry((reply.status, code)).or_insert(0) += 1;
    }
    println!("junk bodies: {statuses:?}");
    for table in ["threads", "items", "attachments", "feedback"] {
        assert_eq!(
            app.count_rows(&format!("SELECT COUNT(*) FROM {table}")),
            0,
            "{table} written by a refused request"
        );
    }
    // The server is fine.
    let (_, events) = app.create_thread("still fine").await;
    assert_eq!(answer_text(&events), "You said: \"still fine\"");
}

/// Walks `threads.list` with `limit` and `order` to its end.
async fn walk_threads(app: &TestApp, order: &str, limit: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    for _ in 0..100 {
        let page = app
            .post(&json!({"type": "threads.list", "params": {"order": order, "limit": limit, "after": after}}))
            .await
            .json();
        out.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        if page["has_more"] != true {
            return out;
        }
        after = page["after"].clone();
    }
    panic!("threads.list did not end");
}

#[actix_web::test]
async fn arbitrary_pagination_never_fails_and_pages_never_overlap_or_skip() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("turn 0").await;
    for i in 1..7 {
        app.send(&thread, &format!("turn {i}")).await;
    }
    let mut threads = vec![thread.clone()];
    for i in 0..5 {
        threads.push(app.create_thread(&format!("thread {i}")).await.0);
    }
    let all = app.all_items("alice", &thread).await;
    assert_eq!(all.len(), 14);
    let ids: Vec<Value> = all.iter().map(|i| i["id"].clone()).collect();

    // Any after/limit/order: a page or a 400, never a 5xx.
    let after = prop_oneof![
        2 => Just(Value::Null),
        3 => proptest::sample::select(ids.clone()),
        2 => proptest::sample::select(threads.clone()).prop_map(Value::from),
        1 => "(msg|thr|x)_[0-9a-f]{0,32}".prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
    ];
    let limit = prop_oneof![
        6 => (-5i64..150).prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => Just(json!("ten")),
        1 => Just(json!(2.5)),
        1 => Just(Value::Null),
    ];
    let order = prop_oneof![
        4 => Just(json!("asc")),
        4 => Just(json!("desc")),
        1 => Just(json!("sideways")),
        1 => Just(json!(1)),
        1 => Just(Value::Null),
    ];
    let mut refused = 0;
    let cases = samples((after, limit, order, any::<bool>()), 80);
    for (after, limit, order, items) in &cases {
        let request = if *items {
            json!({"type": "items.list", "params": {"thread_id": thread, "after": after, "limit": limit, "order": order}})
        } else {
            json!({"type": "threads.list", "params": {"after": after, "limit": limit, "order": order}})
        };
        let reply = app.post(&request).await;
        match reply.status {
            200 => {
                let page = reply.json();
                let n = page["data"].as_array().unwrap().len();
                assert!(
                    n <= 100 && page["has_more"].is_boolean(),
                    "{request}: {page}"
                );
            }
            400 => {
                reply.error_code();
                refused += 1;
            }
            other => panic!("{request} -> {other} {}", reply.body),
        }
    }
    println!(
        "pagination: {} arbitrary requests, {refused} refused with a 400",
        cases.len()
    );

    // Any page size, both orders: every item and thread exactly once, in
    // order.
    let mut reversed = all.clone();
    reversed.reverse();
    for (limit, desc) in samples((1usize..16, any::<bool>()), 24) {
        let order = if desc { "desc" } else { "asc" };
        let walked = walk(&app, &thread, order, limit).await;
        let expected = if desc { &reversed } else { &all };
        assert_eq!(&walked, expected, "items.list {order} limit {limit}");
        let mut walked = walk_threads(&app, order, limit as i64).await;
        assert_eq!(
            walked.len(),
            threads.len(),
            "threads.list {order} limit {limit}"
        );
        walked.sort();
        let mut want = threads.clone();
        want.sort();
        assert_eq!(walked, want, "threads.list {order} limit {limit}");
    }
}
