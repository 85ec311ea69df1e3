//! What the benches share: the LeNet θ they all measure at.

use curvscope_model::{ArchSpec, Init, Objective};

/// A briefly trained θ: PyTorch init, then full-batch gradient descent (lr 0.1), so the
/// Hessian is that of a point on a real training path rather than of the initialisation.
pub fn trained_theta(objective: &dyn Objective, steps: usize) -> Vec<f64> {
    let mut theta = ArchSpec::Lenet.init(Init::PyTorch, 0);
    for _ in 0..steps {
        let g = objective.grad(&theta);
        theta.iter_mut().zip(&g).for_each(|(t, g)| *t -= 0.1 * g);
    }
    theta
}
