//! Reader for the IDX format of (Fashion-)MNIST, gzip-compressed or raw.
//!
//! An IDX file is a big-endian header (magic, then one `u32` per dimension) followed by the
//! `u8` payload. Every header field and the exact payload length are checked, so a truncated
//! download or a file of the wrong kind is reported instead of silently read.

use std::borrow::Cow;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of `u8` images: type 0x08 (ubyte), 3 dimensions.
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of `u8` labels: type 0x08 (ubyte), 1 dimension.
pub const LABELS_MAGIC: u32 = 2049;

/// Why an IDX file could not be read; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be opened or decompressed (a truncated gzip stream lands here).
    #[error("{path}: cannot read")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// What the operating system or the decoder said.
        source: std::io::Error,
    },
    /// The file is shorter than its header.
    #[error("{path}: file has {found} bytes, shorter than the {expected}-byte IDX header")]
    ShortHeader {
        /// The file at fault.
        path: PathBuf,
        /// Header length in bytes.
        expected: usize,
        /// Decompressed file length in bytes.
        found: usize,
    },
    /// The magic number is not the expected one (e.g. a labels file given as images).
    #[error("{path}: IDX magic number {found}, expected {expected}")]
    Magic {
        /// The file at fault.
        path: PathBuf,
        /// Expected magic.
        expected: u32,
        /// Magic found.
        found: u32,
    },
    /// The image dimensions are not the expected ones.
    #[error("{path}: images are {found:?} pixels, expected {expected:?}")]
    Dimensions {
        /// The file at fault.
        path: PathBuf,
        /// Expected (rows, cols).
        expected: (usize, usize),
        /// (rows, cols) found.
        found: (usize, usize),
    },
    /// The payload length does not match what the header promises.
    #[error("{path}: {found} bytes after decompression, header promises exactly {expected}")]
    Length {
        /// The file at fault.
        path: PathBuf,
        /// Header length plus count × item size.
        expected: u64,
        /// Decompressed file length.
        found: u64,
    },
    /// An images file and a labels file disagree on the number of examples.
    #[error("{images} holds {n_images} images but {labels} holds {n_labels} labels")]
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Its count.
        n_images: usize,
        /// The labels file.
        labels: PathBuf,
        /// Its count.
        n_labels: usize,
    },
}

/// `u8` images read from an IDX file: `n` images of `rows × cols`, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `n · rows · cols` pixels, image after image, each row-major.
    pub pixels: Vec<u8>,
}

fn read(path: &Path) -> Result<Vec<u8>, IdxError> {
    std::fs::read(path).map_err(|source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The contents `raw` of `path`, decompressed when they start with the gzip magic bytes
/// `1f 8b`.
fn decompressed<'a>(path: &Path, raw: &'a [u8]) -> Result<Cow<'a, [u8]>, IdxError> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw)
        .read_to_end(&mut out)
        .map_err(|source| IdxError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(Cow::Owned(out))
}

/// Checks the magic and the exact payload length; returns the dimensions from the header.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    n_dims: usize,
) -> Result<Vec<usize>, IdxError> {
    let header = 4 * (1 + n_dims);
    let short = |expected| IdxError::ShortHeader {
        path: path.to_path_buf(),
        expected,
        found: bytes.len(),
    };
    let word = |i: usize| {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // The magic first, so a file of the wrong kind is reported as such even when short.
    let found = word(0).ok_or_else(|| short(header))?;
    if found != magic {
        return Err(IdxError::Magic {
            path: path.to_path_buf(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < header {
        return Err(short(header));
    }
    let dims: Vec<usize> = (1..=n_dims)
        .map(|i| word(i).expect("header length checked") as usize)
        .collect();
    // In u64 a product of at most three u32 fields saturates rather than wrapping around
    // to a plausible length.
    let payload = dims
        .iter()
        .fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
    let expected = payload.saturating_add(header as u64);
    if bytes.len() as u64 != expected {
        return Err(IdxError::Length {
            path: path.to_path_buf(),
            expected,
            found: bytes.len() as u64,
        });
    }
    Ok(dims)
}

/// Reads an IDX images file (magic 2051), gzip-compressed or raw.
///
/// ```
/// let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fashion-mnist"));
/// let images = curvscope_model::idx::read_images(&dir.join("t10k-images-idx3-ubyte.gz"))?;
/// assert_eq!((images.n, images.rows, images.cols), (10_000, 28, 28));
/// # Ok::<(), curvscope_model::idx::IdxError>(())
/// ```
pub fn read_images(path: &Path) -> Result<IdxImages, IdxError> {
    parse_images(path, &read(path)?)
}

/// Parses the contents `raw` (gzip-compressed or not) of an IDX images file; `path` names it
/// in errors.
pub fn parse_images(path: &Path, raw: &[u8]) -> Result<IdxImages, IdxError> {
    let bytes = decompressed(path, raw)?;
    let dims = parse_header(path, &bytes, IMAGES_MAGIC, 3)?;
    Ok(IdxImages {
        n: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: bytes[16..].to_vec(),
    })
}

/// Reads an IDX labels file (magic 2049), gzip-compressed or raw.
///
/// ```
/// let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/fashion-mnist"));
/// let labels = curvscope_model::idx::read_labels(&dir.join("t10k-labels-idx1-ubyte.gz"))?;
/// assert_eq!(labels[..4], [9, 2, 1, 1]);
/// # Ok::<(), curvscope_model::idx::IdxError>(())
/// ```
pub fn read_labels(path: &Path) -> Result<Vec<u8>, IdxError> {
    parse_labels(path, &read(path)?)
}

/// Parses the contents `raw` (gzip-compressed or not) of an IDX labels file; `path` names it
/// in errors.
pub fn parse_labels(path: &Path, raw: &[u8]) -> Result<Vec<u8>, IdxError> {
    let bytes = decompressed(path, raw)?;
    parse_header(path, &bytes, LABELS_MAGIC, 1)?;
    Ok(bytes[8..].to_vec())
}

/// Reads a matching pair of images and labels files, checking that the image size is
/// `rows × cols` and that both hold the same number of examples.
pub fn read_pair(
    images: &Path,
    labels: &Path,
    rows: usize,
    cols: usize,
) -> Result<(IdxImages, Vec<u8>), IdxError> {
    parse_pair(
        (images, &read(images)?),
        (labels, &read(labels)?),
        rows,
        cols,
    )
}

/// [`read_pair`] on file contents already read, each with the path that names it in errors.
pub fn parse_pair(
    (images, raw_images): (&Path, &[u8]),
    (labels, raw_labels): (&Path, &[u8]),
    rows: usize,
    cols: usize,
) -> Result<(IdxImages, Vec<u8>), IdxError> {
    let imgs = parse_images(images, raw_images)?;
    if (imgs.rows, imgs.cols) != (rows, cols) {
        return Err(IdxError::Dimensions {
            path: images.to_path_buf(),
            expected: (rows, cols),
            found: (imgs.rows, imgs.cols),
        });
    }
    let labs = parse_labels(labels, raw_labels)?;
    if labs.len() != imgs.n {
        return Err(IdxError::CountMismatch {
            images: images.to_path_buf(),
            n_images: imgs.n,
            labels: labels.to_path_buf(),
            n_labels: labs.len(),
        });
    }
    Ok((imgs, labs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = magic.to_be_bytes().to_vec();
        for d in dims {
            out.extend(d.to_be_bytes());
        }
        out.extend(payload);
        out
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Three 2×3 images with distinct pixels, and their labels.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        let pixels: Vec<u8> = (0..18).map(|i| i * 13).collect();
        (
            idx_bytes(IMAGES_MAGIC, &[3, 2, 3], &pixels),
            idx_bytes(LABELS_MAGIC, &[3], &[7, 0, 9]),
        )
    }

    #[test]
    fn reads_gzip_and_raw_identically() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = sample();
        for (suffix, enc) in [("raw", images.clone()), ("gz", gz(&images))] {
            let img = write(dir.path(), &format!("img.{suffix}"), &enc);
            let lab = write(dir.path(), &format!("lab.{suffix}"), &gz(&labels));
            let (got, labs) = read_pair(&img, &lab, 2, 3).unwrap();
            assert_eq!((got.n, got.rows, got.cols), (3, 2, 3));
            assert_eq!(got.pixels, (0..18).map(|i| i * 13).collect::<Vec<u8>>());
            assert_eq!(labs, [7, 0, 9]);
        }
    }

    #[test]
    fn wrong_magic_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = sample();
        let lab = write(dir.path(), "lab", &labels);
        let err = read_images(&lab).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::Magic {
                    expected: 2051,
                    found: 2049,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("lab"));
        let img = write(dir.path(), "img.gz", &gz(&images));
        assert!(matches!(
            read_labels(&img),
            Err(IdxError::Magic {
                expected: 2049,
                found: 2051,
                ..
            })
        ));
    }

    #[test]
    fn truncated_payload_header_and_gzip_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (images, _) = sample();
        let short = write(dir.path(), "short", &images[..images.len() - 1]);
        let err = read_images(&short).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::Length {
                    expected: 34,
                    found: 33,
                    ..
                }
            ),
            "{err}"
        );
        let header = write(dir.path(), "header", &images[..10]);
        assert!(matches!(
            read_images(&header),
            Err(IdxError::ShortHeader {
                expected: 16,
                found: 10,
                ..
            })
        ));
        let compressed = gz(&images);
        let cut = write(dir.path(), "cut.gz", &compressed[..compressed.len() / 2]);
        assert!(matches!(read_images(&cut), Err(IdxError::Io { .. })));
        let missing = dir.path().join("absent");
        assert!(matches!(read_labels(&missing), Err(IdxError::Io { .. })));
    }

    #[test]
    fn extra_bytes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = sample();
        let mut long = labels.clone();
        long.push(3);
        let path = write(dir.path(), "long.gz", &gz(&long));
        let err = read_labels(&path).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::Length {
                    expected: 11,
                    found: 12,
                    ..
                }
            ),
            "{err}"
        );
        let mut long = images;
        long.extend([0; 6]);
        let path = write(dir.path(), "long-img", &long);
        assert!(matches!(
            read_images(&path),
            Err(IdxError::Length {
                expected: 34,
                found: 40,
                ..
            })
        ));
    }

    #[test]
    fn hostile_counts_do_not_overflow_or_allocate() {
        let dir = tempfile::tempdir().unwrap();
        let huge = idx_bytes(IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]);
        let path = write(dir.path(), "huge", &huge);
        assert!(matches!(
            read_images(&path),
            Err(IdxError::Length {
                expected: u64::MAX,
                found: 19,
                ..
            })
        ));
    }

    #[test]
    fn count_and_size_mismatches_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (images, _) = sample();
        let img = write(dir.path(), "img", &images);
        let lab = write(dir.path(), "lab", &idx_bytes(LABELS_MAGIC, &[2], &[1, 2]));
        let err = read_pair(&img, &lab, 2, 3).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::CountMismatch {
                    n_images: 3,
                    n_labels: 2,
                    ..
                }
            ),
            "{err}"
        );
        let err = read_pair(&img, &lab, 28, 28).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::Dimensions {
                    expected: (28, 28),
                    found: (2, 3),
                    ..
                }
            ),
            "{err}"
        );
    }
}
