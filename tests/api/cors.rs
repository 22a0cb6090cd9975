//! CORS: preflights from an allowed origin get the methods and headers
//! ChatKit sends; a disallowed origin gets no permission; with no origins
//! configured the server sends no CORS headers at all.

use chatkit_server::auth::{Auth, BearerTokens};
use serde_json::json;

use crate::helpers::*;

const APP_ORIGIN: &str = "https://app.example.test";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.endpoint())
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization,x-user-id",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[actix_web::test]
async fn an_allowed_origin_may_call_and_others_may_not() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "tok-alice-0123456789abcdef alice\n").unwrap();
    let app = spawn_app_with(AppOptions {
        cors_origins: vec![APP_ORIGIN.into()],
        auth: Auth::Bearer(BearerTokens::open(&tokens).unwrap()),
        ..AppOptions::default()
    })
    .await;

    let ok = preflight(&app, APP_ORIGIN).await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(APP_ORIGIN));
    let methods = header(&ok, "access-control-allow-methods").unwrap();
    for m in ["POST", "GET", "PUT", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = header(&ok, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["content-type", "authorization", "x-user-id"] {
        assert!(allowed.contains(h), "{allowed}");
    }

    let evil = preflight(&app, "https://evil.example.test").await;
    assert!(evil.status().is_client_error(), "{}", evil.status());
    assert_eq!(header(&evil, "access-control-allow-origin"), None);

    // Real requests from the allowed origin carry the header, refusals
    // included, so the page can read the 401.
    for auth in [Some("Bearer tok-alice-0123456789abcdef"), None] {
        let mut req = app
            .client
            .post(app.endpoint())
            .header("origin", APP_ORIGIN)
            .json(&json!({"type": "threads.list", "params": {}}));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(
            resp.status().as_u16(),
            if auth.is_some() { 200 } else { 401 }
        );
        assert_eq!(
            header(&resp, "access-control-allow-origin"),
            Some(APP_ORIGIN)
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = spawn_app().await;
    let resp = preflight(&app, APP_ORIGIN).await;
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    let resp = app
        .client
        .post(app.endpoint())
        .header("origin", APP_ORIGIN)
        .json(&json!({"type": "threads.list", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        resp.headers()
    );
    app.stop().await;
}
