//! Loss-landscape slices: L and accuracy at θ + Σ_i c_i d_i on a line (one direction) or a
//! plane (two) through θ, after Li et al., "Visualizing the Loss Landscape of Neural Nets"
//! (NeurIPS 2018), with the second-order Taylor model beside the true loss.
//!
//! Directions: filter-normalised random ones ([`filter_normalized_directions`]), the top
//! Hessian eigenvectors scaled by 1/√λ ([`hessian_directions`]), or any given vector (the line
//! between two checkpoints is d = θ₂ − θ₁).

use curvscope_hessian::{dot, extreme_eigenpairs, norm, Eigenpairs, LanczosOptions, Which};
use curvscope_model::{HessianOperator, Objective};
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::monte_carlo::probe_rng;

/// Rescales each filter of `direction` to the norm of the matching filter of θ (Li et al. 2018,
/// §4, "filter normalization"): a filter is one slice along a tensor's first axis (an output
/// channel of a convolution `[out, in, kh, kw]`, an output unit's row of a linear layer
/// `[out, in]`), so every filter moves in proportion to its own scale, which removes the
/// scale invariance of ReLU nets from the picture. Tensors of one dimension (biases, batch
/// norm's γ and β) are set to zero, as Li et al.'s code does by default (`ignore='biasbn'`,
/// which tests `dim() <= 1`: a layer norm's γ of two or more dimensions is normalized as
/// filters there too). `tensors` are (name, shape) in
/// θ's order (as [`Objective::parameter_tensors`] gives them); a net with no tensor of two or
/// more dimensions gets the zero direction.
///
/// ```
/// use curvscope_metrics::filter_normalize;
/// let tensors = vec![("w".to_string(), vec![2, 2]), ("b".to_string(), vec![2])];
/// let theta = [3.0, 4.0, 0.0, 2.0, 7.0, 7.0];
/// let mut d = vec![1.0, 0.0, 0.0, -0.5, 1.0, 1.0];
/// filter_normalize(&mut d, &theta, &tensors);
/// assert_eq!(d, [5.0, 0.0, 0.0, -2.0, 0.0, 0.0]); // rows scaled to ‖(3,4)‖ = 5 and ‖(0,2)‖ = 2
/// ```
///
/// # Panics
/// If the tensors' sizes do not sum to the lengths of `direction` and `theta`.
pub fn filter_normalize(direction: &mut [f64], theta: &[f64], tensors: &[(String, Vec<usize>)]) {
    assert_eq!(
        direction.len(),
        theta.len(),
        "direction and θ differ in length"
    );
    let mut offset = 0;
    for (_, shape) in tensors {
        let len: usize = shape.iter().product();
        let (d, w) = (
            &mut direction[offset..offset + len],
            &theta[offset..offset + len],
        );
        offset += len;
        if shape.len() < 2 || len == 0 {
            d.fill(0.0);
            continue;
        }
        let filter = len / shape[0];
        for (d, w) in d.chunks_mut(filter).zip(w.chunks(filter)) {
            let d_norm = norm(d);
            let scale = if d_norm > 0.0 { norm(w) / d_norm } else { 0.0 };
            d.iter_mut().for_each(|x| *x *= scale);
        }
    }
    assert_eq!(offset, theta.len(), "the tensors do not cover θ");
}

/// `count` filter-normalised random directions at θ ([`filter_normalize`] of a standard
/// Gaussian vector); direction i is drawn from ChaCha8 stream i of `seed`, so a 2-D slice's first
/// direction is the 1-D slice's.
///
/// ```
/// use curvscope_hessian::norm;
/// let tensors = vec![("w".to_string(), vec![2, 3]), ("b".to_string(), vec![2])];
/// let theta = [1.0, 2.0, 2.0, 0.0, 0.0, 4.0, 9.0, 9.0];
/// let d = curvscope_metrics::filter_normalized_directions(&tensors, &theta, 2, 7);
/// assert!((norm(&d[0][..3]) - 3.0).abs() < 1e-12 && (norm(&d[1][3..6]) - 4.0).abs() < 1e-12);
/// assert_eq!(d[0][6..], [0.0, 0.0]); // the bias is held fixed
/// assert_ne!(d[0], d[1]);
/// ```
pub fn filter_normalized_directions(
    tensors: &[(String, Vec<usize>)],
    theta: &[f64],
    count: usize,
    seed: u64,
) -> Vec<Vec<f64>> {
    (0..count)
        .map(|i| {
            let mut rng = probe_rng(seed, i);
            let mut d: Vec<f64> = (0..theta.len())
                .map(|_| rng.sample(StandardNormal))
                .collect();
            filter_normalize(&mut d, theta, tensors);
            d
        })
        .collect()
}

/// The top Hessian eigenvectors as slice directions, d_i = u_i/√λ_i: one unit of the coordinate
/// c_i raises the quadratic model by c_i²/2 whatever λ_i, so slices along different
/// eigenvectors, and of different checkpoints, share one scale.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianDirections {
    /// The Lanczos result (λ_i, u_i, residuals, convergence).
    pub eigenpairs: Eigenpairs,
    /// u_i/√λ_i, in the order of `eigenpairs`.
    pub directions: Vec<Vec<f64>>,
}

/// A top Hessian eigenvalue that is not positive beyond the eigensolver's accuracy, so u/√λ is
/// undefined (a rounding-level λ of 1e-33 gave a direction 10¹⁶ times too long, dᵀHd = 0).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("the Hessian's eigenvalue λ_{rank} = {value:e} is not positive beyond its accuracy (its residual {residual:e}, or 1e-12·|λ₁|), so the direction u_{rank}/√λ_{rank} is undefined{}", if *converged { "" } else { "; the Lanczos run had not converged" })]
pub struct NonPositiveCurvature {
    /// 1-based rank of the eigenvalue.
    pub rank: usize,
    /// λ_rank.
    pub value: f64,
    /// Its Ritz residual estimate.
    pub residual: f64,
    /// Whether the Lanczos run converged: if not, a larger subspace or more restarts may
    /// resolve λ_rank.
    pub converged: bool,
}

/// The top `options.k` eigenpairs of H(θ) by Lanczos (`options.which` is taken as
/// [`Which::Largest`]), each eigenvector divided by √λ and signed so that gᵀd_i ≥ 0 (g = ∇L(θ)):
/// the loss rises towards positive coordinates to first order.
///
/// ```
/// use curvscope_metrics::hessian_directions;
/// use curvscope_hessian::LanczosOptions;
/// # use curvscope_model::Objective;
/// # /// L(θ) = ½(4θ₀² + θ₁²): H = diag(4, 1).
/// # struct Q;
/// # impl Objective for Q {
/// #     fn dim(&self) -> usize { 2 }
/// #     fn n_samples(&self) -> usize { 1 }
/// #     fn per_sample_losses(&self, t: &[f64]) -> Vec<f64> { vec![2.0 * t[0] * t[0] + 0.5 * t[1] * t[1]] }
/// #     fn weighted_grad(&self, t: &[f64], w: &[f64]) -> Vec<f64> { vec![w[0] * 4.0 * t[0], w[0] * t[1]] }
/// #     fn hvp(&self, _: &[f64], v: &[f64]) -> Vec<f64> { vec![4.0 * v[0], v[1]] }
/// #     fn per_sample_grads_range(&self, t: &[f64], _: usize, _: usize) -> Vec<f64> { vec![4.0 * t[0], t[1]] }
/// # }
/// let top = hessian_directions(&Q, &[1.0, 0.0], &LanczosOptions { k: 1, ..Default::default() })?;
/// assert!((top.eigenpairs.eigenvalues[0] - 4.0).abs() < 1e-10);
/// // u₁/√λ₁ = (1/2, 0), signed along g = (4, 0)
/// assert!((top.directions[0][0] - 0.5).abs() < 1e-10 && top.directions[0][1].abs() < 1e-10);
/// # Ok::<(), curvscope_metrics::NonPositiveCurvature>(())
/// ```
///
/// # Errors
/// If one of the eigenvalues is not positive beyond its residual (or 1e-12·|λ₁|).
pub fn hessian_directions<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    options: &LanczosOptions,
) -> Result<HessianDirections, NonPositiveCurvature> {
    let options = LanczosOptions {
        which: Which::Largest,
        ..options.clone()
    };
    let eigenpairs = extreme_eigenpairs(&HessianOperator::new(objective, theta), &options);
    // A Ritz value is within its residual of an eigenvalue, and HVPs round at ~1e-16·|λ₁|:
    // below either it is not told from 0.
    let rounding = 1e-12 * eigenpairs.eigenvalues.first().map_or(0.0, |l| l.abs());
    let g = objective.grad(theta);
    let directions = eigenpairs
        .eigenvalues
        .iter()
        .zip(&eigenpairs.eigenvectors)
        .enumerate()
        .map(|(i, (&value, u))| {
            // An eigenvector's sign is arbitrary; this one makes slices of k = 1 and k = 2 agree.
            let sign = if dot(&g, u) < 0.0 { -1.0 } else { 1.0 };
            if value > eigenpairs.residuals[i].max(rounding) {
                Ok(u.iter().map(|x| sign * x / value.sqrt()).collect())
            } else {
                Err(NonPositiveCurvature {
                    rank: i + 1,
                    value,
                    residual: eigenpairs.residuals[i],
                    converged: eigenpairs.converged,
                })
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(HessianDirections {
        eigenpairs,
        directions,
    })
}

/// The second-order Taylor model of L at θ on the span of the directions d_i:
/// q(c) = L(θ) + gᵀδ + ½ δᵀHδ with δ = Σ_i c_i d_i, g = ∇L(θ), H = ∇²L(θ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuadraticModel {
    /// L(θ).
    pub loss: f64,
    /// gᵀd_i.
    pub slopes: Vec<f64>,
    /// d_iᵀHd_j (symmetric).
    pub curvatures: Vec<Vec<f64>>,
}

impl QuadraticModel {
    /// The model of `objective` at θ along `directions`: one gradient and one Hessian-vector
    /// product per direction.
    pub fn new<O: Objective + ?Sized>(
        objective: &O,
        theta: &[f64],
        directions: &[Vec<f64>],
    ) -> Self {
        let g = objective.grad(theta);
        let h_d = objective.hvps(theta, directions);
        Self {
            loss: objective.loss(theta),
            slopes: directions.iter().map(|d| dot(&g, d)).collect(),
            curvatures: directions
                .iter()
                .map(|d| h_d.iter().map(|hd| dot(d, hd)).collect())
                .collect(),
        }
    }

    /// q(c) = L(θ) + Σ_i c_i gᵀd_i + ½ Σ_ij c_i c_j d_iᵀHd_j.
    ///
    /// ```
    /// use curvscope_metrics::QuadraticModel;
    /// let q = QuadraticModel { loss: 1.0, slopes: vec![2.0], curvatures: vec![vec![4.0]] };
    /// assert_eq!(q.at(&[0.5]), 1.0 + 1.0 + 0.5);
    /// ```
    pub fn at(&self, c: &[f64]) -> f64 {
        assert_eq!(c.len(), self.slopes.len(), "one coordinate per direction");
        let linear = dot(c, &self.slopes);
        let quadratic: f64 = self
            .curvatures
            .iter()
            .zip(c)
            .map(|(row, ci)| ci * dot(row, c))
            .sum();
        self.loss + linear + 0.5 * quadratic
    }
}

/// `points` evenly spaced values from `lo` to `hi`, both included (`lo` alone for one point).
///
/// ```
/// assert_eq!(curvscope_metrics::linspace(-1.0, 1.0, 5), [-1.0, -0.5, 0.0, 0.5, 1.0]);
/// assert_eq!(curvscope_metrics::linspace(-2.0, 2.0, 21)[9], -0.2);
/// ```
pub fn linspace(lo: f64, hi: f64, points: usize) -> Vec<f64> {
    if points <= 1 {
        return vec![lo; points];
    }
    // A weighted mean with one rounding at the end: −2..2 in 21 points gives −1.4 and −0.2,
    // not −1.3999… and −0.19999… as lo + i·step would.
    let last = (points - 1) as f64;
    (0..points)
        .map(|i| (lo * (last - i as f64) + hi * i as f64) / last)
        .collect()
}

/// Every point of the grid spanned by `axes` (the coordinate values along each direction),
/// the first axis varying slowest: a 2-D grid is listed row by row.
///
/// ```
/// let grid = curvscope_metrics::grid_points(&[vec![0.0, 1.0], vec![5.0, 6.0]]);
/// assert_eq!(grid, [[0.0, 5.0], [0.0, 6.0], [1.0, 5.0], [1.0, 6.0]]);
/// ```
pub fn grid_points(axes: &[Vec<f64>]) -> Vec<Vec<f64>> {
    axes.iter().fold(vec![Vec::new()], |points, axis| {
        points
            .iter()
            .flat_map(|p| {
                axis.iter().map(move |&x| {
                    let mut q = p.clone();
                    q.push(x);
                    q
                })
            })
            .collect()
    })
}

/// The loss and accuracy at one point of a slice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlicePoint {
    /// L(θ + Σ_i c_i d_i).
    pub loss: f64,
    /// Its accuracy, for classifiers.
    pub accuracy: Option<f64>,
}

/// θ + Σ_i c_i d_i.
///
/// ```
/// let d = [vec![1.0, 0.0], vec![0.0, 2.0]];
/// assert_eq!(curvscope_metrics::displaced(&[1.0, 1.0], &d, &[3.0, 0.5]), [4.0, 2.0]);
/// ```
pub fn displaced(theta: &[f64], directions: &[Vec<f64>], c: &[f64]) -> Vec<f64> {
    assert_eq!(c.len(), directions.len(), "one coordinate per direction");
    let mut point = theta.to_vec();
    for (d, ci) in directions.iter().zip(c) {
        point.iter_mut().zip(d).for_each(|(p, di)| *p += ci * di);
    }
    point
}

/// The loss and accuracy at θ + Σ_i c_i d_i for every c in `points`, evaluated in parallel
/// (rayon) and returned in order; each point is computed alone, so the results do not depend on
/// the thread count or on how a grid is split into calls (a resumed slice equals an
/// uninterrupted one). Where the loss is not finite (an overflow far from θ), a classifier's
/// accuracy is NaN too: the logits there are usually NaN or ±∞, whose argmax is no prediction,
/// and NaN marks the point as unusable, as its loss does.
///
/// ```
/// use curvscope_metrics::{evaluate_slice, grid_points, linspace};
/// # use curvscope_model::Objective;
/// # /// L(θ) = ½θ².
/// # struct Half;
/// # impl Objective for Half {
/// #     fn dim(&self) -> usize { 1 }
/// #     fn n_samples(&self) -> usize { 1 }
/// #     fn per_sample_losses(&self, t: &[f64]) -> Vec<f64> { vec![0.5 * t[0] * t[0]] }
/// #     fn weighted_grad(&self, t: &[f64], w: &[f64]) -> Vec<f64> { vec![w[0] * t[0]] }
/// #     fn hvp(&self, _: &[f64], v: &[f64]) -> Vec<f64> { v.to_vec() }
/// #     fn per_sample_grads_range(&self, t: &[f64], _: usize, _: usize) -> Vec<f64> { t.to_vec() }
/// # }
/// let slice = evaluate_slice(&Half, &[1.0], &[vec![2.0]], &grid_points(&[linspace(-1.0, 0.0, 3)]));
/// let losses: Vec<f64> = slice.iter().map(|p| p.loss).collect();
/// assert_eq!(losses, [0.5, 0.0, 0.5]); // θ + c·2 = −1, 0, 1
/// ```
pub fn evaluate_slice<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    directions: &[Vec<f64>],
    points: &[Vec<f64>],
) -> Vec<SlicePoint> {
    points
        .par_iter()
        .map(|c| {
            let point = displaced(theta, directions, c);
            let (loss, accuracy) = objective.loss_and_accuracy(&point);
            SlicePoint {
                loss,
                accuracy: accuracy.map(|a| if loss.is_finite() { a } else { f64::NAN }),
            }
        })
        .collect()
}
