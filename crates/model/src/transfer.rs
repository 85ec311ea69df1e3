//! Every copy between the host and the backend's device made by the networks and
//! [`crate::BurnObjective`] goes through this module, counted.
//!
//! Why count: on a GPU each read back to the host blocks until the device has finished all the
//! work queued before it, and each upload is a staging copy; a gradient or HVP should need only
//! θ (and v) in and its result out, and after the first call at a θ not θ again. The counts
//! pin that in a test (`tests/transfers.rs`), on any backend, since every backend runs the same
//! code path.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Element, Int, Tensor, TensorData};

static TO_DEVICE: AtomicUsize = AtomicUsize::new(0);
static TO_HOST: AtomicUsize = AtomicUsize::new(0);

/// Host↔device copies made since the process started, over all threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transfers {
    /// Uploads (host → device): a write the device queues without stalling the host.
    pub to_device: usize,
    /// Read-backs (device → host): each blocks until the device has caught up.
    pub to_host: usize,
}

impl std::ops::Sub for Transfers {
    type Output = Transfers;
    fn sub(self, earlier: Transfers) -> Transfers {
        Transfers {
            to_device: self.to_device - earlier.to_device,
            to_host: self.to_host - earlier.to_host,
        }
    }
}

/// The copies counted so far; the difference of two readings counts the work between them
/// (when nothing else runs on the model meanwhile).
///
/// ```
/// use curvscope_model::{transfers, ArchSpec, BurnObjective, Cpu, Init, Objective, Precision};
/// let data = curvscope_model::toy2d(8, 0);
/// let f = BurnObjective::<Cpu>::new(ArchSpec::Toy2d, &data, &Default::default(), Precision::F64)
///     .unwrap();
/// let theta = ArchSpec::Toy2d.init(Init::PyTorch, 0);
/// let before = transfers();
/// f.grad(&theta);
/// let copies = transfers() - before;
/// // θ in, ∇L out of each of the two blocks the CPU runs 8 samples in (doctests run alone, so
/// // no other thread adds to the counts).
/// assert_eq!((copies.to_device, copies.to_host), (1, 2));
/// ```
pub fn transfers() -> Transfers {
    Transfers {
        to_device: TO_DEVICE.load(Ordering::Relaxed),
        to_host: TO_HOST.load(Ordering::Relaxed),
    }
}

/// A float tensor of `shape` on `device` from host values, converted to `dtype`.
pub(crate) fn float_to_device<B: Backend, E: Element, const D: usize>(
    values: Vec<E>,
    shape: [usize; D],
    device: &B::Device,
    dtype: DType,
) -> Tensor<B, D> {
    TO_DEVICE.fetch_add(1, Ordering::Relaxed);
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
}

/// An index tensor on `device` from host values.
pub(crate) fn int_to_device<B: Backend>(values: Vec<i64>, device: &B::Device) -> Tensor<B, 1, Int> {
    TO_DEVICE.fetch_add(1, Ordering::Relaxed);
    let len = values.len();
    Tensor::from_data(TensorData::new(values, [len]), device)
}

/// A float tensor's values on the host, row-major, in f64 ([`checked_read`]).
pub(crate) fn float_to_host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    float_data_to_host(t)
        .convert::<f64>()
        .into_vec::<f64>()
        .expect("float tensor")
}

/// A float tensor's values on the host, row-major, in its own precision ([`checked_read`]):
/// for callers that map them on into place, sparing a converted copy.
pub(crate) fn float_data_to_host<B: Backend, const D: usize>(t: Tensor<B, D>) -> TensorData {
    checked_read::<B>(t.device(), || t.into_data())
}

/// An index tensor's values on the host, row-major ([`checked_read`]).
pub(crate) fn int_to_host<B: Backend, const D: usize>(t: Tensor<B, D, Int>) -> Vec<i64> {
    checked_read::<B>(t.device(), || t.into_data())
        .convert::<i64>()
        .into_vec::<i64>()
        .expect("int tensor")
}

/// `read()`, counted, then a wait for `device` that panics if anything queued on it from this
/// thread failed.
///
/// Why: burn-wgpu reads a buffer back even when a kernel before it could not run, and reports
/// the failure only at the next synchronisation. When a GPU could not allocate a tensor (on
/// lavapipe, one over its 128 MiB largest buffer) the read gave an HVP 95–104% off the CPU's
/// with no error. The wait does nothing on the CPU (burn-flex keeps `sync`'s default); on a GPU
/// it waits for the device's one queue, as the read did (not timed on a card).
fn checked_read<B: Backend>(device: B::Device, read: impl FnOnce() -> TensorData) -> TensorData {
    TO_HOST.fetch_add(1, Ordering::Relaxed);
    let data = read();
    if let Err(err) = B::sync(&device) {
        panic!(
            "the device failed while computing these values, so they are not used: {err}. On a \
             GPU that is most often a tensor it could not allocate: use fewer samples (the \
             curvscope command caps a block at N samples with CURVSCOPE_GPU_BLOCK=N), or \
             --device cpu"
        );
    }
    data
}
