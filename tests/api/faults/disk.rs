//! The database's disk fills up or becomes read-only under a running
//! server: writes fail with a clear error (a 5xx JSON body before a stream,
//! an `error` event inside one), nothing acknowledged is lost, and the
//! next write after the condition clears succeeds without a restart.
//!
//! Disk full runs on a real tiny tmpfs when the test may mount one (root
//! with CAP_SYS_ADMIN), filled with a plain file; otherwise the writer's
//! `max_page_count` is capped in process. A tmpfs cannot be remounted
//! read-only while SQLite holds the file open for writing (`EBUSY`), so
//! the read-only case sets `query_only` on the write connection, which
//! fails writes with the same `SQLITE_READONLY` error.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::integrity_check;
use crate::helpers::*;

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// How the disk was filled.
enum Filler {
    /// A file filling the tmpfs to its last byte.
    File(PathBuf),
    /// `max_page_count` capped at the current size.
    PageCount,
}

impl Filler {
    async fn fill(app: &TestApp, tmpfs: Option<&Tmpfs>) -> Filler {
        match tmpfs {
            Some(fs) => {
                let path = fs.path().join("fill.bin");
                let mut file = std::fs::File::create(&path).unwrap();
                let chunk = vec![0u8; 64 * 1024];
                while file.write_all(&chunk).is_ok() {}
                let _ = file.sync_all();
                Filler::File(path)
            }
            None => {
                let pages = app.count_rows("PRAGMA page_count");
                app.engine
                    .store()
                    .writer
                    .pragma(format!("max_page_count = {pages}"))
                    .await
                    .unwrap();
                Filler::PageCount
            }
        }
    }

    async fn clear(self, app: &TestApp) {
        match self {
            Filler::File(path) => std::fs::remove_file(path).unwrap(),
            Filler::PageCount => app
                .engine
                .store()
                .writer
                .pragma("max_page_count = 1073741823")
                .await
                .unwrap(),
        }
    }
}

/// What the client saw of a run of writes under a fault.
#[derive(Default)]
struct Outcome {
    /// `(id, text)` of every item acknowledged with `thread.item.done`.
    acked: Vec<(String, String)>,
    /// Refused before any stream, with a 5xx JSON error.
    refused: usize,
    /// Streams that ended with an `error` event.
    stream_errors: usize,
    /// Turns answered completely.
    answered: usize,
}

impl Outcome {
    /// Sends `text` to `thread` and sorts the result.
    async fn send(&mut self, app: &TestApp, thread: &str, text: &str) {
        let reply = app.post(&add_message(thread, text)).await;
        if reply.status != 200 {
            assert!(reply.status >= 500, "{}: {}", reply.status, reply.body);
            assert_eq!(reply.error_code(), "storage_error", "{}", reply.body);
            self.refused += 1;
            return;
        }
        let events = reply.events();
        self.ack(&events);
        match events.iter().find(|e| e["type"] == "error") {
            Some(e) => {
                assert_eq!(*events.last().unwrap(), *e, "the error ends the stream");
                self.stream_errors += 1;
            }
            None => {
                assert_eq!(answer_text(&events), format!("You said: \"{text}\""));
                self.answered += 1;
            }
        }
    }

    /// Records the items `events` acknowledged with `thread.item.done`.
    fn ack(&mut self, events: &[Value]) {
        for e in events.iter().filter(|e| e["type"] == "thread.item.done") {
            let text = e["item"]["content"][0]["text"].as_str().unwrap_or("");
            self.acked.push((
                e["item"]["id"].as_str().unwrap().to_owned(),
                text.to_owned(),
            ));
        }
    }

    fn failures(&self) -> usize {
        self.refused + self.stream_errors
    }

    /// Every acknowledged item is stored with the text the client saw.
    async fn check_stored(&self, app: &TestApp, thread: &str) {
        let stored = app.all_items("alice", thread).await;
        for (id, text) in &self.acked {
            let item = stored
                .iter()
                .find(|i| i["id"] == id.as_str())
                .unwrap_or_else(|| panic!("acknowledged {id} lost"));
            assert_eq!(item["content"][0]["text"].as_str().unwrap_or(""), text);
        }
    }
}

/// A message of `kb` KiB in 1 KiB words, numbered `n`.
fn big_text(n: usize, kb: usize) -> String {
    let word = "x".repeat(1023);
    let mut words = vec![format!("message-{n}")];
    words.extend((1..kb).map(|_| word.clone()));
    words.join(" ")
}

/// A thread created before the fault, its items recorded in `outcome`.
async fn acked_thread(app: &TestApp, outcome: &mut Outcome) -> String {
    let (thread, events) = app.create_thread("before the fault").await;
    outcome.ack(&events);
    thread
}

#[actix_web::test]
async fn a_full_disk_fails_writes_clearly_and_recovers_when_space_returns() {
    let tmpfs = Tmpfs::mount("6m");
    let dir = tempfile::tempdir().unwrap();
    let db = match &tmpfs {
        Some(fs) => fs.path().join("chatkit.sqlite3"),
        None => dir.path().join("chatkit.sqlite3"),
    };
    let app = spawn_app_on(db.clone(), AppOptions::default()).await;
    let mut outcome = Outcome::default();
    let thread = acked_thread(&app, &mut outcome).await;

    let filler = Filler::fill(&app, tmpfs.as_ref()).await;
    let mut attempts = 0;
    while outcome.failures() < 3 && attempts < 40 {
        attempts += 1;
        outcome.send(&app, &thread, &big_text(attempts, 64)).await;
    }
    assert!(
        outcome.failures() > 0,
        "{attempts} writes of 64 KiB all succeeded on a full disk"
    );
    let full_attempts = attempts;
    println!(
        "disk full ({}): {attempts} writes of 64 KiB: {} answered, {} refused before the stream, \
         {} ended with an error event",
        if tmpfs.is_some() {
            "6 MiB tmpfs filled with a file"
        } else {
            "tmpfs unavailable: max_page_count capped in process"
        },
        outcome.answered,
        outcome.refused,
        outcome.stream_errors
    );
    // Reads still work while the disk is full.
    outcome.check_stored(&app, &thread).await;

    filler.clear(&app).await;
    let before = outcome.answered;
    outcome.send(&app, &thread, "space is back").await;
    assert_eq!(
        outcome.answered,
        before + 1,
        "no recovery without a restart"
    );
    let (other, _) = app.create_thread("a new thread too").await;
    assert!(!other.is_empty());
    outcome.check_stored(&app, &thread).await;

    // Room for a question but not its answer: the disk fills mid-stream.
    let writer = &app.engine.store().writer;
    let pages = app.count_rows("PRAGMA page_count");
    writer
        .pragma(format!("max_page_count = {}", pages + 24))
        .await
        .unwrap();
    let mut attempts = 0;
    while outcome.stream_errors == 0 && attempts < 5 {
        attempts += 1;
        outcome
            .send(&app, &thread, &big_text(100 + attempts, 64))
            .await;
    }
    assert_eq!(
        outcome.stream_errors, 1,
        "the answer never hit the full disk"
    );
    writer.pragma("max_page_count = 1073741823").await.unwrap();
    let before = outcome.answered;
    outcome.send(&app, &thread, "room again").await;
    assert_eq!(outcome.answered, before + 1);
    outcome.check_stored(&app, &thread).await;
    assert_eq!(integrity_check(&db), "ok");
    println!(
        "disk full mid-stream (max_page_count): {} error event(s) after {attempts} turns, \
         {} items acknowledged in all ({full_attempts} writes on the full disk)",
        outcome.stream_errors,
        outcome.acked.len()
    );
    app.stop().await;

    // And after a restart, everything acknowledged is still there.
    let app = spawn_app_on(db.clone(), AppOptions::default()).await;
    outcome.check_stored(&app, &thread).await;
    app.stop().await;
    drop(tmpfs);
}

#[actix_web::test]
async fn a_read_only_database_fails_writes_clearly_and_recovers() {
    let app = spawn_app().await;
    let mut outcome = Outcome::default();
    let thread = acked_thread(&app, &mut outcome).await;
    let writer = &app.engine.store().writer;

    writer.pragma("query_only = 1").await.unwrap();
    outcome.send(&app, &thread, "while read-only").await;
    // The user message cannot be stored: refused before any stream.
    assert_eq!(
        outcome.refused, 1,
        "a write succeeded on a read-only database"
    );
    let reply = app
        .post(&serde_json::json!({"type": "threads.update", "params": {"thread_id": thread, "title": "renamed"}}))
        .await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.error_code(), "storage_error");
    let reply = app.post(&create("a new thread")).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    // Reads go on.
    let got = app
        .post(&serde_json::json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}))
        .await;
    assert_eq!(got.status, 200, "{}", got.body);

    writer.pragma("query_only = 0").await.unwrap();
    outcome.send(&app, &thread, "writable again").await;
    assert_eq!(outcome.answered, 1);
    outcome.check_stored(&app, &thread).await;
    let items: Vec<Value> = app.all_items("alice", &thread).await;
    let texts: Vec<&str> = items
        .iter()
        .map(|i| i["content"][0]["text"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        texts,
        [
            "before the fault",
            "You said: \"before the fault\"",
            "writable again",
            "You said: \"writable again\""
        ],
        "the refused message left nothing behind"
    );
    println!(
        "read-only (query_only on the write connection): 3 writes refused with 500 storage_error, reads served, recovered without a restart"
    );
}
