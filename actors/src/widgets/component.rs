//! [`WidgetComponent`], any component of a tree, and [`Widget`], a typed
//! root; both parse from JSON **losslessly**: a component becomes typed
//! only if writing the typed form back gives the same bytes, otherwise it
//! is kept as [`WidgetComponent::Dynamic`] (unknown type, unknown props,
//! a missing required prop, `1` where the reference writes `1.0`, ...).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::ComponentType;
use super::chart::Chart;
use super::controls::{Button, Checkbox, DatePicker, Input, RadioGroup, Select, Textarea};
use super::layout::{Col, Divider, Form, Image, Row, Spacer, Transition, WidgetBox};
use super::roots::{Basic, Card, ListView, ListViewItem, to_wire};
use super::text::{Badge, Caption, Icon, Label, Markdown, Text, Title};
use crate::protocol::{WidgetRoot, serialize_without_nulls, strip_nulls};

/// The JSON was not a component: a component is an object with a string
/// `type`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a widget component must be a JSON object with a string `type`")]
pub struct WidgetParseError;

/// `value` as a `T` if that is lossless: `T` written back gives exactly
/// the bytes of `value` (which has no nulls).
fn parse_lossless<T: Serialize + DeserializeOwned>(value: &Value) -> Option<T> {
    let typed: T = serde_json::from_value(value.clone()).ok()?;
    let back = to_wire(&typed);
    let same = serde_json::to_string(&back).ok()? == serde_json::to_string(value).ok()?;
    same.then_some(typed)
}

/// The `type` of a JSON component, if it is one.
fn type_of(value: &Value) -> Option<&str> {
    value.as_object()?.get("type")?.as_str()
}

macro_rules! component_enum {
    ($($variant:ident($ty:ident)),* $(,)?) => {
        /// Any component of a widget tree (§8.2): one of the typed components,
        /// or [`Dynamic`](Self::Dynamic) JSON for anything else. Every typed
        /// component converts into it (`From`), so builders take
        /// `impl Into<WidgetComponent>`.
        ///
        /// ```
        /// use chatkit_actors::widgets::{Text, WidgetComponent};
        /// use serde_json::json;
        ///
        /// let typed = WidgetComponent::from_value(json!({"type": "Text", "value": "Hi"})).unwrap();
        /// assert_eq!(typed, WidgetComponent::Text(Text::new("Hi")));
        /// let odd = WidgetComponent::from_value(json!({"type": "Text", "value": "Hi", "x": 1})).unwrap();
        /// assert!(odd.is_dynamic());
        /// assert_eq!(odd.to_value(), json!({"type": "Text", "value": "Hi", "x": 1}));
        /// ```
        // Trees are built once and serialized; boxing every variant would
        // only make them harder to build and match.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        pub enum WidgetComponent {
            $(
                #[doc = concat!("`", stringify!($variant), "` ([`", stringify!($ty), "`]).")]
                $variant($ty),
            )*
            /// Any other component, kept as JSON (nulls stripped): an unknown
            /// `type`, a ChatKit Studio template component with extra props,
            /// or one the typed form would not write back byte for byte.
            Dynamic(Value),
        }

        $(
            impl From<$ty> for WidgetComponent {
                fn from(component: $ty) -> Self {
                    Self::$variant(component)
                }
            }
        )*

        impl WidgetComponent {
            /// The wire `type`, e.g. `"Text"`.
            pub fn type_name(&self) -> &str {
                match self {
                    $( Self::$variant(_) => <$ty as ComponentType>::TYPE, )*
                    Self::Dynamic(value) => type_of(value).unwrap_or_default(),
                }
            }

            /// The component's `id`, if any.
            pub fn id(&self) -> Option<&str> {
                match self {
                    $( Self::$variant(c) => c.id.as_deref(), )*
                    Self::Dynamic(value) => value.get("id").and_then(Value::as_str),
                }
            }

            fn typed(type_name: &str, value: &Value) -> Option<Self> {
                $(
                    if type_name == <$ty as ComponentType>::TYPE {
                        return parse_lossless::<$ty>(value).map(Self::$variant);
                    }
                )*
                None
            }
        }

        impl Serialize for WidgetComponent {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(c) => c.serialize(serializer), )*
                    Self::Dynamic(value) => serialize_without_nulls(value, serializer),
                }
            }
        }
    };
}

component_enum! {
    Text(Text),
    Title(Title),
    Caption(Caption),
    Markdown(Markdown),
    Badge(Badge),
    Box(WidgetBox),
    Row(Row),
    Col(Col),
    Form(Form),
    Divider(Divider),
    Icon(Icon),
    Image(Image),
    Button(Button),
    Spacer(Spacer),
    Select(Select),
    DatePicker(DatePicker),
    Checkbox(Checkbox),
    Input(Input),
    Textarea(Textarea),
    Label(Label),
    RadioGroup(RadioGroup),
    Transition(Transition),
    Chart(Chart),
    ListViewItem(ListViewItem),
}

impl WidgetComponent {
    /// Parses a component (nulls stripped first), typed when lossless, else
    /// [`Dynamic`](Self::Dynamic). Fails only if `value` is not an object
    /// with a string `type`.
    pub fn from_value(mut value: Value) -> Result<Self, WidgetParseError> {
        strip_nulls(&mut value);
        let type_name = type_of(&value).ok_or(WidgetParseError)?;
        Ok(Self::typed(type_name, &value).unwrap_or(Self::Dynamic(value)))
    }

    /// The JSON as it goes on the wire (nulls stripped).
    pub fn to_value(&self) -> Value {
        to_wire(self)
    }

    /// True for [`Dynamic`](Self::Dynamic) JSON.
    pub fn is_dynamic(&self) -> bool {
        matches!(self, Self::Dynamic(_))
    }

    /// The typed child components (an array, or a `Transition`'s single
    /// child); none for a [`Dynamic`](Self::Dynamic) component.
    pub fn children(&self) -> Vec<&WidgetComponent> {
        let many: &[WidgetComponent] = match self {
            Self::Box(c) => c.layout.children.as_deref().unwrap_or_default(),
            Self::Row(c) => c.layout.children.as_deref().unwrap_or_default(),
            Self::Col(c) => c.layout.children.as_deref().unwrap_or_default(),
            Self::Form(c) => c.layout.children.as_deref().unwrap_or_default(),
            Self::ListViewItem(c) => &c.children,
            Self::Transition(c) => return c.children.as_deref().into_iter().collect(),
            _ => &[],
        };
        many.iter().collect()
    }
}

impl<'de> Deserialize<'de> for WidgetComponent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_value(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A typed widget root (§8.1): [`Card`], [`ListView`] or [`Basic`], or
/// [`Dynamic`](Self::Dynamic) JSON. Converts to and from the wire type
/// [`WidgetRoot`]; the round trip is byte-identical.
///
/// ```
/// use chatkit_actors::protocol::WidgetRoot;
/// use chatkit_actors::widgets::{Card, Text, Widget};
///
/// let root: WidgetRoot = Card::new().child(Text::new("Hi")).into();
/// let Widget::Card(card) = Widget::from_root(&root) else { panic!("a card") };
/// assert_eq!(card.children.len(), 1);
/// assert_eq!(WidgetRoot::from(card), root);
/// ```
// A root is built once, then converted; boxing would only get in the way.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Widget {
    /// A `Card`.
    Card(Card),
    /// A `ListView`.
    ListView(ListView),
    /// A `Basic` root.
    Basic(Basic),
    /// Any other root, kept as JSON (nulls stripped).
    Dynamic(Value),
}

impl Widget {
    /// Reads a root: typed when lossless, else [`Dynamic`](Self::Dynamic).
    pub fn from_root(root: &WidgetRoot) -> Self {
        let value = root.to_wire_value();
        let typed = match type_of(&value) {
            Some("Card") => parse_lossless(&value).map(Self::Card),
            Some("ListView") => parse_lossless(&value).map(Self::ListView),
            Some("Basic") => parse_lossless(&value).map(Self::Basic),
            _ => None,
        };
        typed.unwrap_or(Self::Dynamic(value))
    }

    /// The wire form.
    pub fn into_root(self) -> WidgetRoot {
        self.into()
    }

    /// The root's `type`.
    pub fn type_name(&self) -> &str {
        match self {
            Self::Card(_) => Card::TYPE,
            Self::ListView(_) => ListView::TYPE,
            Self::Basic(_) => Basic::TYPE,
            Self::Dynamic(value) => type_of(value).unwrap_or_default(),
        }
    }
}

impl Serialize for Widget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Card(c) => c.serialize(serializer),
            Self::ListView(c) => c.serialize(serializer),
            Self::Basic(c) => c.serialize(serializer),
            Self::Dynamic(value) => serialize_without_nulls(value, serializer),
        }
    }
}

impl From<&WidgetRoot> for Widget {
    fn from(root: &WidgetRoot) -> Self {
        Self::from_root(root)
    }
}

impl From<Widget> for WidgetRoot {
    fn from(widget: Widget) -> Self {
        match widget {
            Widget::Card(c) => c.into(),
            Widget::ListView(c) => c.into(),
            Widget::Basic(c) => c.into(),
            Widget::Dynamic(mut value) => {
                strip_nulls(&mut value);
                WidgetRoot(value)
            }
        }
    }
}

impl From<Card> for Widget {
    fn from(card: Card) -> Self {
        Self::Card(card)
    }
}

impl From<ListView> for Widget {
    fn from(list: ListView) -> Self {
        Self::ListView(list)
    }
}

impl From<Basic> for Widget {
    fn from(basic: Basic) -> Self {
        Self::Basic(basic)
    }
}
