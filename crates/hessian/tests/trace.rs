//! Trace estimators against exact traces of matrices with known spectra.

mod common;

use common::{with_spectrum, Overflowing};
use curvscope_hessian::{
    deflated_hutchinson, extreme_eigenpairs, hutch_plus_plus, hutchinson, DenseOperator, Estimator,
    LanczosOptions, Probes, TraceEstimate, Which, UNTIL_MIN_PROBES,
};
use nalgebra::DMatrix;

const SEEDS: u64 = 50;

/// Largest |estimate − truth| / stderr over seeds.
fn worst_z(truth: f64, estimates: &[TraceEstimate]) -> f64 {
    estimates
        .iter()
        .map(|t| (t.trace.value - truth).abs() / t.trace.stderr)
        .fold(0.0, f64::max)
}

fn variance(xs: &[f64]) -> f64 {
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64
}

/// Every estimator is within 4 standard errors of Tr(A) on all 50 seeds. With 30 probes
/// the z-score is close to Student-t with 29 d.o.f., P(|t| > 4) ≈ 4e-4, so a miss among
/// the 150 runs would have probability ≈ 6%: all-pass is the expected outcome, not luck.
#[test]
fn estimators_cover_truth_within_4_stderr() {
    let lambdas: Vec<f64> = (0..200)
        .map(|i| 20.0 * 0.8f64.powi(i) + (i as f64 * 0.7).sin())
        .collect();
    let truth: f64 = lambdas.iter().sum();
    let op = with_spectrum(&lambdas, 11);
    let top = extreme_eigenpairs(
        &op,
        &LanczosOptions {
            k: 10,
            which: Which::Both,
            ..LanczosOptions::default()
        },
    );
    let run = |f: &dyn Fn(u64) -> TraceEstimate| (0..SEEDS).map(f).collect::<Vec<_>>();
    let plain = run(&|s| hutchinson(&op, Probes::Fixed(30), s));
    let hpp = run(&|s| hutch_plus_plus(&op, 10, Probes::Fixed(30), s));
    let defl = run(&|s| deflated_hutchinson(&op, &top.eigenvectors, Probes::Fixed(30), s));
    for (name, est) in [
        ("hutchinson", &plain),
        ("hutch++", &hpp),
        ("deflated", &defl),
    ] {
        let z = worst_z(truth, est);
        println!("{name}: worst |z| over {SEEDS} seeds = {z:.2}");
        assert!(z <= 4.0, "{name}: |z| = {z}");
    }
    assert_eq!(plain[0].n_applications, 30);
    assert_eq!(hpp[0].n_applications, 50);
    assert_eq!(defl[0].n_applications, 50);
    assert_eq!(defl[0].deflation_rank, 20);
}

/// Fast-decaying spectrum, 60 applications each: Hutch++ (sketch 20, 20 probes) has a far
/// smaller variance over seeds than Hutchinson (60 probes); Hutchinson's stated standard
/// error matches its empirical spread. Over 50 seeds that ratio's sampling sd is ≈ 1/√98 ≈
/// 0.10, so [0.75, 1.33] is a band of about 3σ: a coarse check here, made at 400 seeds and 4σ
/// in `stated_stderr_is_calibrated_for_every_estimator`.
#[test]
fn hutch_plus_plus_beats_hutchinson_at_equal_budget() {
    let lambdas: Vec<f64> = (0..300).map(|i| 0.7f64.powi(i)).collect();
    let truth: f64 = lambdas.iter().sum();
    let op = with_spectrum(&lambdas, 12);
    let plain: Vec<TraceEstimate> = (0..SEEDS)
        .map(|s| hutchinson(&op, Probes::Fixed(60), s))
        .collect();
    let hpp: Vec<TraceEstimate> = (0..SEEDS)
        .map(|s| hutch_plus_plus(&op, 20, Probes::Fixed(20), s))
        .collect();
    assert!(plain.iter().chain(&hpp).all(|t| t.n_applications == 60));
    let v_plain = variance(&plain.iter().map(|t| t.trace.value).collect::<Vec<_>>());
    let v_hpp = variance(&hpp.iter().map(|t| t.trace.value).collect::<Vec<_>>());
    println!("truth {truth:.4}: var Hutchinson {v_plain:.3e}, var Hutch++ {v_hpp:.3e}");
    assert!(v_hpp < 1e-3 * v_plain, "Hutch++ variance not smaller");
    let stated = plain.iter().map(|t| t.trace.stderr.powi(2)).sum::<f64>() / SEEDS as f64;
    let ratio = (v_plain / stated).sqrt();
    println!("Hutchinson empirical std / stated stderr = {ratio:.3}");
    assert!((0.75..1.33).contains(&ratio));
    assert!(worst_z(truth, &plain) <= 4.0 && worst_z(truth, &hpp) <= 4.0);
}

/// The stopping rule draws blocks until the relative standard error target is met.
#[test]
fn adaptive_probes_stop_at_target() {
    let lambdas: Vec<f64> = (0..150).map(|i| 1.0 + (i as f64).sqrt()).collect();
    let truth: f64 = lambdas.iter().sum();
    let op = with_spectrum(&lambdas, 13);
    const TARGET: f64 = 0.002;
    let rule = Probes::Until {
        rel_stderr: TARGET,
        block: 8,
        max: 4000,
    };
    let t = hutchinson(&op, rule, 3);
    println!(
        "adaptive: {} probes, rel stderr {:.4}",
        t.trace.probes,
        t.trace.stderr / t.trace.value
    );
    assert!(t.trace.probes < 4000 && t.trace.probes.is_multiple_of(8));
    assert!(t.trace.stderr <= TARGET * t.trace.value.abs());
    assert!((t.trace.value - truth).abs() <= 4.0 * t.trace.stderr);
    // One block fewer would not have met the target (it stopped at the first block that did).
    let shorter = hutchinson(&op, Probes::Fixed(t.trace.probes - 8), 3);
    assert!(shorter.trace.stderr > TARGET * shorter.trace.value.abs());
    // An unreachable target stops at the cap (blocks 8, 8, then the 4 left).
    let cap = Probes::Until {
        rel_stderr: 1e-6,
        block: 8,
        max: 20,
    };
    let capped = hutchinson(&op, cap, 3);
    assert_eq!(capped.trace.probes, 20);
    // Same seed ⇒ same probes ⇒ bit-identical estimate.
    assert_eq!(hutchinson(&op, rule, 3).trace.value, t.trace.value);
}

/// Two probes of a 2×2 swap matrix (truth 0) agree exactly half the time, stating ±2 with an
/// error of 0; the stopping rule waits for UNTIL_MIN_PROBES before it trusts a standard error.
#[test]
fn adaptive_rule_does_not_stop_on_a_few_agreeing_probes() {
    let swap = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[0.0, 1.0, 1.0, 0.0]));
    let rule = Probes::Until {
        rel_stderr: 0.1,
        block: 2,
        max: 100,
    };
    for seed in 0..50 {
        let t = hutchinson(&swap, rule, seed).trace;
        assert!(
            t.probes >= UNTIL_MIN_PROBES,
            "seed {seed}: stopped after {}",
            t.probes
        );
        assert!(t.stderr > 0.0 || t.value == 0.0, "seed {seed}: {t:?}");
    }
}

/// Empirical spread of the estimates over seeds divided by the root mean stated variance.
fn spread_over_stated(estimates: &[TraceEstimate]) -> f64 {
    let values: Vec<f64> = estimates.iter().map(|t| t.trace.value).collect();
    let stated = estimates
        .iter()
        .map(|t| t.trace.stderr.powi(2))
        .sum::<f64>()
        / estimates.len() as f64;
    (variance(&values) / stated).sqrt()
}

/// A decaying spectrum over a bulk near 1 (D = 200), and its trace.
fn calibration_operator() -> (DenseOperator, f64) {
    let lambdas: Vec<f64> = (0..200)
        .map(|i| 20.0 * 0.9f64.powi(i) + 1.0 + (i as f64 * 0.7).sin())
        .collect();
    (with_spectrum(&lambdas, 14), lambdas.iter().sum())
}

/// The stated standard error of every estimator matches its spread over 400 seeds. The stated
/// error of Hutch++ and deflated Hutchinson is that of the stochastic part given the basis;
/// since Tr(QᵀAQ) + Tr((I−QQᵀ)A(I−QQᵀ)) = Tr(A) for every Q, its mean square over seeds is the
/// whole variance. With 400 seeds the ratio's sampling sd is ≈ 1/√800 ≈ 0.035 (plus the
/// spread of the 30-probe variances, averaged away), so [0.85, 1.15] is a > 4σ band; a
/// standard error off by √(30/29) (n instead of n − 1) would still pass, one off by √2 fails.
#[test]
fn stated_stderr_is_calibrated_for_every_estimator() {
    const MANY: u64 = 400;
    let (op, _) = calibration_operator();
    let top = extreme_eigenpairs(
        &op,
        &LanczosOptions {
            k: 10,
            ..LanczosOptions::default()
        },
    );
    let run = |f: &dyn Fn(u64) -> TraceEstimate| (0..MANY).map(f).collect::<Vec<_>>();
    for (name, estimates) in [
        (
            "hutchinson",
            run(&|s| hutchinson(&op, Probes::Fixed(30), s)),
        ),
        (
            "hutch++",
            run(&|s| hutch_plus_plus(&op, 10, Probes::Fixed(30), s)),
        ),
        (
            "deflated",
            run(&|s| deflated_hutchinson(&op, &top.eigenvectors, Probes::Fixed(30), s)),
        ),
    ] {
        let ratio = spread_over_stated(&estimates);
        println!("{name}: empirical std / stated stderr over {MANY} seeds = {ratio:.3}");
        assert!((0.85..1.15).contains(&ratio), "{name}: {ratio}");
    }
}

/// The adaptive rule is optional stopping: it stops when the sample variance happens to be
/// small, so its stated standard error runs low. Measured here (400 seeds, target 2%, blocks
/// of 10: spread/stated = 1.06, mean off by −0.08 stated standard errors), as recorded in
/// `Probes::Until`'s documentation; the test keeps the understatement below 25%.
#[test]
fn adaptive_rule_understates_its_stderr_by_a_measured_amount() {
    const MANY: u64 = 400;
    let (op, truth) = calibration_operator();
    let rule = Probes::Until {
        rel_stderr: 0.02,
        block: 10,
        max: 1000,
    };
    let estimates: Vec<TraceEstimate> = (0..MANY).map(|s| hutchinson(&op, rule, s)).collect();
    let ratio = spread_over_stated(&estimates);
    let mean = estimates.iter().map(|t| t.trace.value).sum::<f64>() / MANY as f64;
    let probes = estimates.iter().map(|t| t.trace.probes).sum::<usize>() as f64 / MANY as f64;
    let stderr = estimates.iter().map(|t| t.trace.stderr).sum::<f64>() / MANY as f64;
    println!(
        "adaptive: mean {probes:.1} probes, empirical std / stated stderr = {ratio:.3}, \
         bias of the mean = {:.3} stated stderr",
        (mean - truth) / stderr
    );
    assert!((0.85..1.25).contains(&ratio), "{ratio}");
}

/// `Probes::Fixed(n)` draws n probes even where the standard error is 0 from the first block
/// on (Rademacher zᵀ(2I)z = 2D exactly): before, it stopped after one block of 32 and
/// reported 32 probes.
#[test]
fn fixed_probes_are_all_drawn_whatever_the_stderr() {
    let a = DenseOperator::new(DMatrix::from_diagonal_element(10, 10, 2.0));
    let t = hutchinson(&a, Probes::Fixed(100), 7);
    assert_eq!((t.trace.value, t.trace.stderr), (20.0, 0.0));
    assert_eq!((t.trace.probes, t.n_applications), (100, 100));
}

/// A sketch or deflation basis of D columns spans R^D: Tr(QᵀAQ) is Tr(A), exact, and no probe
/// is spent on the remainder, which is identically 0.
#[test]
fn a_basis_of_all_r_d_gives_the_exact_trace() {
    let lambdas: Vec<f64> = (0..20).map(|i| 10.0 - i as f64).collect();
    let truth: f64 = lambdas.iter().sum();
    let a = with_spectrum(&lambdas, 3);
    for sketch in [20, 25] {
        let t = hutch_plus_plus(&a, sketch, Probes::Fixed(30), 1);
        assert_eq!(t.trace.estimator, Estimator::Exact, "sketch {sketch}");
        assert_eq!((t.trace.stderr, t.deflation_rank), (0.0, 20));
        assert_eq!(
            t.n_applications, 40,
            "sketch {sketch}: 20 for A·S, 20 for Tr(QᵀAQ)"
        );
        assert!((t.trace.value - truth).abs() < 1e-12 * 20.0 * 10.0, "{t:?}");
    }
    let all = extreme_eigenpairs(
        &a,
        &LanczosOptions {
            k: 20,
            ..LanczosOptions::default()
        },
    );
    let t = deflated_hutchinson(&a, &all.eigenvectors, Probes::Fixed(30), 1);
    assert_eq!(
        (t.trace.estimator, t.n_applications),
        (Estimator::Exact, 20)
    );
    assert!((t.trace.value - truth).abs() < 1e-12 * 20.0 * 10.0, "{t:?}");
    // One column short of R^D, the remainder is estimated as before.
    let t = deflated_hutchinson(&a, &all.eigenvectors[..19], Probes::Fixed(30), 1);
    assert_eq!(
        (t.trace.estimator, t.trace.probes),
        (Estimator::Stochastic, 30)
    );
}

/// A product that overflows to NaN ends the probing at the block that met it (`Fixed` draws
/// blocks of 32): the estimate is NaN, not a NaN after all 1,000 probes were paid for.
#[test]
fn a_nan_from_the_operator_ends_the_probing() {
    let op = Overflowing::new(50, 40);
    let t = hutchinson(&op, Probes::Fixed(1000), 1);
    assert!(t.trace.value.is_nan(), "{t:?}");
    assert_eq!((t.trace.probes, t.n_applications), (64, 64));
}

/// diag(1, …, D) whose first `nan_first` products are NaN, then finite: an overflow in the
/// deflation basis' products alone.
struct NanFirst {
    nan_first: usize,
    products: std::sync::atomic::AtomicUsize,
}

impl curvscope_hessian::LinearOperator for NanFirst {
    fn dim(&self) -> usize {
        30
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let done = self
            .products
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match done < self.nan_first {
            true => vec![f64::NAN; x.len()],
            false => x
                .iter()
                .enumerate()
                .map(|(i, v)| (i + 1) as f64 * v)
                .collect(),
        }
    }
}

/// A NaN in the deflation basis' exact part ends the run before any probe, even where the
/// probes' own products are finite: it used to keep the stopping rule from firing (it compared
/// against a NaN), so all 1,000 probes were drawn for a NaN.
#[test]
fn a_nan_in_the_exact_part_ends_the_probing() {
    let op = NanFirst {
        nan_first: 3,
        products: 0.into(),
    };
    let basis: Vec<Vec<f64>> = (0..3)
        .map(|i| (0..30).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let until = Probes::Until {
        rel_stderr: 0.05,
        block: 10,
        max: 1000,
    };
    let t = deflated_hutchinson(&op, &basis, until, 0);
    assert!(t.trace.value.is_nan() && t.exact_part.is_nan(), "{t:?}");
    assert_eq!((t.trace.probes, t.n_applications), (0, 3));
}
