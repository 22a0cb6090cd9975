//! `ResponsesEvent`: one event of a model call's stream, in the Responses
//! API's vocabulary (MODEL_STREAMING.md §1.4).
//!
//! This is the contract between the providers and the output converter:
//! the Responses provider parses SSE data into it directly, and the Chat
//! Completions provider's chunk accumulator produces the same events
//! (§2.5), so one converter (`convert.rs`) turns either into ChatKit events.
//!
//! Parsing is lenient: unknown event types become [`ResponsesEvent::Unknown`],
//! unknown keys are ignored, and ids and indexes that compatible servers
//! sometimes leave out are optional. Items and parts are kept as raw JSON:
//! output items are replayed to the provider exactly as received (§1.2).

use serde::Deserialize;
use serde_json::Value;

/// One Responses API stream event.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum ResponsesEvent {
    /// `response.created`: the first event.
    #[serde(rename = "response.created")]
    Created {
        /// The response object (`id` = `resp_…`).
        #[serde(default)]
        response: Value,
    },
    /// `response.in_progress`.
    #[serde(rename = "response.in_progress")]
    InProgress {},
    /// `response.output_item.added`: a new output item starts.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// The item's slot in `response.output`.
        #[serde(default)]
        output_index: Option<usize>,
        /// The item: `message`, `function_call`, `reasoning`, or a hosted tool call.
        item: Value,
    },
    /// `response.content_part.added`.
    #[serde(rename = "response.content_part.added")]
    ContentPartAdded {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The part's position in the message.
        #[serde(default)]
        content_index: usize,
        /// `{"type":"output_text",…}` or `{"type":"refusal",…}`.
        #[serde(default)]
        part: Value,
    },
    /// `response.output_text.delta`.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The part's position.
        #[serde(default)]
        content_index: usize,
        /// Text appended to the part.
        delta: String,
    },
    /// `response.output_text.annotation.added`: a citation.
    #[serde(rename = "response.output_text.annotation.added")]
    OutputTextAnnotationAdded {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The part's position.
        #[serde(default)]
        content_index: usize,
        /// The annotation's position in the part.
        #[serde(default)]
        annotation_index: Option<usize>,
        /// `url_citation`, `file_citation`, `container_file_citation`, `file_path`.
        annotation: Value,
    },
    /// `response.output_text.done`: the full text of a part.
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The part's position.
        #[serde(default)]
        content_index: usize,
        /// The full text.
        #[serde(default)]
        text: String,
    },
    /// `response.refusal.delta`.
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The part's position.
        #[serde(default)]
        content_index: usize,
        /// Refusal text appended.
        delta: String,
    },
    /// `response.refusal.done`.
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The part's position.
        #[serde(default)]
        content_index: usize,
        /// The full refusal text.
        #[serde(default)]
        refusal: String,
    },
    /// `response.content_part.done`: the final part, with annotations.
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The part's position.
        #[serde(default)]
        content_index: usize,
        /// The final part.
        #[serde(default)]
        part: Value,
    },
    /// `response.function_call_arguments.delta`.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// A fragment of the JSON arguments string.
        delta: String,
    },
    /// `response.function_call_arguments.done`.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The full arguments string.
        #[serde(default)]
        arguments: String,
    },
    /// `response.reasoning_summary_part.added`.
    #[serde(rename = "response.reasoning_summary_part.added")]
    ReasoningSummaryPartAdded {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// Which summary paragraph.
        #[serde(default)]
        summary_index: usize,
    },
    /// `response.reasoning_summary_text.delta`.
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// Which summary paragraph.
        #[serde(default)]
        summary_index: usize,
        /// Text appended to the paragraph.
        delta: String,
    },
    /// `response.reasoning_summary_text.done`.
    #[serde(rename = "response.reasoning_summary_text.done")]
    ReasoningSummaryTextDone {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// Which summary paragraph.
        #[serde(default)]
        summary_index: usize,
        /// The full paragraph.
        #[serde(default)]
        text: String,
    },
    /// `response.reasoning_summary_part.done`.
    #[serde(rename = "response.reasoning_summary_part.done")]
    ReasoningSummaryPartDone {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// Which summary paragraph.
        #[serde(default)]
        summary_index: usize,
    },
    /// `response.reasoning_text.delta`: raw reasoning text (open-weight models).
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningTextDelta {
        /// Provider item id.
        #[serde(default)]
        item_id: Option<String>,
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// Text appended.
        delta: String,
    },
    /// `response.output_item.done`: the item, final.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// The item's slot.
        #[serde(default)]
        output_index: Option<usize>,
        /// The complete item, replayed to the provider as is.
        item: Value,
    },
    /// `response.completed`: terminal, success.
    #[serde(rename = "response.completed")]
    Completed {
        /// The final response (`usage`, `output`).
        #[serde(default)]
        response: Value,
    },
    /// `response.incomplete`: terminal (`incomplete_details.reason`).
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// The response.
        #[serde(default)]
        response: Value,
    },
    /// `response.failed`: terminal (`response.error`).
    #[serde(rename = "response.failed")]
    Failed {
        /// The response.
        #[serde(default)]
        response: Value,
    },
    /// `error`: terminal, stream-level. Two shapes (§1.7): flat
    /// `code`/`message`, or nested under `error`.
    #[serde(rename = "error")]
    Error {
        /// Flat code.
        #[serde(default)]
        code: Option<String>,
        /// Flat message.
        #[serde(default)]
        message: Option<String>,
        /// Nested `{type, code, message}`.
        #[serde(default)]
        error: Option<Value>,
    },
    /// Any other event: ignored.
    #[serde(other)]
    Unknown,
}

impl ResponsesEvent {
    /// Parses one SSE `data` payload.
    pub fn parse(data: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(data)
    }

    /// Whether this event ends the model call.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ResponsesEvent::Completed { .. }
                | ResponsesEvent::Incomplete { .. }
                | ResponsesEvent::Failed { .. }
                | ResponsesEvent::Error { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_catalogue_and_ignores_the_rest() {
        let e = ResponsesEvent::parse(r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_01","output_index":0,"content_index":0,"delta":"It is ","logprobs":[],"obfuscation":"k2"}"#).unwrap();
        assert_eq!(
            e,
            ResponsesEvent::OutputTextDelta {
                item_id: Some("msg_01".into()),
                output_index: Some(0),
                content_index: 0,
                delta: "It is ".into()
            }
        );
        assert_eq!(
            ResponsesEvent::parse(r#"{"type":"response.foo","x":1}"#).unwrap(),
            ResponsesEvent::Unknown
        );
        let nested = ResponsesEvent::parse(r#"{"type":"error","sequence_number":2,"error":{"type":"too_many_requests","code":"rate_limit_exceeded","message":"slow down","param":null}}"#).unwrap();
        assert!(nested.is_terminal());
    }
}
