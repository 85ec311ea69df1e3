//! Zhu et al.'s one-hidden-layer experiment (ICML 2019, Sec. 4 and Fig. 4): a ReLU layer whose
//! outputs are summed with fixed weights ±1, the prediction clipped to [δ, 1 − δ] and fitted by
//! squared loss to 0/1 labels of 2-D points. There the Hessian is exactly a Gauss–Newton
//! matrix built from the same per-sample gradients as Σ, which is why SGD's noise lines up with
//! the curvature (their Props. 2 and 3); [`proposition2_check`] measures that at a trained net.

use curvscope_hessian::{dense_matrix, full_spectrum, DenseOperator};
use curvscope_model::{HessianOperator, Objective};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::proposition::{proposition1, LambdaMin, Proposition1};

/// Training points (uniform in [−2, 2]², label 1[x₁ ≥ x₂]), as in the paper and its code.
pub const ONE_HIDDEN_N: usize = 1000;
/// Hidden widths: the paper's 32, 128, 512 and the powers of two between, for the log-log fit
/// of the ratio against D = 3·width. All have D ≤ 1,536, where the dense Hessian and its
/// eigendecomposition take seconds.
pub const ONE_HIDDEN_WIDTHS: [usize; 5] = [32, 64, 128, 256, 512];
/// SGD's batch: the b = 10 of the authors' code (its Σ is estimated from batches of 10).
pub const ONE_HIDDEN_BATCH: usize = 10;
/// One learning rate for every width: stable at width 512 (whose λ₁ is the largest) and
/// reaching a training loss near 0.01 within 500 steps at every width.
pub const ONE_HIDDEN_LR: f64 = 0.01;
/// Iterations: 50 epochs of b = 10 (the authors ran 310 full-batch Adam steps instead).
pub const ONE_HIDDEN_STEPS: u64 = 5000;
/// Tr(HΣ) and Tr(HΣ̄) are measured every this many steps.
pub const ONE_HIDDEN_MEASURE_EVERY: u64 = 250;

/// The standard deviation of θ₀ ~ N(0, std²·I): 1/√D, the variance of the authors'
/// TensorFlow default (Glorot-uniform on their flat weight vector of D entries,
/// U(−√(3/D), √(3/D))), so the prediction starts small at every width.
///
/// ```
/// assert_eq!(curvscope_metrics::one_hidden_init_std(100), 0.1);
/// ```
pub fn one_hidden_init_std(dim: usize) -> f64 {
    1.0 / (dim as f64).sqrt()
}

/// The Hessian of the clipped squared loss of the fixed-output net as its Gauss–Newton form,
/// from the per-sample gradients `grads` (rows g_i) and losses ℓ_i alone:
/// H = (1/N) Σ_i g_i g_iᵀ / (2ℓ_i) over the samples with g_i ≠ 0.
///
/// Why: ℓ_i = e_i² with e_i = clip(f_i) − y_i. Outside the clip g_i = 0 and ∇²ℓ_i = 0. Inside,
/// g_i = 2e_i∇f_i, and f_i is linear in θ within an activation region (fixed output weights,
/// piecewise-linear units), so ∇²f_i = 0 and ∇²ℓ_i = 2∇f_i∇f_iᵀ = g_i g_iᵀ/(2e_i²). With 0/1
/// targets and the clip to [δ, 1 − δ], |e_i| ≥ δ inside: the division is safe.
///
/// ```
/// use nalgebra::DMatrix;
/// // Two samples, D = 2: g₁ = (2, 0) with ℓ₁ = 1, g₂ = 0 (clipped): H = g₁g₁ᵀ/(2·1)/2.
/// let g = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 0.0]);
/// let h = curvscope_metrics::clipped_square_gauss_newton(&g, &[1.0, 0.25]);
/// assert_eq!(h, DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 0.0]));
/// ```
pub fn clipped_square_gauss_newton(grads: &DMatrix<f64>, losses: &[f64]) -> DMatrix<f64> {
    let (n, d) = grads.shape();
    let mut h = DMatrix::zeros(d, d);
    for (i, loss) in losses.iter().enumerate().take(n) {
        let g = grads.row(i).transpose();
        if g.iter().any(|&x| x != 0.0) {
            h.ger(1.0 / (2.0 * loss * n as f64), &g, &g, 1.0);
        }
    }
    h
}

/// L, Tr(H), Tr(Σ) and Tr(HΣ) of the fixed-output net at one θ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClippedSquareTraces {
    /// L(θ).
    pub loss: f64,
    /// Tr(H).
    pub trace_h: f64,
    /// Tr(Σ).
    pub trace_sigma: f64,
    /// Tr(HΣ).
    pub trace_h_sigma: f64,
}

/// L, Tr(H), Tr(Σ) and Tr(HΣ) of the fixed-output net at θ, exactly, from one pass of
/// per-sample gradients g_i and losses ℓ_i, through [`clipped_square_gauss_newton`]'s form H = (1/N) AᵀA with rows
/// a_i = g_i/√(2ℓ_i) (0 where g_i = 0), and Σ = (1/N) CᵀC with rows c_i = g_i − ḡ:
/// Tr(H) = ‖A‖²_F/N, Tr(Σ) = ‖C‖²_F/N and Tr(HΣ) = Tr(AᵀA CᵀC)/N² = ‖ACᵀ‖²_F/N².
/// O(N²·D) instead of the N + 1 Hessian-vector products of [`crate::trace_h_sigma_exact`],
/// which the tests check it against. Example: see [`proposition2_check`].
pub fn clipped_square_traces<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
) -> ClippedSquareTraces {
    let (n, d) = (objective.n_samples(), objective.dim());
    let grads = DMatrix::from_row_slice(n, d, &objective.per_sample_grads(theta));
    let losses = objective.per_sample_losses(theta);
    let a = DMatrix::from_fn(n, d, |i, j| {
        let g = grads[(i, j)];
        if g == 0.0 {
            0.0
        } else {
            g / (2.0 * losses[i]).sqrt()
        }
    });
    let c = centred_rows(&grads);
    let n = n as f64;
    ClippedSquareTraces {
        loss: losses.iter().sum::<f64>() / n,
        trace_h: a.norm_squared() / n,
        trace_sigma: c.norm_squared() / n,
        trace_h_sigma: (&a * c.transpose()).norm_squared() / (n * n),
    }
}

/// ‖A − B‖_F/max(‖A‖_F, ‖B‖_F), 0 when both are 0.
fn relative_difference(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let scale = a.norm().max(b.norm());
    if scale == 0.0 {
        0.0
    } else {
        (a - b).norm() / scale
    }
}

/// The rows of `m` minus their mean row.
fn centred_rows(m: &DMatrix<f64>) -> DMatrix<f64> {
    let mean = m.row_mean();
    DMatrix::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)] - mean[j])
}

/// ⟨A, B⟩_F / (‖A‖_F‖B‖_F), the cosine between two matrices: 1 exactly when B is a positive
/// multiple of A. For H and Σ it says how far Σ is from being a multiple of H, the case in
/// which Tr(HΣ)/Tr(HΣ̄) = D·‖H‖²_F/Tr(H)² is as large as H's spectrum allows. 0 if either is 0.
///
/// ```
/// use nalgebra::DMatrix;
/// let a = DMatrix::from_row_slice(2, 2, &[2.0, 0.0, 0.0, 0.0]);
/// assert_eq!(curvscope_metrics::frobenius_cosine(&a, &(&a * 3.0)), 1.0);
/// let with_identity = curvscope_metrics::frobenius_cosine(&a, &DMatrix::identity(2, 2));
/// assert!((with_identity - 0.5f64.sqrt()).abs() < 1e-15);
/// ```
pub fn frobenius_cosine(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let scale = a.norm() * b.norm();
    if scale == 0.0 {
        0.0
    } else {
        a.dot(b) / scale
    }
}

/// The exponent p of a power law y = c·x^p fitted by least squares to (log x, log y), over the
/// points with x, y > 0: how the ratio Tr(HΣ)/Tr(HΣ̄) scales with D (Zhu et al. Eq. 17:
/// ~ a·D^(2d−1)). `None` with fewer than two such points or a single x.
///
/// ```
/// let points = [(10.0, 3.0), (100.0, 30.0), (1000.0, 300.0)];
/// assert!((curvscope_metrics::power_law_exponent(&points).unwrap() - 1.0).abs() < 1e-12);
/// assert_eq!(curvscope_metrics::power_law_exponent(&points[..1]), None);
/// ```
pub fn power_law_exponent(points: &[(f64, f64)]) -> Option<f64> {
    let logs: Vec<(f64, f64)> = points
        .iter()
        .filter(|(x, y)| *x > 0.0 && *y > 0.0)
        .map(|(x, y)| (x.ln(), y.ln()))
        .collect();
    let n = logs.len() as f64;
    let (mx, my) = logs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxx: f64 = logs.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = logs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    (logs.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

/// What [`proposition2_check`] measured at one θ of the fixed-output net, all exact (dense).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposition2Check {
    /// L(θ).
    pub loss: f64,
    /// Samples inside the clip with a nonzero gradient (the only ones H and Σ see).
    pub active_samples: usize,
    /// ‖H − H_GN‖_F/max(‖H‖_F, ‖H_GN‖_F) (0 when both are 0): the autodiff Hessian (D HVPs)
    /// against [`clipped_square_gauss_newton`] from the per-sample gradients; rounding-small when
    /// the structure the propositions rest on holds.
    pub gauss_newton_error: f64,
    /// [`frobenius_cosine`] of Σ and H.
    pub sigma_h_cosine: f64,
    /// Tr(HΣ) = ⟨H, Σ⟩_F.
    pub trace_h_sigma: f64,
    /// Tr(Σ).
    pub trace_sigma: f64,
    /// D·‖H‖²_F/Tr(H)²: the ratio Tr(HΣ)/Tr(HΣ̄) that Σ ∝ H would give; `None` when
    /// Tr(H) = 0 (every sample outside the clip: no curvature, no noise).
    pub proportional_ratio: Option<f64>,
    /// Proposition 1 from the full spectrum of H: conditions, bound and measured ratio.
    pub proposition1: Proposition1,
}

/// Props. 2–3 of Zhu et al. at θ, exactly: the dense Hessian from D HVPs against its
/// Gauss–Newton form, the dense Σ = (1/N) Σ_i (g_i − ḡ)(g_i − ḡ)ᵀ, their alignment, and
/// Proposition 1 evaluated on the full spectrum (the condition the propositions establish for
/// this net is that Proposition 1 applies: â bounded below, so Tr(HΣ) ≫ Tr(HΣ̄)). O(N·D² + D³):
/// for D up to a few thousand.
///
/// ```
/// use curvscope_metrics::{clipped_square_traces, proposition2_check};
/// use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Init, Precision, Targets};
///
/// // Width 4 (D = 12) on 8 half-space points (0/1 targets), at a random θ.
/// let points = curvscope_model::two_d_halfspace(8, 0);
/// let targets = Targets::Regression(points.targets_f64().unwrap());
/// let data = Dataset::new("points", points.x().to_vec(), vec![2], targets, None)?;
/// let arch = ArchSpec::FixedOutput { input: 2, hidden: 4 };
/// let net = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)?;
/// let theta = arch.init(Init::Normal { std: 0.3 }, 1);
/// let check = proposition2_check(&net, &theta);
/// assert!(check.active_samples > 0);
/// assert!(check.gauss_newton_error < 1e-12); // H is exactly its Gauss–Newton form
/// let traces = clipped_square_traces(&net, &theta);
/// assert!((traces.trace_h_sigma - check.trace_h_sigma).abs() <= 1e-12 * check.trace_h_sigma.abs().max(1e-300));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn proposition2_check<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
) -> Proposition2Check {
    let (n, d) = (objective.n_samples(), objective.dim());
    let grads = DMatrix::from_row_slice(n, d, &objective.per_sample_grads(theta));
    let losses = objective.per_sample_losses(theta);
    let h = dense_matrix(&HessianOperator::new(objective, theta));
    let h = (&h + h.transpose()) * 0.5;
    let gauss_newton = clipped_square_gauss_newton(&grads, &losses);
    let centred = centred_rows(&grads);
    let sigma = centred.transpose() * &centred / n as f64;
    let spectrum = full_spectrum(&DenseOperator::new(h.clone()));
    let lambda_min = LambdaMin {
        value: *spectrum.eigenvalues.last().expect("D ≥ 1"),
        converged: true,
    };
    let u1 = spectrum.eigenvectors.column(0);
    let u1_sigma_u1 = (u1.transpose() * &sigma * u1)[(0, 0)];
    let trace_h_sigma = h.dot(&sigma);
    let trace_h = h.trace();
    Proposition2Check {
        loss: losses.iter().sum::<f64>() / n as f64,
        active_samples: (0..n)
            .filter(|&i| grads.row(i).iter().any(|&x| x != 0.0))
            .count(),
        gauss_newton_error: relative_difference(&h, &gauss_newton),
        sigma_h_cosine: frobenius_cosine(&sigma, &h),
        trace_h_sigma,
        trace_sigma: sigma.trace(),
        proportional_ratio: (trace_h > 0.0)
            .then(|| d as f64 * h.norm_squared() / (trace_h * trace_h)),
        proposition1: proposition1(
            &spectrum.eigenvalues,
            Some(lambda_min),
            trace_h,
            sigma.trace(),
            u1_sigma_u1,
            trace_h_sigma,
            d,
        ),
    }
}
