//! curvscope-metrics
