//! Files the end-to-end tests write: shared by the test binaries that need them.

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
