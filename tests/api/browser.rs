//! The chat page in a real browser: Debian's chromium, driven by
//! `tests/browser/run.mjs` (playwright-core), against a server on
//! 127.0.0.1 whose model is the fake provider. One test per scenario; each
//! starts its own server and fake model, runs `node run.mjs --scenario …`
//! and then checks the database. Browser runs are serialized (one chromium
//! at a time on a small machine).
//!
//! Without chromium or `tests/browser/node_modules` these tests fail and
//! say to run `scripts/test`; `CHATKIT_SKIP_BROWSER=1` skips them
//! explicitly. Screenshots go to `$CARGO_TARGET_DIR/browser-screenshots/`
//! (`target/` when unset); `CHATKIT_UPDATE_SCREENSHOT=1` also rewrites
//! `docs/chat-page.png` from the `send` scenario.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use chatkit_actors::model::{ModelConfig, ProviderSettings};
use chatkit_actors::tools::Tools;
use chatkit_server::fake_model::{Behaviour, FakeModel};

use crate::helpers::*;

const SETUP: &str = "run `scripts/test` once (it installs chromium with apt-get and runs `npm ci` in tests/browser), \
     or set CHATKIT_SKIP_BROWSER=1 to skip the browser tests on purpose";

/// One chromium at a time.
static BROWSER: Mutex<()> = Mutex::new(());

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
        PathBuf::from,
    );
    target.join("browser-screenshots")
}

/// `false` when the browser tests are skipped on purpose; panics with the
/// setup instructions when something they need is missing.
fn browser_available() -> bool {
    if std::env::var("CHATKIT_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("CHATKIT_SKIP_BROWSER=1: browser test skipped");
        return false;
    }
    let chromium = chromium();
    assert!(
        chromium.exists(),
        "no chromium at {}: {SETUP}",
        chromium.display()
    );
    let module = browser_dir().join("node_modules/playwright-core");
    assert!(module.exists(), "{} is missing: {SETUP}", module.display());
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "`node` is not on PATH: {SETUP}"
    );
    true
}

/// A server whose model is a fresh fake provider (Chat Completions).
async fn app(
    behaviour: Behaviour,
    tweak: impl FnOnce(&mut ProviderSettings),
) -> (TestApp, FakeModel) {
    app_with(behaviour, tweak, |_| {}).await
}

/// [`app`], with changes to the server's options.
async fn app_with(
    behaviour: Behaviour,
    tweak: impl FnOnce(&mut ProviderSettings),
    options: impl FnOnce(&mut AppOptions),
) -> (TestApp, FakeModel) {
    let fake = FakeModel::start(behaviour)
        .await
        .expect("fake model starts");
    let mut s = fake_provider(&fake);
    s.read_timeout = Duration::from_secs(5);
    tweak(&mut s);
    let mut app_options = AppOptions::with_model(ModelConfig::Chat(s));
    options(&mut app_options);
    let app = spawn_app_with(app_options).await;
    (app, fake)
}

/// Runs one scenario of `run.mjs` against `app` and fails with its output.
async fn scenario(name: &str, app: &TestApp) {
    let mut command = Command::new("node");
    command
        .current_dir(browser_dir())
        .arg("run.mjs")
        .args(["--scenario", name])
        .args(["--url", &format!("{}/", app.url)])
        .arg("--screenshots")
        .arg(screenshots_dir())
        .env("CHROMIUM_PATH", chromium());
    if name == "send" && std::env::var("CHATKIT_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        command
            .arg("--docs-screenshot")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/chat-page.png"));
    }
    // The server and the engine run on this thread's actix system: wait
    // for node on a blocking thread.
    let output = tokio::task::spawn_blocking(move || {
        let _one_at_a_time = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
        command.output()
    })
    .await
    .expect("browser thread")
    .expect("node starts");
    assert!(
        output.status.success(),
        "browser scenario `{name}` failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn user_threads(app: &TestApp, user: &str) -> i64 {
    app.count_rows(&format!(
        "SELECT COUNT(*) FROM threads WHERE user_id = '{user}'"
    ))
}

fn assistant_texts(app: &TestApp) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(
        &app.db_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open db");
    let mut stmt = conn
        .prepare("SELECT json_extract(data, '$.content[0].text') FROM items WHERE item_type = 'assistant_message' ORDER BY thread_id, seq")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .map(|r| r.unwrap().unwrap_or_default())
        .collect()
}

#[actix_web::test]
async fn send_streams_the_answer_into_the_page() {
    if !browser_available() {
        return;
    }
    // Slow enough to see the thinking indicator and a half-written answer.
    let (app, _fake) = app(
        Behaviour {
            tokens: 6,
            ttft: Duration::from_millis(600),
            delay: Duration::from_millis(150),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    scenario("send", &app).await;
    assert_eq!(user_threads(&app, "local-user"), 1);
    let texts = assistant_texts(&app);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].starts_with("echo: Hello browser"), "{texts:?}");
}

#[actix_web::test]
async fn stop_keeps_the_partial_answer_across_a_reload() {
    if !browser_available() {
        return;
    }
    let (app, fake) = app(
        Behaviour {
            tokens: 30,
            delay: Duration::from_millis(200),
            ..Default::default()
        },
        |_| {},
    )
    .await;
    scenario("stop", &app).await;
    assert_eq!(fake.disconnects(), 1, "the model stream was closed");
    let texts = assistant_texts(&app);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("echo: Please stop me") && !texts[0].contains("tok29"),
        "{texts:?}"
    );
}

#[actix_web::test]
async fn retry_replaces_the_answer() {
    if !browser_available() {
        return;
    }
    let (app, fake) = app(Behaviour::default(), |_| {}).await;
    scenario("retry", &app).await;
    assert_eq!(fake.request_count(), 2, "one model call per answer");
    assert_eq!(
        app.count_rows("SELECT COUNT(*) FROM items WHERE hidden = 0"),
        2
    );
}

#[actix_web::test]
async fn rename_is_saved() {
    if !browser_available() {
        return;
    }
    let (app, _fake) = app(Behaviour::default(), |_| {}).await;
    scenario("rename", &app).await;
    assert_eq!(
        app.count_rows("SELECT COUNT(*) FROM threads WHERE json_extract(data, '$.title') = 'Renamed in the browser'"),
        1
    );
}

#[actix_web::test]
async fn delete_removes_the_thread() {
    if !browser_available() {
        return;
    }
    let (app, _fake) = app(Behaviour::default(), |_| {}).await;
    scenario("delete", &app).await;
    assert_eq!(user_threads(&app, "local-user"), 1);
}

#[actix_web::test]
async fn feedback_is_stored() {
    if !browser_available() {
        return;
    }
    let (app, _fake) = app(Behaviour::default(), |_| {}).await;
    scenario("feedback", &app).await;
    assert_eq!(
        app.count_rows("SELECT COUNT(*) FROM feedback WHERE kind = 'positive'"),
        1
    );
}

#[actix_web::test]
async fn a_failing_model_shows_an_error_with_retry() {
    if !browser_available() {
        return;
    }
    // The first call fails (500, no retries), so the answer ends with an
    // error event that allows a retry; the retry succeeds.
    let (app, fake) = app(
        Behaviour {
            fail_status: Some(500),
            fail_times: Some(1),
            ..Default::default()
        },
        |s| s.max_retries = 0,
    )
    .await;
    scenario("error", &app).await;
    assert_eq!(fake.request_count(), 2);
    assert_eq!(assistant_texts(&app).len(), 1);
}

#[actix_web::test]
async fn markup_in_user_and_model_text_stays_inert() {
    if !browser_available() {
        return;
    }
    let (app, _fake) = app(Behaviour::default(), |_| {}).await;
    scenario("xss", &app).await;
    assert!(assistant_texts(&app)[0].contains("<script>"));
}

#[actix_web::test]
async fn two_users_never_see_each_others_threads() {
    if !browser_available() {
        return;
    }
    let (app, _fake) = app(Behaviour::default(), |_| {}).await;
    scenario("two_users", &app).await;
    assert_eq!(user_threads(&app, "ann"), 1);
    assert_eq!(user_threads(&app, "bob"), 1);
    assert_eq!(user_threads(&app, "local-user"), 0);
}

#[actix_web::test]
async fn widgets_actions_and_structured_input_work_in_the_page() {
    if !browser_available() {
        return;
    }
    let app = spawn_app_with(AppOptions {
        responder: Some(std::sync::Arc::new(crate::actions::Shop)),
        ..Default::default()
    })
    .await;
    scenario("widgets", &app).await;
}

#[actix_web::test]
async fn client_tools_reasoning_attachments_and_titles_work_in_the_page() {
    if !browser_available() {
        return;
    }
    let (app, fake) = app_with(
        Behaviour {
            tokens: 3,
            reasoning: 2,
            client_tool: Some("pick_color".into()),
            ..Default::default()
        },
        |_| {},
        |o| {
            o.titles = true;
            o.tools = Tools::new().client(
                "pick_color",
                "Ask the user to pick a color.",
                serde_json::json!({"type": "object", "properties": {}}),
            );
        },
    )
    .await;
    scenario("assistant", &app).await;
    let sent = serde_json::to_string(&fake.requests()).unwrap();
    assert!(sent.contains("teal"), "the tool output reached the model");
    assert!(
        sent.contains("remember the milk"),
        "the attachment reached the model"
    );
    assert_eq!(
        app.count_rows(
            "SELECT COUNT(*) FROM attachments WHERE json_extract(data, '$.thread_id') IS NOT NULL"
        ),
        1
    );
}

#[actix_web::test]
async fn the_thread_list_pages_and_collapses_on_narrow_screens() {
    if !browser_available() {
        return;
    }
    // The echo model titles a thread with its first message.
    let app = spawn_app().await;
    for i in 0..45 {
        app.create_thread_as("local-user", &format!("thread {i}"))
            .await;
    }
    scenario("many_threads", &app).await;
}

#[actix_web::test]
async fn a_long_thread_opens_at_its_end_and_loads_older_items() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let (thread, _) = app.create_thread_as("local-user", "question 0").await;
    for i in 1..25 {
        let events = app
            .post_as(
                "local-user",
                &add_message(&thread, &format!("question {i}")),
            )
            .await
            .events();
        assert_eq!(answer_text(&events), format!("You said: \"question {i}\""));
    }
    scenario("long_thread", &app).await;
}
