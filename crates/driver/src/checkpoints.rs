//! Checkpoint folders as the commands meet them: finding them in a run, naming them, and
//! fingerprinting their files so a resumed analysis notices a rewritten one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use curvscope_model::checkpoint::{META_FILE, MODEL_FILE};
use curvscope_model::files::hex;
use curvscope_model::Dtype;
use sha2::{Digest, Sha256};

use crate::run_folder::is_leftover;

/// Checkpoint folders under `root` (a folder holding `checkpoint.json`, or a run folder whose
/// subfolders do), sorted by name; a run's unfinished or set-aside snapshots are left out.
pub fn checkpoint_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    if root.join(META_FILE).exists() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(META_FILE).exists() || p.join(MODEL_FILE).exists())
        .filter(|p| !is_leftover(&checkpoint_name(p)))
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The checkpoint's name: its folder's name.
pub fn checkpoint_name(dir: &Path) -> String {
    // `.` or `run/..` have no file name of their own; their canonical path does.
    let named = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    named(dir)
        .or_else(|| named(&dir.canonicalize().ok()?))
        .unwrap_or_else(|| dir.display().to_string())
}

/// SHA-256 of checkpoint.json followed by model.safetensors; `None` if either is unreadable.
pub fn content_sha256(dir: &Path) -> Option<String> {
    let mut hasher = Sha256::new();
    for file in [META_FILE, MODEL_FILE] {
        hasher.update(std::fs::read(dir.join(file)).ok()?);
    }
    Some(hex(&hasher.finalize()))
}

/// "f32" or "f64".
pub fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "f32",
        Dtype::F64 => "f64",
    }
}
