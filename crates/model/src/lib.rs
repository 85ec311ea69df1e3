//! curvscope-model: burn models, datasets, checkpoints, and the flat-parameter objective
//! L(θ), ∇L(θ), exact H(θ)·v and per-sample gradients over any burn backend.

mod arch;
mod burn_objective;
pub mod net;
mod objective;

pub use arch::{Activation, ArchSpec, Init};
pub use burn_objective::{BurnObjective, Targets};
pub use objective::Objective;

/// The CPU backends: burn's `ndarray` in single and double precision.
pub type CpuF32 = burn::backend::NdArray<f32>;
/// See [`CpuF32`].
pub type CpuF64 = burn::backend::NdArray<f64>;
