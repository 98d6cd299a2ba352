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
    pub privacy: PrivacyConfig,
    pub limits: LimitsConfig,
    pub admin: AdminConfig,
    pub quiz: QuizConfig,
    pub painting: PaintingConfig,
    pub ticket: TicketConfig,
    pub print: PrintConfig,
    /// Read by [`AiConfig::from_value`]: its keys mix our own with the pool's.
    #[serde(skip)]
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
    /// Reverse proxies or tunnels in front of the booth, as addresses or networks
    /// ("127.0.0.1", "10.0.0.0/8"). Only requests from these are believed when their
    /// `X-Forwarded-For` or `Forwarded` header names the visitor's address.
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Size and pixel limits, the long side photos are shrunk to, and the JPEG quality:
    /// the keys `max_bytes`, `max_width`, `max_height`, `max_pixels`, `long_side` and
    /// `jpeg_quality`, as intake defines them.
    #[serde(flatten)]
    pub intake: articket_intake::IntakeOptions,
    /// The longest visitor name kept, in characters.
    pub max_name_chars: usize,
    /// How many photos are decoded at once. 0 = one per core.
    pub workers: usize,
    /// How many more uploads may wait for a worker; beyond that they get 503.
    pub queue: usize,
}

/// `[privacy]`: how long a visit's photos and paintings are kept.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Photos, paintings, tickets and their records are deleted this long after the
    /// visit began. The phone's upload screen says so.
    pub retention_secs: u64,
}

/// `[quiz]`: whether visitors get every painter, or take the personality quiz that
/// picks theirs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct QuizConfig {
    pub mode: VisitMode,
    /// An operator's quiz file (questions and texts, see the built-in
    /// crates/quiz/quiz.toml); empty for the built-in one.
    pub questions: PathBuf,
}

/// What a visit is.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VisitMode {
    /// Every painter paints the visitor; the ticket shows them all.
    #[default]
    Convert,
    /// Eight questions pick the visitor's painter; the ticket shows that painter large
    /// and the good and bad matches small.
    Quiz,
    /// The visitor chooses on the phone.
    Both,
}

/// `[admin]`: the operator page at `/admin`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// An argon2 hash of the operator password, made with `articket hash-password`.
    /// Empty: a random password is made at each start and printed in the terminal.
    pub password_hash: String,
    /// Show the latest paintings on the operator page. Off by default: visitors'
    /// faces stay on their own phones unless the booth's operator decides otherwise.
    pub gallery: bool,
    /// The start-up password, when there is no hash (set by `serve`, never read from a
    /// file).
    #[serde(skip)]
    pub password: Option<String>,
}

/// `[limits]`: what one client may do, so a stranger on the booth's network cannot
/// swamp it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Photo uploads per client address per minute; 0 turns the limit off.
    pub uploads_per_minute: u32,
    /// Rooms (QR codes) waiting for a phone at once; more are refused with 429.
    pub max_open_rooms: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            uploads_per_minute: 10,
            max_open_rooms: 50,
        }
    }
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            retention_secs: 24 * 3600,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KioskConfig {
    /// The kiosk shows a fresh QR code after this many seconds without activity
    /// in a visit.
    pub idle_reset_secs: u64,
    /// After the visitor taps "finish", the kiosk shows a thank-you for this long.
    pub finished_hold_secs: u64,
    /// While waiting for a visitor, the kiosk re-reads the paintings of its attract
    /// loop this often (a visitor who deletes their photos leaves it within this time).
    pub attract_refresh_secs: u64,
    /// How many recent paintings (of visitors who agreed) the attract loop cycles
    /// through.
    pub attract_paintings: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PaintingConfig {
    /// The painters a visit gets unless the upload names some.
    pub painters: Vec<Painter>,
    /// Tries per painter before it is marked failed.
    pub attempts: u32,
    /// Time limit for one try of one painter, counted from when a painter starts on it
    /// (time waiting in a queue does not count).
    pub timeout_secs: u64,
    /// First pause before a retry; each further retry waits about twice as long.
    pub backoff_ms: u64,
    /// Every painter of a visit ends (done or failed) within this time of the upload.
    pub visit_timeout_secs: u64,
    /// The built-in renderer's knobs per painter: `[painting.builtin.vangogh]` etc.
    pub builtin: articket_style::builtin::BuiltinParams,
}

/// `[print]`: printing tickets at the kiosk through CUPS.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PrintConfig {
    /// Shows the kiosk's print button.
    pub enabled: bool,
    /// The CUPS queue (`lp -d`); empty: the system's default printer.
    pub printer: String,
    /// Print every ticket as soon as it is ready.
    pub auto: bool,
    pub copies: u32,
    /// Prints one visit may have (failed ones do not count).
    pub max_per_visit: u32,
    pub paper: articket_ticket::Paper,
    /// The print command; CUPS's `lp` unless the system names it otherwise.
    pub command: String,
    pub timeout_secs: u64,
}

impl Default for PrintConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            printer: String::new(),
            auto: false,
            copies: 1,
            max_per_visit: 2,
            paper: articket_ticket::Paper::A6,
            command: "lp".into(),
            timeout_secs: 30,
        }
    }
}

/// `[ticket]`: what the operator can change on every ticket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TicketConfig {
    /// Shown under the title, e.g. "Campus Festival 2026". Empty: none.
    pub event_name: String,
    /// A line at the foot, e.g. an Instagram handle. Empty: none.
    pub footer: String,
    /// The first visit's ticket number; later visits count up from it ("No. 0042").
    pub serial_start: i64,
    pub background: String,
    pub paper: String,
    pub ink: String,
    /// The event's logo (PNG with transparency, or JPEG), top-left on every ticket.
    pub logo: PathBuf,
    /// A folder with the operator's own `phone.svg` template (docs/templates/).
    pub template_dir: PathBuf,
    /// The promo image offered after the ticket: a picture file (PNG or JPEG) ...
    pub promo_image: PathBuf,
    /// ... or one made from these: a line or two of text and a handle.
    pub promo_text: String,
    pub promo_handle: String,
    /// Frame colours per painter: the keys `picasso`, `renoir`, `vangogh` and
    /// `lichtenstein`.
    #[serde(flatten)]
    pub colors: articket_ticket::PainterColors,
}

impl Default for TicketConfig {
    fn default() -> Self {
        let d = articket_ticket::TicketDesign::default();
        Self {
            event_name: d.event_name.clone(),
            footer: d.footer.clone(),
            serial_start: 1,
            background: d.background.clone(),
            paper: d.paper.clone(),
            ink: d.ink.clone(),
            logo: PathBuf::new(),
            template_dir: PathBuf::new(),
            promo_image: PathBuf::new(),
            promo_text: String::new(),
            promo_handle: String::new(),
            colors: d.painter_colors,
        }
    }
}

impl TicketConfig {
    pub fn design(&self) -> articket_ticket::TicketDesign {
        articket_ticket::TicketDesign {
            event_name: articket_ticket::clean_name(&self.event_name, 60),
            footer: articket_ticket::clean_name(&self.footer, 80),
            background: self.background.clone(),
            paper: self.paper.clone(),
            ink: self.ink.clone(),
            painter_colors: self.colors.clone(),
            logo: None,
            template: None,
            quiz_template: None,
        }
    }
}

/// `[ai]`: whether Stable Diffusion paints, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AiConfig {
    /// false: the built-in CPU renderer paints, whatever `backend` says.
    pub enabled: bool,
    pub backend: AiBackend,
    /// What paints when every server is down.
    pub fallback: Fallback,
    /// Servers, dispatch, captions, time limits and per-painter settings.
    pub a1111: articket_pool::AiSettings,
    /// `[ai.local]`: the in-process engine (`backend = "local"`).
    pub local: LocalSettings,
}

/// `[ai.local]`: where the model is and how the engine runs it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LocalSettings {
    /// A Stable Diffusion model in the diffusers layout (docs/models.md).
    pub model_dir: PathBuf,
    /// Optional CLIP model (transformers layout) for `captioner = "clip"`.
    pub clip_dir: PathBuf,
    /// Optional BLIP captioning model (transformers layout) for `captioner = "blip"`.
    pub blip_dir: PathBuf,
    /// "cpu", "cuda" or "cuda:N".
    pub device: String,
    /// "f32", "f16" or "bf16"; empty: f32 on the CPU, bf16 on a GPU.
    pub dtype: String,
    /// Paintings that may wait for the device; more are refused and retried later.
    pub queue: usize,
    /// Paintings per UNet batch (a visit's four painters go together).
    pub max_batch: usize,
    /// How long the device waits for a visit's other painters to join a batch.
    pub batch_window_ms: u64,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::new(),
            clip_dir: PathBuf::new(),
            blip_dir: PathBuf::new(),
            device: "cuda:0".into(),
            dtype: String::new(),
            queue: 16,
            max_batch: 8,
            batch_window_ms: 50,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AiBackend {
    #[default]
    Builtin,
    /// Remote servers speaking the AUTOMATIC1111 API.
    A1111,
    /// Remote ComfyUI servers running the operator's workflows.
    #[serde(rename = "comfyui")]
    ComfyUi,
    /// Our own candle engine in-process.
    Local,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// New visits are told the painters are offline (HTTP 503).
    #[default]
    None,
    /// New visits are painted by the built-in renderer, and the operator is told.
    Builtin,
}

#[derive(Deserialize)]
#[serde(default)]
struct AiMode {
    enabled: bool,
    backend: AiBackend,
    fallback: Fallback,
}

impl Default for AiMode {
    fn default() -> Self {
        let d = AiConfig::default();
        Self {
            enabled: d.enabled,
            backend: d.backend,
            fallback: d.fallback,
        }
    }
}

impl AiConfig {
    /// Reads `[ai]`: our three keys, then everything else as the pool's settings.
    fn from_value(value: toml::Value) -> Result<AiConfig, ConfigError> {
        let toml::Value::Table(mut table) = value else {
            return Err(key_error("ai", "must be a table"));
        };
        let local = table.remove("local");
        let mut mode = toml::Table::new();
        for key in ["enabled", "backend", "fallback"] {
            if let Some(v) = table.remove(key) {
                mode.insert(key.to_owned(), v);
            }
        }
        let prefixed = |e: serde_path_to_error::Error<toml::de::Error>| {
            let path = e.path().to_string();
            let key = if path == "." {
                "ai".to_owned()
            } else {
                format!("ai.{path}")
            };
            key_error(&key, e.into_inner().message().to_owned())
        };
        let mode: AiMode =
            serde_path_to_error::deserialize(toml::Value::Table(mode)).map_err(prefixed)?;
        let a1111 =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(prefixed)?;
        let local = match local {
            Some(v) => serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                key_error(
                    &format!("ai.local.{path}"),
                    e.into_inner().message().to_owned(),
                )
            })?,
            None => LocalSettings::default(),
        };
        Ok(AiConfig {
            enabled: mode.enabled,
            backend: mode.backend,
            fallback: mode.fallback,
            a1111,
            local,
        })
    }

    /// The backend that paints, after `enabled` has had its say.
    pub fn active_backend(&self) -> AiBackend {
        if self.enabled {
            self.backend
        } else {
            AiBackend::Builtin
        }
    }
}

/// An address, or a network in CIDR form (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Network> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse().ok()?, None),
        };
        let bits = match addr {
            std::net::IpAddr::V4(_) => 32,
            std::net::IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(bits);
        (prefix <= bits).then_some(Network { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let (a, b, bits) = match (self.addr, ip.to_canonical()) {
            (V4(a), V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
            (V6(a), V6(b)) => (u128::from(a), u128::from(b), 128),
            _ => return false,
        };
        let shift = bits - self.prefix as u32;
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

impl ServerConfig {
    /// `trusted_proxies`, parsed (validated at start-up, so none is dropped here).
    pub fn trusted_networks(&self) -> Vec<Network> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| Network::parse(p))
            .collect()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 8080)),
            public_url: String::new(),
            data_dir: PathBuf::from("data"),
            cpu_workers: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            intake: articket_intake::IntakeOptions::default(),
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
            attract_refresh_secs: 15,
            attract_paintings: 24,
        }
    }
}

impl Default for PaintingConfig {
    fn default() -> Self {
        Self {
            painters: Painter::ALL.to_vec(),
            attempts: 3,
            timeout_secs: 120,
            backoff_ms: 1000,
            visit_timeout_secs: 600,
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
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Syntax {
                        path: path.to_owned(),
                        message: e.message().to_owned(),
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
                key_error(&key, e.into_inner().message().to_owned())
            })?;
        if let Some(ai) = ai {
            config.ai = AiConfig::from_value(ai)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks values the types cannot, naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let u = &self.upload;
        let i = &u.intake;
        if i.max_bytes == 0 || i.max_bytes > 200_000_000 {
            return Err(key_error(
                "upload.max_bytes",
                "must be between 1 and 200000000",
            ));
        }
        if i.max_pixels < 1_000 || i.max_pixels > 400_000_000 {
            return Err(key_error(
                "upload.max_pixels",
                "must be between 1000 and 400000000",
            ));
        }
        for (key, value) in [
            ("upload.max_width", i.max_width),
            ("upload.max_height", i.max_height),
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
        if !(64..=4096).contains(&i.long_side) {
            return Err(key_error("upload.long_side", "must be between 64 and 4096"));
        }
        if !(1..=100).contains(&i.jpeg_quality) {
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
        if p.visit_timeout_secs < p.timeout_secs {
            return Err(key_error(
                "painting.visit_timeout_secs",
                "must be at least painting.timeout_secs",
            ));
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
        for p in &self.server.trusted_proxies {
            if Network::parse(p).is_none() {
                return Err(key_error(
                    "server.trusted_proxies",
                    format!("{p:?} is not an address or a network such as 10.0.0.0/8"),
                ));
            }
        }
        if self.limits.max_open_rooms == 0 {
            return Err(key_error("limits.max_open_rooms", "must be at least 1"));
        }
        let hash = self.admin.password_hash.trim();
        if !hash.is_empty() && !is_argon2_hash(hash) {
            return Err(key_error(
                "admin.password_hash",
                "is not an argon2 hash; make one with `articket hash-password`",
            ));
        }
        if self.privacy.retention_secs == 0 {
            return Err(key_error("privacy.retention_secs", "must be at least 1"));
        }
        let pr = &self.print;
        if !(1..=10).contains(&pr.copies) {
            return Err(key_error("print.copies", "must be between 1 and 10"));
        }
        if pr.max_per_visit == 0 || pr.timeout_secs == 0 || pr.command.trim().is_empty() {
            return Err(key_error(
                "print.max_per_visit",
                "max_per_visit, timeout_secs and command must be set",
            ));
        }
        let t = &self.ticket;
        let design = [
            ("background", t.background.as_str()),
            ("paper", &t.paper),
            ("ink", &t.ink),
        ];
        for (key, value) in design.into_iter().chain(t.colors.iter()) {
            let hex = value.strip_prefix('#').unwrap_or("");
            if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(key_error(
                    &format!("ticket.{key}"),
                    format!("{value:?} is not a colour like \"#5E6CBA\""),
                ));
            }
        }
        let ai = &self.ai;
        if let Err((key, message)) = ai.a1111.validate() {
            return Err(key_error(&format!("ai.{key}"), message));
        }
        match ai.active_backend() {
            AiBackend::Builtin => {}
            AiBackend::A1111 if ai.a1111.servers.is_empty() => {
                return Err(key_error(
                    "ai.servers",
                    "backend = \"a1111\" needs at least one server: [[ai.servers]] url = \"http://host:7860\"",
                ));
            }
            AiBackend::A1111 => {}
            AiBackend::ComfyUi if ai.a1111.servers.is_empty() => {
                return Err(key_error(
                    "ai.servers",
                    "backend = \"comfyui\" needs at least one server: [[ai.servers]] url = \"http://host:8188\"",
                ));
            }
            AiBackend::ComfyUi => {
                let painters_own = Painter::ALL
                    .iter()
                    .all(|&p| !ai.a1111.generation(p).workflow.is_empty());
                if ai.a1111.workflow.is_empty() && !painters_own {
                    return Err(key_error(
                        "ai.workflow",
                        "backend = \"comfyui\" needs a workflow: an API-format JSON file from ComfyUI's \"Save (API format)\" (docs/ai.md has ready ones)",
                    ));
                }
            }
            AiBackend::Local if !cfg!(feature = "engine") => {
                return Err(key_error(
                    "ai.backend",
                    "this build has no local engine; build with `cargo build --release --features engine` (add `cuda` for an NVIDIA GPU), or use \"a1111\" or \"builtin\"",
                ));
            }
            AiBackend::Local if ai.local.model_dir.as_os_str().is_empty() => {
                return Err(key_error(
                    "ai.local.model_dir",
                    "backend = \"local\" needs the model's folder (see docs/models.md)",
                ));
            }
            AiBackend::Local => {}
        }
        Ok(())
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
    fn the_example_files_server_and_painter_samples_are_valid() {
        let text = include_str!("../../../articket.example.toml");
        let samples: String = text
            .lines()
            .map(|l| l.strip_prefix("## ").unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = load_str(&samples, &[]).unwrap();
        let a = &c.ai.a1111;
        assert_eq!(a.servers.len(), 2);
        assert_eq!(a.servers[1].user.as_deref(), Some("booth"));
        assert_eq!(a.vangogh.width, Some(768));
        assert_eq!(
            a.vangogh.override_settings["sd_model_checkpoint"],
            "vangogh-style-v2"
        );
        assert!(a.vangogh.alwayson_scripts.contains_key("ADetailer"));
        assert_eq!(
            a.vangogh.controlnet[0].model,
            "control_v11p_sd15_lineart [43d4be0d]"
        );
        assert_eq!(a.vangogh.controlnet[0].guidance_end, 0.8);
        assert_eq!(a.vangogh.workflow, "docs/comfyui/img2img-lineart.json");
        assert_eq!(
            a.servers[1].headers["Authorization"],
            "Bearer 0123456789abcdef"
        );
        // The other painters keep their defaults.
        assert_eq!(a.renoir, articket_pool::AiSettings::default().renoir);
        assert_eq!(c.ai.local.model_dir, PathBuf::from("models/sd15"));
        assert_eq!(c.ai.local.max_batch, 8);
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
        assert_eq!(c.upload.intake.long_side, 256);
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
            ("[upload]\nlong_side = \"big\"", &[], "upload.long_side"),
            ("[upload]\nqueue = \"many\"", &[], "upload.queue"),
            ("[ticket]\nrenoir = 5", &[], "ticket.renoir"),
            ("[print]\npaper = \"a4\"", &[], "print.paper"),
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
            ("[ai]\nenabled = true\nbackend = \"a1111\"", &[], "ai.servers"),
            (
                "[ai]\nenabled = true\nbackend = \"local\"",
                &[],
                if cfg!(feature = "engine") { "ai.local.model_dir" } else { "ai.backend" },
            ),
            ("[ai.local]\nqueue = \"x\"", &[], "ai.local.queue"),
            ("[ticket]\nbackground = \"blue\"", &[], "ticket.background"),
            ("[ai]\nbackend = \"gpu\"", &[], "ai.backend"),
            ("[ai]\nenabled = true\nbackend = \"comfyui\"", &[], "ai.servers"),
            (
                "[ai]\nenabled = true\nbackend = \"comfyui\"\nservers = [{ url = \"http://gpu:8188\" }]",
                &[],
                "ai.workflow",
            ),
            (
                "[ai]\nservers = [{ url = \"http://gpu:8188\", headers = { \"Bad Name\" = \"x\" } }]",
                &[],
                "ai.servers[0].headers",
            ),
            (
                "[[ai.picasso.controlnet]]\nmodel = \"control_v11p_sd15_lineart\"\ncontrol_mode = \"bogus\"",
                &[],
                "ai.picasso.controlnet[0].control_mode",
            ),
            ("[[ai.renoir.controlnet]]\nmodule = \"canny\"", &[], "ai.renoir.controlnet[0].model"),
            ("[ai]\ndispatch = \"random\"", &[], "ai.dispatch"),
            ("[ai]\nservers = [{ url = \"gpu:7860\" }]", &[], "ai.servers[0].url"),
            ("[ai.vangogh]\nresize_mode = 0", &[], "ai.vangogh.resize_mode"),
            ("[ai.renoir]\nsteps = 2\ndenoising_strength = 0.3", &[], "ai.renoir.steps"),
            ("[ai.picasso]\nprompt_typo = \"x\"", &[], "ai.picasso"),
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
