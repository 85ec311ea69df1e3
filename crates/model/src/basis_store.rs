//! A Krylov basis kept on the device that computes the Hessian-vector products.
//!
//! Why: Lanczos with full reorthogonalization sweeps its whole basis twice per step. On the host
//! that is memory-bound work of 2·m·D values per step: for VGG-11 (D = 9.2 M) it took 60 of
//! burn-wgpu's 112.6 s top-20 Lanczos on an H200 machine (4 threads; docs/PERFORMANCE.md), more
//! than the 140 HVPs. On the GPU the same sweeps read its memory at TB/s, and only w goes up and
//! V·h comes back.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};

use curvscope_hessian::BasisStore;

use crate::transfer::{float_to_device, float_to_host};
use crate::Precision;

/// Entries per run of a basis row that a device reduction sums in one go, before the runs' sums
/// are added: a single `sum_dim` over ≳65,500 values was wrong on lavapipe
/// (`crate::net::cubecl_quirks`), and this keeps both stages far below that for any D under
/// 268 M. Each vector is zero-padded to a multiple of it.
const RUN: usize = 4096;

/// Most vectors per device tensor, so that a small net's basis does not reserve a whole
/// buffer's worth of rows up front.
const MOST_ROWS: usize = 64;

/// A [`BasisStore`] on a burn device, in the device's float type: V is held as tensors of a few
/// rows each (`[rows, D′]`, D′ = D padded to a multiple of 4,096, zero rows past m), each at most
/// `buffer_bytes`, so that none exceeds the largest buffer an adapter allows.
///
/// Per Gram–Schmidt pass: one upload (w) and one read-back (h and V·h together); per push, one
/// upload. The host keeps only the last vector (Lanczos' three-term recurrence reads it), so in
/// f32 the basis takes half the memory it takes on the host, on the device.
///
/// Accuracy: V, w and the sums are in the device's precision, so in f32 the basis is orthonormal
/// to about 1e-7 rather than 1e-15, which is the accuracy of the f32 HVPs it serves; w itself
/// stays f64 on the host, and only the small correction V·h is rounded.
///
/// ```
/// use curvscope_hessian::BasisStore;
/// use curvscope_model::{Cpu, DeviceBasis, Precision};
///
/// let mut basis = DeviceBasis::<Cpu>::new(3, &Default::default(), Precision::F64, 1 << 27);
/// basis.push(vec![1.0, 0.0, 0.0]);
/// basis.push(vec![0.0, 0.6, 0.8]);
/// let mut w = vec![2.0, 1.0, 1.0];
/// let h = basis.project_out(&mut w);
/// assert_eq!(h, vec![2.0, 1.4]);
/// assert!(w.iter().zip([0.0, 0.16, -0.12]).all(|(a, b)| (a - b).abs() < 1e-15));
/// assert_eq!(basis.combine(&[&[1.0, 2.0]]), vec![vec![1.0, 1.2, 1.6]]);
/// ```
pub struct DeviceBasis<B: Backend> {
    chunks: Vec<Tensor<B, 2>>,
    rows: usize,
    len: usize,
    dim: usize,
    last: Vec<f64>,
    device: B::Device,
    dtype: DType,
}

impl<B: Backend> DeviceBasis<B> {
    /// An empty basis of D = `dim` vectors on `device`, stored in `precision`, in tensors of at
    /// most `buffer_bytes` (and at least one vector each).
    pub fn new(dim: usize, device: &B::Device, precision: Precision, buffer_bytes: usize) -> Self {
        Self::with_dtype(dim, device, precision.dtype(), buffer_bytes)
    }

    /// [`DeviceBasis::new`] in the burn float type `dtype`.
    pub(crate) fn with_dtype(
        dim: usize,
        device: &B::Device,
        dtype: DType,
        buffer_bytes: usize,
    ) -> Self {
        let row_bytes = dim.next_multiple_of(RUN) * dtype.size();
        Self {
            chunks: Vec::new(),
            rows: (buffer_bytes / row_bytes.max(1)).clamp(1, MOST_ROWS),
            len: 0,
            dim,
            last: Vec::new(),
            device: device.clone(),
            dtype,
        }
    }

    /// D′: D padded to a multiple of [`RUN`].
    fn padded(&self) -> usize {
        self.dim.next_multiple_of(RUN)
    }

    /// `values` as a `[1, width]` row on the device, zero-padded to `width`.
    fn upload_row(&self, values: &[f64], width: usize) -> Tensor<B, 2> {
        let mut row = values.to_vec();
        row.resize(width, 0.0);
        float_to_device(row, [1, width], &self.device, self.dtype)
    }

    /// Σ over chunks of c_chunk · V_chunk: `c` is `[k, chunks·rows]` on the device, the result
    /// `[k, D′]`.
    fn combination(&self, c: Tensor<B, 2>) -> Tensor<B, 2> {
        let k = c.dims()[0];
        (self.chunks.iter().enumerate())
            .map(|(i, chunk)| {
                let columns = i * self.rows..(i + 1) * self.rows;
                c.clone().slice([0..k, columns]).matmul(chunk.clone())
            })
            .reduce(|sum, part| sum + part)
            .expect("a nonempty basis")
    }
}

impl<B: Backend> BasisStore for DeviceBasis<B> {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, v: Vec<f64>) {
        assert_eq!(v.len(), self.dim, "a basis vector has the wrong length");
        let (padded, row) = (self.padded(), self.len % self.rows);
        if row == 0 {
            let zeros = Tensor::zeros([self.rows, padded], (&self.device, self.dtype));
            self.chunks.push(zeros);
        }
        let uploaded = self.upload_row(&v, padded);
        let chunk = self.chunks.pop().expect("a chunk with room");
        self.chunks
            .push(chunk.slice_assign([row..row + 1, 0..padded], uploaded));
        self.len += 1;
        self.last = v;
    }

    fn last(&self) -> Option<&[f64]> {
        (self.len > 0).then_some(self.last.as_slice())
    }

    /// h from each chunk's rows times w, summed in runs of 4,096 entries and then over the runs
    /// (zero rows give zero coefficients); V·h from the same device copy of h.
    fn project_out(&self, w: &mut [f64]) -> Vec<f64> {
        if self.len == 0 {
            return Vec::new();
        }
        let padded = self.padded();
        let w_device = self.upload_row(w, padded);
        let h = Tensor::cat(
            (self.chunks.iter())
                .map(|chunk| {
                    (chunk.clone() * w_device.clone())
                        .reshape([self.rows, padded / RUN, RUN])
                        .sum_dim(2)
                        .sum_dim(1)
                        .reshape([1, self.rows])
                })
                .collect(),
            1,
        );
        let vh = self.combination(h.clone());
        let all = Tensor::cat(vec![h, vh], 1);
        let values = float_to_host(all);
        let (h, vh) = values.split_at(self.chunks.len() * self.rows);
        w.iter_mut().zip(vh).for_each(|(w, x)| *w -= x);
        h[..self.len].to_vec()
    }

    /// The new chunks are the coordinates as rows (zero past l) times the old chunks, summed
    /// (`DeviceBasis::combination`), formed before the old are dropped: the device holds
    /// both bases for a moment. V·s_l is read back once for [`BasisStore::last`].
    fn rotate(&mut self, coordinates: &[&[f64]]) {
        let l = coordinates.len();
        assert!(
            (1..=self.len).contains(&l) && coordinates.iter().all(|s| s.len() == self.len),
            "between 1 and m coordinate vectors of m entries each"
        );
        let (width, rows) = (self.chunks.len() * self.rows, l.next_multiple_of(self.rows));
        let last = self.combine(&coordinates[l - 1..]).remove(0);
        let mut c = vec![0.0; rows * width];
        for (row, s) in c.chunks_exact_mut(width).zip(coordinates) {
            row[..s.len()].copy_from_slice(s);
        }
        let c = float_to_device(c, [rows, width], &self.device, self.dtype);
        self.chunks = (0..rows)
            .step_by(self.rows)
            .map(|first| {
                let chunk = c.clone().slice([first..first + self.rows, 0..width]);
                self.combination(chunk)
            })
            .collect();
        self.len = l;
        self.last = last;
    }

    fn combine(&self, coordinates: &[&[f64]]) -> Vec<Vec<f64>> {
        let width = self.chunks.len() * self.rows;
        coordinates
            .iter()
            .map(|s| {
                assert_eq!(s.len(), self.len, "one coordinate per basis vector");
                let c = self.upload_row(s, width);
                let mut v = float_to_host(self.combination(c));
                v.truncate(self.dim);
                v
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::Cpu;

    /// `m` orthonormal vectors of length `d` (Gram–Schmidt on Gaussian ones, twice).
    fn orthonormal(m: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
        let mut basis: Vec<Vec<f64>> = Vec::new();
        while basis.len() < m {
            let mut v: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
            for _ in 0..2 {
                for u in &basis {
                    let c: f64 = u.iter().zip(&v).map(|(a, b)| a * b).sum();
                    v.iter_mut().zip(u).for_each(|(x, u)| *x -= c * u);
                }
            }
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            basis.push(v.into_iter().map(|x| x / n).collect());
        }
        basis
    }

    /// `vectors` in a basis on the CPU backend in f64, 3 vectors per chunk.
    fn in_chunks_of_3(vectors: &[Vec<f64>]) -> DeviceBasis<Cpu> {
        let row_bytes = vectors[0].len().next_multiple_of(RUN) * 8;
        let mut basis = DeviceBasis::<Cpu>::new(
            vectors[0].len(),
            &Default::default(),
            Precision::F64,
            3 * row_bytes,
        );
        for v in vectors {
            basis.push(v.clone());
        }
        basis
    }

    /// On the CPU backend in f64, with 3 vectors per chunk (7 vectors: chunks of 3, 3 and 1) and
    /// D = 5,000 (two runs, the second mostly padding): h, w − V·h and V·s are the host's
    /// formulas to rounding (its copies are counted in `tests/transfers.rs`).
    #[test]
    fn sweeps_match_the_host_formulas_across_chunks() {
        let (m, d) = (7, 5000);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let vectors = orthonormal(m, d, &mut rng);
        let basis = in_chunks_of_3(&vectors);
        assert_eq!((basis.len(), basis.chunks.len()), (m, 3));
        assert_eq!(basis.last(), Some(vectors[m - 1].as_slice()));

        let w0: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
        let mut w = w0.clone();
        let h = basis.project_out(&mut w);
        for (i, v) in vectors.iter().enumerate() {
            let want: f64 = v.iter().zip(&w0).map(|(a, b)| a * b).sum();
            assert!((h[i] - want).abs() < 1e-13, "h[{i}] = {} vs {want}", h[i]);
        }
        for (j, x) in w.iter().enumerate() {
            let want = w0[j] - (0..m).map(|i| h[i] * vectors[i][j]).sum::<f64>();
            assert!((x - want).abs() < 1e-13, "w[{j}] = {x} vs {want}");
        }

        let s: Vec<f64> = (0..m).map(|i| i as f64 - 2.5).collect();
        let combined = basis.combine(&[&s, &h]);
        assert_eq!(combined.len(), 2);
        for (j, x) in combined[0].iter().enumerate() {
            let want: f64 = (0..m).map(|i| s[i] * vectors[i][j]).sum();
            assert!((x - want).abs() < 1e-13, "V·s[{j}] = {x} vs {want}");
        }
        assert!(combined[1]
            .iter()
            .zip(&w)
            .zip(&w0)
            .all(|((vh, w), w0)| (w0 - w - vh).abs() < 1e-13));
    }

    /// A rotation by 5 orthonormal coordinate vectors of the 7 (chunks of 3, 3, 1 → 3, 2) is
    /// V·S to rounding, `last` is V·s₅, and the basis then grows and sweeps as before: the zero
    /// row after the kept five gives no coefficient.
    #[test]
    fn a_rotation_keeps_v_times_s_and_the_sweeps() {
        let (m, l, d) = (7, 5, 5000);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let vectors = orthonormal(m, d, &mut rng);
        let s = orthonormal(l, m, &mut rng);
        let mut basis = in_chunks_of_3(&vectors);
        let coordinates: Vec<&[f64]> = s.iter().map(Vec::as_slice).collect();
        basis.rotate(&coordinates);
        assert_eq!((basis.len(), basis.chunks.len()), (l, 2));
        let want: Vec<Vec<f64>> = (s.iter())
            .map(|s| {
                (0..d)
                    .map(|j| (0..m).map(|i| s[i] * vectors[i][j]).sum())
                    .collect()
            })
            .collect();
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-13);
        assert!(close(basis.last().unwrap(), &want[l - 1]));
        let identity: Vec<Vec<f64>> = (0..l)
            .map(|i| (0..l).map(|j| f64::from(u8::from(i == j))).collect())
            .collect();
        let rows: Vec<&[f64]> = identity.iter().map(Vec::as_slice).collect();
        for (got, want) in basis.combine(&rows).iter().zip(&want) {
            assert!(close(got, want));
        }
        let extra = orthonormal(m + 1, d, &mut rng).pop().unwrap();
        basis.push(extra.clone());
        let mut w = extra.clone();
        let h = basis.project_out(&mut w);
        assert_eq!(h.len(), l + 1);
        for (i, v) in want.iter().chain([&extra]).enumerate() {
            let dot: f64 = v.iter().zip(&extra).map(|(a, b)| a * b).sum();
            assert!((h[i] - dot).abs() < 1e-13, "h[{i}] = {} vs {dot}", h[i]);
        }
    }

    /// A basis whose vectors are each larger than the buffer cap still holds one per chunk.
    #[test]
    fn a_vector_over_the_cap_gets_a_chunk_of_its_own() {
        let basis = DeviceBasis::<Cpu>::new(10_000, &Default::default(), Precision::F32, 1);
        assert_eq!(basis.rows, 1);
        let small = DeviceBasis::<Cpu>::new(10, &Default::default(), Precision::F32, 1 << 27);
        assert_eq!(small.rows, MOST_ROWS);
    }
}
