//! chatkit-server: the HTTP front end of the chatkit-actix engine.
//!
//! Thin by design: [`run`] turns `POST /chatkit` bodies into
//! [`Engine::process`] calls and engine streams into Server-Sent Events,
//! serves the attachment upload and preview endpoints ([`uploads`]) and
//! the built-in chat page ([`ui`]).
//! Everything below HTTP lives in the `chatkit-actors` crate.
#![forbid(unsafe_code)]

pub mod auth;
pub mod fake_model;
pub mod guard;
pub mod http;
pub mod limits;
pub mod prometheus;
pub mod settings;
pub mod sse;
pub mod telemetry;
pub mod ui;
pub mod uploads;

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, from_fn};
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
    let ui = settings
        .ui_path
        .is_some()
        .then(|| web::Data::new(ui::Ui::new(&settings, engine.attachments().config())));
    let send_timeout = settings.send_timeout;
    let limiter = limits::Limiter::new(settings.limits.clone());
    let metrics = settings
        .metrics_path
        .clone()
        .and_then(|path| Some((path, web::Data::new(prometheus::install()?))));
    let context_headers = settings
        .context_headers
        .iter()
        .filter_map(|name| header::HeaderName::try_from(name.as_str()).ok())
        .collect();
    let state = web::Data::new(http::AppState {
        engine,
        settings,
        limiter,
        request_metrics: prometheus::RequestMetrics::default(),
        context_headers,
    });
    let mut server = HttpServer::new(move || {
        let path = state.settings.chatkit_path.clone();
        let attachments = state.engine.attachments().config();
        let metrics = metrics.clone();
        let ui = ui.clone();
        App::new()
            // Outermost: preflights are answered, and every answer
            // (refusals included) gets its CORS headers.
            .wrap(Condition::new(
                !state.settings.cors_origins.is_empty(),
                cors(&state.settings),
            ))
            .wrap(TracingLogger::<http::ChatKitRootSpan>::new())
            .app_data(state.clone())
            .service(
                web::resource(path)
                    .wrap(from_fn(guard::guard))
                    .route(web::post().to(http::chatkit)),
            )
            .service(
                web::resource(attachments.upload_path.as_str())
                    .wrap(from_fn(guard::guard))
                    .route(web::post().to(uploads::upload))
                    .route(web::put().to(uploads::upload)),
            )
            .service(
                web::resource(attachments.preview_path.as_str())
                    .route(web::get().to(uploads::preview)),
            )
            .route("/healthz", web::get().to(http::healthz))
            .configure(move |cfg| {
                if let Some(ui) = ui {
                    ui::Ui::configure(cfg, ui);
                }
                if let Some((path, handle)) = metrics {
                    cfg.app_data(handle)
                        .route(&path, web::get().to(prometheus::scrape));
                }
            })
    })
    .on_connect(move |connection, _| tune_socket(connection, send_timeout))
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

/// CORS for the origins in `settings.cors_origins`: the methods ChatKit
/// uses and the headers its UI sends (content type, `Authorization`, the
/// user and tenant headers, the context headers).
fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([Method::POST, Method::GET, Method::PUT, Method::OPTIONS])
        .allowed_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
        .max_age(3600);
    let extra = [&settings.user_header]
        .into_iter()
        .chain(&settings.tenant_header)
        .chain(&settings.context_headers);
    for name in extra {
        if let Ok(name) = header::HeaderName::try_from(name.as_str()) {
            cors = cors.allowed_header(name);
        }
    }
    for origin in &settings.cors_origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// Sets `TCP_NODELAY` on every accepted connection: SSE writes many small
/// frames; with Nagle's algorithm each one after the first waits for the
/// client's (delayed) ACK, which adds ~40 ms to a turn. And, on Linux,
/// `TCP_USER_TIMEOUT` to [`Settings::send_timeout`]: a client that stops
/// reading is cut off by its turn once `event_buffer` events wait for it,
/// but the events already queued for it (and the socket) would otherwise
/// be held until it reads them or goes away.
fn tune_socket(connection: &dyn std::any::Any, send_timeout: Option<std::time::Duration>) {
    let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(timeout) = send_timeout
        && let Err(e) = socket2::SockRef::from(tcp).set_tcp_user_timeout(Some(timeout))
    {
        tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = send_timeout;
}
