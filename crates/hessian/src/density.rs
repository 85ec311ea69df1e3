//! Spectral density by stochastic Lanczos quadrature (Ghorbani, Krishnan, Xiao 2019; the
//! `density` of PyHessian).
//!
//! For a unit probe v, m Lanczos steps from v give T_m = S diag(θ) Sᵀ, and the Gauss
//! quadrature Σ_j S_{0j}² f(θ_j) equals vᵀf(A)v exactly for polynomials f of degree
//! ≤ 2m − 1. For v uniform on the sphere (a normalized Gaussian) or a normalized Rademacher
//! vector, E[vᵀf(A)v] = Tr f(A)/D, so averaging the quadratures over probes estimates the
//! spectral measure (1/D)Σ_i δ(λ − λ_i).

use serde::{Deserialize, Serialize};

use crate::estimate::{mean_and_stderr, Estimate, Estimator};
use crate::krylov::{gaussian_vector, rademacher_vector, seeded_rng, Krylov};
use crate::{CountingOperator, LinearOperator};

/// Gaussian tails beyond this many σ (~1e-9 of the mass) are left off the density grid.
const PAD_SIGMAS: f64 = 6.0;
/// Grid points of [`Slq::broadened_density`], PyHessian's.
const BROADENED_GRID: usize = 4000;

/// Distribution of the (then normalized) SLQ probe vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeKind {
    /// Standard normal entries (normalized: uniform on the sphere).
    Gaussian,
    /// ±1 entries (normalized: entries ±1/√D).
    Rademacher,
}

/// Settings of [`slq`].
///
/// ```
/// use curvscope_hessian::{ProbeKind, SlqOptions};
///
/// let opts = SlqOptions { n_probes: 4, steps: 30, ..SlqOptions::default() };
/// assert_eq!(opts.probe, ProbeKind::Gaussian);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlqOptions {
    /// Number of probes n_v (≥ 2 for standard errors).
    pub n_probes: usize,
    /// Lanczos steps m per probe (capped at D; fewer if the Krylov space is invariant).
    pub steps: usize,
    /// Probe distribution.
    pub probe: ProbeKind,
    /// Seed of the ChaCha8 generator for the probes.
    pub seed: u64,
}

impl Default for SlqOptions {
    fn default() -> Self {
        Self {
            n_probes: 10,
            steps: 100,
            probe: ProbeKind::Gaussian,
            seed: 0,
        }
    }
}

/// Gauss quadrature of one probe: nodes θ_j (Ritz values) and weights S_{0j}², summing to 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quadrature {
    /// Eigenvalues of T_m.
    pub nodes: Vec<f64>,
    /// Squared first components of T_m's eigenvectors.
    pub weights: Vec<f64>,
}

/// The raw result of [`slq`]: one quadrature per probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slq {
    /// The (node, weight) pairs of each probe.
    pub probes: Vec<Quadrature>,
    /// Operator applications in total.
    pub n_applications: usize,
    /// The seed used.
    pub seed: u64,
}

/// A smoothed spectral density on a grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Density {
    /// Equispaced points from min node − 6σ to max node + 6σ.
    #[serde(with = "crate::non_finite::vec")]
    pub grid: Vec<f64>,
    /// Density values, normalized so the trapezoid rule over `grid` gives exactly 1.
    #[serde(with = "crate::non_finite::vec")]
    pub values: Vec<f64>,
    /// Standard deviation of the Gaussian broadening (variance σ²).
    #[serde(with = "crate::non_finite")]
    pub sigma: f64,
    /// Trapezoid integral before normalization: near 1 unless the grid is too coarse for σ.
    #[serde(with = "crate::non_finite")]
    pub raw_mass: f64,
}

/// Runs stochastic Lanczos quadrature: for each probe, `steps` Lanczos steps with full
/// reorthogonalization (so the nodes are free of spurious copies) from the normalized
/// probe. Probes are processed one after the other (memory: `steps` vectors of length D).
/// An operator that gives a NaN or ∞ ends the run with the probe that met it (its nodes and
/// weights NaN, so every moment and density is NaN).
///
/// # Panics
/// If `n_probes` or `steps` is 0.
///
/// ```
/// use curvscope_hessian::{slq, DenseOperator, SlqOptions};
/// use nalgebra::{DMatrix, DVector};
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(20, |i, _| i as f64)));
/// let q = slq(&a, &SlqOptions { n_probes: 3, steps: 20, ..SlqOptions::default() });
/// for probe in &q.probes {
///     assert!((probe.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
/// }
/// // 20 steps from a generic vector recover the whole spectrum {0, …, 19}.
/// assert!((q.probes[0].nodes.iter().cloned().fold(f64::MIN, f64::max) - 19.0).abs() < 1e-8);
/// ```
pub fn slq<O: LinearOperator + ?Sized>(op: &O, opts: &SlqOptions) -> Slq {
    assert!(
        opts.n_probes >= 1 && opts.steps >= 1,
        "need a probe and a step"
    );
    let d = op.dim();
    let counted = CountingOperator::new(op);
    let mut rng = seeded_rng(opts.seed);
    let mut probes = Vec::with_capacity(opts.n_probes);
    while probes.len() < opts.n_probes {
        let v = match opts.probe {
            ProbeKind::Gaussian => gaussian_vector(&mut rng, d),
            ProbeKind::Rademacher => rademacher_vector(&mut rng, d),
        };
        let mut krylov = Krylov::new(&counted, v);
        // A breakdown means the probe's spectral measure is fully captured: stop there.
        while krylov.len() < opts.steps.min(d) && !krylov.broken_down() {
            krylov.step(&counted);
        }
        let eig = krylov.ritz();
        probes.push(Quadrature {
            weights: eig.eigenvectors.row(0).iter().map(|s| s * s).collect(),
            nodes: eig.eigenvalues.iter().copied().collect(),
        });
        // A NaN or ∞ from the operator makes every moment and density NaN: no later probe
        // can change that, so none is paid for.
        if krylov.non_finite() {
            break;
        }
    }
    Slq {
        probes,
        n_applications: counted.applications(),
        seed: opts.seed,
    }
}

impl Slq {
    /// Estimate of Tr(A^p)/D: the mean over probes of Σ_j w_j θ_j^p (exact per probe while
    /// p ≤ 2·steps − 1), with its standard error across probes (infinite with one probe).
    /// When a few outlier eigenvalues dominate A^p the per-probe values are skewed
    /// (χ²₁-like), and with few probes this standard error is itself unreliable: use ≳ 30
    /// probes before trusting it. Above p = 2·steps − 1 the Gauss quadrature is no longer
    /// exact per probe (unless Lanczos met an invariant subspace): that bias is systematic,
    /// shared by every probe, and not in the standard error.
    ///
    /// ```
    /// use curvscope_hessian::{slq, DenseOperator, SlqOptions};
    /// use nalgebra::{DMatrix, DVector};
    ///
    /// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(100, |i, _| i as f64 / 10.0)));
    /// let q = slq(&a, &SlqOptions { n_probes: 20, steps: 10, ..SlqOptions::default() });
    /// let m1 = q.moment(1);
    /// assert!((m1.value - 4.95).abs() <= 4.0 * m1.stderr);
    /// ```
    pub fn moment(&self, p: u32) -> Estimate {
        let per_probe: Vec<f64> = self
            .probes
            .iter()
            .map(|q| {
                q.nodes
                    .iter()
                    .zip(&q.weights)
                    .map(|(x, w)| w * x.powi(p as i32))
                    .sum()
            })
            .collect();
        let (value, stderr) = mean_and_stderr(&per_probe);
        Estimate {
            value,
            stderr,
            estimator: Estimator::Stochastic,
            probes: per_probe.len(),
            seed: Some(self.seed),
        }
    }

    /// The density as PyHessian reports it (Yao et al. 2020, `density_generate`): Gaussian
    /// broadening of variance 1e-5 × max(1, spectral width) on a grid of 4,000 points, that
    /// variance widened where the grid could not sample it: σ is at least the grid spacing
    /// (widths above ~160), since point values of a Gaussian narrower than the spacing miss or
    /// double its mass (at width 10⁴ the unwidened curve's trapezoid mass is 2.1, and
    /// normalising it only rescales a wrong shape).
    ///
    /// ```
    /// use curvscope_hessian::{slq, DenseOperator, SlqOptions};
    /// use nalgebra::{DMatrix, DVector};
    ///
    /// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(30, |i, _| i as f64)));
    /// let q = slq(&a, &SlqOptions { n_probes: 2, steps: 30, ..SlqOptions::default() });
    /// let dens = q.broadened_density();
    /// assert!((dens.sigma - (1e-5f64 * 29.0).sqrt()).abs() < 1e-9); // the nodes span 0…29
    /// assert_eq!(dens.grid.len(), 4000);
    /// ```
    pub fn broadened_density(&self) -> Density {
        let nodes = self.probes.iter().flat_map(|q| q.nodes.iter().copied());
        let (lo, hi) = nodes.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        let width = hi - lo;
        let pyhessian = (1e-5 * width.max(1.0)).sqrt();
        // The spacing (width + 2·PAD_SIGMAS·σ)/(n − 1) is at most σ from this σ on.
        let sampled = width / ((BROADENED_GRID - 1) as f64 - 2.0 * PAD_SIGMAS);
        self.density(pyhessian.max(sampled), BROADENED_GRID)
    }

    /// Density (1/n_v)Σ_probes Σ_j w_j·N(x; θ_j, σ²) on `n_grid` equispaced points spanning
    /// the nodes ± 6σ, normalized by its trapezoid integral.
    ///
    /// # Panics
    /// If σ ≤ 0, `n_grid` < 2, or the grid's spacing exceeds σ: the Gaussians would fall
    /// between grid points, and normalizing what is left of them gives a curve of another mean
    /// (σ = 1e-4 on 100 points: mean 22.6 for m₁ = 0.52). [`Slq::broadened_density`] picks
    /// a σ its grid resolves.
    ///
    /// ```
    /// use curvscope_hessian::{slq, DenseOperator, SlqOptions};
    /// use nalgebra::{DMatrix, DVector};
    ///
    /// let a = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_fn(30, |i, _| i as f64)));
    /// let q = slq(&a, &SlqOptions { n_probes: 2, steps: 30, ..SlqOptions::default() });
    /// let dens = q.density(0.5, 1000);
    /// assert_eq!(dens.grid.len(), 1000);
    /// assert!((dens.raw_mass - 1.0).abs() < 1e-6);
    /// ```
    pub fn density(&self, sigma: f64, n_grid: usize) -> Density {
        assert!(
            sigma > 0.0 && n_grid >= 2,
            "need σ > 0 and at least 2 grid points"
        );
        let nodes = self.probes.iter().flat_map(|q| &q.nodes);
        let lo = nodes.clone().copied().fold(f64::INFINITY, f64::min) - PAD_SIGMAS * sigma;
        let hi = nodes.copied().fold(f64::NEG_INFINITY, f64::max) + PAD_SIGMAS * sigma;
        let h = (hi - lo) / (n_grid - 1) as f64;
        assert!(
            h <= sigma * (1.0 + 1e-12),
            "a grid of {n_grid} points spaces them {h:e} apart, wider than σ = {sigma:e}: \
             use at least {} points",
            ((hi - lo) / sigma).ceil() + 1.0
        );
        let grid: Vec<f64> = (0..n_grid).map(|i| lo + h * i as f64).collect();
        let norm = 1.0 / (self.probes.len() as f64 * sigma * (2.0 * std::f64::consts::PI).sqrt());
        let mut values: Vec<f64> = grid
            .iter()
            .map(|&x| {
                let sum: f64 = self
                    .probes
                    .iter()
                    .flat_map(|q| q.nodes.iter().zip(&q.weights))
                    .map(|(t, w)| w * (-(x - t).powi(2) / (2.0 * sigma * sigma)).exp())
                    .sum();
                norm * sum
            })
            .collect();
        let raw_mass = h * (values.iter().sum::<f64>() - 0.5 * (values[0] + values[n_grid - 1]));
        values.iter_mut().for_each(|v| *v /= raw_mass);
        Density {
            grid,
            values,
            sigma,
            raw_mass,
        }
    }
}
