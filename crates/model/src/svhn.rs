//! SVHN's cropped digits (Netzer et al. 2011), `train_32x32.mat` / `test_32x32.mat`: MATLAB v5
//! files (compressed) holding `X`, uint8 `[32, 32, 3, N]` — height, width, channel, sample —
//! and `y`, `[N, 1]` labels 1–10 where 10 is the digit 0. Parsed by the `matfile` crate;
//! MATLAB stores arrays column-major, so image n's pixel (c, h, w) is
//! `X[h + H·w + H·W·c + H·W·C·n]`, read here into torchvision's layout `[N, C, H, W]`.

use std::path::Path;

use matfile::{MatFile, NumericData};

use crate::cifar::{file_name, to_unit};
use crate::dataset::{DataError, Dataset, Targets};

/// Reads an SVHN `.mat` file as `[N, C, H, W]` images (C, H, W from `X`'s size, 3×32×32 for
/// SVHN) with pixels / 255 in [0, 1] (torchvision's `SVHN` + `ToTensor`) and labels in 0..10,
/// label 10 read as the digit 0, as torchvision does.
///
/// `y` may be uint8 (SVHN's) or double (MATLAB's default).
/// Fails, naming the file, on a missing `X` or `y`, an `X` that is not uint8 with four
/// dimensions, a count mismatch, or a label that is not a whole number in 1–10 (0 is taken as
/// well: files re-saved with torchvision's mapping). A MATLAB v7.3 (HDF5) file is refused
/// with how to re-save it.
///
/// ```
/// use curvscope_model::svhn::load_svhn_mat;
/// # let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/datasets/svhn_32x32.mat");
/// // 4 images saved by scipy.io.savemat(…, do_compression=True), labels [10, 1, 9, 10].
/// let data = load_svhn_mat(std::path::Path::new(fixture))?;
/// assert_eq!((data.len(), data.sample_shape()), (4, &[3, 32, 32][..]));
/// assert_eq!(data.labels(), Some(&[0i64, 1, 9, 0][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_svhn_mat(path: &Path) -> Result<Dataset, DataError> {
    let parse = |message: String| DataError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| parse(format!("cannot read: {e}")))?;
    if bytes.starts_with(b"MATLAB 7.3") {
        return Err(parse(
            "a MATLAB v7.3 (HDF5) file; re-save it as v7 (MATLAB: save(f, 'X', 'y', '-v7'); \
             Python: scipy.io.savemat)"
                .into(),
        ));
    }
    // matfile stops quietly at a damaged element; a cut download must not lose images silently.
    if let Some(end) = elements_end(&bytes).filter(|&end| end != bytes.len()) {
        return Err(parse(format!(
            "truncated or damaged: its data elements claim {end} bytes, the file has {}",
            bytes.len()
        )));
    }
    let mat = MatFile::parse(&bytes[..])
        .map_err(|e| parse(format!("not a MATLAB v5 .mat file ({e})")))?;
    let array = |name: &str| {
        mat.find_by_name(name).ok_or_else(|| {
            parse(format!(
                "no numeric array '{name}' (an SVHN .mat file holds X and y)"
            ))
        })
    };
    let (x, y) = (array("X")?, array("y")?);
    let (&[h, w, c, n], NumericData::UInt8 { real: pixels, .. }) = (&x.size()[..], x.data()) else {
        return Err(parse(format!(
            "'X' is {} of size {:?}, expected uint8 [H, W, C, N] (SVHN: [32, 32, 3, N])",
            class_name(x.data()),
            x.size()
        )));
    };
    let image_len = [h, w, c]
        .iter()
        .try_fold(1usize, |len, &d| len.checked_mul(d));
    if image_len.is_none_or(|len| len == 0 || len.checked_mul(n) != Some(pixels.len())) {
        return Err(parse(format!(
            "'X' of size {:?} holds {} values, not H·W·C·N > 0",
            x.size(),
            pixels.len()
        )));
    }
    if let NumericData::UInt8 { imag: Some(_), .. } = x.data() {
        return Err(parse("'X' is complex, expected real uint8".into()));
    }
    let labels = labels(y.data()).map_err(|m| parse(format!("'y': {m}")))?;
    if labels.len() != n || crate::arch::product(y.size()) != n {
        return Err(parse(format!(
            "'X' holds {n} images but 'y' has size {:?}",
            y.size()
        )));
    }
    let mut images = Vec::with_capacity(pixels.len());
    for image in pixels.chunks_exact(h * w * c) {
        for channel in image.chunks_exact(h * w) {
            images.extend(
                (0..h).flat_map(|row| (0..w).map(move |col| to_unit(channel[row + h * col]))),
            );
        }
    }
    Dataset::new(
        format!("SVHN {}", file_name(path)),
        images,
        vec![c, h, w],
        Targets::Classes {
            labels,
            n_classes: 10,
        },
        None,
    )
}

/// Where the top-level data elements of a little-endian MATLAB v5 file say the file ends:
/// each is an 8-byte tag (type, size) and `size` bytes, padded to 8 unless compressed (type
/// 15). `None` for a file too short for the 128-byte header or not little-endian ("IM").
fn elements_end(bytes: &[u8]) -> Option<usize> {
    if bytes.get(126..128)? != b"IM" {
        return None;
    }
    let mut at = 128;
    while at + 8 <= bytes.len() {
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
        let (kind, size) = (word(at), word(at + 4));
        let padded = if kind == 15 {
            size
        } else {
            size.div_ceil(8) * 8
        };
        at += 8 + padded;
    }
    Some(at)
}

/// SVHN labels as classes 0..10: 10 (MATLAB's 1-based digit 0) → 0, 0–9 as they are.
fn labels(y: &NumericData) -> Result<Vec<i64>, String> {
    let values: Vec<f64> = match y {
        NumericData::UInt8 { imag: Some(_), .. } | NumericData::Double { imag: Some(_), .. } => {
            return Err(format!("complex {}, expected real", class_name(y)))
        }
        NumericData::UInt8 { real, .. } => real.iter().map(|&v| f64::from(v)).collect(),
        NumericData::Double { real, .. } => real.clone(),
        other => return Err(format!("{}, expected uint8 or double", class_name(other))),
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| match v {
            10.0 => Ok(0),
            _ if v.fract() == 0.0 && (0.0..10.0).contains(&v) => Ok(v as i64),
            _ => Err(format!(
                "label {v} of sample {i} is not a digit class (1–10)"
            )),
        })
        .collect()
}

/// MATLAB's name of the class of `data`, for messages.
fn class_name(data: &NumericData) -> &'static str {
    match data {
        NumericData::Int8 { .. } => "int8",
        NumericData::UInt8 { .. } => "uint8",
        NumericData::Int16 { .. } => "int16",
        NumericData::UInt16 { .. } => "uint16",
        NumericData::Int32 { .. } => "int32",
        NumericData::UInt32 { .. } => "uint32",
        NumericData::Int64 { .. } => "int64",
        NumericData::UInt64 { .. } => "uint64",
        NumericData::Single { .. } => "single",
        NumericData::Double { .. } => "double",
    }
}
