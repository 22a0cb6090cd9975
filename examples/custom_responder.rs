//! Run with: cargo run --example custom_responder -- --port 8000
//!
//! A ChatKit server whose responder is application code instead of a
//! model. Send it a message containing:
//!
//! - "email": a draft email widget streams in (its body grows word by
//!   word), with a Send button; pressing it (`threads.custom_action`)
//!   replaces the widget with a sent version;
//! - "survey": it asks a structured-input question, then thanks you for
//!   the answer (`threads.add_structured_input`);
//! - "color": it asks the browser to run a client tool (`pick_color`) and
//!   answers with the result (`threads.add_client_tool_output`);
//! - anything else: the offline echo model answers.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use chatkit_actors::protocol::{
    Action, ActionConfig, ItemKind, NoticeLevel, StructuredInput, StructuredInputKind,
    StructuredInputOption, ThreadItem,
};
use chatkit_actors::responder::{BoxFuture, Responder, ResponderError, TurnContext};
use chatkit_actors::widgets::{Badge, Button, Card, Text, Title};
use chatkit_actors::{Engine, EngineConfig};
use chatkit_server::{Settings, run};
use clap::Parser;
use serde_json::{Map, json};

const BODY: &str = "Hi team, the release is ready for review.";

/// The draft email card, with `words` words of its body.
fn draft(words: usize, streaming: bool) -> Card {
    let body: Vec<&str> = BODY.split(' ').take(words).collect();
    let card = Card::new()
        .child(Title::new("Draft email"))
        .child(Text::new(body.join(" ")).id("body").streaming(streaming));
    if streaming {
        card
    } else {
        card.child(
            Button::new("Send")
                .on_click(ActionConfig::new("send_email").payload(json!({"draft_id": "d_1"}))),
        )
    }
}

/// The responder: widgets, actions, questions and client tools.
struct Demo;

impl Responder for Demo {
    fn respond(
        &self,
        turn: TurnContext,
        input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move {
            let Some(input) = input else {
                return answer_resumed_turn(&turn).await;
            };
            let text = chatkit_actors::model::echo::last_user_text(std::slice::from_ref(&input))
                .to_lowercase();
            if text.contains("email") {
                let mut widget = turn.stream_widget(draft(1, true), None).await?;
                for words in 2..=BODY.split(' ').count() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    widget.update(draft(words, true)).await?;
                }
                widget.update(draft(usize::MAX, false)).await?;
                widget.set_copy_text(Some(BODY.to_owned()));
                widget.finish().await?;
            } else if text.contains("survey") {
                turn.structured_input(vec![StructuredInput {
                    id: "priority".into(),
                    question: "How urgent is it?".into(),
                    answer: None,
                    kind: StructuredInputKind::MultipleChoice {
                        options: ["High", "Medium", "Low"]
                            .map(|v| StructuredInputOption { value: v.into() })
                            .to_vec(),
                        multiple: false,
                    },
                }])
                .await?;
            } else if text.contains("color") {
                turn.client_tool_call("pick_color", Map::new()).await?;
            } else {
                turn.run_agent().await?;
            }
            Ok(())
        })
    }

    fn action(
        &self,
        turn: TurnContext,
        action: Action,
        sender: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move {
            if action.kind != "send_email" {
                return Err(ResponderError::custom(
                    format!("Unknown action {}.", action.kind),
                    false,
                ));
            }
            let mut item =
                sender.ok_or_else(|| ResponderError::custom("Nothing to send.", false))?;
            let sent = Card::new()
                .child(Title::new("Email sent"))
                .child(Text::new(BODY))
                .child(Badge::new("Sent"));
            if let ItemKind::Widget(widget) = &mut item.kind {
                widget.widget = sent.into();
            }
            turn.replace(item).await?;
            turn.notice(NoticeLevel::Info, "Your email is on its way.", None)
                .await
        })
    }
}

/// A turn resumed by an answer: reply to the newest question or tool call.
async fn answer_resumed_turn(turn: &TurnContext) -> Result<(), ResponderError> {
    let reply = turn
        .history()
        .iter()
        .rev()
        .find_map(|item| match &item.kind {
            ItemKind::StructuredInput(si) => {
                let answer = si
                    .inputs
                    .first()
                    .and_then(|q| q.answer.as_ref())
                    .and_then(|a| a.values.first().cloned());
                Some(format!(
                    "Thanks, noted priority: {}.",
                    answer.unwrap_or_else(|| "skipped".into())
                ))
            }
            ItemKind::ClientToolCall(call) => Some(format!(
                "You picked {}.",
                call.output.clone().unwrap_or_default()
            )),
            _ => None,
        });
    turn.message(reply.unwrap_or_else(|| "Thanks.".into()))
        .await
        .map(|_| ())
}

#[derive(Parser)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// SQLite file.
    #[arg(long, default_value = "custom_responder.sqlite3")]
    db: String,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = EngineConfig::new(&args.db);
    config.responder = Arc::new(Demo);
    let engine = Engine::start(config)?;
    let listener = TcpListener::bind(("127.0.0.1", args.port))?;
    println!(
        "custom_responder listening on http://{}/chatkit",
        listener.local_addr()?
    );
    run(listener, Settings::default(), engine.clone())?.await?;
    engine.shutdown().await;
    Ok(())
}
