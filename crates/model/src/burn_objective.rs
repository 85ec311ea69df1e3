//! [`Objective`] for the burn networks, with the exact HVP by reverse-over-reverse autodiff.

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};

use crate::arch::ArchSpec;
use crate::dataset::{DataError, Dataset, Targets};
use crate::files::format_bytes;
use crate::net::{self, Batch, Theta};
use crate::{transfer, DeviceBasis, Objective};
use curvscope_hessian::BasisStore;
use std::sync::{Arc, Mutex};

mod hessian_diagonal;
mod leaf_order;

use leaf_order::Direction;

/// A burn network on a fixed dataset, seen as a function of its flat parameters.
///
/// `B` is the base backend (e.g. `NdArray<f32>` or `NdArray<f64>`); gradients run on
/// `Autodiff<B>` and Hessian-vector products on `Autodiff<Autodiff<B>>`.
///
/// ```
/// use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Init, Precision, Targets};
///
/// // A tanh MLP 2 → 3 → 2 (D = 17) on four labelled points, at a seeded initial θ.
/// let arch: ArchSpec = serde_json::from_str(
///     r#"{"name":"mlp","input":2,"hidden":[3],"classes":2,"activation":"tanh"}"#)?;
/// let points = vec![0.5, -1.0, 1.5, 0.25, -0.75, 2.0, 0.1, -0.3];
/// let targets = Targets::Classes { labels: vec![0, 1, 1, 0], n_classes: 2 };
/// let data = Dataset::new("points", points, vec![2], targets, None)?;
/// let theta = arch.init(Init::PyTorch, 0);
/// let objective = BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F64)?;
/// let objective = objective.as_dyn();
/// assert_eq!((objective.dim(), objective.n_samples()), (17, 4));
///
/// // H·v is exact (reverse over reverse): central differences of ∇L agree to O(h²).
/// let v: Vec<f64> = (0..17).map(|j| (j as f64 * 0.7).sin()).collect();
/// let h = 1e-4;
/// let shifted = |s: f64| {
///     let at: Vec<f64> = theta.iter().zip(&v).map(|(t, v)| t + s * h * v).collect();
///     objective.grad(&at)
/// };
/// let (up, down) = (shifted(1.0), shifted(-1.0));
/// for (hv, (u, d)) in objective.hvp(&theta, &v).iter().zip(up.iter().zip(&down)) {
///     assert!((hv - (u - d) / (2.0 * h)).abs() < 1e-7);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BurnObjective<B: Backend> {
    arch: ArchSpec,
    /// The data, inputs as given (images flattened channels-first).
    batch: Batch<B>,
    /// The inputs as the first layer reads them ([`net::prepare_input`]), for all samples, when
    /// they fit [`PREPARED_INPUT_LIMIT`] and the device's largest buffer; otherwise each block
    /// is prepared when used.
    prepared: Option<Tensor<B, 2>>,
    labels: Option<Vec<i64>>,
    device: B::Device,
    dtype: DType,
    dim: usize,
    samples_per_block: usize,
    per_sample_copy_bytes: usize,
    /// Bytes of the largest tensor the device can hold ([`BurnObjective::new_within`]).
    largest_buffer: usize,
    /// Bytes of one sample's largest tensor ([`net::largest_tensor_per_sample`]), at least 1.
    sample_bytes: usize,
    /// θ on the device as of the last call ([`BurnObjective::theta_parts`]).
    resident: Mutex<Option<Arc<ResidentTheta<B>>>>,
}

/// θ on the device with the host values it was made from. Consecutive calls at one θ (every
/// HVP of a Lanczos run, every probe of a trace, every chunk of per-sample gradients) then
/// reorder and upload it once (once per thread where the first calls at it run in parallel),
/// and each HVP uploads only v (the gathers' index tables are kept on the device too:
/// `transfer::resident_index`).
struct ResidentTheta<B: Backend> {
    /// θ as the caller gave it, compared bit for bit (so −0.0 is not 0.0).
    host: Vec<f64>,
    /// θ's tensors on the device ([`BurnObjective::vector_parts`]).
    parts: Theta<B>,
}

impl<B: Backend> ResidentTheta<B> {
    /// Whether these parts were made from exactly `theta` (compared on rayon's pool: at VGG-11's
    /// D, 74 MB on each side).
    fn holds(&self, theta: &[f64]) -> bool {
        use rayon::prelude::*;
        const CHUNK: usize = 1 << 16;
        self.host.len() == theta.len()
            && self
                .host
                .par_chunks(CHUNK)
                .zip(theta.par_chunks(CHUNK))
                .all(|(a, b)| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()))
    }
}

/// Floating-point precision of the computation (θ and results are f64 on the host either way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Single precision: about twice as fast; HVPs agree with f64 to ~1e-4 relative.
    F32,
    /// Double precision: matches PyTorch's float64 reference to ~1e-13.
    F64,
}

impl Precision {
    /// Rounds θ to this precision in place, so that θ is exactly what the model computes with
    /// and a checkpoint stores (an f32 run never carries f64 digits, and resumes bit for bit).
    ///
    /// ```
    /// let mut theta = vec![0.1];
    /// curvscope_model::Precision::F32.round(&mut theta);
    /// assert_eq!(theta[0], 0.1f32 as f64);
    /// ```
    pub fn round(self, theta: &mut [f64]) {
        if self == Precision::F32 {
            theta.iter_mut().for_each(|t| *t = *t as f32 as f64);
        }
    }

    pub(crate) fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f64" => Ok(Precision::F64),
            _ => Err(format!("precision is f32 or f64, not '{s}'")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        })
    }
}

/// The gradients of [`BurnObjective::per_sample_copies`] split tensor by tensor: each tensor's
/// coordinates in θ (in the leaves' order) and its `[n, len]` row-major per-sample gradients.
fn tensor_rows<'a, B: Backend, S>(
    theta: &Theta<B>,
    by_tensor: &'a [S],
    n: usize,
) -> Vec<(std::ops::Range<usize>, &'a [S])> {
    let mut start = 0;
    theta
        .iter()
        .map(|part| {
            let len = part.dims()[0];
            let columns = start..start + len;
            start += len;
            (columns, &by_tensor[n * (start - len)..n * start])
        })
        .collect()
}

/// `Tensor<B,1>` from host f64 values, converted to `dtype`.
fn to_tensor<B: Backend>(values: &[f64], device: &B::Device, dtype: DType) -> Tensor<B, 1> {
    transfer::float_to_device(values.to_vec(), [values.len()], device, dtype)
}

use transfer::float_to_host as to_host;

/// Largest prepared input, in bytes, kept for the whole dataset: a CNN's first im2col matrix is
/// up to k² times its images (69 MB for LeNet on 1,200 f32 images), and keeping it saves a
/// gather in every pass.
pub const PREPARED_INPUT_LIMIT: usize = 1 << 30;

/// Most bytes of sample blocks' results held at once before they are summed
/// ([`BurnObjective::sum_over`]), counted as D-vectors: `trailing_hvps`' results are
/// k × (D − first) values each, so its waves may hold up to k times this. A wave is a whole
/// number of blocks per thread, at least one (VGG-11: one block of 74 MB per thread).
const WAVE_BYTES: usize = 1 << 28;

/// Most bytes of per-sample copies of θ in one block of passes over them (per-sample gradients,
/// the Gauss–Newton diagonal; [`BurnObjective::per_sample_copies`]), whatever the thread count;
/// their gradients on the device and on the host take about four times as much again, per
/// block running. LeNet in f32: blocks of up to 370 samples; VGG-11: one sample per block.
/// A GPU takes [`GPU_PER_SAMPLE_COPY_BYTES`] ([`BurnObjective::with_per_sample_copy_bytes`]).
const PER_SAMPLE_COPY_BYTES: usize = 1 << 24;

/// The most bytes of per-sample copies of θ in one block of passes on a GPU
/// ([`BurnObjective::with_per_sample_copy_bytes`]), where each block is a pass of a few hundred
/// kernels: with the CPU's 16 MiB, VGG-11's 16 per-sample gradients took 16 passes, 209 uploads
/// and 0.99 s on an H200, 41× PyTorch's `vmap` (2026-12-04). A block's rows are gathered into
/// one buffer to be read back at once, so the cap is the largest buffer every wgpu adapter
/// allows, 128 MiB (wgpu's and WebGPU's default `max_storage_buffer_binding_size`): 256 MiB
/// failed on lavapipe ("can't allocate buffer of size: 258317088", 7 VGG-11 rows). VGG-11 (θ:
/// 37 MB) then takes 3 samples a pass; LeNet's most per block goes from 370 to 2,961.
pub const GPU_PER_SAMPLE_COPY_BYTES: usize = 1 << 27;

/// Default samples per block of full-batch work (loss, gradient, HVP) on the CPU: small enough
/// that a block's activations stay near the cache and blocks spread over the cores, large
/// enough to amortise per-op overhead (docs/PERFORMANCE.md).
pub const SAMPLES_PER_BLOCK: usize = 50;

/// Whether `data` fits `arch`: the architecture is valid, the data has samples of its input's
/// size and targets of its kind (class labels below its classes, real values for the
/// fixed-output net, none for the toy). What [`BurnObjective::new`] checks first; callable
/// before any objective is built (every rank of a job can check it alike).
///
/// ```
/// use curvscope_model::{check_fits, Activation, ArchSpec};
/// let data = curvscope_model::two_d_halfspace(8, 0);
/// let fits = |input| check_fits(&ArchSpec::Mlp { input, hidden: vec![4], classes: 2, activation: Activation::Relu }, &data);
/// assert!(fits(2).is_ok());
/// assert!(fits(3).unwrap_err().to_string().contains("does not fit"));
/// ```
pub fn check_fits(arch: &ArchSpec, data: &Dataset) -> Result<(), DataError> {
    let n = data.len();
    let misfit = |what: String| {
        Err(DataError::Inconsistent(format!(
            "dataset '{}' does not fit {arch}: {what}",
            data.info().name
        )))
    };
    if let Err(e) = arch.validate() {
        return Err(DataError::Inconsistent(e.to_string()));
    }
    if n == 0 {
        return misfit("it has no samples".into());
    }
    if let Err(DataError::Inconsistent(what)) = data.fits_input(&arch.input_shape()) {
        return misfit(what);
    }
    match (arch.classes(), data.targets(), arch) {
        (Some(c), Targets::Classes { n_classes, .. }, _) if *n_classes <= c => {}
        (Some(c), Targets::Classes { labels, n_classes }, _) => {
            let last = c.saturating_sub(1);
            return misfit(match labels.iter().position(|&l| l >= c as i64) {
                Some(i) => format!(
                    "the model has {c} classes (labels 0 to {last}), but sample {i} has \
                     label {}",
                    labels[i]
                ),
                None => format!("the model has {c} classes, the data {n_classes}"),
            });
        }
        (Some(c), _, _) => {
            return misfit(format!(
                "the model needs class labels 0 to {}",
                c.saturating_sub(1)
            ))
        }
        (None, Targets::Regression(_), ArchSpec::FixedOutput { .. })
        | (None, Targets::None, ArchSpec::Toy2d) => {}
        (None, _, ArchSpec::FixedOutput { .. }) => {
            return misfit("the model needs real-valued targets".into())
        }
        (None, _, _) => return misfit("the toy loss takes no targets".into()),
    }
    Ok(())
}

impl<B: Backend> BurnObjective<B> {
    /// The objective of `arch` on `data` (images are flattened; targets become one-hot rows
    /// for classifiers, a column for regression).
    ///
    /// Fails when the data does not fit the architecture (input size, kind of target, classes).
    pub fn new(
        arch: ArchSpec,
        data: &Dataset,
        device: &B::Device,
        precision: Precision,
    ) -> Result<Self, DataError> {
        Self::new_within(arch, data, device, precision, usize::MAX)
    }

    /// [`BurnObjective::new`] on a device whose largest tensor takes `largest_buffer` bytes: a
    /// GPU's (`gpu_largest_buffer`, feature `wgpu`). Blocks of samples are then cut so that none of
    /// their tensors is larger, whatever [`BurnObjective::with_samples_per_block`] asks, and the
    /// prepared inputs are kept whole only within it.
    ///
    /// Why: past that size a GPU cannot allocate the tensor, and burn-wgpu then computed on
    /// regardless. On lavapipe (128 MiB) LeNet on 2,400 images in one block gave an HVP 95–104%
    /// off the CPU's, with no error until the device was synchronised (docs/PERFORMANCE.md).
    ///
    /// Fails as `new` does, and when θ, one sample's largest tensor, the dataset's inputs or
    /// their one-hot targets do not fit in `largest_buffer`.
    ///
    /// ```
    /// use curvscope_model::{Activation, ArchSpec, BurnObjective, Cpu, Init, Objective, Precision};
    /// let data = curvscope_model::two_d_halfspace(8, 0);
    /// let arch = ArchSpec::Mlp { input: 2, hidden: vec![16], classes: 2, activation: Activation::Relu };
    /// let theta = arch.init(Init::PyTorch, 0);
    /// let on = |bytes| BurnObjective::<Cpu>::new_within(arch.clone(), &data, &Default::default(), Precision::F64, bytes);
    /// // A sample's largest tensor is its 16 hidden values, 128 bytes in f64: 768 bytes hold 6
    /// // samples' (and θ's 82 values, 656 bytes), so the 8 samples go in blocks of 6 and 2.
    /// let (whole, blocks) = (on(usize::MAX)?, on(768)?);
    /// assert!((whole.loss(&theta) - blocks.loss(&theta)).abs() < 1e-15);
    /// let refused = on(600).err().unwrap().to_string();
    /// assert!(refused.contains("its parameters θ would take 656 B"), "{refused}");
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    pub fn new_within(
        arch: ArchSpec,
        data: &Dataset,
        device: &B::Device,
        precision: Precision,
        largest_buffer: usize,
    ) -> Result<Self, DataError> {
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        crate::keep_compiled_kernels();
        check_fits(&arch, data)?;
        let (n, features) = (data.len(), data.sample_len());
        let dtype = precision.dtype();
        let outputs = arch.classes().unwrap_or(1);
        let sample_bytes = net::largest_tensor_per_sample(&arch)
            .max(1)
            .saturating_mul(dtype.size());
        // θ and one sample first: when they do not fit, fewer samples cannot help.
        let (cpu_only, fewer) = ("use the CPU", "use fewer samples or the CPU");
        let values = |count: usize| count.saturating_mul(dtype.size());
        let tensors = [
            ("its parameters θ", values(arch.dim()), cpu_only),
            ("one sample's largest tensor", sample_bytes, cpu_only),
            ("its inputs", values(n * features), fewer),
            ("their targets", values(n * outputs), fewer),
        ];
        for (what, bytes, advice) in tensors {
            if bytes > largest_buffer {
                return Err(DataError::Inconsistent(format!(
                    "dataset '{}' ({n} samples) on {arch}: {what} would take {} as one tensor, \
                     more than the device's largest buffer ({}); {advice}",
                    data.info().name,
                    format_bytes(bytes as u64),
                    format_bytes(largest_buffer as u64)
                )));
            }
        }
        let x = match dtype {
            DType::F32 => {
                transfer::float_to_device(data.x().to_vec(), [n, features], device, dtype)
            }
            _ => transfer::float_to_device(data.x_f64(), [n, features], device, dtype),
        };
        let (target, labels) = match data.targets() {
            Targets::Classes { labels, .. } => {
                // One column per output of the model, which may have more classes than the data.
                let classes = &arch.classes().expect("checked above: a classifier");
                let mut onehot = vec![0.0f64; n * classes];
                for (i, &l) in labels.iter().enumerate() {
                    onehot[i * classes + l as usize] = 1.0;
                }
                (
                    to_tensor::<B>(&onehot, device, dtype).reshape([n, *classes]),
                    Some(labels.clone()),
                )
            }
            Targets::Regression(v) => (to_tensor::<B>(v, device, dtype).reshape([n, 1]), None),
            Targets::None => (Tensor::zeros([n, 0], (device, dtype)), None),
        };
        let dim = arch.dim();
        Ok(Self {
            arch,
            batch: Batch { x, target },
            prepared: None,
            labels,
            device: device.clone(),
            dtype,
            dim,
            samples_per_block: SAMPLES_PER_BLOCK,
            per_sample_copy_bytes: PER_SAMPLE_COPY_BYTES,
            largest_buffer,
            sample_bytes,
            resident: Mutex::new(None),
        }
        .with_prepared_input_limit(PREPARED_INPUT_LIMIT))
    }

    /// Keeps the prepared inputs of all samples ([`net::prepare_input`]) when they take at
    /// most `bytes` (default [`PREPARED_INPUT_LIMIT`]); otherwise prepares each block's when
    /// used, trading a gather per pass for memory. The results are the same either way.
    pub fn with_prepared_input_limit(mut self, bytes: usize) -> Self {
        let [rows, cols] = net::prepared_input_shape(&self.arch);
        let size = self.n_samples() * rows * cols * self.dtype.size();
        if size > bytes.min(self.largest_buffer) {
            self.prepared = None;
        } else if self.prepared.is_none() {
            self.prepared = Some(net::prepare_input(&self.arch, self.batch.x.clone()));
        }
        self
    }

    /// Splits full-batch work and per-sample passes into blocks of at most `samples` (default
    /// [`SAMPLES_PER_BLOCK`], right for CPUs); a GPU wants few large blocks (`usize::MAX`: as
    /// few as [`BurnObjective::new_within`]'s largest buffer allows, one if it is unbounded),
    /// since each block costs kernel launches and a host round trip.
    pub fn with_samples_per_block(mut self, samples: usize) -> Self {
        self.samples_per_block = samples.max(1);
        self
    }

    /// Caps each block of per-sample passes (per-sample gradients, the exact diag(H)) at
    /// `bytes` of per-sample copies of θ (default 16 MiB, for a CPU's memory;
    /// [`GPU_PER_SAMPLE_COPY_BYTES`] for a GPU). At least one sample goes in a block,
    /// and the results are the same whatever the blocks.
    ///
    /// ```
    /// use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Objective, Precision, Targets};
    ///
    /// // The paper's 2-D loss on three samples: one sample per block, or all in one.
    /// let data = Dataset::new("pts", vec![0.0, 0.0, 0.1, 0.2, 0.3, -0.1], vec![2], Targets::None, None)?;
    /// let objective = |bytes| {
    ///     BurnObjective::<Cpu>::new(ArchSpec::Toy2d, &data, &Default::default(), Precision::F64)
    ///         .unwrap()
    ///         .with_per_sample_copy_bytes(bytes)
    /// };
    /// let theta = [1.0, 0.5];
    /// let rows = objective(1).per_sample_grads(&theta);
    /// assert_eq!(rows, objective(curvscope_model::GPU_PER_SAMPLE_COPY_BYTES).per_sample_grads(&theta));
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    pub fn with_per_sample_copy_bytes(mut self, bytes: usize) -> Self {
        self.per_sample_copy_bytes = bytes;
        self
    }

    /// The architecture.
    pub fn arch(&self) -> &ArchSpec {
        &self.arch
    }

    /// Logits `[N, C]`, row-major (classifiers only), a block of samples at a time.
    pub fn logits(&self, theta: &[f64]) -> Vec<f64> {
        self.check_theta(theta);
        let theta = self.theta_parts(theta);
        self.map_blocks(&self.blocks(), |batch, _| {
            to_host(net::logits(&self.arch, theta.clone(), batch.x))
        })
        .concat()
    }

    /// Panics with a clear message unless θ has D entries: every entry point checks, so a
    /// θ of the wrong architecture fails loudly instead of being read as a prefix.
    fn check_theta(&self, theta: &[f64]) {
        assert_eq!(
            theta.len(),
            self.dim,
            "θ has {} entries but the model has D = {} parameters",
            theta.len(),
            self.dim
        );
    }

    /// The samples `start..start + len`, inputs prepared for the first layer.
    fn batch_range(&self, start: usize, len: usize) -> Batch<B> {
        let rows = |t: &Tensor<B, 2>, per_sample: usize| {
            let cols = t.dims()[1];
            t.clone()
                .slice([start * per_sample..(start + len) * per_sample, 0..cols])
        };
        Batch {
            x: match &self.prepared {
                Some(prepared) => rows(prepared, net::prepared_input_shape(&self.arch)[0]),
                None => net::prepare_input(&self.arch, rows(&self.batch.x, 1)),
            },
            target: rows(&self.batch.target, 1),
        }
    }

    /// The samples in consecutive blocks of at most `samples_per_block` and
    /// [`BurnObjective::fitting_samples`], of equal sizes within a sample (as MPI processes
    /// [`share`](crate::distributed::share) them): full-batch work is a sum over blocks, run in
    /// parallel on rayon's pool. On a GPU, the fewest blocks. On the CPU an even number, at
    /// least two (but one per sample at most): burn-flex runs each block's ops on one core, so
    /// 64 samples in blocks of 50 and 14 kept one of two threads idle for most of the pass, and
    /// 16 samples in one block one of two all of it (MLP-Mixer on 64 images: gradient 6.3–6.6 s
    /// against 4.2–4.5 s in two blocks of 32, H·v 23.7 s against 12.3–13.8 s; docs/PERFORMANCE.md,
    /// "Blocks of equal size"). The blocks depend on the sample count and block size only, never
    /// on the thread count, so neither do the sums' bits.
    fn blocks(&self) -> Vec<(usize, usize)> {
        let n = self.n_samples();
        let fewest = n.div_ceil(self.samples_per_block.min(self.fitting_samples()));
        let count = match net::runs_cubecl::<B>(&self.device) {
            true => fewest,
            false => fewest.max(2).next_multiple_of(2).min(n),
        };
        (0..count)
            .map(|block| crate::distributed::share(n, count, block))
            .map(|samples| (samples.start, samples.len()))
            .collect()
    }

    /// The most samples in a block whose largest tensor ([`net::largest_tensor_per_sample`])
    /// fits the device's largest buffer; at least one ([`BurnObjective::new_within`] refused a
    /// sample that does not fit).
    fn fitting_samples(&self) -> usize {
        (self.largest_buffer / self.sample_bytes).max(1)
    }

    /// `f(block, start)` for each of `blocks` (`(start, len)`, from [`BurnObjective::blocks`]),
    /// on rayon's pool, in their order.
    fn map_blocks<T: Send>(
        &self,
        blocks: &[(usize, usize)],
        f: impl Fn(Batch<B>, usize) -> T + Sync,
    ) -> Vec<T> {
        use rayon::prelude::*;
        blocks
            .par_iter()
            .map(|&(start, len)| f(self.batch_range(start, len), start))
            .collect()
    }

    /// Σ over [`BurnObjective::blocks`] of `f(block)`, element-wise, in block order
    /// (deterministic).
    fn sum_over_blocks(&self, f: impl Fn(Batch<B>, usize) -> Vec<f64> + Sync) -> Vec<f64> {
        self.sum_over(&self.blocks(), f)
    }

    /// Σ over `blocks` (`(start, len)`) of `f(block)`, element-wise, in block order
    /// (deterministic).
    ///
    /// In waves of [`WAVE_BYTES`] of block results (whole blocks per thread), summed
    /// before the next wave runs: collecting all of them first held 20 × D values for
    /// VGG-11 × 1,000 (1.5 GB); a small net's blocks all fit one wave, as before.
    fn sum_over(
        &self,
        blocks: &[(usize, usize)],
        f: impl Fn(Batch<B>, usize) -> Vec<f64> + Sync,
    ) -> Vec<f64> {
        // A whole number of blocks per thread: a wave of 3 blocks on 2 threads idled one
        // thread a third of the time (VGG-11 × 1,000's HVP 20.8 → 26.7 s).
        let threads = rayon::current_num_threads();
        let wave = (WAVE_BYTES / (8 * self.dim.max(1)) / threads).max(1) * threads;
        let mut sum = None;
        for wave in blocks.chunks(wave) {
            let parts = self.map_blocks(wave, &f);
            sum = Some(self.sum_in_order(sum.into_iter().chain(parts).collect()));
        }
        sum.unwrap_or_else(|| vec![0.0; self.dim])
    }

    /// The element-wise sum of D-vectors, in their order (deterministic); zeros if none.
    fn sum_in_order(&self, parts: Vec<Vec<f64>>) -> Vec<f64> {
        parts
            .into_iter()
            .reduce(|mut acc, p| {
                acc.iter_mut().zip(&p).for_each(|(a, b)| *a += b);
                acc
            })
            .unwrap_or_else(|| vec![0.0; self.dim])
    }

    /// ∇_θ reduce(ℓ(θ)) over the samples of `batch`, in the leaves' order, where `reduce` maps
    /// the per-sample losses to the scalar to differentiate.
    fn grad_of(
        &self,
        theta: &Theta<B>,
        batch: &Batch<B>,
        reduce: impl FnOnce(Tensor<Autodiff<B>, 1>) -> Tensor<Autodiff<B>, 1>,
    ) -> Vec<f64> {
        self.grad_of_scalar(theta, batch, |theta, batch| {
            reduce(net::per_sample_losses(&self.arch, theta, batch))
        })
    }

    /// ∇_θ scalar(θ, batch) in the leaves' order, for any scalar (one-element tensor) computed
    /// from the leaf θ and the samples of `batch`.
    fn grad_of_scalar(
        &self,
        theta: &Theta<B>,
        batch: &Batch<B>,
        scalar: impl FnOnce(Theta<Autodiff<B>>, &Batch<Autodiff<B>>) -> Tensor<Autodiff<B>, 1>,
    ) -> Vec<f64> {
        to_host(self.grad_on_device_of_scalar(theta, batch, scalar))
    }

    /// [`BurnObjective::grad_of_scalar`] left on the device.
    fn grad_on_device_of_scalar(
        &self,
        theta: &Theta<B>,
        batch: &Batch<B>,
        scalar: impl FnOnce(Theta<Autodiff<B>>, &Batch<Autodiff<B>>) -> Tensor<Autodiff<B>, 1>,
    ) -> Tensor<B, 1> {
        let lift = |t: &Tensor<B, 2>| Tensor::<Autodiff<B>, 2>::from_inner(t.clone());
        let batch = Batch {
            x: lift(&batch.x),
            target: lift(&batch.target),
        };
        let theta: Theta<Autodiff<B>> = theta
            .iter()
            .map(|part| Tensor::from_inner(part.clone()).require_grad())
            .collect();
        let grads = scalar(theta.clone(), &batch).backward();
        Self::joined_grads(&theta, |part| part.grad(&grads))
    }

    /// H_b·v for the block `batch` (θ and v as [`BurnObjective::vector_parts`], the product in
    /// the leaves' order), where H_b is the Hessian of Σ_{i∈b} ℓ_i, with the first
    /// `fixed` parameter tensors held constant: their rows come out zero and the others are
    /// the trailing block's product (see [`Objective::trailing_hvps`]). `from`, a
    /// [`net::resume_point`] of those constants on this block, skips their layers.
    ///
    /// Reverse-over-reverse: each other parameter tensor of θ is a leaf on the inner tape
    /// wrapped in a leaf on the outer tape; the outer backward yields g = ∇L_b as inner tensors
    /// still on the inner tape, and the inner backward of ⟨g, v⟩ gives ∇⟨∇L_b, v⟩ = H_b·v
    /// exactly. Constant tensors put nothing on either tape, so neither backward walks the
    /// layers before the first leaf: that, and not rerunning the layers `from` skips, is what
    /// makes trailing products cheap.
    fn hvp_of(
        &self,
        theta: &Theta<B>,
        v: &Theta<B>,
        fixed: usize,
        batch: &Batch<B>,
        from: Option<&net::Resume<B>>,
    ) -> Vec<f64> {
        type Inner<B> = Autodiff<B>;
        type Outer<B> = Autodiff<Autodiff<B>>;
        let lift =
            |t: &Tensor<B, 2>| Tensor::<Outer<B>, 2>::from_inner(Tensor::from_inner(t.clone()));
        let batch = Batch {
            x: lift(&batch.x),
            target: lift(&batch.target),
        };
        let leaf = |t: usize| t >= fixed;
        let theta_inner: Theta<Inner<B>> = theta
            .iter()
            .enumerate()
            .map(|(t, part)| Tensor::from_inner(part.clone()).set_require_grad(leaf(t)))
            .collect();
        let theta_outer: Theta<Outer<B>> = theta_inner
            .iter()
            .enumerate()
            .map(|(t, part)| Tensor::from_inner(part.clone()).set_require_grad(leaf(t)))
            .collect();
        let loss = match from {
            Some(from) => {
                let from = from.clone().map(|x| lift(&x));
                let rest = theta_outer[from.tensors()..].to_vec();
                net::resumed_losses(&self.arch, rest, from, &batch.target)
            }
            None => net::per_sample_losses(&self.arch, theta_outer.clone(), &batch),
        }
        .sum();
        let grads = loss.backward();
        // ⟨g, v⟩ over the parameter tensors, v split as θ is.
        let dot = theta_outer
            .iter()
            .zip(v)
            .filter_map(|(part, v)| {
                Some((part.grad(&grads)? * Tensor::from_inner(v.clone())).sum())
            })
            .reduce(|a, b| a + b);
        let Some(dot) = dot else {
            return vec![0.0; self.dim];
        };
        let inner_grads = dot.backward();
        self.concat_grads(&theta_inner, |part| part.grad(&inner_grads))
    }

    /// The samples `start..start + len` in blocks for passes over per-sample copies of θ
    /// ([`BurnObjective::per_sample_copies`]) of at most `most` samples, [`SAMPLES_PER_BLOCK`] (or
    /// [`BurnObjective::with_samples_per_block`]), [`BurnObjective::fitting_samples`], and
    /// [`PER_SAMPLE_COPY_BYTES`] (or [`BurnObjective::with_per_sample_copy_bytes`]) of copies
    /// within the device's largest buffer.
    fn copy_blocks(&self, start: usize, len: usize, most: usize) -> Vec<(usize, usize)> {
        let copy_bytes = self.per_sample_copy_bytes.min(self.largest_buffer);
        let copies = copy_bytes / (self.dim.max(1) * self.dtype.size());
        let block = self
            .samples_per_block
            .min(self.fitting_samples())
            .min(most)
            .min(copies)
            .max(1);
        (start..start + len)
            .step_by(block)
            .map(|first| (first, block.min(start + len - first)))
            .collect()
    }

    /// n per-sample copies θ_i of θ's tensors (each `[n, len]`, flat), to be the leaves of
    /// [`BurnObjective::grad_of_scalar`] with a scalar Σ_i scalar_i in which sample i reads copy
    /// i ([`net::per_sample_losses_of_copies`]): one forward and one backward pass then give
    /// every sample's gradient of its own term, tensor by tensor in the leaves' order, each
    /// `[n, len]` row-major ([`tensor_rows`]).
    fn per_sample_copies(&self, theta: &Theta<B>, n: usize) -> Theta<B> {
        theta
            .iter()
            .map(|part| {
                let len = part.dims()[0];
                part.clone()
                    .unsqueeze_dim::<2>(0)
                    .expand([n, len])
                    .reshape([n * len])
            })
            .collect()
    }

    /// The per-sample gradients ∇ℓ_i(θ) of `batch`'s samples into `out` (row-major `[n, D]`) in
    /// PyTorch's order: the gradients of per-sample copies of θ
    /// ([`BurnObjective::per_sample_copies`]) of Σ_i ℓ_i(θ_i), read back once in the device's
    /// precision and reordered straight into their rows.
    ///
    /// Why straight: at VGG-11's D a row is 74 MB, and the f64 copy of the read-back, a row
    /// assembled and then reordered into a new vector, the block's rows and the chunk's
    /// concatenation of the blocks were five fresh D-vectors a row, whose page faults cost more
    /// than the row's backward pass on the CPU (docs/PERFORMANCE.md, 2026-12-05).
    fn per_sample_grads_of(&self, theta: &Theta<B>, batch: &Batch<B>, out: &mut [f64]) {
        let n = batch.n_samples();
        let copies = self.per_sample_copies(theta, n);
        let by_tensor = self.grad_on_device_of_scalar(&copies, batch, |copies, batch| {
            net::per_sample_losses_of_copies(&self.arch, copies, batch).sum()
        });
        let data = transfer::float_data_to_host(by_tensor);
        match data.as_slice::<f32>() {
            Ok(values) => self.write_rows(theta, values, out),
            Err(_) => {
                let values = data
                    .convert::<f64>()
                    .into_vec::<f64>()
                    .expect("float tensor");
                self.write_rows(theta, &values, out)
            }
        }
    }

    /// Rows of per-sample gradients (`out`, `[n, D]`, PyTorch's order) from their values tensor
    /// by tensor in the leaves' order (`by_tensor`, each tensor `[n, len]`, [`tensor_rows`]).
    fn write_rows<S: Copy + Into<f64> + Sync>(
        &self,
        theta: &Theta<B>,
        by_tensor: &[S],
        out: &mut [f64],
    ) {
        let shapes = self.arch.params();
        let n = out.len() / self.dim;
        assert_eq!(by_tensor.len(), n * self.dim, "one gradient of θ per row");
        assert_eq!(theta.len(), shapes.len(), "one leaf per parameter tensor");
        let tensors = tensor_rows(theta, by_tensor, n);
        for (i, row) in out.chunks_exact_mut(self.dim).enumerate() {
            for ((columns, grads), (_, shape)) in tensors.iter().zip(&shapes) {
                let len = columns.len();
                leaf_order::reorder_tensor(
                    shape,
                    &grads[i * len..(i + 1) * len],
                    &mut row[columns.clone()],
                    Direction::ToPyTorch,
                    &S::into,
                );
            }
        }
    }

    /// The gradient of θ on the host from each leaf's gradient (zero where the loss does not
    /// depend on it), in the leaves' order ([`BurnObjective::vector_parts`]; callers sum blocks
    /// and reorder once with [`BurnObjective::to_pytorch`]), joined on the device so that it
    /// is read back once.
    fn concat_grads(
        &self,
        leaves: &[Tensor<Autodiff<B>, 1>],
        grad: impl Fn(&Tensor<Autodiff<B>, 1>) -> Option<Tensor<B, 1>>,
    ) -> Vec<f64> {
        to_host(Self::joined_grads(leaves, grad))
    }

    /// Each leaf's gradient (zeros where the loss does not depend on it), joined on the device.
    fn joined_grads(
        leaves: &[Tensor<Autodiff<B>, 1>],
        grad: impl Fn(&Tensor<Autodiff<B>, 1>) -> Option<Tensor<B, 1>>,
    ) -> Tensor<B, 1> {
        let parts = leaves
            .iter()
            .map(|part| grad(part).unwrap_or_else(|| part.clone().inner().zeros_like()))
            .collect();
        Tensor::cat(parts, 0)
    }

    /// The parameter tensors that end at or before coordinate `start`: their number, and
    /// where the first of the others begins.
    fn tensors_before(&self, start: usize) -> (usize, usize) {
        let mut end = 0;
        let mut fixed = 0;
        for (_, shape) in self.arch.params() {
            let len: usize = shape.iter().product();
            if end + len > start {
                break;
            }
            end += len;
            fixed += 1;
        }
        (fixed, end)
    }

    /// θ on the device as [`BurnObjective::vector_parts`] makes it, kept from the last call
    /// ([`ResidentTheta`]) when that was at exactly this θ, else made and kept for the next.
    /// Costs a host copy of θ beside its device tensors for the objective's lifetime (on the
    /// CPU the tensors hold up to twice θ's values: the first is a view of the uploaded vector),
    /// and a comparison per call (at VGG-11's D, 74 MB read on each side, against the reorder
    /// and upload it saves).
    fn theta_parts(&self, theta: &[f64]) -> Theta<B> {
        // The lock is held only to read or replace the entry (never across a panic), and θ
        // compared outside it, so that calls at other θ on other threads do not wait.
        let slot = || self.resident.lock().expect("no call panicked holding it");
        let last = slot().clone();
        if let Some(last) = last.filter(|last| last.holds(theta)) {
            return last.parts.clone();
        }
        let parts = self.vector_parts(theta);
        let mut slot = slot();
        // The last θ's host copy is overwritten where no call still reads it: calls one after
        // another at new θ (GD's steps, sharpness samples) then cost a copy each, not a fresh
        // D-vector; an objective's first call (SGD builds one per minibatch) allocates it.
        let host = match slot.take().map(Arc::try_unwrap) {
            Some(Ok(ResidentTheta { mut host, .. })) => {
                host.clear();
                host.extend_from_slice(theta);
                host
            }
            _ => theta.to_vec(),
        };
        let kept = parts.clone();
        *slot = Some(Arc::new(ResidentTheta { host, parts: kept }));
        parts
    }

    /// A vector shaped like θ (θ itself, or an HVP's v) on the device as [`net::Theta`]: one
    /// upload, split on the device into one tensor per parameter tensor (each its own autodiff
    /// leaf, so a backward never builds a D-long gradient per parameter tensor), shared by the
    /// call's sample blocks.
    ///
    /// Convolution weights are leaves in the `[kh, kw, in, out]` order their im2col patches
    /// multiply (the `[kh·kw·in, out]` matrix) rather than PyTorch's `[out, in, kh, kw]`
    /// ([`leaf_order`]): reordered on the host here, and back by [`BurnObjective::to_pytorch`]
    /// once a call's gradients are summed, rather than on the tape, where every pass (forward,
    /// backward, the HVP's second backward) copied all the weights through strided views.
    fn vector_parts(&self, values: &[f64]) -> Theta<B> {
        let (shapes, to, dim) = (self.arch.params(), Direction::ToLeaves, [self.dim]);
        // Reordered straight into the device's precision: one pass, half the bytes in f32.
        let flat = match self.dtype {
            DType::F32 => {
                let leaves = leaf_order::reorder(&shapes, values, 0, to, |x| x as f32);
                transfer::float_to_device(leaves, dim, &self.device, self.dtype)
            }
            _ => {
                let leaves = leaf_order::reorder(&shapes, values, 0, to, |x| x);
                transfer::float_to_device(leaves, dim, &self.device, self.dtype)
            }
        };
        let mut start = 0;
        shapes
            .iter()
            .map(|(_, shape)| {
                let len: usize = shape.iter().product();
                start += len;
                // burn-flex copies a view that starts past its buffer's first value at every
                // reshape (each layer's weights, in every block's every pass); reshaped here,
                // each part is that copy, made once per call. On a GPU a slice's reshape is a
                // view (burn-cubecl's `reshape` reads shape and strides only).
                flat.clone().narrow(0, start - len, len).reshape([len])
            })
            .collect()
    }

    /// θ-shaped values from coordinate `start` (where a tensor begins) on, in the leaves' order
    /// ([`BurnObjective::concat_grads`]), back in PyTorch's.
    fn to_pytorch(&self, leaves: &[f64], start: usize) -> Vec<f64> {
        leaf_order::reorder(
            &self.arch.params(),
            leaves,
            start,
            Direction::ToPyTorch,
            |x| x,
        )
    }

    /// A sum over all samples, as [`BurnObjective::to_pytorch`] takes it, divided by N on the
    /// way (on the host, in f64: burn-flex applies scalars in single precision).
    fn mean_in_pytorch_order(&self, sum: &[f64], start: usize) -> Vec<f64> {
        let n = self.n_samples() as f64;
        leaf_order::reorder(&self.arch.params(), sum, start, Direction::ToPyTorch, |x| {
            x / n
        })
    }
}

/// Why these two: an optimised build does not share generic code between crates. Every crate
/// that calls a `BurnObjective<Cpu>`'s derivatives, or turns one into `dyn Objective`, compiles
/// burn's second-order autodiff stack for it again: about 18 s of CPU per test binary (measured
/// 2026-12-04). Through them it is compiled once, here. `#[inline(never)]` keeps the coercion, and
/// with it the vtable, in this crate.
impl BurnObjective<crate::Cpu> {
    /// This objective as a `Box<dyn Objective>`, its derivatives compiled in this crate.
    ///
    /// ```
    /// use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Precision, Targets};
    /// // The paper's 2-D loss at its sharp minimum (1, 1), one sample at the origin.
    /// let origin = Dataset::new("origin", vec![0.0, 0.0], vec![2], Targets::None, None)?;
    /// let toy = BurnObjective::<Cpu>::new(ArchSpec::Toy2d, &origin, &Default::default(), Precision::F64)?
    ///     .boxed();
    /// let column = toy.hvp(&[1.0, 1.0], &[1.0, 0.0]);
    /// assert!((column[0] - 110.0).abs() < 1e-12 && (column[1] - 90.0).abs() < 1e-12);
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    #[inline(never)]
    pub fn boxed(self) -> Box<dyn Objective> {
        Box::new(self)
    }

    /// This objective as a `&dyn Objective`, its derivatives compiled in this crate; for an
    /// objective still wanted as itself (its builders, [`BurnObjective::logits`]).
    ///
    /// ```
    /// use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Precision, Targets};
    /// let origin = Dataset::new("origin", vec![0.0, 0.0], vec![2], Targets::None, None)?;
    /// let toy = BurnObjective::<Cpu>::new(ArchSpec::Toy2d, &origin, &Default::default(), Precision::F64)?;
    /// assert_eq!(toy.as_dyn().loss(&[1.0, 1.0]), 0.0);
    /// assert_eq!(toy.arch(), &ArchSpec::Toy2d);
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    #[inline(never)]
    pub fn as_dyn(&self) -> &dyn Objective {
        self
    }
}

impl<B: Backend> Objective for BurnObjective<B> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn n_samples(&self) -> usize {
        self.batch.n_samples()
    }

    fn per_sample_losses(&self, theta: &[f64]) -> Vec<f64> {
        self.check_theta(theta);
        let theta = self.theta_parts(theta);
        self.map_blocks(&self.blocks(), |batch, _| {
            to_host(net::per_sample_losses(&self.arch, theta.clone(), &batch))
        })
        .concat()
    }

    fn weighted_grad(&self, theta: &[f64], w: &[f64]) -> Vec<f64> {
        self.check_theta(theta);
        assert_eq!(w.len(), self.n_samples(), "one weight per sample");
        let theta = self.theta_parts(theta);
        let sum = self.sum_over_blocks(|batch, start| {
            let len = batch.n_samples();
            let w = Tensor::<Autodiff<B>, 1>::from_inner(to_tensor::<B>(
                &w[start..start + len],
                &self.device,
                self.dtype,
            ));
            self.grad_of(&theta, &batch, |losses| (losses * w).sum())
        });
        self.to_pytorch(&sum, 0)
    }

    /// Σ over blocks of ∇Σ_{i∈b} ℓ_i, divided by N on the host (in f64: burn-flex applies
    /// scalars in single precision).
    fn grad(&self, theta: &[f64]) -> Vec<f64> {
        self.check_theta(theta);
        let theta = self.theta_parts(theta);
        let sum = self.sum_over_blocks(|batch, _| self.grad_of(&theta, &batch, |l| l.sum()));
        self.mean_in_pytorch_order(&sum, 0)
    }

    /// Σ over sample blocks of the blocks' exact HVPs (`BurnObjective::hvp_of`).
    fn hvp(&self, theta: &[f64], v: &[f64]) -> Vec<f64> {
        self.check_theta(theta);
        assert_eq!(v.len(), self.dim, "v has the wrong length");
        let (theta, v) = (self.theta_parts(theta), self.vector_parts(v));
        let sum = self.sum_over_blocks(|batch, _| self.hvp_of(&theta, &v, 0, &batch, None));
        self.mean_in_pytorch_order(&sum, 0)
    }

    /// Holds constant the parameter tensors that lie wholly before `start`: per sample block,
    /// the layers that read only those run once for all of `vs` (`net::resume_point`), and
    /// each product's backward passes stop at the first layer that varies; the rows before
    /// `start` are sliced off.
    fn trailing_hvps(&self, theta: &[f64], start: usize, vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        use rayon::prelude::*;
        self.check_theta(theta);
        if start == self.dim {
            return vec![Vec::new(); vs.len()];
        }
        let (fixed, first) = self.tensors_before(start);
        let padded: Vec<Theta<B>> = vs
            .iter()
            .map(|v| {
                assert_eq!(v.len(), self.dim - start, "v has the wrong length");
                let mut padded = vec![0.0; self.dim];
                padded[start..].copy_from_slice(v);
                self.vector_parts(&padded)
            })
            .collect();
        let theta = self.theta_parts(theta);
        // Per block, the products' rows from `first` on, one after another; the products of a
        // block run in parallel only when there are fewer blocks than threads (nested
        // parallelism made LeNet's fc1 columns 60% slower).
        let in_parallel = self.blocks().len() < rayon::current_num_threads();
        let sum = self.sum_over_blocks(|batch, _| {
            let from = net::resume_point(&self.arch, theta.clone(), batch.x.clone(), fixed);
            let product = |v: &Theta<B>| {
                self.hvp_of(&theta, v, fixed, &batch, from.as_ref())
                    .split_off(first)
            };
            let rows: Vec<Vec<f64>> = match in_parallel {
                true => padded.par_iter().map(product).collect(),
                false => padded.iter().map(product).collect(),
            };
            rows.concat()
        });
        sum.chunks(self.dim - first)
            .map(|rows| {
                self.mean_in_pytorch_order(rows, first)
                    .split_off(start - first)
            })
            .collect()
    }

    /// The Gauss–Newton diagonal, exact for piecewise-linear networks
    /// ([`ArchSpec::is_piecewise_linear`]; derivation in [`BurnObjective::gauss_newton_diagonal`]).
    fn hessian_diagonal(&self, theta: &[f64]) -> Option<Vec<f64>> {
        self.arch
            .is_piecewise_linear()
            .then(|| self.gauss_newton_diagonal(theta))
    }

    /// On burn-cubecl backends (a GPU) a [`DeviceBasis`] in the computing precision, in tensors
    /// of at most [`GPU_PER_SAMPLE_COPY_BYTES`] (the largest buffer every wgpu adapter allows)
    /// and the device's largest buffer;
    /// on the CPU none: the host's f64 basis is exact there (a `DeviceBasis` on burn-flex was
    /// not timed against it).
    fn basis_store(&self) -> Option<Box<dyn BasisStore>> {
        net::runs_cubecl::<B>(&self.device).then(|| {
            let store = DeviceBasis::<B>::with_dtype(
                self.dim,
                &self.device,
                self.dtype,
                GPU_PER_SAMPLE_COPY_BYTES.min(self.largest_buffer),
            );
            Box::new(store) as Box<dyn BasisStore>
        })
    }

    /// The architecture's named tensors ([`ArchSpec::params`]).
    fn parameter_tensors(&self) -> Vec<(String, Vec<usize>)> {
        self.arch.params()
    }

    /// Fraction of samples whose largest logit is the label, block by block as the loss.
    fn accuracy(&self, theta: &[f64]) -> Option<f64> {
        self.loss_and_accuracy(theta).1
    }

    /// One forward pass per block gives both (its losses summed as [`Objective::loss`] sums
    /// them: the same L(θ) to the bit).
    fn loss_and_accuracy(&self, theta: &[f64]) -> (f64, Option<f64>) {
        self.check_theta(theta);
        let parts = self.theta_parts(theta);
        let blocks = self.map_blocks(&self.blocks(), |batch, start| {
            let (losses, predicted) =
                net::losses_and_predictions(&self.arch, parts.clone(), &batch);
            let correct = self
                .labels
                .as_ref()
                .zip(predicted)
                .map(|(labels, predicted)| {
                    let predicted = transfer::int_to_host(predicted);
                    let labels = &labels[start..start + predicted.len()];
                    predicted.iter().zip(labels).filter(|(p, l)| p == l).count()
                });
            (to_host(losses), correct)
        });
        let n = self.n_samples() as f64;
        let loss = blocks.iter().flat_map(|(losses, _)| losses).sum::<f64>() / n;
        let correct: Option<usize> = blocks.iter().map(|(_, correct)| *correct).sum();
        (loss, correct.map(|c| c as f64 / n))
    }

    /// Independent HVPs on rayon's pool (each also spreads its sample blocks over it).
    fn hvps(&self, theta: &[f64], vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        use rayon::prelude::*;
        vs.par_iter().map(|v| self.hvp(theta, v)).collect()
    }

    /// Per block of samples (`BurnObjective::copy_blocks`), one forward and one
    /// backward pass of per-sample copies of θ (`BurnObjective::per_sample_grads_of`),
    /// blocks spread over rayon's pool. A sample's row is the same whatever block it falls in.
    fn per_sample_grads_range(&self, theta: &[f64], start: usize, len: usize) -> Vec<f64> {
        self.check_theta(theta);
        assert!(
            start + len <= self.n_samples(),
            "samples {start}..{} out of N = {}",
            start + len,
            self.n_samples()
        );
        let theta = self.theta_parts(theta);
        // At least one block per thread where there are samples enough: the rows are the same
        // whatever the blocks.
        let threads = rayon::current_num_threads();
        let blocks = self.copy_blocks(start, len, len.div_ceil(threads));
        // Each block writes its rows in place: no block's rows are copied into the chunk's.
        let mut rows = vec![0.0; len * self.dim];
        let mut outs = Vec::with_capacity(blocks.len());
        let mut rest = rows.as_mut_slice();
        for &(_, n) in &blocks {
            let (out, tail) = rest.split_at_mut(n * self.dim);
            outs.push(out);
            rest = tail;
        }
        use rayon::prelude::*;
        blocks.par_iter().zip(outs).for_each(|(&(first, n), out)| {
            self.per_sample_grads_of(&theta, &self.batch_range(first, n), out)
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cpu;

    /// θ kept on the device changes no bit of any result: every call on one objective, whether
    /// θ was kept from the call before (the second and third HVP at θ, the gradient after them)
    /// or replaced (an HVP at another θ between), equals the same call on a fresh objective.
    /// And a θ that differs only in a zero's sign is another θ.
    #[test]
    fn theta_kept_on_the_device_changes_no_result() {
        let data = crate::fashion_corrupted(&crate::default_data_dir(), 12, 0, 0).expect("bundled");
        let arch = ArchSpec::Lenet;
        let theta = arch.init(crate::Init::PyTorch, 0);
        let other = arch.init(crate::Init::PyTorch, 1);
        let v = arch.init(crate::Init::Normal { std: 1.0 }, 2);
        let fresh = || {
            BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)
                .expect("fits")
        };
        let kept = fresh();
        let want_hvp = fresh().hvp(&theta, &v);
        let want_grad = fresh().grad(&theta);
        assert_eq!(kept.hvp(&theta, &v), want_hvp, "θ new to the device");
        assert_eq!(kept.hvp(&theta, &v), want_hvp, "θ kept");
        assert_eq!(kept.grad(&theta), want_grad, "θ kept, another call");
        assert_eq!(kept.hvp(&other, &v), fresh().hvp(&other, &v), "θ replaced");
        assert_eq!(kept.hvp(&theta, &v), want_hvp, "θ back");
        assert_eq!(
            kept.per_sample_grads(&theta),
            fresh().per_sample_grads(&theta)
        );

        let resident = |values: Vec<f64>| ResidentTheta::<Cpu> {
            host: values,
            parts: Vec::new(),
        };
        assert!(resident(vec![1.0, 0.0]).holds(&[1.0, 0.0]));
        assert!(!resident(vec![1.0, 0.0]).holds(&[1.0, -0.0]));
        assert!(!resident(vec![1.0, 0.0]).holds(&[1.0]));
        let long: Vec<f64> = (0..200_000).map(f64::from).collect();
        let mut last_differs = long.clone();
        last_differs[199_999] = 0.5;
        assert!(resident(long.clone()).holds(&long));
        assert!(!resident(long).holds(&last_differs));
    }

    /// VGG-11's θ is 37 MB in f32: the CPU's cap puts one sample in each per-sample pass (the
    /// blocks of 2026-12-04's H200 run), the GPU's three.
    #[test]
    fn per_sample_blocks_of_vgg11_hold_one_sample_on_the_cpu_and_three_on_a_gpu() {
        let n = 10;
        let targets = Targets::Classes {
            labels: vec![0; n],
            n_classes: 10,
        };
        let data = Dataset::new(
            "zeros",
            vec![0.0; n * 3 * 32 * 32],
            vec![3, 32, 32],
            targets,
            None,
        )
        .expect("valid");
        let arch = ArchSpec::named("vgg11").expect("a preset");
        let cpu = BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F32)
            .expect("fits")
            .with_samples_per_block(usize::MAX);
        assert_eq!(
            cpu.copy_blocks(0, n, n),
            (0..n).map(|i| (i, 1)).collect::<Vec<_>>()
        );
        let gpu = cpu.with_per_sample_copy_bytes(GPU_PER_SAMPLE_COPY_BYTES);
        assert_eq!(
            gpu.copy_blocks(0, n, n),
            vec![(0, 3), (3, 3), (6, 3), (9, 1)]
        );
        assert_eq!(gpu.copy_blocks(2, 6, 2), vec![(2, 2), (4, 2), (6, 2)]);
    }

    /// Within lavapipe's largest buffer (128 MiB), as `--device gpu` asks for one block: LeNet
    /// (conv2's im2col, 64,000 bytes a sample in f32) takes at most 2,097 samples a block, and
    /// keeps its prepared inputs (14,400 values a sample) whole up to 2,330 samples; VGG-11
    /// (conv2's and conv4's im2col, 589,824 bytes) at most 227. (On the CPU backend, as here,
    /// in an even number of blocks of equal sizes.)
    #[test]
    fn blocks_and_prepared_inputs_fit_the_largest_buffer() {
        let on = |arch: ArchSpec, shape: Vec<usize>, n: usize| {
            let features: usize = shape.iter().product();
            let targets = Targets::Classes {
                labels: vec![0; n],
                n_classes: 10,
            };
            let data = Dataset::new("zeros", vec![0.0; n * features], shape, targets, None)
                .expect("valid");
            BurnObjective::<Cpu>::new_within(
                arch,
                &data,
                &Default::default(),
                Precision::F32,
                1 << 27,
            )
            .expect("fits")
            .with_samples_per_block(usize::MAX)
        };
        let lenet = on(ArchSpec::Lenet, vec![1, 28, 28], 2400);
        assert_eq!(lenet.blocks(), vec![(0, 1200), (1200, 1200)]);
        assert!(lenet.prepared.is_none());
        let lenet = on(ArchSpec::Lenet, vec![1, 28, 28], 2097);
        assert_eq!(lenet.blocks(), vec![(0, 1049), (1049, 1048)]);
        assert!(lenet.prepared.is_some());
        let vgg11 = ArchSpec::named("vgg11").expect("a preset");
        let vgg11 = on(vgg11, vec![3, 32, 32], 1000);
        let starts: Vec<usize> = vgg11.blocks().iter().map(|b| b.0).collect();
        assert_eq!(starts, [0, 167, 334, 501, 668, 834]);
    }

    /// Full-batch blocks on the CPU: the fewest of at most `samples_per_block`, made an even
    /// number, at least two (at most one per sample), sizes within one sample of each other, in
    /// order.
    #[test]
    fn full_batch_blocks_on_the_cpu_are_an_even_number_of_equal_sizes() {
        let blocks = |n: usize, most: usize| {
            let data = crate::synthetic::two_d_halfspace(n, 1);
            let arch = ArchSpec::Mlp {
                input: 2,
                hidden: vec![3],
                classes: 2,
                activation: crate::Activation::Relu,
            };
            BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F64)
                .expect("fits")
                .with_samples_per_block(most)
                .blocks()
        };
        assert_eq!(blocks(64, 50), vec![(0, 32), (32, 32)]);
        assert_eq!(blocks(50, 50), vec![(0, 25), (25, 25)]);
        assert_eq!(blocks(1, 50), vec![(0, 1)]);
        assert_eq!(blocks(101, 50), vec![(0, 26), (26, 25), (51, 25), (76, 25)]);
        assert_eq!(
            blocks(1200, 50),
            (0..24).map(|b| (50 * b, 50)).collect::<Vec<_>>()
        );
        assert_eq!(blocks(3, 1), vec![(0, 1), (1, 1), (2, 1)]);
    }
}
