//! A fast e^x for the CPU's softmax and SiLU, and erf for GELU: libm's `expf` and
//! `erff` are a call per element and do not vectorise (docs/benchmarks.md).

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

/// erf(x) to about 5e-7 absolute: Abramowitz and Stegun's 7.1.26,
/// 1 − t·(a₁ + a₂t + … + a₅t⁴)·e^(−x²) with t = 1/(1 + p|x|), odd in x. Arithmetic
/// and [`fast_exp`] only, so a loop over it vectorises (the exact GELU of the UNet's
/// feed-forward layers).
#[inline(always)]
pub(crate) fn fast_erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_7) * t - 0.284_496_72) * t
        + 0.254_829_6)
        * t;
    let y = 1.0 - poly * fast_exp(-(a * a).min(87.0));
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// The exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)), through [`fast_erf`].
#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + fast_erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// out = the exact GELU of x, element by element (CLIP's text encoders in OpenCLIP's
/// shape), or x·σ(1.702·x) when `quick` (OpenAI CLIP's `quick_gelu`). With AVX-512
/// where the processor has it; candle's `gelu_erf` takes a scalar erf per element.
pub(crate) fn gelu_into(x: &[f32], out: &mut [f32], quick: bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has the feature.
        unsafe { gelu_avx512(x, out, quick) };
        return;
    }
    gelu_plain(x, out, quick);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn gelu_avx512(x: &[f32], out: &mut [f32], quick: bool) {
    gelu_plain(x, out, quick);
}

#[inline(always)]
fn gelu_plain(x: &[f32], out: &mut [f32], quick: bool) {
    if quick {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = x / (1.0 + fast_exp((-1.702 * x).min(87.0)));
        }
    } else {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = gelu(x);
        }
    }
}

/// out's rows (`half` wide) = x's value halves × GELU(its gate halves) (x's rows
/// `2·half` wide, the values first): GEGLU. With AVX-512 where the processor has it
/// (the same code compiled 16 wide; the portable build targets SSE2).
pub(crate) fn geglu_rows(x: &[f32], out: &mut [f32], half: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the processor has the feature.
        unsafe { geglu_avx512(x, out, half) };
        return;
    }
    geglu_plain(x, out, half);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn geglu_avx512(x: &[f32], out: &mut [f32], half: usize) {
    geglu_plain(x, out, half);
}

#[inline(always)]
fn geglu_plain(x: &[f32], out: &mut [f32], half: usize) {
    for (row, out) in x.chunks_exact(2 * half).zip(out.chunks_exact_mut(half)) {
        let (value, gate) = row.split_at(half);
        for ((o, &v), &g) in out.iter_mut().zip(value).zip(gate) {
            *o = v * gelu(g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_erf_and_gelu_are_accurate() {
        // libm's erf in f64 as the reference.
        for i in -8000..=8000 {
            let x = i as f32 * 0.001;
            let want = libm::erf(x as f64);
            let got = fast_erf(x) as f64;
            assert!((got - want).abs() < 6e-7, "erf({x}): {got} vs {want}");
            let want = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2));
            let got = gelu(x) as f64;
            assert!(
                (got - want).abs() < 6e-7 * (1.0 + (x as f64).abs()),
                "gelu({x}): {got} vs {want}"
            );
        }
        assert_eq!(fast_erf(30.0), 1.0);
        assert_eq!(fast_erf(-30.0), -1.0);
        assert_eq!(gelu(-30.0), 0.0);
    }

    /// The vector forms over a slice: the exact GELU, and the quick one, x·σ(1.702x),
    /// against f64 (both tails and an odd length, past a whole vector).
    #[test]
    fn the_activations_over_a_slice_are_accurate() {
        let x: Vec<f32> = (-1001..=1001).map(|i| i as f32 * 0.03).collect();
        let mut out = vec![f32::NAN; x.len()];
        gelu_into(&x, &mut out, false);
        for (&x, &got) in x.iter().zip(&out) {
            let want = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2));
            assert!(
                (got as f64 - want).abs() < 1e-6 * (1.0 + (x as f64).abs()),
                "gelu({x}): {got}"
            );
        }
        gelu_into(&x, &mut out, true);
        for (&x, &got) in x.iter().zip(&out) {
            let want = x as f64 / (1.0 + (-1.702 * x as f64).exp());
            assert!(
                (got as f64 - want).abs() < 1e-6 * (1.0 + (x as f64).abs()),
                "quick gelu({x}): {got}"
            );
        }
    }

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
