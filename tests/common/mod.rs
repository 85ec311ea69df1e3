//! Files and commands the end-to-end tests share. Each test binary compiles its own copy and
//! uses part of it, so what one leaves unused is not dead code.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// An `.npz` as `np.savez(path, x=x, y=y)` writes it: `x` float32 of shape `shape`, `y` the
/// int64 labels (one per sample).
pub fn write_npz(path: &Path, x: &[f32], shape: &[u64], y: &[i64]) {
    use npyz::WriterBuilder;
    let mut npz = npyz::npz::NpzWriter::create(path).unwrap();
    let mut w = npz
        .array("x", Default::default())
        .unwrap()
        .default_dtype()
        .shape(shape)
        .begin_nd()
        .unwrap();
    w.extend(x.iter().copied()).unwrap();
    w.finish().unwrap();
    let mut w = npz
        .array("y", Default::default())
        .unwrap()
        .default_dtype()
        .shape(&[y.len() as u64])
        .begin_nd()
        .unwrap();
    w.extend(y.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// Every file under `dir`, by relative path, with its bytes.
pub fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// `curvscope train` arguments of the small run that several tests analyze: a fixed-output net
/// (D = 18) trained 20 SGD steps (batch 10) on 200 half-space points, a checkpoint every 10
/// steps, into `out`.
pub fn small_run_args(out: &Path) -> Vec<&str> {
    let mut args = vec![
        "train",
        "--arch",
        r#"{"name":"fixed-output","input":2,"hidden":6}"#,
        "--data",
        "halfspace:200",
        "--dynamic",
        "sgd",
        "--lr",
        "0.05",
        "--batch",
        "10",
        "--steps",
        "20",
        "--snapshot-every",
        "10",
        "--seed",
        "1",
        "--quiet",
        "--out",
    ];
    args.push(out.to_str().expect("a UTF-8 path"));
    args
}
