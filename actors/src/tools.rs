//! Function tools the model may call.
//!
//! A **server tool** runs in Rust: when the model calls it, the agent runs
//! its async handler, appends the call and its output to the conversation,
//! and calls the model again (MODEL_STREAMING.md §3). A handler error
//! becomes text the model sees (`Error: …`), not a failed turn.
//!
//! A **client tool** runs in the browser: a call ends the turn with a
//! pending `client_tool_call` item; the client answers with
//! `threads.add_client_tool_output`, which completes the item and resumes
//! the loop (§3.4).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::ids::{ThreadId, UserId};
use crate::model::FunctionTool;

/// What a server tool's handler returns: the output text for the model, or
/// an error message (shown to the model as `Error: <message>`).
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;

/// Who a tool call runs for.
#[derive(Clone, Debug)]
pub struct ToolContext {
    /// The thread of the turn.
    pub thread_id: ThreadId,
    /// The user of the turn.
    pub user_id: UserId,
}

type Handler = Arc<dyn Fn(Value, ToolContext) -> ToolFuture + Send + Sync>;

/// Where a tool runs.
#[derive(Clone)]
pub enum ToolKind {
    /// In the server, with this handler.
    Server(Handler),
    /// In the client (ChatKit.js `onClientTool`).
    Client,
}

/// A tool: what the model is told, and where it runs.
#[derive(Clone)]
pub struct Tool {
    /// Name, description and JSON schema sent to the model.
    pub spec: FunctionTool,
    /// Where it runs.
    pub kind: ToolKind,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            ToolKind::Server(_) => "server",
            ToolKind::Client => "client",
        };
        f.debug_struct("Tool")
            .field("name", &self.spec.name)
            .field("kind", &kind)
            .finish()
    }
}

/// The tools offered to the model, in registration order. Cheap to clone.
///
/// Build them once and put them in
/// [`EngineConfig::tools`](crate::EngineConfig::tools); real models are
/// offered them in every call (the echo model ignores them).
///
/// ```
/// use chatkit_actors::EngineConfig;
/// use chatkit_actors::tools::{ToolContext, ToolKind, Tools};
/// use serde_json::json;
///
/// let city = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
/// let tools = Tools::new()
///     .server("get_weather", "Weather for a city.", city, |args, _ctx| async move {
///         let city = args["city"].as_str().ok_or("city is missing")?; // the model sees `Error: …`
///         Ok(format!("Sunny in {city}"))
///     })
///     .client("pick_color", "Ask the user to pick a color.", json!({"type": "object", "properties": {}}));
/// let names: Vec<_> = tools.specs().into_iter().map(|spec| spec.name).collect();
/// assert_eq!(names, ["get_weather", "pick_color"]);
///
/// // A server tool's handler can be tried on its own, without a model.
/// let ToolKind::Server(handler) = &tools.get("get_weather").unwrap().kind else { unreachable!() };
/// let ctx = ToolContext { thread_id: "thr_1".into(), user_id: "user-42".into() };
/// let output = actix_rt::System::new().block_on(handler(json!({"city": "Paris"}), ctx));
/// assert_eq!(output.as_deref(), Ok("Sunny in Paris"));
///
/// let dir = tempfile::tempdir().unwrap();
/// let mut config = EngineConfig::new(dir.path().join("chat.sqlite3"));
/// config.tools = tools;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Tools {
    tools: Arc<IndexMap<String, Tool>>,
}

impl Tools {
    /// No tools.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a server tool. `parameters` is the JSON Schema of the
    /// arguments object; the handler gets the parsed arguments.
    pub fn server<F, Fut>(
        self,
        name: &str,
        description: &str,
        parameters: Value,
        handler: F,
    ) -> Self
    where
        F: Fn(Value, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |args, ctx| Box::pin(handler(args, ctx)));
        self.add(name, description, parameters, ToolKind::Server(handler))
    }

    /// Adds a client tool: a call ends the turn with a pending
    /// `client_tool_call` for the browser to run.
    pub fn client(self, name: &str, description: &str, parameters: Value) -> Self {
        self.add(name, description, parameters, ToolKind::Client)
    }

    fn add(self, name: &str, description: &str, parameters: Value, kind: ToolKind) -> Self {
        let mut tools = Arc::unwrap_or_clone(self.tools);
        let spec = FunctionTool {
            name: name.to_owned(),
            description: description.to_owned(),
            parameters,
            strict: false,
        };
        tools.insert(name.to_owned(), Tool { spec, kind });
        Self {
            tools: Arc::new(tools),
        }
    }

    /// The specs sent to the model.
    pub fn specs(&self) -> Vec<FunctionTool> {
        self.tools.values().map(|t| t.spec.clone()).collect()
    }

    /// The tool with this name.
    pub fn get(&self, name: &str) -> Option<&Tool> {
        self.tools.get(name)
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[actix_rt::test]
    async fn server_tools_run_and_client_tools_are_marked() {
        let tools = Tools::new()
            .server(
                "add",
                "Adds two numbers.",
                json!({"type": "object"}),
                |args, _| async move {
                    let a = args["a"].as_i64().ok_or("a is missing")?;
                    let b = args["b"].as_i64().ok_or("b is missing")?;
                    Ok((a + b).to_string())
                },
            )
            .client(
                "pick_color",
                "Asks the user for a color.",
                json!({"type": "object"}),
            );
        assert_eq!(
            tools
                .specs()
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["add", "pick_color"]
        );
        let ctx = ToolContext {
            thread_id: "thr_1".into(),
            user_id: "u".into(),
        };
        let ToolKind::Server(h) = &tools.get("add").unwrap().kind else {
            panic!()
        };
        assert_eq!(
            h(json!({"a": 2, "b": 3}), ctx.clone()).await,
            Ok("5".into())
        );
        assert_eq!(h(json!({"a": 2}), ctx).await, Err("b is missing".into()));
        assert!(matches!(
            tools.get("pick_color").unwrap().kind,
            ToolKind::Client
        ));
        assert!(tools.get("nope").is_none());
    }
}
