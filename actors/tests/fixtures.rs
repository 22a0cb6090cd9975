//! Golden fixtures: every file under the fixtures directory (produced by
//! the reference SDK, see its README.md) is parsed into the matching wire
//! type, serialized again, and compared **byte for byte** with the file.
//!
//! The only allowed difference is the form of `created_at` timestamps:
//! the reference writes naive ISO-8601, we write RFC 3339 UTC with six
//! digits and `Z`, so the file's `"created_at":"..."` values are
//! normalised with [`Timestamp`] before comparing. Ids are not touched.
//!
//! The type is chosen from the folder and the file name. A file this test
//! does not know fails it, so a new fixture cannot be skipped silently.
//! All failures are reported together.
//!
//! The directory is `$CHATKIT_FIXTURES` if set, else `shared/fixtures`
//! next to the workspace.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chatkit_actors::protocol::{
    Action, ActionConfig, Annotation, Attachment, ChatKitRequest, EmptyResponse, Page,
    REQUEST_TYPES, Source, SyncCustomActionResponse, Task, Thread, ThreadItem, ThreadStatus,
    ThreadStreamEvent, TranscriptionResult, WidgetRoot, WorkflowSummary,
};
use chatkit_actors::time::Timestamp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The reference fixture set has 185 files; fewer means the directory is
/// wrong or incomplete.
const MIN_FIXTURES: usize = 185;

/// Item `type` names as they appear in the store call logs.
const ITEM_TYPES: [&str; 11] = [
    "user_message",
    "assistant_message",
    "client_tool_call",
    "widget",
    "generated_image",
    "structured_input",
    "workflow",
    "task",
    "end_of_turn",
    "hidden_context_item",
    "sdk_hidden_context",
];

/// Store operations the reference server performs (PROTOCOL.md §11.1).
const STORE_OPS: [&str; 12] = [
    "load_thread",
    "save_thread",
    "load_threads",
    "delete_thread",
    "load_thread_items",
    "add_thread_item",
    "save_item",
    "load_item",
    "delete_thread_item",
    "save_attachment",
    "load_attachment",
    "delete_attachment",
];

fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("CHATKIT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures"
            ))
        });
    assert!(
        dir.is_dir(),
        "fixtures directory {} does not exist: set CHATKIT_FIXTURES to the golden fixtures folder",
        dir.display()
    );
    dir
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read directory {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot read entry in {}: {e}", dir.display()))
            .path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// What the whole run saw, for the cross-file checks at the end.
#[derive(Default)]
struct Seen {
    request_types: BTreeSet<&'static str>,
    transcripts: BTreeSet<String>,
    transcript_requests: BTreeSet<String>,
    scenarios: BTreeSet<String>,
    sse_frames: usize,
}

#[test]
fn every_fixture_round_trips_byte_for_byte() {
    let root = fixtures_dir();
    let mut files = Vec::new();
    collect_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() >= MIN_FIXTURES,
        "only {} files under {} (expected at least {MIN_FIXTURES})",
        files.len(),
        root.display()
    );

    let mut seen = Seen::default();
    let mut failures = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .expect("file is under the root")
            .to_string_lossy()
            .replace('\\', "/");
        let result = std::fs::read(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| check_file(&rel, &bytes, &mut seen));
        if let Err(e) = result {
            failures.push(format!("{rel}: {e}"));
        }
    }

    // Cross-file checks.
    let missing: Vec<&str> = REQUEST_TYPES
        .iter()
        .copied()
        .filter(|t| !seen.request_types.contains(t))
        .collect();
    if !missing.is_empty() {
        failures.push(format!("requests/: no fixture for {missing:?}"));
    }
    for name in seen
        .transcripts
        .symmetric_difference(&seen.transcript_requests)
    {
        failures.push(format!(
            "transcripts/{name}: needs both {name}.sse and {name}.request.json"
        ));
    }
    for name in seen.scenarios.difference(&seen.transcripts) {
        failures.push(format!("scenarios/{name}.*: no transcript of that name"));
    }
    if seen.sse_frames == 0 {
        failures.push("transcripts/: no SSE frame was checked".to_owned());
    }

    assert!(
        failures.is_empty(),
        "{} of {} fixture files failed:\n  {}",
        failures.len(),
        files.len(),
        failures.join("\n  ")
    );
    eprintln!(
        "{} fixture files round-tripped ({} SSE frames)",
        files.len(),
        seen.sse_frames
    );
}

fn check_file(rel: &str, bytes: &[u8], seen: &mut Seen) -> Result<(), String> {
    let (folder, name) = rel.split_once('/').unwrap_or(("", rel));
    if name.contains('/') {
        return Err("unexpected nested folder".to_owned());
    }
    match folder {
        "" if name == "README.md" => {
            if bytes.is_empty() {
                return Err("empty README".to_owned());
            }
            Ok(())
        }
        "requests" => {
            let stem = json_stem(name)?;
            let request = check_request(bytes)?;
            let type_name = request.request.type_name();
            expect_named(stem, type_name)?;
            seen.request_types.insert(type_name);
            Ok(())
        }
        "transcripts" => {
            if let Some(stem) = name.strip_suffix(".request.json") {
                let request = check_request(bytes)?;
                if !request.request.is_streaming() {
                    return Err(format!(
                        "{} is not a streaming request type",
                        request.request.type_name()
                    ));
                }
                seen.transcript_requests.insert(stem.to_owned());
                Ok(())
            } else if let Some(stem) = name.strip_suffix(".sse") {
                seen.sse_frames += check_sse(bytes)?;
                seen.transcripts.insert(stem.to_owned());
                Ok(())
            } else {
                Err("unknown transcript file (expected <name>.sse or <name>.request.json)".into())
            }
        }
        "events" => {
            let event: ThreadStreamEvent = round_trip(bytes)?;
            expect_named(json_stem(name)?, event.type_name())
        }
        "item_updates" => {
            let event: ThreadStreamEvent = round_trip(bytes)?;
            let ThreadStreamEvent::ThreadItemUpdated { update, .. } = &event else {
                return Err(format!(
                    "expected a thread.item.updated event, got {}",
                    event.type_name()
                ));
            };
            expect_named(json_stem(name)?, update.type_name())
        }
        "items" => {
            let item: ThreadItem = round_trip(bytes)?;
            expect_named(json_stem(name)?, item.type_name())
        }
        "responses" => check_response(json_stem(name)?, bytes),
        "types" => check_type(json_stem(name)?, bytes),
        "scenarios" => check_scenario(name, bytes, seen),
        _ => Err("unknown fixture folder: teach tests/fixtures.rs about it".to_owned()),
    }
}

fn json_stem(name: &str) -> Result<&str, String> {
    name.strip_suffix(".json")
        .ok_or_else(|| "unknown file (expected a .json file)".to_owned())
}

/// The file is named after the wire type: `<type>.json` or
/// `<type>.<variant>.json`.
fn expect_named(stem: &str, type_name: &str) -> Result<(), String> {
    let variant_of = stem
        .strip_prefix(type_name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
    if variant_of {
        Ok(())
    } else {
        Err(format!(
            "holds a `{type_name}`, which its name does not say"
        ))
    }
}

/// A request body: round-trips through serde, and `ChatKitRequest::parse`
/// (the server's entry point) reads the same request.
fn check_request(bytes: &[u8]) -> Result<ChatKitRequest, String> {
    let request: ChatKitRequest = round_trip(bytes)?;
    let parsed = ChatKitRequest::parse(bytes).map_err(|e| format!("parse failed: {e}"))?;
    if parsed != request {
        return Err(format!(
            "ChatKitRequest::parse disagrees with Deserialize: {parsed:?} vs {request:?}"
        ));
    }
    Ok(request)
}

fn check_response(stem: &str, bytes: &[u8]) -> Result<(), String> {
    let request_type = REQUEST_TYPES
        .iter()
        .copied()
        .filter(|t| expect_named(stem, t).is_ok())
        .max_by_key(|t| t.len())
        .ok_or("unknown response file: not named after a request type")?;
    match request_type {
        "threads.get_by_id" | "threads.update" => round_trip::<Thread>(bytes).map(drop),
        "threads.list" => round_trip::<Page<Thread>>(bytes).map(drop),
        "items.list" => round_trip::<Page<ThreadItem>>(bytes).map(drop),
        "items.feedback" | "attachments.delete" | "threads.delete" => {
            round_trip::<EmptyResponse>(bytes).map(drop)
        }
        "attachments.create" => round_trip::<Attachment>(bytes).map(drop),
        "input.transcribe" => round_trip::<TranscriptionResult>(bytes).map(drop),
        "threads.sync_custom_action" => round_trip::<SyncCustomActionResponse>(bytes).map(drop),
        streaming => Err(format!(
            "{streaming} is a streaming request: its responses belong in transcripts/"
        )),
    }
}

fn check_type(stem: &str, bytes: &[u8]) -> Result<(), String> {
    let prefix = stem.split('.').next().unwrap_or(stem);
    match prefix {
        "action" => round_trip::<Action>(bytes).map(drop),
        "action_config" => round_trip::<ActionConfig>(bytes).map(drop),
        "annotation" => round_trip::<Annotation>(bytes).map(drop),
        "attachment" => round_trip::<Attachment>(bytes).map(drop),
        "page" => round_trip::<Page<ThreadItem>>(bytes).map(drop),
        "source" => round_trip::<Source>(bytes).map(drop),
        "sync_custom_action_response" => round_trip::<SyncCustomActionResponse>(bytes).map(drop),
        "task" => round_trip::<Task>(bytes).map(drop),
        "thread" => round_trip::<Thread>(bytes).map(drop),
        "thread_status" => round_trip::<ThreadStatus>(bytes).map(drop),
        "transcription_result" => round_trip::<TranscriptionResult>(bytes).map(drop),
        "widget" => round_trip::<WidgetRoot>(bytes).map(drop),
        "workflow_summary" => round_trip::<WorkflowSummary>(bytes).map(drop),
        other => Err(format!(
            "unknown building block `{other}`: teach tests/fixtures.rs its type"
        )),
    }
}

fn check_scenario(name: &str, bytes: &[u8], seen: &mut Seen) -> Result<(), String> {
    let (transcript, kind) = name
        .split_once('.')
        .ok_or("unknown scenario file (expected <transcript>.<kind>.json)")?;
    seen.scenarios.insert(transcript.to_owned());
    match kind {
        // An exact `items.list` response body.
        "items_list_after.json" => round_trip::<Page<ThreadItem>>(bytes).map(drop),
        // Pretty-printed: compare as parsed JSON.
        "stored_items.json" => {
            let original: Value = parse_json(bytes)?;
            let items: Vec<ThreadItem> = serde_json::from_value(original.clone())
                .map_err(|e| format!("not a list of thread items: {e}"))?;
            let mut expected = original;
            normalise_created_at_values(&mut expected)?;
            let actual = serde_json::to_value(&items).map_err(|e| e.to_string())?;
            if actual != expected {
                return Err(format!(
                    "items differ after a round trip:\n    expected {expected}\n    actual   {actual}"
                ));
            }
            Ok(())
        }
        // Pretty-printed logs of the store calls, e.g.
        // "add_thread_item(thr_1, user_message:msg_1)". They hold no item
        // or thread objects, only strings, so there is nothing to
        // round-trip: check the shape of every call instead.
        "store_calls.json" => {
            let calls: Vec<String> = serde_json::from_slice(bytes)
                .map_err(|e| format!("not a JSON array of strings: {e}"))?;
            if calls.is_empty() {
                return Err("empty call log".to_owned());
            }
            calls.iter().try_for_each(|call| check_store_call(call))
        }
        _ => Err(format!("unknown scenario kind `{kind}`")),
    }
}

fn check_store_call(call: &str) -> Result<(), String> {
    let bad = |why: &str| format!("store call {call:?}: {why}");
    let (op, rest) = call.split_once('(').ok_or_else(|| bad("no `(`"))?;
    let args = rest
        .strip_suffix(')')
        .ok_or_else(|| bad("no closing `)`"))?;
    if !STORE_OPS.contains(&op) {
        return Err(bad("unknown store operation"));
    }
    if args.is_empty() {
        return Err(bad("no arguments"));
    }
    if matches!(op, "add_thread_item" | "save_item") {
        let (_, item) = args
            .split_once(", ")
            .ok_or_else(|| bad("expected `thread, type:id`"))?;
        let (item_type, _) = item
            .split_once(':')
            .ok_or_else(|| bad("expected `type:id`"))?;
        if !ITEM_TYPES.contains(&item_type) {
            return Err(bad("unknown item type"));
        }
    }
    Ok(())
}

/// An SSE body: a sequence of exactly `data: <json>\n\n` frames, each a
/// stream event that round-trips, and the whole body rebuilt with
/// `to_sse_frame` equals the file. Returns the number of frames.
fn check_sse(bytes: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut rest = text;
    let mut rebuilt = String::with_capacity(text.len());
    let mut frames = 0;
    while !rest.is_empty() {
        let frame = |why: String| format!("frame {frames}: {why}");
        let body = rest
            .strip_prefix("data: ")
            .ok_or_else(|| frame("does not start with `data: `".into()))?;
        let end = body.find('\n').ok_or_else(|| frame("no line end".into()))?;
        let json = &body[..end];
        if json.contains('\r') {
            return Err(frame("carriage return in the data line".into()));
        }
        rest = body[end..]
            .strip_prefix("\n\n")
            .ok_or_else(|| frame("not followed by exactly one blank line".into()))?;
        let event: ThreadStreamEvent = round_trip(json.as_bytes()).map_err(frame)?;
        rebuilt.push_str(&event.to_sse_frame());
        frames += 1;
    }
    compare(&normalise_created_at(text)?, &rebuilt)?;
    Ok(frames)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("does not parse: {e}"))
}

/// Parses `bytes` as `T`, serializes it again, and compares the output
/// with the input (timestamps normalised). Returns the parsed value.
fn round_trip<T: Serialize + DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let value: T = parse_json(bytes)?;
    let out = serde_json::to_string(&value).map_err(|e| format!("does not serialize: {e}"))?;
    compare(&normalise_created_at(text)?, &out)?;
    Ok(value)
}

fn compare(expected: &str, actual: &str) -> Result<(), String> {
    if expected == actual {
        return Ok(());
    }
    let at = expected
        .bytes()
        .zip(actual.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| expected.len().min(actual.len()));
    let context = |s: &str| {
        let bytes = s.as_bytes();
        let start = at.saturating_sub(60);
        let end = (at + 60).min(bytes.len());
        String::from_utf8_lossy(&bytes[start.min(end)..end]).into_owned()
    };
    Err(format!(
        "bytes differ at offset {at} (lengths {} vs {}):\n    expected …{}…\n    actual   …{}…",
        expected.len(),
        actual.len(),
        context(expected),
        context(actual)
    ))
}

fn canonical_timestamp(text: &str) -> Result<String, String> {
    text.parse::<Timestamp>()
        .map(|ts| ts.to_string())
        .map_err(|e| e.to_string())
}

/// Rewrites every compact `"created_at":"<ts>"` to our canonical form.
fn normalise_created_at(json: &str) -> Result<String, String> {
    const KEY: &str = "\"created_at\":\"";
    let mut out = String::with_capacity(json.len() + 64);
    let mut rest = json;
    while let Some(pos) = rest.find(KEY) {
        let value_start = pos + KEY.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        let end = rest.find('"').ok_or("unterminated created_at value")?;
        out.push_str(&canonical_timestamp(&rest[..end])?);
        rest = &rest[end..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The same normalisation on a parsed JSON tree.
fn normalise_created_at_values(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::String(ts) if key == "created_at" => *ts = canonical_timestamp(ts)?,
                    _ => normalise_created_at_values(inner)?,
                }
            }
        }
        Value::Array(items) => {
            for inner in items {
                normalise_created_at_values(inner)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[test]
fn the_checker_rejects_what_it_should() {
    let mut seen = Seen::default();
    // Unknown files fail.
    assert!(check_file("events/new_event.json", b"{}", &mut seen).is_err());
    assert!(check_file("newfolder/x.json", b"{}", &mut seen).is_err());
    assert!(check_file("types/unknown.json", b"{}", &mut seen).is_err());
    assert!(check_file("scenarios/x.unknown.json", b"[]", &mut seen).is_err());
    assert!(check_file("notes.txt", b"x", &mut seen).is_err());
    // A file named after the wrong type fails.
    let stream_options = br#"{"type":"stream_options","stream_options":{"allow_cancel":true}}"#;
    assert!(check_file("events/stream_options.json", stream_options, &mut seen).is_ok());
    assert!(check_file("events/notice.json", stream_options, &mut seen).is_err());
    // A byte difference fails (extra whitespace, trailing newline).
    assert!(round_trip::<ThreadStatus>(br#"{"type":"active"}"#).is_ok());
    assert!(round_trip::<ThreadStatus>(b"{\"type\":\"active\"}\n").is_err());
    assert!(round_trip::<ThreadStatus>(br#"{"type": "active"}"#).is_err());
    // SSE framing is exact.
    let frame = format!("data: {}\n\n", std::str::from_utf8(stream_options).unwrap());
    assert_eq!(check_sse(frame.as_bytes()), Ok(1));
    assert_eq!(check_sse(b""), Ok(0));
    assert!(check_sse(frame.replace("data: ", "data:").as_bytes()).is_err());
    assert!(check_sse(frame.trim_end().as_bytes()).is_err());
    assert!(check_sse(format!("{frame}\n").as_bytes()).is_err());
    assert!(check_sse(frame.replace("\n\n", "\r\n\r\n").as_bytes()).is_err());
    // Store calls.
    assert!(check_store_call("add_thread_item(thr_1, user_message:msg_1)").is_ok());
    assert!(check_store_call("add_thread_item(thr_1, message:msg_1)").is_err());
    assert!(check_store_call("drop_table(thr_1)").is_err());
    // Timestamps are normalised, nothing else.
    assert_eq!(
        normalise_created_at(r#"{"created_at":"2025-01-02T03:04:05","x":"2025-01-02T03:04:05"}"#)
            .unwrap(),
        r#"{"created_at":"2025-01-02T03:04:05.000000Z","x":"2025-01-02T03:04:05"}"#
    );
}
