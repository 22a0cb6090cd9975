//! Authentication: who a request acts for.
//!
//! [`Auth`] is the configured mode (`--auth`); [`Auth::authenticate`]
//! turns a request's headers (and, for `proxy-header`, its peer address)
//! into an [`Identity`], or an [`AuthError`] (401 with a
//! `WWW-Authenticate` challenge). It runs in the [`guard`](crate::guard)
//! middleware, before any handler, so a refused request's body is never
//! read.
//!
//! - `none`: the user header, or the default user (local development).
//! - `bearer`: static tokens from a file ([`tokens`]), reloadable.
//! - `jwt`: signed tokens (HS256, RS256, ES256) checked by [`jwt`].
//! - `proxy-header`: the user header, trusted only from the configured
//!   proxy addresses.
//!
//! With tenancy on (a tenant header, a tenant claim, or tenants in the
//! tokens file), every identity has a tenant and the engine's owner key is
//! tenant and user together ([`Identity::owner`]), so equal user ids in two
//! tenants never meet.

pub mod jwt;
pub mod tokens;

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpResponse, ResponseError};
use ipnet::IpNet;
use serde_json::json;

pub use jwt::{JwtConfig, JwtVerifier};
pub use tokens::BearerTokens;

/// The realm named in every `WWW-Authenticate` challenge.
pub const REALM: &str = "chatkit";

/// Whom a request acts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The user id.
    pub user: String,
    /// The tenant, when tenancy is on.
    pub tenant: Option<String>,
}

impl Identity {
    /// A user without a tenant.
    pub fn user(user: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            tenant: None,
        }
    }

    /// The key the engine scopes every thread, item and attachment by:
    /// the user id, or `tenant/user` with `%` and `/` escaped in the tenant
    /// (so two different pairs never give the same key).
    pub fn owner(&self) -> String {
        match &self.tenant {
            None => self.user.clone(),
            Some(t) => format!(
                "{}/{}",
                t.replace('%', "%25").replace('/', "%2F"),
                self.user
            ),
        }
    }
}

/// How requests are authenticated (`--auth`).
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// The user header, or the default user when it is absent. Anyone can
    /// claim any user: for local development only.
    #[default]
    None,
    /// `Authorization: Bearer <token>`, tokens from a file.
    Bearer(BearerTokens),
    /// `Authorization: Bearer <jwt>`.
    Jwt(Arc<JwtVerifier>),
    /// The user header as set by a reverse proxy, honoured only from these
    /// source networks; anyone else gets a 401.
    ProxyHeader {
        /// The proxies' addresses (a single address is a /32 or /128).
        trusted: Vec<IpNet>,
    },
}

/// What [`Auth::authenticate`] reads besides the mode.
#[derive(Clone, Copy, Debug)]
pub struct HeaderNames<'a> {
    /// The header naming the user (`none`, `proxy-header`).
    pub user: &'a str,
    /// The user when that header is absent (`none`).
    pub default_user: &'a str,
    /// The header naming the tenant (`none`, `proxy-header`), if tenancy
    /// is on.
    pub tenant: Option<&'a str>,
}

impl Auth {
    /// The mode's name, as `--auth` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Bearer(_) => "bearer",
            Auth::Jwt(_) => "jwt",
            Auth::ProxyHeader { .. } => "proxy-header",
        }
    }

    /// Re-reads the key material from disk (the tokens file, the JWKS
    /// file), as on SIGHUP. On error the previous set stays in force.
    /// Returns how many tokens or keys are now loaded (`None`: nothing to
    /// reload in this mode).
    pub fn reload(&self) -> Result<Option<usize>, String> {
        match self {
            Auth::Bearer(tokens) => tokens.reload().map(Some),
            Auth::Jwt(verifier) => verifier.reload(),
            Auth::None | Auth::ProxyHeader { .. } => Ok(None),
        }
    }

    /// The identity of a request with `headers` from `peer`.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        names: HeaderNames<'_>,
    ) -> Result<Identity, AuthError> {
        match self {
            Auth::None => {
                let user = header_text(headers, names.user)?
                    .unwrap_or_else(|| names.default_user.to_owned());
                with_header_tenant(user, headers, names)
            }
            Auth::ProxyHeader { trusted } => {
                let from_proxy = peer.is_some_and(|ip| {
                    let ip = canonical(ip);
                    trusted.iter().any(|net| net.contains(&ip))
                });
                if !from_proxy {
                    return Err(AuthError::UntrustedPeer);
                }
                let user = header_text(headers, names.user)?
                    .ok_or_else(|| AuthError::MissingHeader(names.user.to_owned()))?;
                with_header_tenant(user, headers, names)
            }
            Auth::Bearer(tokens) => {
                let token = bearer_token(headers)?;
                tokens.find(token).ok_or(AuthError::InvalidToken(
                    "the token is not recognised".to_owned(),
                ))
            }
            Auth::Jwt(verifier) => verifier.verify(bearer_token(headers)?),
        }
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, what a dual-stack
/// listener reports) as the IPv4 address, so IPv4 networks match it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn with_header_tenant(
    user: String,
    headers: &HeaderMap,
    names: HeaderNames<'_>,
) -> Result<Identity, AuthError> {
    let tenant = match names.tenant {
        None => None,
        Some(name) => Some(
            header_text(headers, name)?.ok_or_else(|| AuthError::MissingHeader(name.to_owned()))?,
        ),
    };
    Ok(Identity { user, tenant })
}

/// A header's trimmed text; `None` when absent, an error when it is not
/// text or empty.
fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, AuthError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| AuthError::BadHeader(name.to_owned())),
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::MissingCredentials)?;
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidToken("the Authorization header is not text".to_owned()))?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(AuthError::InvalidToken(
            "the Authorization header is not `Bearer <token>`".to_owned(),
        )),
    }
}

/// Why a request was refused before it reached a handler.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("authentication required: send `Authorization: Bearer <token>`")]
    MissingCredentials,
    /// A token that is malformed, unknown, expired or for someone else.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// `proxy-header` mode, and the request did not come from a trusted
    /// proxy.
    #[error("requests must come through the authenticating proxy")]
    UntrustedPeer,
    /// A header identity needs is absent.
    #[error("the {0} header is required")]
    MissingHeader(String),
    /// A header identity needs is present but not valid text.
    #[error("the {0} header is not valid text")]
    BadHeader(String),
}

impl AuthError {
    /// The `WWW-Authenticate` challenge (RFC 6750 §3), for 401s.
    pub fn challenge(&self) -> Option<String> {
        match self {
            AuthError::InvalidToken(why) => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                why.replace(['"', '\\'], "'")
            )),
            AuthError::BadHeader(_) => None,
            _ => Some(format!("Bearer realm=\"{REALM}\"")),
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            // Kept from the header-only days: a garbled user header is a
            // bad request, not a failed login.
            AuthError::BadHeader(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let code = match self {
            AuthError::BadHeader(_) => "invalid_user",
            AuthError::InvalidToken(_) => "invalid_token",
            _ => "unauthorized",
        };
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(challenge) = self.challenge() {
            resp.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        resp.json(json!({"error": {"code": code, "message": self.to_string()}}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_keys_never_collide_across_tenants() {
        let a = Identity {
            user: "b/c".into(),
            tenant: Some("a".into()),
        };
        let b = Identity {
            user: "c".into(),
            tenant: Some("a/b".into()),
        };
        assert_ne!(a.owner(), b.owner());
        assert_eq!(b.owner(), "a%2Fb/c");
        assert_eq!(Identity::user("u").owner(), "u");
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&h).unwrap(), "abc");
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(matches!(bearer_token(&h), Err(AuthError::InvalidToken(_))));
        h.remove(header::AUTHORIZATION);
        assert!(matches!(
            bearer_token(&h),
            Err(AuthError::MissingCredentials)
        ));
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_networks() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        let ip: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert!(net.contains(&canonical(ip)));
    }
}
