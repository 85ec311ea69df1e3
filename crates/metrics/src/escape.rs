//! Zhu et al.'s escape experiment (ICML 2019, Sec. 5.1 and Fig. 2): run a dynamic from the sharp
//! minimum of the 2-D toy loss and count the runs that end in the flat minimum's basin.

use curvscope_model::{Objective, Precision};

use crate::dynamics::{minibatch_weights, Descent, DescentOptions, Dynamic};

/// The dynamics of Fig. 2, in the paper's order.
pub const TOY2D_DYNAMICS: [Dynamic; 6] = [
    Dynamic::Gd,
    Dynamic::GldConst,
    Dynamic::GldDiag,
    Dynamic::GldLeading,
    Dynamic::GldHessian,
    Dynamic::GldEigvec1,
];
/// The paper's learning rate for the toy.
pub const TOY2D_LR: f64 = 0.005;
/// Iterations per run.
pub const TOY2D_STEPS: u64 = 500;
/// Runs per dynamic.
pub const TOY2D_REPETITIONS: u64 = 100;
/// E‖ε_t‖² = 0.01 of every noisy dynamic at every step, with ε_t the noise of the paper's
/// general dynamics θ_{t+1} = θ_t − η∇L(θ_t) + ε_t (Zhu et al. 2019, Eq. 2): noise in
/// parameter space. [`Descent`] adds its noise to the gradient instead, so the run uses
/// [`gradient_noise_trace`] of it.
pub const TOY2D_NOISE_TRACE: f64 = 0.01;

/// The trace of gradient noise ε_g that gives parameter noise of trace `parameter_trace` under
/// θ_{t+1} = θ_t − η(∇L + ε_g): ε_t = −η·ε_g, so E‖ε_t‖² = η²·E‖ε_g‖² and the gradient noise
/// needs trace `parameter_trace`/η² (Zhu et al. 2019, Eq. 2, where SGD's ε_t has covariance
/// η²Σ/b).
///
/// ```
/// assert_eq!(curvscope_metrics::gradient_noise_trace(0.25, 0.5), 1.0);
/// ```
pub fn gradient_noise_trace(parameter_trace: f64, lr: f64) -> f64 {
    parameter_trace / (lr * lr)
}
/// Every run starts at the sharp minimum.
pub const TOY2D_START: [f64; 2] = [1.0, 1.0];
/// k of GLD leading and GLD Hessian: k = D = 2, so GLD leading's noise is SGD's own covariance
/// Σ_t rescaled to E‖ε_t‖² = 0.01, and GLD Hessian's is H_t rescaled alike.
pub const TOY2D_RANK: usize = 2;

/// The settings of one toy run of `dynamic` with the repetition's `seed`: parameter noise of
/// E‖ε_t‖² = [`TOY2D_NOISE_TRACE`] (gradient noise of [`gradient_noise_trace`] at
/// [`TOY2D_LR`]), k = [`TOY2D_RANK`], and Σ_t and H_t re-estimated at every step (the
/// structures are exact at each θ_t; in 2-D this costs a few HVPs). The batch size only enters
/// through the noise trace, which is fixed, so it is 1.
pub fn toy2d_options(dynamic: Dynamic, seed: u64) -> DescentOptions {
    DescentOptions {
        refresh_every: 1,
        rank: TOY2D_RANK,
        seed,
        noise_trace: Some(gradient_noise_trace(TOY2D_NOISE_TRACE, TOY2D_LR)),
        ..DescentOptions::new(dynamic, 1)
    }
}

/// Zhu et al.'s success criterion: both coordinates below −0.5, i.e. the run ended in the basin
/// of the flat minimum at (−1, −1) rather than near the sharp one at (1, 1).
///
/// ```
/// assert!(curvscope_metrics::reached_flat_minimum(&[-0.9, -1.2]));
/// assert!(!curvscope_metrics::reached_flat_minimum(&[-0.9, 0.1]));
/// ```
pub fn reached_flat_minimum(theta: &[f64]) -> bool {
    theta.iter().all(|&w| w < -0.5)
}

/// One run: θ₀ = `start`, θ_{t+1} = θ_t − η·g̃_t ([`Descent::step`], in f64) for `steps` steps;
/// returns θ₀, …, θ_T. A step that would make θ non-finite ends the run early (the trajectory
/// then has fewer than `steps` + 1 points).
pub fn descend<O: Objective + ?Sized>(
    objective: &O,
    options: DescentOptions,
    lr: f64,
    start: &[f64],
    steps: u64,
) -> Vec<Vec<f64>> {
    let n = objective.n_samples();
    let minibatch =
        |t: &[f64], idx: &[usize]| objective.weighted_grad(t, &minibatch_weights(n, idx));
    let mut descent = Descent::new(options);
    let mut theta = start.to_vec();
    let mut path = vec![theta.clone()];
    for step in 0..steps {
        if !descent.step(objective, &mut theta, lr, Precision::F64, step, &minibatch) {
            break;
        }
        path.push(theta.clone());
    }
    path
}
