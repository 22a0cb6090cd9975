//! Typed widgets and the widget diff (PROTOCOL.md §8), against the
//! reference's fixtures: builders write the fixture bytes, every fixture
//! widget parses into the typed form and writes back byte for byte, each
//! diff rule of §8.6 (and each documented fix), the golden streaming
//! transcript event for event, and the `WidgetStreamer` sequences.
//!
//! Fixtures: `$CHATKIT_FIXTURES`, else `shared/fixtures` next to the
//! workspace (as in `fixtures.rs`).

use std::path::{Path, PathBuf};

use chatkit_actors::ids::ThreadId;
use chatkit_actors::protocol::{
    ActionConfig, ActionHandler, LoadingBehavior, ThreadItemUpdate, ThreadStreamEvent, WidgetRoot,
};
use chatkit_actors::widgets::{
    Badge, Basic, Button, Caption, Card, CardAction, Chart, Checkbox, Children, Col, DatePicker,
    Divider, EditableProps, Form, Icon, Image, Input, Label, ListView, ListViewItem, Markdown,
    RadioGroup, RadioOption, Row, Select, SelectOption, Series, Spacer, Text, Textarea, Title,
    Transition, Widget, WidgetBox, WidgetComponent, WidgetStatus, WidgetStreamer,
    apply_widget_update, diff_widget,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn fixtures_dir() -> PathBuf {
    std::env::var_os("CHATKIT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures"
            ))
        })
}

fn fixture(rel: &str) -> String {
    let path = fixtures_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `data:` payloads of an SSE transcript.
fn frames(rel: &str) -> Vec<String> {
    fixture(rel)
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| f.strip_prefix("data: ").expect("a data frame").to_owned())
        .collect()
}

fn wire(root: &WidgetRoot) -> String {
    serde_json::to_string(root).unwrap()
}

fn root(value: Value) -> WidgetRoot {
    WidgetRoot(value)
}

/// `types/widget.card_all_common_components.json`, built.
fn card_fixture() -> Card {
    Card::new()
        .key("k")
        .id("root")
        .as_form(true)
        .child(Title::new("Title").size("lg"))
        .child(Caption::new("Caption"))
        .child(Markdown::new("**bold**").id("md").streaming(true))
        .child(Text::new("Editable").editable(EditableProps::new("title").required(true)))
        .child(
            Row::new()
                .child(Icon::new("star"))
                .child(Badge::new("New").color("info"))
                .child(Spacer::new())
                .child(
                    Button::new("Go")
                        .on_click(ActionConfig::new("go"))
                        .icon_start("bolt")
                        .style("primary"),
                )
                .gap(2),
        )
        .child(
            Col::new()
                .child(Divider::new())
                .child(Image::new("https://example.com/a.png").alt("A").size(40)),
        )
        .child(
            WidgetBox::new()
                .child(Label::new("Name", "name"))
                .child(Input::new("name").placeholder("Your name"))
                .direction("row"),
        )
        .child(
            Form::new()
                .child(Select::new("color", [SelectOption::new("r", "Red")]))
                .child(DatePicker::new("when").default_value("2025-06-01T00:00:00"))
                .child(Checkbox::new("ok").label("OK").default_checked(true))
                .child(RadioGroup::new("size").option(RadioOption::new("s", "S")))
                .child(Textarea::new("notes").rows(3))
                .child(Button::new("Submit").submit(true))
                .on_submit(ActionConfig::new("submit")),
        )
        .child(Transition::new(Text::new("animated")))
        .child(
            Chart::new("m")
                .row(json!({"m": "Jan", "v": 1}))
                .series(Series::bar("v").label("Value")),
        )
        .background("surface-secondary")
        .size("md")
        .padding(4)
        .status(WidgetStatus::with_icon("Draft", "write"))
        .confirm(CardAction::new("Save", ActionConfig::new("save")))
        .cancel(CardAction::new(
            "Cancel",
            ActionConfig::new("cancel").handler(ActionHandler::Client),
        ))
}

/// The widget of `items/widget.json` (and of `threads_custom_action.sse`
/// with another badge).
fn draft_email(badge: &str) -> Card {
    let send = ActionConfig::new("send_email").payload(json!({"draft_id": "d_1"}));
    Card::new()
        .child(Title::new("Draft email"))
        .child(Text::new("Hi team, the release is ready.").id("body"))
        .child(
            Row::new()
                .child(Badge::new(badge))
                .child(Spacer::new())
                .child(Button::new("Send").on_click(send)),
        )
}

#[test]
fn builders_write_the_card_fixture() {
    let expected = fixture("types/widget.card_all_common_components.json");
    assert_eq!(wire(&card_fixture().into_root()), expected);
    assert_eq!(serde_json::to_string(&card_fixture()).unwrap(), expected);
}

#[test]
fn builders_write_the_list_view_fixture() {
    let list = ListView::new()
        .item(
            ListViewItem::new()
                .child(Text::new("Row 1"))
                .on_click(ActionConfig::new("open").payload(json!({"i": 1}))),
        )
        .item(ListViewItem::new().child(Text::new("Row 2")))
        .limit(3);
    assert_eq!(
        wire(&list.into_root()),
        fixture("types/widget.list_view.json")
    );
}

#[test]
fn builders_write_the_widget_item_fixture() {
    let item = fixture("items/widget.json");
    let built = wire(&draft_email("Draft").into_root());
    assert!(
        item.contains(&format!(r#","widget":{built},"copy_text":"#)),
        "{built}\nis not the widget of\n{item}"
    );
}

#[test]
fn builders_write_the_action_config_fixtures() {
    let defaults = ActionConfig::new("do_thing");
    assert_eq!(
        serde_json::to_string(&defaults).unwrap(),
        fixture("types/action_config.defaults.json")
    );
    let full = ActionConfig::new("do_thing")
        .payload(json!({"id": 1}))
        .handler(ActionHandler::Client)
        .loading_behavior(LoadingBehavior::Container)
        .streaming(false);
    assert_eq!(
        serde_json::to_string(&full).unwrap(),
        fixture("types/action_config.full.json")
    );
}

/// Every component under `component`, the component included, is typed.
fn assert_all_typed(component: &WidgetComponent) {
    assert!(!component.is_dynamic(), "dynamic: {component:?}");
    component.children().into_iter().for_each(assert_all_typed);
}

#[test]
fn fixture_widgets_parse_typed_and_write_back_identically() {
    let text = fixture("types/widget.card_all_common_components.json");
    let parsed = Widget::from_root(&serde_json::from_str(&text).unwrap());
    let Widget::Card(card) = &parsed else {
        panic!("not a typed card: {parsed:?}")
    };
    assert_eq!(card.children.len(), 10);
    card.children.iter().for_each(assert_all_typed);
    assert_eq!(card, &card_fixture());
    assert_eq!(serde_json::to_string(&parsed).unwrap(), text);
    assert_eq!(wire(&parsed.into_root()), text);

    let text = fixture("types/widget.list_view.json");
    let parsed = Widget::from_root(&serde_json::from_str(&text).unwrap());
    let Widget::ListView(list) = &parsed else {
        panic!("not a typed list: {parsed:?}")
    };
    for item in &list.children {
        assert_all_typed(&WidgetComponent::ListViewItem(item.clone()));
    }
    assert_eq!(wire(&parsed.into_root()), text);

    let item: Value = serde_json::from_str(&fixture("items/widget.json")).unwrap();
    let widget = root(item["widget"].clone());
    let parsed = Widget::from_root(&widget);
    assert_eq!(parsed, Widget::Card(draft_email("Draft")));
    assert_eq!(wire(&parsed.into_root()), wire(&widget));
}

#[test]
fn a_template_root_keeps_its_unknown_props() {
    let text = fixture("types/widget.basic_root_dynamic.json");
    let parsed = Widget::from_root(&serde_json::from_str(&text).unwrap());
    let Widget::Basic(basic) = &parsed else {
        panic!("not a typed Basic: {parsed:?}")
    };
    assert_eq!(basic.props.get("direction"), Some(&json!("col")));
    // `customProp` is not a Text prop: that child stays JSON.
    let child = json!({"type": "Text", "value": "Preview", "customProp": 1});
    assert_eq!(
        basic.children,
        Some(Children::Many(vec![WidgetComponent::Dynamic(
            child.clone()
        )]))
    );
    assert_eq!(wire(&parsed.into_root()), text);
    let built = Basic::new()
        .child(WidgetComponent::from_value(child).unwrap())
        .prop("direction", "col");
    assert_eq!(wire(&built.into_root()), text);
}

/// Every value under a `"widget"` key in `value`.
fn collect_widgets(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "widget" && v.get("type").is_some_and(Value::is_string) {
                    out.push(v.clone());
                }
                collect_widgets(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_widgets(v, out)),
        _ => {}
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_widget_in_the_fixtures_round_trips() {
    let mut files = Vec::new();
    collect_files(&fixtures_dir(), &mut files);
    let mut widgets = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.to_string_lossy();
        if name.ends_with(".sse") {
            for frame in text.split("\n\n").filter_map(|f| f.strip_prefix("data: ")) {
                collect_widgets(&serde_json::from_str(frame).unwrap(), &mut widgets);
            }
        } else if name.ends_with(".json") {
            let value: Value = serde_json::from_str(&text).unwrap();
            if name.contains("types/widget.") {
                widgets.push(value.clone()); // these files are roots
            }
            collect_widgets(&value, &mut widgets);
        }
    }
    assert!(widgets.len() >= 12, "only {} widgets found", widgets.len());
    for widget in widgets {
        let original = serde_json::to_string(&widget).unwrap();
        let parsed = Widget::from_root(&root(widget));
        assert!(!matches!(parsed, Widget::Dynamic(_)), "{original}");
        assert_eq!(wire(&parsed.into_root()), original);
    }
}

// §8.6 rules.

fn delta(id: &str, delta: &str, done: bool) -> ThreadItemUpdate {
    ThreadItemUpdate::WidgetStreamingTextValueDelta {
        component_id: id.into(),
        delta: delta.into(),
        done,
    }
}

fn replaced(after: &WidgetRoot) -> Vec<ThreadItemUpdate> {
    vec![ThreadItemUpdate::WidgetRootUpdated {
        widget: after.clone(),
    }]
}

fn forecast(text: &str, streaming: Option<bool>) -> WidgetRoot {
    let mut summary = Text::new(text).id("summary");
    summary.streaming = streaming;
    Card::new()
        .child(Title::new("Forecast"))
        .child(summary)
        .into_root()
}

#[test]
fn an_append_to_an_id_text_is_a_value_delta() {
    let updates = diff_widget(&forecast("Sun", Some(true)), &forecast("Sunny", Some(true)));
    assert_eq!(updates, Ok(vec![delta("summary", "ny", false)]));
    // `done` is true whenever the node is not streaming: absent or false.
    let updates = diff_widget(&forecast("Sun", None), &forecast("Sunny", None));
    assert_eq!(updates, Ok(vec![delta("summary", "ny", true)]));
    let updates = diff_widget(
        &forecast("Sun", Some(false)),
        &forecast("Sunny", Some(false)),
    );
    assert_eq!(updates, Ok(vec![delta("summary", "ny", true)]));
}

#[test]
fn a_prop_change_anywhere_is_a_root_update() {
    let (before, after) = (
        draft_email("Draft").into_root(),
        draft_email("Sent").into_root(),
    );
    assert_eq!(diff_widget(&before, &after), Ok(replaced(&after)));
    let after = draft_email("Draft").size("lg").into_root();
    assert_eq!(diff_widget(&before, &after), Ok(replaced(&after)));
    // A prop change beside an append still replaces the whole widget.
    let before = forecast("Sun", Some(true));
    let after = Card::new()
        .child(Title::new("Forecast!"))
        .child(Text::new("Sunny").id("summary").streaming(true))
        .into_root();
    assert_eq!(diff_widget(&before, &after), Ok(replaced(&after)));
    // So does a changed (non-appended) value, and another root type.
    let after = forecast("Rain", Some(true));
    assert_eq!(diff_widget(&before, &after), Ok(replaced(&after)));
    let after = Basic::new().into_root();
    assert_eq!(diff_widget(&before, &after), Ok(replaced(&after)));
}

#[test]
fn an_added_child_is_a_root_update() {
    let before = draft_email("Draft").into_root();
    let after = draft_email("Draft")
        .child(Text::new("P.S.").id("ps"))
        .into_root();
    assert_eq!(diff_widget(&before, &after), Ok(replaced(&after)));
}

#[test]
fn an_unchanged_widget_gives_no_update() {
    let widget = card_fixture().into_root();
    assert_eq!(diff_widget(&widget, &widget.clone()), Ok(vec![]));
    // Python equality on the wire form: nulls, number types, key order.
    let before = root(json!({
        "type": "Card", "padding": 4, "children": [{"type": "Badge", "label": "x"}]
    }));
    let after = root(json!({
        "children": [{"label": "x", "type": "Badge", "color": null}], "type": "Card", "padding": 4.0
    }));
    assert_eq!(diff_widget(&before, &after), Ok(vec![]));
}

#[test]
fn the_streaming_flip_is_a_root_update() {
    let after = forecast("Sunny", Some(false));
    assert_eq!(
        diff_widget(&forecast("Sunny", Some(true)), &after),
        Ok(replaced(&after))
    );
}

#[test]
fn fix_an_append_to_text_without_id_is_a_root_update() {
    let state = |text: &str| {
        Card::new()
            .child(Text::new(text).streaming(true))
            .into_root()
    };
    // The reference sends nothing here.
    let after = state("Sunny");
    assert_eq!(diff_widget(&state("Sun"), &after), Ok(replaced(&after)));
    // An empty id is no id.
    let state = |text: &str| Card::new().child(Markdown::new(text).id("")).into_root();
    let after = state("Sunny");
    assert_eq!(diff_widget(&state("Sun"), &after), Ok(replaced(&after)));
}

#[test]
fn fix_text_under_a_transition_gets_value_deltas() {
    let state = |text: &str| {
        Card::new()
            .child(Transition::new(
                Markdown::new(text).id("animated").streaming(true),
            ))
            .into_root()
    };
    // The reference sends nothing here.
    assert_eq!(
        diff_widget(&state("Sun"), &state("Sunny")),
        Ok(vec![delta("animated", "ny", false)])
    );
    // The same through a template component's single child.
    let state = |text: &str| {
        root(json!({"type": "Basic", "children": {
            "type": "Custom", "children": {"id": "t", "type": "Text", "value": text}
        }}))
    };
    assert_eq!(
        diff_widget(&state("a"), &state("ab")),
        Ok(vec![delta("t", "b", true)])
    );
}

#[test]
fn fix_an_append_to_a_repeated_id_is_a_root_update() {
    let state = |first: &str, second: &str| {
        Card::new()
            .child(Text::new(first).id("t"))
            .child(Text::new(second).id("t"))
            .into_root()
    };
    // The reference keeps only the last node per id and sends nothing.
    let after = state("ab", "x");
    assert_eq!(diff_widget(&state("a", "x"), &after), Ok(replaced(&after)));
    // Unchanged repeated ids do not stop other nodes' deltas.
    let state = |other: &str| {
        Card::new()
            .child(Text::new("x").id("t"))
            .child(Text::new("x").id("t"))
            .child(Text::new(other).id("u"))
            .into_root()
    };
    assert_eq!(
        diff_widget(&state("a"), &state("ab")),
        Ok(vec![delta("u", "b", true)])
    );
}

#[test]
fn template_widgets_diff_like_typed_ones() {
    let state = |text: &str| {
        root(json!({"type": "Basic", "direction": "col", "children": [
            {"type": "Markdown", "id": "md", "value": text, "streaming": true, "customProp": 1}
        ]}))
    };
    assert_eq!(
        diff_widget(&state("He"), &state("Hello")),
        Ok(vec![delta("md", "llo", false)])
    );
}

#[test]
fn the_golden_streaming_transcript_is_reproduced() {
    let frames = frames("transcripts/threads_create_widget_streaming.sse");
    let thread = ThreadId::from("thr_5cf4f764");
    let (mut streamer, added) =
        WidgetStreamer::start(thread, forecast("", Some(true)), Some("Sunny, 24°C".into()));
    let mut events = vec![added];
    for state in [
        forecast("Sunny", Some(true)),
        forecast("Sunny, 24°C", Some(true)),
        forecast("Sunny, 24°C", Some(false)),
    ] {
        events.extend(streamer.update(state).unwrap());
    }
    let (id, created_at) = (streamer.item_id().clone(), streamer.item().created_at);
    events.push(streamer.finish());

    assert!(id.as_str().starts_with("msg_"));
    let ours: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    // The widget item's events follow thread.created, the user message and
    // stream_options. Normalise the reference's id and naive timestamp.
    let expected: Vec<String> = frames[3..]
        .iter()
        .map(|f| {
            f.replace("msg_f13d17e2", id.as_str())
                .replace("2025-06-01T09:30:52.627341", &created_at.to_string())
        })
        .collect();
    assert_eq!(ours, expected);
}

#[test]
fn the_custom_action_update_is_the_diff_of_the_two_states() {
    let frames = frames("transcripts/threads_custom_action.sse");
    let frame: Value = serde_json::from_str(&frames[2]).unwrap();
    let before = draft_email("Draft").into_root();
    let updates = diff_widget(&before, &draft_email("Sent").into_root()).unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        serde_json::to_string(&updates[0]).unwrap(),
        serde_json::to_string(&frame["update"]).unwrap()
    );
}

// WidgetStreamer.

#[test]
fn a_streamer_emits_added_updates_and_done_for_one_item() {
    let thread = ThreadId::from("thr_1");
    let (mut streamer, added) =
        WidgetStreamer::start(thread.clone(), forecast("", Some(true)), None);
    let ThreadStreamEvent::ThreadItemAdded { item: first } = &added else {
        panic!("{added:?}")
    };
    assert_eq!(&first.id, streamer.item_id());
    assert_eq!(first.thread_id, thread);
    assert!(first.id.as_str().starts_with("msg_"));

    assert_eq!(streamer.update(forecast("", Some(true))).unwrap(), vec![]);
    let events = streamer.update(forecast("Hi", Some(true))).unwrap();
    assert_eq!(
        events,
        vec![ThreadStreamEvent::ThreadItemUpdated {
            item_id: first.id.clone(),
            update: delta("summary", "Hi", false),
        }]
    );
    assert_eq!(streamer.current(), &forecast("Hi", Some(true)));
    streamer.set_copy_text(Some("Hi".into()));

    let done = streamer.finish();
    let ThreadStreamEvent::ThreadItemDone { item: last } = &done else {
        panic!("{done:?}")
    };
    assert_eq!((&last.id, last.created_at), (&first.id, first.created_at));
    let json = serde_json::to_value(last).unwrap();
    assert_eq!(json["widget"], forecast("Hi", Some(true)).0);
    assert_eq!(json["copy_text"], "Hi");
}

#[test]
fn a_one_shot_widget_is_a_single_done() {
    let event = WidgetStreamer::one_shot(
        ThreadId::from("thr_1"),
        draft_email("Draft"),
        Some("Hi team, the release is ready.".into()),
    );
    let ThreadStreamEvent::ThreadItemDone { item } = &event else {
        panic!("{event:?}")
    };
    assert!(item.id.as_str().starts_with("msg_"));
    let json = serde_json::to_string(&event).unwrap();
    let expected_tail = fixture("items/widget.json");
    let expected_tail = &expected_tail[expected_tail.find(r#""type":"widget""#).unwrap()..];
    assert!(json.ends_with(&format!("{expected_tail}}}")), "{json}");
}

// Property: a client applying the diffs reaches every state.

fn state(texts: &[String; 3], streaming: [bool; 3], label: &str) -> WidgetRoot {
    Card::new()
        .child(Text::new(texts[0].as_str()).id("a").streaming(streaming[0]))
        .child(Transition::new(
            Markdown::new(texts[1].as_str())
                .id("b")
                .streaming(streaming[1]),
        ))
        .child(
            Row::new()
                .child(Text::new(texts[2].as_str()).streaming(streaming[2]))
                .child(Badge::new(label)),
        )
        .into_root()
}

proptest! {
    #[test]
    fn applying_the_diffs_reaches_every_state(
        steps in prop::collection::vec(
            (0usize..3, "[a-zé ]{0,3}", any::<bool>(), prop::option::of("[xy]")),
            1..12,
        )
    ) {
        let mut texts = [String::new(), String::new(), String::new()];
        let mut streaming = [true; 3];
        let mut label = "x".to_owned();
        let mut before = state(&texts, streaming, &label);
        let mut client = before.clone();
        for (node, append, flip, new_label) in steps {
            texts[node].push_str(&append);
            if flip {
                streaming[node] = !streaming[node];
            }
            let relabel = new_label.as_ref().is_some_and(|l| *l != label);
            if let Some(l) = new_label {
                label = l;
            }
            let after = state(&texts, streaming, &label);
            let updates = diff_widget(&before, &after).unwrap();
            let only_addressable_appends = !flip && !relabel && (node != 2 || append.is_empty());
            if only_addressable_appends {
                prop_assert!(
                    updates.iter().all(|u| u.type_name() == "widget.streaming_text.value_delta")
                );
            }
            for update in &updates {
                prop_assert!(apply_widget_update(&mut client, update));
            }
            prop_assert_eq!(wire(&client), wire(&after));
            before = after;
        }
    }
}
