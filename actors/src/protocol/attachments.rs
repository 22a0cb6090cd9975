//! Attachments (§4.5) and URL normalisation (§1 item 6).

use std::borrow::Cow;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::ids::ThreadId;

/// A file or image attached to a user message (§4.5).
///
/// `type` comes after the common fields. `metadata` is read but **never
/// serialized**: it is integration-only data that must not reach clients.
/// `preview_url` and `upload_descriptor.url` are URL-normalised on input
/// and output ([`normalize_url`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The attachment id (`atc_...`).
    pub id: String,
    /// The file name.
    pub name: String,
    /// The MIME type.
    pub mime_type: String,
    /// Two-phase upload instructions; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_descriptor: Option<AttachmentUploadDescriptor>,
    /// The thread of the user message that references it; omitted when
    /// `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<ThreadId>,
    /// Integration-only data. Deserialized, never serialized.
    #[serde(default, skip_serializing)]
    pub metadata: Option<Map<String, Value>>,
    /// `file`, or `image` with its preview URL.
    #[serde(flatten)]
    pub kind: AttachmentKind,
}

/// The attachment's `type` and type-specific fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttachmentKind {
    /// `"type":"file"`.
    File,
    /// `"type":"image"` with a required, normalised `preview_url`.
    Image {
        /// Where the client loads the preview from.
        #[serde(serialize_with = "serialize_url", deserialize_with = "deserialize_url")]
        preview_url: String,
    },
}

/// Two-phase upload instructions (§4.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentUploadDescriptor {
    /// Where to send the bytes (normalised).
    #[serde(serialize_with = "serialize_url", deserialize_with = "deserialize_url")]
    pub url: String,
    /// The HTTP method to use.
    pub method: UploadMethod,
    /// Headers to send with the upload; always emitted.
    #[serde(default, with = "super::common::ordered_map")]
    pub headers: IndexMap<String, String>,
}

/// HTTP method of a two-phase upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum UploadMethod {
    /// `"POST"`.
    Post,
    /// `"PUT"`.
    Put,
}

/// Normalises a URL the way the reference's URL type does for the fields
/// that have it (§1 item 6): for the special schemes (`http`, `https`,
/// `ws`, `wss`, `ftp`) a URL with an empty path gets a `/` after the host
/// (`https://example.com` → `https://example.com/`,
/// `https://a.b?q=1` → `https://a.b/?q=1`). Anything else is returned
/// unchanged.
pub fn normalize_url(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let scheme = &url[..scheme_end];
    let special = ["http", "https", "ws", "wss", "ftp"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s));
    if !special {
        return Cow::Borrowed(url);
    }
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if host_len == 0 || rest[host_len..].starts_with('/') {
        return Cow::Borrowed(url);
    }
    let (host, tail) = rest.split_at(host_len);
    Cow::Owned(format!("{}{host}/{tail}", &url[..rest_start]))
}

fn serialize_url<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&normalize_url(url))
}

fn deserialize_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    Ok(match normalize_url(&url) {
        Cow::Borrowed(_) => url,
        Cow::Owned(normalized) => normalized,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_hosts_get_a_trailing_slash() {
        assert_eq!(normalize_url("https://example.com"), "https://example.com/");
        assert_eq!(
            normalize_url("https://example.com:8443"),
            "https://example.com:8443/"
        );
        assert_eq!(normalize_url("https://a.b?q=1"), "https://a.b/?q=1");
        assert_eq!(normalize_url("http://a.b#frag"), "http://a.b/#frag");
    }

    #[test]
    fn other_urls_are_unchanged() {
        for url in [
            "https://example.com/",
            "https://example.com/upload/atc_1",
            "data:image/png;base64,AAAA",
            "mailto:a@b.c",
            "custom://host",
            "not a url",
        ] {
            assert!(matches!(normalize_url(url), Cow::Borrowed(u) if u == url));
        }
    }

    #[test]
    fn attachment_normalises_urls_and_hides_metadata() {
        let json = r#"{"id":"atc_1","name":"cat.png","mime_type":"image/png","upload_descriptor":{"url":"https://files.example.com","method":"POST"},"metadata":{"secret":1},"type":"image","preview_url":"https://cdn.example.com"}"#;
        let att: Attachment = serde_json::from_str(json).unwrap();
        assert_eq!(att.metadata.as_ref().unwrap()["secret"], 1);
        assert_eq!(
            att.kind,
            AttachmentKind::Image {
                preview_url: "https://cdn.example.com/".into()
            }
        );
        assert_eq!(
            serde_json::to_string(&att).unwrap(),
            r#"{"id":"atc_1","name":"cat.png","mime_type":"image/png","upload_descriptor":{"url":"https://files.example.com/","method":"POST","headers":{}},"type":"image","preview_url":"https://cdn.example.com/"}"#
        );
    }

    #[test]
    fn constructed_urls_are_normalised_on_output() {
        let att = Attachment {
            id: "atc_1".into(),
            name: "a".into(),
            mime_type: "image/png".into(),
            upload_descriptor: None,
            thread_id: None,
            metadata: None,
            kind: AttachmentKind::Image {
                preview_url: "https://x.y".into(),
            },
        };
        let out = serde_json::to_string(&att).unwrap();
        assert!(out.ends_with(r#""type":"image","preview_url":"https://x.y/"}"#));
    }

    #[test]
    fn image_requires_preview_url() {
        let json = r#"{"id":"atc_1","name":"a","mime_type":"image/png","type":"image"}"#;
        assert!(serde_json::from_str::<Attachment>(json).is_err());
    }
}
