//! Curvature matrices as linear operators: every algorithm in this crate takes any of them.

/// A symmetric linear map A: R^D → R^D known only through products A·x (f64 on the host).
pub trait LinearOperator: Sync {
    /// The dimension D.
    fn dim(&self) -> usize;
    /// y = A·x, `x.len() == dim()`.
    fn apply(&self, x: &[f64]) -> Vec<f64>;
    /// Whether calling [`LinearOperator::apply`] from several threads at once pays off
    /// (false for operators that are already internally parallel).
    fn parallel_apply(&self) -> bool {
        true
    }
}
