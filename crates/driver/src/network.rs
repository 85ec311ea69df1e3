//! The network a command evaluates: its architecture named on the command line, the precision
//! and device it runs in, and the objective built from them.

use anyhow::{Context, Result};
use curvscope_metrics::KrylovBasis;
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
    /// in as few blocks as its largest buffer allows, or blocks of at most
    /// `CURVSCOPE_GPU_BLOCK` samples.
    Gpu,
}

impl Device {
    /// For `skip_serializing_if`: options hashed before `--device` existed keep their hash.
    pub fn is_cpu(&self) -> bool {
        *self == Device::Cpu
    }

    /// Where a one-process run's Lanczos keeps the Hessian's Krylov basis, for the memory
    /// plans: on the GPU (`BurnObjective::basis_store`), else on the host.
    pub fn krylov_basis(self) -> KrylovBasis {
        match self {
            Device::Gpu => KrylovBasis::Device,
            Device::Cpu => KrylovBasis::Host,
        }
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
            // As few blocks as the GPU's largest buffer allows (one for the demo's 1,200
            // images), unless the user caps them for the GPU's memory.
            let value = std::env::var_os(GPU_BLOCK_VAR).map(|v| v.to_string_lossy().into_owned());
            let block = gpu_block(value.as_deref())?;
            let device = Default::default();
            let largest = curvscope_model::gpu_largest_buffer(&device);
            Box::new(
                BurnObjective::<curvscope_model::Gpu>::new_within(
                    arch, data, &device, precision, largest,
                )?
                .with_samples_per_block(block)
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

/// The environment variable that caps the samples of a block on `--device gpu`.
///
/// Why a variable and not a flag: like `RAYON_NUM_THREADS` it changes where and how the work
/// runs, not what it computes (blocks' sums agree to f32 rounding), so it is not part of a
/// run's or an analysis' options, and every command that takes `--device` honours it alike.
/// Blocks are cut at the GPU's largest buffer, whatever its memory: a block's HVP holds several
/// times that in its graph, and each of rayon's threads may hold a block at once, so the
/// samples on the GPU at once are bounded by the cap times the threads (`--threads`).
#[cfg(any(feature = "wgpu", test))]
pub const GPU_BLOCK_VAR: &str = "CURVSCOPE_GPU_BLOCK";

/// The most samples of a GPU block: `value` of [`GPU_BLOCK_VAR`] (read lossily, so a value
/// that is not Unicode is refused), a positive whole number; unset or empty, no cap
/// (`usize::MAX`: the largest buffer decides).
#[cfg(any(feature = "wgpu", test))]
pub fn gpu_block(value: Option<&str>) -> Result<usize> {
    match value.map(str::trim) {
        None | Some("") => Ok(usize::MAX),
        Some(text) => match text.parse::<usize>() {
            Ok(samples) if samples > 0 => Ok(samples),
            _ => anyhow::bail!(
                "{GPU_BLOCK_VAR}={text}: the most samples of a GPU block must be a whole \
                 number of at least 1 (or unset, for as many as the GPU's largest buffer holds)"
            ),
        },
    }
}

/// Ends the process with one error naming the remedies when the GPU runs out of memory.
///
/// Why: wgpu's default error handler panics with "wgpu error: Out of Memory" on CubeCL's
/// server thread, and every later call on the device then panics or crashes in turn (on
/// lavapipe under `ulimit -v`: a screen of backtraces, then a segfault or an abort). Nothing
/// wrong is printed either way, but the cause is buried. The process ends at once, as a kill
/// would end it: curvscope writes every file whole (a temporary file, renamed), and runs and
/// analyses resume.
#[cfg(feature = "wgpu")]
pub fn exit_on_gpu_out_of_memory() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if !is_gpu_out_of_memory(message) {
            return default(info);
        }
        eprintln!("{}", gpu_out_of_memory_advice());
        #[cfg(unix)]
        // SAFETY: `_exit` ends the process without running exit handlers, which would tear the
        // Vulkan driver down under the threads still using it.
        unsafe {
            libc::_exit(1)
        }
        #[cfg(not(unix))]
        std::process::exit(1)
    }));
}

/// Whether a panic's message is wgpu's out-of-memory error (its default error handler
/// panics with "wgpu error: " and the error).
#[cfg(any(feature = "wgpu", test))]
fn is_gpu_out_of_memory(message: &str) -> bool {
    message.starts_with("wgpu error: Out of Memory")
}

/// What to do when the GPU ran out of memory.
#[cfg(any(feature = "wgpu", test))]
fn gpu_out_of_memory_advice() -> String {
    let threads = rayon::current_num_threads();
    format!(
        "error: the GPU ran out of memory. Put fewer samples on it at once: set \
         {GPU_BLOCK_VAR}=N for blocks of at most N samples, of which each of the {threads} \
         threads may hold one (--threads 1, or RAYON_NUM_THREADS=1 where a command has no \
         --threads, for one at a time); or use fewer samples, or --device cpu. Files already \
         written are whole; `train`, `analyze` and `landscape` resume where they stopped."
    )
}

/// An architecture by name (`lenet`, `toy2d`, `vgg11`), as JSON (e.g.
/// `{"name":"mlp","input":784,"hidden":[50],"classes":10,"activation":"relu"}`), or as the path
/// of a `.json` file holding such JSON (a long sequential spec).
pub fn parse_arch(spec: &str) -> Result<ArchSpec> {
    if spec.ends_with(".json") {
        let json = std::fs::read_to_string(spec)
            .with_context(|| format!("cannot read the architecture file {spec}"))?;
        return serde_json::from_str(&json)
            .map_err(nesting)
            .with_context(|| format!("{spec} is not an architecture spec"));
    }
    if !spec.trim_start().starts_with('{') {
        return ArchSpec::named(spec).with_context(|| {
            format!("'{spec}' is not an architecture (lenet, toy2d, vgg11, a JSON spec or a .json file)")
        });
    }
    serde_json::from_str(spec)
        .map_err(nesting)
        .with_context(|| format!("'{spec}' is not an architecture spec"))
}

/// serde_json's error, saying what its "recursion limit exceeded" means for a spec.
fn nesting(e: serde_json::Error) -> anyhow::Error {
    let deep = e.to_string().contains("recursion limit exceeded");
    let e = anyhow::Error::new(e);
    match deep {
        true => e.context(
            "it nests deeper than the 128 levels of JSON curvscope reads (groups or blocks \
             within each other; flatten some)",
        ),
        false => e,
    }
}

#[cfg(test)]
mod tests {
    use super::{
        gpu_block, gpu_out_of_memory_advice, is_gpu_out_of_memory, parse_arch, GPU_BLOCK_VAR,
    };

    /// A spec nested past serde_json's limit says so in a spec's terms, not only serde's.
    #[test]
    fn a_spec_nested_too_deep_says_what_to_do() {
        let mut layer = r#"{"type":"linear","out":2}"#.to_string();
        for _ in 0..70 {
            layer = format!(r#"{{"type":"group","layers":[{layer}]}}"#);
        }
        let spec = format!(r#"{{"name":"sequential","input":[4],"layers":[{layer}]}}"#);
        let err = format!("{:#}", parse_arch(&spec).unwrap_err());
        assert!(
            err.contains("nests deeper than the 128 levels") && err.contains("recursion limit"),
            "{err}"
        );
    }

    #[test]
    fn gpu_block_is_a_positive_count_or_no_cap() {
        assert_eq!(gpu_block(None).unwrap(), usize::MAX);
        assert_eq!(gpu_block(Some("")).unwrap(), usize::MAX);
        assert_eq!(gpu_block(Some(" 500 ")).unwrap(), 500);
        for bad in ["0", "-3", "1.5", "many"] {
            let err = gpu_block(Some(bad)).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{GPU_BLOCK_VAR}={bad}:")),
                "{bad}: {err}"
            );
        }
    }

    /// wgpu 29's default error handler panics with `"wgpu error: {err}\n"`, and its
    /// out-of-memory error displays as "Out of Memory" (seen on lavapipe under `ulimit -v`).
    #[test]
    fn gpu_out_of_memory_is_told_apart_and_explained() {
        assert!(is_gpu_out_of_memory("wgpu error: Out of Memory\n"));
        assert!(!is_gpu_out_of_memory("wgpu error: Validation Error\n"));
        assert!(!is_gpu_out_of_memory("index out of bounds"));
        let advice = gpu_out_of_memory_advice();
        for remedy in [GPU_BLOCK_VAR, "--threads 1", "--device cpu", "resume"] {
            assert!(advice.contains(remedy), "{remedy}: {advice}");
        }
    }
}
