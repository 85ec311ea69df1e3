//! The flat-parameter objective: the one primitive every curvature number stands on.
//!
//! θ ∈ R^D is a flat vector in PyTorch `state_dict` order; the host side is always `f64`
//! whatever precision the backend computes in, so algorithms never care about the backend.

use std::sync::Arc;

use crate::distributed::Collective;
use curvscope_hessian::BasisStore;

/// L(θ) = (1/N) Σ_i ℓ_i(θ) over a fixed dataset, with exact derivatives.
///
/// Implemented by the burn models ([`crate::BurnObjective`]) and by closed-form objectives in
/// tests. Every method takes θ explicitly, so one objective serves many points.
pub trait Objective: Send + Sync {
    /// Number of parameters D.
    fn dim(&self) -> usize;
    /// Number of samples N.
    fn n_samples(&self) -> usize;
    /// Per-sample losses ℓ_i(θ), i = 0..N.
    fn per_sample_losses(&self, theta: &[f64]) -> Vec<f64>;
    /// ∇ Σ_i w_i ℓ_i(θ): the gradient of a weighted loss, the primitive of multiplicative-noise
    /// SGD (Wu et al. 2020). `w.len() == N`.
    fn weighted_grad(&self, theta: &[f64], w: &[f64]) -> Vec<f64>;
    /// Exact H(θ)·v with H = ∇²L (mean loss).
    fn hvp(&self, theta: &[f64], v: &[f64]) -> Vec<f64>;
    /// Per-sample gradients of samples `start..start + len`, row-major `[len, D]`.
    fn per_sample_grads_range(&self, theta: &[f64], start: usize, len: usize) -> Vec<f64>;

    /// L(θ), the mean loss.
    fn loss(&self, theta: &[f64]) -> f64 {
        let losses = self.per_sample_losses(theta);
        losses.iter().sum::<f64>() / losses.len() as f64
    }

    /// ∇L(θ).
    fn grad(&self, theta: &[f64]) -> Vec<f64> {
        let n = self.n_samples();
        self.weighted_grad(theta, &vec![1.0 / n as f64; n])
    }

    /// H(θ)·v for several v; implementations may batch them.
    fn hvps(&self, theta: &[f64], vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        vs.iter().map(|v| self.hvp(theta, v)).collect()
    }

    /// The trailing principal block of the Hessian, H[s.., s..] (s = `start`), applied to
    /// each of `vs` (length D − s): the Hessian of L in θ[s..] with θ[..s] held fixed. The
    /// lower triangle of H is these blocks' first columns, which is how the full spectrum
    /// assembles H (`curvscope_hessian::dense_eigenvalues`); the burn networks make them
    /// cheaper than full products by not differentiating the layers before s.
    ///
    /// By default: [`Objective::hvps`] of the zero-padded vectors, sliced.
    fn trailing_hvps(&self, theta: &[f64], start: usize, vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        curvscope_hessian::trailing_block_products(self.dim(), start, vs, |padded| {
            self.hvps(theta, padded)
        })
    }

    /// Calls `sink(start, rows)` for consecutive chunks of at most `chunk` per-sample gradients
    /// (`rows` is row-major `[len, D]`), so Σ statistics never hold all N×D numbers at once.
    /// The rows are handed over, so a sink may work on them in place: at a D of millions a
    /// chunk's copy costs as much host time as a pass over it.
    ///
    /// A data-parallel objective ([`crate::Distributed`]) visits only this process's samples
    /// (every process the same number of times, with empty chunks at the end where it has
    /// fewer): sums over the rows must be completed with [`Objective::sum_over_processes`].
    fn for_each_grad_chunk(
        &self,
        theta: &[f64],
        chunk: usize,
        sink: &mut dyn FnMut(usize, Vec<f64>),
    ) {
        let n = self.n_samples();
        let chunk = chunk.max(1);
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            sink(start, self.per_sample_grads_range(theta, start, len));
            start += len;
        }
    }

    /// vᵀH(θ)v for each of `vs`, vectors this process alone holds: in a data-parallel run each
    /// process passes its own (their number may differ), and all must call it together.
    fn hessian_quadratic_forms(&self, theta: &[f64], vs: &[Vec<f64>]) -> Vec<f64> {
        let hvs = self.hvps(theta, vs);
        vs.iter()
            .zip(&hvs)
            .map(|(v, hv)| v.iter().zip(hv).map(|(a, b)| a * b).sum())
            .collect()
    }

    /// Samples this process holds: the rows [`Objective::for_each_grad_chunk`] streams here
    /// (all N in one process, a share in a data-parallel run).
    fn local_n_samples(&self) -> usize {
        self.n_samples()
    }

    /// The processes of a data-parallel run this objective's samples are split over
    /// ([`crate::Distributed`]); `None` in one process.
    fn collective(&self) -> Option<Arc<dyn Collective>> {
        None
    }

    /// Element-wise sum of `partial` over the processes of a data-parallel run, in place (a
    /// no-op in one process): completes sums over [`Objective::for_each_grad_chunk`]'s rows.
    fn sum_over_processes(&self, partial: &mut [f64]) {
        if let Some(collective) = self.collective() {
            collective.sum(partial);
        }
    }

    /// The exact diagonal of H(θ) where the model's structure yields it without D HVPs (for the
    /// burn networks: piecewise-linear ones, see [`crate::BurnObjective::gauss_newton_diagonal`]);
    /// `None` where it does not, so callers fall back to stochastic estimators.
    fn hessian_diagonal(&self, _theta: &[f64]) -> Option<Vec<f64>> {
        None
    }

    /// Where a Krylov basis over this objective's HVPs is best kept: `None` (the default) for
    /// the host, or a store on the device that computes them ([`crate::DeviceBasis`] for the
    /// burn networks on a GPU), whose reorthogonalization sweeps then stay there.
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        None
    }

    /// The named tensors θ is made of, as (name, shape) in θ's order; their sizes sum to D.
    /// By default one tensor, `theta`.
    fn parameter_tensors(&self) -> Vec<(String, Vec<usize>)> {
        vec![("theta".into(), vec![self.dim()])]
    }

    /// Fraction of samples classified correctly at θ, for classifiers; `None` otherwise.
    fn accuracy(&self, _theta: &[f64]) -> Option<f64> {
        None
    }

    /// L(θ) and, for classifiers, the accuracy at θ; implementations may get both from one
    /// forward pass.
    fn loss_and_accuracy(&self, theta: &[f64]) -> (f64, Option<f64>) {
        (self.loss(theta), self.accuracy(theta))
    }

    /// All per-sample gradients, row-major `[N, D]` (N·D·8 bytes: use
    /// [`Objective::for_each_grad_chunk`] when that is too much).
    fn per_sample_grads(&self, theta: &[f64]) -> Vec<f64> {
        self.per_sample_grads_range(theta, 0, self.n_samples())
    }
}
