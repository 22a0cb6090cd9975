//! The offline `echo` model.
//!
//! Deterministic: it answers `You said: "<last user message>"` and streams
//! that answer in several deltas (one per word), pausing a configurable
//! delay before each, so that streaming, cancellation and backpressure can
//! be exercised without a provider.

use std::time::Duration;

use crate::protocol::{ItemKind, ThreadItem, UserMessageContent};

/// Settings of the echo model.
#[derive(Clone, Debug, Default)]
pub struct EchoConfig {
    /// Pause before each text delta.
    pub delay: Duration,
}

/// The text of the newest user message in `history`, tags rendered as their
/// display text; empty when there is none.
pub fn last_user_text(history: &[ThreadItem]) -> String {
    history
        .iter()
        .rev()
        .find_map(|item| match &item.kind {
            ItemKind::UserMessage(m) => Some(
                m.content
                    .iter()
                    .map(|c| match c {
                        UserMessageContent::InputText { text } => text.as_str(),
                        UserMessageContent::InputTag { text, .. } => text.as_str(),
                    })
                    .collect::<String>(),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

/// The full answer to a user message.
pub fn answer(user_text: &str) -> String {
    format!("You said: \"{user_text}\"")
}

/// Splits an answer into deltas: one per word, each word carrying the
/// whitespace before it, so that concatenating them gives the answer back.
pub fn deltas(answer: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for ch in answer.chars() {
        if ch.is_whitespace() && in_word {
            out.push(std::mem::take(&mut current));
            in_word = false;
        } else if !ch.is_whitespace() {
            in_word = true;
        }
        current.push(ch);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A title for a new thread: the first line of the user's first message,
/// cut to 48 characters at a word boundary.
pub fn title_for(user_text: &str) -> Option<String> {
    const MAX_CHARS: usize = 48;
    let line = user_text.lines().map(str::trim).find(|l| !l.is_empty())?;
    if line.chars().count() <= MAX_CHARS {
        return Some(line.to_owned());
    }
    let cut: String = line.chars().take(MAX_CHARS).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > MAX_CHARS / 2 => cut[..i].to_owned(),
        _ => cut,
    };
    Some(format!("{}…", cut.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_concatenate_to_the_answer() {
        for text in ["Hi there", "  spaced  out  ", "héllo 😀 wörld", "", "one"] {
            let a = answer(text);
            let d = deltas(&a);
            assert_eq!(d.concat(), a);
            assert!(d.len() >= 2, "{a:?} gave {d:?}");
        }
    }

    #[test]
    fn titles_are_short_first_lines() {
        assert_eq!(
            title_for("\n  Plan a trip\nto Rome"),
            Some("Plan a trip".into())
        );
        assert_eq!(title_for("   "), None);
        let long = "word ".repeat(30);
        let t = title_for(&long).unwrap();
        assert!(t.chars().count() <= 49 && t.ends_with('…'));
    }
}
