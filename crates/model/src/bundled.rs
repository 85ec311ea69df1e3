//! The bundled datasets: the Fashion-MNIST subsets (including the paper's corrupted training
//! set) and scikit-learn's digits.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::dataset::{DataError, Dataset, Targets};
use crate::idx;

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
