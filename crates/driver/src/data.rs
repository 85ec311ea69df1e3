//! The data a command evaluates on: `--data` specs, the flags that choose them, and the rule
//! by which a checkpoint's own training data is found again.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use curvscope_metrics::format_bytes;
use curvscope_model::checkpoint::resolve_relative;
use curvscope_model::cifar::{load_cifar10_bin, load_cifar10_python, load_cifar10_python_dir};
use curvscope_model::svhn::load_svhn_mat;
use curvscope_model::{
    default_data_dir, digits, fashion_corrupted_on, fashion_test, fashion_train, load_npz,
    toy2d_on, two_d_halfspace_on, CheckpointMeta, DataStream, Dataset, DatasetInfo, Normalize,
    Precision, Targets,
};
use serde::{Deserialize, Serialize};

use crate::network::{precision_parser, Device};

/// Help text for every `--data`/`--eval-data` flag.
pub const DATA_HELP: &str =
    "Dataset: fashion-corrupted[:CLEAN:RANDOM] (the paper's set: first CLEAN+RANDOM \
     FashionMNIST training images, the last RANDOM with seeded random labels; default 1000:200), \
     fashion[:N] (first N training images, N ≤ 6000), fashion-test[:N] (N ≤ 10000), \
     digits[:N] (N ≤ 1797), halfspace[:N] (2-D points, label 1[x1 ≥ x2], for fixed-output), \
     toy2d[:N] (the paper's 2-D toy data), or a file: an .npz with arrays x [N, ...] (e.g. [N, C, H, W]) and y [N], a \
     CIFAR-10 binary batch (.bin, e.g. data_batch_1.bin), a CIFAR-10 python batch (a pickle, \
     e.g. data_batch_1 or test_batch) or folder (cifar-10-batches-py: its data_batch_* files, \
     the 50,000 training images), or an SVHN .mat file (e.g. train_32x32.mat; label 10 is \
     the digit 0). CIFAR-10 and SVHN images are [N, 3, 32, 32] with pixels / 255; \
     checkpoint.json's \"normalize\" field (per-channel mean and std) is applied to any of them";

/// The built-in datasets' names, before any `:ARGS`; every other spec names a file.
const BUILT_IN: [&str; 6] = [
    "fashion-corrupted",
    "fashion",
    "fashion-test",
    "digits",
    "halfspace",
    "toy2d",
];

/// A dataset named on the command line (see [`DATA_HELP`]); `seed` drives its random parts.
/// Every `:ARG` is used or refused: `digits:5` is the first 5 digits, not all 1,797.
pub fn load_dataset(spec: &str, seed: u64) -> Result<Dataset> {
    load_dataset_on(spec, seed, DataStream::Own)
}

/// [`load_dataset`], as `recorded` (a checkpoint's or run's record of its data) describes it:
/// a built-in set whose random parts curvscope drew on θ₀'s stream before 2026-12-03
/// ([`DataStream::Shared`]) is rebuilt so — an earlier run is analyzed and resumed on the data
/// it was trained on. The record's hashes decide: the earlier stream when it, and not today's,
/// gives the recorded labels and inputs. A record with neither hash (a generated set without
/// labels, recorded before the inputs were hashed on 2026-12-01) is older than the change.
pub fn load_dataset_as_recorded(
    spec: &str,
    seed: u64,
    recorded: Option<&DatasetInfo>,
) -> Result<Dataset> {
    let data = load_dataset(spec, seed)?;
    let built_in = BUILT_IN.contains(&spec.split(':').next().unwrap_or(spec));
    let Some(recorded) = recorded.filter(|r| {
        built_in && (&r.name, r.n, r.seed) == (&data.info().name, data.len(), data.info().seed)
    }) else {
        return Ok(data);
    };
    let hashed = recorded.labels_sha256.is_some() || recorded.inputs_sha256.is_some();
    if hashed && recorded.same_data(data.info()) {
        return Ok(data);
    }
    let earlier = load_dataset_on(spec, seed, DataStream::Shared)?;
    if earlier.info() == data.info() || (hashed && !recorded.same_data(earlier.info())) {
        return Ok(data);
    }
    eprintln!(
        "note: '{spec}' (seed {seed}) is rebuilt as curvscope drew it before 2026-12-03 (its \
         random parts on θ₀'s stream): that is the data recorded with the run"
    );
    Ok(earlier)
}

/// [`load_dataset`] with the random parts drawn on `stream`.
fn load_dataset_on(spec: &str, seed: u64, stream: DataStream) -> Result<Dataset> {
    let dir = default_data_dir();
    let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
    if !BUILT_IN.contains(&name) {
        return load_data_file(Path::new(spec));
    }
    let numbers: Vec<usize> = if spec.contains(':') {
        args.split(':')
            .map(|a| {
                a.parse()
                    .with_context(|| format!("'{a}' in dataset '{spec}' is not a count"))
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    // The one optional count N of every set but fashion-corrupted.
    let count = |default: usize| match numbers[..] {
        [] => Ok(default),
        [n] => Ok(n),
        _ => bail!("{name} takes at most one count, {name}:N; got '{spec}'"),
    };
    let data = match name {
        "fashion-corrupted" => {
            let (clean, random) = match numbers[..] {
                [] => (1000, 200),
                [clean, random] => (clean, random),
                _ => bail!("fashion-corrupted takes CLEAN:RANDOM, got '{spec}'"),
            };
            fashion_corrupted_on(&dir, clean, random, seed, stream)?
        }
        "fashion" => fashion_train(&dir, count(6000)?)?,
        "fashion-test" => fashion_test(&dir, count(10000)?)?,
        "digits" => {
            let all = digits(&dir)?;
            let n = count(all.len())?;
            if n > all.len() {
                bail!("digits:{n}: the digits hold {} images", all.len());
            }
            all.slice(0..n)
        }
        "halfspace" => regression(two_d_halfspace_on(
            generated(spec, count(1000)?)?,
            seed,
            stream,
        ))?,
        "toy2d" => toy2d_on(generated(spec, count(100)?)?, seed, stream),
        _ => unreachable!("BUILT_IN lists every name matched here, not '{name}'"),
    };
    Ok(data)
}

/// Bytes a generated sample (halfspace, toy2d: two f32 features) holds at once while it is
/// made and handed to a network: features, label, regression target and the network's copies
/// of them, rounded up generously.
const GENERATED_SAMPLE_BYTES: u64 = 64;

/// `n` samples of the generated set `spec`, refused when they would not fit the default memory
/// budget: a slip such as toy2d:100000000000 would otherwise abort on an 800 GB allocation,
/// or drive the machine into swap.
fn generated(spec: &str, n: usize) -> Result<usize> {
    let bytes = (n as u64).saturating_mul(GENERATED_SAMPLE_BYTES);
    let budget = crate::flags::default_memory_budget();
    if bytes > budget {
        bail!(
            "{spec}: {n} generated samples would need about {}, more than the {} this machine \
             can spare (three quarters of the memory available)",
            format_bytes(bytes),
            format_bytes(budget)
        );
    }
    Ok(n)
}

/// A dataset file, by extension (.npz, .bin, .mat) or, for CIFAR-10's extension-less python
/// batches, by the pickle protocol opcode (0x80) it starts with; a folder is CIFAR-10's
/// `cifar-10-batches-py`, its training batches.
fn load_data_file(path: &Path) -> Result<Dataset> {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    Ok(match extension {
        "npz" => load_npz(path, None)?,
        "bin" => load_cifar10_bin(path)?,
        "mat" => load_svhn_mat(path)?,
        _ if path.is_dir() => load_cifar10_python_dir(path)?,
        _ if starts_with_pickle(path) => load_cifar10_python(path)?,
        _ if path.exists() => bail!(
            "{}: not a dataset file curvscope reads (.npz, CIFAR-10 .bin or python batch, SVHN \
             .mat)",
            path.display()
        ),
        _ => bail!("unknown dataset '{}'. {DATA_HELP}", path.display()),
    })
}

/// Whether the file at `path` begins with a pickle's PROTO opcode.
fn starts_with_pickle(path: &Path) -> bool {
    let mut first = [0u8; 1];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut first))
        .is_ok_and(|()| first[0] == 0x80)
}

/// The half-space labels as 0/1 regression targets, what the fixed-output net fits.
fn regression(data: Dataset) -> Result<Dataset> {
    let targets = data.targets_f64().context("half-space data has labels")?;
    let name = data.info().name.clone();
    let seed = data.info().seed;
    Ok(Dataset::new(
        name,
        data.x().to_vec(),
        data.sample_shape().to_vec(),
        Targets::Regression(targets),
        seed,
    )?)
}

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
    /// Seed of the dataset's random parts (fashion-corrupted's random labels, halfspace's and
    /// toy2d's points) [default: the seed recorded with the checkpoint's dataset, else the run's
    /// seed, else 0].
    #[arg(long, value_name = "SEED")]
    pub data_seed: Option<u64>,
    /// Floating-point precision of the network evaluation.
    #[arg(long, default_value_t = Precision::F64, value_parser = precision_parser())]
    pub precision: Precision,
    /// Where the network is evaluated: cpu (burn-flex) or gpu (burn-wgpu on Vulkan; needs a
    /// build with `--features wgpu`, and computes in f32 only: pass --precision f32). On the
    /// GPU, CURVSCOPE_GPU_BLOCK=N caps a block at N samples, for a GPU short of memory.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
}

/// The dataset a checkpoint is evaluated on, as a `--data` spec, its seed and the
/// checkpoint's input normalisation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataChoice {
    /// The spec (see [`DATA_HELP`]).
    pub spec: String,
    /// Seed of its random parts (e.g. fashion-corrupted's random labels).
    pub seed: u64,
    /// checkpoint.json's `normalize`, applied to the inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<Normalize>,
    /// The model's input shape: for an image model, the first axis is `normalize`'s channels,
    /// and samples stored otherwise (flat, or with axes of size 1) are shaped as it first.
    #[serde(skip)]
    pub input_shape: Vec<usize>,
    /// The checkpoint's record of its training data, to rebuild a built-in set as it was
    /// drawn then ([`load_dataset_as_recorded`]).
    #[serde(skip)]
    pub recorded: Option<DatasetInfo>,
}

impl DataChoice {
    /// `--data`, else the spec the run stored in checkpoint.json's `data` field (an .npz path
    /// there is relative to the checkpoint folder `dir`), else [`DEFAULT_DATA`];
    /// `--data-seed`, else the seed recorded with the checkpoint's dataset, else the run's
    /// seed, else 0 — so a corrupted-label set is rebuilt with the labels the model was
    /// trained on. The checkpoint's `normalize` comes along whatever the data.
    pub fn resolve(
        dir: &Path,
        meta: &CheckpointMeta,
        data: Option<&str>,
        seed: Option<u64>,
    ) -> Result<Self> {
        let recorded = meta.extra.get("data");
        let spec = match (data, recorded) {
            (Some(given), _) => given.to_string(),
            (None, None | Some(serde_json::Value::Null)) => DEFAULT_DATA.to_string(),
            (None, Some(serde_json::Value::String(stored))) => stored_spec(dir, stored),
            (None, Some(other)) => bail!(
                "{}: checkpoint.json's \"data\" is {other}, not a --data spec (a string such \
                 as \"digits\" or \"train.npz\"); fix it or pass --data",
                dir.display()
            ),
        };
        let seed = seed
            .or(meta.dataset.as_ref().and_then(|d| d.seed))
            .or(meta.seed)
            .unwrap_or(0);
        Ok(Self {
            spec,
            seed,
            normalize: meta.normalize.clone(),
            input_shape: meta.arch.input_shape(),
            recorded: meta.dataset.clone(),
        })
    }
}

/// A spec read from checkpoint.json in `dir`: a file path resolved against `dir` (canonical
/// when it exists, so a run's checkpoints share one cache entry); built-in sets as they are.
fn stored_spec(dir: &Path, stored: &str) -> String {
    let name = stored.split_once(':').map_or(stored, |(name, _)| name);
    if BUILT_IN.contains(&name) {
        return stored.to_string();
    }
    let path = resolve_relative(dir, stored);
    path.canonicalize().unwrap_or(path).display().to_string()
}

/// Datasets loaded (and normalised) once per choice: a run's checkpoints share theirs.
#[derive(Default)]
pub struct DataCache(HashMap<DataChoice, Dataset>);

impl DataCache {
    /// The dataset of `choice`, loading it on first use.
    pub fn get(&mut self, choice: &DataChoice) -> Result<&Dataset> {
        if !self.0.contains_key(choice) {
            let recorded = choice.recorded.as_ref();
            let mut data = load_dataset_as_recorded(&choice.spec, choice.seed, recorded)
                .with_context(|| {
                    format!("loading dataset '{}' (seed {})", choice.spec, choice.seed)
                })?;
            if let Some(norm) = &choice.normalize {
                // The channels are the model's: images stored flat are its [C, H, W] first. A
                // flat model's input says nothing of channels; the data's own shape does.
                if choice.input_shape.len() > 1 {
                    data.fits_input(&choice.input_shape).with_context(|| {
                        format!("dataset '{}' does not fit the model", choice.spec)
                    })?;
                    data = data.reshape(choice.input_shape.clone())?;
                }
                data = data
                    .normalized(norm)
                    .with_context(|| format!("checkpoint.json's normalize on '{}'", choice.spec))?;
            }
            self.0.insert(choice.clone(), data);
        }
        Ok(&self.0[choice])
    }
}

/// A warning when `data` is not the data recorded in the checkpoint: another number of
/// samples (a spec read otherwise than when the run was trained), other labels (e.g. a
/// corrupted-label set rebuilt with another seed) or other inputs (an .npz rewritten under its
/// name), so numbers are not silently off.
pub fn data_mismatch(meta: &CheckpointMeta, data: &Dataset) -> Option<String> {
    let trained = meta.dataset.as_ref()?;
    if trained.n != data.len() {
        return Some(format!(
            "'{}' has {} samples, the data '{}' recorded in the checkpoint had {}; pass \
             --data/--data-seed to choose the data explicitly",
            data.info().name,
            data.len(),
            trained.name,
            trained.n
        ));
    }
    /// Both hashes' first 12 digits, where both are known and differ.
    fn differ<'a>(
        recorded: &'a Option<String>,
        found: &'a Option<String>,
    ) -> Option<(&'a str, &'a str)> {
        match (recorded, found) {
            (Some(r), Some(f)) if r != f => {
                Some((r.get(..12).unwrap_or(r), f.get(..12).unwrap_or(f)))
            }
            _ => None,
        }
    }
    let now = data.info();
    let (what, (recorded, found)) = differ(&trained.labels_sha256, &now.labels_sha256)
        .map(|d| ("labels", d))
        .or_else(|| differ(&trained.inputs_sha256, &now.inputs_sha256).map(|d| ("inputs", d)))?;
    Some(format!(
        "the {what} of '{}' differ from those of '{}' recorded in the checkpoint (sha256 {found} \
         vs {recorded}); pass --data/--data-seed to choose the data explicitly",
        now.name, trained.name,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `:ARG` of a built-in set is used or refused, never dropped.
    #[test]
    fn built_in_specs_use_every_count_or_refuse_it() {
        assert_eq!(load_dataset("digits:5", 0).unwrap().len(), 5);
        assert_eq!(load_dataset("toy2d:7", 0).unwrap().len(), 7);
        for (spec, message) in [
            ("fashion:10:20", "fashion takes at most one count"),
            ("halfspace:3:4", "halfspace takes at most one count"),
            ("fashion:", "'' in dataset 'fashion:' is not a count"),
            ("digits:1798", "the digits hold 1797 images"),
            (
                "toy2d:18446744073709551615",
                "toy2d:18446744073709551615: 18446744073709551615 generated samples would need",
            ),
            ("halfspace:1000000000000000", "more than the"),
            (
                "fashion-corrupted:5",
                "fashion-corrupted takes CLEAN:RANDOM",
            ),
        ] {
            let err = format!("{:#}", load_dataset(spec, 0).unwrap_err());
            assert!(err.contains(message), "{spec}: {err}");
        }
    }

    /// A checkpoint trained on all 1,797 digits, analyzed on `digits:50` as its stored spec
    /// now reads (before, the count was dropped): the sample counts differ, and it says so.
    #[test]
    fn data_of_another_size_than_recorded_is_warned_about() {
        let data = load_dataset("digits:50", 0).unwrap();
        let mut meta = CheckpointMeta::new(curvscope_model::ArchSpec::Toy2d);
        meta.dataset = Some(curvscope_model::DatasetInfo {
            n: 1797,
            ..data.info().clone()
        });
        let warning = data_mismatch(&meta, &data).unwrap();
        assert!(
            warning.contains("has 50 samples") && warning.contains("had 1797"),
            "{warning}"
        );
        meta.dataset = Some(data.info().clone());
        assert_eq!(data_mismatch(&meta, &data), None);
        // The same labels on other images (an .npz rewritten under the same name).
        let mut other = data.x().to_vec();
        other[0] += 1.0;
        let rewritten = Dataset::new(
            data.info().name.clone(),
            other,
            data.sample_shape().to_vec(),
            data.targets().clone(),
            None,
        )
        .unwrap();
        let warning = data_mismatch(&meta, &rewritten).unwrap();
        assert!(warning.contains("the inputs of 'digits"), "{warning}");
        // A record written before the inputs' hash was kept is checked on its labels alone.
        meta.dataset.as_mut().unwrap().inputs_sha256 = None;
        assert_eq!(data_mismatch(&meta, &rewritten), None);
    }

    /// checkpoint.json's "data" must be a spec: a number there was ignored for the default set.
    #[test]
    fn a_stored_data_field_that_is_no_spec_is_refused() {
        let mut meta = CheckpointMeta::new(curvscope_model::ArchSpec::Toy2d);
        meta.extra.insert("data".into(), 5.into());
        let err = DataChoice::resolve(Path::new("ck"), &meta, None, None).unwrap_err();
        assert!(
            err.to_string().contains("checkpoint.json's \"data\" is 5"),
            "{err}"
        );
        let given = DataChoice::resolve(Path::new("ck"), &meta, Some("digits"), None).unwrap();
        assert_eq!(given.spec, "digits");
    }

    #[test]
    fn stored_file_specs_resolve_against_the_checkpoint_and_built_in_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["train_32x32.mat", "data_batch_1", "b.bin", "x.npz"] {
            let spec = stored_spec(dir.path(), &format!("../data/{file}"));
            assert_eq!(
                spec,
                dir.path().join("../data").join(file).display().to_string()
            );
        }
        for built_in in [
            "fashion-corrupted:1000:200",
            "digits",
            "halfspace:50",
            "toy2d",
        ] {
            assert_eq!(stored_spec(dir.path(), built_in), built_in);
        }
    }

    #[test]
    fn files_are_told_apart_by_extension_or_pickle_opcode() {
        let dir = tempfile::tempdir().unwrap();
        let unknown = dir.path().join("notes.txt");
        std::fs::write(&unknown, "x,y\n").unwrap();
        let err = load_dataset(unknown.to_str().unwrap(), 0).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a dataset file curvscope reads"),
            "{err}"
        );
        // A pickle that is not a CIFAR-10 batch reaches the CIFAR reader, which says so.
        let pickle = dir.path().join("data_batch_9");
        std::fs::write(&pickle, b"\x80\x02]q\x00.").unwrap();
        let err = load_dataset(pickle.to_str().unwrap(), 0).unwrap_err();
        assert!(
            err.to_string().contains("the pickle holds no dict"),
            "{err}"
        );
        // A folder is CIFAR-10's cifar-10-batches-py.
        let folder = dir.path().join("empty");
        std::fs::create_dir(&folder).unwrap();
        let err = load_dataset(folder.to_str().unwrap(), 0).unwrap_err();
        assert!(err.to_string().contains("no data_batch_* files"), "{err}");
        let err = load_dataset("no-such-set", 0).unwrap_err();
        assert!(
            err.to_string().starts_with("unknown dataset 'no-such-set'"),
            "{err}"
        );
    }
}
