//! The two vector primitives everything here reduces to.

/// xᵀy, summed left to right.
pub(crate) fn dot(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// ‖x‖₂.
pub(crate) fn norm(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}
