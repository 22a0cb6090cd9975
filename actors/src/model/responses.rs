//! The Responses API wire format (MODEL_STREAMING.md §1): the request body
//! of `POST {base_url}/responses` and the parsing of its stream events.
//! Pure functions; the HTTP side is in `http.rs`.

use serde_json::{Value, json};

use super::body::{self, BodyParts};
use super::{FunctionTool, ModelError, ProviderSettings, ResponsesEvent};

/// The placeholder item id of the Agents SDK's Chat Completions converter
/// (§2.5), which [`super::chat::ChunkAccumulator`] reproduces on purpose.
/// It must never reach a provider: OpenAI rejects it (§1.2).
pub use super::convert::FAKE_ID;

pub use super::body::merge_extra_body;

/// The body of one streamed model call (§1.1).
///
/// Keys in order: `model` (`model_override` or the configured model),
/// `input` (items whose `id` is [`FAKE_ID`] lose it), `instructions` (if
/// set), `tools` (flat shape; omitted when there are none), `stream: true`,
/// then `temperature`, `top_p`, `max_output_tokens` when set, then
/// `settings.extra_body` merged in (see [`merge_extra_body`]).
pub fn request_body(
    settings: &ProviderSettings,
    input: &[Value],
    tools: &[FunctionTool],
    model_override: Option<&str>,
) -> Value {
    let mut conversation = vec![("input", input.iter().map(without_placeholder_id).collect())];
    if let Some(instructions) = &settings.instructions {
        conversation.push(("instructions", instructions.as_str().into()));
    }
    let parts = BodyParts {
        conversation,
        tools: tools.iter().map(tool).collect(),
        stream_fields: Vec::new(),
        max_tokens_key: "max_output_tokens",
    };
    body::request_body(settings, model_override, parts)
}

/// Parses one SSE data payload of a Responses stream (§1.3–1.4). Unknown
/// event types become [`ResponsesEvent::Unknown`], and so does a `[DONE]`
/// marker, which some compatible servers send (the stream then ends, and a
/// stream without a terminal event is a failure for the caller to report).
/// A payload that is not a JSON event is an error.
pub fn parse_event(data: &str) -> Result<ResponsesEvent, ModelError> {
    if data.starts_with("[DONE]") {
        return Ok(ResponsesEvent::Unknown);
    }
    ResponsesEvent::parse(data).map_err(|e| {
        let head: String = data.chars().take(80).collect();
        ModelError::Malformed(format!("an event is not a JSON event ({e}): {head}"))
    })
}

/// `{"type":"function","name","description","parameters","strict"}`.
fn tool(tool: &FunctionTool) -> Value {
    json!({
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "strict": tool.strict,
    })
}

/// The item, without an `id` that is the Chat Completions placeholder.
fn without_placeholder_id(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(object) = item.as_object_mut()
        && object.get("id").and_then(Value::as_str) == Some(FAKE_ID)
    {
        object.shift_remove("id");
    }
    item
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The weather tool of §1.1.
    pub(crate) fn weather_tool() -> FunctionTool {
        FunctionTool {
            name: "get_weather".into(),
            description: "Get weather for a city.".into(),
            parameters: json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": false,
            }),
            strict: true,
        }
    }

    pub(crate) fn settings() -> ProviderSettings {
        let mut settings = ProviderSettings::new("gpt-4.1-mini");
        settings.instructions = Some("Be brief.".into());
        settings
    }

    /// (a) the first turn: one user message.
    pub(crate) fn first_turn() -> Vec<Value> {
        vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}),
        ]
    }

    /// (b) a later turn whose history has a completed client tool call.
    pub(crate) fn multi_turn() -> Vec<Value> {
        vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What did I select?"}]}),
            json!({"type": "function_call", "call_id": "call_9", "name": "get_selection", "arguments": "{\"scope\":\"doc\"}"}),
            json!({"type": "function_call_output", "call_id": "call_9", "output": "{\"text\":\"X\"}"}),
            json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "You selected X.", "annotations": []}]}),
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "ok"}]}),
        ]
    }

    /// (c) the second model call of a run: the run's reasoning and
    /// function call replayed as received, then the tool's output.
    pub(crate) fn replayed_run() -> Vec<Value> {
        vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}),
            json!({"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "**Plan** call tool"}]}),
            json!({"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}),
            json!({"type": "function_call_output", "call_id": "call_1", "output": "Sunny in Paris"}),
        ]
    }

    #[test]
    fn first_turn_body() {
        let body = request_body(&settings(), &first_turn(), &[], None);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"model":"gpt-4.1-mini","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in Paris?"}]}],"instructions":"Be brief.","stream":true}"#
        );
    }

    #[test]
    fn multi_turn_body_with_a_client_tool_call() {
        let mut settings = settings();
        settings.instructions = None;
        settings.temperature = Some(0.5);
        let body = request_body(&settings, &multi_turn(), &[], Some("gpt-4.1"));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            concat!(
                r#"{"model":"gpt-4.1","input":["#,
                r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"What did I select?"}]},"#,
                r#"{"type":"function_call","call_id":"call_9","name":"get_selection","arguments":"{\"scope\":\"doc\"}"},"#,
                r#"{"type":"function_call_output","call_id":"call_9","output":"{\"text\":\"X\"}"},"#,
                r#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"You selected X.","annotations":[]}]},"#,
                r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"ok"}]}"#,
                r#"],"stream":true,"temperature":0.5}"#
            )
        );
    }

    #[test]
    fn replayed_run_body_with_tools_and_extra_body() {
        let mut settings = settings();
        settings.top_p = Some(0.9);
        settings.max_output_tokens = Some(500);
        settings.extra_body = serde_json::from_str(
            r#"{"stream":true,"reasoning":{"effort":"low","summary":"auto"},"store":false,"include":["reasoning.encrypted_content"],"top_p":null}"#,
        )
        .unwrap();
        let body = request_body(&settings, &replayed_run(), &[weather_tool()], None);
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            concat!(
                r#"{"model":"gpt-4.1-mini","input":["#,
                r#"{"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in Paris?"}]},"#,
                r#"{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"**Plan** call tool"}]},"#,
                r#"{"id":"fc_1","type":"function_call","status":"completed","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},"#,
                r#"{"type":"function_call_output","call_id":"call_1","output":"Sunny in Paris"}"#,
                r#"],"instructions":"Be brief.","#,
                r#""tools":[{"type":"function","name":"get_weather","description":"Get weather for a city.","#,
                r#""parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false},"strict":true}],"#,
                r#""stream":true,"max_output_tokens":500,"#,
                r#""reasoning":{"effort":"low","summary":"auto"},"store":false,"include":["reasoning.encrypted_content"]}"#
            )
        );
    }

    #[test]
    fn placeholder_ids_never_reach_the_provider() {
        let input = [
            json!({"type": "message", "id": FAKE_ID, "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}),
            json!({"type": "function_call", "id": FAKE_ID, "call_id": "call_1", "name": "f", "arguments": "{}"}),
            json!({"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "f", "arguments": "{}"}),
        ];
        let body = request_body(&settings(), &input, &[], None);
        assert_eq!(
            body["input"],
            json!([
                {"type": "message", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]},
                {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "f", "arguments": "{}"},
            ])
        );
    }

    #[test]
    fn parse_event_wraps_the_contract() {
        assert_eq!(
            parse_event(r#"{"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}"#).unwrap(),
            ResponsesEvent::OutputTextDelta {
                item_id: Some("msg_1".into()),
                output_index: Some(0),
                content_index: 0,
                delta: "Hi".into()
            }
        );
        assert_eq!(parse_event("[DONE]").unwrap(), ResponsesEvent::Unknown);
        assert!(parse_event("{not json").is_err());
        assert!(parse_event(r#"{"no":"type"}"#).is_err());
    }
}
