//! What the convolution kernels share: the matrix product (the `gemm` crate's kernels,
//! which pick AVX-512, AVX2 or SSE at run time) and the activation that follows it.

/// What follows a convolution, applied while its output is still in cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    None,
    Clip(f32, f32),
}

impl Act {
    #[inline(always)]
    pub(crate) fn apply(self, v: f32) -> f32 {
        match self {
            Act::None => v,
            Act::Clip(lo, hi) => v.max(lo).min(hi),
        }
    }
}

/// dst (m×n, rows `dst_rs` apart) = lhs (m×k, rows `lhs_rs` apart) · rhs (k×n, rows
/// `rhs_rs` apart), all row-major, on the calling thread; added to what `dst` holds when
/// `add`.
///
/// # Safety
/// Every pointer must cover its matrix at the given strides.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    lhs: *const f32,
    lhs_rs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    add: bool,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        add,
        lhs,
        1,
        lhs_rs as isize,
        rhs,
        1,
        rhs_rs as isize,
        if add { 1.0 } else { 0.0 },
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// `$vis fn $name(args)` runs `$generic(args)` (an `#[inline(always)]` function) compiled
/// for the widest vector unit the CPU has: AVX-512, AVX2 with FMA, or the baseline.
macro_rules! widest {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $generic:ident) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    $generic($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $generic($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the features this copy is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $generic($($arg),*)
        }
    };
}
pub(crate) use widest;
