//! Property tests of the parsers at the engine's edges: ChatKit request
//! bodies, the provider's SSE framing and the Chat Completions chunk
//! accumulator. Arbitrary input never panics; malformed requests are
//! always a 4xx; how a valid stream is cut into network chunks (or a text
//! into deltas) never changes what comes out.

use chatkit_actors::EngineError;
use chatkit_actors::model::ResponsesEvent;
use chatkit_actors::model::chat::ChunkAccumulator;
use chatkit_actors::model::error::ModelError;
use chatkit_actors::model::http::SseStream;
use chatkit_actors::protocol::requests::{ChatKitRequest, REQUEST_TYPES, RequestError};
use futures_util::StreamExt;
use proptest::prelude::*;
use serde_json::{Value, json};

const INPUT: &str = r#"{"content": [{"type": "input_text", "text": "hi"}], "attachments": [], "inference_options": {}}"#;

/// A valid request and its `params` fields (optional ones marked with a
/// leading `?`), each with values of a wrong type.
type Template = (Value, Vec<(&'static str, Vec<Value>)>);

/// Valid requests, each with its `params` fields (optional ones marked
/// with a leading `?`) and, per field, values of a wrong type.
fn templates() -> Vec<Template> {
    let input: Value = serde_json::from_str(INPUT).unwrap();
    let not_a_string = || vec![json!(42), json!(true), json!([1]), json!({"id": "x"})];
    let not_an_object = || vec![json!(42), json!(true), json!([1]), json!("text")];
    vec![
        (
            json!({"type": "threads.create", "params": {"input": input}}),
            vec![("input", not_an_object())],
        ),
        (
            json!({"type": "threads.add_user_message", "params": {"thread_id": "thr_1", "input": input}}),
            vec![("thread_id", not_a_string()), ("input", not_an_object())],
        ),
        (
            json!({"type": "threads.get_by_id", "params": {"thread_id": "thr_1"}}),
            vec![("thread_id", not_a_string())],
        ),
        (
            json!({"type": "items.list", "params": {"thread_id": "thr_1", "limit": 5, "order": "asc"}}),
            vec![
                ("thread_id", not_a_string()),
                ("?order", vec![json!("sideways"), json!(1), json!([])]),
            ],
        ),
        (
            json!({"type": "threads.update", "params": {"thread_id": "thr_1", "title": "t"}}),
            vec![("thread_id", not_a_string()), ("title", not_a_string())],
        ),
        (
            json!({"type": "threads.delete", "params": {"thread_id": "thr_1"}}),
            vec![("thread_id", not_a_string())],
        ),
        (
            json!({"type": "threads.retry_after_item", "params": {"thread_id": "thr_1", "item_id": "msg_1"}}),
            vec![("thread_id", not_a_string()), ("item_id", not_a_string())],
        ),
        (
            json!({"type": "items.feedback", "params": {"thread_id": "thr_1", "item_ids": ["msg_1"], "kind": "positive"}}),
            vec![
                ("thread_id", not_a_string()),
                ("item_ids", vec![json!(42), json!("msg_1"), json!([1])]),
                ("kind", vec![json!("meh"), json!(1), json!(null)]),
            ],
        ),
        (
            json!({"type": "attachments.create", "params": {"name": "a.png", "size": 10, "mime_type": "image/png"}}),
            vec![
                ("name", not_a_string()),
                ("size", vec![json!("ten"), json!(true), json!([1])]),
                ("mime_type", not_a_string()),
            ],
        ),
    ]
}

/// A malformed variant of a valid request (index `t` of [`templates`]),
/// by one of several mutations chosen by `how` and `pick`.
fn mutate(t: usize, how: u8, pick: usize, junk: &str) -> Value {
    let mut all = templates();
    let (mut request, fields) = all.swap_remove(t % all.len());
    match how % 5 {
        // `params` that is not an object.
        0 => request["params"] = [json!(1), json!("p"), json!([]), json!(false)][pick % 4].clone(),
        // A `type` nobody knows.
        1 => request["type"] = json!(format!("{junk}.nope")),
        // No `type` at all, or not a string.
        2 => {
            if pick.is_multiple_of(2) {
                request.as_object_mut().unwrap().remove("type");
            } else {
                request["type"] = json!(pick);
            }
        }
        // A required field missing.
        3 => {
            let required: Vec<_> = fields.iter().filter(|(f, _)| !f.starts_with('?')).collect();
            let (field, _) = required[pick % required.len()];
            request["params"].as_object_mut().unwrap().remove(*field);
        }
        // A field of the wrong type.
        _ => {
            let (field, wrong) = &fields[pick % fields.len()];
            request["params"][field.trim_start_matches('?')] =
                wrong[(pick / fields.len()) % wrong.len()].clone();
        }
    }
    request
}

/// The status an error would be answered with.
fn status_of(err: RequestError) -> u16 {
    assert!(
        [
            RequestError::INVALID_JSON,
            RequestError::INVALID_REQUEST,
            RequestError::UNKNOWN_REQUEST_TYPE
        ]
        .contains(&err.code),
        "{err}"
    );
    assert!(!err.message.is_empty());
    EngineError::from(err).status()
}

#[test]
fn every_template_is_a_valid_request() {
    for (request, _) in templates() {
        let bytes = serde_json::to_vec(&request).unwrap();
        ChatKitRequest::parse(&bytes).unwrap_or_else(|e| panic!("{request}: {e}"));
        assert!(REQUEST_TYPES.contains(&request["type"].as_str().unwrap()));
    }
}

/// Runs a future to its end on a fresh current-thread runtime.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The payloads `SseStream` yields for `chunks`, then `saw_done`.
fn payloads(chunks: Vec<Vec<u8>>) -> (Vec<Result<String, String>>, bool) {
    block_on(async move {
        let mut stream = SseStream::from_byte_stream(
            futures_util::stream::iter(chunks.into_iter().map(Ok::<_, ModelError>)),
            64 * 1024,
        );
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            out.push(item.map_err(|e| e.to_string()));
        }
        (out, stream.saw_done())
    })
}

/// Cuts `bytes` at the given positions (any byte, even inside a UTF-8
/// sequence or a CRLF).
fn cut(bytes: &[u8], mut at: Vec<usize>) -> Vec<Vec<u8>> {
    at.iter_mut().for_each(|i| *i %= bytes.len() + 1);
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for i in at.into_iter().chain([bytes.len()]) {
        out.push(bytes[start..i].to_vec());
        start = i;
    }
    out
}

/// Chat Completions chunks answering `pieces` as text deltas, then a stop.
fn chat_chunks(pieces: &[String]) -> Vec<String> {
    let mut out: Vec<String> = pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| {
            let mut delta = json!({"content": piece});
            if i == 0 {
                delta["role"] = json!("assistant");
            }
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
            .to_string()
        })
        .collect();
    out.push(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
        .to_string(),
    );
    out
}

/// Splits `text` (at char boundaries) at the given positions.
fn split_text(text: &str, at: Vec<usize>) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut at: Vec<usize> = at.into_iter().map(|i| i % (chars.len() + 1)).collect();
    at.sort_unstable();
    at.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for i in at.into_iter().chain([chars.len()]) {
        if i > start {
            out.push(chars[start..i].iter().collect());
        }
        start = i;
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// Everything the accumulator makes of `chunks`, text deltas merged into
/// one (their split is the only thing allowed to differ).
fn accumulate(chunks: &[String]) -> (String, Vec<ResponsesEvent>) {
    let mut acc = ChunkAccumulator::new();
    let mut events = Vec::new();
    for chunk in chunks {
        events.extend(acc.push(chunk).expect("valid chunk"));
    }
    acc.push("[DONE]").unwrap();
    events.extend(acc.finish(true));
    let mut text = String::new();
    let rest = events
        .into_iter()
        .filter(|e| match e {
            ResponsesEvent::OutputTextDelta { delta, .. } => {
                text.push_str(delta);
                false
            }
            _ => true,
        })
        .collect();
    (text, rest)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary bytes never panic the request parser; a refusal is a 400
    /// with a known code.
    #[test]
    fn arbitrary_bytes_are_refused_with_a_400(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Err(err) = ChatKitRequest::parse(&bytes) {
            prop_assert_eq!(status_of(err), 400);
        }
    }

    /// Arbitrary JSON never panics the parser either.
    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        if let Err(err) = ChatKitRequest::from_value(value) {
            prop_assert_eq!(status_of(err), 400);
        }
    }

    /// A valid request broken in one place (params not an object, unknown
    /// or missing type, a required field missing or of the wrong type) is
    /// always refused with a 400.
    #[test]
    fn malformed_requests_are_always_a_400(t in 0usize..9, how in any::<u8>(), pick in 0usize..64, junk in "[a-z]{1,8}") {
        let request = mutate(t, how, pick, &junk);
        let bytes = serde_json::to_vec(&request).unwrap();
        match ChatKitRequest::parse(&bytes) {
            Ok(parsed) => prop_assert!(false, "accepted {}: {:?}", request, parsed.request.type_name()),
            Err(err) => prop_assert_eq!(status_of(err), 400),
        }
    }

    /// However a valid provider stream is cut into network chunks (inside
    /// UTF-8 sequences and CRLFs too), the same payloads come out.
    #[test]
    fn sse_payloads_do_not_depend_on_chunking(
        texts in proptest::collection::vec("(?s)\\PC{0,12}|[é😀 ]{0,6}", 1..6),
        crlf in any::<bool>(),
        at in proptest::collection::vec(any::<usize>(), 0..24),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let data: Vec<String> = texts.iter().map(|t| json!({"t": t}).to_string()).collect();
        let mut body = format!(": comment{eol}");
        for d in &data {
            body.push_str(&format!("event: x{eol}data: {d}{eol}{eol}"));
        }
        body.push_str(&format!("data: [DONE]{eol}{eol}data: after the end{eol}{eol}"));
        let whole = payloads(vec![body.clone().into_bytes()]);
        let pieces = payloads(cut(body.as_bytes(), at));
        let expected: Vec<Result<String, String>> = data.into_iter().map(Ok).collect();
        prop_assert_eq!(&whole.0, &expected);
        prop_assert!(whole.1, "[DONE] seen");
        prop_assert_eq!(pieces, whole);
    }

    /// Arbitrary bytes, arbitrarily chunked, never panic the SSE decoder;
    /// an error is the last item.
    #[test]
    fn arbitrary_bytes_never_panic_the_sse_decoder(
        bytes in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b':'), Just(b'd')], 0..300),
        at in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let (items, _) = payloads(cut(&bytes, at));
        if let Some(i) = items.iter().position(Result::is_err) {
            prop_assert_eq!(i, items.len() - 1, "items after an error: {:?}", items);
        }
    }

    /// A text answer split into any deltas accumulates to the same events
    /// (but for the deltas themselves) and the same text.
    #[test]
    fn chat_chunking_does_not_change_the_answer(
        text in "(?s)\\PC{0,40}",
        at in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let one = accumulate(&chat_chunks(std::slice::from_ref(&text)));
        let many = accumulate(&chat_chunks(&split_text(&text, at)));
        prop_assert_eq!(&one.0, &text);
        prop_assert_eq!(many, one);
    }

    /// Arbitrary payloads (text, or JSON shaped like chunks) never panic
    /// the accumulator, before or at `finish`.
    #[test]
    fn arbitrary_chunks_never_panic_the_accumulator(
        chunks in proptest::collection::vec(prop_oneof![
            "(?s)\\PC{0,30}".prop_map(|s| s),
            chunkish().prop_map(|v| v.to_string()),
        ], 0..8),
        done in any::<bool>(),
    ) {
        let mut acc = ChunkAccumulator::new();
        for chunk in &chunks {
            let _ = acc.push(chunk);
        }
        let _ = acc.finish(done);
    }
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z_.]{0,20}".prop_map(Value::from),
        proptest::sample::select(REQUEST_TYPES.to_vec()).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "type",
                        "params",
                        "input",
                        "thread_id",
                        "content",
                        "item_id",
                        "after",
                        "limit",
                        "order",
                        "metadata",
                        "x"
                    ]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// JSON shaped like a Chat Completions chunk, with odd values.
fn chunkish() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        "\\PC{0,8}".prop_map(Value::from),
        Just(Value::Null),
        any::<i32>().prop_map(Value::from)
    ];
    let index = prop_oneof![
        (0u64..3).prop_map(Value::from),
        Just(Value::Null),
        Just(json!("0"))
    ];
    let call = (index.clone(), text.clone(), text.clone(), text.clone()).prop_map(
        |(index, id, name, args)| json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": args}}),
    );
    let delta = (
        text.clone(),
        text.clone(),
        text.clone(),
        proptest::collection::vec(call, 0..3),
    )
        .prop_map(|(content, refusal, reasoning, calls)| {
            json!({"content": content, "refusal": refusal, "reasoning_content": reasoning, "tool_calls": calls})
        });
    let finish = prop_oneof![
        Just(Value::Null),
        Just(json!("stop")),
        Just(json!("length")),
        Just(json!("tool_calls")),
        Just(json!("content_filter")),
        "[a-z]{1,6}".prop_map(Value::from),
    ];
    (index, delta, finish, any::<bool>()).prop_map(|(index, delta, finish, error)| {
        if error {
            json!({"error": {"message": "boom", "code": index}})
        } else {
            json!({"id": "c", "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})
        }
    })
}
