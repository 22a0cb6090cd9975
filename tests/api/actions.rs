//! Widget actions (streamed and sync) and structured input over HTTP,
//! with a custom responder.

use std::sync::Arc;

use chatkit_actors::protocol::{
    Action, ItemKind, NoticeLevel, StructuredInput, StructuredInputKind, StructuredInputOption,
    ThreadItem, WidgetItem, WidgetRoot,
};
use chatkit_actors::responder::{BoxFuture, RequestScope, Responder, ResponderError, TurnContext};
use serde_json::{Value, json};

use crate::helpers::*;

fn card(badge: &str) -> WidgetRoot {
    serde_json::from_value(json!({"type": "Card", "children": [
        {"type": "Title", "value": "Draft email"},
        {"type": "Badge", "label": badge},
        {"type": "Button", "label": "Send", "onClickAction": {"type": "send", "payload": {"draft_id": "d_1"}}}
    ]}))
    .unwrap()
}

fn with_widget(item: &ThreadItem, widget: WidgetRoot) -> ThreadItem {
    let mut item = item.clone();
    item.kind = ItemKind::Widget(WidgetItem {
        widget,
        copy_text: None,
    });
    item
}

/// Shows a widget, asks questions, handles the widget's actions.
pub(crate) struct Shop;

impl Responder for Shop {
    fn respond(
        &self,
        turn: TurnContext,
        input: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<(), ResponderError>> {
        Box::pin(async move {
            let Some(input) = input else {
                // Resumed after the structured input: echo the answers.
                let answered = turn.history().iter().rev().find_map(|i| match &i.kind {
                    ItemKind::StructuredInput(si) => {
                        Some(serde_json::to_value(&si.inputs).unwrap())
                    }
                    _ => None,
                });
                turn.message(format!("Thanks: {}", answered.unwrap_or(Value::Null)))
                    .await?;
                return Ok(());
            };
            let text = serde_json::to_value(&input).unwrap()["content"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match text.as_str() {
                "widget" => {
                    turn.widget(card("Draft"), Some("Draft email".into()))
                        .await?;
                }
                "ask" => {
                    turn.structured_input(vec![
                        StructuredInput {
                            id: "priority".into(),
                            question: "Priority?".into(),
                            answer: None,
                            kind: StructuredInputKind::MultipleChoice {
                                options: vec![
                                    StructuredInputOption {
                                        value: "High".into(),
                                    },
                                    StructuredInputOption {
                                        value: "Low".into(),
                                    },
                                ],
                                multiple: false,
                            },
                        },
                        StructuredInput {
                            id: "notes".into(),
                            question: "Notes?".into(),
                            answer: None,
                            kind: StructuredInputKind::Freeform { description: None },
                        },
                    ])
                    .await?;
                }
                "locale" => {
                    let locale = turn
                        .request()
                        .data
                        .get("accept-language")
                        .cloned()
                        .unwrap_or_default();
                    turn.message(format!("locale {locale}")).await?;
                }
                _ => {
                    turn.message("ok").await?;
                }
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
            match (action.kind.as_str(), sender) {
                ("send", Some(sender)) => {
                    turn.replace(with_widget(&sender, card("Sent"))).await?;
                    turn.notice(
                        NoticeLevel::Info,
                        format!(
                            "Sent draft {}",
                            action.payload.unwrap_or_default()["draft_id"]
                        ),
                        None,
                    )
                    .await?;
                    Ok(())
                }
                ("ping", None) => {
                    turn.message("pong").await?;
                    Ok(())
                }
                _ => Err(ResponderError::custom("Unknown action.", false)),
            }
        })
    }

    fn sync_action(
        &self,
        _scope: RequestScope,
        action: Action,
        sender: Option<ThreadItem>,
    ) -> BoxFuture<'static, Result<Option<ThreadItem>, ResponderError>> {
        Box::pin(async move {
            match (action.kind.as_str(), sender) {
                ("archive", Some(sender)) => Ok(Some(with_widget(&sender, card("Archived")))),
                _ => Ok(None),
            }
        })
    }
}

async fn shop() -> TestApp {
    spawn_app_with(AppOptions {
        responder: Some(Arc::new(Shop)),
        ..Default::default()
    })
    .await
}

/// The first item of type `kind` among the `events`.
fn first_item(events: &[Value], kind: &str) -> Value {
    events.iter().find(|e| e["item"]["type"] == kind).unwrap()["item"].clone()
}

fn badge(item: &Value) -> &Value {
    &item["widget"]["children"][1]["label"]
}

#[actix_web::test]
async fn a_widget_action_replaces_its_sender() {
    let app = shop().await;
    let (thread, events) = app.create_thread("widget").await;
    let widget = first_item(&events, "widget");
    let events = app
        .post(&json!({"type": "threads.custom_action", "params": {"thread_id": thread, "item_id": widget["id"], "action": {"type": "send", "payload": {"draft_id": "d_1"}}}}))
        .await
        .events();
    assert_eq!(
        types(&events),
        ["stream_options", "thread.item.replaced", "notice"]
    );
    assert_eq!(badge(&events[1]["item"]), "Sent");
    assert_eq!(events[2]["message"], "Sent draft \"d_1\"");
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["id"], widget["id"], "replaced in place");
    assert_eq!(badge(&items[1]), "Sent");

    // No sender: allowed; an unknown action: a custom error event.
    let events = app.post(&json!({"type": "threads.custom_action", "params": {"thread_id": thread, "item_id": "", "action": {"type": "ping"}}})).await.events();
    assert_eq!(answer_text(&events), "pong");
    let events = app.post(&json!({"type": "threads.custom_action", "params": {"thread_id": thread, "action": {"type": "nope"}}})).await.events();
    assert_eq!(
        *events.last().unwrap(),
        json!({"type": "error", "code": "custom", "message": "Unknown action.", "allow_retry": false})
    );
}

#[actix_web::test]
async fn actions_from_non_widgets_or_unknown_items_are_refused_before_streaming() {
    let app = shop().await;
    let (thread, events) = app.create_thread("hello").await;
    let message = events[1]["item"]["id"].clone();
    for kind in ["threads.custom_action", "threads.sync_custom_action"] {
        let reply = app.post(&json!({"type": kind, "params": {"thread_id": thread, "item_id": message, "action": {"type": "send"}}})).await;
        assert_eq!(reply.status, 400, "{kind}: {}", reply.body);
        assert_eq!(reply.error_code(), "invalid_request");
        let reply = app.post(&json!({"type": kind, "params": {"thread_id": thread, "item_id": "msg_nope", "action": {"type": "send"}}})).await;
        assert_eq!(reply.status, 404, "{kind}");
        let reply = app
            .post_as(
                "mallory",
                &json!({"type": kind, "params": {"thread_id": thread, "action": {"type": "send"}}}),
            )
            .await;
        assert_eq!(reply.status, 404, "{kind}");
    }
    // A missing action type is invalid (the reference accepts it, §13 item 6).
    let reply = app.post(&json!({"type": "threads.custom_action", "params": {"thread_id": thread, "action": {"payload": 1}}})).await;
    assert_eq!(reply.status, 400);
}

#[actix_web::test]
async fn a_sync_action_returns_and_stores_the_updated_item() {
    let app = shop().await;
    let (thread, events) = app.create_thread("widget").await;
    let widget = first_item(&events, "widget");
    let reply = app
        .post(&json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread, "item_id": widget["id"], "action": {"type": "archive"}}}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["updated_item"]["id"], widget["id"]);
    assert_eq!(badge(&body["updated_item"]), "Archived");
    let items = app.all_items("alice", &thread).await;
    assert_eq!(badge(&items[1]), "Archived", "stored, unlike the reference");
    // Nothing to update: `{}`.
    let reply = app.post(&json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread, "action": {"type": "other"}}})).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "{}"));
}

#[actix_web::test]
async fn a_sync_action_without_a_handler_is_a_501() {
    let app = spawn_app().await;
    let (thread, _) = app.create_thread("hello").await;
    let reply = app.post(&json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread, "action": {"type": "x"}}})).await;
    assert_eq!(reply.status, 501, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_implemented");
}

#[actix_web::test]
async fn structured_input_is_answered_then_the_responder_goes_on() {
    let app = shop().await;
    let (thread, events) = app.create_thread("ask").await;
    let question = first_item(&events, "structured_input");
    assert_eq!(question["status"], "pending");
    let submit = |input: Value| json!({"type": "threads.add_structured_input", "params": {"thread_id": thread, "item_id": question["id"], "input": input}});
    // A single choice is cut to one value; an unknown id is ignored; an
    // omitted answer is skipped.
    let events = app.post(&submit(json!({"status": "answered", "answers": {"priority": {"values": ["High", "Low"]}, "bogus": {"values": ["x"]}}}))).await.events();
    assert_eq!(
        types(&events)[..2],
        ["stream_options", "thread.item.replaced"]
    );
    let answered = &events[1]["item"];
    assert_eq!(answered["id"], question["id"]);
    assert_eq!(answered["status"], "answered");
    assert_eq!(
        answered["inputs"][0]["answer"],
        json!({"values": ["High"], "skipped": false})
    );
    assert_eq!(
        answered["inputs"][1]["answer"],
        json!({"values": [], "skipped": true})
    );
    assert!(answer_text(&events).starts_with("Thanks: "), "{events:?}");
    let items = app.all_items("alice", &thread).await;
    assert_eq!(items[1], *answered, "stored as sent");

    // Answered already: a conflict. Not a structured input: a 400.
    let again = app.post(&submit(json!({"status": "skipped"}))).await;
    assert_eq!(again.status, 409, "{}", again.body);
    let user_message = items[0]["id"].clone();
    let wrong = app.post(&json!({"type": "threads.add_structured_input", "params": {"thread_id": thread, "item_id": user_message, "input": {}}})).await;
    assert_eq!(wrong.status, 400);
}

#[actix_web::test]
async fn skipping_structured_input_skips_every_question() {
    let app = shop().await;
    let (thread, events) = app.create_thread("ask").await;
    let question = first_item(&events, "structured_input");
    let events = app
        .post(&json!({"type": "threads.add_structured_input", "params": {"thread_id": thread, "item_id": question["id"], "input": {"status": "skipped", "answers": {"priority": {"values": ["High"]}}}}}))
        .await
        .events();
    let answered = &events[1]["item"];
    assert_eq!(answered["status"], "skipped");
    for q in answered["inputs"].as_array().unwrap() {
        assert_eq!(q["answer"], json!({"values": [], "skipped": true}));
    }
}

#[actix_web::test]
async fn the_responder_sees_the_locale_header() {
    let app = shop().await;
    let body = create("locale");
    let resp = app
        .client
        .post(app.endpoint())
        .header("X-User-Id", "alice")
        .header("Accept-Language", "fr-FR")
        .json(&body)
        .send()
        .await
        .unwrap();
    let events = parse_sse(&resp.text().await.unwrap());
    assert_eq!(answer_text(&events), "locale fr-FR");
}
