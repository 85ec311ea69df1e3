//! The memory an analysis ([`crate::report_from_spectrum`] after [`crate::HessianSpectrum::compute`])
//! holds at once, sized from D, N and the options before any work, so that a network with
//! millions of parameters is refused with what to change instead of swapping or aborting.
//!
//! Counted: the f64 D-vectors of each stage in host memory (Lanczos bases and eigenvectors,
//! per-sample gradient chunks and their copies, Σ's centred gradients), but not a Krylov basis
//! a GPU keeps ([`KrylovBasis::Device`]). Not counted: the data set, the network's activations and a few D-vectors of θ, gradients and HVP in- and outputs
//! ([`OVERHEAD_VECTORS`] cover those), and the objective's own working memory while it computes
//! a chunk (the burn networks' per-sample copies of θ: at most 16 MiB per block, one block per
//! thread at once, about five times that with their gradients) or keeps between calls (the
//! burn networks' copy of the last θ: a D-vector, and on the device θ's tensors, which on the
//! CPU hold up to 2·D values in the computing precision).

use curvscope_hessian::{krylov_size, LanczosOptions, Which};

use crate::covariance::CHUNK;
use crate::report::{ReportOptions, TraceHSigmaMethod};
use crate::{DescentOptions, Dynamic};

/// D-vectors every stage holds besides its own: θ, ∇L, an HVP's input and output (in
/// training, [`TrainingPlan`]: θ, ∇L, the noise and θ₀).
pub const OVERHEAD_VECTORS: u64 = 4;

/// Copies of a chunk of per-sample gradients alive at once: the objective's rows, their
/// deviations from ∇L, and for exact Tr(HΣ) the rows again and their HVPs. (Since 2026-12-05
/// the deviations overwrite the rows; the count is kept as a bound, not measured again.)
const CHUNK_COPIES: u64 = 4;

/// Copies of a chunk of per-sample gradients alive while [`crate::noise_statistics`] streams
/// them: the objective's rows on the device (f32 there) and on the host, their deviations
/// from ∇L, and the network's per-row working memory. Measured on a D = 9.4 M MLP: peak RSS
/// grew by 2.0–3.4 D-vectors per row (3 copies let a 4 GB budget peak at 4.5 GB). Since
/// 2026-12-05 the deviations overwrite the rows, and each row's products along the directions
/// are summed per block of 4,096 columns first (1 + k numbers a block, about 0.07 D-vectors a
/// row with k = 20); 4 is kept as a bound, not measured again.
const STREAM_COPIES: u64 = 4;

/// D-vectors [`crate::noise_statistics`] holds besides its chunk: the shift ∇L, the running
/// sum of deviations and of their squares (diag(Σ)), and the result.
const STATISTICS_VECTORS: u64 = 4;

/// D-vectors Lanczos holds on the host when its basis is on the device
/// (`curvscope_model::DeviceBasis`): the next basis vector, the last one (for the three-term
/// recurrence), and a Gram–Schmidt pass's padded copy of w for upload and its read-back.
const DEVICE_BASIS_HOST_VECTORS: u64 = 4;

/// Where Lanczos keeps the Hessian's Krylov basis (top-k, λ_min, SLQ), and so whose memory it
/// takes: the objective decides (`curvscope_model::Objective::basis_store`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KrylovBasis {
    /// In host memory, in f64 (the CPU backend): counted against the budget.
    #[default]
    Host,
    /// On the GPU, in f32 (the burn-cubecl backends): GPU memory, not counted; the host holds
    /// 4 D-vectors for it. Σ's basis stays on the host (its operator offers no device store).
    Device,
}

impl KrylovBasis {
    /// Host bytes of a Lanczos run with `basis` basis vectors and `others` more D-vectors
    /// (eigenvectors), besides [`OVERHEAD_VECTORS`], and how its basis reads in a message.
    fn lanczos(self, dim: usize, basis: u64, others: u64) -> (u64, String) {
        let vector = 8 * dim as u64;
        match self {
            KrylovBasis::Host => (
                (basis + others + OVERHEAD_VECTORS).saturating_mul(vector),
                format!("{basis} basis vectors"),
            ),
            KrylovBasis::Device => (
                (DEVICE_BASIS_HOST_VECTORS + others + OVERHEAD_VECTORS).saturating_mul(vector),
                format!(
                    "{basis} basis vectors on the GPU (at least {} there) + \
                     {DEVICE_BASIS_HOST_VECTORS} on the host",
                    format_bytes(basis.saturating_mul(4 * dim as u64))
                ),
            ),
        }
    }
}

pub use curvscope_model::format_bytes;

/// The first of `stages` over `budget` as an error, if any.
fn refuse_over_budget(stages: &[MemoryStage], dim: usize, budget: u64) -> Result<(), MemoryError> {
    match stages.iter().find(|s| s.bytes > budget) {
        Some(stage) => Err(MemoryError {
            stage: stage.clone(),
            dim,
            budget,
        }),
        None => Ok(()),
    }
}

/// One stage of an analysis and the memory it holds at its peak.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryStage {
    /// What is held, e.g. "Lanczos for the top 20 eigenpairs of H (140 basis vectors + 20 eigenvectors)".
    pub what: String,
    /// Bytes held at once.
    pub bytes: u64,
    /// The options that lower it.
    pub remedy: &'static str,
}

/// Why an analysis does not fit its memory budget.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{} needs {} (D = {dim}), budget {}: {}, or raise --max-memory", .stage.what, format_bytes(.stage.bytes), format_bytes(*.budget), .stage.remedy)]
pub struct MemoryError {
    /// The first stage over budget.
    pub stage: MemoryStage,
    /// D.
    pub dim: usize,
    /// The budget, in bytes.
    pub budget: u64,
}

/// An analysis sized to a budget: its stages and the per-sample chunk that fits.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    /// Per-sample gradients streamed at once: `requested_chunk`, lowered to fit the budget.
    pub chunk: usize,
    /// `options.chunk`, at most N: what streams without a budget.
    pub requested_chunk: usize,
    /// Every stage, in the order the analysis runs them, with the chunk above.
    pub stages: Vec<MemoryStage>,
}

impl MemoryPlan {
    /// Sizes the analysis of `options` on D = `dim` parameters and N = `n_samples` samples,
    /// the Hessian's Krylov bases kept in `basis`, against `budget` bytes of host memory:
    /// lowers the per-sample chunk until it fits (at least 1), and refuses, naming the stage
    /// and the options that lower it, when a stage does not fit.
    ///
    /// ```
    /// use curvscope_metrics::{KrylovBasis, MemoryPlan, ReportOptions};
    /// let options = ReportOptions { sigma_top_k: 0, ..ReportOptions::default() };
    /// // D = 10⁶: top-20 Lanczos holds 140 + 20 + 4 vectors of 8 MB, 1.31 GB.
    /// let plan = MemoryPlan::new(1_000_000, 1000, &options, KrylovBasis::Host, 2_000_000_000)?;
    /// assert_eq!(plan.chunk, 56); // (2 GB / 8 MB − 20 − 4) / 4 copies, not the asked-for 64
    /// let err = MemoryPlan::new(1_000_000, 1000, &options, KrylovBasis::Host, 1_000_000_000)
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("Lanczos for the top 20 eigenpairs of H"));
    /// assert!(err.to_string().contains("needs 1.3 GB (D = 1000000), budget 1.0 GB: lower -k or --max-krylov"));
    /// // With the basis on a GPU the host holds 4 + 20 + 4 of those vectors (224 MB).
    /// let plan = MemoryPlan::new(1_000_000, 1000, &options, KrylovBasis::Device, 1_000_000_000)?;
    /// assert_eq!(plan.stages[0].bytes, 224_000_000);
    /// # Ok::<(), curvscope_metrics::MemoryError>(())
    /// ```
    pub fn new(
        dim: usize,
        n_samples: usize,
        options: &ReportOptions,
        basis: KrylovBasis,
        budget: u64,
    ) -> Result<Self, MemoryError> {
        let vector = 8 * dim as u64;
        let vectors = |count: u64| (count + OVERHEAD_VECTORS).saturating_mul(vector);
        let curvature = &options.curvature;
        let k = curvature.top_k;
        // H's Lanczos runs as `HessianSpectrum::compute` sets them (--max-krylov, --restarts).
        let krylov = |k, which| {
            let opts = LanczosOptions {
                k,
                which,
                max_krylov: curvature.max_krylov,
                restarts: curvature.restarts.unwrap_or(0),
                ..LanczosOptions::default()
            };
            krylov_size(&opts, dim) as u64
        };
        let eigenvectors = k.min(dim) as u64;
        let (bytes, top_basis) = basis.lanczos(dim, krylov(k, Which::Largest), eigenvectors);
        let mut stages = vec![MemoryStage {
            what: format!(
                "Lanczos for the top {k} eigenpairs of H ({top_basis} + {eigenvectors} \
                 eigenvectors)"
            ),
            bytes,
            remedy: "lower -k or --max-krylov",
        }];
        if curvature.lambda_min {
            // Its own eigenvector besides H's.
            let (bytes, m) = basis.lanczos(dim, krylov(1, Which::Smallest), 1 + eigenvectors);
            stages.push(MemoryStage {
                what: format!("Lanczos for λ_min ({m} + H's {eigenvectors})"),
                bytes,
                remedy: "pass --no-lambda-min, lower --max-krylov",
            });
        }
        if let Some(slq) = &curvature.density {
            let (bytes, steps) = basis.lanczos(dim, slq.steps.min(dim) as u64, eigenvectors);
            stages.push(MemoryStage {
                what: format!("SLQ density ({steps} per probe + H's {eigenvectors})"),
                bytes,
                remedy: "lower --density-steps",
            });
        }
        // The largest chunk that fits beside the eigenvectors, at most the one asked for.
        let room = (budget / vector.max(1)).saturating_sub(eigenvectors + OVERHEAD_VECTORS);
        let copies = match options.trace_h_sigma {
            TraceHSigmaMethod::Exact => CHUNK_COPIES,
            TraceHSigmaMethod::Stochastic { .. } => CHUNK_COPIES / 2,
        };
        // No chunk is longer than the data.
        let requested_chunk = options.chunk.min(n_samples).max(1);
        let chunk = (room / copies).clamp(1, requested_chunk as u64) as usize;
        stages.push(MemoryStage {
            what: format!(
                "streaming per-sample gradients ({chunk} at a time × {copies} copies + H's \
                 {eigenvectors} eigenvectors)"
            ),
            bytes: vectors(copies * chunk as u64 + eigenvectors),
            remedy: "lower -k",
        });
        if options.sigma_top_k > 0 {
            // Σ's Lanczos takes the default subspace (`report_from_spectrum`), not --max-krylov.
            let sigma = LanczosOptions {
                k: options.sigma_top_k,
                ..LanczosOptions::default()
            };
            let m = krylov_size(&sigma, dim) as u64;
            let sk = options.sigma_top_k.min(dim) as u64;
            stages.push(MemoryStage {
                what: format!(
                    "Σ's eigenpairs (--sigma-top-k {}): all N = {n_samples} centred gradients + \
                     a chunk of {chunk} + {m} basis vectors + {sk} eigenvectors + H's \
                     {eigenvectors}",
                    options.sigma_top_k
                ),
                bytes: vectors(n_samples as u64 + chunk as u64 + m + sk + eigenvectors),
                remedy: "lower --sigma-top-k (0 skips it) or analyze fewer samples",
            });
        }
        refuse_over_budget(&stages, dim, budget)?;
        Ok(Self {
            chunk,
            requested_chunk,
            stages,
        })
    }

    /// The largest stage's bytes: the analysis' peak, as counted here.
    pub fn peak(&self) -> u64 {
        self.stages.iter().map(|s| s.bytes).max().unwrap_or(0)
    }
}

/// The host memory of a landscape slice's Hessian directions (`curvscope landscape
/// --directions hessian`): Lanczos for the top `opts.k` with its basis where `basis` keeps it,
/// the k eigenvectors and the k directions u_i/√λ_i formed from them, refused over `budget`
/// before its first HVP. (The grid after it holds the directions and a displaced θ per thread,
/// far less.)
///
/// ```
/// use curvscope_hessian::LanczosOptions;
/// use curvscope_metrics::{hessian_directions_memory, KrylovBasis::Host};
/// // D = 10⁶, a plane: 104 basis vectors + 2 + 2 + 4 of 8 MB, 896 MB.
/// let opts = LanczosOptions { k: 2, ..LanczosOptions::default() };
/// assert_eq!(hessian_directions_memory(1_000_000, &opts, Host, u64::MAX)?.bytes, 896_000_000);
/// let err = hessian_directions_memory(1_000_000, &opts, Host, 500_000_000).unwrap_err();
/// assert!(err.to_string().contains("lower --max-krylov"), "{err}");
/// // Held to 20 vectors (restarted thickly to converge in them): 224 MB.
/// let held = LanczosOptions { max_krylov: Some(20), restarts: 10, ..opts };
/// assert_eq!(hessian_directions_memory(1_000_000, &held, Host, 500_000_000)?.bytes, 224_000_000);
/// # Ok::<(), curvscope_metrics::MemoryError>(())
/// ```
pub fn hessian_directions_memory(
    dim: usize,
    opts: &LanczosOptions,
    basis: KrylovBasis,
    budget: u64,
) -> Result<MemoryStage, MemoryError> {
    let k = opts.k.min(dim) as u64;
    let (bytes, m) = basis.lanczos(dim, krylov_size(opts, dim) as u64, 2 * k);
    let stage = MemoryStage {
        what: format!(
            "Lanczos for the top {k} Hessian directions ({m} + {k} eigenvectors + {k} directions)"
        ),
        bytes,
        remedy: "lower --max-krylov (with --restarts to converge in it)",
    };
    refuse_over_budget(std::slice::from_ref(&stage), dim, budget)?;
    Ok(stage)
}

/// Training with a dynamic sized to a budget, like [`MemoryPlan`] for an analysis: the stages
/// [`crate::Descent`] holds at once and the per-sample chunk its noise estimates stream.
///
/// Why: the Gaussian dynamics stream all N per-sample gradients every R steps, and GLD leading
/// keeps them (N·D·8 bytes). Unplanned, a D = 9.4 M MLP on 200 samples streamed them 200 at a
/// time (15 GB a copy) and the kernel killed the run a minute in; a D = 721 M network aborted
/// on θ itself. Planned, the chunk shrinks to fit, and what cannot fit is refused before any work.
///
/// ```
/// use curvscope_metrics::{DescentOptions, Dynamic, KrylovBasis::Host, TrainingPlan};
/// let options = |dynamic| DescentOptions::new(dynamic, 20);
/// // D = 10⁶ (8 MB vectors), N = 200: gld-diag streams 200 gradients at a time when it can…
/// let plan = TrainingPlan::new(&options(Dynamic::GldDiag), 1_000_000, 200, Host, u64::MAX)?;
/// assert_eq!(plan.chunk, 200);
/// // …and 29 in 1 GB: (125 vectors − 4 for θ & co. − 4 for the statistics) / 4 copies.
/// let plan = TrainingPlan::new(&options(Dynamic::GldDiag), 1_000_000, 200, Host, 1_000_000_000)?;
/// assert_eq!(plan.chunk, 29);
/// // GLD leading keeps all 200 centred gradients (1.6 GB alone): refused, saying what to lower.
/// let leading = options(Dynamic::GldLeading);
/// let err = TrainingPlan::new(&leading, 1_000_000, 200, Host, 1_000_000_000).unwrap_err();
/// assert!(err.to_string().contains("all N = 200 centred gradients"), "{err}");
/// # Ok::<(), curvscope_metrics::MemoryError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingPlan {
    /// Per-sample gradients streamed at once by the noise estimates (see
    /// [`crate::Descent::with_chunk`]); the results do not depend on it.
    pub chunk: usize,
    /// What streams without a budget: [`crate::Descent`]'s default chunk, at most N.
    pub requested_chunk: usize,
    /// Every stage, with the chunk above.
    pub stages: Vec<MemoryStage>,
}

impl TrainingPlan {
    /// Sizes training with `options` (the dynamic; k of GLD leading and GLD Hessian; whether
    /// its noise trace is estimated) on D = `dim` parameters and N = `n_samples` samples, H_t's
    /// Krylov bases kept in `basis`, against `budget` bytes of host memory, refusing, with the
    /// stage and what lowers it, what does not fit.
    /// Counted as in [`MemoryPlan`]: D-vectors, not the data, activations or the network's
    /// working memory.
    pub fn new(
        options: &DescentOptions,
        dim: usize,
        n_samples: usize,
        basis: KrylovBasis,
        budget: u64,
    ) -> Result<Self, MemoryError> {
        let (dynamic, rank) = (options.dynamic, options.rank);
        let vector = 8 * dim as u64;
        let vectors = |count: u64| (count + OVERHEAD_VECTORS).saturating_mul(vector);
        let mut stages = vec![MemoryStage {
            what: format!("training (θ, ∇L, the noise and θ₀: {OVERHEAD_VECTORS} vectors)"),
            bytes: vectors(0),
            remedy: "train a smaller network",
        }];
        let lanczos = |k: usize| {
            let opts = LanczosOptions {
                k,
                ..LanczosOptions::default()
            };
            (krylov_size(&opts, dim) as u64, k.min(dim) as u64)
        };
        let n = n_samples as u64;
        // D-vectors the noise structure holds while the per-sample gradients stream.
        let held = match dynamic {
            Dynamic::GldLeading => {
                let (m, k) = lanczos(rank);
                stages.push(MemoryStage {
                    what: format!(
                        "Σ_t's top {rank} eigenpairs (gld-leading): all N = {n} centred \
                         gradients + {m} basis vectors + {k} eigenvectors"
                    ),
                    bytes: vectors(n + m + k),
                    remedy: "lower --rank, train on fewer samples, or pick another --dynamic",
                });
                n
            }
            Dynamic::GldHessian | Dynamic::GldEigvec1 => {
                let eigvec1 = dynamic == Dynamic::GldEigvec1;
                let (m, k) = lanczos(if eigvec1 { 1 } else { rank });
                let (bytes, m) = basis.lanczos(dim, m, k);
                stages.push(MemoryStage {
                    what: format!("H_t's top {k} eigenpairs ({dynamic}): {m} + {k} eigenvectors"),
                    bytes,
                    remedy: match eigvec1 {
                        true => "train a smaller network or pick another --dynamic",
                        false => "lower --rank",
                    },
                });
                k
            }
            _ => 0,
        };
        let requested = CHUNK.min(n_samples).max(1) as u64;
        let room =
            (budget / vector.max(1)).saturating_sub(held + STATISTICS_VECTORS + OVERHEAD_VECTORS);
        let chunk = (room / STREAM_COPIES).clamp(1, requested);
        if options.streams_per_sample_gradients() {
            stages.push(MemoryStage {
                what: format!(
                    "Tr(Σ_t) from the per-sample gradients ({chunk} at a time × {STREAM_COPIES} \
                     copies + {STATISTICS_VECTORS} sums{})",
                    if held > 0 {
                        format!(" + {held} held")
                    } else {
                        String::new()
                    }
                ),
                bytes: vectors(STREAM_COPIES * chunk + STATISTICS_VECTORS + held),
                remedy: "train a smaller network or pick another --dynamic",
            });
        }
        refuse_over_budget(&stages, dim, budget)?;
        Ok(Self {
            chunk: chunk as usize,
            requested_chunk: requested as usize,
            stages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CurvatureOptions;

    fn options(sigma_top_k: usize) -> ReportOptions {
        ReportOptions {
            sigma_top_k,
            curvature: CurvatureOptions {
                top_k: 5,
                ..CurvatureOptions::default()
            },
            ..ReportOptions::default()
        }
    }

    #[test]
    fn stages_count_the_vectors_each_holds() {
        // D = 1000 (8 kB vectors), N = 50 (so chunks of 50, not 64), k = 5: Lanczos basis
        // 2·5 + 100 = 110.
        let plan = MemoryPlan::new(1000, 50, &options(3), KrylovBasis::Host, u64::MAX).unwrap();
        let kb = |vectors: u64| vectors * 8000;
        let bytes: Vec<u64> = plan.stages.iter().map(|s| s.bytes).collect();
        assert_eq!(
            bytes,
            [
                kb(110 + 5 + 4),
                kb(102 + 1 + 5 + 4),
                kb(4 * 50 + 5 + 4),
                kb(50 + 50 + 106 + 3 + 5 + 4)
            ]
        );
        assert_eq!(
            (plan.chunk, plan.requested_chunk, plan.peak()),
            (50, 50, kb(50 + 50 + 106 + 3 + 9))
        );
    }

    /// --max-krylov bounds H's bases (with --restarts, one past the pairs wanted at least),
    /// not Σ's, which `report_from_spectrum` runs in its default 2·3 + 100.
    #[test]
    fn max_krylov_sizes_the_hessians_bases_only() {
        let mut bounded = options(3);
        bounded.curvature.max_krylov = Some(20);
        let plan = MemoryPlan::new(1000, 50, &bounded, KrylovBasis::Host, u64::MAX).unwrap();
        let kb = |vectors: u64| vectors * 8000;
        let bytes: Vec<u64> = plan.stages.iter().map(|s| s.bytes).collect();
        assert_eq!(bytes[..2], [kb(20 + 5 + 4), kb(20 + 1 + 5 + 4)]);
        assert_eq!(bytes[3], kb(50 + 50 + 106 + 3 + 5 + 4));
        bounded.curvature.max_krylov = Some(5);
        bounded.curvature.restarts = Some(10);
        let plan = MemoryPlan::new(1000, 50, &bounded, KrylovBasis::Host, u64::MAX).unwrap();
        assert_eq!(plan.stages[0].bytes, kb(6 + 5 + 4));
    }

    #[test]
    fn the_chunk_shrinks_to_the_budget_then_the_analysis_is_refused() {
        let kb = |vectors: u64| vectors * 8000;
        // Room for 150 chunk vectors beside 5 eigenvectors and the overhead: 37 per copy.
        let plan = MemoryPlan::new(1000, 50, &options(0), KrylovBasis::Host, kb(159)).unwrap();
        assert_eq!((plan.chunk, plan.requested_chunk), (37, 50));
        assert_eq!(plan.peak(), kb(4 * 37 + 9));
        // Just above the top-k Lanczos stage (119 vectors).
        let plan = MemoryPlan::new(1000, 50, &options(0), KrylovBasis::Host, kb(120)).unwrap();
        assert_eq!(plan.chunk, 27);
        let err = MemoryPlan::new(1000, 50, &options(0), KrylovBasis::Host, kb(118)).unwrap_err();
        assert!(err.stage.what.starts_with("Lanczos for the top 5"), "{err}");
        // Σ's N centred gradients are what does not fit.
        let err = MemoryPlan::new(1000, 50, &options(3), KrylovBasis::Host, kb(150)).unwrap_err();
        assert_eq!(
            err.stage.remedy,
            "lower --sigma-top-k (0 skips it) or analyze fewer samples"
        );
        assert!(
            err.to_string().contains("all N = 50 centred gradients"),
            "{err}"
        );
    }

    /// With H's Krylov bases on a GPU the host holds 4 vectors for them, not m, whatever m; Σ's
    /// basis stays on the host.
    #[test]
    fn a_basis_on_the_device_takes_no_host_memory() {
        let kb = |vectors: u64| vectors * 8000;
        let plan = MemoryPlan::new(1000, 50, &options(3), KrylovBasis::Device, u64::MAX).unwrap();
        let bytes: Vec<u64> = plan.stages.iter().map(|s| s.bytes).collect();
        assert_eq!(
            bytes,
            [
                kb(4 + 5 + 4),
                kb(4 + 1 + 5 + 4),
                kb(4 * 50 + 5 + 4),
                kb(50 + 50 + 106 + 3 + 5 + 4)
            ]
        );
        assert_eq!(
            plan.stages[0].what,
            "Lanczos for the top 5 eigenpairs of H (110 basis vectors on the GPU (at least \
             440.0 kB there) + 4 on the host + 5 eigenvectors)"
        );
        // 118 vectors refuse the host's top-5 Lanczos (119) and take the device's.
        let host = MemoryPlan::new(1000, 50, &options(0), KrylovBasis::Host, kb(118));
        assert!(host.is_err());
        let device = MemoryPlan::new(1000, 50, &options(0), KrylovBasis::Device, kb(118));
        assert!(device.is_ok());
        // Training: H_t's basis moves, Σ_t's stays.
        let on = |dynamic, basis| TrainingPlan::new(&training(dynamic), 1000, 50, basis, kb(100));
        assert!(on(Dynamic::GldEigvec1, KrylovBasis::Host).is_err());
        let plan = on(Dynamic::GldEigvec1, KrylovBasis::Device).unwrap();
        assert_eq!(plan.stages[1].bytes, kb(4 + 1 + 4));
        assert!(on(Dynamic::GldLeading, KrylovBasis::Device).is_err());
    }

    /// `dynamic` with k = 5.
    fn training(dynamic: Dynamic) -> DescentOptions {
        DescentOptions {
            rank: 5,
            ..DescentOptions::new(dynamic, 20)
        }
    }

    #[test]
    fn training_stages_count_what_each_dynamic_holds() {
        // D = 1000 (8 kB vectors), N = 50, k = 5: Lanczos basis 2·5 + 100 = 110.
        let kb = |vectors: u64| vectors * 8000;
        let bytes = |dynamic| -> Vec<u64> {
            let plan = TrainingPlan::new(&training(dynamic), 1000, 50, KrylovBasis::Host, u64::MAX)
                .unwrap();
            assert_eq!(plan.chunk, 50, "{dynamic}");
            plan.stages.iter().map(|s| s.bytes).collect()
        };
        // SGD and M-SGD hold θ, ∇L, the noise and θ₀ only; GLD const streams Tr(Σ) once.
        assert_eq!(bytes(Dynamic::Sgd), [kb(4)]);
        assert_eq!(bytes(Dynamic::MsgdFisherB), [kb(4)]);
        assert_eq!(bytes(Dynamic::GldConst), [kb(4), kb(4 * 50 + 4 + 4)]);
        assert_eq!(bytes(Dynamic::GldDiag), [kb(4), kb(4 * 50 + 4 + 4)]);
        // GLD leading keeps all N centred gradients beside its Lanczos basis, and fills them
        // while the rest stream.
        assert_eq!(
            bytes(Dynamic::GldLeading),
            [kb(4), kb(50 + 110 + 5 + 4), kb(4 * 50 + 4 + 50 + 4)]
        );
        // GLD Hessian holds its k eigenvectors while Tr(Σ) streams; 1st eigvec holds one.
        assert_eq!(
            bytes(Dynamic::GldHessian),
            [kb(4), kb(110 + 5 + 4), kb(4 * 50 + 4 + 5 + 4)]
        );
        assert_eq!(
            bytes(Dynamic::GldEigvec1),
            [kb(4), kb(102 + 1 + 4), kb(4 * 50 + 4 + 1 + 4)]
        );
        // A noise trace that is given, not estimated, streams nothing: GLD const's ρ, or a
        // fixed E‖ε‖² for GLD Hessian (GLD diag still streams diag(Σ_t), its shape).
        let given = |options: DescentOptions| {
            let plan = TrainingPlan::new(&options, 1000, 50, KrylovBasis::Host, u64::MAX).unwrap();
            plan.stages.iter().map(|s| s.bytes).collect::<Vec<_>>()
        };
        let rho = DescentOptions {
            noise_std: Some(1e-3),
            ..training(Dynamic::GldConst)
        };
        assert_eq!(given(rho), [kb(4)]);
        let fixed = |dynamic| DescentOptions {
            noise_trace: Some(0.01),
            ..training(dynamic)
        };
        assert_eq!(given(fixed(Dynamic::GldHessian)), [kb(4), kb(110 + 5 + 4)]);
        assert_eq!(given(fixed(Dynamic::GldDiag)).len(), 2);
    }

    #[test]
    fn the_training_chunk_shrinks_to_the_budget_then_training_is_refused() {
        let kb = |vectors: u64| vectors * 8000;
        // Room for 40 streamed vectors beside θ & co. and the sums: 10 rows of 4 copies.
        let plan = TrainingPlan::new(
            &training(Dynamic::GldDynamic),
            1000,
            50,
            KrylovBasis::Host,
            kb(48),
        )
        .unwrap();
        assert_eq!(plan.chunk, 10);
        assert!(plan.stages.iter().all(|s| s.bytes <= kb(48)));
        // Below a row's 4 copies the chunk stays 1, and the stage does not fit.
        let err = TrainingPlan::new(
            &training(Dynamic::GldDynamic),
            1000,
            50,
            KrylovBasis::Host,
            kb(10),
        )
        .unwrap_err();
        assert!(
            err.stage.what.starts_with("Tr(Σ_t) from the per-sample"),
            "{err}"
        );
        // GD needs θ & co. only…
        assert!(
            TrainingPlan::new(&training(Dynamic::Gd), 1000, 50, KrylovBasis::Host, kb(4)).is_ok()
        );
        // …and is refused below them, as a network too large to train.
        let err = TrainingPlan::new(
            &training(Dynamic::Gd),
            1000,
            50,
            KrylovBasis::Host,
            kb(4) - 1,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("train a smaller network, or raise --max-memory"),
            "{err}"
        );
        // GLD 1st eigvec's k is 1 whatever --rank says: its remedy does not name --rank.
        let err = TrainingPlan::new(
            &training(Dynamic::GldEigvec1),
            1000,
            50,
            KrylovBasis::Host,
            kb(100),
        )
        .unwrap_err();
        assert_eq!(
            err.stage.remedy,
            "train a smaller network or pick another --dynamic"
        );
        // GLD leading's N centred gradients do not fit where GLD dynamic's stream does.
        let err = TrainingPlan::new(
            &training(Dynamic::GldLeading),
            1000,
            50,
            KrylovBasis::Host,
            kb(100),
        )
        .unwrap_err();
        assert_eq!(
            err.stage.remedy,
            "lower --rank, train on fewer samples, or pick another --dynamic"
        );
    }
}
