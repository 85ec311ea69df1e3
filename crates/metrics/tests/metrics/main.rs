//! Integration tests of curvscope-metrics against closed forms and dense linear algebra.

mod covariance;
mod distributed;
mod dynamics;
mod landscape;
mod layers;
mod least_squares;
mod lenet;
mod objectives;
mod one_hidden;
mod report;
mod sharpness;
mod sharpness_measures;
mod toy;
