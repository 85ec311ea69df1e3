//! curvscope-model: burn models, datasets, checkpoints, and the flat-parameter objective
//! L(θ), ∇L(θ), exact H(θ)·v and per-sample gradients over any burn backend, whose Hessian
//! [`HessianOperator`] hands to every algorithm of curvscope-hessian.

// Every public item is documented: CI's clippy (`-D warnings`) keeps it so.
#![warn(missing_docs)]

mod arch;
mod basis_store;
mod bundled;
mod burn_objective;
pub mod checkpoint;
pub mod cifar;
pub mod dataset;
mod distinct_keys;
pub mod distributed;
pub mod files;
mod hessian_operator;
pub mod idx;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod kernel_cache;
pub mod net;
mod normalize;
pub mod npz;
mod objective;
pub mod sequential;
pub mod svhn;
mod synthetic;
mod transfer;

pub use arch::{Activation, ArchError, ArchSpec, Init, MAX_DIM};
pub use basis_store::DeviceBasis;
pub use bundled::{
    default_data_dir, digits, fashion_corrupted, fashion_corrupted_on, fashion_test, fashion_train,
    DataDir, DATA_DIR_VAR,
};
pub use burn_objective::{
    check_fits, BurnObjective, Precision, GPU_PER_SAMPLE_COPY_BYTES, PREPARED_INPUT_LIMIT,
    SAMPLES_PER_BLOCK,
};
pub use checkpoint::{
    load_checkpoint, save_checkpoint, Checkpoint, CheckpointError, CheckpointMeta, Dtype,
};
pub use dataset::{
    inputs_sha256, labels_sha256, DataError, DataStream, Dataset, DatasetInfo, InputValues, Targets,
};
pub use distributed::{Collective, Distributed, ThreadGroup};
pub use files::format_bytes;
pub use hessian_operator::HessianOperator;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub use kernel_cache::{default_kernel_cache, keep_compiled_kernels};
pub use normalize::Normalize;
pub use npz::{load_npz, NpzError};
pub use objective::Objective;
pub use synthetic::{toy2d, toy2d_on, two_d_halfspace, two_d_halfspace_on, TOY2D_ROTATION};
pub use transfer::{transfers, Transfers};

/// The default CPU backend, burn-flex: measured fastest of burn's CPU backends with nested
/// autodiff intact (docs/PERFORMANCE.md). Its precision is chosen at run time ([`Precision`]).
pub type Cpu = burn::backend::Flex;
/// burn's `ndarray` backend, kept as a cross-check of [`Cpu`] and a benchmark peer.
pub type NdArray = burn::backend::NdArray<f64>;
/// The GPU backend (feature `wgpu`): burn-wgpu on Vulkan; its default device is the first GPU.
/// f32 only: on an NVIDIA H100 the driver failed to compile burn's f64 kernels (exp, log) to
/// SPIR-V. Use it with [`BurnObjective::with_samples_per_block`]`(usize::MAX)`.
///
/// With burn-fusion (burn's default for wgpu): runs of element-wise ops compile into one
/// kernel, which cuts LeNet's kernels per gradient from 154 to 93 and per HVP from 407 to 261
/// (lavapipe, docs/PERFORMANCE.md); on a GPU each kernel costs a dispatch.
#[cfg(feature = "wgpu")]
pub type Gpu = burn::backend::Wgpu;
/// [`Gpu`] without burn-fusion, one kernel per op: the `gpu` bench's peer that shows what
/// fusion saves on a card.
#[cfg(feature = "wgpu")]
pub type GpuUnfused =
    burn::backend::wgpu::CubeBackend<burn::backend::wgpu::WgpuRuntime, f32, i32, u32>;
/// Bytes of the largest tensor (one buffer) the GPU `device` can hold, as CubeCL sizes its
/// memory pages there: the adapter's largest storage buffer (128 MiB on lavapipe), or a quarter
/// of the device's memory where the driver offers 64-bit indexing. Pass it to
/// [`BurnObjective::new_within`]; it initialises the device if nothing has yet.
#[cfg(feature = "wgpu")]
pub fn gpu_largest_buffer(device: &burn::backend::wgpu::WgpuDevice) -> usize {
    use cubecl_runtime::runtime::Runtime;
    let client = burn::backend::wgpu::WgpuRuntime::client(device);
    usize::try_from(client.properties().memory.max_page_size).unwrap_or(usize::MAX)
}

/// Waits until the default device of backend `B` has run the work this thread queued on it
/// (burn and CubeCL keep a queue per thread; [`BurnObjective`] queues from rayon's workers too,
/// and reading a result back waits for what it depends on). With CubeCL's profiler on
/// (`CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=FILE`) each wait on a GPU also writes to FILE
/// a summary of the kernels timed since the last one: the `gpu` bench's `:profile` mode waits
/// after its first calls, after one gradient and after one HVP, so that
/// bench/kernel_profile.py can tell the three apart.
///
/// ```
/// curvscope_model::wait_for_device::<curvscope_model::Cpu>();
/// ```
///
/// # Panics
/// If the device reports a failed execution.
pub fn wait_for_device<B: burn::tensor::backend::Backend>() {
    B::sync(&Default::default()).expect("the device ran its queued work");
}

/// burn's CUDA backend (feature `cuda`, NVIDIA only), benchmarked beside [`Gpu`] on the same
/// card (`benches/gpu.rs`). Not offered by the CLI: its f32 matrix products run in TF32 on
/// Ampere and later (cubek-matmul 0.2), 5e-3 off the CPU (docs/PERFORMANCE.md). Needs the
/// NVIDIA driver and NVRTC at run time, no CUDA toolkit to build (cudarc loads them).
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda;
