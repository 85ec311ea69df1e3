//! Curvature and gradient noise per named tensor of θ (a layer's weight or bias): the traces of
//! the diagonal blocks of H and Σ, from their exact diagonals.

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
    #[serde(with = "curvscope_hessian::non_finite")]
    pub trace_h: f64,
    /// trace_h / D_T, the mean curvature of one of its parameters.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub mean_diag_h: f64,
    /// Σ_{j∈T} Σ_jj = (1/N) Σ_i ‖g_i,T − ḡ_T‖², the one-sample noise variance within T.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub trace_sigma: f64,
}

/// The diagonals of H and Σ summed over each named tensor of θ (not a formula of Zhu et al.
/// 2019: a per-tensor split of its Tr(H) and Tr(Σ), Sec. 3), given as (name, shape) in θ's
/// order ([`curvscope_model::Objective::parameter_tensors`]); diag(Σ) is
/// [`crate::covariance_diagonal`].
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
