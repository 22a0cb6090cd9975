//! Isolation: another user's (or another tenant's) thread, item or
//! attachment id answers exactly like an id that does not exist, so a
//! probe learns nothing, and changes nothing.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chatkit_server::auth::{Auth, JwtConfig, JwtVerifier};
use serde_json::{Value, json};

use crate::auth::post_with;
use crate::helpers::*;

/// An id of the same shape that names nothing.
fn unknown_like(id: &str) -> String {
    let (prefix, _) = id.split_once('_').expect("prefixed id");
    format!("{prefix}_{}", "0".repeat(32))
}

/// Requests naming `thread`, `item` and `attachment`.
fn probes(thread: &str, item: &str, attachment: &str) -> Vec<Value> {
    vec![
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}),
        json!({"type": "items.list", "params": {"thread_id": thread}}),
        json!({"type": "threads.update", "params": {"thread_id": thread, "title": "mine now"}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": item}}),
        json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [item], "kind": "negative"}}),
        json!({"type": "threads.custom_action", "params": {"thread_id": thread, "item_id": item, "action": {"type": "send"}}}),
        json!({"type": "threads.sync_custom_action", "params": {"thread_id": thread, "item_id": item, "action": {"type": "send"}}}),
        json!({"type": "threads.add_client_tool_output", "params": {"thread_id": thread, "result": {}}}),
        add_message(thread, "let me in"),
        json!({"type": "attachments.delete", "params": {"attachment_id": attachment}}),
        // Last: it would end the probes' subject.
        json!({"type": "threads.delete", "params": {"thread_id": thread}}),
    ]
}

#[actix_web::test]
async fn a_foreign_id_answers_byte_for_byte_like_an_unknown_one() {
    let app = spawn_app().await;
    let (thread, events) = app.create_thread_as("alice", "secret").await;
    let item = events[1]["item"]["id"].as_str().unwrap().to_owned();
    let created = app
        .post_as("alice", &json!({"type": "attachments.create", "params": {"name": "notes.txt", "size": 5, "mime_type": "text/plain"}}))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let attachment = created.json();
    let attachment_id = attachment["id"].as_str().unwrap().to_owned();
    let (other_thread, other_item, other_attachment) = (
        unknown_like(&thread),
        unknown_like(&item),
        unknown_like(&attachment_id),
    );

    let foreign = probes(&thread, &item, &attachment_id);
    let unknown = probes(&other_thread, &other_item, &other_attachment);
    for (foreign, unknown) in foreign.iter().zip(&unknown) {
        let a = app.post_as("mallory", foreign).await;
        let b = app.post_as("mallory", unknown).await;
        assert_eq!(a.status, b.status, "{}", foreign["type"]);
        assert!(a.status >= 400, "{}: {}", foreign["type"], a.body);
        let substituted = b
            .body
            .replace(&other_thread, &thread)
            .replace(&other_item, &item)
            .replace(&other_attachment, &attachment_id);
        assert_eq!(a.body, substituted, "{}", foreign["type"]);
        assert_eq!(a.content_type, b.content_type);
    }

    // The upload endpoint and the preview of a non-image: the same.
    let upload = |id: &str| format!("{}/chatkit/attachments/{id}/upload", app.url);
    let preview = |id: &str| format!("{}/chatkit/attachments/{id}/preview", app.url);
    for (a, b) in [
        (upload(&attachment_id), upload(&other_attachment)),
        (preview(&attachment_id), preview(&other_attachment)),
    ] {
        let is_upload = a.ends_with("upload");
        let send = |url: String| {
            let req = if is_upload {
                app.client
                    .put(url)
                    .header("x-user-id", "mallory")
                    .body("hello")
            } else {
                app.client.get(url)
            };
            async move {
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        let (sa, ba) = send(a).await;
        let (sb, bb) = send(b).await;
        assert_eq!(sa, 404);
        assert_eq!(
            (sa, ba),
            (sb, bb.replace(&other_attachment, &attachment_id))
        );
    }

    // Nothing of Alice's changed.
    let got = app
        .post_as(
            "alice",
            &json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}),
        )
        .await
        .json();
    assert_eq!(got["title"], "secret");
    assert_eq!(got["items"]["data"].as_array().unwrap().len(), 2);
    assert_eq!(app.count_rows("SELECT count(*) FROM feedback"), 0);
    assert_eq!(app.count_rows("SELECT count(*) FROM attachments"), 1);
    app.stop().await;
}

/// Alice of tenant `a` and Alice of tenant `b` are two people.
async fn check_tenants_apart(app: &TestApp, as_tenant: impl Fn(&str) -> Vec<(String, String)>) {
    let headers = |tenant: &str| as_tenant(tenant);
    let call = |tenant: &str, body: Value| {
        let h = headers(tenant);
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post_with(app, &h, &body).await
        }
    };
    let created = call("a", create("tenant a's secret")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let thread = parse_sse(&created.body)[0]["thread"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = call("b", json!({"type": "threads.list", "params": {}})).await;
    assert_eq!(listed.json()["data"], json!([]));
    let got = call(
        "b",
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}),
    )
    .await;
    assert_eq!(got.status, 404);
    let own = call(
        "a",
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread}}),
    )
    .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["title"], "tenant a's secret");
}

#[actix_web::test]
async fn equal_user_ids_in_two_tenants_never_meet_by_header() {
    let app = spawn_app_with(AppOptions {
        tenant_header: Some("X-Tenant-Id".into()),
        ..AppOptions::default()
    })
    .await;
    check_tenants_apart(&app, |tenant| {
        vec![
            ("x-user-id".into(), "alice".into()),
            ("x-tenant-id".into(), tenant.into()),
        ]
    })
    .await;
    // With tenancy on, a request without a tenant is refused.
    let missing = post_with(
        &app,
        &[("x-user-id", "alice")],
        &json!({"type": "threads.list", "params": {}}),
    )
    .await;
    assert_eq!(missing.status, 401);
    assert!(missing.body.contains("X-Tenant-Id"), "{}", missing.body);
    app.stop().await;
}

#[actix_web::test]
async fn equal_user_ids_in_two_tenants_never_meet_by_jwt_claim() {
    const SECRET: &[u8] = b"tenant test secret, 32 bytes long..";
    let verifier = JwtVerifier::new(JwtConfig {
        secret: Some(SECRET.to_vec()),
        tenant_claim: Some("org".into()),
        ..JwtConfig::default()
    })
    .unwrap();
    let app = spawn_app_with(AppOptions {
        auth: Auth::Jwt(Arc::new(verifier)),
        ..AppOptions::default()
    })
    .await;
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    };
    check_tenants_apart(&app, |tenant| {
        let t = token(json!({"sub": "alice", "org": tenant, "exp": exp}));
        vec![("authorization".into(), format!("Bearer {t}"))]
    })
    .await;
    let no_org = token(json!({"sub": "alice", "exp": exp}));
    let refused = post_with(
        &app,
        &[("authorization", &format!("Bearer {no_org}"))],
        &json!({"type": "threads.list", "params": {}}),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(refused.body.contains("`org`"), "{}", refused.body);
    app.stop().await;
}
