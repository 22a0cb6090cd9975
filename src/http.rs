//! The HTTP handlers: `POST /chatkit` and `GET /healthz`.
//!
//! The ChatKit handler reads the raw body (whatever the `Content-Type`, as
//! the reference does), resolves the user, and hands both to the engine.
//! JSON answers go back as `application/json`; streams as
//! `text/event-stream`, never compressed. Errors known before the stream
//! starts are a 4xx/5xx with `{"error":{"code":...,"message":...}}`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chatkit_actors::protocol::ChatKitRequest;
use chatkit_actors::{Engine, EngineError, EngineResponse, RequestContext};
use futures_util::StreamExt;
use serde_json::json;
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

use crate::limits::{LimitError, Limiter};
use crate::prometheus::RequestMetrics;
use crate::settings::Settings;
use crate::sse::SseBody;

/// What every handler shares.
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// The server settings.
    pub settings: Settings,
    /// The state of `settings.limits`.
    pub limiter: Limiter,
    /// Request counts and durations.
    pub request_metrics: RequestMetrics,
    /// `settings.context_headers`, parsed once (names that are not valid
    /// header names are left out: no request could carry them).
    pub context_headers: Vec<HeaderName>,
}

/// A request failed before its answer started.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused or failed the request.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The body is larger than the configured limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body could not be read.
    #[error("reading the request body failed: {0}")]
    Body(String),
    /// A limit refused the request.
    #[error(transparent)]
    Limit(#[from] LimitError),
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Engine(e) => e.code(),
            ApiError::TooLarge { .. } => "payload_too_large",
            ApiError::Body(_) => "invalid_body",
            ApiError::Limit(_) => "limit",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Engine(e) => e.public_message(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Engine(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Body(_) => StatusCode::BAD_REQUEST,
            ApiError::Limit(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Limit(e) = self {
            return e.error_response();
        }
        HttpResponse::build(self.status_code())
            .json(json!({"error": {"code": self.code(), "message": self.message()}}))
    }
}

/// `POST /chatkit`: one ChatKit request, counted in
/// `chatkit_requests_total` and timed to its response head.
///
/// Errors are logged once, by the request span's logger
/// (tracing-actix-web records the error and its status on the span).
pub async fn chatkit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = std::time::Instant::now();
    let mut request_type = "unknown";
    let result = handle(&req, payload, &state, &mut request_type).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(e) => e.status_code(),
    };
    state
        .request_metrics
        .record(request_type, status.as_u16(), started);
    result
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    request_type: &mut &'static str,
) -> Result<HttpResponse, ApiError> {
    let settings = &state.settings;
    let crate::guard::Caller { identity, owner } = crate::guard::caller(req);
    let body = read_body(req, payload, settings.body_limit).await?;
    let request = ChatKitRequest::parse(&body).map_err(EngineError::from)?;
    *request_type = request.request.type_name();
    tracing::Span::current().record("request_type", *request_type);
    state.limiter.check_request(&request.request)?;
    // Taken before the engine starts the turn, so a refused request
    // writes nothing; held by the response body until the stream ends.
    let permit = if request.request.is_streaming() {
        Some(state.limiter.open_stream(&owner).inspect_err(|e| {
            tracing::info!(user_id = %owner, reason = %e, "stream refused");
        })?)
    } else {
        None
    };
    let mut ctx = RequestContext::new(owner);
    if let Some(tenant) = identity.tenant {
        ctx.data.insert("tenant".to_owned(), tenant);
        ctx.data.insert("user".to_owned(), identity.user);
    }
    for name in &state.context_headers {
        if let Some(value) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            ctx.data.insert(name.as_str().to_owned(), value.to_owned());
        }
    }
    match state.engine.handle(request.request, &ctx).await? {
        EngineResponse::Json(bytes) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(bytes)),
        EngineResponse::Stream(events) => Ok(HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream; charset=utf-8"),
            ))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
            .insert_header(("x-accel-buffering", "no"))
            .body(SseBody::new(events, settings.keep_alive).holding(permit))),
    }
}

/// Reads the whole body, refusing more than `limit` bytes (early from
/// `Content-Length` when the client sent one).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::Body(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The request span: tracing-actix-web's fields plus the ChatKit user and
/// request type, filled in once known.
pub struct ChatKitRootSpan;

impl RootSpanBuilder for ChatKitRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(request, user_id = Empty, request_type = Empty)
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
