//! Wu et al.'s noisy gradient descent that generalizes as SGD (ICML 2020, Fig. 1(a)): gradient
//! descent with noise of SGD's covariance but another law (Gaussian, Bernoulli, Fisher) on a
//! small FashionMNIST training set, against GD and SGD, plus GD on L + (1/N)Σσ_iℓ_i.

use crate::dynamics::{DescentOptions, Dynamic};

/// The dynamics of the comparison: GD, SGD, the M-SGD family with noise matched to SGD's
/// (Gaussian Σ/b, Fisher F/b, Bernoulli (1 − b/N)·F/b, Fisher-B F/b and Cov-B Σ/b on
/// [`MSGD_NOISE_SAMPLES`] samples), and GD-Rademacher (noise F/N, fixed by the data; see
/// [`crate::rademacher_weights`]).
pub const MSGD_DYNAMICS: [Dynamic; 8] = [
    Dynamic::Gd,
    Dynamic::Sgd,
    Dynamic::MsgdGaussian,
    Dynamic::MsgdFisher,
    Dynamic::MsgdBernoulli,
    Dynamic::MsgdFisherB,
    Dynamic::MsgdCovB,
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

/// B of M-SGD Fisher-B and Cov-B: the distinct samples their noise weights fall on each step,
/// the authors' `--noisesize` for Fisher-B (`gdStoF.py`). Their Cov-B default, B = N, is
/// M-SGD Gaussian's law, so Cov-B takes Fisher-B's B here.
pub const MSGD_NOISE_SAMPLES: usize = 100;
/// Iterations per run: a reduced scale that keeps the eight runs within ~20 minutes on two
/// shared cores (a full-batch LeNet step on 1,000 images takes ~0.3 s there); the length is a
/// flag of `curvscope reproduce msgd`.
pub const MSGD_STEPS: u64 = 400;
/// Test accuracy is measured every this many steps (and at both ends).
pub const MSGD_EVAL_EVERY: u64 = 20;
/// Test images: the first 2,000 of the 10,000 (accuracy standard error ≤ 1.1 %); a flag too.
pub const MSGD_TEST_N: usize = 2000;

/// The settings of one run of `dynamic`: batch [`MSGD_BATCH`], noise from the run's `seed`,
/// Fisher-B and Cov-B on [`MSGD_NOISE_SAMPLES`] samples; the M-SGD dynamics draw fresh weights
/// every step and need no structure estimates.
///
/// ```
/// use curvscope_metrics::{msgd_options, Dynamic, MSGD_BATCH};
/// let options = msgd_options(Dynamic::MsgdBernoulli, 7);
/// assert_eq!((options.batch, options.seed, options.noise_samples), (MSGD_BATCH, 7, None));
/// assert_eq!(msgd_options(Dynamic::MsgdCovB, 7).noise_samples, Some(100));
/// ```
pub fn msgd_options(dynamic: Dynamic, seed: u64) -> DescentOptions {
    let subset = matches!(dynamic, Dynamic::MsgdFisherB | Dynamic::MsgdCovB);
    DescentOptions {
        seed,
        noise_samples: subset.then_some(MSGD_NOISE_SAMPLES),
        ..DescentOptions::new(dynamic, MSGD_BATCH)
    }
}
