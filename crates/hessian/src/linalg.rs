//! The two vector primitives every crate of curvscope reduces to, in one place so that every
//! inner product is summed in the same (left-to-right) order and results are bit-reproducible.

/// xᵀy, summed left to right.
///
/// ```
/// assert_eq!(curvscope_hessian::dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
///
/// # Panics
/// If the lengths differ (a silent zip would truncate to the shorter).
pub fn dot(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "dot of vectors of different lengths");
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// ‖x‖₂.
///
/// ```
/// assert_eq!(curvscope_hessian::norm(&[3.0, 4.0]), 5.0);
/// ```
pub fn norm(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}
