//! The engine inside an application, without HTTP.
//!
//! Starts the actor system, opens a database in a temporary directory,
//! holds a two-turn conversation with the offline `echo` model, and reads
//! the thread back.
//!
//! ```sh
//! cargo run --example embed
//! ```

use chatkit_actors::protocol::ThreadStreamEvent;
use chatkit_actors::{Engine, EngineConfig, EngineResponse, RequestContext};
use serde_json::json;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let engine = Engine::start(EngineConfig::new(dir.path().join("chat.sqlite3")))?;
    let user = RequestContext::new("user-42");

    let create = json!({"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "Hello from an embedded engine"}],
        "attachments": [], "inference_options": {}}}});
    let thread_id = stream(&engine, &user, create.to_string().as_bytes())
        .await?
        .expect("a thread");

    let add = json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": {
        "content": [{"type": "input_text", "text": "And a second message"}],
        "attachments": [], "inference_options": {}}}});
    stream(&engine, &user, add.to_string().as_bytes()).await?;

    let list = json!({"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}});
    match engine.process(list.to_string().as_bytes(), &user).await? {
        EngineResponse::Json(body) => println!("items.list -> {}", String::from_utf8_lossy(&body)),
        EngineResponse::Stream(_) => unreachable!("items.list is a JSON request"),
    }
    engine.shutdown().await;
    Ok(())
}

/// Runs a streaming request, printing each event; returns the id of a
/// thread it created.
async fn stream(
    engine: &Engine,
    user: &RequestContext,
    body: &[u8],
) -> anyhow::Result<Option<String>> {
    let EngineResponse::Stream(mut events) = engine.process(body, user).await? else {
        anyhow::bail!("expected a stream");
    };
    let mut created = None;
    while let Some(event) = events.next_event().await {
        if let ThreadStreamEvent::ThreadCreated { thread } = &event {
            created = Some(thread.id.to_string());
        }
        println!("{}", serde_json::to_string(&event)?);
    }
    Ok(created)
}
