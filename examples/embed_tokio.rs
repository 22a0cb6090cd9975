//! Run with: cargo run --example embed_tokio
//!
//! The engine inside a plain tokio program (no actix runtime of its own):
//! `EngineHandle::spawn` runs the engine's actix system on a dedicated
//! thread, and the program talks to it over channels. Opens a database in
//! a temporary directory, sends one message to the offline `echo` model,
//! prints the events, lists the thread's items, and shuts down.

use chatkit_actors::protocol::ThreadStreamEvent;
use chatkit_actors::{EngineConfig, EngineHandle, EngineResponse, RequestContext};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = EngineHandle::spawn(EngineConfig::new(dir.path().join("chat.sqlite3")))?;
    let user = RequestContext::new("user-42");

    let create = json!({"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "Hello from a tokio program"}],
        "attachments": [], "inference_options": {}}}});
    let EngineResponse::Stream(mut events) =
        engine.process(create.to_string(), user.clone()).await?
    else {
        anyhow::bail!("threads.create streams");
    };
    let mut thread_id = None;
    while let Some(event) = events.next_event().await {
        if let ThreadStreamEvent::ThreadCreated { thread } = &event {
            thread_id = Some(thread.id.to_string());
        }
        println!("{}", serde_json::to_string(&event)?);
    }
    let thread_id = thread_id.expect("a thread was created");

    let list = json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}});
    if let EngineResponse::Json(body) = engine.process(list.to_string(), user).await? {
        println!("items.list -> {}", String::from_utf8_lossy(&body));
    }

    engine.shutdown().await;
    Ok(())
}
