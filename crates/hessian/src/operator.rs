//! Curvature matrices as linear operators: every algorithm in this crate takes any of them.

use std::sync::atomic::{AtomicUsize, Ordering};

use nalgebra::{DVector, DVectorView};
use rayon::prelude::*;

use crate::BasisStore;

/// A symmetric linear map A: R^D → R^D known only through products A·x (f64 on the host).
///
/// ```
/// use curvscope_hessian::{DenseOperator, LinearOperator};
/// use nalgebra::DMatrix;
///
/// let a = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 3.0]));
/// assert_eq!(a.apply(&[1.0, 0.0]), vec![2.0, 1.0]);
/// assert_eq!(a.apply_many(&[vec![0.0, 1.0]]), vec![vec![1.0, 3.0]]);
/// ```
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
    /// A·x for a block of vectors (probe blocks, basis columns). The default runs
    /// [`LinearOperator::apply`] on rayon's pool when [`LinearOperator::parallel_apply`]
    /// says so; each product is independent, so the results do not depend on thread count.
    fn apply_many(&self, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        if self.parallel_apply() {
            xs.par_iter().map(|x| self.apply(x)).collect()
        } else {
            xs.iter().map(|x| self.apply(x)).collect()
        }
    }
    /// Where the trailing principal blocks A[s.., s..] that
    /// [`LinearOperator::apply_trailing`] takes cheaply begin, ascending from 0. By default
    /// only 0 (the whole matrix); a model's Hessian says its parameter tensors' starts.
    fn block_starts(&self) -> Vec<usize> {
        vec![0]
    }
    /// A[s.., s..]·x for each x of length D − s (s = `start`): the trailing principal block,
    /// whose first columns are A's lower triangle. By default [`LinearOperator::apply_many`]
    /// of the zero-padded vectors, sliced.
    ///
    /// ```
    /// use curvscope_hessian::{DenseOperator, LinearOperator};
    /// use nalgebra::DMatrix;
    ///
    /// let a = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 3.0]));
    /// assert_eq!(a.apply_trailing(1, &[vec![1.0]]), vec![vec![3.0]]);
    /// ```
    fn apply_trailing(&self, start: usize, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        trailing_block_products(self.dim(), start, xs, |padded| self.apply_many(padded))
    }
    /// Where a Krylov basis over this operator is best kept: `None` (the default) for the
    /// host, in f64; a model's Hessian on a GPU offers a store on the device
    /// (curvscope-model's `Objective::basis_store`).
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        None
    }
}

/// A[s.., s..]·x for each x of `xs` (length D − s, s = `start`) from `whole`, the products of a
/// D × D matrix A with vectors: applied to the zero-padded x, sliced. The fallback of every
/// trailing-block product ([`LinearOperator::apply_trailing`] and curvscope-model's
/// `Objective::trailing_hvps`).
///
/// ```
/// let a = [[2.0, 1.0], [1.0, 3.0]];
/// let whole = |xs: &[Vec<f64>]| -> Vec<Vec<f64>> {
///     xs.iter().map(|x| a.iter().map(|row| row[0] * x[0] + row[1] * x[1]).collect()).collect()
/// };
/// let block = curvscope_hessian::trailing_block_products(2, 1, &[vec![1.0]], whole);
/// assert_eq!(block, vec![vec![3.0]]);
/// ```
pub fn trailing_block_products(
    dim: usize,
    start: usize,
    xs: &[Vec<f64>],
    whole: impl FnOnce(&[Vec<f64>]) -> Vec<Vec<f64>>,
) -> Vec<Vec<f64>> {
    let padded: Vec<Vec<f64>> = xs
        .iter()
        .map(|x| {
            let mut p = vec![0.0; dim];
            p[start..].copy_from_slice(x);
            p
        })
        .collect();
    whole(&padded)
        .into_iter()
        .map(|mut y| y.split_off(start))
        .collect()
}

/// An operator given by its dimension and a function x ↦ A·x: a curvature matrix of one's own
/// (a diagonal, a low-rank update, products computed elsewhere) for every algorithm of this
/// crate without a type of its own. The function must be linear and symmetric; that is the
/// caller's promise, as for any operator.
///
/// ```
/// use curvscope_hessian::{extreme_eigenpairs, hutchinson, FnOperator, LanczosOptions, Probes};
///
/// // diag(1, …, 100), never stored.
/// let a = FnOperator::new(100, |x: &[f64]| {
///     x.iter().enumerate().map(|(i, v)| (i + 1) as f64 * v).collect()
/// });
/// let top = extreme_eigenpairs(&a, &LanczosOptions { k: 2, ..LanczosOptions::default() });
/// assert!((top.eigenvalues[0] - 100.0).abs() < 1e-8 && (top.eigenvalues[1] - 99.0).abs() < 1e-8);
/// // Rademacher probes zᵀAz are exact on a diagonal.
/// assert_eq!(hutchinson(&a, Probes::Fixed(10), 0).trace.value, 5050.0);
/// ```
pub struct FnOperator<F> {
    dim: usize,
    product: F,
}

impl<F: Fn(&[f64]) -> Vec<f64> + Sync> FnOperator<F> {
    /// The operator of dimension `dim` whose product A·x is `product(x)`.
    pub fn new(dim: usize, product: F) -> Self {
        Self { dim, product }
    }
}

impl<F: Fn(&[f64]) -> Vec<f64> + Sync> LinearOperator for FnOperator<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        assert_eq!(x.len(), self.dim, "a vector of length D = {}", self.dim);
        let y = (self.product)(x);
        assert_eq!(y.len(), self.dim, "the product has length D = {}", self.dim);
        y
    }
}

impl<O: LinearOperator + ?Sized> LinearOperator for &O {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        (**self).apply(x)
    }
    fn parallel_apply(&self) -> bool {
        (**self).parallel_apply()
    }
    fn apply_many(&self, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        (**self).apply_many(xs)
    }
    fn block_starts(&self) -> Vec<usize> {
        (**self).block_starts()
    }
    fn apply_trailing(&self, start: usize, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        (**self).apply_trailing(start, xs)
    }
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        (**self).basis_store()
    }
}

/// Σ_i c_i·A_i, a linear combination of operators of one dimension, as curvlinops' operators
/// add and scale: a damped Hessian H + δ·I ([`LinearCombination::plus_identity`]), the noise
/// covariance of a batch of b, Σ/b, or H − F, what the Fisher (Gauss–Newton) part misses; any
/// algorithm of this crate then runs on it. Each term's products run as that operator runs
/// them ([`LinearOperator::apply_many`]: blocks on a GPU, threads on the CPU).
///
/// ```
/// use curvscope_hessian::{dense_matrix, DenseOperator, LinearCombination};
/// use nalgebra::DMatrix;
///
/// let a = DenseOperator::new(DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 3.0]));
/// let b = DenseOperator::new(DMatrix::identity(2, 2) * 4.0);
/// let damped = LinearCombination::new(vec![(2.0, &a), (-0.5, &b)]).plus_identity(0.1);
/// let want = DMatrix::from_row_slice(2, 2, &[2.1, 2.0, 2.0, 4.1]);
/// assert!((dense_matrix(&damped) - want).amax() < 1e-15);
/// ```
pub struct LinearCombination<'a> {
    terms: Vec<(f64, &'a dyn LinearOperator)>,
    identity: f64,
}

impl<'a> LinearCombination<'a> {
    /// Σ_i c_i·A_i over `terms` (c_i, A_i).
    ///
    /// # Panics
    /// If there are no terms, or their dimensions differ.
    pub fn new(terms: Vec<(f64, &'a dyn LinearOperator)>) -> Self {
        let dim = terms.first().expect("at least one term").1.dim();
        assert!(
            terms.iter().all(|(_, a)| a.dim() == dim),
            "every term has dimension D = {dim}"
        );
        Self {
            terms,
            identity: 0.0,
        }
    }

    /// The combination plus δ·I.
    pub fn plus_identity(mut self, delta: f64) -> Self {
        self.identity += delta;
        self
    }
}

impl LinearOperator for LinearCombination<'_> {
    fn dim(&self) -> usize {
        self.terms[0].1.dim()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.apply_many(&[x.to_vec()]).pop().expect("one product")
    }
    /// Each term's products are parallel as that operator makes them.
    fn parallel_apply(&self) -> bool {
        false
    }
    fn apply_many(&self, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let mut sums: Vec<Vec<f64>> = xs
            .iter()
            .map(|x| x.iter().map(|v| self.identity * v).collect())
            .collect();
        for (c, a) in &self.terms {
            for (sum, product) in sums.iter_mut().zip(a.apply_many(xs)) {
                sum.iter_mut().zip(product).for_each(|(s, p)| *s += c * p);
            }
        }
        sums
    }
    /// The first term's store that has one: a damped Hessian H + δ·I on a GPU keeps its
    /// Krylov basis on the device as H alone does (a store holds D-vectors, whatever made them).
    /// A term that offers none for a reason (a data-parallel objective keeps its basis on the
    /// host so that every MPI process computes the same bits) is not asked: combine it only
    /// with terms that offer none either.
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        self.terms.iter().find_map(|(_, a)| a.basis_store())
    }
}

/// Wraps any operator and counts its applications (A·x products), the cost unit of every
/// algorithm here. Thread-safe, so blocks applied in parallel are counted too.
///
/// ```
/// use curvscope_hessian::{CountingOperator, DenseOperator, LinearOperator};
/// use nalgebra::DMatrix;
///
/// let a = DenseOperator::new(DMatrix::identity(3, 3));
/// let counted = CountingOperator::new(&a);
/// counted.apply(&[1.0, 2.0, 3.0]);
/// counted.apply_many(&[vec![0.0; 3], vec![1.0; 3]]);
/// assert_eq!(counted.applications(), 3);
/// ```
pub struct CountingOperator<O> {
    inner: O,
    count: AtomicUsize,
}

impl<O: LinearOperator> CountingOperator<O> {
    /// Starts counting at zero.
    pub fn new(inner: O) -> Self {
        Self {
            inner,
            count: AtomicUsize::new(0),
        }
    }
    /// Number of A·x products so far.
    pub fn applications(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
    /// The wrapped operator.
    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<O: LinearOperator> LinearOperator for CountingOperator<O> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.apply(x)
    }
    fn parallel_apply(&self) -> bool {
        self.inner.parallel_apply()
    }
    fn apply_many(&self, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        self.count.fetch_add(xs.len(), Ordering::Relaxed);
        self.inner.apply_many(xs)
    }
    fn block_starts(&self) -> Vec<usize> {
        self.inner.block_starts()
    }
    /// Counted as whole products, though the trailing ones cost less.
    fn apply_trailing(&self, start: usize, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        self.count.fetch_add(xs.len(), Ordering::Relaxed);
        self.inner.apply_trailing(start, xs)
    }
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        self.inner.basis_store()
    }
}

/// Lets the [`lanczos`] crate's `eigsh` run on any [`LinearOperator`].
///
/// That crate (v0.2) is a plain fixed-iteration Lanczos: its start vector comes from
/// nalgebra's unseeded `new_random` (results are not reproducible), it has no convergence
/// test and reports no residuals, no quadrature weights, and reorthogonalizes in a single pass,
/// never repeated where it cancels. Its breakdown branch discards the random replacement it
/// draws (the vector is shadowed inside the loop) and continues from the unnormalized, near-zero
/// residual, so an invariant subspace (a repeated eigenvalue, a rank-deficient operator) yields
/// spurious zero Ritz values and never the missing copies.
/// [`extreme_eigenpairs`](crate::extreme_eigenpairs) and [`slq`](crate::slq) supply those
/// pieces; this adapter is kept for cross-checks on spectra without breakdown.
///
/// ```
/// use curvscope_hessian::{AsHermitian, DenseOperator};
/// use lanczos::{Hermitian, Order};
/// use nalgebra::DMatrix;
///
/// let a = DenseOperator::new(DMatrix::from_diagonal(&nalgebra::dvector![3.0, 1.0, 2.0]));
/// let eig = AsHermitian(&a).eigsh(3, Order::Largest);
/// assert!((eig.eigenvalues[0] - 3.0).abs() < 1e-10);
/// ```
pub struct AsHermitian<'a, O: ?Sized>(pub &'a O);

impl<O: LinearOperator + ?Sized> lanczos::Hermitian<f64> for AsHermitian<'_, O> {
    fn nrows(&self) -> usize {
        self.0.dim()
    }
    fn ncols(&self) -> usize {
        self.0.dim()
    }
    fn vector_product(&self, v: DVectorView<f64>) -> DVector<f64> {
        let x: Vec<f64> = v.iter().copied().collect();
        DVector::from_vec(self.0.apply(&x))
    }
}
