//! Host-side datasets: the bundled Fashion-MNIST subsets (including the paper's corrupted
//! training set), scikit-learn's digits and the synthetic 2-D sets.
//!
//! A [`Dataset`] is plain memory (`f32` inputs, integer or real targets) with a
//! [`DatasetInfo`] that records where it came from, so a checkpoint can name its data.

use std::ops::Range;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::idx::{self, IdxError};

/// Why a dataset could not be built; file-related variants name the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A bundled IDX file is missing or malformed.
    #[error(transparent)]
    Idx(#[from] IdxError),
    /// More examples were requested than the file holds.
    #[error("{path}: {requested} examples requested, only {available} available")]
    NotEnough {
        /// The file.
        path: PathBuf,
        /// Examples requested.
        requested: usize,
        /// Examples in the file.
        available: usize,
    },
    /// A text data file could not be read or parsed.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// SHA-256 (lowercase hex) of class labels as consecutive little-endian `i64`s, i.e.
/// `hashlib.sha256(numpy.asarray(y, dtype="<i8").tobytes()).hexdigest()` in Python.
///
/// ```
/// let h = curvscope_model::labels_sha256(&[]);
/// assert_eq!(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
/// ```
pub fn labels_sha256(labels: &[i64]) -> String {
    let mut hasher = Sha256::new();
    for l in labels {
        hasher.update(l.to_le_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    x: Vec<f32>,
    sample_shape: Vec<usize>,
    targets: Targets,
    info: DatasetInfo,
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
        let sample_len: usize = sample_shape.iter().product();
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
        let labels_sha256 = match &targets {
            Targets::Classes { labels, .. } => Some(labels_sha256(labels)),
            _ => None,
        };
        let info = DatasetInfo {
            name: name.into(),
            n,
            seed,
            labels_sha256,
        };
        Ok(Dataset {
            x,
            sample_shape,
            targets,
            info,
        })
    }

    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.info.n
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

    /// All inputs, row-major `[N, sample_shape…]`.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// All inputs widened to `f64` (exact), for host-side closed-form objectives.
    pub fn x_f64(&self) -> Vec<f64> {
        self.x.iter().map(|&v| v as f64).collect()
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

    /// Where the data came from.
    pub fn info(&self) -> &DatasetInfo {
        &self.info
    }

    /// The samples at `indices`, in that order (repeats allowed). Keeps name and seed; the
    /// labels hash is recomputed for the new labels.
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
        self.with_parts(x, targets)
    }

    /// The samples in `range`.
    ///
    /// # Panics
    /// If the range is out of bounds, like slice indexing.
    pub fn slice(&self, range: Range<usize>) -> Dataset {
        self.subset(&range.collect::<Vec<_>>())
    }

    /// The same data with another sample shape of the same size, e.g. `[784]` instead of
    /// `[1, 28, 28]` for a fully connected network.
    pub fn reshape(&self, sample_shape: Vec<usize>) -> Result<Dataset, DataError> {
        let len: usize = sample_shape.iter().product();
        if len != self.sample_len() {
            return Err(DataError::Inconsistent(format!(
                "cannot reshape samples of shape {:?} to {sample_shape:?}",
                self.sample_shape
            )));
        }
        Ok(Dataset {
            sample_shape,
            ..self.clone()
        })
    }

    fn with_parts(&self, x: Vec<f32>, targets: Targets) -> Dataset {
        Dataset::new(
            self.info.name.clone(),
            x,
            self.sample_shape.clone(),
            targets,
            self.info.seed,
        )
        .expect("a subset of a consistent dataset is consistent")
    }
}

/// The folder of bundled data: `$CURVSCOPE_DATA` if set, else the workspace's `data/`.
///
/// ```
/// let dir = curvscope_model::default_data_dir();
/// assert!(dir.join("fashion-mnist").join("README.md").exists());
/// ```
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("CURVSCOPE_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data")),
    }
}

/// The first `n` images of a bundled Fashion-MNIST IDX pair, pixels / 255, shape `[1, 28, 28]`.
fn fashion(data_dir: &Path, split: &str, n: usize, name: String) -> Result<Dataset, DataError> {
    let dir = data_dir.join("fashion-mnist");
    let images = dir.join(format!("{split}-images-idx3-ubyte.gz"));
    let (imgs, labels) = idx::read_pair(
        &images,
        &dir.join(format!("{split}-labels-idx1-ubyte.gz")),
        28,
        28,
    )?;
    if n > imgs.n {
        return Err(DataError::NotEnough {
            path: images,
            requested: n,
            available: imgs.n,
        });
    }
    // Divide in f32 as torchvision's ToTensor does, so inputs match PyTorch bit for bit.
    let x = imgs.pixels[..n * 784]
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    let labels = labels[..n].iter().map(|&l| l as i64).collect();
    Dataset::new(
        name,
        x,
        vec![1, 28, 28],
        Targets::Classes {
            labels,
            n_classes: 10,
        },
        None,
    )
}

/// The first `n ≤ 6000` Fashion-MNIST training images (the bundled subset), pixels scaled to
/// `[0, 1]`, sample shape `[1, 28, 28]`, 10 classes.
///
/// ```
/// let ds = curvscope_model::fashion_train(&curvscope_model::default_data_dir(), 100)?;
/// assert_eq!((ds.len(), ds.sample_shape()), (100, &[1, 28, 28][..]));
/// # Ok::<(), curvscope_model::DataError>(())
/// ```
pub fn fashion_train(data_dir: &Path, n: usize) -> Result<Dataset, DataError> {
    fashion(
        data_dir,
        "train-6k",
        n,
        format!("fashion-mnist-train[0..{n}]"),
    )
}

/// The first `n ≤ 10000` Fashion-MNIST test images, as [`fashion_train`].
pub fn fashion_test(data_dir: &Path, n: usize) -> Result<Dataset, DataError> {
    fashion(data_dir, "t10k", n, format!("fashion-mnist-test[0..{n}]"))
}

/// The paper's training set: the first `n_clean + n_random` Fashion-MNIST training images,
/// where the labels of the last `n_random` are replaced by labels drawn uniformly from
/// `0..10` with `ChaCha8Rng::seed_from_u64(seed)`, in sample order. The paper uses 1000 + 200.
///
/// The random labels make a minimum that generalises badly, where the noise structure of SGD
/// matters. [`DatasetInfo`] records the seed and the hash of the final labels.
///
/// ```
/// let dir = curvscope_model::default_data_dir();
/// let ds = curvscope_model::fashion_corrupted(&dir, 1000, 200, 7)?;
/// assert_eq!((ds.len(), ds.info().seed), (1200, Some(7)));
/// # Ok::<(), curvscope_model::DataError>(())
/// ```
pub fn fashion_corrupted(
    data_dir: &Path,
    n_clean: usize,
    n_random: usize,
    seed: u64,
) -> Result<Dataset, DataError> {
    let clean = fashion_train(data_dir, n_clean + n_random)?;
    let mut labels = clean.labels().expect("Fashion-MNIST has labels").to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for l in &mut labels[n_clean..] {
        *l = rng.random_range(0..10);
    }
    let name = format!(
        "fashion-mnist-train[0..{}], labels {n_clean}.. random",
        n_clean + n_random
    );
    Dataset::new(
        name,
        clean.x,
        clean.sample_shape,
        Targets::Classes {
            labels,
            n_classes: 10,
        },
        Some(seed),
    )
}

/// scikit-learn's 1,797 handwritten digits (bundled in `data/digits/`), pixels / 16 in
/// `[0, 1]`, sample shape `[1, 8, 8]`, 10 classes: a small real dataset for fast tests.
///
/// ```
/// let ds = curvscope_model::digits(&curvscope_model::default_data_dir())?;
/// assert_eq!((ds.len(), ds.sample_shape()), (1797, &[1, 8, 8][..]));
/// # Ok::<(), curvscope_model::DataError>(())
/// ```
pub fn digits(data_dir: &Path) -> Result<Dataset, DataError> {
    use std::io::Read;
    let path = data_dir.join("digits").join("digits.csv.gz");
    let parse_err = |message: String| DataError::Parse {
        path: path.clone(),
        message,
    };
    let raw = std::fs::read(&path).map_err(|e| parse_err(format!("cannot read: {e}")))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_string(&mut text)
        .map_err(|e| parse_err(format!("cannot decompress: {e}")))?;
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let values: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| parse_err(format!("line {}: {e}", i + 1)))?;
        match values.split_last() {
            Some((&label, pixels))
                if pixels.len() == 64 && label < 10 && pixels.iter().all(|&p| p <= 16) =>
            {
                x.extend(pixels.iter().map(|&p| p as f32 / 16.0));
                labels.push(label as i64);
            }
            _ => {
                return Err(parse_err(format!(
                    "line {}: expected 64 pixels in 0..=16 and a label in 0..10",
                    i + 1
                )))
            }
        }
    }
    Dataset::new(
        "digits",
        x,
        vec![1, 8, 8],
        Targets::Classes {
            labels,
            n_classes: 10,
        },
        None,
    )
}

/// `n` points uniform in `[−2, 2]²` labelled `1[x₁ ≥ x₂]` (2 classes; [`Dataset::targets_f64`]
/// gives 0/1 targets for a squared loss). The label is computed from the stored `f32` values,
/// so it is exact for the data as seen by a model. Used with the fixed-output network.
///
/// ```
/// let ds = curvscope_model::two_d_halfspace(1000, 0);
/// let p = ds.sample(0);
/// assert_eq!(ds.labels().unwrap()[0], (p[0] >= p[1]) as i64);
/// ```
pub fn two_d_halfspace(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..2 * n)
        .map(|_| rng.random_range(-2.0f32..=2.0))
        .collect();
    let labels = x.chunks(2).map(|p| (p[0] >= p[1]) as i64).collect();
    Dataset::new(
        "two-d-halfspace",
        x,
        vec![2],
        Targets::Classes {
            labels,
            n_classes: 2,
        },
        Some(seed),
    )
    .expect("labels are 0 or 1")
}

/// The rotation by π/4 used by [`toy2d`], as rows: `K = [[c, −s], [s, c]]` with c = s = 1/√2.
pub const TOY2D_ROTATION: [[f64; 2]; 2] = [
    [
        std::f64::consts::FRAC_1_SQRT_2,
        -std::f64::consts::FRAC_1_SQRT_2,
    ],
    [
        std::f64::consts::FRAC_1_SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
    ],
];

/// The paper's 2-D toy data (it uses `n = 100`): x = 10⁻² · (z ⊙ (√10, 1)) · K with
/// z ~ N(0, I₂) and K = [`TOY2D_ROTATION`]. Row-vector convention: the row (a, b) times K is
/// (a·c + b·s, −a·s + b·c). So Cov(x) = 10⁻⁴ Kᵀ diag(10, 1) K, an ellipse with its long axis
/// along (1, −1)/√2 and variance ratio 10. No targets.
///
/// ```
/// let ds = curvscope_model::toy2d(100, 1);
/// assert_eq!((ds.len(), ds.sample_shape()), (100, &[2][..]));
/// ```
pub fn toy2d(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = TOY2D_ROTATION;
    let scale = [1e-2 * 10f64.sqrt(), 1e-2];
    let mut x = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let a = scale[0] * rng.sample::<f64, _>(rand_distr::StandardNormal);
        let b = scale[1] * rng.sample::<f64, _>(rand_distr::StandardNormal);
        x.push((a * k[0][0] + b * k[1][0]) as f32);
        x.push((a * k[0][1] + b * k[1][1]) as f32);
    }
    Dataset::new("toy2d", x, vec![2], Targets::None, Some(seed)).expect("whole samples")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(labels: Vec<i64>, n_classes: usize) -> Targets {
        Targets::Classes { labels, n_classes }
    }

    #[test]
    fn new_rejects_inconsistent_parts() {
        let x = vec![0.0; 6];
        assert!(Dataset::new("a", x.clone(), vec![4], Targets::None, None).is_err());
        assert!(Dataset::new("a", x.clone(), vec![0], Targets::None, None).is_err());
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
        let flat = ds.reshape(vec![1, 2]).unwrap();
        assert_eq!((flat.sample_shape(), flat.x()), (&[1, 2][..], ds.x()));
        assert!(ds.reshape(vec![3]).is_err());
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

    #[test]
    fn labels_hash_is_sha256_of_le_i64() {
        // SHA-256 of the 8 bytes 01 00 00 00 00 00 00 00 (`sha256sum` of printf '\x01\0\0\0\0\0\0\0').
        assert_eq!(
            labels_sha256(&[1]),
            "7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8"
        );
    }

    #[test]
    fn halfspace_labels_follow_stored_points_and_split_evenly() {
        let n = 10_000;
        let ds = two_d_halfspace(n, 3);
        assert_eq!(
            (ds.len(), ds.sample_shape(), ds.n_classes()),
            (n, &[2][..], Some(2))
        );
        assert!(ds.x().iter().all(|v| (-2.0..=2.0).contains(v)));
        for i in 0..n {
            let p = ds.sample(i);
            assert_eq!(ds.labels().unwrap()[i], (p[0] >= p[1]) as i64);
        }
        // P(x₁ ≥ x₂) = 1/2 for a uniform square; stderr of the fraction is 0.5/√n.
        let frac = ds.labels().unwrap().iter().sum::<i64>() as f64 / n as f64;
        assert!((frac - 0.5).abs() < 4.0 * 0.5 / (n as f64).sqrt(), "{frac}");
        // Each coordinate has mean 0 and variance 4/3: stderr of the mean is √(4/3)/√n.
        for c in 0..2 {
            let mean = ds
                .x()
                .iter()
                .skip(c)
                .step_by(2)
                .map(|&v| v as f64)
                .sum::<f64>()
                / n as f64;
            assert!(
                mean.abs() < 4.0 * (4.0f64 / 3.0).sqrt() / (n as f64).sqrt(),
                "{mean}"
            );
        }
        assert_eq!(two_d_halfspace(n, 3), ds);
        assert_ne!(two_d_halfspace(n, 4).x(), ds.x());
    }

    #[test]
    fn toy2d_covariance_is_the_rotated_ellipse() {
        let n = 20_000;
        let ds = toy2d(n, 5);
        assert_eq!((ds.len(), ds.targets()), (n, &Targets::None));
        // Cov = 1e-4 · Kᵀ diag(10, 1) K with K = [[c, −s], [s, c]], c = s = 1/√2:
        // [[5.5, −4.5], [−4.5, 5.5]] · 1e-4 (long axis along (1, −1)).
        let expected = [[5.5e-4, -4.5e-4], [-4.5e-4, 5.5e-4]];
        let x = ds.x_f64();
        for (a, row) in expected.iter().enumerate() {
            for (b, &want) in row.iter().enumerate() {
                // Mean is zero by construction, so E[x_a x_b] is the covariance; its stderr is
                // the sample standard deviation of the products over √n.
                let prods: Vec<f64> = x.chunks(2).map(|p| p[a] * p[b]).collect();
                let mean = prods.iter().sum::<f64>() / n as f64;
                let var = prods.iter().map(|q| (q - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                let stderr = (var / n as f64).sqrt();
                assert!(
                    (mean - want).abs() < 4.0 * stderr,
                    "cov[{a}][{b}] = {mean}, want {want} ± {stderr}"
                );
            }
        }
        assert_eq!(toy2d(100, 5), toy2d(100, 5));
        assert_eq!(toy2d(100, 5).len(), 100);
    }
}
