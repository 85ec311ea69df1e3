//! `curvscope train` end to end.
