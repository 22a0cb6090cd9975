//! The request handlers: record the request, apply the failure knobs, and
//! answer with the endpoint's stream or JSON; and `GET /stats`.

use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::{
    Behaviour, Endpoint, FakeState, TranscriptionRequest, answer, chat, lock, responses, stream,
};

pub(super) async fn responses_handler(
    state: web::Data<FakeState>,
    body: web::Bytes,
) -> HttpResponse {
    handle(&state, Endpoint::Responses, &body)
}

pub(super) async fn chat_handler(state: web::Data<FakeState>, body: web::Bytes) -> HttpResponse {
    handle(&state, Endpoint::Chat, &body)
}

/// `POST /audio/transcriptions`: reads the multipart `file` and `model`
/// fields, records them, and answers `{"text": "transcribed <N> bytes of
/// <content-type>"}` (or the injected failure).
pub(super) async fn transcriptions_handler(
    state: web::Data<FakeState>,
    mut form: actix_multipart::Multipart,
) -> HttpResponse {
    use futures_util::StreamExt as _;

    let mut seen = TranscriptionRequest::default();
    while let Some(field) = form.next().await {
        let mut field = match field {
            Ok(field) => field,
            Err(e) => {
                return HttpResponse::BadRequest().json(error_body(
                    400,
                    &format!("fake_model: bad multipart body: {e}"),
                ));
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(ToString::to_string);
        let file_name = field
            .content_disposition()
            .and_then(|d| d.get_filename())
            .map(str::to_owned);
        let mut data = Vec::new();
        while let Some(chunk) = field.next().await {
            match chunk {
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(e) => {
                    return HttpResponse::BadRequest().json(error_body(
                        400,
                        &format!("fake_model: bad multipart body: {e}"),
                    ));
                }
            }
        }
        match name.as_str() {
            "file" => {
                seen.file_size = data.len();
                seen.content_type = content_type;
                seen.file_name = file_name;
            }
            "model" => seen.model = Some(String::from_utf8_lossy(&data).into_owned()),
            _ => {}
        }
    }
    lock(&state.inner.transcriptions).push(seen.clone());
    let (behaviour, fail) = state.take_failure();
    if let Some(status) = fail {
        return failure(status, &behaviour);
    }
    let text = format!(
        "transcribed {} bytes of {}",
        seen.file_size,
        seen.content_type.as_deref().unwrap_or("unknown")
    );
    HttpResponse::Ok().json(json!({ "text": text }))
}

fn handle(state: &FakeState, endpoint: Endpoint, body: &[u8]) -> HttpResponse {
    let body: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let mut response = HttpResponse::BadRequest();
            return response.json(error_body(400, "fake_model: the body is not a JSON object"));
        }
    };
    let (behaviour, fail) = state.admit(endpoint, &body);
    let turn = match endpoint {
        Endpoint::Responses => answer::Turn::from_responses(&body),
        Endpoint::Chat => answer::Turn::from_chat(&body),
    };
    let c = &state.inner.counters;
    c.max_input_len.fetch_max(turn.input_len, Ordering::SeqCst);
    let name = match endpoint {
        Endpoint::Responses => "responses",
        Endpoint::Chat => "chat",
    };
    *lock(&state.inner.last_turn) = Some((name, turn.user_text.clone(), turn.input_len));
    if let Some(status) = fail {
        return failure(status, &behaviour);
    }
    let answer = answer::Answer::new(&turn, &behaviour, state);
    match answer.kind {
        answer::AnswerKind::Text { .. } => c.text_answers.fetch_add(1, Ordering::SeqCst),
        answer::AnswerKind::Tool { .. } => c.tool_call_answers.fetch_add(1, Ordering::SeqCst),
    };
    let streaming = body.get("stream").and_then(Value::as_bool) == Some(true);
    if !streaming {
        let json = match endpoint {
            Endpoint::Responses => responses::complete(&turn, &answer, state),
            Endpoint::Chat => chat::complete(&turn, &answer, state),
        };
        return HttpResponse::Ok().json(json);
    }
    c.streamed.fetch_add(1, Ordering::SeqCst);
    let frames = match endpoint {
        Endpoint::Responses => responses::stream(&turn, &answer, &behaviour, state),
        Endpoint::Chat => chat::stream(&turn, &answer, &behaviour, state, &body),
    };
    stream::respond(frames, &behaviour, state.clone())
}

/// An OpenAI-style error body for `status`.
fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("permission_denied", Value::Null),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        _ => ("server_error", json!("server_error")),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn failure(status: u16, behaviour: &Behaviour) -> HttpResponse {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(code);
    if let Some(ms) = behaviour.retry_after_ms {
        response.insert_header(("retry-after-ms", ms.to_string()));
    }
    if let Some(retry) = behaviour.should_retry {
        response.insert_header(("x-should-retry", retry.to_string()));
    }
    response.json(error_body(code.as_u16(), "fake_model: injected failure"))
}

pub(super) async fn stats(state: web::Data<FakeState>, request: HttpRequest) -> HttpResponse {
    let c = &state.inner.counters;
    let get = |n: &AtomicUsize| n.load(Ordering::SeqCst);
    let last = lock(&state.inner.last_turn).clone();
    let b = state.behaviour();
    let out = json!({
        "requests": get(&c.responses) + get(&c.chat),
        "responses_requests": get(&c.responses),
        "chat_requests": get(&c.chat),
        "streamed": get(&c.streamed),
        "text_answers": get(&c.text_answers),
        "tool_call_answers": get(&c.tool_call_answers),
        "injected_failures": get(&c.injected_failures),
        "disconnects": get(&c.disconnects),
        "last_endpoint": last.as_ref().map(|l| l.0),
        "last_user_text": last.as_ref().map(|l| l.1.clone()),
        "last_input_len": last.as_ref().map(|l| l.2),
        "max_input_len": get(&c.max_input_len),
        "uptime_s": state.inner.started.elapsed().as_secs_f64(),
        "config": {
            "tokens": b.tokens, "delay_ms": b.delay.as_millis() as u64,
            "ttft_ms": b.ttft.as_millis() as u64, "fake_ids": b.fake_ids,
            "tool_call": b.tool_call, "client_tool": b.client_tool, "reasoning": b.reasoning,
            "citations": b.citations, "fail_status": b.fail_status,
            "midstream": b.midstream.map(|m| format!("{m:?}").to_lowercase()),
            "stall": b.stall, "error_event": b.error_event,
        },
    });
    if matches!(
        request.query_string(),
        "reset=1" | "reset=true" | "reset=yes"
    ) {
        for n in [
            &c.responses,
            &c.chat,
            &c.streamed,
            &c.text_answers,
            &c.tool_call_answers,
            &c.injected_failures,
            &c.disconnects,
            &c.max_input_len,
        ] {
            n.store(0, Ordering::SeqCst);
        }
        lock(&state.inner.requests).clear();
        *lock(&state.inner.last_turn) = None;
    }
    HttpResponse::Ok().json(out)
}
