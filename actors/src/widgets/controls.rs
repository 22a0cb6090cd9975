//! Controls: [`Button`], [`Select`], [`DatePicker`], [`Checkbox`],
//! [`Input`], [`Textarea`], [`RadioGroup`]. The action a control fires is
//! an [`ActionConfig`] (§4.10; builder methods in `action.rs`).

use serde::{Deserialize, Serialize};

use crate::protocol::ActionConfig;

component! {
    /// A button (`Button`), usually firing `onClickAction`.
    ///
    /// ```
    /// use chatkit_actors::protocol::ActionConfig;
    /// use chatkit_actors::widgets::Button;
    /// use serde_json::json;
    ///
    /// let send = Button::new("Send")
    ///     .on_click(ActionConfig::new("send_email").payload(json!({"draft_id": "d_1"})));
    /// assert_eq!(
    ///     serde_json::to_string(&send).unwrap(),
    ///     concat!(
    ///         r#"{"type":"Button","label":"Send","onClickAction":{"type":"send_email","#,
    ///         r#""payload":{"draft_id":"d_1"},"handler":"server","loadingBehavior":"auto","streaming":true}}"#
    ///     )
    /// );
    /// ```
    Button = "Button" {
        /// Submits the enclosing form.
        submit: bool [opt],
        /// The text.
        label: String [opt],
        /// The action fired on click.
        on_click_action: ActionConfig [opt => on_click],
        /// Icon before the label (alone: an icon button).
        icon_start: String [opt],
        /// Icon after the label.
        icon_end: String [opt],
        /// `primary` or `secondary`.
        style: String [opt],
        /// `sm` to `2xl`.
        icon_size: String [opt],
        /// `primary`, `secondary`, `info`, `discovery`, `success`, `caution`, `warning`, `danger`.
        color: String [opt],
        /// `solid`, `soft`, `outline` or `ghost`.
        variant: String [opt],
        /// `3xs` to `3xl`.
        size: String [opt],
        /// Fully rounded.
        pill: bool [opt],
        /// Equal width and height.
        uniform: bool [opt],
        /// Full width.
        block: bool [opt],
        /// Disabled.
        disabled: bool [opt],
    }
}

impl Button {
    /// A button labelled `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Self::default().label(label)
    }
}

/// One choice of a [`Select`]: `{value, label, disabled?, description?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectOption {
    /// The submitted value.
    pub value: String,
    /// The text shown.
    pub label: String,
    /// Not selectable; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Secondary text under the label; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl SelectOption {
    /// An option submitting `value`, shown as `label`.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            label: label.into(),
            ..Self::default()
        }
    }

    /// Sets `disabled`.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Sets `description`.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

component! {
    /// A dropdown (`Select`).
    Select = "Select" {
        /// The form field name.
        name: String [req],
        /// The choices.
        options: Vec<SelectOption> [req],
        /// The action fired when the value changes.
        on_change_action: ActionConfig [opt => on_change],
        /// Text shown when nothing is selected.
        placeholder: String [opt],
        /// The initial value.
        default_value: String [opt],
        /// `solid`, `soft`, `outline` or `ghost`.
        variant: String [opt],
        /// `3xs` to `3xl`.
        size: String [opt],
        /// Fully rounded.
        pill: bool [opt],
        /// Full width.
        block: bool [opt],
        /// Offer a control clearing the value.
        clearable: bool [opt],
        /// Disabled.
        disabled: bool [opt],
        /// Offer a search input.
        searchable: bool [opt],
    }
}

impl Select {
    /// A select named `name` offering `options`.
    pub fn new(name: impl Into<String>, options: impl IntoIterator<Item = SelectOption>) -> Self {
        Self {
            name: name.into(),
            options: options.into_iter().collect(),
            ..Self::default()
        }
    }
}

component! {
    /// A date input (`DatePicker`). Dates are strings, written verbatim;
    /// the reference writes naive ISO-8601 (`2025-06-01T00:00:00`).
    DatePicker = "DatePicker" {
        /// The form field name.
        name: String [req],
        /// The action fired when the date changes.
        on_change_action: ActionConfig [opt => on_change],
        /// Text shown when no date is selected.
        placeholder: String [opt],
        /// The initial date.
        default_value: String [opt],
        /// The earliest selectable date.
        min: String [opt],
        /// The latest selectable date.
        max: String [opt],
        /// `solid`, `soft`, `outline` or `ghost`.
        variant: String [opt],
        /// `3xs` to `3xl`.
        size: String [opt],
        /// Calendar side: `top`, `bottom`, `left` or `right`.
        side: String [opt],
        /// Calendar alignment: `start`, `center` or `end`.
        align: String [opt],
        /// Fully rounded.
        pill: bool [opt],
        /// Full width.
        block: bool [opt],
        /// Offer a control clearing the value.
        clearable: bool [opt],
        /// Disabled.
        disabled: bool [opt],
    }
}

impl DatePicker {
    /// A date picker named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A checkbox (`Checkbox`).
    Checkbox = "Checkbox" {
        /// The form field name.
        name: String [req],
        /// Text beside the box.
        label: String [opt],
        /// Initially checked.
        default_checked: bool [opt],
        /// The action fired when toggled.
        on_change_action: ActionConfig [opt => on_change],
        /// Disabled.
        disabled: bool [opt],
        /// Required for form submission.
        required: bool [opt],
    }
}

impl Checkbox {
    /// A checkbox named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A single-line text input (`Input`).
    Input = "Input" {
        /// The form field name.
        name: String [req],
        /// `number`, `email`, `text`, `password`, `tel` or `url`.
        input_type: String [opt],
        /// The initial value.
        default_value: String [opt],
        /// Required for form submission.
        required: bool [opt],
        /// A validation regex.
        pattern: String [opt],
        /// Text shown when empty.
        placeholder: String [opt],
        /// Allow password managers and autofill extensions.
        allow_autofill_extensions: bool [opt],
        /// Select the contents when mounted.
        auto_select: bool [opt],
        /// Focus when mounted.
        auto_focus: bool [opt],
        /// Disabled.
        disabled: bool [opt],
        /// `soft` or `outline`.
        variant: String [opt],
        /// `3xs` to `3xl`.
        size: String [opt],
        /// Edge gutter, `2xs` to `xl`.
        gutter_size: String [opt],
        /// Fully rounded.
        pill: bool [opt],
    }
}

impl Input {
    /// An input named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

component! {
    /// A multi-line text input (`Textarea`).
    Textarea = "Textarea" {
        /// The form field name.
        name: String [req],
        /// The initial value.
        default_value: String [opt],
        /// Required for form submission.
        required: bool [opt],
        /// A validation regex.
        pattern: String [opt],
        /// Text shown when empty.
        placeholder: String [opt],
        /// Select the contents when mounted.
        auto_select: bool [opt],
        /// Focus when mounted.
        auto_focus: bool [opt],
        /// Disabled.
        disabled: bool [opt],
        /// `soft` or `outline`.
        variant: String [opt],
        /// `3xs` to `3xl`.
        size: String [opt],
        /// Edge gutter, `2xs` to `xl`.
        gutter_size: String [opt],
        /// Visible rows initially.
        rows: i64 [opt],
        /// Grow and shrink with the content.
        auto_resize: bool [opt],
        /// Rows at most when auto-resizing.
        max_rows: i64 [opt],
        /// Allow password managers and autofill extensions.
        allow_autofill_extensions: bool [opt],
    }
}

impl Textarea {
    /// A text area named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// One choice of a [`RadioGroup`]: `{label, value, disabled?}` (note the
/// wire order, unlike [`SelectOption`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RadioOption {
    /// The text shown.
    pub label: String,
    /// The submitted value.
    pub value: String,
    /// Not selectable; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

impl RadioOption {
    /// An option submitting `value`, shown as `label`.
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            disabled: None,
        }
    }

    /// Sets `disabled`.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }
}

component! {
    /// A group of radio buttons (`RadioGroup`).
    RadioGroup = "RadioGroup" {
        /// The form field name.
        name: String [req],
        /// The choices.
        options: Vec<RadioOption> [manual],
        /// Accessible label (defaults to `name` in the client).
        aria_label: String [opt],
        /// The action fired when the selection changes.
        on_change_action: ActionConfig [opt => on_change],
        /// The initially selected value.
        default_value: String [opt],
        /// `row` or `col`.
        direction: String [opt],
        /// Disabled.
        disabled: bool [opt],
        /// Required for form submission.
        required: bool [opt],
    }
}

impl RadioGroup {
    /// A radio group named `name`, with no options yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Appends an option.
    pub fn option(mut self, option: RadioOption) -> Self {
        self.options.get_or_insert_with(Vec::new).push(option);
        self
    }
}
