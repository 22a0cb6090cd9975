//! `HistoryCache`: the newest items of a thread, in order, bounded.
//!
//! The model's input is built from this cache, never from a fresh read of
//! the whole thread, so the bound is in *estimated tokens* (the model's
//! history budget, with a margin) as well as in items: a long thread keeps
//! as much recent history as the model can take, and no more.

use std::collections::VecDeque;

use crate::ids::ItemId;
use crate::protocol::ThreadItem;

/// A rough token estimate of a stored item: its JSON length / 4, plus a
/// small overhead. Only used to bound memory against the history budget,
/// so it may be generous.
pub(super) fn estimate_tokens(item: &ThreadItem) -> usize {
    serde_json::to_vec(item).map_or(0, |v| v.len() / 4) + 4
}

/// The newest items of a thread, oldest first, with their sequence numbers.
pub(super) struct HistoryCache {
    items: VecDeque<(i64, ThreadItem, usize)>,
    tokens: usize,
    max_items: usize,
    max_tokens: usize,
}

impl HistoryCache {
    /// An empty cache holding at most `max_items` items and about
    /// `max_tokens` estimated tokens (always at least the newest item).
    pub(super) fn new(max_items: usize, max_tokens: usize) -> Self {
        Self {
            items: VecDeque::new(),
            tokens: 0,
            max_items: max_items.max(1),
            max_tokens,
        }
    }

    /// A cache filled with `items` (oldest first), trimmed to its bounds.
    pub(super) fn with_items(
        max_items: usize,
        max_tokens: usize,
        items: impl IntoIterator<Item = (i64, ThreadItem)>,
    ) -> Self {
        let mut cache = Self::new(max_items, max_tokens);
        for (seq, item) in items {
            let t = estimate_tokens(&item);
            cache.tokens += t;
            cache.items.push_back((seq, item, t));
        }
        cache.trim();
        cache
    }

    /// Inserts an item at its place by sequence number, or replaces the
    /// item with the same id in place (an upsert keeps its position).
    pub(super) fn put(&mut self, seq: i64, item: ThreadItem) {
        let t = estimate_tokens(&item);
        if let Some(entry) = self.items.iter_mut().find(|(_, i, _)| i.id == item.id) {
            self.tokens = self.tokens - entry.2 + t;
            entry.1 = item;
            entry.2 = t;
        } else {
            let at = self.items.partition_point(|(s, _, _)| *s < seq);
            self.items.insert(at, (seq, item, t));
            self.tokens += t;
        }
        self.trim();
    }

    /// Removes the item with this id, if cached.
    pub(super) fn remove(&mut self, id: &ItemId) {
        if let Some(pos) = self.items.iter().position(|(_, i, _)| &i.id == id) {
            let (_, _, t) = self.items.remove(pos).expect("position is valid");
            self.tokens -= t;
        }
    }

    /// Drops every item after sequence number `seq`.
    pub(super) fn retain_up_to(&mut self, seq: i64) {
        while self.items.back().is_some_and(|(s, _, _)| *s > seq) {
            if let Some((_, _, t)) = self.items.pop_back() {
                self.tokens -= t;
            }
        }
    }

    /// The items, oldest first, with their sequence numbers.
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = (i64, &ThreadItem)> {
        self.items.iter().map(|(s, i, _)| (*s, i))
    }

    /// The newest item.
    pub(super) fn newest(&self) -> Option<(i64, &ThreadItem)> {
        self.items.back().map(|(s, i, _)| (*s, i))
    }

    fn trim(&mut self) {
        while self.items.len() > self.max_items
            || (self.tokens > self.max_tokens && self.items.len() > 1)
        {
            if let Some((_, _, t)) = self.items.pop_front() {
                self.tokens -= t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ItemKind, SdkHiddenContextItem};

    fn item(id: &str, text_len: usize) -> ThreadItem {
        ThreadItem {
            id: ItemId::from(id),
            thread_id: "thr_1".into(),
            created_at: crate::time::Timestamp::now(),
            kind: ItemKind::SdkHiddenContext(SdkHiddenContextItem {
                content: "x".repeat(text_len),
            }),
        }
    }

    #[test]
    fn keeps_order_upserts_in_place_and_respects_both_bounds() {
        let mut cache = HistoryCache::new(3, 1_000_000);
        for (seq, id) in [(1, "a"), (3, "c"), (2, "b"), (4, "d")] {
            cache.put(seq, item(id, 10));
        }
        let ids: Vec<_> = cache.iter().map(|(_, i)| i.id.0.clone()).collect();
        assert_eq!(ids, ["b", "c", "d"]);
        cache.put(99, item("c", 20));
        assert_eq!(cache.iter().map(|(s, _)| s).collect::<Vec<_>>(), [2, 3, 4]);
        cache.remove(&ItemId::from("d"));
        assert_eq!(cache.newest().unwrap().1.id.0, "c");
        cache.retain_up_to(2);
        assert_eq!(cache.iter().map(|(s, _)| s).collect::<Vec<_>>(), [2]);

        // Tokens: items of ~250 tokens each under a 600-token bound.
        let mut cache =
            HistoryCache::with_items(100, 600, (0..10).map(|n| (n, item(&format!("i{n}"), 1000))));
        assert_eq!(cache.iter().count(), 2);
        assert!(cache.tokens <= 600);
        // A single item larger than the bound is still kept (the newest).
        cache.put(20, item("huge", 100_000));
        assert_eq!(cache.iter().count(), 1);
    }
}
