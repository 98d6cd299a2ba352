//! Intel AMX (Advanced Matrix Extensions, Sapphire Rapids and later Xeons): eight tile
//! registers of 16 rows × 64 bytes and one instruction, `tdpbf16ps`, that multiplies a
//! 16×32 bf16 tile by a 32×16 one into a 16×16 f32 tile, sixteen times the
//! multiply-adds of an AVX-512 FMA per cycle. OpenVINO (oneDNN) runs bf16 models on it
//! where it exists; so does our bf16 module, on processors that have it.
//!
//! The tiles are used in one fixed shape: C is 32×32 f32 in tiles 0–3, A's 32 rows in
//! tiles 4–5, B's 32 columns in tiles 6–7. Rust has no stable AMX intrinsics, so the
//! few instructions are written out with `asm!`. Linux hands a process the tile state
//! only when it asks (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); [`available`] asks once.

use std::sync::OnceLock;

/// Rows of A per block (two tiles of 16).
pub const ROWS: usize = 32;
/// bf16 pairs of k per tile step (64 bytes a row).
pub const PAIRS: usize = 16;

/// Whether this processor and kernel let us run AMX's bf16 products; the first call
/// asks Linux for the tile state.
pub fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(detect)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use std::arch::x86_64::__cpuid_count;
    // CPUID.(7, 0):EDX bit 22 AMX-BF16, bit 24 AMX-TILE.
    let leaf = __cpuid_count(7, 0);
    let amx = leaf.edx & (1 << 22) != 0 && leaf.edx & (1 << 24) != 0;
    if !amx || !is_x86_feature_detected!("avx512bf16") {
        return false;
    }
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    r == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

/// The tile configuration (`ldtilecfg`'s 64 bytes): palette 1, tiles 0–7 all 16 rows of
/// 64 bytes.
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct Config([u8; 64]);

#[cfg(target_arch = "x86_64")]
fn config() -> Config {
    let mut c = [0u8; 64];
    c[0] = 1;
    for t in 0..8 {
        // Bytes per row (u16 at 16 + 2t), rows (u8 at 48 + t).
        c[16 + 2 * t..18 + 2 * t].copy_from_slice(&64u16.to_le_bytes());
        c[48 + t] = 16;
    }
    Config(c)
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    static CONFIGURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// out (32×32 f32, row-major) = A (32 rows of `steps` × 32 bf16, rows `a_stride` bytes
/// apart) · B (`steps` × 16 pairs of rows, each 32 columns of bf16 pairs: 128 bytes).
///
/// # Safety
/// [`available`] must be true; `a` must cover 32 rows of `steps` × 64 bytes at
/// `a_stride`, and `b` `steps` × 16 rows of 128 bytes.
#[cfg(target_arch = "x86_64")]
pub unsafe fn product(
    a: *const u32,
    a_stride: usize,
    b: *const u32,
    steps: usize,
    out: &mut [f32; ROWS * 32],
) {
    product_to(a, a_stride, b, steps, out.as_mut_ptr(), 32)
}

/// [`product`] stored straight into 32 rows of 32 f32 at `out`, rows `out_rs` floats
/// apart.
///
/// # Safety
/// As [`product`]; `out` must cover the 32 rows.
#[cfg(target_arch = "x86_64")]
pub unsafe fn product_to(
    a: *const u32,
    a_stride: usize,
    b: *const u32,
    steps: usize,
    out: *mut f32,
    out_rs: usize,
) {
    use std::arch::asm;
    CONFIGURED.with(|done| {
        if !done.get() {
            let cfg = config();
            asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly));
            done.set(true);
        }
    });
    asm!(
        "tilezero tmm0",
        "tilezero tmm1",
        "tilezero tmm2",
        "tilezero tmm3",
        options(nostack, nomem)
    );
    let (a2, b_stride) = (a.cast::<u8>().add(16 * a_stride), 128usize);
    let a = a.cast::<u8>();
    let b = b.cast::<u8>();
    for s in 0..steps {
        let (ar, br) = (s * 64, s * PAIRS * b_stride);
        asm!(
            "tileloadd tmm4, [{a} + {as_}*1]",
            "tileloadd tmm5, [{a2} + {as_}*1]",
            "tileloadd tmm6, [{b} + {bs}*1]",
            "tileloadd tmm7, [{b2} + {bs}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            a = in(reg) a.add(ar),
            a2 = in(reg) a2.add(ar),
            b = in(reg) b.add(br),
            b2 = in(reg) b.add(br + 64),
            as_ = in(reg) a_stride,
            bs = in(reg) b_stride,
            options(nostack, readonly)
        );
    }
    let (o, cs) = (out.cast::<u8>(), out_rs * 4);
    asm!(
        "tilestored [{c0} + {cs}*1], tmm0",
        "tilestored [{c1} + {cs}*1], tmm1",
        "tilestored [{c2} + {cs}*1], tmm2",
        "tilestored [{c3} + {cs}*1], tmm3",
        c0 = in(reg) o,
        c1 = in(reg) o.add(64),
        c2 = in(reg) o.add(16 * cs),
        c3 = in(reg) o.add(16 * cs + 64),
        cs = in(reg) cs,
        options(nostack)
    );
}

#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn product(_: *const u32, _: usize, _: *const u32, _: usize, _: &mut [f32; ROWS * 32]) {
    unreachable!("AMX is x86-64 only")
}

#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn product_to(_: *const u32, _: usize, _: *const u32, _: usize, _: *mut f32, _: usize) {
    unreachable!("AMX is x86-64 only")
}
