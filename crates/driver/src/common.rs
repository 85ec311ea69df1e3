//! What every subcommand shares: naming a dataset on the command line, and building the
//! objective of an architecture on it in the chosen precision, on the chosen device.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use curvscope_model::{
    default_data_dir, digits, fashion_corrupted, fashion_test, fashion_train, load_npz, toy2d,
    two_d_halfspace, ArchSpec, BurnObjective, Cpu, Dataset, Objective, Precision, Targets,
};
use serde::{Deserialize, Serialize};

/// Help text for every `--data`/`--eval-data` flag.
pub const DATA_HELP: &str =
    "Dataset: fashion-corrupted[:CLEAN:RANDOM] (the paper's set: first CLEAN+RANDOM \
     FashionMNIST training images, the last RANDOM with seeded random labels; default 1000:200), \
     fashion[:N] (first N training images, N ≤ 6000), fashion-test[:N] (N ≤ 10000), digits, \
     halfspace[:N] (2-D points, label 1[x1 ≥ x2], for fixed-output), toy2d[:N] (the paper's 2-D \
     toy data), or a path to an .npz with arrays x [N, ...] and y [N]";

/// A dataset named on the command line (see [`DATA_HELP`]); `seed` drives its random parts.
pub fn load_dataset(spec: &str, seed: u64) -> Result<Dataset> {
    let dir = default_data_dir();
    let (name, args) = spec.split_once(':').unwrap_or((spec, ""));
    let numbers: Vec<usize> = if args.is_empty() {
        Vec::new()
    } else {
        args.split(':')
            .map(|a| {
                a.parse()
                    .with_context(|| format!("'{a}' in dataset '{spec}' is not a count"))
            })
            .collect::<Result<_>>()?
    };
    let count = |default: usize| numbers.first().copied().unwrap_or(default);
    let data = match name {
        "fashion-corrupted" => {
            let (clean, random) = match numbers[..] {
                [] => (1000, 200),
                [clean, random] => (clean, random),
                _ => bail!("fashion-corrupted takes CLEAN:RANDOM, got '{spec}'"),
            };
            fashion_corrupted(&dir, clean, random, seed)?
        }
        "fashion" => fashion_train(&dir, count(6000))?,
        "fashion-test" => fashion_test(&dir, count(10000))?,
        "digits" => digits(&dir)?,
        "halfspace" => regression(two_d_halfspace(count(1000), seed))?,
        "toy2d" => toy2d(count(100), seed),
        _ if spec.ends_with(".npz") => load_npz(Path::new(spec), None)?,
        _ => bail!("unknown dataset '{spec}'. {DATA_HELP}"),
    };
    Ok(data)
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

/// Parses `--precision` (f32 or f64), listing both in `--help`.
pub fn precision_parser() -> impl clap::builder::TypedValueParser<Value = Precision> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["f32", "f64"])
        .map(|s| s.parse::<Precision>().expect("a listed value"))
}

/// Where the network is evaluated (`--device`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// burn-flex on the CPU cores.
    #[default]
    Cpu,
    /// burn-wgpu on the first GPU, through Vulkan (a build with `--features wgpu`).
    Gpu,
}

impl Device {
    /// For `skip_serializing_if`: options hashed before `--device` existed keep their hash.
    pub fn is_cpu(&self) -> bool {
        *self == Device::Cpu
    }
}

/// The objective of `arch` on `data` in `precision` on `device`.
pub fn objective(
    arch: &ArchSpec,
    data: &Dataset,
    precision: Precision,
    device: Device,
) -> Result<Box<dyn Objective>> {
    let arch = arch.clone();
    Ok(match device {
        Device::Cpu => Box::new(BurnObjective::<Cpu>::new(
            arch,
            data,
            &Default::default(),
            precision,
        )?),
        #[cfg(feature = "wgpu")]
        Device::Gpu => {
            anyhow::ensure!(
                precision == Precision::F32,
                "--device gpu computes in f32 only (burn-wgpu's f64 kernels did not compile on \
                 an NVIDIA H100's Vulkan driver); add --precision f32"
            );
            Box::new(
                BurnObjective::<curvscope_model::Gpu>::new(
                    arch,
                    data,
                    &Default::default(),
                    precision,
                )?
                .with_samples_per_block(usize::MAX),
            )
        }
        #[cfg(not(feature = "wgpu"))]
        Device::Gpu => bail!(
            "--device gpu: this curvscope was built without GPU support; rebuild it with \
             `cargo build --release -p curvscope --features wgpu`"
        ),
    })
}

/// An architecture by name or as JSON (`lenet`, `toy2d`, or e.g.
/// `{"name":"mlp","input":784,"hidden":[50],"classes":10,"activation":"relu"}`).
pub fn parse_arch(spec: &str) -> Result<ArchSpec> {
    let json = if spec.trim_start().starts_with('{') {
        spec.to_string()
    } else {
        format!(r#"{{"name":"{spec}"}}"#)
    };
    serde_json::from_str(&json).with_context(|| {
        format!(
            "'{spec}' is not an architecture (lenet, toy2d, or JSON like {{\"name\":\"mlp\",...}})"
        )
    })
}

/// Writes `contents` to `path` atomically: a temporary file in the same folder, then a rename,
/// so a killed process leaves either the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Checkpoint folders under `root` (a folder holding `checkpoint.json`, or a run folder whose
/// subfolders do), sorted by name.
pub fn checkpoint_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    if root.join(curvscope_model::checkpoint::META_FILE).exists() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .with_context(|| format!("reading {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.join(curvscope_model::checkpoint::META_FILE).exists()
                || p.join(curvscope_model::checkpoint::MODEL_FILE).exists()
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}
