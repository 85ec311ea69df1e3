//! CovarianceOperator and cosines against dense matrices.

use crate::objectives::{assert_rel, dense_covariance, dense_top, LeastSquares};
use curvscope_hessian::{dense_matrix, LinearOperator};
use curvscope_metrics::{abs_cosines, CovarianceOperator};
use nalgebra::DVector;

#[test]
fn covariance_operator_is_the_dense_covariance() {
    let (n, d) = (30, 6);
    let ls = LeastSquares::random(n, d, 3);
    let theta = vec![1.0, -0.5, 0.25, 2.0, 0.0, -1.0];
    let explicit = dense_covariance(&ls.gradient_matrix(&theta));
    let op = CovarianceOperator::from_objective(&ls, &theta, 7);
    assert_eq!((op.dim(), op.n_samples()), (d, n));
    let assembled = dense_matrix(&op);
    assert!((&assembled - &explicit).norm() <= 1e-12 * explicit.norm());

    let top = dense_top(&explicit, 1);
    let (lambda, u) = (
        top.eigenvalues[0],
        DVector::from_column_slice(&top.eigenvectors[0]),
    );
    assert_rel(dense_top(&assembled, 1).eigenvalues[0], lambda, 1e-12);
    // The operator itself maps the top eigenvector to λu.
    let su = DVector::from_vec(op.apply(u.as_slice()));
    assert!((&su - lambda * &u).norm() <= 1e-12 * lambda);
    assert!(
        lambda > explicit.trace() / d as f64,
        "top eigenvalue should exceed the mean one"
    );
}

#[test]
fn covariance_operator_centres_rows_on_their_mean() {
    let ls = LeastSquares::random(20, 4, 5);
    let theta = [0.5, 0.5, -0.5, 1.0];
    let op = CovarianceOperator::from_objective(&ls, &theta, 6);
    let g = ls.gradient_matrix(&theta);
    let mean = g.row_mean();
    for (i, row) in op.centred_gradients().chunks(4).enumerate() {
        for (j, v) in row.iter().enumerate() {
            assert!((v - (g[(i, j)] - mean[j])).abs() < 1e-12);
        }
    }
}

#[test]
fn cosines_of_eigenbases() {
    let ls = LeastSquares::random(40, 5, 9);
    let h = dense_top(&ls.hessian(), 5);
    let c = abs_cosines(&h.eigenvectors, &h.eigenvectors);
    for (i, row) in c.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            let expected = if i == j { 1.0 } else { 0.0 };
            assert!((v - expected).abs() < 1e-12, "[{i}][{j}] = {v}");
        }
    }
    let flipped: Vec<Vec<f64>> = h
        .eigenvectors
        .iter()
        .map(|u| u.iter().map(|x| -3.0 * x).collect())
        .collect();
    assert!((abs_cosines(&h.eigenvectors[..1], &flipped[..1])[0][0] - 1.0).abs() < 1e-12);
}
