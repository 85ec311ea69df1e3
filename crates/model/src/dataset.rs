//! The [`Dataset`] type: N samples of a fixed shape in plain memory (`f32` inputs, and a
//! float64 source's own values beside them; integer or real targets) with a [`DatasetInfo`]
//! that records where it came from, so a checkpoint can name its data. The bundled sets are built in `bundled`, the synthetic ones in
//! `synthetic`, user `.npz` files in [`crate::npz`].

use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::files::hex;
use crate::idx::IdxError;
/// Why a dataset could not be built; file-related variants name the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A bundled IDX file is missing or malformed.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// More examples were requested than the file holds.
    #[error("{path}: {requested} examples requested, only {available} available")]
    NotEnough {
        /// The file at fault.
        path: PathBuf,
        /// Examples requested.
        requested: usize,
        /// Examples in the file.
        available: usize,
    },
    /// A text data file could not be read or parsed.
    #[error("{path}: {message}")]
    Parse {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong, with the line number where there is one.
        message: String,
    },
    /// The inputs or targets do not fit the sample shape.
    #[error("inconsistent dataset: {0}")]
    Inconsistent(String),
}

/// What each sample is labelled with.
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// A class index in `0..n_classes` per sample.
    Classes {
        /// One label per sample.
        labels: Vec<i64>,
        /// Number of classes; every label is below it.
        n_classes: usize,
    },
    /// A real target per sample.
    Regression(Vec<f64>),
    /// No targets: the loss depends on the inputs alone (the paper's 2-D toy data).
    None,
}

/// Where a dataset came from: enough to rebuild it and to check that it was rebuilt right.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// Name, including how it was derived (e.g. which examples).
    pub name: String,
    /// Number of samples.
    pub n: usize,
    /// Seed of the random choices made in building it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// [`labels_sha256`] of the class labels, if it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_sha256: Option<String>,
    /// [`inputs_sha256`] of the inputs when the dataset was built: a loader's values before any
    /// normalisation (images as the f32 values it made of their bytes), a subset's own. Absent
    /// in records written before curvscope kept it: see [`DatasetInfo::same_data`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_sha256: Option<String>,
}

impl DatasetInfo {
    /// Whether `self` and `other` describe the same samples: name, count, seed and labels
    /// equal, and the inputs' hashes too where both have one (an older record has none, and
    /// is then trusted on the rest, as it was when written).
    ///
    /// ```
    /// use curvscope_model::{Dataset, Targets};
    /// let a = Dataset::new("d", vec![0.0, 1.0], vec![1], Targets::None, None)?;
    /// let b = Dataset::new("d", vec![0.0, 2.0], vec![1], Targets::None, None)?;
    /// assert!(!a.info().same_data(b.info()));
    /// let older = curvscope_model::DatasetInfo { inputs_sha256: None, ..b.info().clone() };
    /// assert!(a.info().same_data(&older));
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    pub fn same_data(&self, other: &DatasetInfo) -> bool {
        let inputs_agree = match (&self.inputs_sha256, &other.inputs_sha256) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        (&self.name, self.n, self.seed, &self.labels_sha256)
            == (&other.name, other.n, other.seed, &other.labels_sha256)
            && inputs_agree
    }
}

/// Which ChaCha8 stream a dataset's random parts (generated points, corrupted labels) draw on
/// under their seed. A descent's step t draws on stream t of `--seed`, and `ArchSpec::init` on
/// stream 0 of the seed it is given (`--seed` itself until 2026-12-03); data on stream 0 too
/// would, at `--seed` = `--data-seed` (the default), make the random labels a binning of step
/// 0's noise (of θ₀'s first weights, then) and the half-space points those numbers.
///
/// ```
/// use curvscope_model::dataset::DataStream;
/// use rand::{RngCore, SeedableRng};
/// let init = rand_chacha::ChaCha8Rng::seed_from_u64(0).next_u64();
/// assert_ne!(DataStream::Own.rng(0).next_u64(), init);
/// assert_eq!(DataStream::Shared.rng(0).next_u64(), init);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataStream {
    /// [`DATA_STREAM`], shared with nothing else: how every dataset is built.
    #[default]
    Own,
    /// Stream 0, θ₀'s: how curvscope built them before 2026-12-03. Kept only to rebuild the
    /// data an earlier checkpoint or run records (its labels' or inputs' hash tells which).
    Shared,
}

impl DataStream {
    /// The generator of a dataset's random parts under `seed` on this stream.
    pub fn rng(self, seed: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        if self == DataStream::Own {
            rng.set_stream(DATA_STREAM);
        }
        rng
    }
}

/// The ChaCha8 stream of [`DataStream::Own`]: the last, which no descent step, probe index or
/// repetition (2³² + r) reaches.
pub const DATA_STREAM: u64 = u64::MAX;

/// SHA-256 (lowercase hex) of class labels as consecutive little-endian `i64`s, i.e.
/// `hashlib.sha256(numpy.asarray(y, dtype="<i8").tobytes()).hexdigest()` in Python.
///
/// ```
/// let h = curvscope_model::labels_sha256(&[]);
/// assert_eq!(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// ```
pub fn labels_sha256(labels: &[i64]) -> String {
    sha256_le(labels, i64::to_le_bytes)
}

/// SHA-256 (lowercase hex) of inputs as consecutive little-endian values of their own type:
/// `hashlib.sha256(x.astype("<f4").tobytes()).hexdigest()` for float32 inputs, `"<f8"` for a
/// float64 source's ([`Dataset::from_f64`]).
///
/// ```
/// use curvscope_model::{inputs_sha256, InputValues};
/// // `printf '\x00\x00\x80\x3f' | sha256sum`: the f32 1.0, little-endian.
/// assert_eq!(
///     inputs_sha256(InputValues::F32(&[1.0])),
///     "e00e5eb9444182f352323374ef4e08ebcb784725fdd4fd612d7730540b3e0c8c"
/// );
/// ```
pub fn inputs_sha256(values: InputValues) -> String {
    match values {
        InputValues::F32(x) => sha256_le(x, f32::to_le_bytes),
        InputValues::F64(x) => sha256_le(x, f64::to_le_bytes),
    }
}

/// The inputs [`inputs_sha256`] hashes, in the type their source held.
#[derive(Clone, Copy, Debug)]
pub enum InputValues<'a> {
    /// A float32 (or integer-pixel) source's values.
    F32(&'a [f32]),
    /// A float64 source's values.
    F64(&'a [f64]),
}

/// SHA-256 of `values` as consecutive little-endian byte strings, fed in blocks (one
/// `update` per value would be several times slower on a 60,000-image set).
fn sha256_le<T: Copy, const B: usize>(values: &[T], le_bytes: fn(T) -> [u8; B]) -> String {
    let mut hasher = Sha256::new();
    let mut block = Vec::with_capacity(B * 4096);
    for chunk in values.chunks(4096) {
        block.clear();
        chunk
            .iter()
            .for_each(|&v| block.extend_from_slice(&le_bytes(v)));
        hasher.update(&block);
    }
    hex(&hasher.finalize())
}

/// N samples of a fixed shape: inputs `x` (row-major, sample after sample) and targets.
///
/// ```
/// use curvscope_model::{Dataset, Targets};
/// let ds = Dataset::new("tiny", vec![0.0, 1.0, 2.0, 3.0], vec![2],
///     Targets::Classes { labels: vec![1, 0], n_classes: 2 }, None)?;
/// assert_eq!(ds.len(), 2);
/// assert_eq!(ds.sample(1), &[2.0, 3.0]);
/// assert_eq!(ds.slice(1..2).labels(), Some(&[0][..]));
/// # Ok::<(), curvscope_model::DataError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Dataset {
    pub(crate) x: Vec<f32>,
    /// The inputs as a float64 source held them ([`Dataset::from_f64`]): an f64 analysis then
    /// sees the file's values, not their f32 roundings (a relative change of up to 6e-8, which
    /// a float64 reference would see), normalised in f64 as a float64 pipeline would.
    pub(crate) exact: Option<Vec<f64>>,
    pub(crate) sample_shape: Vec<usize>,
    targets: Targets,
    name: String,
    seed: Option<u64>,
    /// [`Dataset::info`], made on first use: its hashes read every input, which the minibatch
    /// SGD builds at every step would pay for nothing.
    info: OnceLock<DatasetInfo>,
}

/// The samples, not whether [`Dataset::info`] was made yet.
impl PartialEq for Dataset {
    fn eq(&self, other: &Dataset) -> bool {
        (
            &self.x,
            &self.exact,
            &self.sample_shape,
            &self.targets,
            &self.name,
            self.seed,
        ) == (
            &other.x,
            &other.exact,
            &other.sample_shape,
            &other.targets,
            &other.name,
            other.seed,
        )
    }
}

impl Dataset {
    /// Builds a dataset, checking that `x` holds a whole number of samples of `sample_shape`,
    /// that there is one target per sample and that labels lie in `0..n_classes`.
    pub fn new(
        name: impl Into<String>,
        x: Vec<f32>,
        sample_shape: Vec<usize>,
        targets: Targets,
        seed: Option<u64>,
    ) -> Result<Self, DataError> {
        let bad = |m: String| Err(DataError::Inconsistent(m));
        // Checked: a hostile shape must not wrap around to a plausible sample length.
        let sample_len = sample_shape
            .iter()
            .try_fold(1usize, |len, &d| len.checked_mul(d))
            .unwrap_or(0);
        if sample_len == 0 || !x.len().is_multiple_of(sample_len) {
            return bad(format!(
                "{} input values do not split into samples of shape {sample_shape:?}",
                x.len()
            ));
        }
        let n = x.len() / sample_len;
        let n_targets = match &targets {
            Targets::Classes { labels, n_classes } => {
                if let Some(i) = labels
                    .iter()
                    .position(|&l| l < 0 || l as u64 >= *n_classes as u64)
                {
                    return bad(format!(
                        "label {} of sample {i} is not in 0..{n_classes}",
                        labels[i]
                    ));
                }
                labels.len()
            }
            Targets::Regression(values) => values.len(),
            Targets::None => n,
        };
        if n_targets != n {
            return bad(format!("{n} samples but {n_targets} targets"));
        }
        Ok(Dataset {
            x,
            exact: None,
            sample_shape,
            targets,
            name: name.into(),
            seed,
            info: OnceLock::new(),
        })
    }

    /// [`Dataset::new`] from float64 inputs: [`Dataset::x`] holds them rounded to f32 (what an
    /// f32 analysis uses) and [`Dataset::x_f64`] the values themselves (what an f64 analysis
    /// uses, normalised in f64 too).
    ///
    /// ```
    /// use curvscope_model::{Dataset, Targets};
    /// let ds = Dataset::from_f64("d", vec![0.1, 0.5], vec![1], Targets::None, None)?;
    /// assert_eq!((ds.x(), ds.x_f64()), (&[0.1f32, 0.5][..], vec![0.1, 0.5]));
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    pub fn from_f64(
        name: impl Into<String>,
        x: Vec<f64>,
        sample_shape: Vec<usize>,
        targets: Targets,
        seed: Option<u64>,
    ) -> Result<Self, DataError> {
        let rounded: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let data = Dataset::new(name, rounded, sample_shape, targets, seed)?;
        Ok(data.with_exact(Some(x)))
    }

    /// `self` holding a float64 source's values, which its inputs' hash is then of.
    fn with_exact(self, exact: Option<Vec<f64>>) -> Dataset {
        Dataset {
            exact,
            info: OnceLock::new(),
            ..self
        }
    }

    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.x.len() / self.sample_len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shape of one sample, e.g. `[1, 28, 28]` for an image or `[2]` for a point.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// Number of values in one sample (product of [`Dataset::sample_shape`]).
    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// All inputs in f32, row-major `[N, sample_shape…]` (float64 sources rounded).
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// All inputs in f64: a float64 source's values ([`Dataset::from_f64`]), else [`Dataset::x`]
    /// widened (exactly). For f64 analyses and host-side closed-form objectives.
    pub fn x_f64(&self) -> Vec<f64> {
        match &self.exact {
            Some(exact) => exact.clone(),
            None => self.x.iter().map(|&v| v as f64).collect(),
        }
    }

    /// Inputs of sample `i`.
    ///
    /// # Panics
    /// If `i >= len()`, like slice indexing.
    pub fn sample(&self, i: usize) -> &[f32] {
        let s = self.sample_len();
        &self.x[i * s..(i + 1) * s]
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Class labels, if the targets are classes.
    pub fn labels(&self) -> Option<&[i64]> {
        match &self.targets {
            Targets::Classes { labels, .. } => Some(labels),
            _ => None,
        }
    }

    /// Number of classes, if the targets are classes.
    pub fn n_classes(&self) -> Option<usize> {
        match &self.targets {
            Targets::Classes { n_classes, .. } => Some(*n_classes),
            _ => None,
        }
    }

    /// Targets as reals for a squared loss: class labels as numbers, or regression values.
    pub fn targets_f64(&self) -> Option<Vec<f64>> {
        match &self.targets {
            Targets::Classes { labels, .. } => Some(labels.iter().map(|&l| l as f64).collect()),
            Targets::Regression(v) => Some(v.clone()),
            Targets::None => None,
        }
    }

    /// Where the data came from, made on the first call (and before normalisation, which
    /// keeps it).
    pub fn info(&self) -> &DatasetInfo {
        self.info.get_or_init(|| DatasetInfo {
            name: self.name.clone(),
            n: self.len(),
            seed: self.seed,
            labels_sha256: self.labels().map(labels_sha256),
            inputs_sha256: Some(match &self.exact {
                Some(x) => inputs_sha256(InputValues::F64(x)),
                None => inputs_sha256(InputValues::F32(&self.x)),
            }),
        })
    }

    /// The samples at `indices`, in that order (repeats allowed). Keeps name and seed; the
    /// labels' and inputs' hashes are those of the subset.
    ///
    /// # Panics
    /// If an index is `>= len()`, like slice indexing.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let x = indices
            .iter()
            .flat_map(|&i| self.sample(i))
            .copied()
            .collect();
        let targets = match &self.targets {
            Targets::Classes { labels, n_classes } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
            },
            Targets::Regression(v) => Targets::Regression(indices.iter().map(|&i| v[i]).collect()),
            Targets::None => Targets::None,
        };
        let exact = self.exact.as_ref().map(|exact| {
            let s = self.sample_len();
            indices
                .iter()
                .flat_map(|&i| &exact[i * s..(i + 1) * s])
                .copied()
                .collect()
        });
        self.with_parts(x, targets).with_exact(exact)
    }

    /// The samples in `range`.
    ///
    /// # Panics
    /// If the range is out of bounds, like slice indexing.
    pub fn slice(&self, range: Range<usize>) -> Dataset {
        self.subset(&range.collect::<Vec<_>>())
    }

    /// The same data with another sample shape of the same size, e.g. `[784]` instead of
    /// `[1, 28, 28]` for a fully connected network. Takes the data, so that a reshape costs no
    /// copy of it.
    pub fn reshape(mut self, sample_shape: Vec<usize>) -> Result<Dataset, DataError> {
        if crate::arch::product(&sample_shape) != self.sample_len() {
            return Err(DataError::Inconsistent(format!(
                "cannot reshape samples of shape {:?} to {sample_shape:?}",
                self.sample_shape
            )));
        }
        self.sample_shape = sample_shape;
        Ok(self)
    }

    /// Whether samples fit a model's `input` (`[C, H, W]` or `[F]`): as many values, laid out
    /// as the model reads them — stored flat, or with extra axes of size 1, is fine; another
    /// order of axes (channels-last images), which the model would read scrambled, is not.
    /// The error says which.
    ///
    /// ```
    /// use curvscope_model::{Dataset, Targets};
    /// let flat = Dataset::new("d", vec![0.0; 2 * 12], vec![12], Targets::None, None)?;
    /// flat.fits_input(&[3, 2, 2])?;
    /// let err = flat.clone().reshape(vec![2, 2, 3])?.fits_input(&[3, 2, 2]).unwrap_err().to_string();
    /// assert!(err.contains("samples are [2, 2, 3], the model takes [3, 2, 2]"), "{err}");
    /// assert!(flat.fits_input(&[10]).unwrap_err().to_string().contains("12 values"));
    /// # Ok::<(), curvscope_model::DataError>(())
    /// ```
    pub fn fits_input(&self, input: &[usize]) -> Result<(), DataError> {
        let (features, wanted) = (self.sample_len(), crate::arch::product(input));
        let misfit = |what: String| Err(DataError::Inconsistent(what));
        if features != wanted {
            return misfit(format!(
                "samples have {features} values, the model takes {wanted}"
            ));
        }
        if !same_layout(&self.sample_shape, input) {
            return misfit(format!(
                "samples are {:?}, the model takes {input:?} (reorder the axes, e.g. images \
                 from [H, W, C] to [C, H, W], or flatten them)",
                self.sample_shape
            ));
        }
        Ok(())
    }

    fn with_parts(&self, x: Vec<f32>, targets: Targets) -> Dataset {
        Dataset::new(
            self.name.clone(),
            x,
            self.sample_shape.clone(),
            targets,
            self.seed,
        )
        .expect("a subset of a consistent dataset is consistent")
    }
}

/// Whether samples of shape `data` are laid out as the model's `input` (both row-major, of
/// equal length): equal once axes of size 1 are dropped, or either one flat. Anything else,
/// channels-last images for a `[C, H, W]` model say, would be read with its values scrambled.
fn same_layout(data: &[usize], input: &[usize]) -> bool {
    let squeezed = |shape: &[usize]| {
        shape
            .iter()
            .copied()
            .filter(|&s| s != 1)
            .collect::<Vec<_>>()
    };
    let (data, input) = (squeezed(data), squeezed(input));
    data.len() <= 1 || input.len() <= 1 || data == input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(labels: Vec<i64>, n_classes: usize) -> Targets {
        Targets::Classes { labels, n_classes }
    }

    /// A shape whose product wraps around to the samples' 12 values (2⁶⁴ + 12) is no fit.
    #[test]
    fn a_shape_whose_product_overflows_fits_nothing() {
        let data = Dataset::new("a", vec![0.0; 24], vec![12], Targets::None, None).unwrap();
        let wraps = [(1usize << 63) + 6, 2];
        assert_eq!(wraps[0].wrapping_mul(wraps[1]), 12);
        assert!(data.fits_input(&wraps).is_err());
        assert!(data.reshape(wraps.to_vec()).is_err());
    }

    #[test]
    fn new_rejects_inconsistent_parts() {
        let x = vec![0.0; 6];
        assert!(Dataset::new("a", x.clone(), vec![4], Targets::None, None).is_err());
        assert!(Dataset::new("a", x.clone(), vec![0], Targets::None, None).is_err());
        // (2⁶³ + 1) · 2 wraps around to 2 in unchecked release arithmetic: 3 "samples".
        let wraps = vec![(1 << 63) + 1, 2];
        assert!(Dataset::new("a", x.clone(), wraps, Targets::None, None).is_err());
        assert!(Dataset::new("a", x.clone(), vec![3], classes(vec![0], 2), None).is_err());
        assert!(Dataset::new("a", x.clone(), vec![3], classes(vec![0, 2], 2), None).is_err());
        assert!(Dataset::new("a", x.clone(), vec![3], classes(vec![-1, 0], 2), None).is_err());
        assert!(Dataset::new(
            "a",
            x.clone(),
            vec![3],
            Targets::Regression(vec![1.0; 3]),
            None
        )
        .is_err());
        let ds = Dataset::new("a", x, vec![3], classes(vec![1, 0], 2), Some(4)).unwrap();
        assert_eq!(
            (ds.len(), ds.sample_len(), ds.n_classes(), ds.info().seed),
            (2, 3, Some(2), Some(4))
        );
    }

    #[test]
    fn subset_slice_and_reshape_keep_samples_with_their_targets() {
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let ds = Dataset::new("a", x, vec![2], classes(vec![3, 1, 0, 2], 4), Some(1)).unwrap();
        let sub = ds.subset(&[2, 0, 2]);
        assert_eq!(sub.x(), &[4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
        assert_eq!(sub.labels(), Some(&[0, 3, 0][..]));
        assert_eq!(sub.info().labels_sha256, Some(labels_sha256(&[0, 3, 0])));
        assert_eq!(
            (sub.len(), sub.info().seed, sub.n_classes()),
            (3, Some(1), Some(4))
        );
        let sl = ds.slice(1..3);
        assert_eq!(
            (sl.x(), sl.labels()),
            (&[2.0, 3.0, 4.0, 5.0][..], Some(&[1, 0][..]))
        );
        assert_eq!(ds.targets_f64(), Some(vec![3.0, 1.0, 0.0, 2.0]));
        let flat = ds.clone().reshape(vec![1, 2]).unwrap();
        assert_eq!((flat.sample_shape(), flat.x()), (&[1, 2][..], ds.x()));
        assert!(ds.clone().reshape(vec![3]).is_err());
        let reg = Dataset::new(
            "r",
            vec![1.0, 2.0],
            vec![1],
            Targets::Regression(vec![0.5, -0.5]),
            None,
        )
        .unwrap();
        assert_eq!(reg.subset(&[1]).targets(), &Targets::Regression(vec![-0.5]));
        assert_eq!(reg.x_f64(), [1.0, 2.0]);
    }

    /// Float64 inputs are kept, through subsets, slices and reshapes, and normalised in f64
    /// even where f32 holds them exactly (integer pixel values).
    #[test]
    fn float64_inputs_are_kept_and_normalised_in_f64() {
        let x = vec![0.1, 0.2, 1.0 / 3.0, 0.25];
        let ds = Dataset::from_f64("a", x.clone(), vec![2], classes(vec![1, 0], 2), None).unwrap();
        assert_eq!(ds.x(), &[0.1f32, 0.2, 1.0 / 3.0, 0.25]);
        assert_eq!(ds.x_f64(), x);
        assert_eq!(
            ds.subset(&[1, 1]).x_f64(),
            [1.0 / 3.0, 0.25, 1.0 / 3.0, 0.25]
        );
        assert_eq!(ds.slice(0..1).x_f64(), [0.1, 0.2]);
        assert_eq!(ds.clone().reshape(vec![1, 2]).unwrap().x_f64(), x);
        let pixels =
            Dataset::from_f64("b", vec![3.0, 200.0], vec![1], Targets::None, None).unwrap();
        let norm = crate::Normalize {
            mean: vec![0.3],
            std: vec![0.7],
        };
        let normalized = pixels.normalized(&norm).unwrap().x_f64();
        assert_eq!(normalized, [(3.0 - 0.3) / 0.7, (200.0 - 0.3) / 0.7]);
    }

    #[test]
    fn labels_hash_is_sha256_of_le_i64() {
        // SHA-256 of the 8 bytes 01 00 00 00 00 00 00 00 (`sha256sum` of printf '\x01\0\0\0\0\0\0\0').
        assert_eq!(
            labels_sha256(&[1]),
            "7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8"
        );
    }
}
