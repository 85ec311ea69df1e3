//! Every dynamic's noise ε = g̃ − ∇L, sampled many times on least squares, against its claimed
//! covariance computed densely (Σ, F = GᵀG/N and the eigenpairs of Σ and H from nalgebra).

use crate::objectives::{dense_covariance, dense_top, LeastSquares};
use curvscope_hessian::{dense_matrix, DenseOperator, Eigenpairs, LinearOperator};
use curvscope_metrics::{
    low_rank_noise, minibatch_weights, Descent, DescentOptions, Dynamic, Estimate, NoiseCovariance,
};
use curvscope_model::Objective;
use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const N: usize = 40;
const D: usize = 4;
const B: usize = 5;
const SAMPLES: u64 = 40_000;
/// k for GLD leading/Hessian below D, so the low-rank shape is visible.
const RANK: usize = 2;

fn setup() -> (LeastSquares, Vec<f64>) {
    (LeastSquares::random(N, D, 21), vec![0.8, -1.1, 0.4, 1.7])
}

fn options(dynamic: Dynamic) -> DescentOptions {
    DescentOptions {
        // One refresh (at step 0): every sample then comes from the same noise law.
        refresh_every: u64::MAX,
        rank: RANK,
        seed: 7,
        ..DescentOptions::new(dynamic, B)
    }
}

/// M-SGD Fisher-B or Cov-B with its noise on `subset` distinct samples of the N.
fn with_noise_samples(dynamic: Dynamic, subset: usize) -> DescentOptions {
    DescentOptions {
        noise_samples: Some(subset),
        ..options(dynamic)
    }
}

/// `SAMPLES` draws of ε at θ (steps 0, 1, …), each a D-vector.
fn sample_noise(ls: &LeastSquares, theta: &[f64], options: DescentOptions) -> Vec<Vec<f64>> {
    let mut dynamics = Descent::new(options);
    let grad = ls.grad(theta);
    let minibatch = |t: &[f64], idx: &[usize]| ls.weighted_grad(t, &minibatch_weights(N, idx));
    (0..SAMPLES)
        .map(|step| {
            let g = dynamics.gradient(ls, theta, step, &minibatch);
            g.iter().zip(&grad).map(|(a, b)| a - b).collect()
        })
        .collect()
}

/// |estimate − truth| ≤ 4 standard errors.
fn assert_within(samples: &[f64], truth: f64, what: &str) {
    let e = Estimate::from_samples(samples, 0);
    assert!(
        (e.value - truth).abs() <= 4.0 * e.stderr,
        "{what}: {} ± {} vs {truth} ({:.1} stderr)",
        e.value,
        e.stderr,
        (e.value - truth) / e.stderr
    );
}

/// Mean ‖ε‖² equals Tr(cov), the mean of ε is 0 and every entry of E[εεᵀ] equals cov's, each
/// within 4 standard errors.
fn assert_noise_law(eps: &[Vec<f64>], cov: &DMatrix<f64>, name: &str) {
    let squares: Vec<f64> = eps.iter().map(|e| e.iter().map(|x| x * x).sum()).collect();
    assert_within(&squares, cov.trace(), &format!("{name}: E‖ε‖²"));
    for j in 0..D {
        let coords: Vec<f64> = eps.iter().map(|e| e[j]).collect();
        assert_within(&coords, 0.0, &format!("{name}: E[ε_{j}]"));
        for k in 0..=j {
            let products: Vec<f64> = eps.iter().map(|e| e[j] * e[k]).collect();
            assert_within(&products, cov[(j, k)], &format!("{name}: E[ε_{j} ε_{k}]"));
        }
    }
}

/// c·Σ_i λ_i u_i u_iᵀ over the top `k` eigenpairs of `m`, rescaled to trace `trace`.
fn rescaled_top(m: &DMatrix<f64>, k: usize, trace: f64) -> DMatrix<f64> {
    let top = dense_top(m, k);
    let total: f64 = top.eigenvalues.iter().sum();
    top.eigenvalues
        .iter()
        .zip(&top.eigenvectors)
        .fold(DMatrix::zeros(D, D), |acc, (l, u)| {
            let u = DVector::from_column_slice(u);
            acc + &u * u.transpose() * (trace * l / total)
        })
}

/// Every dynamic at θ (ρ = 0.3 for GLD const's given-ρ case) with the covariance of its
/// noise ε = g̃ − ∇L, computed densely: Σ/b, F/b and the eigenpairs of Σ and H from nalgebra.
fn claimed_noise_laws(ls: &LeastSquares, theta: &[f64]) -> Vec<(DescentOptions, DMatrix<f64>)> {
    let g = ls.gradient_matrix(theta);
    let sigma = dense_covariance(&g);
    let fisher = g.transpose() * &g / N as f64;
    let (b, n) = (B as f64, N as f64);
    let tr = sigma.trace() / b;
    let hessian = ls.hessian();
    assert!(
        g.row_mean().norm() > 1.0,
        "θ should be far from the minimum, so F ≠ Σ"
    );
    let rho = 0.3;
    vec![
        (options(Dynamic::Sgd), &sigma / b),
        (
            options(Dynamic::SgdNoReplacement),
            &sigma * ((n - b) / (n - 1.0) / b),
        ),
        (
            options(Dynamic::GldConst),
            DMatrix::identity(D, D) * (tr / D as f64),
        ),
        (
            DescentOptions {
                noise_std: Some(rho),
                ..options(Dynamic::GldConst)
            },
            DMatrix::identity(D, D) * rho * rho,
        ),
        (
            options(Dynamic::GldDynamic),
            DMatrix::identity(D, D) * (tr / D as f64),
        ),
        (
            options(Dynamic::GldDiag),
            DMatrix::from_diagonal(&sigma.diagonal()) / b,
        ),
        (options(Dynamic::GldLeading), rescaled_top(&sigma, RANK, tr)),
        (
            options(Dynamic::GldHessian),
            rescaled_top(&hessian, RANK, tr),
        ),
        (options(Dynamic::GldEigvec1), rescaled_top(&hessian, 1, tr)),
        (options(Dynamic::MsgdGaussian), &sigma / b),
        (
            options(Dynamic::MsgdBernoulli),
            &fisher * ((1.0 - b / n) / b),
        ),
        (options(Dynamic::MsgdFisher), &fisher / b),
        (options(Dynamic::MsgdFisherB), &fisher / b),
        (with_noise_samples(Dynamic::MsgdFisherB, 12), &fisher / b),
        (options(Dynamic::MsgdCovB), &sigma / b),
        (with_noise_samples(Dynamic::MsgdCovB, 12), &sigma / b),
        (with_noise_samples(Dynamic::MsgdCovB, N), &sigma / b),
        (options(Dynamic::GdRademacher), &fisher / n),
    ]
}

#[test]
fn every_dynamic_has_its_claimed_noise_covariance() {
    let (ls, theta) = setup();
    for (opts, cov) in claimed_noise_laws(&ls, &theta) {
        let name = format!(
            "{} (ρ = {:?}, B = {:?})",
            opts.dynamic, opts.noise_std, opts.noise_samples
        );
        assert_noise_law(&sample_noise(&ls, &theta, opts), &cov, &name);
    }
}

/// Each Gaussian dynamic's [`Descent::noise_covariance`] is the matrix it draws from: equal to
/// the claimed covariance entry by entry (1e-12 of its largest entry), with its trace; its
/// escaping indicator Tr(HC) equals the dense Tr(H·C) and, tying it to the draws themselves,
/// the mean of εᵀHε over 40,000 sampled ε within 4 standard errors; and after a step
/// [`Descent::noise_trace`] is its trace. The other dynamics have no single Gaussian shape and
/// say so.
#[test]
fn each_gaussian_dynamic_exposes_the_covariance_it_draws_from() {
    let (ls, theta) = setup();
    let hessian = ls.hessian();
    let h = DenseOperator::new(hessian.clone());
    let minibatch = |t: &[f64], idx: &[usize]| ls.weighted_grad(t, &minibatch_weights(N, idx));
    let mut gaussian = 0;
    for (opts, cov) in claimed_noise_laws(&ls, &theta) {
        let name = format!("{} (ρ = {:?})", opts.dynamic, opts.noise_std);
        let mut stepped = Descent::new(opts.clone());
        assert_eq!(stepped.noise_trace(), None, "{name}: before a step");
        stepped.gradient(&ls, &theta, 0, &minibatch);
        let Some(c) = Descent::new(opts.clone()).noise_covariance(&ls, &theta, 0) else {
            assert!(!opts.dynamic.adds_gaussian_noise(), "{name}: no covariance");
            assert_eq!(stepped.noise_trace(), None, "{name}: no Gaussian noise");
            continue;
        };
        gaussian += 1;
        let drawn = stepped.noise_trace().unwrap();
        assert!(
            (drawn - cov.trace()).abs() <= 1e-12 * cov.trace(),
            "{name}: noise_trace {drawn} vs {}",
            cov.trace()
        );
        let dense = dense_matrix(&c);
        let scale = cov.amax();
        assert!(
            (&dense - &cov).amax() <= 1e-12 * scale,
            "{name}: {dense} vs {cov}"
        );
        assert!(
            (c.trace() - cov.trace()).abs() <= 1e-12 * cov.trace(),
            "{name}: Tr C"
        );
        let indicator = c.escaping_indicator(&h);
        let truth = (&hessian * &cov).trace();
        assert!(
            (indicator - truth).abs() <= 1e-12 * truth,
            "{name}: {indicator} vs {truth}"
        );
        let forms: Vec<f64> = sample_noise(&ls, &theta, opts)
            .iter()
            .map(|e| {
                let e = DVector::from_column_slice(e);
                e.dot(&(&hessian * &e))
            })
            .collect();
        assert_within(&forms, indicator, &format!("{name}: E[εᵀHε]"));
    }
    assert_eq!(
        gaussian, 7,
        "GLD const (twice), dynamic, diag, leading, Hessian, 1st eigvec"
    );
}

/// The weights themselves, v = W − 1/N, at N = 6 where a lost N/(N − 1) would be 20 %: Cov-B's
/// E[vvᵀ] is M-SGD Gaussian's (I − 11ᵀ/N)/(bN) and Fisher-B's M-SGD Fisher's I/(bN), entry by
/// entry within 4 standard errors, whatever B.
#[test]
fn subset_weights_have_the_covariance_of_their_whole_set_laws() {
    use curvscope_metrics::{msgd_cov_b_weights, msgd_fisher_subset_weights};
    use rand::SeedableRng;
    let (n, b) = (6, 2);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for subset in [2, 3, 6] {
        for centred in [true, false] {
            let draws: Vec<Vec<f64>> = (0..SAMPLES)
                .map(|_| {
                    let w = if centred {
                        msgd_cov_b_weights(n, b, subset, &mut rng)
                    } else {
                        msgd_fisher_subset_weights(n, b, subset, &mut rng)
                    };
                    w.iter().map(|w| w - 1.0 / n as f64).collect()
                })
                .collect();
            let scale = 1.0 / (b * n) as f64;
            for i in 0..n {
                for j in 0..=i {
                    let truth = match (centred, i == j) {
                        (true, true) => scale * (1.0 - 1.0 / n as f64),
                        (true, false) => -scale / n as f64,
                        (false, true) => scale,
                        (false, false) => 0.0,
                    };
                    let products: Vec<f64> = draws.iter().map(|v| v[i] * v[j]).collect();
                    let what = format!("B = {subset}, centred {centred}: E[v_{i} v_{j}]");
                    assert_within(&products, truth, &what);
                }
            }
        }
    }
}

/// The authors' GLD leading (`leading_unscaled`): the top-k part of Σ/b as it is, trace the
/// top k eigenvalues' share of Tr(Σ)/b, not rescaled to all of it; sampled law within 4 s.e.
#[test]
fn unscaled_gld_leading_draws_the_top_k_part_of_sigma_over_b() {
    let (ls, theta) = setup();
    let sigma = dense_covariance(&ls.gradient_matrix(&theta));
    let top = dense_top(&sigma, RANK);
    let share: f64 = top.eigenvalues.iter().sum::<f64>() / B as f64;
    assert!(
        share < 0.9 * sigma.trace() / B as f64,
        "the top {RANK} should miss part of Tr(Σ), or the test shows nothing"
    );
    let options = DescentOptions {
        leading_unscaled: true,
        ..options(Dynamic::GldLeading)
    };
    let eps = sample_noise(&ls, &theta, options);
    assert_noise_law(
        &eps,
        &rescaled_top(&sigma, RANK, share),
        "unscaled GLD leading",
    );
}

/// `noise_every` = K: the Gaussian dynamics step as GD, bit for bit, between the steps divisible
/// by K, and draw their usual noise at those.
#[test]
fn noise_every_k_steps_leaves_plain_gd_steps_between() {
    let (ls, theta) = setup();
    let minibatch = |t: &[f64], idx: &[usize]| ls.weighted_grad(t, &minibatch_weights(N, idx));
    let gd = ls.grad(&theta);
    for dynamic in Dynamic::ALL.into_iter().filter(|d| d.adds_gaussian_noise()) {
        let mut every = Descent::new(options(dynamic));
        let mut third = Descent::new(DescentOptions {
            noise_every: 3,
            ..options(dynamic)
        });
        for step in 0..7 {
            let g = third.gradient(&ls, &theta, step, &minibatch);
            let usual = every.gradient(&ls, &theta, step, &minibatch);
            match step % 3 {
                0 => assert_eq!(g, usual, "{dynamic}, step {step}"),
                _ => assert_eq!(g, gd, "{dynamic}, step {step}"),
            }
            assert_ne!(usual, gd, "{dynamic}, step {step}");
        }
    }
}

/// With `noise_trace` = 0.01 (Zhu et al.'s 2-D toy) every Gaussian dynamic keeps its shape and
/// has E‖ε‖² = 0.01 exactly, whatever Tr(Σ)/b is: the sampled law (trace included) within 4
/// standard errors.
#[test]
fn a_fixed_noise_trace_keeps_each_shape_at_that_trace() {
    let (ls, theta) = setup();
    let sigma = dense_covariance(&ls.gradient_matrix(&theta));
    let hessian = ls.hessian();
    let t = 0.01;
    assert!(
        (sigma.trace() / B as f64 - t).abs() > 1.0,
        "Tr(Σ)/b must differ from the fixed trace for the test to mean anything"
    );
    let diagonal = DMatrix::from_diagonal(&sigma.diagonal());
    let cases = [
        (Dynamic::GldConst, DMatrix::identity(D, D) * (t / D as f64)),
        (
            Dynamic::GldDynamic,
            DMatrix::identity(D, D) * (t / D as f64),
        ),
        (Dynamic::GldDiag, &diagonal * (t / diagonal.trace())),
        (Dynamic::GldLeading, rescaled_top(&sigma, RANK, t)),
        (Dynamic::GldHessian, rescaled_top(&hessian, RANK, t)),
        (Dynamic::GldEigvec1, rescaled_top(&hessian, 1, t)),
    ];
    for (dynamic, cov) in cases {
        let opts = DescentOptions {
            noise_trace: Some(t),
            ..options(dynamic)
        };
        assert_noise_law(
            &sample_noise(&ls, &theta, opts),
            &cov,
            &format!("{dynamic} at E‖ε‖² = {t}"),
        );
    }
}

#[test]
fn gradient_descent_has_no_noise() {
    let (ls, theta) = setup();
    let eps = sample_noise(&ls, &theta, options(Dynamic::Gd));
    assert!(eps.iter().flatten().all(|&e| e == 0.0));
}

#[test]
fn eigvec1_noise_is_parallel_to_the_top_hessian_eigenvector() {
    let (ls, theta) = setup();
    let u1 = DVector::from_column_slice(&dense_top(&ls.hessian(), 1).eigenvectors[0]);
    for eps in sample_noise(&ls, &theta, options(Dynamic::GldEigvec1))
        .iter()
        .take(1000)
    {
        let eps = DVector::from_column_slice(eps);
        let cos = eps.dot(&u1).abs() / eps.norm();
        assert!((cos - 1.0).abs() <= 1e-12, "|cos(ε, u₁)| = {cos}");
    }
}

/// A covariance cannot follow negative curvature: GLD Hessian's noise lies along the positive
/// eigenvalues only, with the whole trace, and is zero (trace 0, what run.csv's noise_trace
/// then says) where every eigenvalue is ≤ 0.
#[test]
fn low_rank_noise_skips_negative_curvature() {
    let mut pairs = Eigenpairs {
        eigenvalues: vec![2.0, -1.0],
        eigenvectors: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        ..Default::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let one_sided = NoiseCovariance::LowRank {
        pairs: pairs.clone(),
        trace: 3.0,
    };
    assert_eq!(one_sided.trace(), 3.0);
    assert_eq!(one_sided.apply(&[1.0, 1.0]), vec![3.0, 0.0]);
    assert_eq!(low_rank_noise(&pairs, 3.0, &mut rng)[1], 0.0);
    pairs.eigenvalues = vec![0.0, -1.0];
    let none = NoiseCovariance::LowRank {
        pairs: pairs.clone(),
        trace: 3.0,
    };
    assert_eq!(none.trace(), 0.0);
    assert_eq!(none.apply(&[1.0, 1.0]), vec![0.0, 0.0]);
    assert_eq!(low_rank_noise(&pairs, 3.0, &mut rng), vec![0.0, 0.0]);
}

#[test]
fn low_rank_noise_stays_in_the_top_eigenspace() {
    let (ls, theta) = setup();
    let sigma = dense_covariance(&ls.gradient_matrix(&theta));
    for (dynamic, matrix) in [
        (Dynamic::GldLeading, sigma),
        (Dynamic::GldHessian, ls.hessian()),
    ] {
        let top = dense_top(&matrix, RANK);
        for eps in sample_noise(&ls, &theta, options(dynamic))
            .iter()
            .take(1000)
        {
            let mut rest = DVector::from_column_slice(eps);
            for u in &top.eigenvectors {
                let u = DVector::from_column_slice(u);
                rest -= &u * u.dot(&rest);
            }
            assert!(
                rest.norm() <= 1e-10 * DVector::from_column_slice(eps).norm(),
                "{dynamic}: {}",
                rest.norm()
            );
        }
    }
}

/// A run restarted at a refresh step from its θ repeats the uninterrupted one bit for bit:
/// the noise of step t depends on (seed, t) and θ_t only.
#[test]
fn a_restarted_trajectory_repeats_bit_for_bit() {
    let (ls, theta0) = setup();
    let minibatch = |t: &[f64], idx: &[usize]| ls.weighted_grad(t, &minibatch_weights(N, idx));
    let run = |dynamic: Dynamic, theta: &[f64], steps: std::ops::Range<u64>| {
        let mut dynamics = Descent::new(DescentOptions {
            refresh_every: 3,
            seed: 5,
            // GLD const's ρ is fixed at the start of the run; a restart must be given it.
            noise_std: Some(0.1),
            ..DescentOptions::new(dynamic, B)
        });
        let mut theta = theta.to_vec();
        for step in steps {
            let g = dynamics.gradient(&ls, &theta, step, &minibatch);
            theta.iter_mut().zip(g).for_each(|(t, g)| *t -= 0.01 * g);
        }
        theta
    };
    for dynamic in Dynamic::ALL {
        let midway = run(dynamic, &theta0, 0..6);
        let whole = run(dynamic, &theta0, 0..10);
        assert_eq!(run(dynamic, &midway, 6..10), whole, "{dynamic}");
        assert_ne!(whole, theta0);
    }
}

/// The per-sample chunk of the noise estimates ([`Descent::with_chunk`], lowered by
/// `TrainingPlan` on a large network) changes the memory, not the run: chunks of 1, 7 and
/// the default give the same θ bit for bit, GLD const's ρ included.
#[test]
fn the_streaming_chunk_leaves_every_dynamic_bit_for_bit() {
    let (ls, theta0) = setup();
    let minibatch = |t: &[f64], idx: &[usize]| ls.weighted_grad(t, &minibatch_weights(N, idx));
    let run = |dynamic: Dynamic, chunk: Option<usize>| {
        let options = DescentOptions {
            refresh_every: 3,
            rank: RANK,
            seed: 5,
            ..DescentOptions::new(dynamic, B)
        };
        let mut dynamics = match chunk {
            Some(chunk) => Descent::new(options).with_chunk(chunk),
            None => Descent::new(options),
        };
        let mut theta = theta0.clone();
        for step in 0..8 {
            let g = dynamics.gradient(&ls, &theta, step, &minibatch);
            theta.iter_mut().zip(g).for_each(|(t, g)| *t -= 0.01 * g);
        }
        theta
    };
    let chunk = 1;
    assert_eq!(
        curvscope_metrics::isotropic_std(&ls, &theta0, B, chunk),
        curvscope_metrics::isotropic_std(&ls, &theta0, B, N)
    );
    for dynamic in Dynamic::ALL {
        let whole = run(dynamic, None);
        assert_eq!(run(dynamic, Some(chunk)), whole, "{dynamic}");
        assert_eq!(run(dynamic, Some(7)), whole, "{dynamic}");
        assert_ne!(whole, theta0, "{dynamic}");
    }
}

#[test]
fn dynamic_names_round_trip() {
    for dynamic in Dynamic::ALL {
        assert_eq!(dynamic.name().parse::<Dynamic>(), Ok(dynamic));
        let json = serde_json::to_string(&dynamic).unwrap();
        assert_eq!(json, format!("\"{}\"", dynamic.name()));
    }
    assert!("sgd2"
        .parse::<Dynamic>()
        .unwrap_err()
        .contains("gld-eigvec1"));
}

/// `descend` is θ_{t+1} = θ_t − η·g̃_t from `start`, every point kept: for GD, η·∇L exactly.
#[test]
fn descend_records_every_gradient_step_from_the_start() {
    let (ls, theta) = setup();
    let lr = 0.01;
    let path = curvscope_metrics::descend(&ls, options(Dynamic::Gd), lr, &theta, 5);
    assert_eq!(path.len(), 6);
    assert_eq!(path[0], theta);
    for pair in path.windows(2) {
        let g = ls.grad(&pair[0]);
        let want: Vec<f64> = pair[0].iter().zip(&g).map(|(t, g)| t - lr * g).collect();
        assert_eq!(pair[1], want);
    }
}

/// The toy experiment's noise is the paper's parameter noise: one step of every noisy dynamic
/// from the sharp minimum moves θ by −η∇L + ε_t with E‖ε_t‖² = 0.01 (Zhu et al. Eq. 2) and
/// E[ε_t] = 0, within 4 standard errors over 400 seeds. Step 0 is the one where GLD leading's
/// and 1st eigvec's Lanczos start once shared the noise's random numbers, so the eigenvector's
/// sign followed the noise's coefficient: GLD leading's E[ε₀] was −0.049 ± 0.0025 (19 standard
/// errors from 0).
#[test]
fn toy2d_parameter_noise_has_the_papers_trace() {
    use curvscope_metrics::{descend, toy2d_options, TOY2D_LR, TOY2D_NOISE_TRACE, TOY2D_START};
    use curvscope_model::{toy2d, ArchSpec, BurnObjective, Cpu, Precision};
    let data = toy2d(100, 0);
    let obj =
        BurnObjective::<Cpu>::new(ArchSpec::Toy2d, &data, &Default::default(), Precision::F64)
            .unwrap()
            .boxed();
    let g = obj.grad(&TOY2D_START);
    for dynamic in [Dynamic::GldConst, Dynamic::GldLeading, Dynamic::GldEigvec1] {
        let eps: Vec<Vec<f64>> = (0..400)
            .map(|seed| {
                let path = descend(
                    &*obj,
                    toy2d_options(dynamic, seed),
                    TOY2D_LR,
                    &TOY2D_START,
                    1,
                );
                path[1]
                    .iter()
                    .zip(&TOY2D_START)
                    .zip(&g)
                    .map(|((t1, t0), g)| t1 - (t0 - TOY2D_LR * g))
                    .collect()
            })
            .collect();
        let squares: Vec<f64> = eps.iter().map(|e| e.iter().map(|x| x * x).sum()).collect();
        assert_within(&squares, TOY2D_NOISE_TRACE, dynamic.name());
        for i in 0..2 {
            let coordinate: Vec<f64> = eps.iter().map(|e| e[i]).collect();
            assert_within(&coordinate, 0.0, &format!("{}: E[ε_{i}]", dynamic.name()));
        }
    }
}
