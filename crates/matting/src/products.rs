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
/// `rhs_rs` apart), all row-major, on the calling thread.
///
/// # Safety
/// Every pointer must cover its matrix at the given strides.
pub unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    lhs: *const f32,
    lhs_rs: usize,
    rhs: *const f32,
    rhs_rs: usize,
) {
    matmul_into((m, n, k), dst, dst_rs, lhs, lhs_rs, rhs, rhs_rs, false)
}

/// [`matmul`], adding to what `dst` holds when `add`.
///
/// # Safety
/// As [`matmul`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_into(
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
