//! Booth configuration: defaults, then a TOML file, then `ARTICKET__SECTION__KEY`
//! environment variables, then command-line flags. Typed structs do most validation;
//! [`Config::validate`] adds the checks that span fields. Every error names its key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
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
    pub painting: PaintingConfig,
    pub ai: AiConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// The URL phones use to reach the booth, when it sits behind a proxy or tunnel.
    /// Empty means: the machine's LAN address and the bound port.
    pub public_url: String,
    /// Where the database and image files live.
    pub data_dir: PathBuf,
    /// How many CPU-heavy jobs (intake, painting, tickets) run at once. 0 = all cores.
    pub cpu_workers: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Uploads larger than this are refused before they are parsed.
    pub max_bytes: u64,
    /// Photos wider or taller than these (as stored) are refused from their header.
    pub max_width: u32,
    pub max_height: u32,
    /// Photos with more pixels than this are refused from their header.
    pub max_pixels: u64,
    /// Photos are shrunk to this long side before any painter sees them.
    pub long_side: u32,
    pub jpeg_quality: u8,
    /// The longest visitor name kept, in characters.
    pub max_name_chars: usize,
    /// How many photos are decoded at once. 0 = one per core.
    pub workers: usize,
    /// How many more uploads may wait for a worker; beyond that they get 503.
    pub queue: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KioskConfig {
    /// The kiosk shows a fresh QR code after this many seconds without activity
    /// in a visit.
    pub idle_reset_secs: u64,
    /// After the visitor taps "finish", the kiosk shows a thank-you for this long.
    pub finished_hold_secs: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PaintingConfig {
    /// The painters a visit gets unless the upload names some.
    pub painters: Vec<Painter>,
    /// Tries per painter before it is marked failed.
    pub attempts: u32,
    /// Time limit for one try of one painter.
    pub timeout_secs: u64,
    /// The built-in renderer's knobs per painter: `[painting.builtin.vangogh]` etc.
    pub builtin: articket_style::builtin::BuiltinParams,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AiConfig {
    /// false: the built-in CPU renderer paints. true: Stable Diffusion (a later step).
    pub enabled: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 8080)),
            public_url: String::new(),
            data_dir: PathBuf::from("data"),
            cpu_workers: 0,
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        let i = articket_intake::IntakeOptions::default();
        Self {
            max_bytes: i.max_bytes,
            max_width: i.max_width,
            max_height: i.max_height,
            max_pixels: i.max_pixels,
            long_side: i.long_side,
            jpeg_quality: i.jpeg_quality,
            max_name_chars: 24,
            workers: 0,
            queue: 8,
        }
    }
}

impl Default for KioskConfig {
    fn default() -> Self {
        Self {
            idle_reset_secs: 180,
            finished_hold_secs: 8,
        }
    }
}

impl Default for PaintingConfig {
    fn default() -> Self {
        Self {
            painters: Painter::ALL.to_vec(),
            attempts: 3,
            timeout_secs: 120,
            builtin: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
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
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax {
                        path: path.to_owned(),
                        message: e.message().to_owned(),
                    })?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                key_error(&key, e.into_inner().message().to_owned())
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values the types cannot, naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let u = &self.upload;
        if u.max_bytes == 0 || u.max_bytes > 200_000_000 {
            return Err(key_error(
                "upload.max_bytes",
                "must be between 1 and 200000000",
            ));
        }
        if u.max_pixels < 1_000 || u.max_pixels > 400_000_000 {
            return Err(key_error(
                "upload.max_pixels",
                "must be between 1000 and 400000000",
            ));
        }
        for (key, value) in [
            ("upload.max_width", u.max_width),
            ("upload.max_height", u.max_height),
        ] {
            if !(64..=65_535).contains(&value) {
                return Err(key_error(key, "must be between 64 and 65535"));
            }
        }
        if u.workers > 256 {
            return Err(key_error(
                "upload.workers",
                "must be between 0 (one per core) and 256",
            ));
        }
        if u.queue > 10_000 {
            return Err(key_error("upload.queue", "must be between 0 and 10000"));
        }
        if !(64..=4096).contains(&u.long_side) {
            return Err(key_error("upload.long_side", "must be between 64 and 4096"));
        }
        if !(1..=100).contains(&u.jpeg_quality) {
            return Err(key_error(
                "upload.jpeg_quality",
                "must be between 1 and 100",
            ));
        }
        if !(1..=200).contains(&u.max_name_chars) {
            return Err(key_error(
                "upload.max_name_chars",
                "must be between 1 and 200",
            ));
        }
        if self.kiosk.idle_reset_secs < 10 {
            return Err(key_error("kiosk.idle_reset_secs", "must be at least 10"));
        }
        if self.kiosk.finished_hold_secs > 600 {
            return Err(key_error("kiosk.finished_hold_secs", "must be at most 600"));
        }
        let p = &self.painting;
        if let Err((key, message)) = p.builtin.validate() {
            return Err(key_error(&format!("painting.builtin.{key}"), message));
        }
        if p.painters.is_empty() {
            return Err(key_error("painting.painters", "name at least one painter"));
        }
        let mut seen = p.painters.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != p.painters.len() {
            return Err(key_error("painting.painters", "a painter is listed twice"));
        }
        if !(1..=10).contains(&p.attempts) {
            return Err(key_error("painting.attempts", "must be between 1 and 10"));
        }
        if p.timeout_secs == 0 {
            return Err(key_error("painting.timeout_secs", "must be at least 1"));
        }
        let url = self.server.public_url.trim();
        if !url.is_empty() {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .ok_or_else(|| {
                    key_error("server.public_url", "must start with http:// or https://")
                })?;
            if rest.is_empty() || rest.contains(['?', '#', ' ']) {
                return Err(key_error(
                    "server.public_url",
                    "must be a plain base URL such as https://booth.example.org",
                ));
            }
        }
        if self.ai.enabled {
            return Err(key_error(
                "ai.enabled",
                "no Stable Diffusion backend is available in this build yet; set it to false to use the built-in painters",
            ));
        }
        Ok(())
    }

    /// The intake settings derived from `[upload]`.
    pub fn intake(&self) -> articket_intake::IntakeOptions {
        articket_intake::IntakeOptions {
            max_bytes: self.upload.max_bytes,
            max_width: self.upload.max_width,
            max_height: self.upload.max_height,
            max_pixels: self.upload.max_pixels,
            long_side: self.upload.long_side,
            jpeg_quality: self.upload.jpeg_quality,
        }
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
        if path.len() != 2 || path.iter().any(|p| p.is_empty()) {
            return Err(key_error(
                &name,
                "environment overrides look like ARTICKET__SECTION__KEY",
            ));
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let section = table
            .entry(path[0].clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        match section {
            toml::Value::Table(t) => {
                t.insert(path[1].clone(), value);
            }
            _ => return Err(key_error(&path[0], "must be a table")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("articket.toml");
        std::fs::write(&path, toml).unwrap();
        Config::load(
            Some(&path),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None, Vec::new()).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.server.bind.port(), 8080);
        assert!(!c.ai.enabled);
    }

    #[test]
    fn the_example_file_parses_and_equals_the_defaults() {
        let text = include_str!("../../../articket.example.toml");
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| l.contains(" = ") && !l.starts_with('#'))
                    .unwrap_or(l)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(load_str(&uncommented, &[]).unwrap(), Config::default());
    }

    #[test]
    fn env_overrides_the_file() {
        let c = load_str(
            "[server]\nbind = \"127.0.0.1:9000\"\n[upload]\nlong_side = 300\n",
            &[
                ("ARTICKET__UPLOAD__LONG_SIDE", "256"),
                ("ARTICKET__SERVER__DATA_DIR", "/tmp/booth"),
            ],
        )
        .unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.upload.long_side, 256);
        assert_eq!(c.server.data_dir, PathBuf::from("/tmp/booth"));
    }

    #[test]
    fn painter_knobs_are_overridden_one_by_one() {
        let c = load_str(
            "[painting.builtin.vangogh]\nstroke_length = 14\n[painting.builtin.picasso]\npalette = [\"#112233\"]\n",
            &[],
        )
        .unwrap();
        let b = &c.painting.builtin;
        assert_eq!(b.vangogh.stroke_length, 14.0);
        assert_eq!(
            b.picasso.palette,
            vec![articket_style::builtin::Hex(0x112233)]
        );
        // Everything not named keeps its default.
        let defaults = articket_style::builtin::BuiltinParams::default();
        assert_eq!(b.vangogh.swirl_size, defaults.vangogh.swirl_size);
        assert_eq!(b.renoir, defaults.renoir);
        assert_eq!(b.lichtenstein, defaults.lichtenstein);
    }

    #[test]
    fn errors_name_the_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("[server]\nbind = \"nonsense\"", &[], "server.bind"),
            ("[upload]\nlong_side = 10", &[], "upload.long_side"),
            ("[upload]\nmax_byte = 10", &[], "upload"),
            (
                "[painting]\npainters = [\"monet\"]",
                &[],
                "painting.painters",
            ),
            ("[painting]\npainters = []", &[], "painting.painters"),
            (
                "[painting.builtin.lichtenstein]\npalette = [\"#D7262B\", \"red\", \"#1F5FAD\", \"#111111\", \"#F7F3E8\", \"#F4C3A0\"]",
                &[],
                "painting.builtin.lichtenstein.palette",
            ),
            (
                "[painting.builtin.vangogh]\nstroke_length = 0",
                &[],
                "painting.builtin.vangogh.stroke_length",
            ),
            ("[painting.builtin.monet]\nx = 1", &[], "painting.builtin"),
            ("[ai]\nenabled = true", &[], "ai.enabled"),
            (
                "",
                &[("ARTICKET__KIOSK__IDLE_RESET_SECS", "-5")],
                "kiosk.idle_reset_secs",
            ),
            (
                "[server]\npublic_url = \"booth.local\"",
                &[],
                "server.public_url",
            ),
        ];
        for (toml, env, key) in cases {
            let err = load_str(toml, env).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}")), "{toml:?}: {err}");
        }
    }
}
