//! Process settings for painting on the CPU, and what the CPU kernels share (weights
//! read as f32, the output pointer their tasks write through).
//!
//! A UNet step allocates and frees hundreds of tensors of a few to tens of megabytes
//! (TAESD's at full resolution are 64 MiB). glibc's malloc serves blocks over its mmap
//! threshold (32 MiB at most) with fresh `mmap`s and hands freed heap tops back to the
//! kernel, so every step paid for page faults and for the kernel clearing the same
//! pages again: a quarter of the CPU time of an SD-Turbo painting once its products ran
//! on AMX (docs/benchmarks.md). [`keep_freed_memory`] tells malloc to serve every block
//! from its heaps and keep what is freed there for reuse. The process's peak memory
//! stays what it was (the blocks are the same ones); it is not given back between
//! paintings, which suits a booth that paints all day.

/// A tensor's numbers as f32, flattened: the weights and biases the CPU kernels read
/// from plain memory (packed or kept once per layer).
pub(crate) fn host_f32(t: &candle_core::Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1::<f32>()
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
    // mapped afresh), and the heap's free top never trimmed.
    // SAFETY: mallopt only changes malloc's parameters (glibc locks its arenas).
    let (mmap, trim) = unsafe {
        (
            libc::mallopt(libc::M_MMAP_MAX, 0),
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX),
        )
    };
    let ok = mmap == 1 && trim == 1;
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
