//! The operator: who may open `/admin`, their sessions and the booth's pause switch.
//! (The operator log is the studio's: [`articket_studio::OpsLog`].)
//!
//! The password is checked against an argon2 hash from `[admin] password_hash`. When
//! none is set, a random password is made at each start and printed in the terminal, so
//! the operator page is never open to the booth's network. A login gets an HttpOnly,
//! SameSite=Strict session cookie; sessions live in memory and end with the server.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::http::HeaderMap;

use articket_rooms::{new_id, same_secret, token_hash};

use crate::auth::cookie_value;
use crate::limits::RateLimit;
use articket_config::{AdminConfig, Config};

/// The operator session cookie.
pub const SESSION_COOKIE: &str = "articket_admin";
/// How long a login lasts.
pub const SESSION_SECS: u64 = 12 * 3600;

enum Secret {
    /// A PHC-format argon2 hash from the config.
    Hash(String),
    /// A password made at start-up (compared by hash, in constant time).
    Password(String),
}

pub struct Operator {
    secret: Secret,
    /// Session token hash → when it ends.
    sessions: Mutex<HashMap<String, Instant>>,
    /// Password tries per client address per minute.
    pub logins: RateLimit,
    paused: AtomicBool,
}

impl Operator {
    pub fn new(config: &AdminConfig) -> Self {
        let secret = if !config.password_hash.is_empty() {
            Secret::Hash(config.password_hash.clone())
        } else {
            let password = config.password.clone().unwrap_or_else(|| {
                let p = random_password();
                tracing::warn!(
                    "no admin.password_hash is set; the operator password for this run is {p}"
                );
                p
            });
            Secret::Password(token_hash(&password))
        };
        Self {
            secret,
            sessions: Mutex::new(HashMap::new()),
            logins: RateLimit::new(10, Duration::from_secs(60)),
            paused: AtomicBool::new(false),
        }
    }

    /// Checks a password. Argon2 is slow on purpose: call this off the async threads.
    pub fn check_password(&self, password: &str) -> bool {
        match &self.secret {
            Secret::Hash(phc) => PasswordHash::new(phc).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            }),
            Secret::Password(hash) => same_secret(&token_hash(password), hash),
        }
    }

    /// Starts a session and returns its token (for the cookie).
    pub fn open_session(&self) -> String {
        let token = new_id();
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, until| *until > now);
        sessions.insert(token_hash(&token), now + Duration::from_secs(SESSION_SECS));
        token
    }

    /// Whether the request carries a live session cookie.
    pub fn has_session(&self, headers: &HeaderMap) -> bool {
        let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
            return false;
        };
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(&token_hash(token))
            .is_some_and(|until| *until > Instant::now())
    }

    pub fn close_session(&self, headers: &HeaderMap) {
        if let Some(token) = cookie_value(headers, SESSION_COOKIE) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.remove(&token_hash(token));
        }
    }

    /// A paused booth makes no new rooms and lets no new phone join; visits under way
    /// finish.
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
}

/// Makes the start-up password when the config has no hash, and returns it for the
/// banner. `None` when a hash is configured.
pub fn startup_password(config: &mut Config) -> Option<String> {
    if !config.admin.password_hash.is_empty() {
        return None;
    }
    Some(
        config
            .admin
            .password
            .get_or_insert_with(random_password)
            .clone(),
    )
}

/// 16 letters and digits without look-alikes (no 0/O, 1/l/I): about 80 bits, typeable.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..16)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// An argon2id hash (PHC string) of `password`, for `[admin] password_hash`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use articket_config::is_argon2_hash;

    #[test]
    fn a_configured_argon2_hash_accepts_only_its_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(is_argon2_hash(&hash), "{hash}");
        assert!(!is_argon2_hash("$2b$10$notargon"));
        assert!(!is_argon2_hash("plain text"));
        let op = Operator::new(&AdminConfig {
            password_hash: hash,
            ..Default::default()
        });
        assert!(op.check_password("correct horse"));
        assert!(!op.check_password("correct horse "));
        assert!(!op.check_password(""));
    }

    #[test]
    fn the_startup_password_is_made_once_and_checked() {
        let mut config = Config::default();
        let p = startup_password(&mut config).unwrap();
        assert_eq!(p.len(), 16);
        assert_eq!(startup_password(&mut config).as_ref(), Some(&p));
        let op = Operator::new(&config.admin);
        assert!(op.check_password(&p));
        assert!(!op.check_password(&p[1..]));
        config.admin.password_hash = hash_password("x").unwrap();
        assert_eq!(startup_password(&mut config), None);
    }

    #[test]
    fn sessions_are_found_by_cookie_and_end_on_logout() {
        let op = Operator::new(&AdminConfig {
            password: Some("pw".into()),
            ..Default::default()
        });
        let token = op.open_session();
        let mut headers = HeaderMap::new();
        assert!(!op.has_session(&headers));
        headers.insert(
            axum::http::header::COOKIE,
            format!("x=1; {SESSION_COOKIE}={token}").parse().unwrap(),
        );
        assert!(op.has_session(&headers));
        op.close_session(&headers);
        assert!(!op.has_session(&headers));
    }
}
