//! Curvature and gradient noise per named tensor of θ (a layer's weight or bias): the traces of
//! the diagonal blocks of H and Σ, from their exact diagonals.

use crate::covariance::stream_deviations;
use curvscope_model::Objective;
use serde::{Deserialize, Serialize};

/// Tr(H) and Tr(Σ) restricted to one named tensor T of θ: Σ_{j∈T} H_jj and Σ_{j∈T} Σ_jj, the
/// traces of their T×T diagonal blocks. Over all tensors they sum to Tr(H) and Tr(Σ).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerTrace {
    /// The tensor's `state_dict` name, e.g. `conv1.weight`.
    pub tensor: String,
    /// Its number of parameters D_T.
    pub n_params: usize,
    /// Σ_{j∈T} H_jj.
    pub trace_h: f64,
    /// trace_h / D_T, the mean curvature of one of its parameters.
    pub mean_diag_h: f64,
    /// Σ_{j∈T} Σ_jj = (1/N) Σ_i ‖g_i,T − ḡ_T‖², the one-sample noise variance within T.
    pub trace_sigma: f64,
}

/// diag(Σ) = (1/N) Σ_i (g_i − ḡ)² element-wise, exact, in one pass over the per-sample gradients
/// holding at most `chunk` of them. Accumulated as deviations d_i = g_i − ∇L(θ) (Σ_jj = mean
/// d_ij² − m_j², m = mean d_i ≈ 0), so nothing is lost to cancellation when ḡ dwarfs the noise.
///
/// ```
/// use curvscope_metrics::sigma_diagonal;
/// use curvscope_model::Objective;
/// /// ℓ_i(θ) = a_i·θ: g_i = a_i whatever θ.
/// struct Linear(Vec<[f64; 2]>);
/// impl Objective for Linear {
///     fn dim(&self) -> usize { 2 }
///     fn n_samples(&self) -> usize { self.0.len() }
///     fn per_sample_losses(&self, t: &[f64]) -> Vec<f64> {
///         self.0.iter().map(|a| a[0] * t[0] + a[1] * t[1]).collect()
///     }
///     fn weighted_grad(&self, _: &[f64], w: &[f64]) -> Vec<f64> {
///         (0..2).map(|j| self.0.iter().zip(w).map(|(a, w)| w * a[j]).sum()).collect()
///     }
///     fn hvp(&self, _: &[f64], _: &[f64]) -> Vec<f64> { vec![0.0; 2] }
///     fn per_sample_grads_range(&self, _: &[f64], start: usize, len: usize) -> Vec<f64> {
///         self.0[start..start + len].concat()
///     }
/// }
/// // Gradients (1, 5) and (3, 5): variances 1 and 0.
/// assert_eq!(sigma_diagonal(&Linear(vec![[1.0, 5.0], [3.0, 5.0]]), &[0.0, 0.0], 1), [1.0, 0.0]);
/// ```
pub fn sigma_diagonal<O: Objective + ?Sized>(
    objective: &O,
    theta: &[f64],
    chunk: usize,
) -> Vec<f64> {
    let d = objective.dim();
    let mut squares = vec![0.0; d];
    let (_, m) = stream_deviations(objective, theta, chunk, &mut |rows| {
        for row in rows.chunks_exact(d) {
            squares.iter_mut().zip(row).for_each(|(s, r)| *s += r * r);
        }
    });
    let n = objective.n_samples() as f64;
    squares.iter().zip(&m).map(|(s, m)| s / n - m * m).collect()
}

/// The diagonals of H and Σ summed over each named tensor of θ, given as (name, shape) in θ's
/// order ([`Objective::parameter_tensors`]).
///
/// ```
/// use curvscope_metrics::layer_traces;
/// let tensors = [("fc.weight".to_string(), vec![1, 2]), ("fc.bias".to_string(), vec![1])];
/// let layers = layer_traces(&tensors, &[1.0, 3.0, 0.5], &[0.25, 0.25, 2.0]);
/// assert_eq!((layers[0].trace_h, layers[0].mean_diag_h, layers[0].trace_sigma), (4.0, 2.0, 0.5));
/// assert_eq!((layers[1].tensor.as_str(), layers[1].n_params, layers[1].trace_h), ("fc.bias", 1, 0.5));
/// ```
///
/// # Panics
/// If the tensors' sizes do not add up to the diagonals' length.
pub fn layer_traces(
    tensors: &[(String, Vec<usize>)],
    hessian_diagonal: &[f64],
    sigma_diagonal: &[f64],
) -> Vec<LayerTrace> {
    let sizes: Vec<usize> = tensors.iter().map(|(_, s)| s.iter().product()).collect();
    assert!(
        sizes.iter().sum::<usize>() == hessian_diagonal.len()
            && hessian_diagonal.len() == sigma_diagonal.len(),
        "tensor sizes must add up to D = the diagonals' length"
    );
    let mut offset = 0;
    tensors
        .iter()
        .zip(sizes)
        .map(|((name, _), n)| {
            let range = offset..offset + n;
            offset += n;
            let trace_h: f64 = hessian_diagonal[range.clone()].iter().sum();
            LayerTrace {
                tensor: name.clone(),
                n_params: n,
                trace_h,
                mean_diag_h: trace_h / n as f64,
                trace_sigma: sigma_diagonal[range].iter().sum(),
            }
        })
        .collect()
}
