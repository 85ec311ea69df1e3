//! Every copy between the host and the backend's device made by the networks and
//! [`crate::BurnObjective`] goes through this module, counted.
//!
//! Why count: on a GPU each read back to the host blocks until the device has finished all the
//! work queued before it, and each upload is a staging copy; a gradient or HVP should need only
//! θ (and v) in and its result out, and after the first call at a θ not θ again. The counts
//! pin that in a test (`tests/transfers.rs`), on any backend, since every backend runs the same
//! code path.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use burn::tensor::backend::{Backend, DeviceId, DeviceOps};
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

/// The index table `build(key)` on `device`, uploaded the first time this process asks for
/// `table` with this `key` on this device, and shared from then on ([`IndexStore`]).
///
/// Why: the networks' gathers (im2col's pixels, pooling's window candidates) index with tables
/// that depend on shapes alone, and uploading them in every pass made an HVP copy more than v in
/// and H·v out (LeNet: 1 table a pass; the VGG-style net of the tests: 5). `build` is a plain
/// function of the key, so a table cannot depend on anything the key leaves out.
pub(crate) fn resident_index<B: Backend>(
    table: &'static str,
    key: Vec<i64>,
    device: &B::Device,
    build: fn(&[i64]) -> Vec<i64>,
) -> Tensor<B, 1, Int> {
    static STORE: OnceLock<IndexStore> = OnceLock::new();
    STORE
        .get_or_init(|| IndexStore::new(RESIDENT_INDEX_BYTES))
        .get::<B>(table, key, device, build)
}

/// The most bytes of index tables [`resident_index`] keeps (8 per entry): by their shapes,
/// LeNet's on the CPU (blocks of 50 samples) take 0.6 MB, VGG-11's 4.9 MB; a GPU's are one
/// sample's.
const RESIDENT_INDEX_BYTES: usize = 64 << 20;

/// Index tables on their devices, by backend index type, device, table name and key.
///
/// An index tensor is never on an autodiff tape, so one copy serves every level of `Autodiff`
/// (whose index primitive is its inner backend's). A table is built outside the lock (a large
/// one takes a while) and uploaded under it after a second look, so that blocks running in
/// parallel upload it once. Tables larger than `limit` bytes are uploaded at each use, and one
/// that would take the store past `limit` empties it first, so that it cannot hoard memory
/// over many shapes.
struct IndexStore {
    limit: usize,
    kept: Mutex<KeptTables>,
}

type TableId = (TypeId, DeviceId, &'static str, Vec<i64>);

#[derive(Default)]
struct KeptTables {
    tables: HashMap<TableId, Box<dyn Any + Send + Sync>>,
    bytes: usize,
}

impl IndexStore {
    fn new(limit: usize) -> Self {
        IndexStore {
            limit,
            kept: Default::default(),
        }
    }

    /// [`resident_index`]'s table from this store.
    fn get<B: Backend>(
        &self,
        table: &'static str,
        key: Vec<i64>,
        device: &B::Device,
        build: fn(&[i64]) -> Vec<i64>,
    ) -> Tensor<B, 1, Int> {
        let id = (
            TypeId::of::<B::IntTensorPrimitive>(),
            device.id(),
            table,
            key,
        );
        if let Some(tensor) = self.lock().find::<B>(&id) {
            return tensor;
        }
        let values = build(&id.3);
        let bytes = values.len() * size_of::<i64>();
        if bytes > self.limit {
            return int_to_device::<B>(values, device);
        }
        let mut kept = self.lock();
        if let Some(tensor) = kept.find::<B>(&id) {
            return tensor;
        }
        if kept.bytes + bytes > self.limit {
            *kept = Default::default();
        }
        let tensor = int_to_device::<B>(values, device);
        kept.bytes += bytes;
        kept.tables
            .insert(id, Box::new(tensor.clone().into_primitive()));
        tensor
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeptTables> {
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl KeptTables {
    fn find<B: Backend>(&self, id: &TableId) -> Option<Tensor<B, 1, Int>> {
        let primitive = self.tables.get(id)?.downcast_ref::<B::IntTensorPrimitive>();
        Some(Tensor::from_primitive(
            primitive.expect("keyed by its type").clone(),
        ))
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::IndexStore;

    static BUILT: AtomicUsize = AtomicUsize::new(0);

    /// `key[0]` entries equal to `key[1]`, counting the calls.
    fn counted(key: &[i64]) -> Vec<i64> {
        BUILT.fetch_add(1, Ordering::Relaxed);
        vec![key[1]; key[0] as usize]
    }

    /// A table is built once per key; one over the limit every time; and a table that would
    /// take the store past the limit empties it first.
    #[test]
    fn tables_are_kept_within_the_limit() {
        // 100 entries of 8 bytes.
        let store = IndexStore::new(800);
        let builds = |key: [i64; 2]| {
            let before = BUILT.load(Ordering::Relaxed);
            let t = store.get::<crate::Cpu>("test", key.to_vec(), &Default::default(), counted);
            let values = t.into_data().convert::<i64>().into_vec::<i64>();
            assert_eq!(values.expect("ints"), vec![key[1]; key[0] as usize]);
            BUILT.load(Ordering::Relaxed) - before
        };
        assert_eq!(builds([3, 7]), 1);
        assert_eq!(builds([3, 7]), 0);
        assert_eq!(builds([3, 8]), 1, "another key, another table");
        assert_eq!(builds([101, 1]), 1);
        assert_eq!(builds([101, 1]), 1, "over the limit: never kept");
        assert_eq!(builds([50, 2]), 1);
        assert_eq!(builds([3, 7]), 0, "still kept");
        assert_eq!(builds([50, 3]), 1, "empties the store, then kept");
        assert_eq!(builds([3, 7]), 1, "gone with the rest");
        assert_eq!(builds([50, 3]), 0);
    }
}
