//! Builder methods of [`ActionConfig`] (§4.10), the action a widget
//! control fires. The type itself is a wire type, in
//! [`protocol`](crate::protocol).

use serde_json::Value;

use crate::protocol::{ActionConfig, ActionHandler, LoadingBehavior};

/// Builder methods; [`ActionConfig::new`] is the constructor. Defaults
/// are always written.
///
/// ```
/// use chatkit_actors::protocol::{ActionConfig, ActionHandler};
/// use serde_json::json;
///
/// let action = ActionConfig::new("open").payload(json!({"i": 1})).handler(ActionHandler::Client);
/// assert_eq!(
///     serde_json::to_string(&action).unwrap(),
///     r#"{"type":"open","payload":{"i":1},"handler":"client","loadingBehavior":"auto","streaming":true}"#
/// );
/// ```
impl ActionConfig {
    /// Sets the free-form payload (nulls inside it are stripped on the
    /// wire, like everything in a widget, §8.3).
    pub fn payload(mut self, payload: impl Into<Value>) -> Self {
        self.payload = Some(payload.into());
        self
    }

    /// Sets who handles the action (default `server`).
    pub fn handler(mut self, handler: ActionHandler) -> Self {
        self.handler = handler;
        self
    }

    /// Sets what shows a loading state (default `auto`).
    pub fn loading_behavior(mut self, loading_behavior: LoadingBehavior) -> Self {
        self.loading_behavior = loading_behavior;
        self
    }

    /// `false` sends the action as `threads.sync_custom_action` (default
    /// `true`: `threads.custom_action`).
    pub fn streaming(mut self, streaming: bool) -> Self {
        self.streaming = streaming;
        self
    }
}
