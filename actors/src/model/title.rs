//! Thread titles from a short model call.
//!
//! After the first user message of an untitled thread, the ThreadActor
//! asks the model for a title in the background (cheap settings: no tools,
//! a few output tokens, no history beyond that message, and optionally a
//! smaller model: `EngineConfig::title_model`). It never delays
//! the answer; when it arrives while the answer still streams, the client
//! sees it as `thread.updated`, otherwise on its next read.

use futures_util::StreamExt;
use serde_json::json;

use super::http::ModelHttp;
use super::{ModelConfig, ModelError, ResponsesEvent};

/// What the title model is told.
pub const TITLE_INSTRUCTIONS: &str = "Write a title of at most six words for a conversation that \
starts with the user's message below. Answer with the title only: no quotes, no final period.";

/// Longest title kept, in characters.
pub const MAX_TITLE_CHARS: usize = 80;

/// Asks the model for a title for a conversation starting with
/// `first_message`. `Ok(None)` when the model answered nothing usable.
pub async fn generate(
    http: &ModelHttp,
    model: &ModelConfig,
    title_model: Option<&str>,
    first_message: &str,
) -> Result<Option<String>, ModelError> {
    let Some((api, settings)) = model.provider() else {
        return Ok(super::echo::title_for(first_message));
    };
    let mut settings = settings.clone();
    if let Some(name) = title_model {
        settings.model = name.to_owned();
    }
    settings.instructions = Some(TITLE_INSTRUCTIONS.to_owned());
    settings.max_output_tokens = Some(32);
    settings.temperature = None;
    settings.extra_body.clear();
    let excerpt: String = first_message.chars().take(2000).collect();
    let input = [
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": excerpt}]}),
    ];
    let (url, body) = api.request(&settings, &input, &[]);
    let mut stream = http.stream(&url, &body).await?;
    let mut decoder = api.decoder();
    let mut text = String::new();
    while let Some(data) = stream.next().await {
        let events = decoder.push(&data?)?;
        for event in events {
            match event {
                ResponsesEvent::OutputTextDelta { delta, .. } => text.push_str(&delta),
                e if e.is_terminal() => return Ok(clean(&text)),
                _ => {}
            }
        }
    }
    // A title is a nicety: whatever text arrived before the stream ended
    // is good enough.
    Ok(clean(&text))
}

/// Trims quotes, a final period and whitespace; cuts long titles.
fn clean(raw: &str) -> Option<String> {
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line =
        line.trim_matches(|c: char| c == '"' || c == '\'' || c == '“' || c == '”' || c == '*');
    let line = line
        .strip_prefix("Title:")
        .unwrap_or(line)
        .trim()
        .trim_end_matches('.');
    if line.is_empty() {
        return None;
    }
    Some(line.chars().take(MAX_TITLE_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn titles_are_cleaned() {
        assert_eq!(clean("\"Trip to Rome.\"\n"), Some("Trip to Rome".into()));
        assert_eq!(
            clean("Title: Weather in Paris"),
            Some("Weather in Paris".into())
        );
        assert_eq!(clean("  \n "), None);
        assert_eq!(clean(&"x".repeat(200)).unwrap().len(), 80);
    }
}
