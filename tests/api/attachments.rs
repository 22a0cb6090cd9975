//! Attachments: `attachments.create`, the upload and preview endpoints,
//! messages carrying attachments, `attachments.delete`, limits, scoping and
//! crash safety of uploads.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n not really a png, but bytes all the same";

fn attachment_dir(app: &TestApp) -> PathBuf {
    app.db_path.parent().unwrap().join("attachments")
}

/// Every entry of the attachment directory, hidden ones included.
fn dir_entries(app: &TestApp) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(attachment_dir(app))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn create_attachment(app: &TestApp, user: &str, name: &str, size: u64, mime: &str) -> Reply {
    app.post_as(
        user,
        &json!({"type": "attachments.create", "params": {"name": name, "size": size, "mime_type": mime}}),
    )
    .await
}

/// What ChatKit.js does: `POST` multipart with a `file` field.
async fn upload_multipart(
    app: &TestApp,
    user: &str,
    url: &str,
    bytes: Vec<u8>,
    mime: &str,
) -> Reply {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("upload.bin")
        .mime_str(mime)
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("note", "ignored")
        .part("file", part);
    let resp = app
        .client
        .post(url)
        .header("X-User-Id", user)
        .multipart(form)
        .send()
        .await
        .unwrap();
    reply_of(resp).await
}

async fn upload_put(app: &TestApp, user: &str, url: &str, bytes: Vec<u8>) -> Reply {
    let resp = app
        .client
        .put(url)
        .header("X-User-Id", user)
        .body(bytes)
        .send()
        .await
        .unwrap();
    reply_of(resp).await
}

fn upload_url(app: &TestApp, id: &str) -> String {
    format!("{}/chatkit/attachments/{id}/upload", app.url)
}

fn message_with(text: &str, attachments: &[&str]) -> Value {
    json!({"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": text}],
        "attachments": attachments, "inference_options": {}}}})
}

/// The status of a `GET` without the user header (as an `<img>` sends it).
async fn status_of_get(app: &TestApp, url: &str) -> u16 {
    app.client.get(url).send().await.unwrap().status().as_u16()
}

async fn eventually(mut check: impl FnMut() -> bool, what: &str) {
    for _ in 0..200 {
        if check() {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

#[actix_web::test]
async fn two_phase_upload_preview_message_and_delete() {
    let app = spawn_app().await;

    // Phase 1: the record, pointing at our own endpoints.
    let reply = create_attachment(&app, "alice", "cat.png", PNG.len() as u64, "image/png").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let image = reply.json();
    let id = image["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("atc_") && id.len() == 36, "{id}");
    assert_eq!(
        image,
        json!({
            "id": id, "name": "cat.png", "mime_type": "image/png",
            "upload_descriptor": {"url": upload_url(&app, &id), "method": "POST", "headers": {}},
            "type": "image",
            "preview_url": format!("{}/chatkit/attachments/{id}/preview", app.url),
        })
    );
    // Nothing is visible before the upload.
    assert!(dir_entries(&app).is_empty());
    let preview_url = image["preview_url"].as_str().unwrap().to_owned();
    assert_eq!(
        app.client.get(&preview_url).send().await.unwrap().status(),
        404
    );

    // Phase 2: multipart, as ChatKit.js sends it.
    let reply = upload_multipart(
        &app,
        "alice",
        &upload_url(&app, &id),
        PNG.to_vec(),
        "image/png",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Uploaded: the record no longer carries upload instructions (§4.5),
    // in the answer and in later reads.
    let uploaded = reply.json();
    assert_eq!(uploaded["id"], id.as_str());
    assert!(uploaded.get("upload_descriptor").is_none(), "{uploaded}");
    let mut expected = image.clone();
    expected
        .as_object_mut()
        .unwrap()
        .remove("upload_descriptor");
    assert_eq!(uploaded, expected);
    assert_eq!(dir_entries(&app), vec![id.clone()]);

    // The preview needs no user header (an <img> tag cannot send one).
    let resp = app.client.get(&preview_url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);

    // A file, uploaded raw with PUT. Files get no preview.
    let text = b"hello, attachment".to_vec();
    let reply =
        create_attachment(&app, "alice", "notes.txt", text.len() as u64, "text/plain").await;
    let file = reply.json();
    assert_eq!(file["type"], "file");
    assert!(file.get("preview_url").is_none());
    let file_id = file["id"].as_str().unwrap().to_owned();
    let reply = upload_put(&app, "alice", &upload_url(&app, &file_id), text.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        std::fs::read(attachment_dir(&app).join(&file_id)).unwrap(),
        text
    );
    let preview = format!("{}/chatkit/attachments/{file_id}/preview", app.url);
    assert_eq!(app.client.get(&preview).send().await.unwrap().status(), 404);

    // A message carrying both embeds them, bound to the thread.
    let events = app
        .post(&message_with("look", &[&id, &file_id]))
        .await
        .events();
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_owned();
    let user_message = &events[1]["item"];
    assert_eq!(user_message["type"], "user_message");
    let embedded = user_message["attachments"].as_array().unwrap();
    assert_eq!(embedded.len(), 2);
    assert_eq!(embedded[0]["id"], id.as_str());
    assert_eq!(embedded[0]["thread_id"], thread_id.as_str());
    assert_eq!(embedded[0]["preview_url"], preview_url.as_str());
    assert!(
        embedded[0].get("upload_descriptor").is_none(),
        "{embedded:?}"
    );
    assert_eq!(embedded[1]["id"], file_id.as_str());
    assert!(
        embedded[1].get("upload_descriptor").is_none(),
        "{embedded:?}"
    );
    assert_eq!(embedded[1]["thread_id"], thread_id.as_str());
    let items = app.all_items("alice", &thread_id).await;
    assert_eq!(items[0]["attachments"], user_message["attachments"]);
    assert_eq!(
        app.count_rows(&format!(
            "SELECT count(*) FROM attachments WHERE json_extract(data, '$.thread_id') = '{thread_id}'"
        )),
        2
    );

    // Delete: record and bytes gone, then 404 everywhere.
    let delete = json!({"type": "attachments.delete", "params": {"attachment_id": id}});
    let reply = app.post(&delete).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "{}"));
    assert_eq!(dir_entries(&app), vec![file_id.clone()]);
    assert_eq!(
        app.count_rows(&format!(
            "SELECT count(*) FROM attachments WHERE id = '{id}'"
        )),
        0
    );
    let reply = app.post(&delete).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "not_found")
    );
    assert_eq!(
        app.client.get(&preview_url).send().await.unwrap().status(),
        404
    );
    let reply = upload_put(&app, "alice", &upload_url(&app, &id), PNG.to_vec()).await;
    assert_eq!(reply.status, 404);
    assert!(!dir_entries(&app).contains(&id));
    // Messages that embedded it keep their copy (§11.7).
    let items = app.all_items("alice", &thread_id).await;
    assert_eq!(items[0]["attachments"][0]["id"], id.as_str());
    // A deleted attachment cannot be attached again.
    let reply = app.post(&message_with("again", &[&id])).await;
    assert_eq!(reply.status, 404);
}

#[actix_web::test]
async fn limits_are_enforced_on_create_and_on_upload() {
    let app = spawn_app_with(AppOptions {
        attachment_max_bytes: Some(1000),
        ..AppOptions::default()
    })
    .await;
    let reply = create_attachment(&app, "alice", "big.pdf", 1001, "application/pdf").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (413, "payload_too_large")
    );
    let reply = create_attachment(&app, "alice", "a.zip", 10, "application/zip").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (415, "unsupported_media_type")
    );
    assert_eq!(app.count_rows("SELECT count(*) FROM attachments"), 0);

    // Sent over the limit: refused, nothing kept.
    let reply = create_attachment(&app, "alice", "a.txt", 1000, "text/plain; charset=utf-8").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let reply = upload_put(&app, "alice", &upload_url(&app, &id), vec![b'x'; 1001]).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (413, "payload_too_large")
    );
    assert!(dir_entries(&app).is_empty(), "{:?}", dir_entries(&app));
    let reply = upload_multipart(
        &app,
        "alice",
        &upload_url(&app, &id),
        vec![b'x'; 1001],
        "text/plain",
    )
    .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (413, "payload_too_large")
    );
    assert!(dir_entries(&app).is_empty(), "{:?}", dir_entries(&app));

    // Exactly the limit is fine.
    let reply = upload_multipart(
        &app,
        "alice",
        &upload_url(&app, &id),
        vec![b'x'; 1000],
        "text/plain",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(dir_entries(&app), vec![id]);
}

#[actix_web::test]
async fn another_users_attachment_is_a_404_everywhere() {
    let app = spawn_app().await;
    let reply = create_attachment(&app, "alice", "cat.png", PNG.len() as u64, "image/png").await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let url = upload_url(&app, &id);

    let reply = upload_multipart(&app, "bob", &url, PNG.to_vec(), "image/png").await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "not_found")
    );
    let reply = upload_put(&app, "bob", &url, PNG.to_vec()).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "not_found")
    );
    assert!(dir_entries(&app).is_empty());

    let delete = json!({"type": "attachments.delete", "params": {"attachment_id": id}});
    let reply = app.post_as("bob", &delete).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "not_found")
    );

    // A message of bob's carrying it is refused before anything is written.
    let reply = app.post_as("bob", &message_with("mine now", &[&id])).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "not_found")
    );
    assert_eq!(app.count_rows("SELECT count(*) FROM threads"), 0);
    assert_eq!(app.count_rows("SELECT count(*) FROM items"), 0);
    assert_eq!(
        app.count_rows(&format!(
            "SELECT count(*) FROM attachments WHERE id = '{id}' AND user_id = 'alice' AND json_extract(data, '$.thread_id') IS NULL"
        )),
        1
    );

    // Unknown ids, and ids that are no file names, are 404 too.
    for bad in ["atc_nope", "..", ".hidden"] {
        let reply = upload_put(&app, "alice", &upload_url(&app, bad), b"x".to_vec()).await;
        assert_eq!(reply.status, 404, "{bad}: {}", reply.body);
    }
    let reply = app
        .post(&json!({"type": "attachments.delete", "params": {"attachment_id": "atc_nope"}}))
        .await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "not_found")
    );

    // Alice's own upload still works.
    let reply = upload_put(&app, "alice", &url, PNG.to_vec()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Starts a raw `PUT` of 100 000 bytes to alice's attachment `id`, sends
/// the first 1000 and waits until the upload's hidden temporary file (and
/// nothing else) is there. The caller sends the rest, or hangs up.
async fn start_upload(app: &TestApp, id: &str) -> std::net::TcpStream {
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut socket = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        socket,
        "PUT /chatkit/attachments/{id}/upload HTTP/1.1\r\nHost: {addr}\r\nX-User-Id: alice\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    socket.write_all(&[b'y'; 1000]).unwrap();
    socket.flush().unwrap();
    eventually(
        || {
            let names = dir_entries(app);
            names.len() == 1 && names[0].starts_with('.') && names[0].ends_with(".part")
        },
        "the upload's temporary file exists",
    )
    .await;
    socket
}

#[actix_web::test]
async fn a_dropped_upload_leaves_no_file() {
    let app = spawn_app().await;
    let reply = create_attachment(&app, "alice", "long.txt", 100_000, "text/plain").await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let socket = start_upload(&app, &id).await;
    drop(socket);
    eventually(
        || dir_entries(&app).is_empty(),
        "the temporary file is removed",
    )
    .await;

    // The attachment is still there and takes a complete upload.
    let reply = upload_put(&app, "alice", &upload_url(&app, &id), vec![b'z'; 100_000]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(dir_entries(&app), vec![id]);
}

#[actix_web::test]
async fn deleting_a_thread_removes_its_attachments() {
    let app = spawn_app().await;
    let kept = create_attachment(&app, "alice", "keep.png", PNG.len() as u64, "image/png")
        .await
        .json();
    let gone = create_attachment(&app, "alice", "gone.png", PNG.len() as u64, "image/png")
        .await
        .json();
    for a in [&kept, &gone] {
        let id = a["id"].as_str().unwrap();
        assert_eq!(
            upload_put(&app, "alice", &upload_url(&app, id), PNG.to_vec())
                .await
                .status,
            200
        );
    }
    let gone_id = gone["id"].as_str().unwrap().to_owned();
    let (thread, _) = {
        let events = app
            .post(&message_with("with a picture", &[&gone_id]))
            .await
            .events();
        (
            events[0]["thread"]["id"].as_str().unwrap().to_owned(),
            events,
        )
    };
    assert_eq!(dir_entries(&app).len(), 2);
    let reply = app
        .post(&json!({"type": "threads.delete", "params": {"thread_id": thread}}))
        .await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "{}"));
    // The thread's attachment is gone (file and record); the unbound one stays.
    assert_eq!(dir_entries(&app), [kept["id"].as_str().unwrap().to_owned()]);
    let again = app
        .post(&json!({"type": "attachments.delete", "params": {"attachment_id": gone_id}}))
        .await;
    assert_eq!(again.status, 404);
}

#[actix_web::test]
async fn an_upload_must_have_the_declared_size() {
    let app = spawn_app().await;
    let reply = create_attachment(&app, "alice", "a.txt", 10, "text/plain").await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let url = upload_url(&app, &id);
    for (sent, phrase) in [
        (11, "larger than the 10 bytes"),
        (9, "has 9 bytes, not the 10"),
    ] {
        for reply in [
            upload_put(&app, "alice", &url, vec![b'x'; sent]).await,
            upload_multipart(&app, "alice", &url, vec![b'x'; sent], "text/plain").await,
        ] {
            assert_eq!(
                (reply.status, reply.error_code().as_str()),
                (400, "invalid_body"),
                "{sent}: {}",
                reply.body
            );
            assert!(
                reply.body.contains(phrase) && reply.body.contains("attachments.create"),
                "{}",
                reply.body
            );
            assert!(dir_entries(&app).is_empty(), "{:?}", dir_entries(&app));
        }
    }
    // Still waiting for its bytes: the record keeps its instructions.
    let record = app.count_rows(&format!(
        "SELECT count(*) FROM attachments WHERE id = '{id}' AND json_extract(data, '$.upload_descriptor') IS NOT NULL"
    ));
    assert_eq!(record, 1);
    let reply = upload_put(&app, "alice", &url, vec![b'x'; 10]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(dir_entries(&app), vec![id]);
}

#[actix_web::test]
async fn an_attachment_deleted_mid_upload_leaves_no_file() {
    use std::io::Read;
    let app = spawn_app().await;
    let reply = create_attachment(&app, "alice", "long.txt", 100_000, "text/plain").await;
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let mut socket = start_upload(&app, &id).await;

    // Deleted while its bytes are on their way.
    let delete = json!({"type": "attachments.delete", "params": {"attachment_id": id}});
    let reply = app.post(&delete).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "{}"));

    // The rest arrives: the upload is refused and its bytes do not stay.
    let answer = actix_web::rt::task::spawn_blocking(move || {
        socket.write_all(&[b'y'; 99_000]).unwrap();
        socket.flush().unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("not_found"), "{answer}");
    assert!(dir_entries(&app).is_empty(), "{:?}", dir_entries(&app));
    assert_eq!(app.count_rows("SELECT count(*) FROM attachments"), 0);
}

#[actix_web::test]
async fn orphans_are_swept_by_age_and_bound_attachments_stay() {
    let app = spawn_app_with(AppOptions {
        attachment_orphan_ttl: Some(Duration::from_secs(1)),
        attachment_sweep_interval: Some(Duration::from_millis(100)),
        ..AppOptions::default()
    })
    .await;
    let mut uploaded = Vec::new();
    for name in ["kept.png", "orphan.png"] {
        let image = create_attachment(&app, "alice", name, PNG.len() as u64, "image/png")
            .await
            .json();
        let id = image["id"].as_str().unwrap().to_owned();
        let reply = upload_put(&app, "alice", &upload_url(&app, &id), PNG.to_vec()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        uploaded.push((id, image["preview_url"].as_str().unwrap().to_owned()));
    }
    let [(kept, kept_preview), (orphan, orphan_preview)] = uploaded.try_into().unwrap();
    // Created, never uploaded, never sent.
    let never_uploaded = create_attachment(&app, "bob", "later.pdf", 10, "application/pdf")
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Sent in a message: bound to its thread, no longer an orphan.
    let events = app
        .post(&message_with("keep this", &[&kept]))
        .await
        .events();
    assert_eq!(events[1]["item"]["attachments"][0]["id"], kept.as_str());
    // What a crash mid-upload leaves behind.
    let stray = attachment_dir(&app).join(format!(".{orphan}.0190abcd.part"));
    std::fs::write(&stray, b"half an upload").unwrap();
    assert_eq!(status_of_get(&app, &orphan_preview).await, 200);

    let gone = |id: &str| {
        app.count_rows(&format!(
            "SELECT count(*) FROM attachments WHERE id = '{id}'"
        )) == 0
    };
    eventually(
        || gone(&orphan) && gone(&never_uploaded) && !stray.exists(),
        "the orphans and the stray temporary file are removed",
    )
    .await;
    assert_eq!(dir_entries(&app), vec![kept.clone()]);
    assert_eq!(status_of_get(&app, &orphan_preview).await, 404);
    let reply = upload_put(&app, "alice", &upload_url(&app, &orphan), PNG.to_vec()).await;
    assert_eq!(reply.status, 404);
    // The bound one is untouched, well past the age.
    assert!(!gone(&kept));
    let resp = app.client.get(&kept_preview).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);
}

#[actix_web::test]
async fn a_zero_orphan_age_keeps_everything() {
    let app = spawn_app_with(AppOptions {
        attachment_orphan_ttl: Some(Duration::ZERO),
        attachment_sweep_interval: Some(Duration::from_millis(50)),
        ..AppOptions::default()
    })
    .await;
    let id = create_attachment(&app, "alice", "a.png", PNG.len() as u64, "image/png")
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = upload_put(&app, "alice", &upload_url(&app, &id), PNG.to_vec()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.engine.sweep_orphan_attachments().await.unwrap(),
        Default::default()
    );
    assert_eq!(dir_entries(&app), vec![id]);
}
