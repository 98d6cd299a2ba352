//! The one seed rule of every Stable Diffusion backend (A1111, ComfyUI, our engine).

use articket_style::Painter;

use crate::settings::SeedPolicy;

/// The seed of one painting: with `seed = "visit"` the same visit and painter always get
/// the same seed (a retry paints the same picture) and the four painters different
/// ones; with `seed = "random"` a fresh one for every request. Either way a number in
/// 0..2³¹, which every server reads the same way (A1111 takes it as given, ComfyUI's
/// KSampler and our engine too).
pub fn seed_of(policy: SeedPolicy, visit_seed: u64, painter: Painter) -> u64 {
    match policy {
        SeedPolicy::Visit => painter_seed(visit_seed, painter),
        SeedPolicy::Random => rand::random::<u64>() >> 33,
    }
}

/// One painter's seed for a visit: a mix of the visit's seed and the painter's place.
fn painter_seed(visit_seed: u64, painter: Painter) -> u64 {
    let index = Painter::ALL.iter().position(|&p| p == painter).unwrap_or(0) as u64;
    let mixed = (visit_seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    mixed >> 33
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visit_seeds_are_stable_distinct_per_painter_and_31_bit() {
        let seeds: Vec<u64> = Painter::ALL
            .iter()
            .map(|&p| seed_of(SeedPolicy::Visit, 42, p))
            .collect();
        let again: Vec<u64> = Painter::ALL
            .iter()
            .map(|&p| seed_of(SeedPolicy::Visit, 42, p))
            .collect();
        assert_eq!(seeds, again, "a retry paints the same picture");
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), Painter::ALL.len());
        assert!(seeds.iter().all(|&s| s < 1 << 31));
        assert_ne!(seed_of(SeedPolicy::Visit, 43, Painter::ALL[0]), seeds[0]);
    }

    #[test]
    fn random_seeds_differ_per_request_and_stay_31_bit() {
        let seeds: Vec<u64> = (0..64)
            .map(|_| seed_of(SeedPolicy::Random, 42, Painter::Picasso))
            .collect();
        assert!(seeds.iter().all(|&s| s < 1 << 31), "{seeds:?}");
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert!(unique.len() > 60, "fresh seeds: {seeds:?}");
        assert!(
            seeds.iter().any(|&s| s >= 1 << 30),
            "the whole range is used"
        );
    }
}
