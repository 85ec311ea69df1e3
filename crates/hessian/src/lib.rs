//! curvscope-hessian: curvature as linear operators, and the spectrum tools that run on them.
//!
//! Everything takes a [`LinearOperator`] (a symmetric A known through products A·x), such as
//! the Hessian of a model (curvscope-model's `HessianOperator`), the SGD noise covariance Σ
//! (curvscope-metrics' `CovarianceOperator`), a [`DenseOperator`] or a function
//! ([`FnOperator`]). The crate knows nothing of networks and depends on no deep-learning
//! framework (nalgebra, faer and the lanczos crate do its dense work), so any operator of
//! one's own builds on it without burn.
//! - [`extreme_eigenpairs`]: extreme eigenpairs by Lanczos with full reorthogonalization,
//!   seeded, with a residual-based convergence test;
//! - [`full_spectrum`] / [`dense_matrix`]: exact answers for small D;
//! - [`dense_eigenvalues`]: every eigenvalue up to D ≈ 12,000 (f64, faer's blocked solver);
//! - [`hutchinson`], [`hutch_plus_plus`], [`deflated_hutchinson`]: Tr(A) with standard errors;
//! - [`slq`]: spectral density and moments by stochastic Lanczos quadrature.
//!
//! All randomness comes from ChaCha8 seeded by a `u64`, on a stream of the crate's own (apart
//! from the stream 0 on which a user's `ChaCha8Rng::seed_from_u64` draws test matrices); no
//! reduction depends on the number of threads, so a seed reproduces a result bit for bit. The one exception is faer's
//! blocked eigensolver behind [`dense_eigenvalues`], which splits its work by rayon's thread
//! count: its eigenvalues agree across thread counts to rounding, not bit for bit (on a
//! 700×700 matrix λ₁ differed in the 15th digit between 1 and 2 threads), and repeat exactly at
//! a fixed count. The estimators draw from one stream per seed (Hutchinson's probes are
//! Hutch++'s sketch and SLQ's Rademacher probes), so give independent estimates different
//! seeds, as curvscope-metrics' `purpose_seed` does.

// Every public item is documented: CI's clippy (`-D warnings`) keeps it so.
#![warn(missing_docs)]

mod dense;
mod density;
mod eigen;
mod estimate;
mod krylov;
mod linalg;
pub mod non_finite;
mod operator;
mod spectrum;
mod trace;

pub use dense::{asymmetry, dense_matrix, full_spectrum, DenseOperator, FullSpectrum};
pub use density::{slq, Density, ProbeKind, Quadrature, Slq, SlqOptions};
pub use eigen::{
    converged_prefix, extreme_eigenpairs, krylov_size, true_residuals, Eigenpairs, LanczosOptions,
    Which,
};
pub use estimate::{Estimate, Estimator};
pub use krylov::BasisStore;
pub use linalg::{dot, norm, symmetric_eigen};
pub use operator::{
    trailing_block_products, AsHermitian, CountingOperator, FnOperator, LinearCombination,
    LinearOperator,
};
pub use spectrum::{dense_eigenvalues, dense_spectrum_bytes, DenseSpectrum, DenseSpectrumError};
pub use trace::{
    deflated_hutchinson, hutch_plus_plus, hutchinson, Probes, TraceEstimate, UNTIL_MIN_PROBES,
};
