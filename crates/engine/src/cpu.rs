//! Process settings for painting on the CPU, and what the CPU kernels share (weights
//! read as f32, the output pointer their tasks write through).
//!
//! A UNet step allocates and frees hundreds of tensors of a few to tens of megabytes
//! (TAESD's at full resolution are 64 MiB). glibc's malloc serves blocks over its mmap
//! threshold (32 MiB at most) with fresh `mmap`s and hands freed heap tops back to the
//! kernel, so every step paid for page faults and for the kernel clearing the same
//! pages again: a quarter of the CPU time of an SD-Turbo painting once its products ran
//! on AMX (docs/benchmarks.md). [`keep_freed_memory`] tells malloc to serve every block
//! from its heaps, in one arena for all threads ([`on_workers`] runs the forward passes
//! on rayon's threads), and keep what is freed there for reuse. The process's peak
//! memory stays what it was (the blocks are the same ones); it is not given back
//! between paintings, which suits a booth that paints all day.

/// A tensor's numbers as f32, flattened: the weights and biases the CPU kernels read
/// from plain memory (packed or kept once per layer).
pub(crate) fn host_f32(t: &candle_core::Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1::<f32>()
}

/// Runs `f` on one of rayon's worker threads while the calling thread waits (at once
/// where the caller is one). A model's forward pass is hundreds of parallel loops; from
/// a thread outside the pool each one is injected into it and the caller sleeps until
/// it is done, two thread switches per loop, while on a worker the loops split their
/// work with the other workers directly. SD 2.1's text encoder (about 300 loops, most
/// of them small) took 94–101 ms on a worker against 103–121 ms from the main thread
/// (`bench gemm`, 2 threads).
pub fn on_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    // `join` called from outside the pool runs both halves inside it.
    rayon::join(f, || ()).0
}

/// Keeps freed memory in the process for the next allocations (once per process; glibc
/// on Linux only, elsewhere nothing). Returns whether malloc took the settings.
pub fn keep_freed_memory() -> bool {
    static DONE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DONE.get_or_init(set)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set() -> bool {
    // Every block from the heap (no mmap: blocks over 32 MiB would otherwise always be
    // mapped afresh), and the heap's free top never trimmed. One arena for every
    // thread: the forward passes run on rayon's workers ([`on_workers`]), and glibc
    // gives other threads arenas of mapped heaps of at most 64 MiB, which it unmaps
    // when they empty (so their pages fault again).
    // SAFETY: mallopt only changes malloc's parameters (glibc locks its arenas).
    let (mmap, trim, arenas) = unsafe {
        (
            libc::mallopt(libc::M_MMAP_MAX, 0),
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX),
            libc::mallopt(libc::M_ARENA_MAX, 1),
        )
    };
    let ok = mmap == 1 && trim == 1 && arenas == 1;
    if !ok {
        tracing::warn!("malloc refused to keep freed memory: CPU paintings fault more pages");
    }
    ok
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set() -> bool {
    false
}

/// An output buffer not yet written: no zeroing pass for what a kernel overwrites.
pub(crate) struct Uninit<T>(Vec<std::mem::MaybeUninit<T>>);

impl<T: Copy> Uninit<T> {
    pub(crate) fn new(len: usize) -> Uninit<T> {
        let mut v = Vec::with_capacity(len);
        // SAFETY: MaybeUninit needs no initialisation.
        unsafe { v.set_len(len) };
        Uninit(v)
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut T {
        self.0.as_mut_ptr().cast()
    }

    /// The buffer as a slice for a kernel to write (and not read) every element of.
    ///
    /// # Safety
    /// Nothing may read an element before it is written.
    pub(crate) unsafe fn for_writing(&mut self) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.as_mut_ptr(), self.0.len())
    }

    /// # Safety
    /// Every element must have been written.
    pub(crate) unsafe fn assume_init(self) -> Vec<T> {
        let mut v = std::mem::ManuallyDrop::new(self.0);
        Vec::from_raw_parts(v.as_mut_ptr().cast(), v.len(), v.capacity())
    }
}

/// A buffer of `len` elements as `write` leaves it, with no zeroing pass first.
///
/// # Safety
/// `write` must write every element and read none before writing it.
pub(crate) unsafe fn written<T: Copy>(len: usize, write: impl FnOnce(&mut [T])) -> Vec<T> {
    let mut buf = Uninit::new(len);
    write(buf.for_writing());
    buf.assume_init()
}

/// A pointer to a kernel's output that its tasks share; each writes its own rows or
/// pixels only.
#[derive(Clone, Copy)]
pub(crate) struct Out(pub(crate) *mut f32);
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The output at `offset` (a method, so closures capture the whole `Out`).
    ///
    /// # Safety
    /// `offset` must lie inside the output.
    pub(crate) unsafe fn at(&self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// `x.transpose(d, d + 1)` made contiguous: the dimensions before d are a batch, those
/// after d + 1 a unit that moves whole. On the CPU in f32 one blocked pass; candle's
/// copy of a transposed view walks strided indices element by element, and the UNet's
/// transformers turned (C, H·W) images into tokens and back, and split and joined the
/// attention heads, that way: about 50 ms of a 1.3 s SD-Turbo UNet step
/// (docs/benchmarks.md). Elsewhere candle's transpose and copy.
pub fn swap_adjacent(
    x: &candle_core::Tensor,
    d: usize,
) -> candle_core::Result<candle_core::Tensor> {
    use candle_core::{CpuStorage, DType, Layout, Shape};
    struct Swap(usize);
    impl candle_core::CustomOp1 for Swap {
        fn name(&self) -> &'static str {
            "articket-swap-adjacent"
        }

        fn cpu_fwd(&self, x: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
            use rayon::prelude::*;
            let (CpuStorage::F32(x), Some((x0, x1))) = (x, l.contiguous_offsets()) else {
                candle_core::bail!("swap: contiguous f32 only");
            };
            let dims = l.shape().dims();
            let d = self.0;
            let (p, q) = (dims[d], dims[d + 1]);
            let unit: usize = dims[d + 2..].iter().product();
            let x = &x[x0..x1];
            let image = p * q * unit;
            let mut out_dims = dims.to_vec();
            out_dims.swap(d, d + 1);
            // SAFETY: every element is written: each task one output image's rows j of
            // q, each row all p units.
            let out = unsafe {
                written(x.len(), |out: &mut [f32]| {
                    if image == 0 {
                        return;
                    }
                    // Rows of the output (j, all i) in bands of B, so a band's reads of
                    // x stay within B units of each input row.
                    const B: usize = 16;
                    out.par_chunks_mut(image)
                        .zip(x.par_chunks(image))
                        .for_each(|(out, x)| {
                            out.par_chunks_mut(B * p * unit)
                                .enumerate()
                                .for_each(|(band, out)| {
                                    let j0 = band * B;
                                    let rows = out.len() / (p * unit);
                                    for i0 in (0..p).step_by(B) {
                                        for j in j0..j0 + rows {
                                            let row = &mut out[(j - j0) * p * unit..][..p * unit];
                                            for i in i0..(i0 + B).min(p) {
                                                row[i * unit..][..unit].copy_from_slice(
                                                    &x[(i * q + j) * unit..][..unit],
                                                );
                                            }
                                        }
                                    }
                                });
                        });
                })
            };
            Ok((CpuStorage::F32(out), Shape::from(out_dims)))
        }
    }
    let rank = x.rank();
    if d + 1 >= rank {
        candle_core::bail!("swap: no dimension {} in a tensor of rank {rank}", d + 1);
    }
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&Swap(d))
    } else {
        x.transpose(d, d + 1)?.contiguous()
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    /// From a thread outside the pool the work moves onto a worker and its result comes
    /// back; on a worker it runs where it is.
    #[test]
    fn work_runs_on_the_pools_workers() {
        assert_eq!(
            rayon::current_thread_index(),
            None,
            "the test thread is outside"
        );
        let (index, sum) = super::on_workers(|| {
            use rayon::prelude::*;
            let sum: u64 = (0..1000u64).into_par_iter().sum();
            (rayon::current_thread_index(), sum)
        });
        assert!(index.is_some(), "ran on a worker");
        assert_eq!(sum, 499_500);
        let (outer, inner) = super::on_workers(|| {
            let outer = rayon::current_thread_index();
            (outer, super::on_workers(rayon::current_thread_index))
        });
        assert_eq!(outer, inner, "nested: the same worker, no second hop");
    }

    /// The blocked swap is candle's transpose made contiguous: units of one and of
    /// several numbers, sides that are not whole bands, a batch, and the first two
    /// dimensions; a dimension past the last is refused.
    #[test]
    fn swapping_adjacent_dimensions_is_candles_transpose() {
        let dev = Device::Cpu;
        for (dims, d) in [
            (vec![2, 37, 70], 1),
            (vec![2, 5, 33, 7], 1),
            (vec![3, 4], 0),
            (vec![1, 64, 5, 64], 1),
            (vec![2, 3, 17, 1], 2),
        ] {
            let x = Tensor::randn(0f32, 1.0, dims.as_slice(), &dev).unwrap();
            let want = x.transpose(d, d + 1).unwrap().contiguous().unwrap();
            let got = super::swap_adjacent(&x, d).unwrap();
            assert_eq!(got.dims(), want.dims(), "{dims:?} at {d}");
            let diff = crate::max_abs(&(got - want).unwrap()).unwrap();
            assert_eq!(diff, 0.0, "{dims:?} at {d}");
        }
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &dev).unwrap();
        assert!(super::swap_adjacent(&x, 1).is_err());
    }
}
