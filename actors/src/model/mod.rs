//! Model providers: what writes the assistant's answer.
//!
//! Only the offline `echo` model exists so far; it needs no key and no
//! network, so the whole pipeline can be tried and tested as it is.

pub mod echo;

use std::time::Duration;

pub use echo::EchoConfig;

/// Which model answers, and how to reach it.
#[derive(Clone, Debug)]
pub enum ModelConfig {
    /// The built-in offline model: quotes the user's last message back.
    Echo(EchoConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::Echo(EchoConfig::default())
    }
}

impl ModelConfig {
    /// The offline echo model with the given pause between deltas.
    pub fn echo(delay: Duration) -> Self {
        ModelConfig::Echo(EchoConfig { delay })
    }

    /// A short human name for logs and the start-up banner.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::Echo(c) => {
                format!("echo (offline, {} ms between deltas)", c.delay.as_millis())
            }
        }
    }
}

/// The model failed to produce (all of) an answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The provider answered with an error or broke off.
    #[error("model request failed: {0}")]
    Failed(String),
}
