//! The process's allocator, shared by the `curvscope` binary and its benches (included with
//! `#[path]`), so that the benches measure what users run.

/// burn allocates a fresh buffer per tensor op; mimalloc reuses freed ones where glibc hands
/// them back to the OS and page-faults them in again (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_decommits`: its place in `mi_option_t` (include/mimalloc.h of mimalloc 3,
/// which libmimalloc-sys 0.1.49 builds; the crate names no constant for it). A test in main.rs
/// checks it (there, since the benches compile this file as a test target without running it).
pub const PURGE_DECOMMITS: libmimalloc_sys::mi_option_t = 5;

/// Makes mimalloc purge the free memory it holds by resetting it (`MADV_FREE`: the kernel takes
/// the pages back when it needs them) rather than decommitting it (`MADV_DONTNEED`: the next
/// use page-faults and zeroes them again). `MIMALLOC_PURGE_DECOMMITS=1` in the environment
/// still restores decommits. Call it first in `main`: mimalloc's options are not thread-safe.
///
/// The cost: reset pages count in the resident set until the kernel takes them, so `top` and
/// `/usr/bin/time` may show more than is in use, though no more than the process has held.
///
/// Why: at a D of millions every D-vector is megabytes, and a freed one was often purged
/// before its reuse. On VGG-11 (2 cores, 2026-12-05, four pairs of runs) Σ's exact statistics
/// of 16 samples took 1.96–2.22 s with decommits and 1.53–1.72 s without, its 16 per-sample
/// gradients 0.94–1.34 s and 0.87–1.04 s (docs/PERFORMANCE.md).
pub fn purge_lazily() {
    // SAFETY: an integer option's default, set before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DECOMMITS, 0) }
}
