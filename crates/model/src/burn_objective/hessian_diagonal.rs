//! The exact diagonal of H for piecewise-linear networks, as the diagonal of the Gauss–Newton
//! matrix: C per-sample-gradient passes instead of D Hessian-vector products.

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::{tensor_rows, to_host, to_tensor, BurnObjective};
use crate::arch::{Activation, ArchSpec};
use crate::net::{self, Batch, Theta};

impl ArchSpec {
    /// Whether the network is built only from affine layers, ReLU and max-pooling, each
    /// parameter in one layer: then every output is affine in every single parameter (within an
    /// activation region) and diag(H) is the Gauss–Newton diagonal
    /// ([`BurnObjective::gauss_newton_diagonal`]).
    ///
    /// True for lenet, cnn, fixed-output, a ReLU (or hidden-layer-free) mlp and a sequential net
    /// of piecewise-linear layers (leaky ReLU, PReLU — linear in its slopes —, the hard clamps,
    /// average pooling and eval-mode batch norm are affine in each parameter too, and so is a
    /// residual block's sum of such branches); false for a tanh mlp, toy2d and a sequential net
    /// with a smooth activation, Hardswish, layer or group norm.
    ///
    /// ```
    /// use curvscope_model::{Activation, ArchSpec};
    /// assert!(ArchSpec::Lenet.is_piecewise_linear());
    /// let tanh = ArchSpec::Mlp { input: 4, hidden: vec![3], classes: 2, activation: Activation::Tanh };
    /// assert!(!tanh.is_piecewise_linear());
    /// ```
    pub fn is_piecewise_linear(&self) -> bool {
        match self {
            ArchSpec::Lenet | ArchSpec::Cnn { .. } | ArchSpec::FixedOutput { .. } => true,
            ArchSpec::Mlp {
                hidden, activation, ..
            } => hidden.is_empty() || *activation == Activation::Relu,
            ArchSpec::Toy2d => false,
            ArchSpec::Sequential(net) => net.is_piecewise_linear(),
        }
    }
}

/// Columns s_c = √p_c (e_c − p), c = 1..C, of a factor of cross-entropy's Hessian in the logits:
/// Σ_c s_c s_cᵀ = Σ_c p_c e_c e_cᵀ − p pᵀ = diag(p) − p pᵀ, p = softmax(logits) (in f64).
fn cross_entropy_hessian_factor(logits: &[f64]) -> Vec<Vec<f64>> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = logits.iter().map(|z| (z - max).exp()).collect();
    let total: f64 = exp.iter().sum();
    let p: Vec<f64> = exp.iter().map(|e| e / total).collect();
    (0..p.len())
        .map(|c| {
            let root = p[c].sqrt();
            p.iter()
                .enumerate()
                .map(|(k, pk)| root * (f64::from(u8::from(k == c)) - pk))
                .collect()
        })
        .collect()
}

/// The factor of (clip(f) − y)²'s second derivative in f: 2 = (√2)² where the prediction is
/// inside [δ, 1 − δ], bounds included (there autodiff passes the gradient, so this is the
/// curvature from inside, as in H·v); none where the clip is flat.
fn clipped_square_hessian_factor(inside: bool) -> Vec<Vec<f64>> {
    if inside {
        vec![vec![std::f64::consts::SQRT_2]]
    } else {
        Vec::new()
    }
}

impl<B: Backend> BurnObjective<B> {
    /// diag(H(θ)) = (1/N) Σ_i diag(J_iᵀ A_i J_i), exact for piecewise-linear networks
    /// ([`ArchSpec::is_piecewise_linear`]); for others it is only the Gauss–Newton diagonal, which
    /// is why [`crate::Objective::hessian_diagonal`] refuses them.
    ///
    /// **Why.** Write ℓ_i(θ) = φ_i(f(x_i; θ)) with f the network's outputs ([`net::outputs`]) and
    /// J_i = ∂f(x_i; θ)/∂θ. Then
    ///
    ///   ∇²ℓ_i = J_iᵀ A_i J_i + Σ_c ∂φ_i/∂f_c · ∇²_θ f_c(x_i; θ),  A_i = ∇²_f φ_i,
    ///
    /// the first term being the generalized Gauss–Newton matrix (Schraudolph 2002; Martens 2020,
    /// JMLR 21). Within an activation region (fixed ReLU pattern, fixed pooling maxima) a network
    /// of affine layers, ReLU and max-pooling is a polynomial in θ in which every monomial takes
    /// at most one factor from each layer, and each parameter belongs to one layer: f_c is
    /// affine in every single θ_j, so ∂²f_c/∂θ_j² = 0 and the second term has a zero diagonal.
    /// (Its off-diagonal entries between layers are not zero: H ≠ GGN, only the diagonals
    /// agree.) The region boundaries — ReLU kinks, pooling ties — are a null set of θ; there
    /// this takes the same side as autodiff's H·v (ReLU′(0) = 0, the first maximum), since it
    /// runs the same forward pass. It does not hold for smooth activations (tanh, GELU:
    /// ∂²f/∂w² ∝ σ″(z)·x² for a weight feeding σ), for a layer used twice (weight tying,
    /// recurrence: w² terms), or for normalization by batch statistics (train-mode batch norm;
    /// eval mode, as in a sequential net, is a per-channel affine map and qualifies).
    ///
    /// **Losses.** Softmax cross-entropy: A = diag(p) − p pᵀ = Σ_c p_c (e_c − p)(e_c − p)ᵀ, and
    /// J_iᵀ(p_i − e_c) = ∇_θ ℓ(x_i, c), the gradient with the label replaced by c, so
    ///
    ///   diag(H) = (1/N) Σ_i Σ_c p_ic (∇_θ ℓ(x_i, c))²,  Tr(H) = (1/N) Σ_i Σ_c p_ic ‖∇_θ ℓ(x_i, c)‖²:
    ///
    /// the true Fisher's diagonal and trace (Kunstner et al. 2019), independent of the labels.
    /// The fixed-output net's (clip(f) − y)², clip to [δ, 1 − δ]: A_i = 2 where δ ≤ f_i ≤ 1 − δ
    /// and 0 where the clip is flat, so diag(H) = (2/N) Σ_{i inside} (∇_θ f_i)².
    ///
    /// **How.** With A_i = Σ_r s_ir s_irᵀ, diag(J_iᵀ A_i J_i) = Σ_r (J_iᵀ s_ir)² and J_iᵀ s =
    /// ∇_θ⟨s, f(x_i; θ)⟩ for constant s. Per block of samples and per column index r (C for
    /// cross-entropy, at most 1 for the clipped square), one forward and one backward pass of
    /// per-sample copies of θ give every sample's J_iᵀ s_ir at once
    /// (`BurnObjective::per_sample_copies`): C per-sample-gradient passes in all, like
    /// BackPACK's exact DiagGGN (Dangel et al. 2020), not C per sample. Squares are summed in
    /// f64 on the host.
    ///
    /// ```
    /// use curvscope_model::{default_data_dir, digits, Activation, ArchSpec, BurnObjective, Cpu, Init, Objective, Precision};
    /// let data = digits(&default_data_dir())?.slice(0..20);
    /// let relu = ArchSpec::Mlp { input: 64, hidden: vec![4], classes: 10, activation: Activation::Relu };
    /// let theta = relu.init(Init::PyTorch, 0);
    /// let obj = BurnObjective::<Cpu>::new(relu, &data, &Default::default(), Precision::F64)?;
    /// let diagonal = obj.hessian_diagonal(&theta).expect("a ReLU MLP qualifies");
    /// assert!(diagonal.iter().all(|&h| h >= 0.0)); // a Gauss–Newton diagonal
    /// let trace_h: f64 = diagonal.iter().sum();
    ///
    /// let tanh = ArchSpec::Mlp { input: 64, hidden: vec![4], classes: 10, activation: Activation::Tanh };
    /// let obj = BurnObjective::<Cpu>::new(tanh, &data, &Default::default(), Precision::F64)?;
    /// assert!(obj.hessian_diagonal(&theta).is_none()); // tanh'' ≠ 0: not the Hessian's diagonal
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    ///
    /// # Panics
    /// For toy2d, which has no network outputs.
    pub fn gauss_newton_diagonal(&self, theta: &[f64]) -> Vec<f64> {
        let theta = self.theta_parts(theta);
        // Blocks that do not depend on the thread count, nor then the sums' bits.
        let blocks = self.copy_blocks(0, self.batch.n_samples(), usize::MAX);
        let sum = self.sum_over(&blocks, |block, _| {
            self.block_gauss_newton_diagonal(&theta, block)
        });
        self.mean_in_pytorch_order(&sum, 0)
    }

    /// Σ_{i ∈ block} diag(J_iᵀ A_i J_i) in the leaves' order: for each column index r, the
    /// per-sample gradients J_iᵀ s_ir = ∇_{θ_i}⟨s_ir, f(x_i; θ_i)⟩ of all of the block's samples
    /// from one pass over per-sample copies (a sample whose factor has no column r, a clipped
    /// prediction, contributes s = 0), squared and summed.
    fn block_gauss_newton_diagonal(&self, theta: &Theta<B>, block: Batch<B>) -> Vec<f64> {
        let n = block.n_samples();
        let factors = self.output_hessian_factors(theta, block.clone());
        // Every column has the outputs' width; no column at all leaves nothing to do.
        let width = factors.iter().flatten().next().map_or(0, Vec::len);
        let columns = factors.iter().map(Vec::len).max().unwrap_or(0);
        // Made once for all columns: each pass's leaves are fresh wrappers of the same copies.
        let copies = self.per_sample_copies(theta, n);
        let mut diagonal = vec![0.0; self.dim];
        for r in 0..columns {
            let s: Vec<f64> = factors
                .iter()
                .flat_map(|factor| factor.get(r).cloned().unwrap_or_else(|| vec![0.0; width]))
                .collect();
            let by_tensor = self.grad_of_scalar(&copies, &block, |copies, block| {
                let s = Tensor::<Autodiff<B>, 1>::from_inner(to_tensor::<B>(
                    &s,
                    &self.device,
                    self.dtype,
                ))
                .reshape([n, width]);
                (net::outputs_of_copies(&self.arch, copies, block) * s).sum()
            });
            for (columns, grads) in tensor_rows(theta, &by_tensor, n) {
                for sample in grads.chunks(columns.len()) {
                    for (d, g) in diagonal[columns.clone()].iter_mut().zip(sample) {
                        *d += g * g;
                    }
                }
            }
        }
        diagonal
    }

    /// For each sample of `block`, the columns s_r of a factor A = Σ_r s_r s_rᵀ of the loss's
    /// Hessian in the outputs, from one forward pass.
    fn output_hessian_factors(&self, theta: &Theta<B>, block: Batch<B>) -> Vec<Vec<Vec<f64>>> {
        let f = net::outputs(&self.arch, theta.clone(), block.x);
        match self.arch {
            ArchSpec::FixedOutput { .. } => {
                // Inside the clip exactly where clipping leaves the value unchanged.
                let clipped = to_host(net::clip_prediction(f.clone()));
                to_host(f)
                    .iter()
                    .zip(&clipped)
                    .map(|(f, c)| clipped_square_hessian_factor(f == c))
                    .collect()
            }
            _ => {
                let width = f.dims()[1];
                to_host(f)
                    .chunks_exact(width)
                    .map(cross_entropy_hessian_factor)
                    .collect()
            }
        }
    }
}
