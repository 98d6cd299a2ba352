//! The checks that span fields, each error naming its key.

use crate::*;

impl Config {
    /// Checks values the types cannot, naming the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(128..=1024).contains(&self.matting.side) {
            return Err(key_error("matting.side", "must be between 128 and 1024"));
        }
        let p = &self.painting;
        let wants_image = std::iter::once(&p.background)
            .chain(p.backgrounds.values())
            .any(|b| *b == articket_style::builtin::backdrop::Background::Image);
        if wants_image && p.background_image.is_none() {
            return Err(key_error(
                "painting.background_image",
                "background = \"image\" needs the picture's file here",
            ));
        }
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
        self.validate_tls()?;
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
        if let Err((key, message)) = ai.sd.validate() {
            return Err(key_error(&format!("ai.{key}"), message));
        }
        match ai.active_backend() {
            AiBackend::Builtin => {}
            AiBackend::A1111 if ai.sd.servers.is_empty() => {
                return Err(key_error(
                    "ai.servers",
                    "backend = \"a1111\" needs at least one server: [[ai.servers]] url = \"http://host:7860\"",
                ));
            }
            AiBackend::A1111 => {}
            AiBackend::ComfyUi if ai.sd.servers.is_empty() => {
                return Err(key_error(
                    "ai.servers",
                    "backend = \"comfyui\" needs at least one server: [[ai.servers]] url = \"http://host:8188\"",
                ));
            }
            AiBackend::ComfyUi => {
                let painters_own = Painter::ALL
                    .iter()
                    .all(|&p| !ai.sd.generation(p).workflow.is_empty());
                if ai.sd.workflow.is_empty() && !painters_own {
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
            AiBackend::Local => {
                let lists = std::iter::once(("ai.local.lora".to_owned(), &ai.local.lora[..]))
                    .chain(
                        Painter::ALL
                            .iter()
                            .map(|&p| (format!("ai.local.{p}.lora"), ai.local.painter_loras(p))),
                    );
                for (key, list) in lists {
                    for entry in list {
                        if !entry.file.is_file() {
                            return Err(key_error(
                                &key,
                                format!(
                                    "no LoRA file at {} (a .safetensors file, diffusers or kohya format)",
                                    entry.file.display()
                                ),
                            ));
                        }
                        if !entry.weight.is_finite() || entry.weight.abs() > 4.0 {
                            return Err(key_error(
                                &key,
                                format!(
                                    "weight {} for {} is out of range: LoRAs take -4 to 4, usually 0.5 to 1",
                                    entry.weight,
                                    entry.file.display()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Config {
    /// `[server.tls]`: each mode has what it needs, and its addresses parse.
    fn validate_tls(&self) -> Result<(), ConfigError> {
        let tls = &self.server.tls;
        if !tls.enabled() {
            return Ok(());
        }
        for domain in &tls.domains {
            if !is_domain_name(domain) {
                return Err(key_error(
                    "server.tls.domains",
                    format!(
                        "{domain:?} is not a domain name: write the bare name, such as \"booth.example.org\" (no https://, port or path)"
                    ),
                ));
            }
        }
        match tls.mode {
            TlsMode::Off => {}
            TlsMode::Acme => {
                if tls.domains.is_empty() {
                    return Err(key_error(
                        "server.tls.domains",
                        "mode = \"acme\" needs the domain names to get a certificate for, e.g. domains = [\"booth.example.org\"]",
                    ));
                }
                if !tls.directory.starts_with("https://") && !tls.directory.starts_with("http://") {
                    return Err(key_error(
                        "server.tls.directory",
                        format!("must be the ACME directory's URL, e.g. {LETS_ENCRYPT}"),
                    ));
                }
                let contact = tls.contact.trim();
                let mail = contact.strip_prefix("mailto:").unwrap_or(contact);
                if !contact.is_empty() && (!mail.contains('@') || mail.contains([' ', ','])) {
                    return Err(key_error(
                        "server.tls.contact",
                        "must be one e-mail address, such as \"ops@example.org\"",
                    ));
                }
                if tls.challenge == Challenge::Http01 && tls.redirect_from.trim().is_empty() {
                    return Err(key_error(
                        "server.tls.redirect_from",
                        "challenge = \"http-01\" is answered on plain HTTP: set redirect_from = \"0.0.0.0:80\"",
                    ));
                }
            }
            TlsMode::Files => {
                for (key, path) in [("server.tls.cert", &tls.cert), ("server.tls.key", &tls.key)] {
                    if path.as_os_str().is_empty() {
                        return Err(key_error(
                            key,
                            "mode = \"files\" needs the certificate and key: cert = \"/etc/letsencrypt/live/booth.example.org/fullchain.pem\", key = \".../privkey.pem\"",
                        ));
                    }
                }
            }
        }
        let redirect = tls.redirect_from.trim();
        if !redirect.is_empty() {
            let Ok(addr) = redirect.parse::<std::net::SocketAddr>() else {
                return Err(key_error(
                    "server.tls.redirect_from",
                    format!("{redirect:?} is not an address and port such as \"0.0.0.0:80\" (empty: none)"),
                ));
            };
            if addr.port() == self.server.bind.port() && addr.port() != 0 {
                return Err(key_error(
                    "server.tls.redirect_from",
                    format!(
                        "port {} is server.bind's too: HTTPS listens on server.bind (usually 443), the redirect on another (usually 80)",
                        addr.port()
                    ),
                ));
            }
        }
        if self.server.public_url.trim().starts_with("http://") {
            return Err(key_error(
                "server.public_url",
                "with [server.tls] on, phones reach the booth over https://",
            ));
        }
        Ok(())
    }
}

/// A DNS name a certificate can be issued for: letters, digits, hyphens and dots, with
/// at least one dot (a wildcard's `*.` first label allowed).
fn is_domain_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    name.len() <= 253
        && name.contains('.')
        && name.parse::<std::net::IpAddr>().is_err()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
