//! `curvscope analyze` and `export` end to end.
