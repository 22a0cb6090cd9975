//! What the request bodies of both providers share: the model, the tools,
//! `stream: true`, the sampling options and the configured extra fields.
//! The provider modules ([`super::responses`], [`super::chat`]) supply
//! the parts that differ through [`BodyParts`].

use serde_json::{Map, Value};

use super::ProviderSettings;

/// The provider-specific parts of a request body.
pub(super) struct BodyParts {
    /// Fields right after `model`, in order (the conversation).
    pub conversation: Vec<(&'static str, Value)>,
    /// The tools in the provider's shape; the key is omitted when empty.
    pub tools: Vec<Value>,
    /// Fields right after `stream: true`, in order.
    pub stream_fields: Vec<(&'static str, Value)>,
    /// The key the output token cap is sent under.
    pub max_tokens_key: &'static str,
}

/// A request body. Keys in order: `model` (`model_override` or the
/// configured model), `parts.conversation`, `tools` (when there are any),
/// `stream: true`, `parts.stream_fields`, then `temperature`, `top_p` and
/// the token cap (under `parts.max_tokens_key`) when set, then
/// `settings.extra_body` merged in (see [`merge_extra_body`]).
pub(super) fn request_body(
    settings: &ProviderSettings,
    model_override: Option<&str>,
    parts: BodyParts,
) -> Value {
    let mut body = Map::new();
    body.insert(
        "model".into(),
        model_override.unwrap_or(&settings.model).into(),
    );
    for (key, value) in parts.conversation {
        body.insert(key.into(), value);
    }
    if !parts.tools.is_empty() {
        body.insert("tools".into(), parts.tools.into());
    }
    body.insert("stream".into(), true.into());
    for (key, value) in parts.stream_fields {
        body.insert(key.into(), value);
    }
    if let Some(temperature) = settings.temperature {
        body.insert("temperature".into(), temperature.into());
    }
    if let Some(top_p) = settings.top_p {
        body.insert("top_p".into(), top_p.into());
    }
    if let Some(max) = settings.max_output_tokens {
        body.insert(parts.max_tokens_key.into(), max.into());
    }
    merge_extra_body(&mut body, &settings.extra_body);
    Value::Object(body)
}

/// Merges configured extra fields into a request body: its keys win (a key
/// already present keeps its position), and a `null` value removes the key,
/// so a configuration can drop a field a server rejects (e.g.
/// `"stream_options": null`).
pub fn merge_extra_body(body: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        if value.is_null() {
            body.shift_remove(key);
        } else {
            body.insert(key.clone(), value.clone());
        }
    }
}
