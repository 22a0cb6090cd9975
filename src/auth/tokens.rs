//! Static bearer tokens from a file (`--auth bearer --auth-tokens-file`).
//!
//! The file is text, one token per line:
//!
//! ```text
//! # token                              user      [tenant]
//! 4f0c9d1e8a7b6c5d4e3f2a1b0c9d8e7f    alice
//! 9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d    bob
//! ```
//!
//! Fields are separated by spaces or tabs; blank lines and lines starting
//! with `#` are skipped. A third field is the user's tenant: either every
//! line has one or none does. A token listed twice is an error.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time
//! against every entry, so neither the comparison nor the scan tells an
//! attacker how close a guess was. [`BearerTokens::reload`] swaps in a new
//! file atomically; a file that does not parse leaves the old set in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Identity;

/// Tokens shorter than this are accepted with a warning: they can be
/// guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// One parsed tokens file.
#[derive(Default)]
struct TokenSet {
    entries: Vec<([u8; 32], Identity)>,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl TokenSet {
    fn parse(text: &str) -> Result<Self, String> {
        let mut entries: Vec<([u8; 32], Identity)> = Vec::new();
        let mut tenants = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (token, user, tenant) = match fields[..] {
                [token, user] => (token, user, None),
                [token, user, tenant] => (token, user, Some(tenant)),
                _ => {
                    return Err(format!(
                        "line {}: expected `token user [tenant]`, found {} fields",
                        n + 1,
                        fields.len()
                    ));
                }
            };
            if *tenants.get_or_insert(tenant.is_some()) != tenant.is_some() {
                return Err(format!(
                    "line {}: either every line names a tenant or none does",
                    n + 1
                ));
            }
            if token.len() < MIN_TOKEN_LEN {
                tracing::warn!(
                    line = n + 1,
                    "a bearer token is shorter than {MIN_TOKEN_LEN} characters and can be guessed"
                );
            }
            let hash = digest(token);
            if entries.iter().any(|(h, _)| *h == hash) {
                return Err(format!("line {}: this token is listed twice", n + 1));
            }
            entries.push((
                hash,
                Identity {
                    user: user.to_owned(),
                    tenant: tenant.map(str::to_owned),
                },
            ));
        }
        Ok(Self { entries })
    }

    fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The identity of `token`, looking at every entry whatever matches.
    fn find(&self, token: &str) -> Option<Identity> {
        let hash = digest(token);
        let mut found = None;
        for (h, identity) in &self.entries {
            if bool::from(h.ct_eq(&hash)) {
                found = Some(identity);
            }
        }
        found.cloned()
    }
}

/// The tokens of a file, reloadable. Cheap to clone (shared).
#[derive(Clone)]
pub struct BearerTokens {
    path: PathBuf,
    current: Arc<RwLock<Arc<TokenSet>>>,
}

impl std::fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerTokens")
            .field("path", &self.path)
            .field("tokens", &self.len())
            .finish()
    }
}

impl BearerTokens {
    /// Loads the tokens file at `path`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, String> {
        let path = path.into();
        let set = TokenSet::load(&path)?;
        if set.entries.is_empty() {
            tracing::warn!(path = %path.display(), "the bearer tokens file has no tokens: every request will be refused");
        }
        Ok(Self {
            path,
            current: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    /// Reads the file again and swaps it in; on error the previous tokens
    /// stay in force. Returns the number of tokens now loaded.
    pub fn reload(&self) -> Result<usize, String> {
        let set = TokenSet::load(&self.path)?;
        let n = set.entries.len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(n)
    }

    /// How many tokens are loaded.
    pub fn len(&self) -> usize {
        self.snapshot().entries.len()
    }

    /// Whether no token is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the tokens carry tenants.
    pub fn has_tenants(&self) -> bool {
        self.snapshot()
            .entries
            .first()
            .is_some_and(|(_, i)| i.tenant.is_some())
    }

    /// The identity a token stands for.
    pub fn find(&self, token: &str) -> Option<Identity> {
        self.snapshot().find(token)
    }

    fn snapshot(&self) -> Arc<TokenSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_users_tenants_and_comments() {
        let set = TokenSet::parse(
            "# comment\n\ntok-aaaaaaaaaaaaaaaa alice acme\n\ttok-bbbbbbbbbbbbbbbb  bob  globex\n",
        )
        .unwrap();
        assert_eq!(
            set.find("tok-bbbbbbbbbbbbbbbb"),
            Some(Identity {
                user: "bob".into(),
                tenant: Some("globex".into())
            })
        );
        assert_eq!(set.find("tok-aaaaaaaaaaaaaaa"), None);
        assert_eq!(set.find(""), None);
    }

    #[test]
    fn refuses_bad_files() {
        for bad in [
            "justatoken\n",
            "a b c d\n",
            "t1 alice acme\nt2 bob\n",
            "same alice\nsame bob\n",
        ] {
            assert!(TokenSet::parse(bad).is_err(), "{bad:?}");
        }
    }
}
