//! The real binary killed (`kill -9`) or stopped (SIGTERM) while many
//! conversations stream: everything acknowledged is still there, intact,
//! and the threads go on normally afterwards.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{drain_frames, integrity_check};
use crate::helpers::*;
use crate::process::{CANCEL_NOTE, ServerProcess, stored_items};

/// What one client was told: its thread and every item it received a
/// `thread.item.done` for, in order, as `(id, type, text)`.
#[derive(Debug, Default)]
struct Acked {
    thread: Option<String>,
    items: Vec<(String, String, String)>,
    /// The client received at least one event of the stream running when
    /// the server went away.
    cut: bool,
}

/// The text of a user or assistant message item.
fn item_text(item: &Value) -> String {
    item["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Streams until the connection fails: creates a thread, then adds one
/// message after another, recording each acknowledged item. `open` counts
/// the streams currently between their headers and their end.
async fn chatter(
    client: reqwest::Client,
    url: String,
    n: usize,
    open: Rc<Cell<usize>>,
    acked: Rc<RefCell<Acked>>,
) {
    for k in 0.. {
        let text = format!("client {n} says message {k} with several words to stream");
        let thread = acked.borrow().thread.clone();
        let body = match &thread {
            None => create(&text),
            Some(t) => add_message(t, &text),
        };
        let Ok(resp) = client
            .post(format!("{url}/chatkit"))
            .header("X-User-Id", "alice")
            .json(&body)
            .send()
            .await
        else {
            return;
        };
        if resp.status() != 200 {
            return;
        }
        open.set(open.get() + 1);
        let mut stream = resp.bytes_stream();
        let mut buf = String::new();
        let mut finished = false;
        while let Some(chunk) = stream.next().await {
            let Ok(bytes) = chunk else { break };
            buf.push_str(std::str::from_utf8(&bytes).expect("UTF-8"));
            for event in drain_frames(&mut buf) {
                let mut a = acked.borrow_mut();
                a.cut = true;
                match event["type"].as_str().unwrap() {
                    "thread.created" => {
                        a.thread = Some(event["thread"]["id"].as_str().unwrap().to_owned())
                    }
                    "thread.item.done" => {
                        let item = &event["item"];
                        finished |= item["type"] == "assistant_message";
                        a.items.push((
                            item["id"].as_str().unwrap().to_owned(),
                            item["type"].as_str().unwrap().to_owned(),
                            item_text(item),
                        ));
                    }
                    _ => {}
                }
            }
        }
        open.set(open.get() - 1);
        if !finished {
            return;
        }
        acked.borrow_mut().cut = false;
    }
}

/// Every visible item of `thread` through `items.list`, oldest first.
async fn list_items(server: &ServerProcess, thread: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let (status, page) = server
            .post(&json!({"type": "items.list", "params": {"thread_id": thread, "order": "asc", "limit": 100, "after": after}}))
            .await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        if page["has_more"] != true {
            return out;
        }
        after = page["after"].clone();
    }
}

/// Checks that every item `acked` lists is stored with the text the client
/// saw, in the order the client saw them; returns how many were checked.
async fn check_acked(server: &ServerProcess, acked: &Acked) -> usize {
    let Some(thread) = &acked.thread else {
        assert!(acked.items.is_empty());
        return 0;
    };
    let stored = list_items(server, thread).await;
    let position: HashMap<&str, usize> = stored
        .iter()
        .enumerate()
        .map(|(i, item)| (item["id"].as_str().unwrap(), i))
        .collect();
    let mut last = None;
    for (id, kind, text) in &acked.items {
        let i = *position
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged {kind} {id} ({text:?}) lost: {stored:#?}"));
        assert_eq!(stored[i]["type"], kind.as_str(), "{id}");
        assert_eq!(item_text(&stored[i]), *text, "{id} changed");
        assert!(last < Some(i), "{id} out of order in {thread}");
        last = Some(i);
    }
    acked.items.len()
}

#[actix_web::test]
async fn kill_9_during_many_streams_loses_no_acknowledged_message() {
    const CLIENTS: usize = 60;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatkit.sqlite3");
    let mut server = ServerProcess::start(&db, 20, 1).await;

    let open = Rc::new(Cell::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let acked = Rc::new(RefCell::new(Acked::default()));
            let task = actix_web::rt::spawn(chatter(
                server.client.clone(),
                server.url.clone(),
                n,
                open.clone(),
                acked.clone(),
            ));
            (task, acked)
        })
        .collect();

    // Let every client finish a few turns, then kill while they stream.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        let answered = clients
            .iter()
            .filter(|(_, a)| a.borrow().items.len() >= 6)
            .count();
        if answered == CLIENTS && open.get() >= CLIENTS / 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clients too slow:\n{}",
            server.log()
        );
    }
    let open_at_kill = open.get();
    server.signal("KILL");
    let status = server.wait_exit(Duration::from_secs(10)).await;
    assert!(!status.success(), "{status}");
    for (task, _) in &clients {
        while !task.is_finished() {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
    }
    drop(server);

    let server = ServerProcess::start(&db, 0, 1).await;
    assert_eq!(integrity_check(&db), "ok");
    let mut checked = 0;
    let mut users = 0;
    let mut cut = 0;
    // Every client task has ended: take what they recorded.
    let results: Vec<Acked> = clients.iter().map(|(_, a)| a.take()).collect();
    for acked in &results {
        checked += check_acked(&server, acked).await;
        users += acked
            .items
            .iter()
            .filter(|(_, kind, _)| kind == "user_message")
            .count();
        cut += usize::from(acked.cut);
    }
    println!(
        "kill -9: {open_at_kill} streams open at the kill ({cut} had received events), \
         {checked} acknowledged items checked ({users} user messages, {} assistant messages) \
         in {CLIENTS} threads",
        checked - users
    );
    assert!(
        open_at_kill > 0 && cut > 0,
        "nothing was streaming at the kill"
    );

    // The restarted server serves every thread normally.
    for acked in &results {
        let thread = acked.thread.clone().unwrap();
        let (status, events) = server.post(&add_message(&thread, "after the crash")).await;
        assert_eq!(status, 200, "{events}");
        let events = events.as_array().unwrap();
        assert_eq!(answer_text(events), "You said: \"after the crash\"");
    }
}

/// The texts of the `thread.item.done` events of `events`, by item id.
fn done_items(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "thread.item.done")
        .map(|e| {
            (
                e["item"]["id"].as_str().unwrap().to_owned(),
                item_text(&e["item"]),
            )
        })
        .collect()
}

fn check_stored(db: &Path, thread: &str, events: &[Value]) -> Vec<(String, Value)> {
    let stored = stored_items(db, thread);
    for (id, text) in done_items(events) {
        let (_, item) = stored
            .iter()
            .find(|(_, item)| item["id"] == id.as_str())
            .unwrap_or_else(|| panic!("acknowledged {id} lost: {stored:#?}"));
        assert_eq!(item_text(item), text);
    }
    stored
}

#[actix_web::test]
async fn sigterm_with_many_open_streams_drains_then_cancels_and_loses_nothing() {
    const LONG: usize = 24;
    const SHORT: usize = 8;
    const GRACE_SECS: u64 = 2;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chatkit.sqlite3");
    let mut server = ServerProcess::start(&db, 100, GRACE_SECS).await;

    // Long answers (about 10 s of deltas) outlast the grace period; short
    // ones (under 1 s) finish within it.
    let long_text = (0..100)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut streams = Vec::new();
    for i in 0..LONG + SHORT {
        let text = if i < LONG {
            long_text.clone()
        } else {
            format!("short {i}")
        };
        let reader = server.open_stream(&create(&text)).await;
        streams.push((text, reader));
    }
    let mut streams: Vec<_> = {
        let mut out = Vec::new();
        for (text, mut reader) in streams {
            reader
                .until(Duration::from_secs(20), crate::process::is_text_delta)
                .await;
            let thread = reader.events[0]["thread"]["id"]
                .as_str()
                .unwrap()
                .to_owned();
            out.push((thread, text, reader));
        }
        out
    };

    let signalled = Instant::now();
    server.signal("TERM");
    for (_, _, reader) in &mut streams {
        reader.read_to_end(Duration::from_secs(20)).await;
    }
    let status = server.wait_exit(Duration::from_secs(20)).await;
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{status}:\n{}", server.log());
    // The grace period, then at most the engine's bound on storing the
    // cancelled turns.
    let limit = Duration::from_secs(GRACE_SECS) + chatkit_actors::engine::SHUTDOWN_CANCEL_TIMEOUT;
    assert!(
        took < limit,
        "exit took {took:?} with a {GRACE_SECS} s grace period"
    );
    drop(server);
    assert_eq!(integrity_check(&db), "ok");

    let mut partials = 0;
    for (i, (thread, text, reader)) in streams.iter().enumerate() {
        let stored = check_stored(&db, thread, &reader.events);
        let kinds: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
        let full = format!("You said: \"{text}\"");
        assert_eq!(item_text(&stored[0].1), *text);
        if i >= LONG {
            assert_eq!(kinds, ["user_message", "assistant_message"], "{stored:#?}");
            assert_eq!(answer_text(&reader.events), full);
            assert!(reader.text.ends_with("\n\n"), "torn: {:?}", reader.text);
            continue;
        }
        // Cut after the grace period exactly like a disconnect: the
        // partial answer holds at least what the client saw, then the note.
        assert_eq!(
            kinds,
            ["user_message", "assistant_message", "sdk_hidden_context"],
            "{stored:#?}"
        );
        let partial = item_text(&stored[1].1);
        let seen: String = reader
            .events
            .iter()
            .filter(|e| crate::process::is_text_delta(e))
            .map(|e| e["update"]["delta"].as_str().unwrap())
            .collect();
        assert!(
            partial.starts_with(&seen) && full.starts_with(&partial) && partial != full,
            "{partial:?} (seen {seen:?})"
        );
        assert_eq!(stored[2].1["content"], CANCEL_NOTE);
        partials += 1;
    }
    println!(
        "SIGTERM: {} streams open, {SHORT} finished within the {GRACE_SECS} s grace period, \
         {partials} cancelled and stored as partial answers; exit 0 after {took:?}",
        LONG + SHORT
    );

    // After a restart the cut threads go on.
    let server = ServerProcess::start(&db, 0, 1).await;
    for (thread, _, _) in streams.iter().take(3) {
        let (status, events) = server.post(&add_message(thread, "go on")).await;
        assert_eq!(status, 200, "{events}");
        assert_eq!(
            answer_text(events.as_array().unwrap()),
            "You said: \"go on\""
        );
    }
}
