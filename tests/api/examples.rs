//! The examples run, so they cannot rot: `cargo test` builds them, these
//! tests start the binaries and check what they do.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// The newest build of an example: `target/<profile>/examples/<name>` or
/// `<name>-<hash>` (what `cargo test` leaves there), next to this test
/// binary's `deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples");
    let is_build = |file: &str| {
        file == name
            || file
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|hash| !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit()))
    };
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (cargo test builds the examples)", dir.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_str().is_some_and(is_build))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .max()
        .map(|(_, path)| path)
        .unwrap_or_else(|| panic!("example {name} is not built in {}", dir.display()))
}

/// Kills the child when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_embed_examples_hold_a_conversation_and_exit() {
    for name in ["embed", "embed_tokio"] {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(example(name))
            .current_dir(dir.path())
            .output()
            .expect("example runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("thread.item.done"), "{name}: {stdout}");
        assert!(
            stdout.contains("\"data\":["),
            "{name} lists the items: {stdout}"
        );
    }
}

#[actix_web::test]
async fn the_custom_responder_example_streams_widgets_handles_actions_and_questions() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let _child = Running(
        Command::new(example("custom_responder"))
            .args([
                "--port",
                &port.to_string(),
                "--db",
                dir.path().join("db.sqlite3").to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("example starts"),
    );
    let url = format!("http://127.0.0.1:{port}/chatkit");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let post = |body: Value| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let resp = client
                .post(url)
                .header("X-User-Id", "demo")
                .json(&body)
                .send()
                .await?;
            resp.text().await
        }
    };
    let events = loop {
        match post(create("Please draft an email")).await {
            Ok(body) => break parse_sse(&body),
            Err(_) if Instant::now() < deadline => {
                actix_web::rt::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("the example did not start: {e}"),
        }
    };
    let thread = events[0]["thread"]["id"].as_str().unwrap().to_owned();
    // The widget streams: added, text deltas for its body, a full update
    // when the button appears, done.
    let widget_id = events
        .iter()
        .find(|e| e["type"] == "thread.item.added")
        .unwrap()["item"]["id"]
        .clone();
    let deltas = events
        .iter()
        .filter(|e| e["update"]["type"] == "widget.streaming_text.value_delta")
        .count();
    assert!(deltas >= 5, "{events:#?}");
    assert!(
        events
            .iter()
            .any(|e| e["update"]["type"] == "widget.root.updated")
    );
    let done = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "widget")
        .unwrap();
    assert_eq!(done["item"]["id"], widget_id);
    assert_eq!(
        done["item"]["copy_text"],
        "Hi team, the release is ready for review."
    );

    // Its button's action replaces it.
    let events = parse_sse(
        &post(json!({"type": "threads.custom_action", "params": {"thread_id": thread, "item_id": widget_id, "action": {"type": "send_email", "payload": {"draft_id": "d_1"}}}}))
            .await
            .unwrap(),
    );
    assert_eq!(
        types(&events),
        ["stream_options", "thread.item.replaced", "notice"]
    );
    assert_eq!(events[1]["item"]["widget"]["children"][2]["label"], "Sent");

    // A question, answered.
    let events = parse_sse(&post(add_message(&thread, "run a survey")).await.unwrap());
    let question = events
        .iter()
        .find(|e| e["item"]["type"] == "structured_input")
        .unwrap()["item"]["id"]
        .clone();
    let events = parse_sse(
        &post(json!({"type": "threads.add_structured_input", "params": {"thread_id": thread, "item_id": question, "input": {"answers": {"priority": {"values": ["High"]}}}}}))
            .await
            .unwrap(),
    );
    assert_eq!(answer_text(&events), "Thanks, noted priority: High.");

    // A client tool, answered by the "browser".
    let events = parse_sse(&post(add_message(&thread, "pick a color")).await.unwrap());
    assert_eq!(events.last().unwrap()["item"]["type"], "client_tool_call");
    let events = parse_sse(
        &post(json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread, "result": "blue"}}))
            .await
            .unwrap(),
    );
    assert_eq!(answer_text(&events), "You picked \"blue\".");
}
