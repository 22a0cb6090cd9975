//! JSON Web Tokens (`--auth jwt`), verified with the `jsonwebtoken` crate.
//!
//! Accepted algorithms: HS256 (a shared secret) and RS256 / ES256 (public
//! keys from a JWKS file, found by the token's `kid`; a token without `kid`
//! is tried against the set's only key of its algorithm). The algorithm
//! picks the key family, so an HS256 token is never checked against a
//! public key used as a secret. Checked: the signature, `exp` (required),
//! `nbf`, and, when configured, `iss` and `aud`, all with the configured
//! leeway. The user id is a configurable claim (default `sub`); with a
//! tenant claim configured, a token without it is refused.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, Identity};

/// Accepted clock skew on `exp` and `nbf` by default.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// How tokens are checked.
#[derive(Clone)]
pub struct JwtConfig {
    /// The HS256 secret, if HS256 tokens are accepted.
    pub secret: Option<Vec<u8>>,
    /// A JWKS file (`{"keys":[...]}`) of RS256/ES256 public keys.
    pub jwks_file: Option<PathBuf>,
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// Accepted `aud` values; empty: `aud` is not checked.
    pub audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// The claim naming the user.
    pub user_claim: String,
    /// The claim naming the tenant (tenancy on), if any.
    pub tenant_claim: Option<String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            secret: None,
            jwks_file: None,
            issuer: None,
            audience: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            user_claim: "sub".to_owned(),
            tenant_claim: None,
        }
    }
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_file", &self.jwks_file)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("user_claim", &self.user_claim)
            .field("tenant_claim", &self.tenant_claim)
            .finish()
    }
}

/// Checks tokens against a [`JwtConfig`]; the JWKS file is reloadable.
#[derive(Debug)]
pub struct JwtVerifier {
    config: JwtConfig,
    jwks: RwLock<Arc<[PublicKey]>>,
}

/// A key of the JWKS file, decoded once when the file is read.
#[derive(Debug)]
struct PublicKey {
    kid: Option<String>,
    key: DecodingKey,
}

fn load_jwks(path: &std::path::Path) -> Result<Arc<[PublicKey]>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let set: JwkSet =
        serde_json::from_str(&text).map_err(|e| format!("{}: not a JWKS: {e}", path.display()))?;
    set.keys
        .into_iter()
        .map(|jwk| {
            let key = DecodingKey::from_jwk(&jwk)
                .map_err(|e| format!("{}: unusable key: {e}", path.display()))?;
            Ok(PublicKey {
                kid: jwk.common.key_id,
                key,
            })
        })
        .collect()
}

impl JwtVerifier {
    /// A verifier; fails when there is no key at all or the JWKS file is
    /// unreadable.
    pub fn new(config: JwtConfig) -> Result<Self, String> {
        if config.secret.is_none() && config.jwks_file.is_none() {
            return Err(
                "--auth jwt needs a key: an HS256 secret (CHATKIT_JWT_SECRET or --jwt-secret-file) and/or --jwt-jwks-file".to_owned(),
            );
        }
        if config.secret.as_ref().is_some_and(|s| s.len() < 32) {
            tracing::warn!("the HS256 secret is shorter than 32 bytes");
        }
        let jwks = match &config.jwks_file {
            Some(path) => load_jwks(path)?,
            None => Arc::new([]),
        };
        Ok(Self {
            config,
            jwks: RwLock::new(jwks),
        })
    }

    /// Reads the JWKS file again (on error the old keys stay). Returns the
    /// number of keys, or `None` without a JWKS file.
    pub fn reload(&self) -> Result<Option<usize>, String> {
        let Some(path) = &self.config.jwks_file else {
            return Ok(None);
        };
        let keys = load_jwks(path)?;
        let n = keys.len();
        *self.jwks.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(Some(n))
    }

    /// The identity a token stands for.
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is malformed"))?;
        let jwks;
        let secret_key;
        let key = match header.alg {
            Algorithm::HS256 => {
                let secret = self
                    .config
                    .secret
                    .as_ref()
                    .ok_or_else(|| invalid("HS256 tokens are not accepted"))?;
                secret_key = DecodingKey::from_secret(secret);
                &secret_key
            }
            Algorithm::RS256 | Algorithm::ES256 => {
                jwks = self.jwks.read().unwrap_or_else(|e| e.into_inner()).clone();
                find_key(&jwks, header.kid.as_deref(), header.alg)
                    .ok_or_else(|| invalid("no key matches the token's kid"))?
            }
            _ => return Err(invalid("the token's algorithm is not accepted")),
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(iss) = &self.config.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        if self.config.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.config.audience);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|e| {
                invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet",
                    ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                    ErrorKind::InvalidAudience => "the token's audience is not accepted",
                    ErrorKind::InvalidSignature => "the token's signature is not valid",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    ErrorKind::InvalidAlgorithm => "the token's algorithm does not fit its key",
                    _ => "the token is malformed",
                })
            })?;
        let claim = |name: &str| -> Result<String, AuthError> {
            match data.claims.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(AuthError::InvalidToken(format!(
                    "the token has no `{name}` claim"
                ))),
            }
        };
        Ok(Identity {
            user: claim(&self.config.user_claim)?,
            tenant: self.config.tenant_claim.as_deref().map(claim).transpose()?,
        })
    }
}

/// The key for a token: by `kid`, or the only key of `alg`'s family when
/// the token names none.
fn find_key<'a>(
    jwks: &'a [PublicKey],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<&'a DecodingKey> {
    match kid {
        Some(kid) => jwks.iter().find(|k| k.kid.as_deref() == Some(kid)),
        None => {
            let family = alg.family();
            let mut fitting = jwks.iter().filter(|k| k.key.family() == family);
            let only = fitting.next();
            only.filter(|_| fitting.next().is_none())
        }
    }
    .map(|k| &k.key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let verifier = JwtVerifier::new(JwtConfig {
            secret: Some(b"very-secret-value-of-32-bytes-or-more".to_vec()),
            ..JwtConfig::default()
        })
        .unwrap();
        let shown = format!("{verifier:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn a_verifier_needs_a_key() {
        assert!(JwtVerifier::new(JwtConfig::default()).is_err());
    }
}
