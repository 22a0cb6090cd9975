//! The client's side of the diff: [`apply_widget_update`] (§7).

use serde_json::{Map, Value};

use super::diff::{id_of, is_streaming_text};
use crate::protocol::{ThreadItemUpdate, WidgetRoot};

/// Applies a widget update to `widget` as a client does (§7): a value
/// delta appends to the `value` of the first Text/Markdown with that id,
/// `widget.root.updated` replaces the widget, `widget.component.updated`
/// replaces the first component with that id. Returns false (and changes
/// nothing) for other updates or when no component has the id.
///
/// ```
/// use chatkit_actors::protocol::WidgetRoot;
/// use chatkit_actors::widgets::{Card, Text, apply_widget_update, diff_widget};
///
/// let before = WidgetRoot::from(Card::new().child(Text::new("Sun").id("t")));
/// let after = WidgetRoot::from(Card::new().child(Text::new("Sunny").id("t")));
/// let mut client = before.clone();
/// for update in diff_widget(&before, &after).unwrap() {
///     assert!(apply_widget_update(&mut client, &update));
/// }
/// assert_eq!(client, after);
/// ```
pub fn apply_widget_update(widget: &mut WidgetRoot, update: &ThreadItemUpdate) -> bool {
    match update {
        ThreadItemUpdate::WidgetRootUpdated { widget: new } => {
            *widget = new.clone();
            true
        }
        ThreadItemUpdate::WidgetStreamingTextValueDelta {
            component_id,
            delta,
            ..
        } => {
            let found = find_mut(&mut widget.0, &|c| {
                is_streaming_text(c) && id_of(c) == Some(component_id.as_str())
            });
            match found.and_then(|c| c.get_mut("value")) {
                Some(Value::String(value)) => {
                    value.push_str(delta);
                    true
                }
                _ => false,
            }
        }
        ThreadItemUpdate::WidgetComponentUpdated {
            component_id,
            component: Value::Object(new),
        } => match find_mut(&mut widget.0, &|c| id_of(c) == Some(component_id.as_str())) {
            Some(found) => {
                *found = new.clone();
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// The first component (pre-order, through `children`) matching `pred`.
fn find_mut<'a>(
    node: &'a mut Value,
    pred: &dyn Fn(&Map<String, Value>) -> bool,
) -> Option<&'a mut Map<String, Value>> {
    let map = node.as_object_mut()?;
    if pred(map) {
        return Some(map);
    }
    match map.get_mut("children")? {
        Value::Array(children) => children.iter_mut().find_map(|c| find_mut(c, pred)),
        child @ Value::Object(_) => find_mut(child, pred),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn component_updates_replace_by_id() {
        let mut widget = WidgetRoot(json!({"type": "Card", "children": [
            {"type": "Transition", "children": {"id": "b", "type": "Badge", "label": "x"}}
        ]}));
        let update = ThreadItemUpdate::WidgetComponentUpdated {
            component_id: "b".into(),
            component: json!({"id": "b", "type": "Badge", "label": "y"}),
        };
        assert!(apply_widget_update(&mut widget, &update));
        assert_eq!(widget.0["children"][0]["children"]["label"], "y");
        let unknown = ThreadItemUpdate::WidgetComponentUpdated {
            component_id: "zz".into(),
            component: json!({"type": "Badge", "label": "y"}),
        };
        assert!(!apply_widget_update(&mut widget, &unknown));
    }
}
