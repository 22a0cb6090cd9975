//! The built-in chat page: a small ChatKit client served by this server,
//! for trying it offline and as the end-to-end browser harness
//! (`tests/browser/`).
//!
//! Plain HTML, CSS and JavaScript modules, embedded in the binary with
//! `include_str!` (no runtime files, no CDN, no build step). The page is
//! `GET {ui_path}`; its files are `GET {ui_path}/assets/{name}`. The page
//! learns the endpoint path, the user header and the attachment limits from
//! a `<meta name="chatkit-config">` tag filled in here, so no inline script
//! is needed and the Content-Security-Policy can forbid them.
//!
//! Every answer carries an `ETag` and `Cache-Control: no-cache` (browsers
//! revalidate, a matching `If-None-Match` is a 304), `nosniff`, and the page
//! a strict CSP: scripts and styles only from this origin, no inline code,
//! no frames, no plugins.

use std::collections::HashMap;
use std::hash::Hasher;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chatkit_actors::attachments::AttachmentConfig;
use serde_json::json;

use crate::settings::Settings;

/// The page, with `{{ASSETS}}` and `{{CONFIG}}` placeholders.
const INDEX_HTML: &str = include_str!("static/index.html");

/// The page's files: name, content type, bytes.
const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("static/api.js"),
    ),
    (
        "items.js",
        "text/javascript; charset=utf-8",
        include_str!("static/items.js"),
    ),
    (
        "markdown.js",
        "text/javascript; charset=utf-8",
        include_str!("static/markdown.js"),
    ),
    (
        "widgets.js",
        "text/javascript; charset=utf-8",
        include_str!("static/widgets.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("static/dom.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("static/favicon.svg"),
    ),
];

/// One file ready to serve.
struct Asset {
    body: web::Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

impl Asset {
    fn new(body: impl Into<web::Bytes>, content_type: &'static str) -> Self {
        let body = body.into();
        let etag =
            HeaderValue::from_str(&etag(&body)).expect("a quoted hex digest is a header value");
        Self {
            body,
            content_type,
            etag,
        }
    }
}

/// The chat page and its files, rendered once at start-up.
pub struct Ui {
    /// `ui_path` without a trailing slash (`""` for `/`).
    base: String,
    index: Asset,
    files: HashMap<&'static str, Asset>,
    /// The page's Content-Security-Policy (`None`: the public base URL
    /// made it an invalid header value, and it is not sent).
    csp: Option<HeaderValue>,
}

impl Ui {
    /// Renders the page for `settings` (whose `ui_path` must be set) and the
    /// attachment limits.
    pub fn new(settings: &Settings, attachments: &AttachmentConfig) -> Self {
        let base = ui_base(settings.ui_path.as_deref().unwrap_or("/"));
        let config = json!({
            "endpoint": settings.chatkit_path,
            "userHeader": settings.user_header,
            "defaultUser": settings.default_user,
            "attachments": {
                "maxBytes": attachments.max_bytes,
                "types": attachments.allowed_types,
            },
        });
        let html = INDEX_HTML
            .replace("{{ASSETS}}", &format!("{base}/assets"))
            .replace("{{CONFIG}}", &escape_attribute(&config.to_string()));
        let files = FILES
            .iter()
            .map(|(name, content_type, body)| (*name, Asset::new(*body, content_type)))
            .collect();
        // Attachment uploads and previews go to the public base URL, which
        // is this origin unless a proxy says otherwise.
        let public = origin(&attachments.public_base_url);
        let csp = format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; \
             img-src 'self' {public} data: blob: https:; connect-src 'self' {public}; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        let csp = HeaderValue::from_str(&csp).ok();
        Self {
            base,
            index: Asset::new(html, "text/html; charset=utf-8"),
            files,
            csp,
        }
    }

    /// The path of the page.
    pub fn page_path(&self) -> String {
        ui_page_path(&self.base)
    }

    /// Adds the page and asset routes.
    pub fn configure(cfg: &mut web::ServiceConfig, ui: web::Data<Ui>) {
        let base = ui.base.clone();
        cfg.app_data(ui);
        cfg.route(&ui_page_path(&base), web::get().to(page));
        if !base.is_empty() {
            cfg.route(&format!("{base}/"), web::get().to(page));
        }
        cfg.route(&format!("{base}/assets/{{name}}"), web::get().to(asset));
    }
}

/// The page's URL on a server reached at `base_url` (for the start-up log).
pub fn page_url(base_url: &str, ui_path: &str) -> String {
    format!(
        "{}{}",
        base_url.trim_end_matches('/'),
        ui_page_path(&ui_base(ui_path))
    )
}

fn ui_page_path(base: &str) -> String {
    if base.is_empty() {
        "/".to_owned()
    } else {
        base.to_owned()
    }
}

/// `GET {ui_path}`: the page.
async fn page(req: HttpRequest, ui: web::Data<Ui>) -> HttpResponse {
    let mut resp = serve(&req, &ui.index);
    if let Some(csp) = &ui.csp {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    }
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp.headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// `GET {ui_path}/assets/{name}`: a script, the styles or the icon.
async fn asset(req: HttpRequest, name: web::Path<String>, ui: web::Data<Ui>) -> HttpResponse {
    match ui.files.get(name.as_str()) {
        Some(file) => serve(&req, file),
        None => HttpResponse::NotFound().json(
            json!({"error": {"code": "not_found", "message": format!("no such file: {}", name.as_str())}}),
        ),
    }
}

/// Answers `file`, or a 304 when the client's copy is current.
fn serve(req: &HttpRequest, file: &Asset) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| file.etag == t.trim() || t.trim() == "*")
        });
    let mut resp = if fresh {
        HttpResponse::build(StatusCode::NOT_MODIFIED).finish()
    } else {
        HttpResponse::Ok()
            .content_type(file.content_type)
            .body(file.body.clone())
    };
    let headers = resp.headers_mut();
    headers.insert(header::ETAG, file.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// `ui_path` as a prefix: leading slash, no trailing slash (`/` → `""`).
fn ui_base(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// A strong ETag from the bytes. `DefaultHasher::new()` is deterministic
/// for one build, which is all revalidation needs (the bytes are compiled
/// in, so a new build may change both).
fn etag(bytes: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    format!("\"{:016x}\"", h.finish())
}

/// `scheme://host[:port]` of a URL, or `""` when it has none.
fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return String::new();
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || !matches!(scheme, "http" | "https") {
        return String::new();
    }
    format!("{scheme}://{host}")
}

/// Escapes text for a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_paths_become_prefixes() {
        assert_eq!(ui_base("/"), "");
        assert_eq!(ui_base(""), "");
        assert_eq!(ui_base("/chat/"), "/chat");
        assert_eq!(ui_base("chat"), "/chat");
    }

    #[test]
    fn the_logged_url_joins_base_and_path() {
        assert_eq!(
            page_url("http://127.0.0.1:8000", "/"),
            "http://127.0.0.1:8000/"
        );
        assert_eq!(
            page_url("https://chat.example.com/", "chat/"),
            "https://chat.example.com/chat"
        );
    }

    #[test]
    fn config_cannot_break_out_of_its_attribute() {
        assert_eq!(
            escape_attribute(r#"{"a":"\"><script>'&"}"#),
            "{&quot;a&quot;:&quot;\\&quot;&gt;&lt;script&gt;&#39;&amp;&quot;}"
        );
    }

    #[test]
    fn origins_keep_scheme_host_and_port_only() {
        assert_eq!(origin("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(
            origin("https://chat.example.com/api/"),
            "https://chat.example.com"
        );
        assert_eq!(origin("javascript:alert(1)"), "");
    }

    #[test]
    fn etags_follow_the_bytes() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
    }
}
