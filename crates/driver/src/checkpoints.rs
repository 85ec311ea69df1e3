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
/// subfolders do), sorted by name with its numbers compared as numbers ([`name_order`]: a run's
/// step order past `step-999999` too); a run's unfinished or set-aside snapshots are left out.
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
    // The path last: names that are not UTF-8 may read alike.
    dirs.sort_by_cached_key(|dir| (name_order(&checkpoint_name(dir)), dir.clone()));
    Ok(dirs)
}

/// Refuses a run folder where one checkpoint is wanted, naming its last checkpoint as `named`
/// would pass it (`curvscope info run/step-000050`): loading it would only say that it has no
/// checkpoint.json.
pub fn refuse_run_folder(dir: &Path, named: impl FnOnce(&Path) -> String) -> Result<()> {
    if dir.join(META_FILE).exists() {
        return Ok(());
    }
    match checkpoint_dirs(dir)
        .ok()
        .and_then(|dirs| dirs.last().cloned())
    {
        Some(last) => anyhow::bail!(
            "{} is a run folder, not a checkpoint: name one of its checkpoints, e.g. {}",
            dir.display(),
            named(&last)
        ),
        None => Ok(()),
    }
}

/// The key that sorts names with their runs of digits compared as numbers: `step-200000`
/// before `step-1000000` (snapshots are named `step-{:06}`, so a run past a million steps has
/// longer names), `a9` before `a10`; other characters compare as text, and names of equal
/// numbers (`a9`, `a09`) by their text.
fn name_order(name: &str) -> (Vec<(bool, usize, String)>, String) {
    let digit = |c: char| c.is_ascii_digit();
    let mut runs: Vec<String> = Vec::new();
    for c in name.chars() {
        match runs.last_mut() {
            Some(run) if run.ends_with(digit) == digit(c) => run.push(c),
            _ => runs.push(c.to_string()),
        }
    }
    // (is text, length, run): a number sorts before text, and by value: by its count of digits
    // without leading zeros, then those digits.
    let key = runs.into_iter().map(|run| match run.starts_with(digit) {
        true => {
            let value = run.trim_start_matches('0');
            (false, value.len(), value.to_string())
        }
        false => (true, 0, run),
    });
    (key.collect(), name.to_string())
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
    files_sha256(&[&dir.join(META_FILE), &dir.join(MODEL_FILE)])
}

/// The hex SHA-256 of `files` one after another, streamed rather than read whole (a VGG-11's
/// weights are 37 MB, an executable tens of MB); `None` if one cannot be read.
pub(crate) fn files_sha256(files: &[&Path]) -> Option<String> {
    let mut hasher = Sha256::new();
    for file in files {
        std::io::copy(&mut std::fs::File::open(file).ok()?, &mut hasher).ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A run past a million steps lists its snapshots in step order, not text order (which put
    /// `step-1000000` before `step-200000` and so picked it for `--max-checkpoints 2`).
    #[test]
    fn snapshots_sort_by_step() {
        let run = tempfile::tempdir().unwrap();
        let names = [
            "step-1000000",
            "step-000000",
            "step-200000",
            "step-999999",
            "step-10000000",
        ];
        for name in names {
            let dir = run.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join(META_FILE), "{}").unwrap();
        }
        let found: Vec<String> = checkpoint_dirs(run.path())
            .unwrap()
            .iter()
            .map(|dir| checkpoint_name(dir))
            .collect();
        let steps = [
            "step-000000",
            "step-200000",
            "step-999999",
            "step-1000000",
            "step-10000000",
        ];
        assert_eq!(found, steps);
        let mut others = ["b2", "a10", "a9", "a09x", "a09", "a", "10", "9"];
        others.sort_by_cached_key(|name| name_order(name));
        assert_eq!(others, ["9", "10", "a", "a09", "a9", "a09x", "a10", "b2"]);
    }
}
