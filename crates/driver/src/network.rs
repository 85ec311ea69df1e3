//! The network a command evaluates: its architecture named on the command line, the precision
//! and device it runs in, and the objective built from them.

use anyhow::{Context, Result};
use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Objective, Precision};
use serde::{Deserialize, Serialize};

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
    /// burn-wgpu on the first GPU, through Vulkan (a build with `--features wgpu`): the samples
    /// in as few blocks as its largest buffer allows.
    Gpu,
}

impl Device {
    /// For `skip_serializing_if`: options hashed before `--device` existed keep their hash.
    pub fn is_cpu(&self) -> bool {
        *self == Device::Cpu
    }
}

/// Refuses θ that `precision` cannot hold: in f32 a value beyond ±3.4e38 is ∞ before any
/// layer runs, and a tanh or a max-pool after it can hide that in a finite loss.
pub fn check_representable(arch: &ArchSpec, theta: &[f64], precision: Precision) -> Result<()> {
    if precision != Precision::F32 {
        return Ok(());
    }
    let mut start = 0;
    let mut tensors = Vec::new();
    for (name, shape) in arch.params() {
        let len: usize = shape.iter().product();
        tensors.push((name, &theta[start..(start + len).min(theta.len())]));
        start += len;
    }
    // Batch norm's running statistics are held beside θ and read in the same precision.
    if let ArchSpec::Sequential(net) = arch {
        tensors.extend(net.buffer_values.iter().map(|(n, v)| (n.clone(), &v[..])));
    }
    for (name, values) in tensors {
        if let Some(i) = values.iter().position(|&v| (v as f32).is_infinite()) {
            anyhow::bail!(
                "tensor `{name}` holds {:e} at flat index {i}, beyond f32's range (±3.4e38): \
                 use --precision f64",
                values[i]
            );
        }
    }
    // A variance so small that batch norm's 1/√(var + ε) overflows f32 (ε 0, var < 1e-77).
    if let ArchSpec::Sequential(net) = arch {
        if let Some((name, i)) = net.batch_norm_scale_beyond(f32::MAX as f64) {
            anyhow::bail!(
                "tensor `{name}` holds {:e} at flat index {i}, and with its layer's eps batch \
                 norm's 1/√(var + ε) is beyond f32's range (±3.4e38): use --precision f64",
                net.buffer_values[&name][i]
            );
        }
    }
    Ok(())
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
        Device::Cpu => {
            BurnObjective::<Cpu>::new(arch, data, &Default::default(), precision)?.boxed()
        }
        #[cfg(feature = "wgpu")]
        Device::Gpu => {
            anyhow::ensure!(
                precision == Precision::F32,
                "--device gpu computes in f32 only (burn-wgpu's f64 kernels did not compile on \
                 an NVIDIA H100's Vulkan driver); add --precision f32"
            );
            // As few blocks as the GPU's largest buffer allows (one for the demo's 1,200 images).
            let device = Default::default();
            let largest = curvscope_model::gpu_largest_buffer(&device);
            Box::new(
                BurnObjective::<curvscope_model::Gpu>::new_within(
                    arch, data, &device, precision, largest,
                )?
                .with_samples_per_block(usize::MAX)
                .with_per_sample_copy_bytes(curvscope_model::GPU_PER_SAMPLE_COPY_BYTES),
            )
        }
        #[cfg(not(feature = "wgpu"))]
        Device::Gpu => anyhow::bail!(
            "--device gpu: this curvscope was built without GPU support; rebuild it with \
             `cargo build --release -p curvscope --features wgpu`"
        ),
    })
}

/// An architecture by name (`lenet`, `toy2d`, `vgg11`), as JSON (e.g.
/// `{"name":"mlp","input":784,"hidden":[50],"classes":10,"activation":"relu"}`), or as the path
/// of a `.json` file holding such JSON (a long sequential spec).
pub fn parse_arch(spec: &str) -> Result<ArchSpec> {
    if spec.ends_with(".json") {
        let json = std::fs::read_to_string(spec)
            .with_context(|| format!("cannot read the architecture file {spec}"))?;
        return serde_json::from_str(&json)
            .with_context(|| format!("{spec} is not an architecture spec"));
    }
    if !spec.trim_start().starts_with('{') {
        return ArchSpec::named(spec).with_context(|| {
            format!("'{spec}' is not an architecture (lenet, toy2d, vgg11, a JSON spec or a .json file)")
        });
    }
    serde_json::from_str(spec).with_context(|| format!("'{spec}' is not an architecture spec"))
}
