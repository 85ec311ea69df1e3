//! Wu et al.'s noisy gradient descent that generalizes as SGD (ICML 2020, Fig. 1(a)): gradient
//! descent with noise of SGD's covariance but another law (Gaussian, Bernoulli, Fisher) on a
//! small FashionMNIST training set, against GD and SGD, plus GD on L + (1/N)Σσ_iℓ_i.

use crate::dynamics::{DescentOptions, Dynamic};

/// The dynamics of the comparison: GD, SGD, the M-SGD family with noise matched to SGD's
/// (Gaussian Σ/b, Fisher F/b, Bernoulli (1 − b/N)·F/b, Fisher from b samples), and
/// GD-Rademacher (noise F/N, fixed by the data; see [`crate::rademacher_weights`]).
pub const MSGD_DYNAMICS: [Dynamic; 7] = [
    Dynamic::Gd,
    Dynamic::Sgd,
    Dynamic::MsgdGaussian,
    Dynamic::MsgdFisher,
    Dynamic::MsgdBernoulli,
    Dynamic::MsgdFisherB,
    Dynamic::GdRademacher,
];
/// Training images: the first 1,000 of the bundled FashionMNIST training set. The authors'
/// code trains on 1,000 images too, taken from the test file (docs/REPRODUCTION.md, msgd).
pub const MSGD_TRAIN_N: usize = 1000;
/// Learning rate and batch of Zhu et al.'s FashionMNIST experiments (same group, same LeNet),
/// lr 0.07 with b = 20: Wu et al.'s code runs lr 0.01 on raw 0–255 pixels, which says little
/// about a step on [0, 1] pixels.
pub const MSGD_LR: f64 = 0.07;
/// The batch size b: SGD's minibatch and the noise scale of the M-SGD family.
pub const MSGD_BATCH: usize = 20;

/// Iterations per run: a reduced scale that keeps the seven runs within ~15 minutes on two
/// shared cores (a full-batch LeNet step on 1,000 images takes ~0.3 s there); the length is a
/// flag of `curvscope reproduce msgd`.
pub const MSGD_STEPS: u64 = 400;
/// Test accuracy is measured every this many steps (and at both ends).
pub const MSGD_EVAL_EVERY: u64 = 20;
/// Test images: the first 2,000 of the 10,000 (accuracy standard error ≤ 1.1 %); a flag too.
pub const MSGD_TEST_N: usize = 2000;

/// The settings of one run of `dynamic`: batch [`MSGD_BATCH`], noise from the run's `seed`;
/// the M-SGD dynamics draw fresh weights every step and need no structure estimates.
///
/// ```
/// use curvscope_metrics::{msgd_options, Dynamic, MSGD_BATCH};
/// let options = msgd_options(Dynamic::MsgdBernoulli, 7);
/// assert_eq!((options.batch, options.seed), (MSGD_BATCH, 7));
/// ```
pub fn msgd_options(dynamic: Dynamic, seed: u64) -> DescentOptions {
    DescentOptions {
        seed,
        ..DescentOptions::new(dynamic, MSGD_BATCH)
    }
}
