//! curvscope-model: burn models, datasets, checkpoints, and the flat-parameter objective
//! L(θ), ∇L(θ), exact H(θ)·v and per-sample gradients over any burn backend.

mod objective;

pub use objective::Objective;
