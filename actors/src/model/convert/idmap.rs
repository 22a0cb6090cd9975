//! The per-call id map (MODEL_STREAMING.md §6.4 rules 2–6).
//!
//! Slots are keyed by `(output_index, class)`: the provider's output slot
//! plus the kind of item the event speaks about (message, reasoning,
//! function call, other). On conforming servers every item has its own
//! `output_index`, so the class changes nothing; it keeps a reasoning
//! item and a message apart when a compatible server gives both the same
//! index (or none at all) and the same placeholder id.
//!
//! Provider item ids are only aliases, recorded when non-empty, not
//! `__fake_id__`, and not already bound to another slot; a slot is found
//! by `output_index` first, by alias second, and, for an event that has
//! neither, by "the newest slot of its class".

use std::collections::HashMap;

/// The id the Agents SDK puts on every fabricated item (§2.5).
pub const FAKE_ID: &str = "__fake_id__";

/// Whether a provider id is a placeholder: empty or `__fake_id__`.
pub fn is_placeholder(id: &str) -> bool {
    id.is_empty() || id == FAKE_ID
}

/// What kind of provider item a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Class {
    /// A `message` item (text, refusal and annotation events).
    Message,
    /// A `reasoning` item (summary and reasoning text events).
    Reasoning,
    /// A `function_call` item (argument events).
    FunctionCall,
    /// Anything else (hosted tools, unknown types).
    Other,
}

impl Class {
    /// The class of an output item, from its `type`.
    pub(super) fn of_item_type(item_type: &str) -> Self {
        match item_type {
            "message" => Class::Message,
            "reasoning" => Class::Reasoning,
            "function_call" => Class::FunctionCall,
            _ => Class::Other,
        }
    }
}

type Key = (usize, Class);

/// Slots of one model call, in creation order, with their lookup tables.
pub(super) struct IdMap<T> {
    slots: HashMap<Key, usize>,
    aliases: HashMap<String, Key>,
    newest: HashMap<Class, usize>,
    entries: Vec<(usize, T)>,
    next_synthetic: usize,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        Self {
            slots: HashMap::new(),
            aliases: HashMap::new(),
            newest: HashMap::new(),
            entries: Vec::new(),
            // Slots without an `output_index` sort after every real one.
            next_synthetic: usize::MAX / 2,
        }
    }
}

impl<T> IdMap<T> {
    /// The entry an event refers to, if it is bound: by `output_index`,
    /// then by alias, then (only when the event has neither a slot nor a
    /// usable id) the newest entry of the class.
    pub(super) fn resolve(
        &self,
        output_index: Option<usize>,
        item_id: Option<&str>,
        class: Class,
    ) -> Option<usize> {
        if let Some(index) = output_index
            && let Some(&entry) = self.slots.get(&(index, class))
        {
            return Some(entry);
        }
        if let Some(id) = usable(item_id)
            && let Some(key) = self.aliases.get(id)
            && key.1 == class
        {
            return self.slots.get(key).copied();
        }
        if output_index.is_none() && usable(item_id).is_none() {
            return self.newest.get(&class).copied();
        }
        None
    }

    /// The entry bound to exactly this slot (no alias, no fallback).
    pub(super) fn bound(&self, output_index: Option<usize>, class: Class) -> Option<usize> {
        output_index.and_then(|index| self.slots.get(&(index, class)).copied())
    }

    /// Adds an entry and binds the slot to it (rebinding a bound slot).
    /// Without an `output_index` the entry gets a synthetic slot.
    pub(super) fn bind(
        &mut self,
        output_index: Option<usize>,
        item_id: Option<&str>,
        class: Class,
        value: T,
    ) -> usize {
        let index = output_index.unwrap_or_else(|| {
            self.next_synthetic += 1;
            self.next_synthetic
        });
        let key = (index, class);
        self.entries.push((index, value));
        let entry = self.entries.len() - 1;
        self.slots.insert(key, entry);
        self.newest.insert(class, entry);
        self.alias(item_id, key);
        entry
    }

    /// Records `item_id` as an alias of `entry`'s slot when the id is
    /// usable and not bound to another slot yet.
    pub(super) fn note_alias(&mut self, item_id: Option<&str>, entry: usize, class: Class) {
        let key = (self.entries[entry].0, class);
        self.alias(item_id, key);
    }

    fn alias(&mut self, item_id: Option<&str>, key: Key) {
        if let Some(id) = usable(item_id) {
            self.aliases.entry(id.to_owned()).or_insert(key);
        }
    }

    /// The entry's value.
    pub(super) fn get(&self, entry: usize) -> &T {
        &self.entries[entry].1
    }

    /// The entry's value, to change it.
    pub(super) fn get_mut(&mut self, entry: usize) -> &mut T {
        &mut self.entries[entry].1
    }

    /// All entries in creation order, with their output index.
    pub(super) fn into_entries(self) -> Vec<(usize, T)> {
        self.entries
    }

    /// Whether no slot was ever bound.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn usable(item_id: Option<&str>) -> Option<&str> {
    item_id.filter(|id| !is_placeholder(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_first_then_alias_then_newest() {
        let mut map = IdMap::default();
        let a = map.bind(Some(0), Some("msg_a"), Class::Message, "a");
        let b = map.bind(Some(1), Some("fc_b"), Class::FunctionCall, "b");
        assert_eq!(map.resolve(Some(0), Some("fc_b"), Class::Message), Some(a));
        assert_eq!(map.resolve(Some(7), Some("msg_a"), Class::Message), Some(a));
        assert_eq!(
            map.resolve(None, Some("fc_b"), Class::FunctionCall),
            Some(b)
        );
        // An alias of another class does not resolve.
        assert_eq!(map.resolve(None, Some("fc_b"), Class::Message), None);
        // No index, placeholder id: the newest entry of the class.
        assert_eq!(map.resolve(None, Some(FAKE_ID), Class::Message), Some(a));
        assert_eq!(map.resolve(None, None, Class::Reasoning), None);
        // A usable but unknown id with no index is a new item.
        assert_eq!(map.resolve(None, Some("msg_z"), Class::Message), None);
    }

    #[test]
    fn placeholders_are_never_aliases_and_first_binding_wins() {
        let mut map = IdMap::default();
        let a = map.bind(Some(0), Some(FAKE_ID), Class::Message, 1);
        map.bind(Some(1), Some(FAKE_ID), Class::Message, 2);
        assert_eq!(map.resolve(Some(5), Some(FAKE_ID), Class::Message), None);
        map.bind(Some(2), Some("msg_0"), Class::Message, 3);
        map.bind(Some(3), Some("msg_0"), Class::Message, 4);
        assert_eq!(map.resolve(None, Some("msg_0"), Class::Message), Some(2));
        // Same slot, two classes: two entries.
        let r = map.bind(Some(0), Some(FAKE_ID), Class::Reasoning, 5);
        assert_ne!(r, a);
        assert_eq!(map.resolve(Some(0), None, Class::Message), Some(a));
        assert_eq!(map.resolve(Some(0), None, Class::Reasoning), Some(r));
    }

    #[test]
    fn rebinding_and_synthetic_slots() {
        let mut map = IdMap::default();
        let first = map.bind(Some(0), None, Class::Message, "first");
        let second = map.bind(Some(0), None, Class::Message, "second");
        assert_ne!(first, second);
        assert_eq!(map.bound(Some(0), Class::Message), Some(second));
        let s = map.bind(None, None, Class::Message, "synthetic");
        let entries = map.into_entries();
        assert!(entries[s].0 > 1_000_000);
        assert_eq!(entries.len(), 3);
    }
}
