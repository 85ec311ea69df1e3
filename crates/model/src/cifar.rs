//! CIFAR-10's binary version (Krizhevsky 2009, `cifar-10-binary.tar.gz`): a batch file such as
//! `data_batch_1.bin` is a sequence of 3,073-byte records, one label byte (0–9) then 3,072 pixel
//! bytes — the red, green and blue 32×32 planes, row-major — so batch files concatenate into one
//! (`cat data_batch_*.bin > train.bin`).

use std::path::Path;

use crate::dataset::{DataError, Dataset, Targets};

/// Bytes per CIFAR-10 record: a label, then 3×32×32 pixels.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;

/// Reads a CIFAR-10 binary batch file as `[N, 3, 32, 32]` images with pixels / 255 in [0, 1]
/// (what torchvision's `ToTensor` gives; no further normalisation) and labels in 0..10.
///
/// Fails, naming the file, on a length that is not a whole number of records or a label
/// outside 0–9 (e.g. a CIFAR-100 file, whose records are longer).
///
/// ```
/// use curvscope_model::cifar::{load_cifar10_bin, CIFAR10_RECORD};
/// let dir = tempfile::tempdir()?;
/// let mut record = vec![7u8; CIFAR10_RECORD];
/// record[1] = 255; // the first red pixel
/// std::fs::write(dir.path().join("batch.bin"), &record)?;
/// let data = load_cifar10_bin(&dir.path().join("batch.bin"))?;
/// assert_eq!((data.len(), data.sample_shape(), data.labels()), (1, &[3, 32, 32][..], Some(&[7i64][..])));
/// assert_eq!(data.x()[..2], [1.0, 7.0 / 255.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_cifar10_bin(path: &Path) -> Result<Dataset, DataError> {
    let parse = |message: String| DataError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| parse(format!("cannot read: {e}")))?;
    if bytes.is_empty() || bytes.len() % CIFAR10_RECORD != 0 {
        return Err(parse(format!(
            "{} bytes is not a whole number of {CIFAR10_RECORD}-byte CIFAR-10 records \
             (a label byte and 3×32×32 pixels)",
            bytes.len()
        )));
    }
    let n = bytes.len() / CIFAR10_RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut x = Vec::with_capacity(n * (CIFAR10_RECORD - 1));
    for (i, record) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
        if record[0] > 9 {
            return Err(parse(format!(
                "record {i}: label {} is not a CIFAR-10 class (0–9)",
                record[0]
            )));
        }
        labels.push(i64::from(record[0]));
        x.extend(record[1..].iter().map(|&p| f32::from(p) / 255.0));
    }
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    Dataset::new(
        format!("CIFAR-10 {name}"),
        x,
        vec![3, 32, 32],
        Targets::Classes {
            labels,
            n_classes: 10,
        },
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three records with labels 0, 9, 4, each pixel plane filled with its own value.
    fn three_records() -> Vec<u8> {
        [0u8, 9, 4]
            .iter()
            .flat_map(|&label| {
                let planes = [label * 10, label * 10 + 1, label * 10 + 2];
                std::iter::once(label).chain(planes.into_iter().flat_map(|v| [v; 1024]))
            })
            .collect()
    }

    #[test]
    fn records_are_images_with_planes_in_rgb_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data_batch_1.bin");
        std::fs::write(&file, three_records()).unwrap();
        let data = load_cifar10_bin(&file).unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data.labels(), Some(&[0, 9, 4][..]));
        assert_eq!(data.info().name, "CIFAR-10 data_batch_1.bin");
        let second = &data.x()[3072..6144];
        assert_eq!(second[0], 90.0 / 255.0); // red plane of the label-9 image
        assert_eq!(second[1024], 91.0 / 255.0); // green
        assert_eq!(second[3071], 92.0 / 255.0); // last blue pixel
    }

    #[test]
    fn bad_lengths_and_labels_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.bin");
        let mut bytes = three_records();
        bytes.pop();
        std::fs::write(&file, &bytes).unwrap();
        let err = load_cifar10_bin(&file).unwrap_err().to_string();
        assert!(
            err.contains("bad.bin: 9218 bytes is not a whole number of 3073-byte"),
            "{err}"
        );
        let mut bytes = three_records();
        bytes[CIFAR10_RECORD] = 10;
        std::fs::write(&file, &bytes).unwrap();
        let err = load_cifar10_bin(&file).unwrap_err().to_string();
        assert!(
            err.contains("bad.bin: record 1: label 10 is not a CIFAR-10 class"),
            "{err}"
        );
        std::fs::write(&file, b"").unwrap();
        assert!(load_cifar10_bin(&file).is_err());
    }
}
