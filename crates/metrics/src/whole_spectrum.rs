//! The whole Hessian spectrum of a checkpoint (`analyze --full-spectrum`; the paper's Fig. 5):
//! every eigenvalue, how many are negative or zero, and how well Lanczos' top-k agrees.

use curvscope_hessian::DenseSpectrum;
use serde::{Deserialize, Serialize};

use crate::proposition::ZERO_RTOL;

/// Every eigenvalue of H with the counts a reader of Fig. 5 wants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WholeSpectrum {
    /// All D eigenvalues, largest first (dense f64 eigendecomposition).
    #[serde(with = "curvscope_hessian::non_finite::vec")]
    pub eigenvalues: Vec<f64>,
    /// max |H − Hᵀ| / max |H| of the assembled matrix before symmetrizing (rounding of the HVPs),
    /// over the entries computed on both sides of the diagonal: pairs within one parameter tensor.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub asymmetry: f64,
    /// The threshold of the counts, relative to max |λ| ([`ZERO_RTOL`]).
    #[serde(with = "curvscope_hessian::non_finite")]
    pub zero_rtol: f64,
    /// Eigenvalues below −zero_rtol·max |λ|.
    pub negative: usize,
    /// Eigenvalues with |λ| ≤ zero_rtol·max |λ|.
    pub near_zero: usize,
    /// max over i ≤ k of |λ_i(dense) − λ_i(Lanczos)| / max |λ|: the two methods' agreement on
    /// the top k, relative to the spectrum's scale as Lanczos' tolerance is (a top eigenvalue
    /// may be near zero), or absolute when H = 0 (no scale); NaN when there is nothing to
    /// compare.
    #[serde(with = "curvscope_hessian::non_finite")]
    pub lanczos_max_rel_diff: f64,
}

/// [`WholeSpectrum`] of the dense spectrum `dense` (Zhu et al. 2019, Fig. 5), checked against
/// Lanczos' top eigenvalues `lanczos_top` (largest first).
///
/// ```
/// use curvscope_hessian::DenseSpectrum;
/// use curvscope_metrics::whole_spectrum;
///
/// let dense = DenseSpectrum { eigenvalues: vec![4.0, 2.0, 0.0, -1.0], asymmetry: 0.0, diagonal: vec![1.0, 1.0, 1.0, 2.0] };
/// let w = whole_spectrum(&dense, &[4.0, 2.0 + 2e-9]);
/// assert_eq!((w.negative, w.near_zero), (1, 1));
/// assert!((w.lanczos_max_rel_diff - 5e-10).abs() < 1e-15);
/// // A dead network's H = 0: both methods find it exactly.
/// let zero = DenseSpectrum { eigenvalues: vec![0.0; 3], asymmetry: 0.0, diagonal: vec![0.0; 3] };
/// assert_eq!(whole_spectrum(&zero, &[0.0]).lanczos_max_rel_diff, 0.0);
/// ```
pub fn whole_spectrum(dense: &DenseSpectrum, lanczos_top: &[f64]) -> WholeSpectrum {
    let scale = dense.scale();
    let relative = |diff: f64| if scale > 0.0 { diff / scale } else { diff };
    let lanczos_max_rel_diff = dense
        .eigenvalues
        .iter()
        .zip(lanczos_top)
        .map(|(d, l)| relative((d - l).abs()))
        // A NaN pair (a Lanczos value that is no number) must not read as agreement.
        .reduce(|a, b| {
            if a.is_nan() || b.is_nan() {
                f64::NAN
            } else {
                a.max(b)
            }
        })
        .unwrap_or(f64::NAN);
    WholeSpectrum {
        eigenvalues: dense.eigenvalues.clone(),
        asymmetry: dense.asymmetry,
        zero_rtol: ZERO_RTOL,
        negative: dense.count_negative(ZERO_RTOL),
        near_zero: dense.count_near_zero(ZERO_RTOL),
        lanczos_max_rel_diff,
    }
}
