//! The roots a widget item can hold ([`Card`], [`ListView`], [`Basic`],
//! §8.1), with [`ListViewItem`], [`WidgetStatus`] and [`CardAction`].
//! Each root converts into the wire type [`WidgetRoot`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::WidgetComponent;
use super::common::TypeTag;
use crate::protocol::{ActionConfig, WidgetRoot, strip_nulls};

/// The JSON of a typed widget as it goes on the wire (nulls stripped).
pub(crate) fn to_wire<T: Serialize>(widget: &T) -> Value {
    let mut value = serde_json::to_value(widget).expect("typed widgets always serialize");
    strip_nulls(&mut value);
    value
}

/// A header line above a card or list: `{text, icon?}` or
/// `{text, favicon?, frame?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WidgetStatus {
    /// The status text.
    pub text: String,
    /// URL of a favicon shown first; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub favicon: Option<String>,
    /// A frame around the favicon; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<bool>,
    /// An icon name shown first (§4.11); omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
}

impl WidgetStatus {
    /// A status with an icon: `{"text":...,"icon":...}`.
    pub fn with_icon(text: impl Into<String>, icon: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            icon: Some(icon.into()),
            ..Self::default()
        }
    }

    /// A status with a favicon: `{"text":...,"favicon":...}`.
    pub fn with_favicon(text: impl Into<String>, favicon: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            favicon: Some(favicon.into()),
            ..Self::default()
        }
    }

    /// Sets `frame` (favicon statuses).
    pub fn frame(mut self, frame: bool) -> Self {
        self.frame = Some(frame);
        self
    }
}

impl From<&str> for WidgetStatus {
    fn from(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            ..Self::default()
        }
    }
}

/// A footer button of a [`Card`] (`confirm` or `cancel`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CardAction {
    /// The button text.
    pub label: String,
    /// The action fired.
    pub action: ActionConfig,
}

impl CardAction {
    /// A footer button.
    pub fn new(label: impl Into<String>, action: ActionConfig) -> Self {
        Self {
            label: label.into(),
            action,
        }
    }
}

component! {
    /// A bordered card (`Card`), the usual widget root.
    ///
    /// ```
    /// use chatkit_actors::protocol::WidgetRoot;
    /// use chatkit_actors::widgets::{Card, Text, Title};
    ///
    /// let card = Card::new()
    ///     .child(Title::new("Draft email"))
    ///     .child(Text::new("Hi team").id("body").streaming(true));
    /// let root: WidgetRoot = card.into();
    /// assert_eq!(
    ///     serde_json::to_string(&root).unwrap(),
    ///     concat!(
    ///         r#"{"type":"Card","children":[{"type":"Title","value":"Draft email"},"#,
    ///         r#"{"id":"body","type":"Text","value":"Hi team","streaming":true}]}"#
    ///     )
    /// );
    /// ```
    Card = "Card" {
        /// Make the card a form: `confirm`/`cancel` carry its field values.
        as_form: bool [opt],
        /// The content.
        children: Vec<WidgetComponent> [req],
        /// Background: a token, a CSS color or a `ThemeColor`.
        background: Value [opt],
        /// `sm`, `md`, `lg` or `full`.
        size: String [opt],
        /// Inner spacing: a unit, a CSS string or a `Spacing`.
        padding: Value [float],
        /// A header line.
        status: WidgetStatus [opt],
        /// Collapse the body once the main action completed.
        collapsed: bool [opt],
        /// The confirm footer button.
        confirm: CardAction [opt],
        /// The cancel footer button.
        cancel: CardAction [opt],
        /// Force `light` or `dark`.
        theme: String [opt],
    }
}

impl Card {
    /// An empty card.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a child component.
    pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
        self.children.push(child.into());
        self
    }

    /// Appends child components.
    pub fn children<I>(mut self, children: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<WidgetComponent>,
    {
        self.children.extend(children.into_iter().map(Into::into));
        self
    }

    /// The wire form.
    pub fn into_root(self) -> WidgetRoot {
        self.into()
    }
}

component! {
    /// A list (`ListView`) of [`ListViewItem`]s.
    ///
    /// ```
    /// use chatkit_actors::widgets::{ListView, ListViewItem, Text};
    ///
    /// let list = ListView::new()
    ///     .item(ListViewItem::new().child(Text::new("Row 1")))
    ///     .limit(3);
    /// assert_eq!(
    ///     serde_json::to_string(&list).unwrap(),
    ///     r#"{"type":"ListView","children":[{"type":"ListViewItem","children":[{"type":"Text","value":"Row 1"}]}],"limit":3}"#
    /// );
    /// ```
    ListView = "ListView" {
        /// The rows.
        children: Vec<ListViewItem> [req],
        /// Rows shown before a "Show more": a number or `"auto"`.
        limit: Value [int],
        /// A header line.
        status: WidgetStatus [opt],
        /// Force `light` or `dark`.
        theme: String [opt],
    }
}

impl ListView {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a row.
    pub fn item(mut self, item: ListViewItem) -> Self {
        self.children.push(item);
        self
    }

    /// The wire form.
    pub fn into_root(self) -> WidgetRoot {
        self.into()
    }
}

component! {
    /// One row of a [`ListView`] (`ListViewItem`).
    ListViewItem = "ListViewItem" {
        /// The row's content.
        children: Vec<WidgetComponent> [req],
        /// The action fired on click.
        on_click_action: ActionConfig [opt => on_click],
        /// Gap between children.
        gap: Value [int],
        /// Vertical alignment: `start`, `center`, `end`, `baseline`, `stretch`.
        align: String [opt],
    }
}

impl ListViewItem {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a child component.
    pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
        self.children.push(child.into());
        self
    }
}

/// The `children` of a [`Basic`] root: one component or an array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Children {
    /// An array of components.
    Many(Vec<WidgetComponent>),
    /// A single component.
    One(std::boxed::Box<WidgetComponent>),
}

/// A minimal root (`Basic`), e.g. for entity previews: `children` and any
/// other props, written after the declared ones in insertion order (as a
/// ChatKit Studio template root is).
///
/// ```
/// use chatkit_actors::widgets::{Basic, Text};
///
/// let preview = Basic::new().child(Text::new("Preview")).prop("direction", "col");
/// assert_eq!(
///     serde_json::to_string(&preview.into_root()).unwrap(),
///     r#"{"type":"Basic","children":[{"type":"Text","value":"Preview"}],"direction":"col"}"#
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Basic {
    /// The reconciliation key; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The component id; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type")]
    tag: TypeTag<Basic>,
    /// The content; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub children: Option<Children>,
    /// Every other prop, in order.
    #[serde(flatten)]
    pub props: Map<String, Value>,
}

impl super::ComponentType for Basic {
    const TYPE: &'static str = "Basic";
}

impl Basic {
    /// An empty root.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets `id`.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Appends a child (making `children` an array).
    pub fn child(mut self, child: impl Into<WidgetComponent>) -> Self {
        let child = child.into();
        self.children = Some(match self.children.take() {
            None => Children::Many(vec![child]),
            Some(Children::Many(mut many)) => {
                many.push(child);
                Children::Many(many)
            }
            Some(Children::One(one)) => Children::Many(vec![*one, child]),
        });
        self
    }

    /// Sets any other prop (kept in insertion order).
    pub fn prop(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.props.insert(name.into(), value.into());
        self
    }

    /// The wire form.
    pub fn into_root(self) -> WidgetRoot {
        self.into()
    }
}

impl From<Card> for WidgetRoot {
    fn from(card: Card) -> Self {
        WidgetRoot(to_wire(&card))
    }
}

impl From<ListView> for WidgetRoot {
    fn from(list: ListView) -> Self {
        WidgetRoot(to_wire(&list))
    }
}

impl From<Basic> for WidgetRoot {
    fn from(basic: Basic) -> Self {
        WidgetRoot(to_wire(&basic))
    }
}
