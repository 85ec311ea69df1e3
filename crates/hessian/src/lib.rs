//! curvscope-hessian: curvature as linear operators, and the spectrum tools that run on them.

mod operator;

pub use operator::LinearOperator;
