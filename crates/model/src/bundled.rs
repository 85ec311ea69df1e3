//! The bundled datasets: the Fashion-MNIST subsets (including the paper's corrupted training
//! set) and scikit-learn's digits, compiled into the binary from the workspace's `data/` so a
//! copied or installed `curvscope` needs no source tree.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::dataset::{DataError, DataStream, Dataset, Targets};
use crate::idx;

/// The bundled files, by their path under `data/`, with their bytes as compiled in.
const EMBEDDED: [(&str, &[u8]); 5] = [
    (
        "fashion-mnist/train-6k-images-idx3-ubyte.gz",
        include_bytes!("../../../data/fashion-mnist/train-6k-images-idx3-ubyte.gz"),
    ),
    (
        "fashion-mnist/train-6k-labels-idx1-ubyte.gz",
        include_bytes!("../../../data/fashion-mnist/train-6k-labels-idx1-ubyte.gz"),
    ),
    (
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        include_bytes!("../../../data/fashion-mnist/t10k-images-idx3-ubyte.gz"),
    ),
    (
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        include_bytes!("../../../data/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
    ),
    (
        "digits/digits.csv.gz",
        include_bytes!("../../../data/digits/digits.csv.gz"),
    ),
];

/// The environment variable naming a folder to read the bundled datasets from instead of
/// the copies compiled into the binary ([`default_data_dir`]).
pub const DATA_DIR_VAR: &str = "CURVSCOPE_DATA_DIR";

/// Where the bundled datasets are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataDir {
    /// The copies of the workspace's `data/` files compiled into the binary.
    Embedded,
    /// A folder laid out like `data/`: `fashion-mnist/{train-6k,t10k}-{images-idx3,labels-idx1}-ubyte.gz`
    /// and `digits/digits.csv.gz`.
    Folder(PathBuf),
}

impl DataDir {
    /// The path that names the file `rel` (a path under `data/`) in messages, the file
    /// itself or `<built-in data>/rel`, and its contents.
    fn read(&self, rel: &str) -> (PathBuf, std::io::Result<Cow<'static, [u8]>>) {
        match self {
            DataDir::Embedded => {
                let bytes = EMBEDDED
                    .iter()
                    .find(|(name, _)| *name == rel)
                    .map(|(_, bytes)| Cow::Borrowed(*bytes))
                    .ok_or_else(|| std::io::ErrorKind::NotFound.into());
                (Path::new("<built-in data>").join(rel), bytes)
            }
            DataDir::Folder(dir) => {
                let path = dir.join(rel);
                let bytes = std::fs::read(&path).map(Cow::Owned);
                (path, bytes)
            }
        }
    }
}

/// Where the bundled datasets are read from: the folder named by `$CURVSCOPE_DATA_DIR`
/// ([`DATA_DIR_VAR`]) if it is set, else the copies compiled into the binary, so a copied or
/// `cargo install`ed binary works anywhere.
///
/// ```
/// use curvscope_model::{default_data_dir, DataDir};
/// if std::env::var_os(curvscope_model::DATA_DIR_VAR).is_none() {
///     assert_eq!(default_data_dir(), DataDir::Embedded);
/// }
/// ```
pub fn default_data_dir() -> DataDir {
    match std::env::var_os(DATA_DIR_VAR) {
        Some(dir) => DataDir::Folder(PathBuf::from(dir)),
        None => DataDir::Embedded,
    }
}

/// The first `n` images of a bundled Fashion-MNIST IDX pair, pixels / 255, shape `[1, 28, 28]`.
fn fashion(data_dir: &DataDir, split: &str, n: usize, name: String) -> Result<Dataset, DataError> {
    let read = |kind: &str| match data_dir.read(&format!("fashion-mnist/{split}-{kind}-ubyte.gz")) {
        (path, Ok(bytes)) => Ok((path, bytes)),
        (path, Err(source)) => Err(idx::IdxError::Io { path, source }),
    };
    let (images, raw_images) = read("images-idx3")?;
    let (labels, raw_labels) = read("labels-idx1")?;
    let (imgs, labels) = idx::parse_pair((&images, &raw_images), (&labels, &raw_labels), 28, 28)?;
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
pub fn fashion_train(data_dir: &DataDir, n: usize) -> Result<Dataset, DataError> {
    fashion(
        data_dir,
        "train-6k",
        n,
        format!("fashion-mnist-train[0..{n}]"),
    )
}

/// The first `n ≤ 10000` Fashion-MNIST test images, as [`fashion_train`].
pub fn fashion_test(data_dir: &DataDir, n: usize) -> Result<Dataset, DataError> {
    fashion(data_dir, "t10k", n, format!("fashion-mnist-test[0..{n}]"))
}

/// The paper's training set: the first `n_clean + n_random` Fashion-MNIST training images,
/// where the labels of the last `n_random` are replaced by labels drawn uniformly from
/// `0..10` on the data's own stream of `seed` ([`DataStream::Own`]), in sample order. The paper
/// uses 1000 + 200.
///
/// The random labels make a minimum that generalises badly, where the noise structure of SGD
/// matters. [`crate::DatasetInfo`] records the seed and the hash of the final labels.
///
/// ```
/// let dir = curvscope_model::default_data_dir();
/// let ds = curvscope_model::fashion_corrupted(&dir, 1000, 200, 7)?;
/// assert_eq!((ds.len(), ds.info().seed), (1200, Some(7)));
/// # Ok::<(), curvscope_model::DataError>(())
/// ```
pub fn fashion_corrupted(
    data_dir: &DataDir,
    n_clean: usize,
    n_random: usize,
    seed: u64,
) -> Result<Dataset, DataError> {
    fashion_corrupted_on(data_dir, n_clean, n_random, seed, DataStream::Own)
}

/// [`fashion_corrupted`] with its random labels drawn on `stream`.
pub fn fashion_corrupted_on(
    data_dir: &DataDir,
    n_clean: usize,
    n_random: usize,
    seed: u64,
    stream: DataStream,
) -> Result<Dataset, DataError> {
    let clean = fashion_train(data_dir, n_clean + n_random)?;
    let mut labels = clean.labels().expect("Fashion-MNIST has labels").to_vec();
    let mut rng = stream.rng(seed);
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
pub fn digits(data_dir: &DataDir) -> Result<Dataset, DataError> {
    use std::io::Read;
    let (path, raw) = data_dir.read("digits/digits.csv.gz");
    let parse_err = |message: String| DataError::Parse {
        path: path.clone(),
        message,
    };
    let raw = raw.map_err(|e| parse_err(format!("cannot read: {e}")))?;
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
