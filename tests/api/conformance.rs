//! Our wire output against the reference's golden transcripts and response
//! bodies (`shared/fixtures`, or `$CHATKIT_FIXTURES`): the same event
//! sequence, the same JSON key order at every level, compact `data: `
//! frames, and our own id and timestamp forms (PROTOCOL.md §1, §3).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::*;

/// The fixtures folder; panics with a clear message when it is missing.
fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("CHATKIT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures"))
        });
    assert!(
        dir.join("transcripts").is_dir() && dir.join("responses").is_dir(),
        "golden fixtures not found at {}: check out `shared/fixtures` beside this \
         repository or set CHATKIT_FIXTURES",
        dir.display()
    );
    dir
}

fn fixture_text(rel: &str) -> String {
    let path = fixtures_dir().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

fn fixture_json(rel: &str) -> Value {
    serde_json::from_str(&fixture_text(rel)).unwrap_or_else(|e| panic!("fixture {rel}: {e}"))
}

/// The events of a golden transcript.
fn golden_events(name: &str) -> Vec<Value> {
    parse_sse(&fixture_text(&format!("transcripts/{name}.sse")))
}

/// Key order is only observable if `serde_json` keeps it
/// (`preserve_order`); without it every key-order check would be vacuous.
fn assert_key_order_is_observable() {
    let v: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["b", "a"], "serde_json lost `preserve_order`");
}

/// Collects every difference in object key order (recursively) between
/// `ours` and `golden`. With `strict_arrays`, arrays must have the same
/// length; otherwise the elements present in both are compared.
fn key_order_diffs(
    ours: &Value,
    golden: &Value,
    path: &str,
    strict_arrays: bool,
    out: &mut Vec<String>,
) {
    match (ours, golden) {
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            if ka != kb {
                out.push(format!("{path}: keys {ka:?}, golden {kb:?}"));
            }
            for (k, va) in a {
                if let Some(vb) = b.get(k) {
                    key_order_diffs(va, vb, &format!("{path}.{k}"), strict_arrays, out);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if strict_arrays && a.len() != b.len() {
                out.push(format!("{path}: {} elements, golden {}", a.len(), b.len()));
            }
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                key_order_diffs(va, vb, &format!("{path}[{i}]"), strict_arrays, out);
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => {}
        _ => out.push(format!(
            "{path}: {ours} is not the same kind as golden {golden}"
        )),
    }
}

fn assert_same_key_order(ours: &Value, golden: &Value, what: &str, strict_arrays: bool) {
    let mut diffs = Vec::new();
    key_order_diffs(ours, golden, "$", strict_arrays, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{what}: key order differs from the golden one:\n  {}\nours:   {ours}\ngolden: {golden}",
        diffs.join("\n  ")
    );
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, exactly.
fn is_our_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

/// `thr_` or `msg_` and 32 lowercase hex digits, exactly.
fn is_our_id(s: &str) -> bool {
    match s.split_once('_') {
        Some(("thr" | "msg", hex)) => {
            hex.len() == 32 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        }
        _ => false,
    }
}

#[test]
fn id_and_timestamp_checks_reject_near_misses() {
    assert!(is_our_timestamp("2026-11-26T13:00:35.262349Z"));
    for bad in [
        "2025-06-01T09:30:01.623567",
        "2026-11-26T13:00:35Z",
        "2026-11-26T13:00:35.26234Z",
        "2026-11-26 13:00:35.262349Z",
        "2026-11-26T13:00:35.262349+00:00",
    ] {
        assert!(!is_our_timestamp(bad), "{bad}");
    }
    assert!(is_our_id("msg_0190f3c2a8d47b6e9c1f2a3b4c5d6e7f"));
    for bad in [
        "msg_1e822e44",
        "msg_0190F3C2A8D47B6E9C1F2A3B4C5D6E7F",
        "shcx_0190f3c2a8d47b6e9c1f2a3b4c5d6e7f",
        "msg_0190f3c2-a8d4-7b6e-9c1f-2a3b4c5d6e7",
    ] {
        assert!(!is_our_id(bad), "{bad}");
    }
}

/// Checks every `created_at`, every id of a thread or item (an `id` next
/// to a `created_at`), every `thread_id` and `item_id` in `v`.
fn check_ids_and_times(v: &Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                let ours = match k.as_str() {
                    "created_at" => Some(is_our_timestamp(x.as_str().unwrap_or_default())),
                    "thread_id" | "item_id" => Some(is_our_id(x.as_str().unwrap_or_default())),
                    "id" if o.contains_key("created_at") => {
                        Some(is_our_id(x.as_str().unwrap_or_default()))
                    }
                    _ => None,
                };
                assert!(ours != Some(false), "bad {k} {x} in {v}");
                check_ids_and_times(x);
            }
        }
        Value::Array(a) => a.iter().for_each(check_ids_and_times),
        _ => {}
    }
}

/// Checks that `body` is exactly `data: <compact JSON>\n\n` frames (no
/// comment, no spaces) and returns the events.
fn compact_frames(body: &str) -> Vec<Value> {
    let events = parse_sse(body);
    let rebuilt: String = events
        .iter()
        .map(|e| format!("data: {}\n\n", serde_json::to_string(e).unwrap()))
        .collect();
    assert_eq!(
        body, rebuilt,
        "frames are not exactly `data: ` + compact JSON"
    );
    events
}

/// Replaces ids (`thr_`/`msg_` + hex) by placeholders numbered by first
/// appearance (kept in `ids` across calls, so links between events
/// survive), timestamps by `<time>`, and assistant text by `<text>`.
fn normalise(v: &Value, ids: &mut HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            if let Some((prefix @ ("thr" | "msg"), hex)) = s.split_once('_')
                && !hex.is_empty()
                && hex.bytes().all(|c| c.is_ascii_hexdigit())
            {
                let n = ids.len() + 1;
                return Value::String(
                    ids.entry(s.clone())
                        .or_insert_with(|| format!("{prefix}_{n}"))
                        .clone(),
                );
            }
            v.clone()
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| normalise(x, ids)).collect()),
        Value::Object(o) => {
            let output_text = o.get("type").is_some_and(|t| t == "output_text");
            Value::Object(
                o.iter()
                    .map(|(k, x)| {
                        let x = match k.as_str() {
                            "created_at" => json!("<time>"),
                            "text" if output_text => json!("<text>"),
                            "delta" => json!("<delta>"),
                            _ => normalise(x, ids),
                        };
                        (k.clone(), x)
                    })
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// `type`, plus `update.type` for item updates.
fn signature(e: &Value) -> String {
    match e["update"]["type"].as_str() {
        Some(update) => format!("{}/{update}", e["type"].as_str().unwrap()),
        None => e["type"].as_str().unwrap().to_owned(),
    }
}

/// Groups events into runs: consecutive text deltas form one run, every
/// other event is a run of its own.
fn runs(events: &[Value]) -> Vec<Vec<&Value>> {
    let mut out: Vec<Vec<&Value>> = Vec::new();
    for e in events {
        let delta = signature(e).ends_with(".text_delta");
        match out.last_mut() {
            Some(run) if delta && signature(run[0]).ends_with(".text_delta") => run.push(e),
            _ => out.push(vec![e]),
        }
    }
    out
}

#[actix_web::test]
async fn threads_create_matches_the_golden_transcript() {
    assert_key_order_is_observable();
    let golden = golden_events("threads_create");
    let request = fixture_json("transcripts/threads_create.request.json");
    assert_eq!(
        request["params"]["input"]["content"][0]["text"], "Hi there",
        "golden request changed"
    );
    let app = spawn_app().await;
    // The golden request itself, `metadata` and all.
    let reply = app.post(&request).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "text/event-stream; charset=utf-8");
    let ours = compact_frames(&reply.body);
    ours.iter().for_each(check_ids_and_times);

    // One extra trailing event: the echo model titles the new thread.
    let (last, ours_main) = ours.split_last().unwrap();
    let ours_runs = runs(ours_main);
    let golden_runs = runs(&golden);
    let sigs = |rs: &[Vec<&Value>]| rs.iter().map(|r| signature(r[0])).collect::<Vec<_>>();
    assert_eq!(sigs(&ours_runs), sigs(&golden_runs), "event sequence");
    assert!(
        ours_runs.iter().any(|r| r.len() > 1),
        "deltas did not collapse"
    );

    let mut our_ids = HashMap::new();
    let mut golden_ids = HashMap::new();
    for (ours_run, golden_run) in ours_runs.iter().zip(&golden_runs) {
        let g = golden_run[0];
        let normal_g = normalise(g, &mut golden_ids);
        for e in ours_run {
            assert_same_key_order(e, g, &signature(e), true);
            // Equal to the golden event once ids, times and the answer's
            // text are set aside (this also checks the links between ids).
            assert_eq!(
                normalise(e, &mut our_ids),
                normal_g,
                "{} differs from the golden event",
                signature(e)
            );
        }
    }

    // Links and times the normalisation set aside.
    let thread = &ours[0]["thread"];
    let added = ours
        .iter()
        .find(|e| e["type"] == "thread.item.added")
        .unwrap();
    let done = &ours_main[ours_main.len() - 1];
    assert_eq!(done["item"]["type"], "assistant_message");
    assert_eq!(added["item"]["created_at"], done["item"]["created_at"]);
    assert_eq!(done["item"]["content"][0]["text"], "You said: \"Hi there\"");
    let streamed: String = ours
        .iter()
        .filter_map(|e| e["update"]["delta"].as_str())
        .collect();
    assert_eq!(streamed, "You said: \"Hi there\"");

    // The extra event: a `thread.updated` with the title, shaped like the
    // golden title change of `threads_add_user_message`.
    let golden_updated = golden_events("threads_add_user_message").pop().unwrap();
    assert_eq!(golden_updated["type"], "thread.updated");
    assert_same_key_order(last, &golden_updated, "trailing thread.updated", true);
    assert_eq!(
        *last,
        json!({"type": "thread.updated", "thread": {
            "title": "Hi there",
            "id": thread["id"],
            "created_at": thread["created_at"],
            "status": {"type": "active"},
            "metadata": {},
            "items": {"data": [], "has_more": false},
        }})
    );
}

/// The golden `threads.add_user_message` request, sent to `thread`
/// without its attachments (not supported yet).
fn golden_add_user_message(thread: &str) -> Value {
    let mut request = fixture_json("transcripts/threads_add_user_message.request.json");
    assert_eq!(request["type"], "threads.add_user_message");
    request["params"]["thread_id"] = json!(thread);
    request["params"]["input"]["attachments"] = json!([]);
    request
}

#[actix_web::test]
async fn add_user_message_stores_the_golden_user_message() {
    assert_key_order_is_observable();
    let golden = golden_events("threads_add_user_message");
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("Hi there").await;
    let reply = app.post(&golden_add_user_message(&thread)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ours = compact_frames(&reply.body);
    ours.iter().for_each(check_ids_and_times);

    // The user message first, exactly the golden one but for id, thread,
    // time and attachments; the key order includes `attachments`' place.
    assert_eq!(signature(&ours[0]), signature(&golden[0]));
    assert_same_key_order(&ours[0], &golden[0], "user message done", false);
    let item = &ours[0]["item"];
    assert_eq!(item["type"], "user_message");
    assert_eq!(item["thread_id"], thread.as_str());
    assert_eq!(item["attachments"], json!([]));
    let strip = |v: &Value| {
        let mut v = v.clone();
        let o = v.as_object_mut().unwrap();
        for k in ["id", "thread_id", "created_at", "attachments"] {
            assert!(o.remove(k).is_some(), "no {k} in the user message");
        }
        v
    };
    assert_eq!(strip(item), strip(&golden[0]["item"]));

    // Then `stream_options`, as in the golden transcript, and the echo of
    // the message with its tag rendered as text.
    assert_eq!(ours[1], golden[1]);
    assert_eq!(
        answer_text(&ours),
        "You said: \"What is the capital of France?\""
    );
    // Read back, the stored message is the one that was sent.
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items[2], *item);
}

/// A JSON reply: 200, `application/json`, compact.
fn json_body(reply: &Reply) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "application/json");
    let v = reply.json();
    assert_eq!(
        reply.body,
        serde_json::to_string(&v).unwrap(),
        "not compact JSON"
    );
    check_ids_and_times(&v);
    v
}

#[actix_web::test]
async fn json_responses_have_the_golden_key_order() {
    assert_key_order_is_observable();
    let app = spawn_app().await;
    // As in the recorded run: a titled thread with "Hi there" and the
    // tagged message, and a newer thread without a title.
    let (thread, _) = app.create_thread("Hi there").await;
    let reply = app.post(&golden_add_user_message(&thread)).await;
    let events = reply.events();
    let last_answer = events
        .iter()
        .rfind(|e| e["type"] == "thread.item.done")
        .unwrap()["item"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let untitled = app
        .post(&json!({"type": "threads.create", "params": {"input": {"content": [], "attachments": [], "inference_options": {}}}}))
        .await
        .events();
    let untitled = untitled[0]["thread"]["id"].as_str().unwrap().to_owned();

    let with_thread = |name: &str, id: &str| {
        let mut request = fixture_json(&format!("requests/{name}.json"));
        request["params"]["thread_id"] = json!(id);
        request
    };

    // threads.get_by_id: the thread with its four items.
    let ours = json_body(&app.post(&with_thread("threads.get_by_id", &thread)).await);
    let golden = fixture_json("responses/threads.get_by_id.json");
    assert_same_key_order(&ours, &golden, "threads.get_by_id", false);
    assert_eq!(ours["title"], "Hi there");
    assert_eq!(ours["items"]["data"].as_array().unwrap().len(), 4);

    // threads.list: newest (untitled) first, as in the golden page.
    let ours = json_body(&app.post(&fixture_json("requests/threads.list.json")).await);
    let golden = fixture_json("responses/threads.list.json");
    assert_same_key_order(&ours, &golden, "threads.list", false);
    assert_eq!(ours["data"][0]["id"], untitled.as_str());
    assert_eq!(ours["data"][1]["id"], thread.as_str());
    assert_eq!(ours["data"].as_array().unwrap().len(), 2);

    // items.list (desc): the page and every item.
    let ours = json_body(&app.post(&with_thread("items.list", &thread)).await);
    let golden = fixture_json("responses/items.list.json");
    assert_same_key_order(&ours, &golden, "items.list", false);
    assert_eq!(ours["data"].as_array().unwrap().len(), 4);
    assert_eq!(ours["data"][0]["id"], last_answer.as_str());

    // threads.update: the whole body, ids and times aside.
    let ours = json_body(&app.post(&with_thread("threads.update", &thread)).await);
    let golden = fixture_json("responses/threads.update.json");
    assert_same_key_order(&ours, &golden, "threads.update", true);
    assert_eq!(
        normalise(&ours, &mut HashMap::new()),
        normalise(&golden, &mut HashMap::new())
    );

    // items.feedback and threads.delete: exactly `{}`.
    let mut request = with_thread("items.feedback", &thread);
    request["params"]["item_ids"] = json!([last_answer]);
    let reply = app.post(&request).await;
    json_body(&reply);
    assert_eq!(reply.body, "{}");
    assert_eq!(fixture_text("responses/items.feedback.json"), "{}");
    assert_eq!(
        app.count_rows("SELECT count(*) FROM feedback WHERE kind = 'positive'"),
        1
    );

    let reply = app.post(&with_thread("threads.delete", &untitled)).await;
    json_body(&reply);
    assert_eq!(reply.body, "{}");
    assert_eq!(fixture_text("responses/threads.delete.json"), "{}");
    let left = json_body(&app.post(&fixture_json("requests/threads.list.json")).await);
    assert_eq!(left["data"].as_array().unwrap().len(), 1);
    assert_eq!(left["data"][0]["title"], "Trip planning");
}
