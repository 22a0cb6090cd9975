//! The streaming diff (§8.6): what to send when a streamed widget moves
//! from one full state to the next, and how a client applies it.
//!
//! Works on the JSON of the roots, so typed and dynamic (template)
//! widgets diff alike. Both roots are compared in their wire form (nulls
//! stripped), with Python's equality (`1 == 1.0`, object key order does
//! not matter). The fixes to the reference's blind spots are listed in
//! the [module doc](super).

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::protocol::{ThreadItemUpdate, WidgetRoot};

/// A streamed widget state that cannot follow the previous one. The
/// reference raises these inside the integration's stream, which ends it
/// with an `error` event (§12).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WidgetDiffError {
    /// A streamed text node (Text/Markdown with an id) appeared that the
    /// previous state did not have.
    #[error(
        "node {id} was not present when the widget was initially rendered: all nodes with an id must exist from the first render"
    )]
    NewNode {
        /// The node's id.
        id: String,
    },
    /// A streamed text node's new value does not extend its old one.
    #[error(
        "node {id} was updated with a value that does not extend its previous value: updates must be cumulative"
    )]
    NotCumulative {
        /// The node's id.
        id: String,
    },
}

/// The updates taking a client from `before` to `after` (§8.6): one
/// `widget.root.updated` when anything but an append to an addressable
/// streamed text changed, else one `widget.streaming_text.value_delta` per
/// grown text, else nothing.
///
/// ```
/// use chatkit_actors::protocol::{ThreadItemUpdate, WidgetRoot};
/// use chatkit_actors::widgets::{Card, Text, diff_widget};
///
/// let state = |text: &str| WidgetRoot::from(Card::new().child(Text::new(text).id("t").streaming(true)));
/// let updates = diff_widget(&state("Sun"), &state("Sunny")).unwrap();
/// assert_eq!(
///     updates,
///     [ThreadItemUpdate::WidgetStreamingTextValueDelta {
///         component_id: "t".into(),
///         delta: "ny".into(),
///         done: false,
///     }]
/// );
/// assert!(diff_widget(&state("Sunny"), &state("Sunny")).unwrap().is_empty());
/// ```
pub fn diff_widget(
    before: &WidgetRoot,
    after: &WidgetRoot,
) -> Result<Vec<ThreadItemUpdate>, WidgetDiffError> {
    let (b, a) = (before.to_wire_value(), after.to_wire_value());
    let root_updated = || {
        vec![ThreadItemUpdate::WidgetRootUpdated {
            widget: after.clone(),
        }]
    };
    let (Some(b_map), Some(a_map)) = (b.as_object(), a.as_object()) else {
        // Not components at all: only "same or not" makes sense.
        return Ok(if py_eq(Some(&b), Some(&a)) {
            Vec::new()
        } else {
            root_updated()
        });
    };
    let before_nodes = text_nodes(&b);
    let after_nodes = text_nodes(&a);
    let addressable = Addressable::new(&before_nodes, &after_nodes);
    if full_replace(b_map, a_map, &addressable) {
        return Ok(root_updated());
    }
    text_deltas(&before_nodes, &after_nodes)
}

/// A streamed text node: its id and the component.
type Node<'a> = (&'a str, &'a Map<String, Value>);

pub(super) fn id_of(component: &Map<String, Value>) -> Option<&str> {
    component.get("id").and_then(Value::as_str)
}

/// A Text or Markdown with a string `value`.
pub(super) fn is_streaming_text(component: &Map<String, Value>) -> bool {
    matches!(
        component.get("type").and_then(Value::as_str),
        Some("Text" | "Markdown")
    ) && component.get("value").is_some_and(Value::is_string)
}

/// The streamed text nodes (streaming text with a non-empty id), in tree
/// order, found through `children` arrays **and** single `children`
/// components (a `Transition`'s; fix 1).
fn text_nodes(root: &Value) -> Vec<Node<'_>> {
    fn walk<'a>(node: &'a Value, out: &mut Vec<Node<'a>>) {
        let Some(map) = node.as_object() else { return };
        if is_streaming_text(map)
            && let Some(id) = id_of(map).filter(|id| !id.is_empty())
        {
            out.push((id, map));
        }
        match map.get("children") {
            Some(Value::Array(children)) => children.iter().for_each(|c| walk(c, out)),
            Some(child @ Value::Object(_)) => walk(child, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

/// The ids a value delta can address: used by exactly one streamed text
/// node in each state (fix 3).
struct Addressable<'a>(HashMap<&'a str, (usize, usize)>);

impl<'a> Addressable<'a> {
    fn new(before: &[Node<'a>], after: &[Node<'a>]) -> Self {
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for (id, _) in before {
            counts.entry(id).or_default().0 += 1;
        }
        for (id, _) in after {
            counts.entry(id).or_default().1 += 1;
        }
        Self(counts)
    }

    fn contains(&self, id: &str) -> bool {
        self.0.get(id) == Some(&(1, 1))
    }
}

/// The full-replace test R of §8.6 on two components, with fixes 2 and 3:
/// an append is only exempt when a value delta can carry it (the node has
/// an id that is unique in both states).
fn full_replace(b: &Map<String, Value>, a: &Map<String, Value>, ids: &Addressable) -> bool {
    if ["type", "id", "key"]
        .iter()
        .any(|k| !py_eq(b.get(*k), a.get(*k)))
    {
        return true;
    }
    let appendable = is_streaming_text(b)
        && is_streaming_text(a)
        && id_of(a).is_some_and(|id| !id.is_empty() && ids.contains(id));
    b.keys()
        .chain(a.keys().filter(|k| !b.contains_key(*k)))
        .any(|key| {
            let (bv, av) = (b.get(key), a.get(key));
            if key == "value"
                && appendable
                && let (Some(Value::String(old)), Some(Value::String(new))) = (bv, av)
                && new.starts_with(old.as_str())
            {
                return false;
            }
            if key == "children" {
                children_differ(bv, av, ids)
            } else {
                !py_eq(bv, av)
            }
        })
}

/// `children` values: arrays compared element by element, a single
/// component (Transition) like one element.
fn children_differ(b: Option<&Value>, a: Option<&Value>, ids: &Addressable) -> bool {
    match (b, a) {
        (Some(Value::Array(bs)), Some(Value::Array(as_))) => {
            bs.len() != as_.len() || bs.iter().zip(as_).any(|(b, a)| child_differs(b, a, ids))
        }
        (Some(b @ Value::Object(_)), Some(a @ Value::Object(_))) => child_differs(b, a, ids),
        _ => !py_eq(b, a),
    }
}

fn child_differs(b: &Value, a: &Value, ids: &Addressable) -> bool {
    if py_eq(Some(b), Some(a)) {
        return false;
    }
    match (b.as_object(), a.as_object()) {
        (Some(b), Some(a)) if b.contains_key("type") && a.contains_key("type") => {
            full_replace(b, a, ids)
        }
        _ => true,
    }
}

/// Python's `==` on JSON: numbers by value (`1 == 1.0`), objects by their
/// entries whatever the order, a missing key equal to `null`.
fn py_eq(b: Option<&Value>, a: Option<&Value>) -> bool {
    match (b.unwrap_or(&Value::Null), a.unwrap_or(&Value::Null)) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                x == y
            }
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| py_eq(Some(x), Some(y)))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| py_eq(Some(x), ys.get(k)))
        }
        (x, y) => x == y,
    }
}

/// Step 3 of §8.6: value deltas between the streamed text nodes of two
/// states that R found equal but for appends. Nodes are keyed by id like
/// the reference's dict (first position, last node).
fn text_deltas(
    before: &[Node<'_>],
    after: &[Node<'_>],
) -> Result<Vec<ThreadItemUpdate>, WidgetDiffError> {
    fn by_id<'a>(nodes: &[Node<'a>]) -> IndexMap<&'a str, &'a Map<String, Value>> {
        nodes.iter().copied().collect()
    }
    let value = |node: &Map<String, Value>| {
        let value = node.get("value").and_then(Value::as_str);
        value.unwrap_or_default().to_owned()
    };
    let before = by_id(before);
    let mut updates = Vec::new();
    for (id, node) in by_id(after) {
        let Some(old) = before.get(id).map(|n| value(n)) else {
            return Err(WidgetDiffError::NewNode { id: id.to_owned() });
        };
        let new = value(node);
        if old == new {
            continue;
        }
        let Some(delta) = new.strip_prefix(old.as_str()) else {
            return Err(WidgetDiffError::NotCumulative { id: id.to_owned() });
        };
        updates.push(ThreadItemUpdate::WidgetStreamingTextValueDelta {
            component_id: id.to_owned(),
            delta: delta.to_owned(),
            done: node.get("streaming") != Some(&Value::Bool(true)),
        });
    }
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_node_missing_from_the_previous_state_is_an_error() {
        let before = json!({"type": "Card", "children": []});
        let after =
            json!({"type": "Card", "children": [{"id": "t", "type": "Text", "value": "a"}]});
        assert_eq!(
            text_deltas(&text_nodes(&before), &text_nodes(&after)),
            Err(WidgetDiffError::NewNode { id: "t".into() })
        );
        // Through the public diff the new child is a full replace instead.
        let updates = diff_widget(&WidgetRoot(before), &WidgetRoot(after)).unwrap();
        assert_eq!(updates[0].type_name(), "widget.root.updated");
    }

    #[test]
    fn a_value_that_does_not_extend_the_old_one_is_an_error() {
        let text = |v: &str| json!({"type": "Card", "children": [{"id": "t", "type": "Text", "value": v}]});
        let (before, after) = (text("abc"), text("abX"));
        assert_eq!(
            text_deltas(&text_nodes(&before), &text_nodes(&after)),
            Err(WidgetDiffError::NotCumulative { id: "t".into() })
        );
        assert!(
            WidgetDiffError::NotCumulative { id: "t".into() }
                .to_string()
                .contains("updates must be cumulative")
        );
        let updates = diff_widget(&WidgetRoot(before), &WidgetRoot(after)).unwrap();
        assert_eq!(updates[0].type_name(), "widget.root.updated");
    }

    #[test]
    fn python_equality() {
        assert!(py_eq(Some(&json!(1)), Some(&json!(1.0))));
        assert!(py_eq(
            Some(&json!({"a": 1, "b": 2})),
            Some(&json!({"b": 2, "a": 1}))
        ));
        assert!(py_eq(None, Some(&Value::Null)));
        assert!(!py_eq(Some(&json!([1])), Some(&json!([1, 1]))));
        assert!(!py_eq(Some(&json!("1")), Some(&json!(1))));
    }

    #[test]
    fn deltas_are_in_tree_order_and_done_follows_streaming() {
        let state = |a: &str, b: &str| {
            WidgetRoot(json!({"type": "Card", "children": [
                {"id": "a", "type": "Markdown", "value": a},
                {"type": "Row", "children": [{"id": "b", "type": "Text", "value": b, "streaming": true}]}
            ]}))
        };
        let updates = diff_widget(&state("x", "y"), &state("x1", "y2")).unwrap();
        assert_eq!(
            serde_json::to_string(&updates).unwrap(),
            concat!(
                r#"[{"type":"widget.streaming_text.value_delta","component_id":"a","delta":"1","done":true},"#,
                r#"{"type":"widget.streaming_text.value_delta","component_id":"b","delta":"2","done":false}]"#
            )
        );
    }

    #[test]
    fn non_object_roots_are_replaced_or_left_alone() {
        let (x, y) = (WidgetRoot(json!([1])), WidgetRoot(json!([2])));
        assert_eq!(diff_widget(&x, &x.clone()), Ok(vec![]));
        assert_eq!(diff_widget(&x, &y).unwrap().len(), 1);
    }
}
