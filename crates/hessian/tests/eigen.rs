//! Lanczos eigenpairs against dense eigendecompositions of matrices with known spectra.

mod common;

use common::{reference_eigenvalues, with_spectrum, OnDevice};
use curvscope_hessian::{
    extreme_eigenpairs, full_spectrum, true_residuals, AsHermitian, DenseOperator, Eigenpairs,
    LanczosOptions, LinearOperator, Which,
};
use curvscope_model::Precision;
use lanczos::{Hermitian, Order};

fn opts(k: usize, which: Which, tol: f64) -> LanczosOptions {
    LanczosOptions {
        k,
        which,
        tol,
        seed: 42,
        ..LanczosOptions::default()
    }
}

/// Checks convergence, eigenvalues against `want` (|err| ≤ 1e-8·|λ|_max), unit vectors,
/// and true residuals ≤ tol·|λ|_max.
fn check(op: &DenseOperator, r: &Eigenpairs, want: &[f64], tol: f64) {
    assert!(r.converged, "not converged at m = {}", r.krylov_size);
    assert_eq!(r.n_applications, r.krylov_size);
    assert_eq!(r.eigenvalues.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (got, want)) in r.eigenvalues.iter().zip(want).enumerate() {
        assert!(
            (got - want).abs() <= 1e-8 * scale,
            "eigenvalue {i}: {got} vs {want}"
        );
    }
    let lmax = r.eigenvalues.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (u, (res, est)) in r
        .eigenvectors
        .iter()
        .zip(true_residuals(op, r).iter().zip(&r.residuals))
    {
        let n: f64 = u.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((n - 1.0).abs() < 1e-12);
        assert!(*res <= tol * lmax, "true residual {res} > {}", tol * lmax);
        // The estimate β_m|s_mi| is the true residual up to rounding (basis kept orthonormal).
        assert!(
            (res - est).abs() <= 1e-10 * lmax,
            "estimate {est} vs true {res}"
        );
    }
}

/// Top 20 of Q diag(λ) Qᵀ by Lanczos, checked against nalgebra's dense eigenvalues.
fn top20_against_dense(lambdas: &[f64], seed: u64, tol: f64) -> Eigenpairs {
    let op = with_spectrum(lambdas, seed);
    let want = &reference_eigenvalues(op.matrix())[..20];
    let r = extreme_eigenpairs(&op, &opts(20, Which::Largest, tol));
    check(&op, &r, want, tol);
    r
}

/// Five clusters of four eigenvalues 0.1% apart above a bulk in [0, 1]; D = 400.
#[test]
fn clustered_top20_match_dense() {
    let mut lambdas: Vec<f64> = (0..380).map(|i| i as f64 / 379.0).collect();
    for c in [100.0, 60.0, 30.0, 15.0, 8.0] {
        lambdas.extend((0..4).map(|j| c * (1.0 - 1e-3 * j as f64)));
    }
    // Eigenvalue error ≤ residual²/gap: tol 1e-9 makes it ≪ 1e-8 even for 0.1% gaps.
    let r = top20_against_dense(&lambdas, 1, 1e-9);
    println!("clustered: m = {}", r.krylov_size);
}

/// Indefinite spectrum (negative and positive outliers over a bulk in [−5, 5]): the most
/// negative eigenvalues by Smallest and by Both.
#[test]
fn indefinite_smallest_and_both() {
    let mut lambdas: Vec<f64> = (0..485).map(|i| -5.0 + 10.0 * i as f64 / 484.0).collect();
    lambdas.extend([
        -30.0, -25.0, -20.0, -16.0, -13.0, -11.0, -9.5, -8.5, -8.0, -7.6,
    ]);
    lambdas.extend([50.0, 40.0, 35.0, 30.0, 25.0]);
    let op = with_spectrum(&lambdas, 2);
    let reference = reference_eigenvalues(op.matrix());
    let d = reference.len();
    let tol = 1e-9;

    let smallest = extreme_eigenpairs(&op, &opts(10, Which::Smallest, tol));
    let want: Vec<f64> = reference.iter().rev().take(10).copied().collect();
    check(&op, &smallest, &want, tol);
    assert!(smallest.eigenvalues[0] < -29.9, "most negative first");

    let both = extreme_eigenpairs(&op, &opts(5, Which::Both, tol));
    let want: Vec<f64> = reference[..5]
        .iter()
        .chain(&reference[d - 5..])
        .copied()
        .collect();
    check(&op, &both, &want, tol);
    assert!(
        (both.eigenvalues[9] + 30.0).abs() < 1e-8 && (smallest.eigenvalues[0] + 30.0).abs() < 1e-8
    );
    println!(
        "indefinite: Smallest m = {}, Both m = {}",
        smallest.krylov_size, both.krylov_size
    );
}

/// Rank 12 < k = 20: the zero eigenvalues come from restarts after breakdown.
#[test]
fn rank_deficient_finds_zeros_by_restart() {
    let mut lambdas = vec![0.0; 300];
    for (i, l) in lambdas.iter_mut().take(12).enumerate() {
        *l = (i + 1) as f64;
    }
    let r = top20_against_dense(&lambdas, 3, 1e-6);
    assert!(r.eigenvalues[12..].iter().all(|l| l.abs() < 1e-10));
    assert_eq!(
        r.krylov_size, 20,
        "breakdown after 13 steps, then one step per restart"
    );
}

/// The spectrum `head` followed by zeros up to D, rotated.
fn head_then_zeros(head: &[f64], d: usize, seed: u64) -> DenseOperator {
    let mut lambdas = head.to_vec();
    lambdas.resize(d, 0.0);
    with_spectrum(&lambdas, seed)
}

/// An exactly repeated top eigenvalue: single-vector Lanczos sees one copy per invariant
/// block, so diag(5,5,5,1,1,1,0,…) with k = 3 gave [5, 1, 0] "converged" before restarts
/// searched the complement; now every k agrees with the dense eigenvalues.
#[test]
fn exactly_repeated_top_eigenvalue_is_found_k_times() {
    let op = head_then_zeros(&[5.0, 5.0, 5.0, 1.0, 1.0, 1.0], 60, 10);
    let reference = reference_eigenvalues(op.matrix());
    for k in [1, 2, 3, 4, 6, 7] {
        let r = extreme_eigenpairs(&op, &opts(k, Which::Largest, 1e-10));
        check(&op, &r, &reference[..k], 1e-10);
        println!("repeated top, k = {k}: m = {}", r.krylov_size);
    }
}

/// Multiplicity at the k-th eigenvalue (and at both ends for Smallest and Both).
#[test]
fn multiplicity_at_the_kth_eigenvalue() {
    let op = head_then_zeros(&[7.0, 3.0, 3.0, 3.0, -4.0, -4.0, -4.0, -1.0], 50, 11);
    let reference = reference_eigenvalues(op.matrix());
    let d = reference.len();
    for k in [2, 3, 4, 5] {
        let r = extreme_eigenpairs(&op, &opts(k, Which::Largest, 1e-10));
        check(&op, &r, &reference[..k], 1e-10);
        let r = extreme_eigenpairs(&op, &opts(k, Which::Smallest, 1e-10));
        let want: Vec<f64> = reference.iter().rev().take(k).copied().collect();
        check(&op, &r, &want, 1e-10);
        let r = extreme_eigenpairs(&op, &opts(k, Which::Both, 1e-10));
        let want: Vec<f64> = reference[..k]
            .iter()
            .chain(&reference[d - k..])
            .copied()
            .collect();
        check(&op, &r, &want, 1e-10);
    }
}

/// A search cut short by `max_krylov` after a breakdown is not reported as converged, even
/// though every Ritz pair it holds is exact.
#[test]
fn breakdown_without_search_is_not_converged() {
    let op = head_then_zeros(&[5.0, 5.0, 5.0, 1.0, 1.0, 1.0], 60, 12);
    let r = extreme_eigenpairs(
        &op,
        &LanczosOptions {
            max_krylov: Some(4),
            ..opts(3, Which::Largest, 1e-10)
        },
    );
    assert_eq!(r.krylov_size, 4);
    assert!(!r.converged, "{:?}", r.eigenvalues);
}

/// A tolerance below the breakdown threshold (1e-12·‖A‖): eigenvalues 1 and 1 + 2e-12 first
/// look like an invariant block (β ≈ 1e-12), and taking it for one would state a residual of 0
/// for a Ritz pair whose true residual is 8.5e-13, 85× the tolerance asked for.
#[test]
fn a_tolerance_tighter_than_breakdowns_is_met() {
    let op = DenseOperator::new(nalgebra::DMatrix::from_diagonal(
        &nalgebra::DVector::from_vec(vec![1.0, 1.0 + 2e-12]),
    ));
    let tol = 1e-14;
    let r = extreme_eigenpairs(&op, &opts(1, Which::Smallest, tol));
    assert!(r.converged);
    let truth = true_residuals(&op, &r)[0];
    assert!(
        truth <= tol * (1.0 + 2e-12),
        "true residual {truth}, stated {:?}",
        r.residuals
    );
    assert!(
        (r.eigenvalues[0] - 1.0).abs() <= 1e-15,
        "{}",
        r.eigenvalues[0]
    );
}

/// D = 2000, Hessian-like: 20 outliers (λ₁ = 105) over a bulk in [−1, 2].
fn hessian_like_d2000() -> Vec<f64> {
    let mut lambdas: Vec<f64> = (0..1980).map(|i| -1.0 + 3.0 * i as f64 / 1979.0).collect();
    lambdas.extend((0..20).map(|i| 5.0 + 100.0 / (i + 1) as f64));
    lambdas
}

#[test]
fn d2000_top20_match_dense() {
    let r = top20_against_dense(&hessian_like_d2000(), 4, 1e-9);
    println!("D=2000: m = {}", r.krylov_size);
}

/// `f` run on a pool of one thread.
fn on_one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(f)
}

/// Same seed ⇒ bit-identical, also on a one-thread pool (no thread-dependent reductions).
#[test]
fn same_seed_bit_identical_across_thread_counts() {
    let lambdas: Vec<f64> = (0..300).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
    let op = with_spectrum(&lambdas, 5);
    let o = opts(8, Which::Both, 1e-8);
    let a = extreme_eigenpairs(&op, &o);
    let b = extreme_eigenpairs(&op, &o);
    let one = on_one_thread(|| extreme_eigenpairs(&op, &o));
    for other in [&b, &one] {
        assert_eq!(a.eigenvalues, other.eigenvalues);
        assert_eq!(a.eigenvectors, other.eigenvectors);
        assert_eq!(a.residuals, other.residuals);
        assert_eq!(a.krylov_size, other.krylov_size);
    }
    let c = extreme_eigenpairs(&op, &LanczosOptions { seed: 7, ..o });
    assert_ne!(a.eigenvectors, c.eigenvectors, "the seed matters");
}

/// diag(1/√(i + 1)) on D rows, a product of one pass over D.
struct Bulk(Vec<f64>);

impl LinearOperator for Bulk {
    fn dim(&self) -> usize {
        self.0.len()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        x.iter().zip(&self.0).map(|(a, b)| a * b).collect()
    }
}

/// D spans three of the basis sweeps' 4,096-row blocks and a ragged tail: the same bits on one
/// thread as on the pool (blocks summed in block order), the top 10 of a gapless bulk at their
/// true values, Ritz vectors orthonormal, and residual estimates equal to the true residuals
/// (what full reorthogonalization promises, with one Gram–Schmidt pass per step after the
/// three-term recurrence).
#[test]
fn blocks_of_rows_keep_bits_and_orthogonality() {
    let d = 3 * 4096 + 5;
    let op = Bulk((0..d).map(|i| 1.0 / (i as f64 + 1.0).sqrt()).collect());
    let o = opts(10, Which::Largest, 1e-10);
    let r = extreme_eigenpairs(&op, &o);
    let one = on_one_thread(|| extreme_eigenpairs(&op, &o));
    assert_eq!(r.eigenvalues, one.eigenvalues);
    assert_eq!(r.eigenvectors, one.eigenvectors);
    assert!(r.converged);
    for (i, got) in r.eigenvalues.iter().enumerate() {
        let want = 1.0 / (i as f64 + 1.0).sqrt();
        assert!(
            (got - want).abs() < 1e-12,
            "eigenvalue {i}: {got} vs {want}"
        );
    }
    for (i, u) in r.eigenvectors.iter().enumerate() {
        for (j, v) in r.eigenvectors.iter().enumerate() {
            let want = if i == j { 1.0 } else { 0.0 };
            let got: f64 = u.iter().zip(v).map(|(a, b)| a * b).sum();
            assert!((got - want).abs() < 1e-12, "u{i}·u{j} = {got}");
        }
    }
    for (res, est) in true_residuals(&op, &r).iter().zip(&r.residuals) {
        assert!(*res <= 1e-10, "true residual {res}");
        assert!((res - est).abs() <= 1e-12, "estimate {est} vs true {res}");
    }
}

/// Agreement with the `lanczos` crate's eigsh on the same operator (through AsHermitian).
#[test]
fn agrees_with_lanczos_crate() {
    let mut lambdas: Vec<f64> = (0..297).map(|i| 10.0 * i as f64 / 296.0).collect();
    lambdas.extend([100.0, 80.0, 60.0]);
    let op = with_spectrum(&lambdas, 6);
    let ours = extreme_eigenpairs(&op, &opts(3, Which::Largest, 1e-8));
    // Unseeded start: 120 iterations leave the three separated outliers converged to far
    // below 1e-6 for any start not nearly orthogonal to them.
    let theirs = AsHermitian(&op).eigsh(120, Order::Largest);
    for (i, ours) in ours.eigenvalues.iter().enumerate() {
        let theirs = theirs.eigenvalues[i];
        assert!(
            (ours - theirs).abs() <= 1e-6 * ours.abs(),
            "{ours} vs {theirs}"
        );
    }
}

/// k up to D on tiny problems: the whole spectrum, including Both with 2k > D.
#[test]
fn small_d_whole_spectrum() {
    let lambdas = [3.0, -1.0, 0.5, 2.0, -4.0, 1.0];
    let op = with_spectrum(&lambdas, 7);
    let mut want = lambdas.to_vec();
    want.sort_by(|a, b| b.total_cmp(a));
    for which in [Which::Largest, Which::Both] {
        let r = extreme_eigenpairs(&op, &opts(6, which, 1e-10));
        check(&op, &r, &want, 1e-10);
        assert_eq!(r.krylov_size, 6);
    }
    let r = extreme_eigenpairs(&op, &opts(9, Which::Smallest, 1e-10));
    let asc: Vec<f64> = want.iter().rev().copied().collect();
    check(&op, &r, &asc, 1e-10);
    let one = DenseOperator::new(nalgebra::DMatrix::from_element(1, 1, -2.5));
    let r = extreme_eigenpairs(&one, &opts(1, Which::Both, 1e-10));
    assert_eq!(r.eigenvalues, vec![-2.5]);
}

/// A hard budget: max_krylov reached before convergence is reported, not hidden.
#[test]
fn max_krylov_reports_not_converged() {
    let lambdas: Vec<f64> = (0..400).map(|i| 1.0 + 1e-4 * i as f64).collect();
    let op = with_spectrum(&lambdas, 8);
    let r = extreme_eigenpairs(
        &op,
        &LanczosOptions {
            max_krylov: Some(15),
            ..opts(5, Which::Largest, 1e-12)
        },
    );
    assert!(!r.converged);
    assert_eq!(r.krylov_size, 15);
    let worst = r.residuals.iter().fold(0.0f64, |m, x| m.max(*x));
    assert!(
        worst > 1e-12 * r.eigenvalues[0],
        "unconverged means a residual above tol"
    );
}

/// Thick restarts: where 20 vectors leave the top, bottom or both ends of a spectrum decaying
/// slowly towards 0 from ±1 (D = 400) unconverged, restarts within the same 20 find them to the tolerance,
/// against the dense eigenvalues, with true residuals that the estimates match; so do restarts
/// asked of a `max_krylov` below the pairs wanted (raised one past them); a basis kept on a
/// device (burn's CPU backend, f64) restarts to the same pairs.
#[test]
fn thick_restarts_converge_within_max_krylov() {
    let lambdas: Vec<f64> = (0..400)
        .map(|i| (1.0 - 2.0 * (i % 2) as f64) / (1.0 + (i / 2) as f64).sqrt())
        .collect();
    let op = with_spectrum(&lambdas, 11);
    let dense = reference_eigenvalues(op.matrix());
    let tol = 1e-10;
    for (which, want) in [
        (Which::Largest, dense[..4].to_vec()),
        (
            Which::Smallest,
            dense[dense.len() - 4..].iter().rev().copied().collect(),
        ),
        (
            Which::Both,
            [&dense[..4], &dense[dense.len() - 4..]].concat(),
        ),
    ] {
        let within = |restarts| LanczosOptions {
            max_krylov: Some(20),
            restarts,
            ..opts(4, which, tol)
        };
        let plain = extreme_eigenpairs(&op, &within(0));
        assert!(!plain.converged && plain.n_applications == 20, "{which:?}");
        let r = extreme_eigenpairs(&op, &within(200));
        assert!(
            r.converged,
            "{which:?}: not converged in {} products",
            r.n_applications
        );
        assert!(r.krylov_size <= 20 && r.n_applications > 20, "{which:?}");
        let mut sorted = want.clone();
        let mut got = r.eigenvalues.clone();
        sorted.sort_by(f64::total_cmp);
        got.sort_by(f64::total_cmp);
        let scale = dense[0];
        for (got, want) in got.iter().zip(&sorted) {
            assert!(
                (got - want).abs() <= 1e-8 * scale,
                "{which:?}: {got} vs {want}"
            );
        }
        for (u, (res, est)) in
            (r.eigenvectors.iter()).zip(true_residuals(&op, &r).iter().zip(&r.residuals))
        {
            let n: f64 = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((n - 1.0).abs() < 1e-12, "{which:?}: ‖u‖ = {n}");
            assert!(*res <= tol * scale, "{which:?}: true residual {res}");
            assert!(
                (res - est).abs() <= 1e-12 * scale,
                "{which:?}: estimate {est} vs {res}"
            );
        }
        // A max_krylov at or below the pairs wanted is raised one past them, so restarts go on.
        let tight = extreme_eigenpairs(
            &op,
            &LanczosOptions {
                max_krylov: Some(3),
                restarts: 5000,
                ..opts(4, which, tol)
            },
        );
        let wanted = r.eigenvalues.len();
        assert!(
            tight.converged && tight.krylov_size == wanted + 1,
            "{which:?}: within {} vectors, converged {} after {} products",
            tight.krylov_size,
            tight.converged,
            tight.n_applications
        );
        for (a, b) in tight.eigenvalues.iter().zip(&r.eigenvalues) {
            assert!((a - b).abs() <= 1e-8 * scale, "{which:?}: {a} vs {b}");
        }
        let device = extreme_eigenpairs(&OnDevice(&op, Precision::F64), &within(200));
        assert_eq!(device.n_applications, r.n_applications, "{which:?}");
        for (a, b) in device.eigenvalues.iter().zip(&r.eigenvalues) {
            assert!(
                (a - b).abs() <= 1e-12 * scale,
                "{which:?}: device {a} vs host {b}"
            );
        }
    }
}

/// dense_matrix/full_spectrum reproduce the constructed spectrum.
#[test]
fn full_spectrum_matches_construction() {
    let lambdas: Vec<f64> = (0..50).map(|i| (i as f64 - 20.0) / 3.0).collect();
    let op = with_spectrum(&lambdas, 9);
    let s = full_spectrum(&op);
    assert!(s.asymmetry < 1e-15);
    let mut want = lambdas.clone();
    want.sort_by(|a, b| b.total_cmp(a));
    for (got, want) in s.eigenvalues.iter().zip(&want) {
        assert!((got - want).abs() < 1e-12);
    }
    for (j, &l) in s.eigenvalues.iter().enumerate() {
        let u: Vec<f64> = s.eigenvectors.column(j).iter().copied().collect();
        let au = op.apply(&u);
        let res: f64 = au.iter().zip(&u).map(|(a, x)| (a - l * x).powi(2)).sum();
        assert!(res.sqrt() < 1e-12);
    }
}

/// `true_residuals` at the extremes of f64 where the operator is still finite: a plain sum of
/// squares gave ∞ at 1e200 and 0 at 1e-200. Ground truth: the residual of the pair rescaled to
/// 1, times the scale.
#[test]
fn true_residuals_neither_overflow_nor_underflow() {
    let lambdas: Vec<f64> = (0..40).map(|i| 1.0 + i as f64).collect();
    for scale in [1e200, 1e-200] {
        let scaled: Vec<f64> = lambdas.iter().map(|l| l * scale).collect();
        let op = with_spectrum(&scaled, 3);
        let pairs = extreme_eigenpairs(&op, &opts(2, Which::Largest, 1e-3));
        let residuals = true_residuals(&op, &pairs);
        for ((r, u), lambda) in residuals
            .iter()
            .zip(&pairs.eigenvectors)
            .zip(&pairs.eigenvalues)
        {
            let unit: Vec<f64> = op.apply(u).iter().map(|a| a / scale).collect();
            let truth = scale
                * unit
                    .iter()
                    .zip(u)
                    .map(|(a, x)| (a - lambda / scale * x).powi(2))
                    .sum::<f64>()
                    .sqrt();
            assert!(truth > 0.0 && truth.is_finite(), "{truth}");
            // Both subtract λu from Au, ~1e4 times the residual: they agree to ~1e4·ε.
            assert!(
                (r / truth - 1.0).abs() < 1e-9,
                "scale {scale}: {r} vs {truth}"
            );
        }
    }
}

/// An operator that overflows (NaN from its 4th product on) ends Lanczos at that product,
/// with NaN pairs not converged; before, every NaN read as a breakdown and each restart met it
/// again until `max_krylov` (50 products here) was spent.
#[test]
fn a_nan_from_the_operator_ends_lanczos() {
    let op = common::Overflowing::new(50, 3);
    let r = extreme_eigenpairs(&op, &opts(3, Which::Largest, 1e-8));
    assert!(!r.converged);
    assert_eq!((r.n_applications, r.krylov_size), (4, 4));
    assert_eq!(r.eigenvalues.len(), 3);
    assert!(r.eigenvalues.iter().chain(&r.residuals).all(|v| v.is_nan()));
    assert!(r.eigenvectors.iter().flatten().all(|v| v.is_nan()));
}

/// The small symmetric eigensolver under Lanczos and `full_spectrum` gives eigenvectors with
/// residuals at rounding on a nearly decoupled 2×2 block, where nalgebra 0.33's `SymmetricEigen`
/// returns them rotated by 8° (‖Au − λu‖ = 0.17).
#[test]
fn symmetric_eigen_is_accurate_on_a_nearly_decoupled_block() {
    use nalgebra::DMatrix;
    let b = 3.47e-16;
    let a = DMatrix::from_row_slice(2, 2, &[-0.9092429688670811, b, b, 0.27802628202312296]);
    let eig = curvscope_hessian::symmetric_eigen(&a);
    for (i, lambda) in eig.eigenvalues.iter().enumerate() {
        let u = eig.eigenvectors.column(i);
        let residual = (&a * u - u * *lambda).norm();
        assert!(residual <= 1e-15, "pair {i}: ‖Au − λu‖ = {residual}");
        assert!((u.norm() - 1.0).abs() <= 1e-15);
    }
    let spectrum = full_spectrum(&DenseOperator::new(a.clone()));
    let u1 = spectrum.eigenvectors.column(0);
    assert!((&a * u1 - u1 * spectrum.eigenvalues[0]).norm() <= 1e-15);
    // A NaN entry gives no finite-looking eigenvalue (nalgebra returned [NaN, …, NaN, 1.0] for
    // a 5×5 matrix with one NaN pair, which read as λ_min = 1).
    let mut poisoned = DMatrix::<f64>::identity(5, 5);
    (poisoned[(0, 1)], poisoned[(1, 0)]) = (f64::NAN, f64::NAN);
    let spectrum = full_spectrum(&DenseOperator::new(poisoned));
    assert!(
        spectrum.eigenvalues.iter().all(|l| l.is_nan()),
        "{:?}",
        spectrum.eigenvalues
    );
}

/// 3,000 random diagonal operators (D from 5 to 59, eigenvalues in [−1, 1], every k and
/// `Which`): wherever Lanczos says `converged`, every pair's true residual is within the
/// tolerance and its residual estimate agrees with it. With nalgebra's eigenvectors of T_m,
/// 9 runs said converged with true residuals up to 5.5·10⁴ times the tolerance (D = 32,
/// k = 23, smallest: estimate 0, true residual 0.051).
#[test]
fn converged_means_converged_on_random_spectra() {
    use nalgebra::{DMatrix, DVector};
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for trial in 0..3000u64 {
        let d = rng.random_range(5..60);
        let lambda: Vec<f64> = (0..d).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
        let k = rng.random_range(1..=d);
        let which = [Which::Largest, Which::Smallest, Which::Both][rng.random_range(0..3)];
        let op = DenseOperator::new(DMatrix::from_diagonal(&DVector::from_vec(lambda.clone())));
        let opts = LanczosOptions {
            k,
            which,
            seed: trial,
            ..LanczosOptions::default()
        };
        let r = extreme_eigenpairs(&op, &opts);
        if !r.converged {
            continue;
        }
        let scale = lambda.iter().fold(0.0f64, |m, l| m.max(l.abs()));
        for (i, (truth, estimate)) in true_residuals(&op, &r).iter().zip(&r.residuals).enumerate() {
            let what = format!("trial {trial} (D = {d}, k = {k}, {which:?}), pair {i}");
            assert!(
                truth <= &(opts.tol * scale),
                "{what}: true residual {truth}"
            );
            assert!(
                (truth - estimate).abs() <= 1e-12 * scale,
                "{what}: {estimate} vs {truth}"
            );
        }
    }
}

/// An operator scaled by 1e-170 (squares of its products underflow) or 1e155 (they overflow)
/// has the top eigenpairs of the unscaled one, times the scale: before norms were taken
/// scaled, every step of the first read as a breakdown ([24.6, 23.4]·s "converged") and the
/// second gave NaN.
#[test]
fn lanczos_works_at_extreme_scales() {
    use nalgebra::{DMatrix, DVector};
    for scale in [1e-170, 1e155] {
        let diagonal = DVector::from_fn(50, |i, _| (i + 1) as f64 * scale);
        let op = DenseOperator::new(DMatrix::from_diagonal(&diagonal));
        let r = extreme_eigenpairs(&op, &opts(2, Which::Largest, 1e-10));
        assert!(r.converged, "scale {scale}");
        for (got, want) in r.eigenvalues.iter().zip([50.0, 49.0]) {
            assert!(
                (got / scale - want).abs() < 1e-8,
                "scale {scale}: {:?}",
                r.eigenvalues
            );
        }
    }
}

/// Lanczos with its basis in a device store in f64 meets every promise of the host one on the
/// D = 2,000 Hessian-like spectrum (eigenvalues to 1e-8 of dense, true residuals within the
/// tolerance and equal to the estimates), in the same number of steps; and it restarts after
/// breakdowns to find repeated zeros.
#[test]
fn a_basis_on_the_device_in_f64_keeps_every_guarantee() {
    let op = with_spectrum(&hessian_like_d2000(), 4);
    let want = &reference_eigenvalues(op.matrix())[..20];
    let o = opts(20, Which::Largest, 1e-9);
    let host = extreme_eigenpairs(&op, &o);
    let device = extreme_eigenpairs(&OnDevice(&op, Precision::F64), &o);
    check(&op, &device, want, 1e-9);
    assert_eq!(device.krylov_size, host.krylov_size);
    for (a, b) in device.eigenvalues.iter().zip(&host.eigenvalues) {
        assert!((a - b).abs() <= 1e-12 * 105.0, "{a} vs {b}");
    }

    let zeros = head_then_zeros(&[3.0, 2.0], 30, 9);
    let o = opts(4, Which::Smallest, 1e-8);
    let r = extreme_eigenpairs(&OnDevice(&zeros, Precision::F64), &o);
    assert!(r.converged);
    assert!(
        r.eigenvalues.iter().all(|l| l.abs() < 1e-10),
        "{:?}",
        r.eigenvalues
    );
}

/// In f32 (the GPU's precision) the basis is orthonormal to about f32's rounding, and the
/// results are accurate to f32's: on the same spectrum the top 20 are within 1e-6 of the dense
/// eigenvalues, relative to λ₁ = 105, and the estimates within 1e-6 of the true residuals
/// (measured: 8.8e-11 and 6.6e-8; f64's guarantees are 1e-8 and 1e-10).
#[test]
fn a_basis_on_the_device_in_f32_is_accurate_to_f32() {
    let op = with_spectrum(&hessian_like_d2000(), 4);
    let want = &reference_eigenvalues(op.matrix())[..20];
    let r = extreme_eigenpairs(
        &OnDevice(&op, Precision::F32),
        &opts(20, Which::Largest, 1e-6),
    );
    assert!(r.converged, "not converged at m = {}", r.krylov_size);
    let worst = (r.eigenvalues.iter().zip(want))
        .map(|(a, b)| (a - b).abs() / 105.0)
        .fold(0.0, f64::max);
    let gap = (true_residuals(&op, &r).iter().zip(&r.residuals))
        .map(|(t, e)| (t - e).abs() / 105.0)
        .fold(0.0, f64::max);
    println!(
        "f32 basis: m = {}, eigenvalues {worst:.1e}, estimates {gap:.1e}",
        r.krylov_size
    );
    assert!(worst < 1e-6, "eigenvalue error {worst}");
    assert!(gap < 1e-6, "estimate vs true residual {gap}");
}

/// What `extreme_eigenpairs`' doc warns of: restarts inside a low-rank operator's rank + 1
/// never break down, so the breakdown's search for more copies of an eigenvalue never runs.
/// Three smallest of {1, …, 8} and 92 zeros: in 7 vectors, restarted, one zero and then 1 and 2
/// (converged); unrestarted, with room for 30, a breakdown at the 9th vector and the three
/// zeros.
#[test]
fn restarts_inside_the_rank_see_one_copy_of_the_zeros() {
    let lambdas: Vec<f64> = (1..=8).map(f64::from).chain([0.0; 92]).collect();
    let op = with_spectrum(&lambdas, 17);
    let smallest = |max_krylov, restarts| {
        extreme_eigenpairs(
            &op,
            &LanczosOptions {
                max_krylov: Some(max_krylov),
                restarts,
                seed: 7,
                ..opts(3, Which::Smallest, 1e-10)
            },
        )
    };
    let restarted = smallest(7, 500);
    assert!(restarted.converged, "restarted: {restarted:?}");
    for (got, want) in restarted.eigenvalues.iter().zip([0.0, 1.0, 2.0]) {
        assert!((got - want).abs() < 1e-8, "restarted: {got} vs {want}");
    }
    assert!(!smallest(7, 0).converged);
    let broken_down = smallest(30, 0);
    assert!(broken_down.converged);
    assert!(broken_down.eigenvalues.iter().all(|l| l.abs() < 1e-8));
}

/// A linear combination 2A − B + 0.5·I of two operators with known, differently rotated
/// spectra, as one operator: its dense matrix is the combination of theirs, and Lanczos finds
/// the top and bottom eigenvalues nalgebra gives for that matrix.
#[test]
fn a_linear_combination_of_operators_is_an_operator() {
    use curvscope_hessian::{dense_matrix, LinearCombination};
    let spectrum: Vec<f64> = (0..40).map(|i| 1.0 + i as f64).collect();
    let (a, b) = (with_spectrum(&spectrum, 1), with_spectrum(&spectrum, 2));
    let combined = LinearCombination::new(vec![(2.0, &a), (-1.0, &b)]).plus_identity(0.5);
    assert_eq!(combined.dim(), 40);
    let want = dense_matrix(&a) * 2.0 - dense_matrix(&b)
        + nalgebra::DMatrix::<f64>::identity(40, 40) * 0.5;
    assert!((dense_matrix(&combined) - &want).amax() <= 1e-12);
    let reference = reference_eigenvalues(&want); // descending
    let both = extreme_eigenpairs(&combined, &opts(2, Which::Both, 1e-10));
    let mut got = both.eigenvalues.clone();
    got.sort_by(|x, y| y.total_cmp(x));
    let n = got.len();
    assert!(n >= 4, "{got:?}");
    let ends = [&reference[..2], &reference[40 - 2..]].concat();
    for (got, want) in [&got[..2], &got[n - 2..]].concat().iter().zip(&ends) {
        assert!(
            (got - want).abs() <= 1e-8 * reference[0].abs(),
            "{got} vs {want}"
        );
    }
    // A term's device store is the combination's: the same eigenvalues with the basis there.
    assert!(combined.basis_store().is_none());
    let on_device = OnDevice(&b, Precision::F64);
    let combined = LinearCombination::new(vec![(2.0, &a), (-1.0, &on_device)]).plus_identity(0.5);
    assert!(combined.basis_store().is_some());
    let device = extreme_eigenpairs(&combined, &opts(2, Which::Both, 1e-10));
    for (got, want) in device.eigenvalues.iter().zip(&both.eigenvalues) {
        assert!(
            (got - want).abs() <= 1e-8 * reference[0].abs(),
            "{got} vs {want}"
        );
    }
}
