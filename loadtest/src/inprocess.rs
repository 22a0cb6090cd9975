//! In-process mode: the engine through the embedding API
//! ([`EngineHandle`]) on a temporary SQLite file, with the echo model or
//! the fake provider ([`FakeModelThread`]) started in this process. The
//! same workload runs without HTTP, which separates the engine's cost
//! from the HTTP layer's.

use std::net::TcpListener;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use chatkit_actors::model::{ModelConfig, ProviderSettings};
use chatkit_actors::{EngineConfig, EngineHandle, EngineResponse, RequestContext};
use chatkit_server::fake_model::{self, Behaviour, FakeState};

use crate::options::{ModelKind, Options};
use crate::target::{Failure, FailureKind};

/// The fake provider on 127.0.0.1, served by an actix system on a thread
/// of its own (the caller may be on any runtime).
pub struct FakeModelThread {
    base_url: String,
    state: FakeState,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl FakeModelThread {
    /// Binds `127.0.0.1:0` and serves `behaviour` with one worker.
    pub fn start(behaviour: Behaviour) -> std::io::Result<FakeModelThread> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let state = FakeState::new(behaviour);
        let served = state.clone();
        let (ready, started) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("fake-model".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    match fake_model::run(listener, served, 1) {
                        Ok(server) => {
                            let _ = ready.send(Ok(server.handle()));
                            let _ = server.await;
                        }
                        Err(e) => {
                            let _ = ready.send(Err(e));
                        }
                    }
                });
            })?;
        let handle = started
            .recv()
            .map_err(|_| std::io::Error::other("the fake model thread died while starting"))??;
        Ok(FakeModelThread {
            base_url,
            state,
            handle,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// What the fake model saw.
    pub fn state(&self) -> &FakeState {
        &self.state
    }

    /// Stops the server and joins its thread.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The engine in this process, with its model.
pub struct InProcess {
    engine: EngineHandle,
    fake: Option<FakeModelThread>,
    describe: String,
    /// Keeps the temporary database directory until the end.
    _dir: Option<tempfile::TempDir>,
}

impl InProcess {
    /// Starts the engine (and the fake provider, for `--model responses`
    /// or `chat`) as `options` say. Titles are off, as in the benchmark.
    pub fn start(options: &Options) -> anyhow::Result<InProcess> {
        let (dir, db_path): (Option<tempfile::TempDir>, PathBuf) = match &options.db {
            Some(path) => (None, path.clone()),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("chatkit-loadtest-")
                    .tempdir()?;
                let path = dir.path().join("loadtest.sqlite3");
                (Some(dir), path)
            }
        };
        let mut config = EngineConfig::new(&db_path);
        config.titles = false;
        let mut fake = None;
        let model_name = match options.model {
            ModelKind::Echo => {
                config.model = ModelConfig::echo(Duration::from_millis(options.echo_delay_ms));
                format!("echo, {} ms per delta", options.echo_delay_ms)
            }
            kind => {
                let started = FakeModelThread::start(Behaviour {
                    tokens: options.tokens,
                    ..Behaviour::default()
                })?;
                let mut settings = ProviderSettings::new("loadtest-model");
                settings.base_url = started.base_url().to_owned();
                settings.api_key = Some("loadtest".into());
                let name = format!(
                    "{} via the fake provider at {}, {} deltas",
                    if kind == ModelKind::Chat {
                        "chat"
                    } else {
                        "responses"
                    },
                    started.base_url(),
                    options.tokens
                );
                config.model = if kind == ModelKind::Chat {
                    ModelConfig::Chat(settings)
                } else {
                    ModelConfig::Responses(settings)
                };
                fake = Some(started);
                name
            }
        };
        let engine = EngineHandle::spawn(config)?;
        Ok(InProcess {
            engine,
            fake,
            describe: format!("in-process engine ({model_name}; {})", db_path.display()),
            _dir: dir,
        })
    }

    /// Runs one request body as `user`.
    pub async fn process(&self, body: Vec<u8>, user: &str) -> Result<EngineResponse, Failure> {
        self.engine
            .process(body, RequestContext::new(user))
            .await
            .map_err(|e| {
                Failure::new(
                    FailureKind::Http(e.status()),
                    format!("{} {}: {}", e.status(), e.code(), e.public_message()),
                )
            })
    }

    /// What the summary calls this target.
    pub fn describe(&self) -> String {
        self.describe.clone()
    }

    /// Stops the engine (and the fake provider).
    pub async fn shutdown(self) {
        self.engine.shutdown().await;
        if let Some(fake) = self.fake {
            fake.stop().await;
        }
    }
}
