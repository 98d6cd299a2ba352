//! A fast e^x for the CPU's softmax and SiLU: libm's `expf` is a call per element
//! and does not vectorise (docs/benchmarks.md).

/// e^x for -87 ≤ x ≤ 87 (softmax after subtracting the row's maximum; SiLU's e^-y, the
/// argument clamped), to about 2e-7 relative:
/// x = i·ln 2 + r with r in [-ln 2/2, ln 2/2] (ln 2 in two parts, so r is exact enough),
/// 2^i built in the exponent bits and e^r by Cephes' degree-5 polynomial for `expf`.
/// Integer and float arithmetic only, so the loop vectorises, where `f32::exp` is a
/// libm call per element and `as i32` a saturating conversion.
#[inline(always)]
pub(crate) fn fast_exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5 × 2^23 rounds to an integer and leaves it in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let i = shifted - MAGIC;
    let n = shifted.to_bits() as i32 - MAGIC.to_bits() as i32;
    let r = (x - i * LN2_HI) - i * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = r * r * p + r + 1.0;
    f32::from_bits(((n + 127) as u32) << 23) * e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate_where_softmax_and_silu_use_it() {
        for i in -17400..=20000 {
            let x = -(i as f32) * 0.005;
            let (got, want) = (fast_exp(x), x.exp());
            assert!(
                (got - want).abs() <= 1e-6 * want + 1e-30,
                "e^{x}: {got} vs {want}"
            );
        }
    }
}
