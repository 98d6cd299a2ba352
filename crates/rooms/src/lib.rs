//! Rooms: one private room per visit, reachable only by whoever holds its capabilities.
//!
//! This crate owns the identity side of a visit: unguessable ids and secrets (128 random
//! bits each, from the OS), the one-way hashes under which tokens are stored (a leaked
//! database gives away no token), and the [`EventHub`] that fans each room's events out
//! to that room's sockets and to no one else's.

mod hub;

pub use hub::{EventHub, Subscription};

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh 128-bit random value as 32 lowercase hex digits. Used for room ids, visit
/// ids, join secrets, tokens and file names alike.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// True when `s` has the exact shape [`new_id`] produces. Checking the shape before any
/// lookup keeps junk out of the database and out of file paths.
pub fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The stored form of a secret or token. Lookups compare hashes, never raw tokens.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two strings in time independent of where they first differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_well_formed() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| is_id(id)));
    }

    #[test]
    fn only_exact_ids_pass_the_shape_check() {
        assert!(is_id("0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde",
            "../../../../etc/passwd0000000000",
            "0123456789abcdef0123456789abcdeg",
        ] {
            assert!(!is_id(bad), "{bad}");
        }
    }

    #[test]
    fn token_hashes_are_stable_and_distinct() {
        assert_eq!(token_hash("a"), token_hash("a"));
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_eq!(token_hash("a").len(), 64);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
