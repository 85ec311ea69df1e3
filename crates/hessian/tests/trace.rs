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

/// The two-stage rule: a pilot of `block` probes (at least UNTIL_MIN_PROBES) plans how many
/// fresh probes the target needs, and those alone make the estimate.
#[test]
fn two_stage_rule_draws_what_its_pilot_plans() {
    let lambdas: Vec<f64> = (0..150).map(|i| 1.0 + (i as f64).sqrt()).collect();
    let truth: f64 = lambdas.iter().sum();
    let op = with_spectrum(&lambdas, 13);
    const TARGET: f64 = 0.01;
    let rule = Probes::Until {
        rel_stderr: TARGET,
        block: 12,
        max: 140,
    };
    let t = hutchinson(&op, rule, 3);
    let pilot = t.n_applications - t.trace.probes;
    println!(
        "two-stage: pilot {pilot}, then {} probes, rel stderr {:.4}",
        t.trace.probes,
        t.trace.stderr / t.trace.value
    );
    assert_eq!(pilot, 12);
    assert!(t.trace.probes > UNTIL_MIN_PROBES && t.n_applications < 140);
    // The plan is the pilot's: its variance over (target·estimate)², so the fresh probes'
    // error is near the target (the pilot's spread is itself an estimate from 12 probes).
    let rel = t.trace.stderr / t.trace.value.abs();
    assert!((0.5 * TARGET..2.0 * TARGET).contains(&rel), "{rel}");
    assert!((t.trace.value - truth).abs() <= 4.0 * t.trace.stderr);
    // An unreachable target takes the budget: the pilot (10, at least UNTIL_MIN_PROBES), then
    // all the rest; a budget without room for a second stage of UNTIL_MIN_PROBES is one fixed
    // sample.
    for (max, probes) in [(30, 20), (19, 19)] {
        let rule = Probes::Until {
            rel_stderr: 1e-6,
            block: 8,
            max,
        };
        let t = hutchinson(&op, rule, 3);
        assert_eq!(
            (t.trace.probes, t.n_applications),
            (probes, max),
            "max {max}"
        );
    }
    // Same seed ⇒ same probes ⇒ bit-identical estimate.
    assert_eq!(hutchinson(&op, rule, 3).trace.value, t.trace.value);
}

/// Two probes of a 2×2 swap matrix (truth 0) agree exactly half the time, stating ±2 with an
/// error of 0; neither stage of the rule trusts fewer than UNTIL_MIN_PROBES (on 100 such
/// blocks, D = 200, beyond the budget of 100 probes that would compute a tiny one exactly).
#[test]
fn two_stage_rule_does_not_trust_a_few_agreeing_probes() {
    let swaps = DMatrix::from_fn(200, 200, |i, j| {
        f64::from(u8::from(i / 2 == j / 2 && i != j))
    });
    let swaps = DenseOperator::new(swaps);
    let rule = Probes::Until {
        rel_stderr: 0.1,
        block: 2,
        max: 100,
    };
    for seed in 0..50 {
        let t = hutchinson(&swaps, rule, seed).trace;
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

/// I + c·uuᵀ in O(D) per product: probe values D + c(uᵀz)², skewed like a χ²₁.
struct RankOneUpdate {
    u: Vec<f64>,
    c: f64,
}

impl curvscope_hessian::LinearOperator for RankOneUpdate {
    fn dim(&self) -> usize {
        self.u.len()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let ux: f64 = self.u.iter().zip(x).map(|(u, x)| u * x).sum();
        x.iter()
            .zip(&self.u)
            .map(|(x, u)| x + self.c * ux * u)
            .collect()
    }
}

/// Optional stopping (draw until the target is met) stops when the sample variance happens to
/// be low, and on skewed probe values the mean with it: on I + c·uuᵀ (D = 200) it was 2.3%
/// low, 26 standard errors of its mean over 4,000 seeds. The two-stage rule's estimate is
/// unbiased and its stated error matches its spread, on such an operator (D = 1,000,
/// c = 1,500: about 290 fresh probes for 5%) and on a smooth spectrum. Over 400 seeds the
/// mean's sampling sd is spread/20, so |bias| ≤ 4 of them; the spread/stated ratio's sampling
/// sd is ≈ 0.04, so [0.85, 1.15] is a > 3σ band.
#[test]
fn two_stage_rule_is_unbiased_and_calibrated_on_skewed_probes() {
    const MANY: u64 = 400;
    let u: Vec<f64> = (0..1000)
        .map(|i| (i * 7919 % 1000) as f64 - 499.5)
        .collect();
    let norm = u.iter().map(|x| x * x).sum::<f64>().sqrt();
    let skewed = RankOneUpdate {
        u: u.iter().map(|x| x / norm).collect(),
        c: 1500.0,
    };
    let (smooth, smooth_truth) = calibration_operator();
    let cases: [(
        &str,
        &dyn curvscope_hessian::LinearOperator,
        f64,
        f64,
        usize,
    ); 2] = [
        ("skewed", &skewed, 2500.0, 0.05, 900),
        ("smooth", &smooth, smooth_truth, 0.02, 150),
    ];
    for (name, op, truth, target, max) in cases {
        let rule = Probes::Until {
            rel_stderr: target,
            block: 10,
            max,
        };
        let estimates: Vec<TraceEstimate> = (0..MANY).map(|s| hutchinson(op, rule, s)).collect();
        let values: Vec<f64> = estimates.iter().map(|t| t.trace.value).collect();
        let mean = values.iter().sum::<f64>() / MANY as f64;
        let sd_of_mean = (variance(&values) / MANY as f64).sqrt();
        let ratio = spread_over_stated(&estimates);
        let probes = estimates.iter().map(|t| t.trace.probes).sum::<usize>() as f64 / MANY as f64;
        println!(
            "{name}: mean {probes:.1} fresh probes, bias {:.2} sd of the mean, spread / stated \
             = {ratio:.3}",
            (mean - truth) / sd_of_mean
        );
        assert!(
            (mean - truth).abs() <= 4.0 * sd_of_mean,
            "{name}: {mean} vs {truth}"
        );
        assert!((0.85..1.15).contains(&ratio), "{name}: {ratio}");
    }
}

/// `Probes::Fixed(n)` draws n probes even where the standard error is 0 from the first block
/// on (Rademacher zᵀ(2I)z = 2D exactly): before, it stopped after one block of 32 and
/// reported 32 probes.
#[test]
fn fixed_probes_are_all_drawn_whatever_the_stderr() {
    let a = DenseOperator::new(DMatrix::from_diagonal_element(200, 200, 2.0));
    let t = hutchinson(&a, Probes::Fixed(100), 7);
    assert_eq!((t.trace.value, t.trace.stderr), (400.0, 0.0));
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
    // Short of R^D, the remainder is computed over the unit vectors projected off the basis
    // where D is within the probes (D = 20 more applications), and estimated where it is not.
    for (kept, budget, applications) in [(19, 30, 39), (5, 20, 25), (5, 19, 24)] {
        let t = deflated_hutchinson(&a, &all.eigenvectors[..kept], Probes::Fixed(budget), 1);
        assert_eq!(
            t.n_applications, applications,
            "{kept} vectors, {budget} probes"
        );
        if budget >= 20 {
            assert_eq!(t.trace.estimator, Estimator::Exact);
            assert!((t.trace.value - truth).abs() < 1e-12 * 20.0 * 10.0, "{t:?}");
        } else {
            assert_eq!(
                (t.trace.estimator, t.trace.probes),
                (Estimator::Stochastic, 19)
            );
        }
    }
    // So is all of Tr(A) where D is within the budget, with no basis at all.
    let t = hutchinson(&a, Probes::Fixed(20), 1);
    assert_eq!(
        (t.trace.estimator, t.n_applications),
        (Estimator::Exact, 20)
    );
    assert!((t.trace.value - truth).abs() < 1e-12 * 20.0 * 10.0, "{t:?}");
}

/// A NaN in the basis (an overflowed Lanczos run) gives a NaN estimate, as a NaN product does,
/// not a panic of the orthonormality check.
#[test]
fn a_nan_basis_gives_a_nan_estimate() {
    let a = DenseOperator::new(DMatrix::from_diagonal_element(50, 50, 1.0));
    let t = deflated_hutchinson(&a, &[vec![f64::NAN; 50]], Probes::Fixed(10), 1);
    assert!(t.trace.value.is_nan(), "{t:?}");
    assert_eq!(t.trace.probes, 0);
}

/// A deflation basis that is not orthonormal would add a wrong exact part (a repeated e₁ of
/// diag(100, 1, …) gave 302 ± 0 for 102): refused.
#[test]
#[should_panic(expected = "not orthonormal")]
fn a_basis_that_is_not_orthonormal_is_refused() {
    let a = DenseOperator::new(DMatrix::from_diagonal_element(50, 50, 1.0));
    let e1: Vec<f64> = (0..50).map(|i| f64::from(u8::from(i == 0))).collect();
    deflated_hutchinson(&a, &[e1.clone(), e1], Probes::Fixed(10), 1);
}

/// A product that overflows to NaN ends the probing at the block that met it (`Fixed` draws
/// blocks of 32): the estimate is NaN, not a NaN after all 1,000 probes were paid for.
#[test]
fn a_nan_from_the_operator_ends_the_probing() {
    let op = Overflowing::new(2000, 40);
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
        max: 20,
    };
    let t = deflated_hutchinson(&op, &basis, until, 0);
    assert!(t.trace.value.is_nan() && t.exact_part.is_nan(), "{t:?}");
    assert_eq!((t.trace.probes, t.n_applications), (0, 3));
}
