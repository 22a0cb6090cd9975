//! Dictation through the provider: `POST {base}/audio/transcriptions`
//! (OpenAI's audio transcription endpoint, also served by LiteLLM, Groq,
//! vLLM and others) as `multipart/form-data` with a `file` and a `model`
//! field; the answer is `{"text": …}`.
//!
//! The request goes through [`ModelHttp::post_multipart`], so it has the
//! provider's key, extra headers, timeouts and retry policy.

use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::ProviderSettings;
use super::error::ModelError;
use super::http::ModelHttp;
use crate::responder::AudioInput;

/// The transcription model used when none is configured.
pub const DEFAULT_TRANSCRIPTION_MODEL: &str = "gpt-4o-mini-transcribe";

/// Transcribes `audio` with `model` at the provider of `settings`:
/// `POST {base_url}/audio/transcriptions`, fields `file` (the bytes, named
/// `audio.<ext>` after the media type, with the media type as its
/// `Content-Type`) and `model`. Returns the `text` of the answer.
///
/// Errors: what [`ModelHttp::post_multipart`] returns, and
/// [`ModelError::Malformed`] when the answer has no string `text`.
pub async fn transcribe(
    http: &ModelHttp,
    settings: &ProviderSettings,
    model: &str,
    audio: &AudioInput,
) -> Result<String, ModelError> {
    let url = settings.url("audio/transcriptions");
    let file_name = audio_file_name(&audio.media_type);
    let content_type = audio.media_type.trim().to_ascii_lowercase();
    let answer = http
        .post_multipart(&url, || {
            let part = || Part::bytes(audio.data.clone()).file_name(file_name.clone());
            // An unparsable media type is sent without a part Content-Type.
            let part = part().mime_str(&content_type).unwrap_or_else(|_| part());
            Form::new()
                .part("file", part)
                .text("model", model.to_owned())
        })
        .await?;
    match answer.get("text") {
        Some(Value::String(text)) => Ok(text.clone()),
        _ => Err(ModelError::Malformed(
            "the transcription answer has no `text`".to_owned(),
        )),
    }
}

/// A provider transcription ready to call: the provider's client and
/// settings and the transcription model. Cheap to clone (the connection
/// pool is shared). The engine builds one when a real model and a
/// transcription model are configured and hands it to responders in
/// [`RequestScope::transcriber`](crate::responder::RequestScope::transcriber).
#[derive(Clone, Debug)]
pub struct Transcriber {
    http: ModelHttp,
    settings: std::sync::Arc<ProviderSettings>,
    model: String,
}

impl Transcriber {
    /// A transcriber for `model` at the provider of `settings`, through `http`.
    pub fn new(http: ModelHttp, settings: ProviderSettings, model: impl Into<String>) -> Self {
        Self {
            http,
            settings: std::sync::Arc::new(settings),
            model: model.into(),
        }
    }

    /// The transcription model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// See [`transcribe`].
    pub async fn transcribe(&self, audio: &AudioInput) -> Result<String, ModelError> {
        transcribe(&self.http, &self.settings, &self.model, audio).await
    }
}

/// `audio.<ext>` for a media type (providers often tell the format by the
/// file name's extension): `audio/webm` → `audio.webm`, `audio/mpeg` →
/// `audio.mp3`, `audio/x-wav` → `audio.wav`; an unknown subtype is used
/// as is when it is alphanumeric, else `audio.bin`.
pub fn audio_file_name(media_type: &str) -> String {
    let media_type = media_type.trim().to_ascii_lowercase();
    let subtype = media_type.split_once('/').map_or("", |(_, s)| s);
    let ext = match subtype {
        "mpeg" | "mp3" | "mpga" => "mp3",
        "mp4" => "mp4",
        "x-m4a" | "m4a" | "aac" => "m4a",
        "wav" | "x-wav" | "wave" | "vnd.wave" => "wav",
        "ogg" | "opus" => "ogg",
        "x-flac" | "flac" => "flac",
        "webm" => "webm",
        other if !other.is_empty() && other.chars().all(|c| c.is_ascii_alphanumeric()) => other,
        _ => "bin",
    };
    format!("audio.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_media_type() {
        for (media, name) in [
            ("audio/webm", "audio.webm"),
            ("audio/mp4", "audio.mp4"),
            ("audio/x-m4a", "audio.m4a"),
            ("audio/ogg", "audio.ogg"),
            ("audio/mpeg", "audio.mp3"),
            ("audio/x-wav", "audio.wav"),
            ("Audio/FLAC", "audio.flac"),
            ("audio/3gpp", "audio.3gpp"),
            ("audio/x-weird+thing", "audio.bin"),
            ("nonsense", "audio.bin"),
        ] {
            assert_eq!(audio_file_name(media), name, "{media}");
        }
    }
}
