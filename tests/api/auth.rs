//! Authentication over real HTTP: bearer tokens (and their reload), JWTs
//! (HS256, RS256, ES256; expiry, issuer, audience, signature), the
//! trusted-proxy header, and the guarantees around them: a refusal is a
//! 401 with `WWW-Authenticate` given before the body is read, `/healthz`
//! and image previews need no credentials.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatkit_server::auth::{Auth, BearerTokens, JwtConfig, JwtVerifier};
use futures_util::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::*;

const ALICE_TOKEN: &str = "tok-alice-0123456789abcdef";
const BOB_TOKEN: &str = "tok-bob-0123456789abcdef";
const SECRET: &[u8] = b"an HS256 secret of at least 32 bytes!!";

fn keys_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/keys"))
}

fn list_threads() -> Value {
    json!({"type": "threads.list", "params": {}})
}

/// A finished exchange with the headers kept.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    /// Checks a 401 with its challenge; returns the challenge.
    pub fn assert_unauthorized(&self) -> String {
        assert_eq!(self.status, 401, "body: {}", self.body);
        let v = self.json();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        let challenge = self.header("www-authenticate").to_owned();
        assert!(
            challenge.starts_with("Bearer realm=\"chatkit\""),
            "{challenge}"
        );
        challenge
    }
}

/// POSTs `body` to `/chatkit` with `headers`.
pub async fn post_with(app: &TestApp, headers: &[(&str, &str)], body: &Value) -> Answer {
    let mut req = app.client.post(app.endpoint()).json(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("request sent");
    Answer {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.expect("body read"),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn bearer_app(dir: &Path) -> (TestApp, BearerTokens) {
    let file = dir.join("tokens.txt");
    std::fs::write(
        &file,
        format!("# test tokens\n{ALICE_TOKEN} alice\n{BOB_TOKEN}\tbob\n"),
    )
    .unwrap();
    let tokens = BearerTokens::open(&file).unwrap();
    let app = spawn_app_with(AppOptions {
        auth: Auth::Bearer(tokens.clone()),
        ..AppOptions::default()
    })
    .await;
    (app, tokens)
}

#[actix_web::test]
async fn bearer_tokens_name_the_user_and_anything_else_is_a_401() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = bearer_app(dir.path()).await;

    // A good token: the user is the token's, whatever the user header says.
    let alice = bearer(ALICE_TOKEN);
    let created = post_with(
        &app,
        &[("authorization", &alice), ("x-user-id", "bob")],
        &create("hi"),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let mine = post_with(&app, &[("authorization", &alice)], &list_threads()).await;
    assert_eq!(mine.json()["data"].as_array().unwrap().len(), 1);
    let bobs = post_with(
        &app,
        &[("authorization", &bearer(BOB_TOKEN))],
        &list_threads(),
    )
    .await;
    assert_eq!(bobs.status, 200);
    assert_eq!(bobs.json()["data"], json!([]));

    // No credentials, a user header only: 401 without an error code.
    let none = post_with(&app, &[("x-user-id", "alice")], &list_threads()).await;
    assert_eq!(none.assert_unauthorized(), "Bearer realm=\"chatkit\"");
    assert_eq!(none.json()["error"]["code"], "unauthorized");

    // A wrong token, a token one character short, another scheme.
    for value in [
        bearer("tok-nobody-0123456789abcdef"),
        bearer(&ALICE_TOKEN[..ALICE_TOKEN.len() - 1]),
        format!("Basic {ALICE_TOKEN}"),
    ] {
        let refused = post_with(&app, &[("authorization", &value)], &list_threads()).await;
        let challenge = refused.assert_unauthorized();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert_eq!(refused.json()["error"]["code"], "invalid_token");
    }
    app.stop().await;
}

#[actix_web::test]
async fn reloading_the_tokens_file_swaps_tokens_and_keeps_them_when_the_file_is_bad() {
    let dir = tempfile::tempdir().unwrap();
    let (app, tokens) = bearer_app(dir.path()).await;
    let file = dir.path().join("tokens.txt");
    let carol = "tok-carol-0123456789abcdef";

    std::fs::write(&file, format!("{carol} carol\n{BOB_TOKEN} bob\n")).unwrap();
    assert_eq!(tokens.reload(), Ok(2));
    let old = post_with(
        &app,
        &[("authorization", &bearer(ALICE_TOKEN))],
        &list_threads(),
    )
    .await;
    old.assert_unauthorized();
    let new = post_with(&app, &[("authorization", &bearer(carol))], &list_threads()).await;
    assert_eq!(new.status, 200, "{}", new.body);

    // A broken file is refused; the tokens in force stay.
    std::fs::write(&file, "only-one-field\n").unwrap();
    let err = tokens.reload().unwrap_err();
    assert!(err.contains("line 1"), "{err}");
    let still = post_with(&app, &[("authorization", &bearer(carol))], &list_threads()).await;
    assert_eq!(still.status, 200, "{}", still.body);
    app.stop().await;
}

#[actix_web::test]
async fn a_refused_request_is_answered_before_its_body_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = bearer_app(dir.path()).await;

    // Over the body limit: a 413 would mean the body was looked at first.
    let huge = vec![b' '; 8 * 1024 * 1024];
    let resp = app
        .client
        .post(app.endpoint())
        .body(huge)
        .send()
        .await
        .expect("answered");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));

    // A body that never ends: only an answer that does not wait for it
    // can arrive.
    let endless = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"type\":"))
    })
    .chain(futures_util::stream::pending());
    let started = Instant::now();
    let resp = tokio::time::timeout(
        Duration::from_secs(10),
        app.client
            .post(app.endpoint())
            .header("authorization", bearer("tok-wrong-0123456789abcdef"))
            .body(reqwest::Body::wrap_stream(endless))
            .send(),
    )
    .await
    .expect("a 401 without waiting for the body")
    .expect("answered");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(started.elapsed() < Duration::from_secs(10));
    app.stop().await;
}

#[actix_web::test]
async fn healthz_and_image_previews_need_no_credentials_but_uploads_do() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = bearer_app(dir.path()).await;
    let health = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let alice = bearer(ALICE_TOKEN);
    let png: &[u8] = b"\x89PNG\r\n\x1a\nnot really";
    let created = post_with(
        &app,
        &[("authorization", &alice)],
        &json!({"type": "attachments.create", "params": {"name": "a.png", "size": png.len(), "mime_type": "image/png"}}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let attachment = created.json();
    let upload_url = attachment["upload_descriptor"]["url"].as_str().unwrap();

    let anonymous = app
        .client
        .put(upload_url)
        .body(png.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let uploaded = app
        .client
        .put(upload_url)
        .header("authorization", &alice)
        .body(png.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status().as_u16(), 200);

    // The preview URL is a capability: an <img> loads it without a token.
    let preview = app
        .client
        .get(attachment["preview_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status().as_u16(), 200);
    assert_eq!(preview.bytes().await.unwrap().as_ref(), png);
    app.stop().await;
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt_app_options(tenant_claim: Option<&str>) -> AppOptions {
    let verifier = JwtVerifier::new(JwtConfig {
        secret: Some(SECRET.to_vec()),
        jwks_file: Some(keys_dir().join("jwks.json")),
        issuer: Some("https://issuer.test".into()),
        audience: vec!["chatkit".into()],
        leeway: Duration::from_secs(5),
        tenant_claim: tenant_claim.map(str::to_owned),
        ..JwtConfig::default()
    })
    .expect("verifier");
    AppOptions {
        auth: Auth::Jwt(Arc::new(verifier)),
        ..AppOptions::default()
    }
}

/// Claims that pass, for `sub`; tests change one thing at a time.
fn good_claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": "https://issuer.test", "aud": "chatkit", "exp": now() + 600, "iat": now()})
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

fn signed(alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::RS256 => {
            EncodingKey::from_rsa_pem(&std::fs::read(keys_dir().join("rsa_private.pem")).unwrap())
        }
        Algorithm::ES256 => {
            EncodingKey::from_ec_pem(&std::fs::read(keys_dir().join("ec_private.pem")).unwrap())
        }
        _ => unreachable!(),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[actix_web::test]
async fn jwts_of_each_algorithm_are_accepted_and_bad_ones_refused() {
    let app = spawn_app_with(jwt_app_options(None)).await;

    for token in [
        hs256(&good_claims("alice")),
        signed(Algorithm::RS256, Some("rsa-1"), &good_claims("alice")),
        signed(Algorithm::ES256, Some("ec-1"), &good_claims("alice")),
        // No kid: the set's only key of the algorithm's family.
        signed(Algorithm::ES256, None, &good_claims("alice")),
    ] {
        let ok = post_with(&app, &[("authorization", &bearer(&token))], &list_threads()).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
    }
    // The identity is the token's `sub`.
    let created = post_with(
        &app,
        &[("authorization", &bearer(&hs256(&good_claims("alice"))))],
        &create("mine"),
    )
    .await;
    assert_eq!(created.status, 200);
    let bobs = post_with(
        &app,
        &[("authorization", &bearer(&hs256(&good_claims("bob"))))],
        &list_threads(),
    )
    .await;
    assert_eq!(bobs.json()["data"], json!([]));

    let with = |key: &str, value: Value| {
        let mut c = good_claims("alice");
        c[key] = value;
        c
    };
    let mut no_exp = good_claims("alice");
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", hs256(&with("exp", json!(now() - 60))), "expired"),
        ("no exp", hs256(&no_exp), "required claim"),
        (
            "not yet valid",
            hs256(&with("nbf", json!(now() + 600))),
            "not valid yet",
        ),
        (
            "wrong audience",
            hs256(&with("aud", json!("someone-else"))),
            "audience",
        ),
        (
            "wrong issuer",
            hs256(&with("iss", json!("https://evil.test"))),
            "issuer",
        ),
        ("no sub", hs256(&with("sub", Value::Null)), "`sub`"),
        (
            "bad signature",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &good_claims("alice"),
                &EncodingKey::from_secret(b"another secret, also 32 bytes long"),
            )
            .unwrap(),
            "signature",
        ),
        (
            "unknown kid",
            signed(Algorithm::RS256, Some("rsa-2"), &good_claims("alice")),
            "kid",
        ),
        (
            "kid of another key",
            signed(Algorithm::RS256, Some("ec-1"), &good_claims("alice")),
            "",
        ),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
    ];
    for (case, token, why) in cases {
        let refused = post_with(&app, &[("authorization", &bearer(&token))], &list_threads()).await;
        let challenge = refused.assert_unauthorized();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{case}: {challenge}"
        );
        assert!(
            refused.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{case}: {}",
            refused.body
        );
    }
    // Within the leeway an expired token still passes.
    let late = hs256(&with("exp", json!(now() - 2)));
    let ok = post_with(&app, &[("authorization", &bearer(&late))], &list_threads()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    app.stop().await;
}

#[actix_web::test]
async fn the_proxy_header_is_honoured_only_from_trusted_addresses() {
    let trusted = spawn_app_with(AppOptions {
        auth: Auth::ProxyHeader {
            trusted: vec!["127.0.0.1/32".parse().unwrap()],
        },
        ..AppOptions::default()
    })
    .await;
    let ok = post_with(&trusted, &[("x-user-id", "alice")], &list_threads()).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // From the proxy but without the header: nobody to act for.
    let missing = post_with(&trusted, &[], &list_threads()).await;
    missing.assert_unauthorized();
    trusted.stop().await;

    // The test client (127.0.0.1) is not one of the proxies here.
    let untrusted = spawn_app_with(AppOptions {
        auth: Auth::ProxyHeader {
            trusted: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        },
        ..AppOptions::default()
    })
    .await;
    let refused = post_with(&untrusted, &[("x-user-id", "alice")], &create("hi")).await;
    refused.assert_unauthorized();
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("proxy")
    );
    assert_eq!(untrusted.count_rows("SELECT count(*) FROM threads"), 0);
    untrusted.stop().await;
}
