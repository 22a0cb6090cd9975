//! The attachment endpoints beside `/chatkit` (paths from the engine's
//! `AttachmentConfig`):
//!
//! - `POST {upload_path}` with `multipart/form-data` (the bytes in the
//!   `file` field, as ChatKit.js sends them), or `PUT {upload_path}` (or a
//!   non-multipart `POST`) with the raw bytes as the body: the second phase
//!   of a two-phase upload. Authenticated and scoped by user like `/chatkit`
//!   (another user's or an unknown id: 404); over the size limit: 413 with
//!   nothing kept. Answers the attachment JSON.
//! - `GET {preview_path}`: an image attachment's bytes with its content
//!   type. **Not** authenticated or scoped by user: `<img src>` cannot send
//!   a token or the user header, so the URL is a capability; its id is an unguessable UUIDv7 (74 random
//!   bits). Only `image/*` records are served, with `nosniff` and a
//!   sandboxing CSP, so an uploaded file can never run as a page of this
//!   origin.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chatkit_actors::EngineError;
use chatkit_actors::ids::UserId;
use futures_util::StreamExt;

use crate::http::{ApiError, AppState};

/// `POST`/`PUT {upload_path}`: stores the bytes of an attachment.
pub async fn upload(
    req: HttpRequest,
    payload: web::Payload,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId(crate::guard::caller(&req).owner);
    let engine = &state.engine;
    let multipart = req.method() == actix_web::http::Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("multipart/")
            });
    let attachment = if multipart {
        let mut form = actix_multipart::Multipart::new(req.headers(), payload);
        loop {
            match form.next().await {
                Some(Ok(field)) if field.name() == Some("file") => {
                    break engine.upload_attachment(&user, &id, field).await?;
                }
                // Other fields are skipped (read to their end).
                Some(Ok(mut field)) => {
                    while let Some(chunk) = field.next().await {
                        chunk.map_err(|e| ApiError::Body(e.to_string()))?;
                    }
                }
                Some(Err(e)) => return Err(ApiError::Body(e.to_string())),
                None => {
                    return Err(EngineError::bad_request(
                        "invalid_body",
                        "the multipart upload has no `file` field",
                    )
                    .into());
                }
            }
        }
    } else {
        engine.upload_attachment(&user, &id, payload).await?
    };
    Ok(HttpResponse::Ok().json(&attachment))
}

/// `GET {preview_path}`: an image attachment's bytes.
pub async fn preview(
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (mime_type, bytes) = state.engine.attachment_preview(&id).await?;
    let content_type = HeaderValue::from_str(&mime_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(bytes))
}
