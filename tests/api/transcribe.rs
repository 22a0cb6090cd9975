//! `input.transcribe` through the provider's `audio/transcriptions`
//! endpoint (the fake model), with both real model kinds.

use chatkit_actors::model::ModelConfig;
use chatkit_server::fake_model::{Behaviour, FakeModel, TranscriptionRequest};
use serde_json::{Value, json};

use crate::helpers::*;

fn models(fake: &FakeModel) -> [ModelConfig; 2] {
    [
        ModelConfig::Responses(fake_provider(fake)),
        ModelConfig::Chat(fake_provider(fake)),
    ]
}

fn transcribe(audio: &[u8], mime_type: &str) -> Value {
    use base64::Engine as _;
    let audio_base64 = base64::engine::general_purpose::STANDARD.encode(audio);
    json!({"type": "input.transcribe", "params": {"audio_base64": audio_base64, "mime_type": mime_type}})
}

#[actix_web::test]
async fn audio_goes_to_the_provider_and_its_text_comes_back() {
    let fake = FakeModel::start(Behaviour::default()).await.unwrap();
    for model in models(&fake) {
        let app = spawn_app_with(AppOptions::with_model(model)).await;
        let audio = b"\x1aE\xdf\xa3fake-webm-bytes";
        let reply = app.post(&transcribe(audio, "audio/webm;codecs=opus")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            reply.json(),
            json!({"text": format!("transcribed {} bytes of audio/webm", audio.len())})
        );
        app.stop().await;
    }
    let seen = fake.transcriptions();
    let expected = TranscriptionRequest {
        model: Some("gpt-4o-mini-transcribe".into()),
        file_size: 19,
        content_type: Some("audio/webm".into()),
        file_name: Some("audio.webm".into()),
    };
    assert_eq!(seen, [expected.clone(), expected]);
    assert_eq!(fake.request_count(), 0, "no chat request was made");
}

#[actix_web::test]
async fn the_transcription_model_and_file_name_follow_the_configuration() {
    let fake = FakeModel::start(Behaviour::default()).await.unwrap();
    let app = spawn_app_with(AppOptions {
        transcription_model: Some(Some("whisper-1".into())),
        ..AppOptions::with_model(ModelConfig::Chat(fake_provider(&fake)))
    })
    .await;
    let reply = app.post(&transcribe(&[7; 1000], "audio/mp4")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["text"], "transcribed 1000 bytes of audio/mp4");
    let seen = fake.transcriptions();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].model.as_deref(), Some("whisper-1"));
    assert_eq!(seen[0].file_name.as_deref(), Some("audio.mp4"));
}

#[actix_web::test]
async fn oversized_audio_is_a_413_before_the_provider_is_called() {
    let fake = FakeModel::start(Behaviour::default()).await.unwrap();
    for model in models(&fake) {
        let app = spawn_app_with(AppOptions {
            max_audio_bytes: Some(100),
            ..AppOptions::with_model(model)
        })
        .await;
        let reply = app.post(&transcribe(&[0; 101], "audio/ogg")).await;
        assert_eq!(reply.status, 413, "{}", reply.body);
        assert_eq!(reply.error_code(), "payload_too_large");
        let reply = app.post(&transcribe(&[0; 100], "audio/ogg")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        app.stop().await;
    }
    assert_eq!(fake.transcriptions().len(), 2);
}

#[actix_web::test]
async fn the_echo_model_says_transcription_is_not_configured() {
    let app = spawn_app().await;
    let reply = app.post(&transcribe(b"abc", "audio/webm")).await;
    assert_eq!(reply.status, 501, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_implemented");
    assert_eq!(
        reply.json()["error"]["message"],
        "transcription is not configured: the offline echo model cannot transcribe; \
         set a provider or a transcription model"
    );
}

#[actix_web::test]
async fn transcription_turned_off_is_a_501_without_a_provider_call() {
    let fake = FakeModel::start(Behaviour::default()).await.unwrap();
    let app = spawn_app_with(AppOptions {
        transcription_model: Some(None),
        ..AppOptions::with_model(ModelConfig::Responses(fake_provider(&fake)))
    })
    .await;
    let reply = app.post(&transcribe(b"abc", "audio/webm")).await;
    assert_eq!(reply.status, 501, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_implemented");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set a transcription model")
    );
    assert!(fake.transcriptions().is_empty());
}

#[actix_web::test]
async fn a_provider_failure_is_a_502_transcription_failed() {
    let fake = FakeModel::start(Behaviour {
        fail_status: Some(401),
        ..Behaviour::default()
    })
    .await
    .unwrap();
    for model in models(&fake) {
        let app = spawn_app_with(AppOptions::with_model(model)).await;
        let reply = app.post(&transcribe(b"abc", "audio/webm")).await;
        assert_eq!(reply.status, 502, "{}", reply.body);
        assert_eq!(reply.error_code(), "transcription_failed");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("rejected its credentials"), "{message}");
        assert!(!message.contains("test-key"), "{message}");
        app.stop().await;
    }
    assert_eq!(fake.transcriptions().len(), 2, "a 401 is not retried");
}

#[actix_web::test]
async fn a_transient_provider_failure_is_retried() {
    let fake = FakeModel::start(Behaviour {
        fail_status: Some(503),
        fail_times: Some(1),
        retry_after_ms: Some(1),
        ..Behaviour::default()
    })
    .await
    .unwrap();
    let mut s = fake_provider(&fake);
    s.max_retries = 1;
    let app = spawn_app_with(AppOptions::with_model(ModelConfig::Responses(s))).await;
    let reply = app.post(&transcribe(b"abcd", "audio/wav")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["text"], "transcribed 4 bytes of audio/wav");
    let seen = fake.transcriptions();
    assert_eq!(seen.len(), 2, "the form was rebuilt for the retry");
    assert!(
        seen.iter()
            .all(|t| t.file_size == 4 && t.file_name.as_deref() == Some("audio.wav"))
    );
}
