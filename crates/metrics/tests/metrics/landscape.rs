//! Loss-landscape slices against closed forms: a least-squares quadratic, where every slice is
//! its Taylor model exactly, and LeNet, whose slice along u₁ bends by λ₁ at θ.

use crate::objectives::{assert_rel, LeastSquares};
use curvscope_hessian::{norm, LanczosOptions};
use curvscope_metrics::{
    evaluate_slice, filter_normalize, filter_normalized_directions, grid_points,
    hessian_directions, linspace, QuadraticModel,
};
use curvscope_model::{
    default_data_dir, fashion_train, ArchSpec, BurnObjective, Cpu, Init, Precision,
};
use nalgebra::{DVector, SymmetricEigen};
use proptest::prelude::*;

/// L(θ + a·d₁ + b·d₂) of least squares in closed form: L + gᵀδ + ½δᵀHδ with g and H assembled
/// densely from X and y, no objective method involved.
fn least_squares_closed_form(ls: &LeastSquares, theta: &[f64], d: &[Vec<f64>], c: &[f64]) -> f64 {
    let n = ls.x.nrows() as f64;
    let theta = DVector::from_column_slice(theta);
    let r = &ls.x * &theta - &ls.y;
    let g = ls.x.transpose() * &r / n;
    let delta = DVector::from_column_slice(&d[0]) * c[0] + DVector::from_column_slice(&d[1]) * c[1];
    r.norm_squared() / (2.0 * n) + g.dot(&delta) + 0.5 * delta.dot(&(ls.hessian() * &delta))
}

/// The slice itself (the objective's losses) and the quadratic model (its gradient and HVPs)
/// both equal the closed form at every point of the grid.
fn assert_slice_is_closed_form(ls: &LeastSquares, theta: &[f64], directions: &[Vec<f64>]) {
    let points = grid_points(&[linspace(-1.5, 1.5, 7), linspace(-1.0, 2.0, 5)]);
    let slice = evaluate_slice(ls, theta, directions, &points);
    let model = QuadraticModel::new(ls, theta, directions);
    assert_eq!(slice.len(), 35);
    for (c, point) in points.iter().zip(&slice) {
        let want = least_squares_closed_form(ls, theta, directions, c);
        assert_rel(point.loss, want, 1e-12);
        assert_rel(model.at(c), want, 1e-12);
        assert_eq!(point.accuracy, None);
    }
}

#[test]
fn two_d_slice_of_a_quadratic_along_random_directions_is_the_closed_form() {
    let ls = LeastSquares::random(40, 20, 3);
    let theta: Vec<f64> = (0..20).map(|i| (i as f64 * 0.37).sin()).collect();
    // θ read as a 4×4 weight and a 4-vector bias: the direction moves the weight only.
    let tensors = vec![("w".to_string(), vec![4, 4]), ("b".to_string(), vec![4])];
    let directions = filter_normalized_directions(&tensors, &theta, 2, 9);
    assert!(directions.iter().all(|d| d[16..].iter().all(|&x| x == 0.0)));
    assert_ne!(directions[0], directions[1]);
    assert_slice_is_closed_form(&ls, &theta, &directions);
}

/// Along u₁/√λ₁ and u₂/√λ₂ of a quadratic, L(θ + a·d₁ + b·d₂) = L + a·gᵀd₁ + b·gᵀd₂ + (a² + b²)/2,
/// with the eigenpairs checked against a dense eigendecomposition of XᵀX/N.
#[test]
fn two_d_slice_of_a_quadratic_along_hessian_eigenvectors_is_the_closed_form() {
    let ls = LeastSquares::random(40, 20, 4);
    let theta: Vec<f64> = (0..20).map(|i| (i as f64 * 0.61).cos()).collect();
    let options = LanczosOptions {
        k: 2,
        tol: 1e-10,
        ..LanczosOptions::default()
    };
    let top = hessian_directions(&ls, &theta, &options).unwrap();
    let dense = SymmetricEigen::new(ls.hessian());
    let mut order: Vec<usize> = (0..20).collect();
    order.sort_by(|&i, &j| dense.eigenvalues[j].total_cmp(&dense.eigenvalues[i]));
    for (rank, d) in top.directions.iter().enumerate() {
        let (lambda, u) = (
            dense.eigenvalues[order[rank]],
            dense.eigenvectors.column(order[rank]),
        );
        assert_rel(top.eigenpairs.eigenvalues[rank], lambda, 1e-10);
        // d = ±u/√λ: ‖d‖ = 1/√λ and |uᵀd| = ‖d‖.
        assert_rel(norm(d), 1.0 / lambda.sqrt(), 1e-8);
        assert_rel(u.dot(&DVector::from_column_slice(d)).abs(), norm(d), 1e-8);
    }
    let model = QuadraticModel::new(&ls, &theta, &top.directions);
    // Signed uphill: gᵀd_i ≥ 0 (here g is far from 0, so the sign is decided).
    assert!(model.slopes.iter().all(|&s| s > 1e-3), "{:?}", model.slopes);
    // In units of 1/√λ the curvature matrix is the identity.
    for (i, row) in model.curvatures.iter().enumerate() {
        for (j, &h) in row.iter().enumerate() {
            assert!(
                (h - f64::from(u8::from(i == j))).abs() < 1e-8,
                "d{i}ᵀHd{j} = {h}"
            );
        }
    }
    assert_slice_is_closed_form(&ls, &theta, &top.directions);
}

proptest! {
    /// After filter normalisation each filter (slice along a tensor's first axis) of a
    /// multi-dimensional tensor has the norm of θ's matching filter, and keeps its direction;
    /// 1-D tensors (biases) are zero.
    #[test]
    fn each_filter_gets_the_norm_of_thetas(
        shapes in prop::collection::vec(prop::collection::vec(1usize..5, 1..5), 1..5),
        seed in any::<u64>(),
    ) {
        let tensors: Vec<(String, Vec<usize>)> = shapes
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("t{i}"), s))
            .collect();
        let dim: usize = tensors.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
        let theta: Vec<f64> = (0..dim).map(|i| ((i as f64 + seed as f64 % 97.0) * 1.3).sin()).collect();
        let raw = filter_normalized_directions(&[("all".to_string(), vec![dim])], &theta, 1, seed)
            .remove(0);
        prop_assert!(raw.iter().all(|&x| x == 0.0)); // one 1-D tensor: all bias-like
        let mut d: Vec<f64> = (0..dim).map(|i| ((i * 7 + 3) as f64).cos()).collect();
        let before = d.clone();
        filter_normalize(&mut d, &theta, &tensors);
        let mut offset = 0;
        for (_, shape) in &tensors {
            let len: usize = shape.iter().product();
            let range = offset..offset + len;
            offset += len;
            if shape.len() < 2 {
                prop_assert!(d[range].iter().all(|&x| x == 0.0));
                continue;
            }
            let filter = len / shape[0];
            for start in range.step_by(filter) {
                let f = start..start + filter;
                let (got, want) = (norm(&d[f.clone()]), norm(&theta[f.clone()]));
                prop_assert!((got - want).abs() <= 1e-12 * want.max(1.0), "{got} vs {want}");
                // Same direction: d_f = s·before_f with s ≥ 0.
                let s = got / norm(&before[f.clone()]);
                for (a, b) in d[f.clone()].iter().zip(&before[f]) {
                    prop_assert!((a - s * b).abs() <= 1e-12 * (1.0 + b.abs() * s));
                }
            }
        }
    }
}

/// LeNet (D = 11,330) on 64 FashionMNIST images in f64 at its initialisation: the slice along
/// d = u₁/√λ₁ at c = −h, 0, h has the second difference (L(h) − 2L(0) + L(−h))/h² = dᵀHd = 1,
/// i.e. λ₁ in units of θ. The loss is only piecewise smooth (ReLU, max-pooling), and on 64
/// images the kinks lie close: the second difference measured 1.72, 0.58, −0.34, 0.15 and 1.19
/// at h = 10⁻², 3·10⁻³, 10⁻³, 3·10⁻⁴ and 10⁻⁴ (a kink inside ±h changes it by O(1)), so the
/// step is h = 10⁻⁵. Its error budget: truncation h²/12·|L⁗| = 10⁻¹¹·|L⁗|, and rounding
/// 4εL/h² ≈ 2·10⁻⁵ (ε = 2.2·10⁻¹⁶, L ≈ 2.3); the tolerance 10⁻⁴ is five times that (measured
/// error: 8·10⁻⁸). The same points match the quadratic model to within rounding and
/// h³/6·|L‴| ≈ 10⁻¹⁵·|L‴|.
#[test]
fn lenet_slice_along_u1_bends_by_lambda1() {
    let data = fashion_train(&default_data_dir(), 64).unwrap();
    let obj =
        BurnObjective::<Cpu>::new(ArchSpec::Lenet, &data, &Default::default(), Precision::F64)
            .unwrap()
            .boxed();
    let theta = ArchSpec::Lenet.init(Init::PyTorch, 1);
    let options = LanczosOptions {
        k: 1,
        ..LanczosOptions::default()
    };
    let top = hessian_directions(&*obj, &theta, &options).unwrap();
    assert!(top.eigenpairs.converged);
    let lambda1 = top.eigenpairs.eigenvalues[0];
    let h = 1e-5;
    let points = grid_points(&[linspace(-h, h, 3)]);
    let slice = evaluate_slice(&*obj, &theta, &top.directions, &points);
    let l: Vec<f64> = slice.iter().map(|p| p.loss).collect();
    assert_eq!(l[1], obj.loss(&theta));
    let second_difference = (l[2] - 2.0 * l[1] + l[0]) / (h * h);
    println!("λ₁ = {lambda1:.6}, second difference = {second_difference:.8} (units of λ₁)");
    assert!(
        (second_difference - 1.0).abs() < 1e-4,
        "second difference {second_difference} · λ₁ vs λ₁ = {lambda1}"
    );
    let model = QuadraticModel::new(&*obj, &theta, &top.directions);
    assert_rel(model.curvatures[0][0], 1.0, 1e-6);
    for (c, p) in points.iter().zip(&slice) {
        let gap = (p.loss - model.at(c)).abs();
        assert!(
            gap < 1e-12,
            "at c = {c:?}: loss {} vs model {}",
            p.loss,
            model.at(c)
        );
    }
    assert!(slice.iter().all(|p| p.accuracy.is_some()));
}

/// Identical samples make H = XᵀX/N of rank 1: λ₂ is zero up to rounding (1e-17 or −1e-17 by
/// the seed), and u₂/√λ₂ would be 10⁸ times too long or undefined, so it is refused either way.
#[test]
fn a_rounding_level_eigenvalue_gives_no_direction() {
    let mut ls = LeastSquares::random(10, 3, 5);
    let first = ls.x.row(0).into_owned();
    for mut row in ls.x.row_iter_mut() {
        row.copy_from(&first);
    }
    let theta = [0.3, -0.2, 0.5];
    for seed in 0..6 {
        let options = LanczosOptions {
            k: 2,
            seed,
            ..LanczosOptions::default()
        };
        let err = hessian_directions(&ls, &theta, &options).unwrap_err();
        assert_eq!(err.rank, 2, "seed {seed}: {err}");
    }
}
