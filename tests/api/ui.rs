//! The built-in chat page over HTTP: where it is served, its headers, and
//! that it can be moved or turned off. (What it does in a browser is in
//! `browser.rs`.)

use crate::helpers::*;

async fn get(app: &TestApp, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.url));
    if let Some(tag) = etag {
        request = request.header("If-None-Match", tag);
    }
    request.send().await.expect("request sent")
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[actix_web::test]
async fn the_page_is_served_at_the_root_with_a_strict_policy() {
    let app = spawn_app().await;
    let resp = get(&app, "/", None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&resp, "cache-control"), "no-cache");
    assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
    let csp = header(&resp, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let etag = header(&resp, "etag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let html = resp.text().await.unwrap();
    // The endpoint and user header are handed over in a meta tag; no
    // inline script, nothing from another origin.
    assert!(html.contains(r#"<meta name="chatkit-config" content="{&quot;endpoint&quot;:&quot;/chatkit&quot;,&quot;userHeader&quot;:&quot;X-User-Id&quot;"#), "{html}");
    assert!(html.contains(r#"<script type="module" src="/assets/app.js"></script>"#));
    assert!(
        !html.contains("<script>") && !html.contains("https://"),
        "{html}"
    );

    // Revalidation: the same ETag is a 304 without a body.
    let again = get(&app, "/", Some(&etag)).await;
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
    assert!(again.text().await.unwrap().is_empty());
    assert_eq!(get(&app, "/", Some("\"other\"")).await.status(), 200);
}

#[actix_web::test]
async fn assets_have_their_content_types_and_unknown_ones_are_404() {
    let app = spawn_app().await;
    for (name, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("items.js", "text/javascript; charset=utf-8"),
        ("markdown.js", "text/javascript; charset=utf-8"),
        ("widgets.js", "text/javascript; charset=utf-8"),
        ("dom.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let resp = get(&app, &format!("/assets/{name}"), None).await;
        assert_eq!(resp.status(), 200, "{name}");
        assert_eq!(header(&resp, "content-type"), content_type, "{name}");
        assert_eq!(header(&resp, "cache-control"), "no-cache", "{name}");
        let etag = header(&resp, "etag");
        assert!(!resp.text().await.unwrap().is_empty(), "{name}");
        assert_eq!(
            get(&app, &format!("/assets/{name}"), Some(&etag))
                .await
                .status(),
            304
        );
    }
    let missing = get(&app, "/assets/secrets.txt", None).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    // The page never goes through the endpoint's path.
    assert_eq!(get(&app, "/chatkit", None).await.status(), 405);
}

#[actix_web::test]
async fn the_page_moves_with_ui_path_and_can_be_turned_off() {
    let app = spawn_app_with(AppOptions {
        ui_path: Some("/chat/".to_owned()),
        ..Default::default()
    })
    .await;
    for path in ["/chat", "/chat/"] {
        let resp = get(&app, path, None).await;
        assert_eq!(resp.status(), 200, "{path}");
        let html = resp.text().await.unwrap();
        assert!(html.contains(r#"src="/chat/assets/app.js""#), "{html}");
    }
    assert_eq!(get(&app, "/chat/assets/app.js", None).await.status(), 200);
    assert_eq!(get(&app, "/", None).await.status(), 404);

    let off = spawn_app_with(AppOptions {
        ui_path: None,
        ..Default::default()
    })
    .await;
    assert_eq!(get(&off, "/", None).await.status(), 404);
    assert_eq!(get(&off, "/assets/app.js", None).await.status(), 404);
    // The endpoint is unaffected.
    assert!(off.create_thread("still works").await.1.len() > 2);
}
