//! Expected sharpness on a quadratic, where E[L(θ+ν)] − L(θ) = σ²·Tr(A)/2 exactly.

use crate::objectives::{assert_rel, gaussian_matrix};
use curvscope_metrics::{
    expected_sharpness, trace_h_sigma_stochastic, Estimator, KnownTerms, SharpnessOptions,
};
use curvscope_model::Objective;
use nalgebra::{DMatrix, DVector};

/// ℓ_i = ½θᵀAθ + b_iᵀθ: L = ½θᵀAθ + b̄ᵀθ, H = A.
struct Quadratic {
    a: DMatrix<f64>,
    b: DMatrix<f64>, // N×D, row i is b_i
}

impl Quadratic {
    fn new(d: usize, n: usize) -> Self {
        let m = gaussian_matrix(d, d, 21);
        Self {
            a: &m * m.transpose() / d as f64 + DMatrix::identity(d, d),
            b: gaussian_matrix(n, d, 22),
        }
    }
    fn gradient(&self, theta: &[f64]) -> DVector<f64> {
        &self.a * DVector::from_column_slice(theta) + self.b.row_mean().transpose()
    }
}

impl Objective for Quadratic {
    fn dim(&self) -> usize {
        self.a.nrows()
    }
    fn n_samples(&self) -> usize {
        self.b.nrows()
    }
    fn per_sample_losses(&self, theta: &[f64]) -> Vec<f64> {
        let t = DVector::from_column_slice(theta);
        let quad = 0.5 * t.dot(&(&self.a * &t));
        (&self.b * &t).iter().map(|bt| quad + bt).collect()
    }
    fn weighted_grad(&self, theta: &[f64], w: &[f64]) -> Vec<f64> {
        let w = DVector::from_column_slice(w);
        (&self.a * DVector::from_column_slice(theta) * w.sum() + self.b.transpose() * w)
            .as_slice()
            .to_vec()
    }
    fn hvp(&self, _theta: &[f64], v: &[f64]) -> Vec<f64> {
        (&self.a * DVector::from_column_slice(v))
            .as_slice()
            .to_vec()
    }
    fn per_sample_grads_range(&self, theta: &[f64], start: usize, len: usize) -> Vec<f64> {
        let at = &self.a * DVector::from_column_slice(theta);
        (start..start + len)
            .flat_map(|i| (&at + self.b.row(i).transpose()).as_slice().to_vec())
            .collect()
    }
}

const D: usize = 6;
const THETA: [f64; D] = [0.2, -0.1, 0.3, 0.0, 0.1, -0.2];

#[test]
fn expected_sharpness_is_half_sigma_squared_trace() {
    let q = Quadratic::new(D, 4);
    let options = SharpnessOptions {
        sigma: 0.5,
        samples: 4000,
        seed: 5,
    };
    let s = expected_sharpness(&q, &THETA, &options);
    let truth = options.sigma.powi(2) * q.a.trace() / 2.0;
    assert_eq!(
        (s.signed.estimator, s.signed.probes, s.signed.seed),
        (Estimator::Stochastic, 4000, Some(5))
    );
    assert_rel(s.base_loss, q.loss(&THETA), 1e-15);
    assert!(
        (s.signed.value - truth).abs() < 4.0 * s.signed.stderr,
        "{:?} vs {truth}",
        s.signed
    );
    assert!(
        s.signed.stderr < 0.1 * truth,
        "the test must resolve the value: {:?}",
        s.signed
    );
    // L(θ+ν) − L(θ) = ∇Lᵀν + ½νᵀAν. Each sample subtracts ∇Lᵀν (mean 0), leaving ½νᵀAν of
    // sd σ²·√(Tr(A²)/2); the sample sd of M = 4000 such draws is within a few percent of it,
    // 20% is > 4 of its sd. Without the subtraction it would be √(σ²‖∇L‖² + σ⁴·Tr(A²)/2):
    // at θ far from the minimum, 4.8× as large.
    let far: Vec<f64> = THETA.iter().map(|t| 10.0 * t).collect();
    let at_far = expected_sharpness(&q, &far, &options);
    assert!((at_far.signed.value - truth).abs() < 4.0 * at_far.signed.stderr);
    let quadratic_sd = options.sigma.powi(2) * ((&q.a * &q.a).trace() / 2.0).sqrt();
    let raw_sd =
        (options.sigma.powi(2) * q.gradient(&far).norm_squared() + quadratic_sd.powi(2)).sqrt();
    println!("sd {quadratic_sd} with the gradient term taken out, {raw_sd} with it");
    assert_rel(at_far.signed.stderr * 4000f64.sqrt(), quadratic_sd, 0.2);
    assert!(
        raw_sd > 3.0 * quadratic_sd,
        "the test must tell the two apart"
    );
    assert!(s.gradient_term_subtracted && at_far.gradient_term_subtracted);
}

#[test]
fn same_seed_same_bits_on_one_and_two_threads() {
    let q = Quadratic::new(D, 4);
    let options = SharpnessOptions {
        sigma: 0.01,
        samples: 1000,
        seed: 9,
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            (
                expected_sharpness(&q, &THETA, &options),
                trace_h_sigma_stochastic(&q, &THETA, 50, 9, KnownTerms::default()),
            )
        })
    };
    let ((s1, t1), (s2, t2)) = (run(1), run(2));
    let bits = |e: &curvscope_metrics::Estimate| (e.value.to_bits(), e.stderr.to_bits());
    assert_eq!(bits(&s1.signed), bits(&s2.signed));
    assert_eq!(bits(&s1.absolute), bits(&s2.absolute));
    assert_eq!(bits(&t1), bits(&t2));
    let other_seed = expected_sharpness(
        &q,
        &THETA,
        &SharpnessOptions {
            seed: 10,
            ..options
        },
    );
    assert_ne!(bits(&other_seed.signed), bits(&s1.signed));
}
