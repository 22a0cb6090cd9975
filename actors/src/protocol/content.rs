//! Message content: user input (§4.4) and assistant content, annotations
//! and sources (§4.6).

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

/// One part of a user message (§4.4), tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserMessageContent {
    /// `input_text`: plain text.
    InputText {
        /// The text.
        text: String,
    },
    /// `input_tag`: an @-mention of an application entity.
    InputTag {
        /// The entity id.
        id: String,
        /// The display text.
        text: String,
        /// Free-form entity data (required, kept verbatim).
        data: Map<String, Value>,
        /// Group label shown in the picker; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// Whether the tag is clickable; always emitted.
        #[serde(default)]
        interactive: bool,
    },
}

impl UserMessageContent {
    /// An `input_text` part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::InputText { text: text.into() }
    }
}

/// Per-message model options chosen in the composer (§4.4). An empty one
/// is `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InferenceOptions {
    /// The tool the user asked for; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The model the user picked; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// A tool chosen by the user: `{"id":"web_search"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolChoice {
    /// The tool id.
    pub id: String,
}

/// A user message as sent in `threads.create` and
/// `threads.add_user_message` (§4.4). `attachments` (ids) and
/// `inference_options` are required on input (`[]`/`{}` allowed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserMessageInput {
    /// The message parts (may be empty).
    pub content: Vec<UserMessageContent>,
    /// Ids of previously created attachments, in order.
    pub attachments: Vec<String>,
    /// Text the user quoted; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_text: Option<String>,
    /// Model options, passed through to the item.
    pub inference_options: InferenceOptions,
}

/// One part of an assistant message (§4.6): `annotations`, `text`, then
/// `"type":"output_text"` written **last**. On input `type` may be absent
/// but must be `"output_text"` if present.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "RawAssistantMessageContent")]
pub struct AssistantMessageContent {
    /// Citations; always emitted.
    pub annotations: Vec<Annotation>,
    /// Markdown text.
    pub text: String,
}

impl AssistantMessageContent {
    /// A part with this text and no annotations.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            annotations: Vec::new(),
            text: text.into(),
        }
    }
}

impl Serialize for AssistantMessageContent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AssistantMessageContent", 3)?;
        s.serialize_field("annotations", &self.annotations)?;
        s.serialize_field("text", &self.text)?;
        s.serialize_field("type", "output_text")?;
        s.end()
    }
}

/// The literal `"output_text"`.
#[derive(Default, Deserialize)]
enum OutputTextTag {
    #[default]
    #[serde(rename = "output_text")]
    OutputText,
}

#[derive(Deserialize)]
struct RawAssistantMessageContent {
    #[serde(default)]
    annotations: Vec<Annotation>,
    text: String,
    #[serde(rename = "type", default)]
    _tag: OutputTextTag,
}

impl From<RawAssistantMessageContent> for AssistantMessageContent {
    fn from(raw: RawAssistantMessageContent) -> Self {
        Self {
            annotations: raw.annotations,
            text: raw.text,
        }
    }
}

/// A citation in an assistant message (§4.6):
/// `{"type":"annotation","source":{...},"index":30}`. `type` is always
/// written first; on input it may be absent but must be `"annotation"` if
/// present.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "RawAnnotation")]
pub struct Annotation {
    /// What is cited.
    pub source: Source,
    /// Character position in the text where the marker goes; omitted when
    /// `None`.
    pub index: Option<usize>,
}

impl Serialize for Annotation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 2 + usize::from(self.index.is_some());
        let mut s = serializer.serialize_struct("Annotation", len)?;
        s.serialize_field("type", "annotation")?;
        s.serialize_field("source", &self.source)?;
        if let Some(index) = self.index {
            s.serialize_field("index", &index)?;
        }
        s.end()
    }
}

/// The literal `"annotation"`.
#[derive(Default, Deserialize)]
enum AnnotationTag {
    #[default]
    #[serde(rename = "annotation")]
    Annotation,
}

#[derive(Deserialize)]
struct RawAnnotation {
    #[serde(rename = "type", default)]
    _tag: AnnotationTag,
    source: Source,
    #[serde(default)]
    index: Option<usize>,
}

impl From<RawAnnotation> for Annotation {
    fn from(raw: RawAnnotation) -> Self {
        Self {
            source: raw.source,
            index: raw.index,
        }
    }
}

/// A cited source (§4.6): the common fields, then `type`, then the
/// type-specific fields ([`SourceKind`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// Display title (required).
    pub title: String,
    /// Longer description; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A date or time, as free text; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// Group label; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `url`, `file` or `entity`, with its own fields.
    #[serde(flatten)]
    pub kind: SourceKind,
}

impl Source {
    /// A `url` source with only a title and a URL.
    pub fn url(title: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            description: None,
            timestamp: None,
            group: None,
            kind: SourceKind::Url {
                url: url.into(),
                attribution: None,
            },
        }
    }
}

/// The source's `type` and type-specific fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceKind {
    /// A web page.
    Url {
        /// The page URL (kept verbatim).
        url: String,
        /// Attribution text; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attribution: Option<String>,
    },
    /// A file.
    File {
        /// The file name.
        filename: String,
    },
    /// An application entity.
    Entity {
        /// The entity id.
        id: String,
        /// An icon name; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        icon: Option<String>,
        /// Label; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Inline label; omitted when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inline_label: Option<String>,
        /// Whether it is clickable; always emitted.
        #[serde(default)]
        interactive: bool,
        /// Free-form data; always emitted.
        #[serde(default)]
        data: Map<String, Value>,
        /// Deprecated (`"lazy"`); emitted only if set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preview: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assistant_content_writes_type_last() {
        let part = AssistantMessageContent::text("hi");
        assert_eq!(
            serde_json::to_string(&part).unwrap(),
            r#"{"annotations":[],"text":"hi","type":"output_text"}"#
        );
    }

    #[test]
    fn assistant_content_type_is_optional_but_checked() {
        let ok: AssistantMessageContent = serde_json::from_str(r#"{"text":"a"}"#).unwrap();
        assert_eq!(ok, AssistantMessageContent::text("a"));
        assert!(
            serde_json::from_str::<AssistantMessageContent>(r#"{"text":"a","type":"input_text"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<AssistantMessageContent>(r#"{"text":"a","annotations":null}"#)
                .is_err()
        );
    }

    #[test]
    fn annotation_wire_order_and_optional_index() {
        let a = Annotation {
            source: Source::url("Example", "https://example.com"),
            index: None,
        };
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"type":"annotation","source":{"title":"Example","type":"url","url":"https://example.com"}}"#
        );
        assert!(
            serde_json::from_str::<Annotation>(
                r#"{"type":"note","source":{"title":"a","type":"file","filename":"f"}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn input_tag_requires_data_and_defaults_interactive() {
        let tag: UserMessageContent =
            serde_json::from_str(r#"{"type":"input_tag","id":"a","text":"A","data":{"x":null}}"#)
                .unwrap();
        assert_eq!(
            serde_json::to_string(&tag).unwrap(),
            r#"{"type":"input_tag","id":"a","text":"A","data":{"x":null},"interactive":false}"#
        );
        assert!(
            serde_json::from_str::<UserMessageContent>(
                r#"{"type":"input_tag","id":"a","text":"A"}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<UserMessageContent>(
                r#"{"type":"input_tag","id":"a","text":"A","data":{},"interactive":null}"#
            )
            .is_err()
        );
    }
}
