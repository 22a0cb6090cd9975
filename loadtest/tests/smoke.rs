//! The load generator end to end, a few seconds each: against this
//! project's server over real HTTP on 127.0.0.1 (echo model, and the fake
//! provider speaking real SSE), in process, and in its memory modes.
//! Counts and answers are asserted, never timings.

use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use chatkit_actors::model::{ModelConfig, ProviderSettings};
use chatkit_actors::{Engine, EngineConfig};
use chatkit_loadtest::inprocess::FakeModelThread;
use chatkit_loadtest::{Options, Report, execute};
use chatkit_server::fake_model::Behaviour;
use chatkit_server::{Settings, run};
use clap::Parser;

/// Our server on `127.0.0.1:0`, in an actix system on a thread of its own
/// (the load generator runs on the test's tokio runtime).
struct Server {
    url: String,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(model: ModelConfig) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("chatkit.sqlite3");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}/chatkit", listener.local_addr().unwrap());
        let (ready, started) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let mut config = EngineConfig::new(db);
                config.model = model;
                config.titles = false;
                let engine = Engine::start(config).expect("engine starts");
                let settings = Settings {
                    handle_signals: false,
                    workers: Some(2),
                    shutdown_timeout: Duration::from_secs(1),
                    // A virtual user reads far above a person's rate.
                    limits: chatkit_server::limits::Limits::none(),
                    ..Settings::default()
                };
                let server = run(listener, settings, engine.clone()).expect("server starts");
                ready.send(server.handle()).unwrap();
                let _ = server.await;
                engine.shutdown().await;
            });
        });
        Server {
            url,
            handle: started.recv().expect("the server thread started"),
            thread: Some(thread),
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        self.handle.stop(true).await;
        let thread = self.thread.take().unwrap();
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }
}

/// Flags from `args` (split on spaces), then `extra` as they are (for
/// values with spaces).
fn options(args: &str, extra: &[&str]) -> Options {
    let mut argv = vec!["chatkit-loadtest", "--no-progress"];
    argv.extend(args.split_whitespace());
    argv.extend_from_slice(extra);
    Options::try_parse_from(argv).expect("valid flags")
}

async fn load(args: &str, extra: &[&str]) -> chatkit_loadtest::Summary {
    match execute(options(args, extra)).await.expect("the run starts") {
        Report::Load(summary) => *summary,
        other => panic!("expected a load report, got {other:?}"),
    }
}

const ECHO_ANSWER: &str = "You said: \"{user}\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_load_on_the_echo_model_answers_every_turn_correctly() {
    let server = Server::start(ModelConfig::echo(Duration::ZERO));
    let s = load(
        &format!(
            "--url {} -c 4 --turns 3 --total 60 --read-ratio 1 --expect exact",
            server.url
        ),
        &["--expect-text", ECHO_ANSWER],
    )
    .await;
    assert_eq!(s.errors.total, 0, "{:?}", s.error_samples);
    assert_eq!(s.turns_ok, 60);
    let end = s.end_of_stream_ms.as_ref().expect("turn latencies");
    assert_eq!(end.count, 60);
    assert_eq!(s.first_delta_ms.as_ref().unwrap().count, 60);
    // Every echo turn streams at least: user item done, stream options,
    // added, part added, deltas, part done, done.
    assert!(s.events >= 60 * 7, "{} events", s.events);
    assert!(s.reads_ok > 0 && s.read_ms.is_some());

    // The same load with a wrong expectation fails every turn: the check
    // is real.
    let wrong = load(
        &format!("--url {} -c 2 --total 6 --expect exact", server.url),
        &["--expect-text", "You said nothing"],
    )
    .await;
    assert_eq!(wrong.turns_ok, 0);
    assert_eq!(wrong.errors.wrong_answer, 6);

    // Read mode: seeded threads, then reads only.
    let reads = load(
        &format!(
            "--url {} -c 2 --mode read --seed-threads 2 --total 30",
            server.url
        ),
        &[],
    )
    .await;
    assert_eq!(reads.errors.total, 0, "{:?}", reads.error_samples);
    assert_eq!(reads.reads_ok, 30);
    assert_eq!(reads.turns_ok, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_load_through_the_fake_provider_sees_its_answers() {
    let fake = FakeModelThread::start(Behaviour {
        tokens: 4,
        ..Behaviour::default()
    })
    .expect("fake model starts");
    let mut settings = ProviderSettings::new("loadtest-model");
    settings.base_url = fake.base_url().to_owned();
    settings.api_key = Some("test".into());
    let server = Server::start(ModelConfig::Responses(settings));
    let s = load(
        &format!(
            "--url {} -c 4 --turns 2 --total 24 --expect exact",
            server.url
        ),
        &["--expect-text", "echo: {user} tok1 tok2 tok3"],
    )
    .await;
    assert_eq!(s.errors.total, 0, "{:?}", s.error_samples);
    assert_eq!(s.turns_ok, 24);
    assert!(fake.state().responses_count() >= 24);
    server.stop().await;
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_mode_drives_the_engine_with_both_models() {
    let echo = load(
        "--in-process -c 4 --total 40 --read-ratio 0.5 --expect exact",
        &["--expect-text", ECHO_ANSWER],
    )
    .await;
    assert_eq!(echo.errors.total, 0, "{:?}", echo.error_samples);
    assert_eq!(echo.turns_ok, 40);
    assert!(echo.reads_ok > 0);
    assert!(echo.run.target.starts_with("in-process engine (echo"));

    let chat = load(
        "--in-process --model chat --tokens 3 -c 3 --total 18 --expect exact",
        &["--expect-text", "echo: {user} tok1 tok2"],
    )
    .await;
    assert_eq!(chat.errors.total, 0, "{:?}", chat.error_samples);
    assert_eq!(chat.turns_ok, 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_streams_stay_open_and_idle_threads_are_created() {
    // Slow echo: 100 words at 50 ms each keep every stream open for ~5 s,
    // far longer than the half second they are held.
    let server = Server::start(ModelConfig::echo(Duration::from_millis(50)));
    let pid = std::process::id().to_string();
    let report = execute(options(
        &format!(
            "--url {} --hold 20 --hold-secs 0.5 --hold-words 100 --server-pid {}",
            server.url, pid
        ),
        &[],
    ))
    .await
    .unwrap();
    let Report::Hold(hold) = report else {
        panic!("expected a hold report")
    };
    assert_eq!(hold.errors.total, 0, "{:?}", hold.error_samples);
    assert_eq!((hold.opened, hold.held, hold.ended_early), (20, 20, 0));
    assert!(hold.rss_open_mb.is_some() && hold.rss_per_stream_kb.is_some());
    assert!(hold.nofile_limit > 0);
    server.stop().await;

    let server = Server::start(ModelConfig::echo(Duration::ZERO));
    let report = execute(options(
        &format!(
            "--url {} --idle-threads 6 --items 4 -c 3 --expect echo --server-pid {}",
            server.url, pid
        ),
        &[],
    ))
    .await
    .unwrap();
    let Report::Idle(idle) = report else {
        panic!("expected an idle-threads report")
    };
    assert_eq!(idle.errors.total, 0, "{:?}", idle.error_samples);
    assert_eq!(
        (idle.threads_ok, idle.turns, idle.items_per_thread),
        (6, 12, 4)
    );
    assert!(idle.rss_after_mb.is_some());
    server.stop().await;
}

#[tokio::test]
async fn remote_targets_and_bad_flags_are_refused() {
    let remote = execute(options(
        "--url http://192.0.2.1:8000/chatkit --total 1",
        &[],
    ))
    .await
    .unwrap_err();
    assert!(remote.to_string().contains("--allow-remote"), "{remote}");
    let bad = execute(options("--conversations 0", &[]))
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("--conversations"), "{bad}");
    let model_without_engine = execute(options("--model chat", &[])).await.unwrap_err();
    assert!(model_without_engine.to_string().contains("--in-process"));
}
