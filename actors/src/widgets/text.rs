//! Text components: [`Text`], [`Title`], [`Caption`], [`Markdown`],
//! [`Badge`], [`Label`], [`Icon`].
//!
//! Colors accept a token (`"secondary"`), a CSS string or a
//! [`ThemeColor`](crate::widgets::ThemeColor); sizes, weights and
//! alignments are the reference's tokens, kept as strings (the client
//! renderer is the authority on which it accepts).

use serde_json::Value;

component! {
    /// Plain text (`Text`). With an `id`, a streamed Text gets its appends as
    /// `widget.streaming_text.value_delta` updates (§8.6).
    ///
    /// ```
    /// use chatkit_actors::widgets::Text;
    ///
    /// let text = Text::new("Sunny").id("summary").streaming(true);
    /// assert_eq!(
    ///     serde_json::to_string(&text).unwrap(),
    ///     r#"{"id":"summary","type":"Text","value":"Sunny","streaming":true}"#
    /// );
    /// ```
    Text = "Text" {
        /// The text.
        value: String [req],
        /// Streaming-friendly transitions while the text grows.
        streaming: bool [opt],
        /// Italic.
        italic: bool [opt],
        /// Struck through.
        line_through: bool [opt],
        /// Text color: a token, a CSS color or a `ThemeColor`.
        color: Value [opt],
        /// `normal`, `medium`, `semibold` or `bold`.
        weight: String [opt],
        /// Width: px or a CSS string.
        width: Value [float],
        /// `xs` to `xl`.
        size: String [opt],
        /// `start`, `center` or `end`.
        text_align: String [opt],
        /// Truncate overflow with an ellipsis.
        truncate: bool [opt],
        /// Lines reserved at least.
        min_lines: i64 [opt],
        /// Lines shown at most.
        max_lines: i64 [opt],
        /// `false`, or inline editing options ([`EditableProps`]).
        editable: Value [opt],
    }
}

impl Text {
    /// A text.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

props! {
    /// Inline editing options of a [`Text`] (its `editable` prop).
    ///
    /// ```
    /// use chatkit_actors::widgets::{EditableProps, Text};
    ///
    /// let text = Text::new("Draft").editable(EditableProps::new("title").required(true));
    /// assert_eq!(
    ///     serde_json::to_string(&text).unwrap(),
    ///     r#"{"type":"Text","value":"Draft","editable":{"name":"title","required":true}}"#
    /// );
    /// ```
    EditableProps {
        /// The form field name.
        name: String [req],
        /// Focus the input when it appears.
        auto_focus: bool [opt],
        /// Select all text on focus.
        auto_select: bool [opt],
        /// The native autocomplete hint.
        auto_complete: String [opt],
        /// Allow password managers and autofill extensions.
        allow_autofill_extensions: bool [opt],
        /// A validation regex.
        pattern: String [opt],
        /// Placeholder text.
        placeholder: String [opt],
        /// Required for form submission.
        required: bool [opt],
    }
}

impl EditableProps {
    /// Editing as form field `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

into_value!(EditableProps);

component! {
    /// A headline (`Title`).
    ///
    /// ```
    /// use chatkit_actors::widgets::Title;
    ///
    /// let title = Title::new("Forecast").size("lg");
    /// assert_eq!(
    ///     serde_json::to_string(&title).unwrap(),
    ///     r#"{"type":"Title","value":"Forecast","size":"lg"}"#
    /// );
    /// ```
    Title = "Title" {
        /// The text.
        value: String [req],
        /// Text color: a token, a CSS color or a `ThemeColor`.
        color: Value [opt],
        /// `normal`, `medium`, `semibold` or `bold`.
        weight: String [opt],
        /// `sm` to `5xl`.
        size: String [opt],
        /// `start`, `center` or `end`.
        text_align: String [opt],
        /// Truncate overflow with an ellipsis.
        truncate: bool [opt],
        /// Lines shown at most.
        max_lines: i64 [opt],
    }
}

impl Title {
    /// A title.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

component! {
    /// Supporting text (`Caption`).
    Caption = "Caption" {
        /// The text.
        value: String [req],
        /// Text color: a token, a CSS color or a `ThemeColor`.
        color: Value [opt],
        /// `normal`, `medium`, `semibold` or `bold`.
        weight: String [opt],
        /// `sm`, `md` or `lg`.
        size: String [opt],
        /// `start`, `center` or `end`.
        text_align: String [opt],
        /// Truncate overflow with an ellipsis.
        truncate: bool [opt],
        /// Lines shown at most.
        max_lines: i64 [opt],
    }
}

impl Caption {
    /// A caption.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

component! {
    /// Markdown source (`Markdown`); streamed like [`Text`] when it has an
    /// `id`.
    Markdown = "Markdown" {
        /// The Markdown source.
        value: String [req],
        /// Streaming-friendly transitions while the text grows.
        streaming: bool [opt],
    }
}

impl Markdown {
    /// A Markdown block.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A small status label (`Badge`).
    Badge = "Badge" {
        /// The text.
        label: String [req],
        /// `secondary`, `success`, `danger`, `warning`, `info` or `discovery`.
        color: String [opt],
        /// `solid`, `soft` or `outline`.
        variant: String [opt],
        /// `sm`, `md` or `lg`.
        size: String [opt],
        /// Fully rounded.
        pill: bool [opt],
    }
}

impl Badge {
    /// A badge.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A form field's label (`Label`).
    Label = "Label" {
        /// The text.
        value: String [req],
        /// The `name` of the field it describes.
        field_name: String [req],
        /// `xs` to `xl`.
        size: String [opt],
        /// `normal`, `medium`, `semibold` or `bold`.
        weight: String [opt],
        /// `start`, `center` or `end`.
        text_align: String [opt],
        /// Text color: a token, a CSS color or a `ThemeColor`.
        color: Value [opt],
    }
}

impl Label {
    /// A label for the field named `field_name`.
    pub fn new(value: impl Into<String>, field_name: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            field_name: field_name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A built-in icon (`Icon`): an icon name (§4.11).
    Icon = "Icon" {
        /// The icon name, e.g. `star` or `lucide:...`.
        name: String [req],
        /// Icon color: a token, a CSS color or a `ThemeColor`.
        color: Value [opt],
        /// `xs` to `3xl`.
        size: String [opt],
    }
}

impl Icon {
    /// The icon `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}
