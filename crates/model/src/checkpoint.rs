//! Checkpoints: a folder with `model.safetensors` (PyTorch names and layouts, F32 or F64) and
//! `checkpoint.json` (`{"arch": {...}, "step": .., ...}`), exchangeable with PyTorch.
//!
//! On the host a model is a flat θ ∈ R^D: the tensors of [`ArchSpec::params`] in PyTorch
//! `state_dict` order, each flattened row-major. Loading checks every tensor's presence,
//! shape, dtype and finiteness, so a bad file fails loudly before any curvature is computed.
//! A sequential net's buffers (batch norm's running statistics) are stored beside θ as
//! PyTorch stores them and loaded into its spec, not into θ.

use std::path::{Path, PathBuf};

use safetensors::tensor::TensorView;
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::arch::ArchSpec;
use crate::dataset::DatasetInfo;
use crate::distinct_keys::{repeated_key, DistinctKeys};
use crate::files::write_atomic;
use crate::normalize::Normalize;

/// Name of the weights file inside a checkpoint folder.
pub const MODEL_FILE: &str = "model.safetensors";
/// Name of the metadata file inside a checkpoint folder.
pub const META_FILE: &str = "checkpoint.json";

/// Contents of `checkpoint.json`. Only `arch` is required; fields this version does not know
/// are kept in `extra` and written back unchanged. `dataset` is descriptive: when it is not
/// the record curvscope writes ([`DatasetInfo`], an object with `n`), e.g. a free-text
/// `"CIFAR-10 train"`, it is kept in `extra` as written; a record must be well formed. The
/// other known fields must have their type, and an error names the field that does not.
///
/// ```
/// use curvscope_model::{ArchSpec, CheckpointMeta};
/// let meta: CheckpointMeta = serde_json::from_str(
///     r#"{"arch":{"name":"toy2d"},"step":5,"note":"hi","dataset":"my 2-D points"}"#)?;
/// assert_eq!((meta.arch, meta.step, meta.dataset), (ArchSpec::Toy2d, Some(5), None));
/// assert_eq!((&meta.extra["note"], &meta.extra["dataset"]), (&"hi".into(), &"my 2-D points".into()));
/// let err = serde_json::from_str::<CheckpointMeta>(r#"{"arch":{"name":"toy2d"},"step":"five"}"#)
///     .unwrap_err();
/// assert!(err.to_string().starts_with("field `step`: invalid type"), "{err}");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointMeta {
    /// The architecture, which fixes the tensors and the layout of θ.
    pub arch: ArchSpec,
    /// Training step at which θ was saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    /// Training dynamic that produced θ (e.g. "gd", "sgd").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<String>,
    /// Learning rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Mini-batch size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Seed of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetInfo>,
    /// The per-channel input normalisation the network was trained with, applied to every
    /// dataset it is evaluated on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// Any other fields, kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl<'de> Deserialize<'de> for CheckpointMeta {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut extra = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        // curvscope's record (an object with `n`) must be one: a malformed one read as free
        // text would skip the labels check and evaluate on other data without a word.
        let dataset = match extra.get("dataset") {
            Some(serde_json::Value::Object(record)) if record.contains_key("n") => {
                let mut record = record.clone();
                let mut field = |key: &str| record.remove(key).unwrap_or_default();
                let named = |key: &str, e: serde_json::Error| {
                    D::Error::custom(format!("field `dataset.{key}`: {e}"))
                };
                let name = field("name");
                let n = field("n");
                let seed = field("seed");
                let labels_sha256 = field("labels_sha256");
                let inputs_sha256 = field("inputs_sha256");
                let info = DatasetInfo {
                    name: String::deserialize(name).map_err(|e| named("name", e))?,
                    n: usize::deserialize(n).map_err(|e| named("n", e))?,
                    seed: Option::deserialize(seed).map_err(|e| named("seed", e))?,
                    labels_sha256: Option::deserialize(labels_sha256)
                        .map_err(|e| named("labels_sha256", e))?,
                    inputs_sha256: Option::deserialize(inputs_sha256)
                        .map_err(|e| named("inputs_sha256", e))?,
                };
                extra.remove("dataset");
                Some(info)
            }
            _ => None,
        };
        Ok(CheckpointMeta {
            arch: take(&mut extra, "arch")?.ok_or_else(|| D::Error::missing_field("arch"))?,
            step: take(&mut extra, "step")?,
            dynamic: take(&mut extra, "dynamic")?,
            lr: take(&mut extra, "lr")?,
            batch_size: take(&mut extra, "batch_size")?,
            seed: take(&mut extra, "seed")?,
            dataset,
            normalize: take(&mut extra, "normalize")?,
            extra,
        })
    }
}

/// Removes `key` from `fields` and reads it as a `T` (`null` or absent: `None`), with an
/// error that names the field: serde's own loses it through the catch-all `extra`.
fn take<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    fields: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<T>, E> {
    match fields.remove(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|e| E::custom(format!("field `{key}`: {e}"))),
    }
}

/// A path stored in `checkpoint.json` (such as the `.npz` a run was trained on) as a path:
/// relative ones are relative to the checkpoint folder `dir`, so a checkpoint read from
/// another working directory, or moved together with its data, still finds it. Absolute
/// paths are kept.
///
/// ```
/// use std::path::Path;
/// use curvscope_model::checkpoint::resolve_relative;
/// assert_eq!(resolve_relative(Path::new("runs/a/step-000010"), "../../d.npz"),
///            Path::new("runs/a/step-000010/../../d.npz"));
/// assert_eq!(resolve_relative(Path::new("runs/a"), "/data/d.npz"), Path::new("/data/d.npz"));
/// ```
pub fn resolve_relative(dir: &Path, stored: &str) -> PathBuf {
    dir.join(stored)
}

impl CheckpointMeta {
    /// Metadata with only the architecture set.
    pub fn new(arch: ArchSpec) -> Self {
        CheckpointMeta {
            arch,
            step: None,
            dynamic: None,
            lr: None,
            batch_size: None,
            seed: None,
            dataset: None,
            normalize: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// Storage precision of the tensors in `model.safetensors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit floats (PyTorch's default; θ is rounded to f32 when saving).
    F32,
    /// 64-bit floats (exact).
    F64,
}

/// A loaded checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Its metadata.
    pub meta: CheckpointMeta,
    /// Flat parameters in [`ArchSpec::params`] order, widened to f64 exactly.
    pub theta: Vec<f64>,
    /// The precision the tensors were stored in.
    pub dtype: Dtype,
}

/// Why a checkpoint could not be saved or loaded; every variant names the file, and the
/// tensor where one is at fault.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A checkpoint file does not exist.
    #[error("{path}: no such file (a checkpoint folder holds {MODEL_FILE} and {META_FILE})")]
    MissingFile {
        /// The file that is not there.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{path}: cannot read or write")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A checkpoint file could not be written ([`write_atomic`]'s message names it).
    #[error(transparent)]
    Write(std::io::Error),
    /// `checkpoint.json` is not valid JSON, lacks `arch`, names an unknown or invalid
    /// architecture, or has a field of the wrong type (the message names it).
    #[error("{path}: invalid checkpoint metadata")]
    Json {
        /// The file at fault.
        path: PathBuf,
        /// What the JSON parser said (it names the field).
        source: serde_json::Error,
    },
    /// `model.safetensors` is truncated or not a safetensors file. The safetensors crate's
    /// reason is kept as text: as an error source it would print its own cause twice
    /// ("invalid JSON in header: E: E").
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What the safetensors crate said.
        reason: String,
    },
    /// A tensor's data, by the offsets in the header, runs past the end of the file.
    #[error(
        "{path}: not a valid safetensors file: tensor `{tensor}` ends at byte {end} of the \
         data, but the file holds only {available} bytes of data (truncated?)"
    )]
    DataPastEnd {
        /// The file at fault.
        path: PathBuf,
        /// The tensor at fault, by its name in the file.
        tensor: String,
        /// End of the tensor's data, from the start of the data section.
        end: u64,
        /// Bytes of data in the file.
        available: u64,
    },
    /// A tensor's dtype and shape take another number of bytes than its offsets give it.
    #[error(
        "{path}: not a valid safetensors file: tensor `{tensor}` ({dtype}, shape {shape:?}) \
         takes {needed} bytes, but its data_offsets span {span}"
    )]
    SizeMismatch {
        /// The file at fault.
        path: PathBuf,
        /// The tensor at fault, by its name in the file.
        tensor: String,
        /// Its dtype in the header.
        dtype: String,
        /// Its shape in the header.
        shape: Vec<u64>,
        /// Bytes its dtype and shape take.
        needed: u64,
        /// Bytes between its data offsets.
        span: u64,
    },
    /// The header names a tensor twice (a file patched by hand): which of the two holds θ
    /// would be a guess.
    #[error("{path}: not a valid safetensors file: its header names tensor `{tensor}` twice")]
    RepeatedTensor {
        /// The file at fault.
        path: PathBuf,
        /// The tensor, by its name in the file.
        tensor: String,
    },
    /// A tensor of the architecture is absent.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor {
        /// The file at fault.
        path: PathBuf,
        /// The tensor, by its name in the file.
        tensor: String,
    },
    /// The file holds tensors the architecture does not have.
    #[error(
        "{path}: unexpected tensor `{tensor}`{} (not a parameter of the architecture in \
         {META_FILE}){}",
        and_more(*.more),
        prefix_hint(.prefix.as_deref())
    )]
    ExtraTensor {
        /// The file at fault.
        path: PathBuf,
        /// The first such tensor (in name order), by its name in the file.
        tensor: String,
        /// How many more the file holds.
        more: usize,
        /// A prefix all of them have, past which each is a tensor of the architecture
        /// (`module.`: a state_dict of a model inside `nn.DataParallel`).
        prefix: Option<String>,
    },
    /// `model.safetensors` (or, where it is missing, a `.pt`/`.pth`/`.ckpt`/`.bin` file beside
    /// it) is a PyTorch `torch.save` file: a zip or pickle curvscope does not run.
    #[error(
        "{path}: a PyTorch torch.save file (zip or pickle), not safetensors: write the tensors \
         with safetensors.torch.save_file(model.state_dict(), \"{MODEL_FILE}\") or the whole \
         checkpoint with tools/export_pytorch.py (README, \"Bring your own model\")"
    )]
    TorchSave {
        /// The file at fault.
        path: PathBuf,
    },
    /// `model.safetensors` is missing and a `model.safetensors.index.json` stands beside it:
    /// the weights are split over several files (as Hugging Face saves large models).
    #[error(
        "{path}: the weights are split over the safetensors files this index names; curvscope \
         reads one {MODEL_FILE}: merge them first, e.g. in Python \
         `safetensors.torch.save_file({{k: v for f in files for k, v in \
         safetensors.torch.load_file(f).items()}}, \"{MODEL_FILE}\")`"
    )]
    SplitWeights {
        /// The index file.
        path: PathBuf,
    },
    /// A tensor has the wrong shape.
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The file at fault.
        path: PathBuf,
        /// The tensor at fault, by its name in the file.
        tensor: String,
        /// Shape from the architecture.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is not F32/F64, or not of the same dtype as the first tensor.
    #[error("{path}: tensor `{tensor}` has dtype {found}, expected {expected}")]
    Dtype {
        /// The file at fault.
        path: PathBuf,
        /// The tensor at fault, by its name in the file.
        tensor: String,
        /// What was accepted.
        expected: String,
        /// The dtype found.
        found: String,
    },
    /// A tensor holds NaN or ±∞ (or, when saving as F32, a value beyond f32's range).
    #[error("{path}: tensor `{tensor}` has non-finite value {value} at flat index {index}")]
    NonFinite {
        /// The file at fault.
        path: PathBuf,
        /// The tensor at fault, by its name in the file.
        tensor: String,
        /// First bad index within the tensor, row-major.
        index: usize,
        /// The value found there.
        value: f64,
    },
    /// A buffer that cannot be negative (batch norm's `running_var`, a count) is: `1/√(var+ε)`
    /// would be NaN and every number computed from it meaningless.
    #[error("{path}: tensor `{tensor}` has negative value {value} at flat index {index} (a {what} is ≥ 0)")]
    Negative {
        /// The file at fault.
        path: PathBuf,
        /// The tensor at fault, by its name in the file.
        tensor: String,
        /// First bad index within the tensor, row-major.
        index: usize,
        /// The value found there.
        value: f64,
        /// What the tensor holds: "variance" or "count".
        what: &'static str,
    },
    /// A batch-norm layer's `eps` is 0 and its `running_var` is 0 in a channel: 1/√(var+ε)
    /// is infinite there, and every loss NaN.
    #[error("{path}: tensor `{tensor}` is 0 at flat index {index} and its batch-norm layer's `eps` is 0, so 1/√(var+ε) is infinite (PyTorch's default eps is 1e-5)")]
    ZeroVariance {
        /// The file at fault.
        path: PathBuf,
        /// The tensor at fault, by its name in the file.
        tensor: String,
        /// First zero index within the tensor.
        index: usize,
    },
    /// θ passed to [`save_checkpoint`] does not have the architecture's dimension.
    #[error("θ has {found} entries but the architecture has D = {expected}")]
    ThetaLength {
        /// D of the architecture.
        expected: usize,
        /// Length of θ.
        found: usize,
    },
}

/// Splits flat θ into the architecture's tensors, in order.
fn tensors<'a>(arch: &ArchSpec, theta: &'a [f64]) -> Vec<(String, Vec<usize>, &'a [f64])> {
    let mut rest = theta;
    arch.params()
        .into_iter()
        .map(|(name, shape)| {
            let (head, tail) = rest.split_at(shape.iter().product());
            rest = tail;
            (name, shape, head)
        })
        .collect()
}

/// Saves θ as a checkpoint folder `dir` (created if needed): `model.safetensors` with one
/// tensor per [`ArchSpec::params`] entry in `dtype`, and `checkpoint.json` from `meta`.
/// Each file is replaced atomically. Rejects a θ of the wrong length or with non-finite
/// values (including values that overflow f32 when saving as F32).
///
/// ```
/// use curvscope_model::{save_checkpoint, load_checkpoint, ArchSpec, CheckpointMeta, Dtype};
/// let dir = tempfile::tempdir()?;
/// let meta = CheckpointMeta { step: Some(10), ..CheckpointMeta::new(ArchSpec::Toy2d) };
/// save_checkpoint(dir.path(), &meta, &[0.5, -1.25], Dtype::F64)?;
/// let ckpt = load_checkpoint(dir.path())?;
/// assert_eq!((ckpt.theta, ckpt.meta, ckpt.dtype), (vec![0.5, -1.25], meta, Dtype::F64));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_checkpoint(
    dir: &Path,
    meta: &CheckpointMeta,
    theta: &[f64],
    dtype: Dtype,
) -> Result<(), CheckpointError> {
    let expected = meta.arch.dim();
    if theta.len() != expected {
        return Err(CheckpointError::ThetaLength {
            expected,
            found: theta.len(),
        });
    }
    let model_path = dir.join(MODEL_FILE);
    let parts = tensors(&meta.arch, theta);
    let mut buffers = Vec::with_capacity(parts.len());
    for (name, _, values) in &parts {
        let non_finite = |index: usize| CheckpointError::NonFinite {
            path: model_path.clone(),
            tensor: name.clone(),
            index,
            value: values[index],
        };
        let bytes: Vec<u8> = match dtype {
            Dtype::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Dtype::F32 => values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
        };
        let bad = match dtype {
            Dtype::F64 => values.iter().position(|v| !v.is_finite()),
            Dtype::F32 => values.iter().position(|&v| !(v as f32).is_finite()),
        };
        if let Some(index) = bad {
            return Err(non_finite(index));
        }
        buffers.push(bytes);
    }
    let st_dtype = match dtype {
        Dtype::F32 => safetensors::Dtype::F32,
        Dtype::F64 => safetensors::Dtype::F64,
    };
    let constants = buffer_bytes(&meta.arch, dtype);
    let views = parts
        .iter()
        .zip(&buffers)
        .map(|((name, shape, _), bytes)| (name, shape, st_dtype, bytes))
        .chain(
            constants
                .iter()
                .map(|(name, shape, dtype, bytes)| (name, shape, *dtype, bytes)),
        )
        .map(|(name, shape, dtype, bytes)| {
            let view =
                TensorView::new(dtype, shape.clone(), bytes).expect("byte count matches the shape");
            (name.clone(), view)
        });
    let bytes = safetensors::serialize(views, None).map_err(|e| CheckpointError::Format {
        path: model_path.clone(),
        reason: e.to_string(),
    })?;
    let json = serde_json::to_vec_pretty(meta).expect("metadata is plain JSON");
    std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    write_atomic(&model_path, &bytes).map_err(CheckpointError::Write)?;
    write_atomic(&dir.join(META_FILE), &json).map_err(CheckpointError::Write)
}

/// The architecture's buffers ([`ArchSpec::buffers`]) as safetensors data, as PyTorch stores
/// them: statistics in `dtype`, step counts as I64.
fn buffer_bytes(
    arch: &ArchSpec,
    dtype: Dtype,
) -> Vec<(String, Vec<usize>, safetensors::Dtype, Vec<u8>)> {
    let ArchSpec::Sequential(net) = arch else {
        return Vec::new();
    };
    net.buffers()
        .into_iter()
        .map(|(name, shape)| {
            let values = net.buffer(&name, shape.iter().product());
            let (st_dtype, bytes) = if is_count(&name) {
                let bytes = values
                    .iter()
                    .flat_map(|&v| (v as i64).to_le_bytes())
                    .collect();
                (safetensors::Dtype::I64, bytes)
            } else {
                match dtype {
                    Dtype::F64 => (
                        safetensors::Dtype::F64,
                        values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    ),
                    Dtype::F32 => (
                        safetensors::Dtype::F32,
                        values
                            .iter()
                            .flat_map(|&v| (v as f32).to_le_bytes())
                            .collect(),
                    ),
                }
            };
            (name, shape, st_dtype, bytes)
        })
        .collect()
}

/// Whether buffer `name` is an integer count (batch norm's `num_batches_tracked`).
fn is_count(name: &str) -> bool {
    name.ends_with(".num_batches_tracked")
}

/// Reads buffer `name` from the file into the architecture (F32/F64 statistics, an I64 count,
/// 0 when absent), checking its shape, dtype, finiteness and sign (variances and counts ≥ 0).
fn load_buffer(
    path: &Path,
    file: &SafeTensors<'_>,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f64>, CheckpointError> {
    let view = match file.tensor(name) {
        Ok(view) => view,
        // PyTorch before 0.4.1 kept no count, and its BatchNorm loads such a state_dict with
        // the count at 0 (`_BatchNorm._load_from_state_dict`); curvscope never reads it.
        Err(_) if is_count(name) => return Ok(vec![0.0]),
        Err(_) => {
            return Err(CheckpointError::MissingTensor {
                path: path.to_path_buf(),
                tensor: name.to_string(),
            })
        }
    };
    if view.shape() != shape {
        return Err(CheckpointError::Shape {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }
    let data = view.data();
    let values: Vec<f64> = match view.dtype() {
        safetensors::Dtype::I64 if is_count(name) => data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64)
            .collect(),
        safetensors::Dtype::F32 if !is_count(name) => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)
            .collect(),
        safetensors::Dtype::F64 if !is_count(name) => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect(),
        other => {
            return Err(CheckpointError::Dtype {
                path: path.to_path_buf(),
                tensor: name.to_string(),
                expected: if is_count(name) { "I64" } else { "F32 or F64" }.into(),
                found: format!("{other:?}"),
            })
        }
    };
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(CheckpointError::NonFinite {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            index,
            value: values[index],
        });
    }
    let what = match name {
        _ if is_count(name) => "count",
        _ if name.ends_with(".running_var") => "variance",
        _ => return Ok(values),
    };
    if let Some(index) = values.iter().position(|&v| v < 0.0) {
        return Err(CheckpointError::Negative {
            path: path.to_path_buf(),
            tensor: name.to_string(),
            index,
            value: values[index],
            what,
        });
    }
    Ok(values)
}

fn read_file(path: PathBuf) -> Result<(PathBuf, Vec<u8>), CheckpointError> {
    match std::fs::read(&path) {
        Ok(bytes) => Ok((path, bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(CheckpointError::MissingFile { path })
        }
        Err(source) => Err(CheckpointError::Io { path, source }),
    }
}

/// Loads a checkpoint folder, checking that `model.safetensors` holds exactly the tensors of
/// the architecture in `checkpoint.json`, with the right shapes, one dtype (F32 or F64) and
/// finite values. θ is their concatenation in [`ArchSpec::params`] order, widened to f64;
/// buffers ([`ArchSpec::buffers`]: batch norm's running statistics) are read into the
/// architecture (`Sequential::buffer_values`), not θ.
///
/// Every tensor's name, shape and dtype is checked before θ is allocated, so θ is never
/// larger than the values the file holds, whatever size the architecture claims.
///
/// Example: see [`save_checkpoint`].
pub fn load_checkpoint(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let (meta_path, json) = read_file(dir.join(META_FILE))?;
    // A byte-order mark (some Windows editors write one) is no JSON; keys are checked
    // distinct first, as serde_json would keep the last of two `arch`s.
    let json = json.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&json);
    let mut meta: CheckpointMeta = serde_json::from_slice::<DistinctKeys>(json)
        .and_then(|_| serde_json::from_slice(json))
        .map_err(|source| CheckpointError::Json {
            path: meta_path,
            source,
        })?;
    let (path, bytes) = read_file(dir.join(MODEL_FILE)).map_err(|e| match e {
        CheckpointError::MissingFile { .. } => split_index_beside(dir)
            .or_else(|| torch_save_beside(dir))
            .unwrap_or(e),
        e => e,
    })?;
    if let Some(tensor) = repeated_tensor(&bytes) {
        return Err(CheckpointError::RepeatedTensor { path, tensor });
    }
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        if is_torch_save(&bytes) {
            return CheckpointError::TorchSave { path: path.clone() };
        }
        header_fault(&path, &bytes).unwrap_or_else(|| CheckpointError::Format {
            path: path.clone(),
            reason: e.to_string(),
        })
    })?;
    let (views, dtype) = checked_tensors(&path, &file, &meta.arch)?;
    if let ArchSpec::Sequential(net) = &mut meta.arch {
        for (name, shape) in net.buffers() {
            let values = load_buffer(&path, &file, &name, &shape)?;
            net.buffer_values.insert(name, values);
        }
        if let Some((tensor, index)) = net.batch_norm_scale_beyond(f64::MAX) {
            return Err(CheckpointError::ZeroVariance {
                path,
                tensor,
                index,
            });
        }
    }
    let mut theta = Vec::with_capacity(meta.arch.dim());
    for (name, view) in views {
        let start = theta.len();
        match dtype {
            Dtype::F32 => theta.extend(
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
            ),
            Dtype::F64 => theta.extend(
                view.data()
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))),
            ),
        }
        if let Some(index) = theta[start..].iter().position(|v| !v.is_finite()) {
            return Err(CheckpointError::NonFinite {
                path,
                tensor: name,
                index,
                value: theta[start + index],
            });
        }
    }
    Ok(Checkpoint { meta, theta, dtype })
}

/// The file's tensors in [`ArchSpec::params`] order and their common dtype, once every one
/// is known to be present with the architecture's shape, no other is there, and all are F32
/// or all F64.
fn checked_tensors<'a>(
    path: &Path,
    file: &SafeTensors<'a>,
    arch: &ArchSpec,
) -> Result<(Vec<(String, TensorView<'a>)>, Dtype), CheckpointError> {
    let path = || path.to_path_buf();
    let params = arch.params();
    let buffers = arch.buffers();
    let mut names = file.names();
    names.sort();
    let known = |n: &str| params.iter().chain(&buffers).any(|(p, _)| p == n);
    let extra: Vec<&str> = names.iter().copied().filter(|n| !known(n)).collect();
    if let Some(first) = extra.first() {
        // A prefix (up to the first dot) every name has, without which every one is known.
        let prefix = first.find('.').map(|dot| &first[..=dot]).filter(|prefix| {
            names
                .iter()
                .all(|n| n.strip_prefix(prefix).is_some_and(known))
        });
        return Err(CheckpointError::ExtraTensor {
            path: path(),
            tensor: first.to_string(),
            more: extra.len() - 1,
            prefix: prefix.map(str::to_string),
        });
    }
    let mut views = Vec::with_capacity(params.len());
    let mut dtype = None;
    for (name, shape) in params {
        let view = file
            .tensor(&name)
            .map_err(|_| CheckpointError::MissingTensor {
                path: path(),
                tensor: name.clone(),
            })?;
        if view.shape() != shape.as_slice() {
            return Err(CheckpointError::Shape {
                path: path(),
                tensor: name,
                expected: shape,
                found: view.shape().to_vec(),
            });
        }
        let this = match view.dtype() {
            safetensors::Dtype::F32 => Dtype::F32,
            safetensors::Dtype::F64 => Dtype::F64,
            other => {
                return Err(CheckpointError::Dtype {
                    path: path(),
                    tensor: name,
                    expected: "F32 or F64".into(),
                    found: format!("{other:?}"),
                })
            }
        };
        let first = *dtype.get_or_insert(this);
        if first != this {
            return Err(CheckpointError::Dtype {
                path: path(),
                tensor: name,
                expected: format!("{first:?}, like the tensors before it"),
                found: format!("{this:?}"),
            });
        }
        views.push((name, view));
    }
    // Every architecture has parameters (validated), so there is a first dtype.
    Ok((views, dtype.unwrap_or(Dtype::F64)))
}

/// ", and N more", for a list of unexpected tensors.
fn and_more(more: usize) -> String {
    match more {
        0 => String::new(),
        n => format!(" and {n} more"),
    }
}

/// What to do about a prefix every tensor name has beyond the architecture's.
fn prefix_hint(prefix: Option<&str>) -> String {
    prefix.map_or(String::new(), |prefix| {
        format!(
            "; every name starts with `{prefix}`, without which each is a tensor of the \
             architecture (a model inside nn.DataParallel or torch.compile saves such names): save \
             the inner model's state_dict (model.module or model._orig_mod), or export with \
             tools/export_pytorch.py, which unwraps it"
        )
    })
}

/// Whether `bytes` start as a PyTorch `torch.save` file does: a zip archive (PyTorch ≥ 1.6)
/// or a pickle (protocol 2 or later: `0x80`, then the protocol number). Asked only of a file
/// the safetensors crate refused: a safetensors header's length can start with these bytes
/// (640 = `80 02 00 …`), and a safetensors file's header, unlike a pickle's, is JSON.
fn is_torch_save(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || matches!(bytes, [0x80, 2..=5, ..])
}

/// The index of weights split over several safetensors files, beside a missing
/// `model.safetensors`, to name in the error.
fn split_index_beside(dir: &Path) -> Option<CheckpointError> {
    let path = dir.join(format!("{MODEL_FILE}.index.json"));
    path.is_file()
        .then_some(CheckpointError::SplitWeights { path })
}

/// A `torch.save` file beside a missing `model.safetensors` (`.pt`, `.pth`, `.ckpt` or
/// `.bin`, the first by name that is one), to name in the error.
fn torch_save_beside(dir: &Path) -> Option<CheckpointError> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["pt", "pth", "ckpt", "bin"].contains(&e))
        })
        .collect();
    candidates.sort();
    candidates.into_iter().find_map(|path| {
        let mut start = [0u8; 4];
        let mut file = std::fs::File::open(&path).ok()?;
        std::io::Read::read_exact(&mut file, &mut start).ok()?;
        is_torch_save(&start).then_some(CheckpointError::TorchSave { path })
    })
}

/// A safetensors file's JSON header and where its data starts, if the length prefix fits.
fn header(bytes: &[u8]) -> Option<(&[u8], u64)> {
    let header_len = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let data_start = 8u64.checked_add(header_len)?;
    Some((bytes.get(8..usize::try_from(data_start).ok()?)?, data_start))
}

/// The first tensor a safetensors header names twice. The safetensors crate reads the header
/// into a map, keeping one entry: an exact copy would load unremarked, one pointing at other
/// bytes would fail on another tensor's offsets.
fn repeated_tensor(bytes: &[u8]) -> Option<String> {
    repeated_key(header(bytes)?.0)
}

/// What is wrong with a safetensors file the safetensors crate refused, read from its header
/// directly, naming the tensor (the crate reports only that the header and the file disagree):
/// a tensor whose dtype and shape take another number of bytes than its offsets span, else the
/// first tensor (by end offset) whose data runs past the end of the file. `None` where the
/// header itself is unreadable.
fn header_fault(path: &Path, bytes: &[u8]) -> Option<CheckpointError> {
    let (header, data_start) = header(bytes)?;
    let tensors: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).ok()?;
    let tensors = tensors.iter().filter(|(name, _)| *name != "__metadata__");
    let mut ends = Vec::new();
    for (name, info) in tensors {
        let (Some(start), Some(end)) = (
            info["data_offsets"][0].as_u64(),
            info["data_offsets"][1].as_u64(),
        ) else {
            continue;
        };
        let dtype = safetensors::Dtype::deserialize(&info["dtype"]).ok();
        let shape: Option<Vec<u64>> = info["shape"]
            .as_array()
            .and_then(|dims| dims.iter().map(|d| d.as_u64()).collect());
        if let (Some(dtype), Some(shape)) = (dtype, shape) {
            let bits = shape
                .iter()
                .try_fold(dtype.bitsize() as u64, |bits, &d| bits.checked_mul(d));
            let needed = bits.map_or(u64::MAX, |bits| bits.div_ceil(8));
            if end.checked_sub(start) != Some(needed) {
                return Some(CheckpointError::SizeMismatch {
                    path: path.to_path_buf(),
                    tensor: name.clone(),
                    dtype: format!("{dtype:?}"),
                    shape,
                    needed,
                    span: end.saturating_sub(start),
                });
            }
        }
        ends.push((name.clone(), end));
    }
    let available = bytes.len() as u64 - data_start;
    ends.into_iter()
        .filter(|&(_, end)| end > available)
        .min_by_key(|&(_, end)| end)
        .map(|(tensor, end)| CheckpointError::DataPastEnd {
            path: path.to_path_buf(),
            tensor,
            end,
            available,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::tests::mlp;
    use rand::{Rng, SeedableRng};

    fn random_theta(arch: &ArchSpec, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..arch.dim())
            .map(|_| rng.random_range(-3.0..3.0))
            .collect()
    }

    #[test]
    fn f64_round_trip_is_bit_exact_and_keeps_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let mut theta = random_theta(&ArchSpec::Lenet, 1);
        theta[0] = -0.0;
        theta[1] = f64::MIN_POSITIVE / 8.0; // subnormal
        theta[2] = f64::MAX;
        let mut meta = CheckpointMeta {
            step: Some(300),
            dynamic: Some("sgd".into()),
            lr: Some(0.07),
            batch_size: Some(20),
            seed: Some(9),
            dataset: Some(DatasetInfo {
                name: "d".into(),
                n: 1200,
                seed: Some(9),
                labels_sha256: Some("ab".into()),
                inputs_sha256: Some("cd".into()),
            }),
            ..CheckpointMeta::new(ArchSpec::Lenet)
        };
        meta.extra.insert(
            "note".into(),
            serde_json::json!({"from": "python", "k": [1, 2]}),
        );
        save_checkpoint(dir.path(), &meta, &theta, Dtype::F64).unwrap();
        let ckpt = load_checkpoint(dir.path()).unwrap();
        assert_eq!(ckpt.dtype, Dtype::F64);
        assert_eq!(ckpt.meta, meta);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ckpt.theta), bits(&theta));
    }

    #[test]
    fn f32_round_trip_is_exact_for_f32_values_and_rounds_others() {
        let dir = tempfile::tempdir().unwrap();
        let meta = CheckpointMeta::new(mlp());
        let theta: Vec<f64> = random_theta(&mlp(), 2)
            .iter()
            .map(|&v| v as f32 as f64)
            .collect();
        save_checkpoint(dir.path(), &meta, &theta, Dtype::F32).unwrap();
        let ckpt = load_checkpoint(dir.path()).unwrap();
        assert_eq!((ckpt.dtype, &ckpt.theta), (Dtype::F32, &theta));

        let fine = random_theta(&mlp(), 3);
        save_checkpoint(dir.path(), &meta, &fine, Dtype::F32).unwrap();
        let rounded: Vec<f64> = fine.iter().map(|&v| v as f32 as f64).collect();
        assert_ne!(rounded, fine);
        assert_eq!(load_checkpoint(dir.path()).unwrap().theta, rounded);
    }

    #[test]
    fn saving_rejects_wrong_length_and_non_finite_theta() {
        let dir = tempfile::tempdir().unwrap();
        let meta = CheckpointMeta::new(ArchSpec::FixedOutput {
            input: 2,
            hidden: 3,
        });
        let err = save_checkpoint(dir.path(), &meta, &[0.0; 8], Dtype::F64).unwrap_err();
        assert!(
            matches!(
                err,
                CheckpointError::ThetaLength {
                    expected: 9,
                    found: 8
                }
            ),
            "{err}"
        );
        let mut theta = vec![0.5; 9];
        theta[7] = f64::NAN;
        let err = save_checkpoint(dir.path(), &meta, &theta, Dtype::F64).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::NonFinite { tensor, index: 1, .. } if tensor == "hidden.bias"),
            "{err}"
        );
        theta[7] = 1e300; // finite in f64, infinite in f32
        save_checkpoint(dir.path(), &meta, &theta, Dtype::F64).unwrap();
        let err = save_checkpoint(dir.path(), &meta, &theta, Dtype::F32).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::NonFinite { tensor, index: 1, .. } if tensor == "hidden.bias"),
            "{err}"
        );
        // The failed F32 save left the earlier F64 checkpoint intact.
        assert_eq!(load_checkpoint(dir.path()).unwrap().theta, theta);
    }

    /// A checkpoint for `arch` whose safetensors file holds exactly `tensors`.
    fn write_raw(
        arch: &str,
        tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)],
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(META_FILE), format!(r#"{{"arch":{arch}}}"#)).unwrap();
        let views = tensors.iter().map(|(name, dtype, shape, bytes)| {
            (
                *name,
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        });
        std::fs::write(
            dir.path().join(MODEL_FILE),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
        dir
    }

    fn f32s(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    const TOY: &str = r#"{"name":"toy2d"}"#;
    use safetensors::Dtype as St;

    #[test]
    fn raw_writer_agrees_with_loader() {
        let dir = write_raw(TOY, &[("w", St::F32, vec![2], f32s(&[1.5, -2.0]))]);
        assert_eq!(load_checkpoint(dir.path()).unwrap().theta, [1.5, -2.0]);
    }

    #[test]
    fn missing_files_are_named() {
        let dir = write_raw(TOY, &[("w", St::F32, vec![2], f32s(&[1.5, -2.0]))]);
        std::fs::remove_file(dir.path().join(MODEL_FILE)).unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::MissingFile { path } if path.ends_with(MODEL_FILE)),
            "{err}"
        );
        std::fs::remove_file(dir.path().join(META_FILE)).unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::MissingFile { path } if path.ends_with(META_FILE)),
            "{err}"
        );
    }

    #[test]
    fn bad_json_and_unknown_arch_are_errors() {
        for json in [
            "{\"arch\": {\"name\": \"lenet\"",
            r#"{"arch":{"name":"vgg"}}"#,
            r#"{"step":3}"#,
        ] {
            let dir = write_raw(TOY, &[("w", St::F32, vec![2], f32s(&[1.5, -2.0]))]);
            std::fs::write(dir.path().join(META_FILE), json).unwrap();
            let err = load_checkpoint(dir.path()).unwrap_err();
            assert!(
                matches!(&err, CheckpointError::Json { path, .. } if path.ends_with(META_FILE)),
                "{err}"
            );
        }
    }

    #[test]
    fn missing_and_extra_tensors_are_named() {
        let fixed = r#"{"name":"fixed-output","input":1,"hidden":2}"#;
        let dir = write_raw(
            fixed,
            &[("hidden.weight", St::F32, vec![2, 1], f32s(&[1.0, 2.0]))],
        );
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::MissingTensor { tensor, .. } if tensor == "hidden.bias"),
            "{err}"
        );
        let w = ("w", St::F32, vec![2], f32s(&[1.0, 2.0]));
        let dir = write_raw(
            TOY,
            &[w.clone(), ("w_extra", St::F32, vec![1], f32s(&[0.0]))],
        );
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::ExtraTensor { tensor, more: 0, prefix: None, .. }
                if tensor == "w_extra"),
            "{err}"
        );
        // A DataParallel model's state_dict: every name is the architecture's after `module.`.
        let bias = ("module.hidden.bias", St::F32, vec![2], f32s(&[0.0, 0.0]));
        let weight = (
            "module.hidden.weight",
            St::F32,
            vec![2, 1],
            f32s(&[1.0, 2.0]),
        );
        let err = load_checkpoint(write_raw(fixed, &[bias, weight]).path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::ExtraTensor { tensor, more: 1, prefix: Some(p), .. }
                if tensor == "module.hidden.bias" && p == "module."),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("unexpected tensor `module.hidden.bias` and 1 more")
                && err.to_string().contains("model.module"),
            "{err}"
        );
    }

    #[test]
    fn torch_save_files_are_named_as_such() {
        let dir = write_raw(TOY, &[("w", St::F32, vec![2], f32s(&[1.0, 2.0]))]);
        let model = dir.path().join(MODEL_FILE);
        // A safetensors header of 640 bytes starts its file with 80 02, as a pickle starts:
        // the file is still safetensors, and loads.
        let bytes = std::fs::read(&model).unwrap();
        let (header, data_start) = header(&bytes).unwrap();
        let mut padded = 640u64.to_le_bytes().to_vec();
        padded.extend(std::str::from_utf8(header).unwrap().trim_end().as_bytes());
        padded.resize(8 + 640, b' ');
        padded.extend(&bytes[data_start as usize..]);
        assert_eq!(padded[..2], [0x80, 0x02]);
        std::fs::write(&model, padded).unwrap();
        assert_eq!(load_checkpoint(dir.path()).unwrap().theta, [1.0, 2.0]);
        for start in [&b"PK\x03\x04rest of a zip"[..], &b"\x80\x02}q\x00(X"[..]] {
            std::fs::write(&model, start).unwrap();
            let err = load_checkpoint(dir.path()).unwrap_err();
            assert!(
                matches!(&err, CheckpointError::TorchSave { path } if path == &model),
                "{err}"
            );
        }
        // Missing, with a torch.save file beside it: that file is named.
        std::fs::remove_file(&model).unwrap();
        std::fs::write(dir.path().join("notes.bin"), b"not pytorch").unwrap();
        std::fs::write(dir.path().join("model.pt"), b"PK\x03\x04").unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::TorchSave { path } if path.ends_with("model.pt")),
            "{err}"
        );
        assert!(
            err.to_string().contains("safetensors.torch.save_file"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("model.pt")).unwrap();
        // Missing, split over files an index names (Hugging Face's large models): the index.
        let index = dir.path().join("model.safetensors.index.json");
        std::fs::write(
            &index,
            r#"{"weight_map": {"w": "model-00001-of-00002.safetensors"}}"#,
        )
        .unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::SplitWeights { path } if path == &index),
            "{err}"
        );
        assert!(err.to_string().contains("merge them"), "{err}");
        std::fs::remove_file(index).unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(matches!(err, CheckpointError::MissingFile { .. }), "{err}");
    }

    #[test]
    fn wrong_shape_reports_expected_and_found() {
        let dir = write_raw(TOY, &[("w", St::F32, vec![1, 2], f32s(&[1.0, 2.0]))]);
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Shape { tensor, expected, found, .. }
                if tensor == "w" && expected == &[2] && found == &[1, 2]),
            "{err}"
        );
    }

    #[test]
    fn only_f32_or_f64_and_one_dtype_are_accepted() {
        let dir = write_raw(TOY, &[("w", St::I32, vec![2], vec![0; 8])]);
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Dtype { tensor, found, .. } if tensor == "w" && found == "I32"),
            "{err}"
        );
        let dir = write_raw(TOY, &[("w", St::F16, vec![2], vec![0; 4])]);
        assert!(matches!(
            load_checkpoint(dir.path()),
            Err(CheckpointError::Dtype { .. })
        ));
        let fixed = r#"{"name":"fixed-output","input":1,"hidden":1}"#;
        let one_f64 = 1.0f64.to_le_bytes().to_vec();
        let dir = write_raw(
            fixed,
            &[
                ("hidden.weight", St::F32, vec![1, 1], f32s(&[1.0])),
                ("hidden.bias", St::F64, vec![1], one_f64),
            ],
        );
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Dtype { tensor, found, .. } if tensor == "hidden.bias" && found == "F64"),
            "{err}"
        );
    }

    #[test]
    fn nan_and_inf_name_tensor_and_first_index() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let fixed = r#"{"name":"fixed-output","input":2,"hidden":2}"#;
            let w = (
                "hidden.weight",
                St::F32,
                vec![2, 2],
                f32s(&[0.0, 1.0, bad, bad]),
            );
            let dir = write_raw(
                fixed,
                &[w, ("hidden.bias", St::F32, vec![2], f32s(&[0.0, 0.0]))],
            );
            let err = load_checkpoint(dir.path()).unwrap_err();
            assert!(
                matches!(&err, CheckpointError::NonFinite { tensor, index: 2, .. } if tensor == "hidden.weight"),
                "{err}"
            );
        }
    }

    #[test]
    fn truncated_and_foreign_files_are_format_errors() {
        let dir = tempfile::tempdir().unwrap();
        save_checkpoint(
            dir.path(),
            &CheckpointMeta::new(mlp()),
            &random_theta(&mlp(), 4),
            Dtype::F32,
        )
        .unwrap();
        let path = dir.path().join(MODEL_FILE);
        let good = std::fs::read(&path).unwrap();
        for corrupt in [
            &good[..20],
            &good[..3],
            &b"{\"not\": \"safetensors at all\"}"[..],
            &[][..],
        ] {
            std::fs::write(&path, corrupt).unwrap();
            let err = load_checkpoint(dir.path()).unwrap_err();
            assert!(
                matches!(&err, CheckpointError::Format { path: p, .. } if p == &path),
                "{err}"
            );
        }
        let mut long = good.clone();
        long.extend([0; 4]);
        std::fs::write(&path, long).unwrap();
        assert!(matches!(
            load_checkpoint(dir.path()),
            Err(CheckpointError::Format { .. })
        ));
    }

    #[test]
    fn truncated_data_names_the_tensor_that_runs_past_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let theta = random_theta(&mlp(), 4);
        save_checkpoint(dir.path(), &CheckpointMeta::new(mlp()), &theta, Dtype::F32).unwrap();
        let path = dir.path().join(MODEL_FILE);
        let good = std::fs::read(&path).unwrap();
        // safetensors orders the data by name: fc3.weight (10 f32s) is last, fc3.bias (5) before.
        let header = u64::from_le_bytes(good[..8].try_into().unwrap());
        let data = good.len() as u64 - 8 - header;
        for (cut, tensor, expected_end) in [
            (1, "fc3.weight", data),
            (40, "fc3.weight", data),
            (41, "fc3.bias", data - 40),
        ] {
            std::fs::write(&path, &good[..good.len() - cut as usize]).unwrap();
            let err = load_checkpoint(dir.path()).unwrap_err();
            assert!(
                matches!(&err, CheckpointError::DataPastEnd { tensor: t, end, available, .. }
                    if t == tensor && *end == expected_end && *available == data - cut),
                "{err}"
            );
        }
    }

    /// safetensors refuses a shape whose bytes its offsets do not span without naming the
    /// tensor; the message does.
    #[test]
    fn a_shape_that_disagrees_with_its_bytes_names_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(META_FILE), format!(r#"{{"arch":{TOY}}}"#)).unwrap();
        let header = br#"{"theta":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        bytes.extend_from_slice(&[0; 8]);
        std::fs::write(dir.path().join(MODEL_FILE), bytes).unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(
                "tensor `theta` (F32, shape [3]) takes 12 bytes, but its data_offsets span 8"
            ),
            "{err}"
        );
    }

    /// serde keeps the last of a repeated key: a header naming a tensor twice (the second
    /// entry at other bytes, or an exact copy) and a checkpoint.json giving `arch` twice are
    /// refused by name instead.
    #[test]
    fn a_name_given_twice_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let meta = dir.path().join(META_FILE);
        std::fs::write(&meta, format!(r#"{{"arch":{TOY}}}"#)).unwrap();
        let entry = |from: u64| {
            format!(
                r#""theta":{{"dtype":"F32","shape":[2],"data_offsets":[{from},{}]}}"#,
                from + 8
            )
        };
        for (header, data) in [
            (format!("{{{},{}}}", entry(0), entry(8)), 16),
            (format!("{{{},{}}}", entry(0), entry(0)), 8),
        ] {
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend(vec![0; data]);
            std::fs::write(dir.path().join(MODEL_FILE), bytes).unwrap();
            let err = load_checkpoint(dir.path()).unwrap_err();
            assert!(
                matches!(&err, CheckpointError::RepeatedTensor { tensor, .. } if tensor == "theta"),
                "{err}"
            );
        }
        std::fs::write(&meta, format!(r#"{{"arch":{TOY},"arch":{TOY}}}"#)).unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Json { source, .. }
                if source.to_string().contains("field `arch` is given twice")),
            "{err}"
        );
    }

    /// A checkpoint.json saved by an editor that writes a byte-order mark loads as it is.
    #[test]
    fn a_byte_order_mark_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let theta = random_theta(&mlp(), 4);
        save_checkpoint(dir.path(), &CheckpointMeta::new(mlp()), &theta, Dtype::F64).unwrap();
        let meta = dir.path().join(META_FILE);
        let json = std::fs::read(&meta).unwrap();
        std::fs::write(&meta, [&b"\xEF\xBB\xBF"[..], &json].concat()).unwrap();
        assert_eq!(load_checkpoint(dir.path()).unwrap().theta, theta);
    }

    #[test]
    fn a_huge_architecture_is_checked_against_the_file_before_allocating() {
        // D ≈ 1.6e9 (12.7 GB as f64) is a valid spec; the file holds a tiny model.
        let dir = write_raw(
            r#"{"name":"mlp","input":784,"hidden":[2000000],"classes":10,"activation":"relu"}"#,
            &[("fc1.weight", St::F32, vec![2, 784], f32s(&[0.0; 1568]))],
        );
        let err = load_checkpoint(dir.path()).unwrap_err();
        assert!(
            matches!(&err, CheckpointError::Shape { tensor, .. } if tensor == "fc1.weight"),
            "{err}"
        );
    }
}
