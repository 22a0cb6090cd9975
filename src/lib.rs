//! chatkit-server: the HTTP front end of the chatkit-actix engine.
//!
//! Thin by design: [`run`] turns `POST /chatkit` bodies into
//! [`Engine::process`] calls and engine streams into Server-Sent Events,
//! and serves the attachment upload and preview endpoints ([`uploads`]).
//! Everything below HTTP lives in the `chatkit-actors` crate.
#![forbid(unsafe_code)]

pub mod fake_model;
pub mod http;
pub mod prometheus;
pub mod settings;
pub mod sse;
pub mod telemetry;
pub mod uploads;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use chatkit_actors::Engine;
use tracing_actix_web::TracingLogger;

pub use settings::Settings;

/// Starts serving on `listener`. The returned [`Server`] runs when awaited
/// (or spawned); its handle stops it. Must be called inside an actix system
/// that `engine` was started in.
pub fn run(listener: TcpListener, settings: Settings, engine: Engine) -> std::io::Result<Server> {
    let shutdown_timeout = settings.shutdown_timeout.as_secs();
    let handle_signals = settings.handle_signals;
    let workers = settings.workers;
    let metrics = settings
        .metrics_path
        .clone()
        .and_then(|path| Some((path, web::Data::new(prometheus::install()?))));
    let state = web::Data::new(http::AppState {
        engine,
        settings,
        request_metrics: prometheus::RequestMetrics::default(),
    });
    let mut server = HttpServer::new(move || {
        let path = state.settings.chatkit_path.clone();
        let attachments = state.engine.attachments().config();
        let metrics = metrics.clone();
        App::new()
            .wrap(TracingLogger::<http::ChatKitRootSpan>::new())
            .app_data(state.clone())
            .service(web::resource(path).route(web::post().to(http::chatkit)))
            .service(
                web::resource(attachments.upload_path.as_str())
                    .route(web::post().to(uploads::upload))
                    .route(web::put().to(uploads::upload)),
            )
            .service(
                web::resource(attachments.preview_path.as_str())
                    .route(web::get().to(uploads::preview)),
            )
            .route("/healthz", web::get().to(http::healthz))
            .configure(move |cfg| {
                if let Some((path, handle)) = metrics {
                    cfg.app_data(handle)
                        .route(&path, web::get().to(prometheus::scrape));
                }
            })
    })
    .on_connect(disable_nagle)
    .listen(listener)?
    .shutdown_timeout(shutdown_timeout);
    if let Some(n) = workers {
        server = server.workers(n);
    }
    if !handle_signals {
        server = server.disable_signals();
    }
    Ok(server.run())
}

/// Sets `TCP_NODELAY` on every accepted connection. SSE writes many small
/// frames; with Nagle's algorithm each one after the first waits for the
/// client's (delayed) ACK, which adds ~40 ms to a turn.
fn disable_nagle(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(e) = tcp.set_nodelay(true)
    {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
}
