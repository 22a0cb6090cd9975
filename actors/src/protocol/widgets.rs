//! Widgets (§8) and actions (§4.10).
//!
//! A widget tree is kept as JSON ([`WidgetRoot`] wraps a
//! `serde_json::Value`, key order preserved): the server only serializes
//! and diffs widgets, it never interprets them. On output every `null`
//! object value and every `null` array element is removed, recursively
//! (§8.3), including inside free-form parts such as action payloads. The
//! reference keeps a null `children` key inside plain (non-component)
//! objects; no client depends on that corner case and no fixture shows
//! it, so we strip those too.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The top-level component of a widget item (`Card`, `ListView`,
/// `Basic`, ...): any JSON object with a string `type`. Serializes
/// without nulls (§8.3).
#[derive(Clone, Debug, PartialEq)]
pub struct WidgetRoot(pub Value);

impl WidgetRoot {
    /// Wraps a widget tree.
    pub fn new(value: Value) -> Self {
        Self(value)
    }

    /// The root component's `type`, if it has one.
    pub fn component_type(&self) -> Option<&str> {
        self.0.get("type").and_then(Value::as_str)
    }

    /// The tree as it goes on the wire: a copy with every null removed.
    pub fn to_wire_value(&self) -> Value {
        let mut value = self.0.clone();
        strip_nulls(&mut value);
        value
    }
}

impl From<Value> for WidgetRoot {
    fn from(value: Value) -> Self {
        Self(value)
    }
}

impl Serialize for WidgetRoot {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_without_nulls(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for WidgetRoot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value.get("type") {
            Some(Value::String(_)) => Ok(Self(value)),
            _ => Err(serde::de::Error::custom(
                "a widget must be an object with a string `type`",
            )),
        }
    }
}

/// Serializes JSON with every null object value and null array element
/// removed, recursively (§8.3). Usable as
/// `#[serde(serialize_with = "serialize_without_nulls")]`.
pub fn serialize_without_nulls<S: Serializer>(
    value: &Value,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    NoNulls(value).serialize(serializer)
}

/// Removes, in place, every null object value and null array element,
/// recursively (§8.3). A top-level `null` stays `null`.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(strip_nulls);
        }
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

/// Borrowing serializer view of a JSON value without its nulls.
struct NoNulls<'a>(&'a Value);

impl Serialize for NoNulls<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Array(items) => {
                let len = items.iter().filter(|v| !v.is_null()).count();
                let mut seq = serializer.serialize_seq(Some(len))?;
                for item in items.iter().filter(|v| !v.is_null()) {
                    seq.serialize_element(&NoNulls(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let len = map.values().filter(|v| !v.is_null()).count();
                let mut out = serializer.serialize_map(Some(len))?;
                for (key, value) in map.iter().filter(|(_, v)| !v.is_null()) {
                    out.serialize_entry(key, &NoNulls(value))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// An action as the client sends it in `threads.custom_action` /
/// `threads.sync_custom_action` (§4.10): `{"type":...,"payload":...}`.
/// `type` is required (the reference's missing-type quirk is not
/// reproduced, §13 item 6); unknown keys such as `handler` are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The action name.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free-form payload (kept verbatim); omitted when `None` or `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// An action as configured on a widget component (§4.10), e.g.
/// `Button.onClickAction`. Defaults are always emitted:
/// `{"type":"go","handler":"server","loadingBehavior":"auto","streaming":true}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionConfig {
    /// The action name.
    #[serde(rename = "type")]
    pub kind: String,
    /// Free-form payload; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Who handles it; default `server`.
    #[serde(default)]
    pub handler: ActionHandler,
    /// What shows a loading state; default `auto`.
    #[serde(default, rename = "loadingBehavior")]
    pub loading_behavior: LoadingBehavior,
    /// `true`: `threads.custom_action`; `false`:
    /// `threads.sync_custom_action`. Default `true`.
    #[serde(default = "default_true")]
    pub streaming: bool,
}

impl ActionConfig {
    /// A server-handled, streaming action with no payload.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            payload: None,
            handler: ActionHandler::Server,
            loading_behavior: LoadingBehavior::Auto,
            streaming: true,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Where a widget action is handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionHandler {
    /// Sent to the server.
    #[default]
    Server,
    /// Handled by the client's `widgets.onAction`.
    Client,
}

/// Which element shows a loading state while an action runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadingBehavior {
    /// The client decides.
    #[default]
    Auto,
    /// No loading state.
    None,
    /// The component itself.
    #[serde(rename = "self")]
    SelfComponent,
    /// The enclosing container.
    Container,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nulls_are_stripped_recursively() {
        let root = WidgetRoot(json!({
            "type": "Card",
            "id": null,
            "children": [
                null,
                {"type": "Button", "onClickAction": {"type": "go", "payload": {"x": null, "l": [null, 1]}}},
                {"type": "Box", "children": null}
            ]
        }));
        let expected = r#"{"type":"Card","children":[{"type":"Button","onClickAction":{"type":"go","payload":{"l":[1]}}},{"type":"Box"}]}"#;
        assert_eq!(serde_json::to_string(&root).unwrap(), expected);
        assert_eq!(
            serde_json::to_string(&root.to_wire_value()).unwrap(),
            expected
        );
    }

    #[test]
    fn widget_keeps_numbers_and_unknown_props() {
        let text = r#"{"type":"Basic","padding":4.0,"gap":2,"customProp":{"a":[1,2]}}"#;
        let root: WidgetRoot = serde_json::from_str(text).unwrap();
        assert_eq!(root.component_type(), Some("Basic"));
        assert_eq!(serde_json::to_string(&root).unwrap(), text);
    }

    #[test]
    fn widget_root_needs_a_type() {
        assert!(serde_json::from_str::<WidgetRoot>(r#"{"children":[]}"#).is_err());
        assert!(serde_json::from_str::<WidgetRoot>("[]").is_err());
        assert!(serde_json::from_str::<WidgetRoot>("null").is_err());
    }

    #[test]
    fn action_config_defaults_are_emitted() {
        let config: ActionConfig = serde_json::from_str(r#"{"type":"go"}"#).unwrap();
        assert_eq!(config, ActionConfig::new("go"));
        assert_eq!(
            serde_json::to_string(&config).unwrap(),
            r#"{"type":"go","handler":"server","loadingBehavior":"auto","streaming":true}"#
        );
        let full: ActionConfig = serde_json::from_str(
            r#"{"type":"go","payload":{"a":null},"handler":"client","loadingBehavior":"self","streaming":false}"#,
        )
        .unwrap();
        assert_eq!(full.loading_behavior, LoadingBehavior::SelfComponent);
        assert_eq!(
            serde_json::to_string(&full).unwrap(),
            r#"{"type":"go","payload":{"a":null},"handler":"client","loadingBehavior":"self","streaming":false}"#
        );
        assert!(serde_json::from_str::<ActionConfig>(r#"{"type":"go","streaming":null}"#).is_err());
    }

    #[test]
    fn action_requires_type_and_drops_null_payload() {
        assert!(serde_json::from_str::<Action>(r#"{"payload":{}}"#).is_err());
        let a: Action =
            serde_json::from_str(r#"{"type":"x","payload":null,"handler":"client"}"#).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), r#"{"type":"x"}"#);
        let b: Action = serde_json::from_str(r#"{"type":"x","payload":{"k":null}}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"{"type":"x","payload":{"k":null}}"#
        );
    }
}
