//! What `analyze` and `info` share about a checkpoint: which data it is evaluated on, its
//! name, and a fingerprint of its files so that a resumed analysis notices a rewritten one.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use curvscope_model::checkpoint::{META_FILE, MODEL_FILE};
use curvscope_model::{CheckpointMeta, Dataset, Dtype};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::common::{load_dataset, Device, DATA_HELP};
use curvscope_model::Precision;

/// Dataset used when neither `--data` nor the checkpoint names one: the paper's set.
pub const DEFAULT_DATA: &str = "fashion-corrupted";

/// `--help` text of `--data`, whose default is [`DataChoice::resolve`]'s.
fn data_long_help() -> String {
    format!("{DATA_HELP}.\n[default: the spec stored in checkpoint.json's \"data\" field, else {DEFAULT_DATA}]")
}

/// The flags choosing what a checkpoint is evaluated on, and how.
#[derive(clap::Args, Debug)]
pub struct DataArgs {
    /// Dataset to evaluate on [default: the spec stored in checkpoint.json's "data" field, else fashion-corrupted].
    #[arg(long, value_name = "SPEC", long_help = data_long_help())]
    pub data: Option<String>,
    /// Seed of the dataset's random parts (fashion-corrupted's random labels) [default: the
    /// seed recorded with the checkpoint's dataset, else the run's seed, else 0].
    #[arg(long, value_name = "SEED")]
    pub data_seed: Option<u64>,
    /// Floating-point precision of the network evaluation.
    #[arg(long, default_value_t = Precision::F64, value_parser = crate::common::precision_parser())]
    pub precision: Precision,
    /// Where the network is evaluated: cpu (burn-flex) or gpu (burn-wgpu on Vulkan; needs a
    /// build with `--features wgpu`).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
}

/// The dataset a checkpoint is evaluated on, as a `--data` spec and its seed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataChoice {
    /// The spec (see `common::DATA_HELP`).
    pub spec: String,
    /// Seed of its random parts (e.g. fashion-corrupted's random labels).
    pub seed: u64,
}

impl DataChoice {
    /// `--data`, else the spec the run stored in checkpoint.json's `data` field, else
    /// [`DEFAULT_DATA`]; `--data-seed`, else the seed recorded with the checkpoint's dataset,
    /// else the run's seed, else 0 — so a corrupted-label set is rebuilt with the labels the
    /// model was trained on.
    pub fn resolve(meta: &CheckpointMeta, data: Option<&str>, seed: Option<u64>) -> Self {
        let recorded = meta.extra.get("data").and_then(|v| v.as_str());
        let spec = data.or(recorded).unwrap_or(DEFAULT_DATA).to_string();
        let seed = seed
            .or(meta.dataset.as_ref().and_then(|d| d.seed))
            .or(meta.seed)
            .unwrap_or(0);
        Self { spec, seed }
    }
}

/// Datasets loaded once per (spec, seed): a run's checkpoints share theirs.
#[derive(Default)]
pub struct DataCache(HashMap<DataChoice, Dataset>);

impl DataCache {
    /// The dataset of `choice`, loading it on first use.
    pub fn get(&mut self, choice: &DataChoice) -> Result<&Dataset> {
        if !self.0.contains_key(choice) {
            let data = load_dataset(&choice.spec, choice.seed).with_context(|| {
                format!("loading dataset '{}' (seed {})", choice.spec, choice.seed)
            })?;
            self.0.insert(choice.clone(), data);
        }
        Ok(&self.0[choice])
    }
}

/// A warning when `data` has other labels than the ones recorded in the checkpoint (e.g. a
/// corrupted-label set rebuilt with another seed), so numbers are not silently off.
pub fn label_mismatch(meta: &CheckpointMeta, data: &Dataset) -> Option<String> {
    let trained = meta.dataset.as_ref()?;
    let (recorded, found) = (
        trained.labels_sha256.as_ref()?,
        data.info().labels_sha256.as_ref()?,
    );
    (recorded != found).then(|| {
        format!(
            "the labels of '{}' differ from those of '{}' recorded in the checkpoint (sha256 {} vs {}); \
             pass --data/--data-seed to choose the data explicitly",
            data.info().name,
            trained.name,
            &found[..12.min(found.len())],
            &recorded[..12.min(recorded.len())]
        )
    })
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

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// "f32" or "f64".
pub fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::F32 => "f32",
        Dtype::F64 => "f64",
    }
}

/// The Euclidean norm of θ.
pub fn norm(theta: &[f64]) -> f64 {
    theta.iter().map(|x| x * x).sum::<f64>().sqrt()
}
