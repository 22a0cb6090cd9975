//! Plumbing shared by every component ([`ComponentType`], the `type`
//! tag, number coercions) and the small style objects used by several
//! props ([`ThemeColor`], [`Spacing`], [`Border`]).

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A typed component's wire `type`.
///
/// ```
/// use chatkit_actors::widgets::{ComponentType, Text, WidgetBox};
///
/// assert_eq!(Text::TYPE, "Text");
/// assert_eq!(WidgetBox::TYPE, "Box");
/// ```
pub trait ComponentType {
    /// The `type` string, e.g. `"Text"`.
    const TYPE: &'static str;
}

/// The `type` field of component `C`: written as `C::TYPE`, and only
/// `C::TYPE` is accepted on input. A zero-sized field, so that `type`
/// sits at its wire position (after `key` and `id`) in a derived struct.
pub(crate) struct TypeTag<C>(PhantomData<fn() -> C>);

impl<C> Clone for TypeTag<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for TypeTag<C> {}

impl<C> Default for TypeTag<C> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<C> PartialEq for TypeTag<C> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<C: ComponentType> fmt::Debug for TypeTag<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(C::TYPE)
    }
}

impl<C: ComponentType> Serialize for TypeTag<C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(C::TYPE)
    }
}

impl<'de, C: ComponentType> Deserialize<'de> for TypeTag<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let found = String::deserialize(deserializer)?;
        if found == C::TYPE {
            Ok(Self::default())
        } else {
            Err(serde::de::Error::custom(format_args!(
                "expected type {:?}, found {found:?}",
                C::TYPE
            )))
        }
    }
}

/// Whether a prop is left out of the output: `None` is, a required prop
/// never is.
pub(crate) trait Skip {
    fn skip(&self) -> bool;
}

impl<T> Skip for Option<T> {
    fn skip(&self) -> bool {
        self.is_none()
    }
}

macro_rules! never_skipped {
    ($($ty:ty),*) => {
        $(
            impl Skip for $ty {
                fn skip(&self) -> bool {
                    false
                }
            }
        )*
    };
}

never_skipped!(String, Value, i64);

impl<T> Skip for Vec<T> {
    fn skip(&self) -> bool {
        false
    }
}

/// A `float | str` prop: an integer is written as a float, as the
/// reference's pydantic models coerce it (`4` → `4.0`).
pub(crate) fn float_prop(value: Value) -> Value {
    match &value {
        Value::Number(n) if !n.is_f64() => n.as_f64().map_or(value, Value::from),
        _ => value,
    }
}

/// An `int | str` prop: an integral float is written as an integer, as
/// pydantic's lax mode reads it (`2.0` → `2`). Other values are kept.
pub(crate) fn int_prop(value: Value) -> Value {
    /// Beyond 2^53 a float no longer holds every integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value.as_f64() {
        Some(f) if value.is_f64() && f.fract() == 0.0 && f.abs() <= EXACT => {
            // Exact: f is integral and within i64's exact range.
            Value::from(f as i64)
        }
        _ => value,
    }
}

/// A color per theme, `{"dark":...,"light":...}` (the reference's key
/// order). Accepted wherever a color is (`color`, `background`, ...).
///
/// ```
/// use chatkit_actors::widgets::{Text, ThemeColor};
///
/// let text = Text::new("Hi").color(ThemeColor::new("gray-900", "gray-100"));
/// assert_eq!(
///     serde_json::to_string(&text).unwrap(),
///     r#"{"type":"Text","value":"Hi","color":{"dark":"gray-100","light":"gray-900"}}"#
/// );
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThemeColor {
    /// The color in the dark theme.
    pub dark: String,
    /// The color in the light theme.
    pub light: String,
}

impl ThemeColor {
    /// A color for each theme.
    pub fn new(light: impl Into<String>, dark: impl Into<String>) -> Self {
        Self {
            dark: dark.into(),
            light: light.into(),
        }
    }
}

props! {
    /// Per-side spacing for `padding` and `margin`. Numbers are written as
    /// floats, like the reference (`{"x":2.0,"y":1.0}`).
    ///
    /// ```
    /// use chatkit_actors::widgets::{Spacing, WidgetBox};
    ///
    /// let b = WidgetBox::new().padding(Spacing::new().x(2).y(1));
    /// assert_eq!(
    ///     serde_json::to_string(&b).unwrap(),
    ///     r#"{"padding":{"x":2.0,"y":1.0},"type":"Box"}"#
    /// );
    /// ```
    Spacing {
        /// Top spacing: a spacing unit or a CSS string.
        top: Value [float],
        /// Right spacing.
        right: Value [float],
        /// Bottom spacing.
        bottom: Value [float],
        /// Left spacing.
        left: Value [float],
        /// Left and right spacing.
        x: Value [float],
        /// Top and bottom spacing.
        y: Value [float],
    }
}

impl Spacing {
    /// No spacing set.
    pub fn new() -> Self {
        Self::default()
    }
}

props! {
    /// A border for the `border` prop of box-like containers.
    ///
    /// ```
    /// use chatkit_actors::widgets::{Border, WidgetBox};
    ///
    /// let b = WidgetBox::new().border(Border::new(1).color("subtle"));
    /// assert_eq!(
    ///     serde_json::to_string(&b).unwrap(),
    ///     r#"{"border":{"size":1,"color":"subtle"},"type":"Box"}"#
    /// );
    /// ```
    Border {
        /// Thickness in px.
        size: i64 [req],
        /// A border color token, a CSS color or a [`ThemeColor`].
        color: Value [opt],
        /// `solid`, `dashed`, `dotted`, `double`, ...
        style: String [opt],
    }
}

impl Border {
    /// A border `size` px thick.
    pub fn new(size: i64) -> Self {
        Self {
            size,
            ..Self::default()
        }
    }
}

into_value!(ThemeColor, Spacing, Border);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_are_coerced_like_pydantic() {
        assert_eq!(float_prop(json!(4)).to_string(), "4.0");
        assert_eq!(float_prop(json!(4.5)).to_string(), "4.5");
        assert_eq!(float_prop(json!("4px")), json!("4px"));
        assert_eq!(int_prop(json!(2.0)).to_string(), "2");
        assert_eq!(int_prop(json!(2.5)).to_string(), "2.5");
        assert_eq!(int_prop(json!(-3)).to_string(), "-3");
        assert_eq!(int_prop(json!("auto")), json!("auto"));
    }
}
