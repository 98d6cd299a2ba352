//! Booth configuration: defaults, then a TOML file, then `ARTICKET__SECTION__KEY`
//! environment variables, then command-line flags. Typed structs do most validation;
//! [`Config::validate`] adds the checks that span fields. Every error names its key.

mod admin;
mod ai;
mod kiosk;
mod limits;
mod matting;
mod messages;
mod painting;
mod print;
mod privacy;
mod quiz;
mod server;
#[cfg(test)]
mod tests;
mod ticket;
mod upload;
mod validate;

pub use admin::*;
pub use ai::*;
pub use kiosk::*;
pub use limits::*;
pub use matting::*;
pub use painting::*;
pub use print::*;
pub use privacy::*;
pub use quiz::*;
pub use server::*;
pub use ticket::*;
pub use upload::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use articket_style::Painter;
use serde::Deserialize;

/// The prefix of environment overrides: `ARTICKET__SERVER__BIND=0.0.0.0:9000`.
pub const ENV_PREFIX: &str = "ARTICKET__";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub upload: UploadConfig,
    pub kiosk: KioskConfig,
    pub privacy: PrivacyConfig,
    pub limits: LimitsConfig,
    pub admin: AdminConfig,
    pub quiz: QuizConfig,
    pub painting: PaintingConfig,
    pub matting: MattingConfig,
    pub ticket: TicketConfig,
    pub print: PrintConfig,
    /// Read by [`AiConfig::from_value`]: its keys mix our own with the pool's.
    #[serde(skip)]
    pub ai: AiConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML:\n{message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    /// About the file as a whole (an unknown section).
    #[error("config: {0}")]
    File(String),
}

/// Whether `s` is a PHC string of an argon2 hash (for config validation).
pub fn is_argon2_hash(s: &str) -> bool {
    argon2::password_hash::PasswordHash::new(s)
        .is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}

/// The key inside a section with flattened fields (`[upload]`, `[ticket]`), whose
/// errors serde reports against the section alone: found by reading the section again
/// as the flattened type.
fn flattened_key(table: &toml::Table, section: &str) -> Option<String> {
    fn locate<T: serde::de::DeserializeOwned>(value: &toml::Value) -> Option<String> {
        serde_path_to_error::deserialize::<_, T>(value.clone())
            .err()
            .map(|e| e.path().to_string())
    }
    let value = table.get(section)?;
    let inner = match section {
        "upload" => locate::<articket_intake::IntakeOptions>(value),
        "ticket" => locate::<articket_ticket::PainterColors>(value),
        _ => None,
    }?;
    Some(format!("{section}.{inner}"))
}

fn key_error(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        message: message.into(),
    }
}

impl Config {
    /// Loads the layered config. `file`: an explicit path (must exist); otherwise
    /// `articket.toml` in the working directory if present. `env`: the process
    /// environment (passed in so tests need not touch the real one).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let default_file = Path::new("articket.toml");
        let path = file.or_else(|| default_file.exists().then_some(default_file));
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                // toml's own text gives the line, the column and the line itself.
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax {
                        path: path.to_owned(),
                        message: e.to_string().trim_end().to_owned(),
                    })?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        let ai = table.remove("ai");
        let mut config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table.clone())).map_err(|e| {
                let key = e.path().to_string();
                let key = flattened_key(&table, &key).unwrap_or(key);
                let message = messages::explain(&key, e.into_inner().message());
                if message.starts_with("unknown section") || key == "." {
                    return ConfigError::File(message);
                }
                key_error(&key, message)
            })?;
        if let Some(ai) = ai {
            config.ai = AiConfig::from_value(ai)?;
        }
        config.validate()?;
        Ok(config)
    }
}

/// Overlays `ARTICKET__SECTION__KEY=value` variables onto the table. A value that
/// parses as a TOML value (number, bool, array) is taken as one; anything else is a
/// string, so `ARTICKET__SERVER__DATA_DIR=/srv/booth` needs no quotes.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let vars: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    for (name, raw) in vars {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(|p| p.to_ascii_lowercase())
            .collect();
        if path.len() < 2 || path.iter().any(|p| p.is_empty()) {
            return Err(key_error(
                &name,
                "environment overrides look like ARTICKET__SECTION__KEY (or __SECTION__TABLE__KEY)",
            ));
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let (key, tables) = path.split_last().expect("two parts at least");
        let mut at = &mut *table;
        for (depth, part) in tables.iter().enumerate() {
            let next = at
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match next {
                toml::Value::Table(t) => at = t,
                _ => return Err(key_error(&path[..=depth].join("."), "must be a table")),
            }
        }
        at.insert(key.clone(), value);
    }
    Ok(())
}
