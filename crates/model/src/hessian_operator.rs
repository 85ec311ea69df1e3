//! The Hessian of an [`Objective`] at a fixed θ, as a [`LinearOperator`]: the bridge from the
//! networks to every algorithm of curvscope-hessian, which knows nothing of them.

use curvscope_hessian::{BasisStore, LinearOperator};

use crate::Objective;

/// H(θ) = ∇²L(θ) applied through the objective's exact Hessian-vector product; never formed.
///
/// ```
/// use curvscope_hessian::LinearOperator;
/// use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, HessianOperator, Precision, Targets};
///
/// // The paper's 2-D loss at its sharp minimum (1, 1), one sample at the origin.
/// let origin = Dataset::new("origin", vec![0.0, 0.0], vec![2], Targets::None, None)?;
/// let toy = BurnObjective::<Cpu>::new(ArchSpec::Toy2d, &origin, &Default::default(), Precision::F64)?;
/// let h = HessianOperator::new(&toy, &[1.0, 1.0]);
/// let column = h.apply(&[1.0, 0.0]);
/// assert!((column[0] - 110.0).abs() < 1e-12 && (column[1] - 90.0).abs() < 1e-12);
/// # Ok::<(), curvscope_model::DataError>(())
/// ```
pub struct HessianOperator<'a, O: Objective + ?Sized> {
    objective: &'a O,
    theta: &'a [f64],
}

impl<'a, O: Objective + ?Sized> HessianOperator<'a, O> {
    /// The Hessian of `objective` at `theta`.
    pub fn new(objective: &'a O, theta: &'a [f64]) -> Self {
        assert_eq!(objective.dim(), theta.len(), "θ has the wrong length");
        Self { objective, theta }
    }
}

impl<O: Objective + ?Sized> LinearOperator for HessianOperator<'_, O> {
    fn dim(&self) -> usize {
        self.objective.dim()
    }

    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.objective.hvp(self.theta, x)
    }

    /// Blocks go to the objective's batched HVP.
    fn apply_many(&self, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        self.objective.hvps(self.theta, xs)
    }

    /// The parameter tensors' starts: a trailing block from one holds the tensors before it
    /// fixed ([`Objective::trailing_hvps`]), so the network's earlier layers are not
    /// differentiated.
    fn block_starts(&self) -> Vec<usize> {
        let mut starts: Vec<usize> = (self.objective.parameter_tensors().iter())
            .scan(0, |end, (_, shape)| {
                let start = *end;
                *end += shape.iter().product::<usize>();
                Some(start)
            })
            .collect();
        starts.dedup();
        starts
    }

    fn apply_trailing(&self, start: usize, xs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        self.objective.trailing_hvps(self.theta, start, xs)
    }

    /// The objective's ([`Objective::basis_store`]): on a GPU, on the device.
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        self.objective.basis_store()
    }
}
