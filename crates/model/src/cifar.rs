//! CIFAR-10 (Krizhevsky 2009) in both of its distributed versions, read as `[N, 3, 32, 32]`
//! images with pixels / 255 in [0, 1] (what torchvision's `ToTensor` gives) and labels in 0..10.
//!
//! - Binary (`cifar-10-binary.tar.gz`): a batch file such as `data_batch_1.bin` is a sequence of
//!   3,073-byte records, one label byte (0–9) then 3,072 pixel bytes — the red, green and blue
//!   32×32 planes, row-major — so batch files concatenate into one
//!   (`cat data_batch_*.bin > train.bin`).
//! - Python (`cifar-10-python.tar.gz`): `data_batch_1` … `data_batch_5`, `test_batch`, each a
//!   dict pickled with protocol 2 by Python 2's cPickle: `b'labels'` a list of N ints and
//!   `b'data'` a uint8 numpy array `[N, 3072]` with the same pixel layout. The pickle is parsed
//!   by `serde-pickle`, which reads the array as the state tuple numpy pickles it with
//!   (`(1, shape, dtype, fortran_order, raw bytes)`): the class names are not resolved, so the
//!   dtype is checked through its byte order `'|'` (one-byte elements) and the bytes' count.

use std::path::Path;

use serde_pickle::{DeOptions, HashableValue, Value};

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
        x.extend(record[1..].iter().map(|&p| to_unit(p)));
    }
    cifar10(path, x, labels)
}

/// A pixel byte as torchvision's `ToTensor` gives it, in f32: p / 255.
pub(crate) fn to_unit(p: u8) -> f32 {
    f32::from(p) / 255.0
}

/// The dataset of CIFAR-10 images `x` (pixels / 255) and `labels`, named after the file.
fn cifar10(path: &Path, x: Vec<f32>, labels: Vec<i64>) -> Result<Dataset, DataError> {
    Dataset::new(
        format!("CIFAR-10 {}", file_name(path)),
        x,
        vec![3, 32, 32],
        Targets::Classes {
            labels,
            n_classes: 10,
        },
        None,
    )
}

/// The last component of `path`, for dataset names.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

/// Reads a CIFAR-10 python batch (`data_batch_1`, `test_batch`, …: see the module docs) like
/// [`load_cifar10_bin`]: `[N, 3, 32, 32]`, pixels / 255, labels in 0..10.
///
/// Reads the files Python 2's cPickle wrote (keys and bytes as Python 2 `str`) and the same
/// dict re-pickled by Python 3 with protocol 2. Fails, naming the file, on anything else: not
/// a pickle, no `labels` or `data` (a CIFAR-100 batch has `fine_labels`), a `data` array that
/// is not uint8 `[N, 3072]`, or a label outside 0–9.
///
/// ```
/// use curvscope_model::cifar::load_cifar10_python;
/// # let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/datasets/cifar10_py2_batch");
/// // A batch of 4 images made by tools/make_data_fixtures.py the way the real ones were made.
/// let data = load_cifar10_python(std::path::Path::new(fixture))?;
/// assert_eq!((data.len(), data.sample_shape()), (4, &[3, 32, 32][..]));
/// assert_eq!(data.labels(), Some(&[3i64, 9, 0, 7][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_cifar10_python(path: &Path) -> Result<Dataset, DataError> {
    // serde-pickle converts and drops the values it builds recursively: on its own stack, a
    // pickle nesting its MAX_PICKLE_CONTAINERS containers one in another cannot overflow.
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("pickle".into())
            .stack_size(PICKLE_STACK_BYTES)
            .spawn_scoped(scope, || read_python_batch(path))
            .map_err(|e| DataError::Parse {
                path: path.to_path_buf(),
                message: format!("cannot start the thread that reads it: {e}"),
            })?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// [`load_cifar10_python`]'s work, on a thread of [`PICKLE_STACK_BYTES`].
fn read_python_batch(path: &Path) -> Result<Dataset, DataError> {
    let parse = |message: String| DataError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| parse(format!("cannot read: {e}")))?;
    let containers = pickle_containers(&bytes).map_err(parse)?;
    if containers > MAX_PICKLE_CONTAINERS {
        return Err(parse(format!(
            "the pickle builds {containers} containers (lists, tuples, dicts, objects); a \
             CIFAR-10 python batch builds at most 3 per image"
        )));
    }
    let value =
        serde_pickle::value_from_slice(&bytes, DeOptions::new().replace_unresolved_globals())
            .map_err(|e| parse(format!("not a pickled CIFAR-10 python batch: {e}")))?;
    let Value::Dict(mut batch) = value else {
        return Err(parse(
            "the pickle holds no dict (expected a CIFAR-10 python batch)".into(),
        ));
    };
    let mut take = |key: &str| {
        batch
            .remove(&HashableValue::Bytes(key.as_bytes().to_vec()))
            .or_else(|| batch.remove(&HashableValue::String(key.into())))
            .ok_or_else(|| {
                parse(format!(
                    "no '{key}' entry (a CIFAR-10 python batch has 'data' and 'labels'; \
                     CIFAR-100's 'fine_labels' are not read)"
                ))
            })
    };
    let (data, labels) = (take("data")?, take("labels")?);
    let pixels = uint8_matrix(data, 3 * 32 * 32).map_err(|m| parse(format!("'data': {m}")))?;
    let labels = match labels {
        Value::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::I64(l @ 0..=9) => Ok(*l),
                Value::I64(l) => Err(parse(format!(
                    "'labels'[{i}] = {l} is not a CIFAR-10 class (0–9)"
                ))),
                other => Err(parse(format!(
                    "'labels'[{i}] is {}, not an int",
                    kind(other)
                ))),
            })
            .collect::<Result<Vec<i64>, _>>()?,
        other => {
            return Err(parse(format!(
                "'labels' is {}, not a list of ints",
                kind(&other)
            )))
        }
    };
    if labels.len() * 3072 != pixels.len() {
        return Err(parse(format!(
            "{} labels but {} images",
            labels.len(),
            pixels.len() / 3072
        )));
    }
    cifar10(path, pixels.iter().map(|&p| to_unit(p)).collect(), labels)
}

/// What kind of Python object `value` is, for messages (its contents may be megabytes).
fn kind(value: &Value) -> &'static str {
    match value {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::I64(_) | Value::Int(_) => "an int",
        Value::F64(_) => "a float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "a str",
        Value::List(_) => "a list",
        Value::Tuple(_) => "a tuple",
        Value::Set(_) | Value::FrozenSet(_) => "a set",
        Value::Dict(_) => "a dict",
    }
}

/// Reads the training set of CIFAR-10's python version: every `data_batch_*` file in `dir`
/// (the `cifar-10-batches-py` folder the archive unpacks to), in name order, one after
/// another, as [`load_cifar10_python`] reads each — 50,000 images for the full set.
///
/// Fails, naming the folder, when it holds no `data_batch_*` file, or as
/// [`load_cifar10_python`] on a bad batch.
///
/// ```
/// use curvscope_model::cifar::load_cifar10_python_dir;
/// # let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/datasets/cifar10_py2_batch");
/// let dir = tempfile::tempdir()?;
/// for name in ["data_batch_1", "data_batch_2", "test_batch"] {
///     std::fs::copy(fixture, dir.path().join(name))?; // a batch of 4 images
/// }
/// assert_eq!(load_cifar10_python_dir(dir.path())?.len(), 8); // test_batch is not read
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_cifar10_python_dir(dir: &Path) -> Result<Dataset, DataError> {
    let parse = |message: String| DataError::Parse {
        path: dir.to_path_buf(),
        message,
    };
    let mut batches: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| parse(format!("cannot read the folder: {e}")))?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|p| file_name(p).starts_with("data_batch_"))
        .collect();
    batches.sort();
    if batches.is_empty() {
        return Err(parse(
            "no data_batch_* files (expected CIFAR-10's cifar-10-batches-py folder)".into(),
        ));
    }
    let (mut x, mut labels) = (Vec::new(), Vec::new());
    for batch in &batches {
        let data = load_cifar10_python(batch)?;
        x.extend_from_slice(data.x());
        labels.extend_from_slice(data.labels().expect("CIFAR-10 batches have labels"));
    }
    cifar10(dir, x, labels)
}

/// The most containers [`load_cifar10_python`] lets serde-pickle build. serde-pickle parses
/// without recursion but converts and drops the values it made recursively, so a pickle
/// nesting 20,000 lists (40 kB) overflowed an 8 MiB stack and aborted the process. Nesting
/// never exceeds the number of containers built; a batch as the CIFAR site made it builds a
/// few dozen, one re-pickled by Python 3 from bytes keys and filenames (`_codecs.encode`
/// calls) two per image: 20,027 for 10,000 images.
const MAX_PICKLE_CONTAINERS: usize = 100_000;

/// The stack [`load_cifar10_python`] reads on: room for [`MAX_PICKLE_CONTAINERS`] nested
/// levels of serde-pickle's recursion (a test nests that many; in a release build they fit
/// in 256 MiB and not in 64 MiB, so 1 GiB leaves 4× for unoptimised builds). Reserved, not
/// committed: pages are touched only as deep as a pickle nests.
const PICKLE_STACK_BYTES: usize = 1 << 30;

/// How many containers (lists, tuples, dicts, sets, objects) the pickle `bytes` builds before
/// its STOP: a walk over its opcodes (protocols 0–5), skipping their arguments, without
/// building anything. Fails on an unknown opcode or a pickle cut short.
fn pickle_containers(bytes: &[u8]) -> Result<usize, String> {
    let cut = || "not a pickled CIFAR-10 python batch: it ends before its STOP".to_string();
    let mut at = 0;
    let mut containers = 0;
    // `n` little-endian bytes at `at` as a length.
    let length = |at: usize, n: usize| -> Result<usize, String> {
        let field = bytes.get(at..at + n).ok_or_else(cut)?;
        let value = field.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b));
        usize::try_from(value).map_err(|_| cut())
    };
    // The end of the line starting at `at`, past its newline.
    let line = |at: usize| -> Result<usize, String> {
        let end = bytes[at.min(bytes.len())..]
            .iter()
            .position(|&b| b == b'\n');
        end.map(|end| at + end + 1).ok_or_else(cut)
    };
    loop {
        let opcode = *bytes.get(at).ok_or_else(cut)?;
        at += 1;
        at = match opcode {
            b'.' => return Ok(containers),
            // Containers and objects: lists, dicts, tuples, sets; REDUCE, BUILD, NEWOBJ(_EX),
            // OBJ and INST make objects that may hold others.
            b']'
            | b'}'
            | b')'
            | 0x85..=0x87
            | b't'
            | b'l'
            | b'd'
            | 0x8f
            | 0x91
            | b'R'
            | b'b'
            | 0x81
            | 0x92
            | b'o' => {
                containers += 1;
                at
            }
            b'i' => {
                containers += 1;
                line(line(at)?)?
            }
            // No argument.
            b'(' | b'0' | b'1' | b'2' | b'N' | 0x88 | 0x89 | b'a' | b'e' | b's' | b'u' | b'Q'
            | 0x93 | 0x94 | 0x90 | 0x97 | 0x98 => at,
            0x80 | b'K' | b'q' | b'h' | 0x82 => at + 1,
            b'M' | 0x83 => at + 2,
            b'J' | b'r' | b'j' | 0x84 => at + 4,
            b'G' | 0x95 => at + 8,
            b'U' | b'C' | 0x8c | 0x8a => at + 1 + length(at, 1)?,
            b'T' | b'B' | b'X' | 0x8b => at + 4 + length(at, 4)?,
            0x8d | 0x8e | 0x96 => at.saturating_add(8).saturating_add(length(at, 8)?),
            b'I' | b'L' | b'F' | b'S' | b'V' | b'g' | b'p' | b'P' => line(at)?,
            b'c' => line(line(at)?)?,
            other => {
                return Err(format!(
                    "not a pickled CIFAR-10 python batch: unknown pickle opcode 0x{other:02x} \
                     at byte {}",
                    at - 1
                ))
            }
        };
    }
}

/// The bytes of a uint8 numpy array `[N, cols]` (N ≥ 1, C order) as numpy pickles it with
/// protocol 2 and serde-pickle reads it: the state tuple `(1, shape, dtype state, fortran,
/// raw)`, where the dtype state's second item is the byte order, `'|'` for one-byte elements.
fn uint8_matrix(value: Value, cols: usize) -> Result<Vec<u8>, String> {
    let Value::Tuple(state) = value else {
        return Err(format!("{} is not a pickled numpy array", kind(&value)));
    };
    let [Value::I64(1), Value::Tuple(shape), Value::Tuple(dtype), Value::Bool(fortran), raw] =
        &state[..]
    else {
        return Err(
            "not a numpy array pickled with protocol 2 (re-pickle it with protocol=2)".into(),
        );
    };
    let shape: Vec<i64> = shape
        .iter()
        .map(|d| match d {
            Value::I64(d) => *d,
            _ => -1,
        })
        .collect();
    let byte_order = dtype.get(1);
    let one_byte = matches!(byte_order, Some(Value::Bytes(b)) if b == b"|")
        || matches!(byte_order, Some(Value::String(s)) if s == "|");
    let raw = match raw {
        Value::Bytes(raw) => raw,
        _ => return Err("the array's data are not raw bytes".into()),
    };
    match shape[..] {
        [n, c] if n >= 1 && c == cols as i64 && one_byte && !fortran => {
            if n.checked_mul(c) == Some(raw.len() as i64) {
                Ok(raw.clone())
            } else {
                Err(format!(
                    "shape {shape:?} but {} bytes of uint8 data",
                    raw.len()
                ))
            }
        }
        _ => Err(format!(
            "array of shape {shape:?}{}{}, expected uint8 [N, {cols}]",
            if one_byte {
                ""
            } else {
                " with multi-byte elements"
            },
            if *fortran { " in Fortran order" } else { "" }
        )),
    }
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

    /// Lists nested as deep as the cap allows are read (on the reader's own stack: 20,000 of
    /// them aborted the process with a stack overflow), one more is refused before
    /// serde-pickle sees it, and so is a pickle cut short, naming the file.
    #[test]
    fn deeply_nested_and_cut_pickles_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data_batch_1");
        let nested = |n| [&b"\x80\x02"[..], &vec![b']'; n], &vec![b'a'; n - 1], b"."].concat();
        let deepest = nested(MAX_PICKLE_CONTAINERS);
        for (bytes, message) in [
            (deepest.clone(), "the pickle holds no dict"),
            (
                nested(MAX_PICKLE_CONTAINERS + 1),
                "the pickle builds 100001 containers",
            ),
            (deepest[..100].to_vec(), "ends before its STOP"),
            (
                b"\x80\x02\xff.".to_vec(),
                "unknown pickle opcode 0xff at byte 2",
            ),
        ] {
            std::fs::write(&file, bytes).unwrap();
            let err = load_cifar10_python(&file).unwrap_err().to_string();
            assert!(
                err.contains("data_batch_1") && err.contains(message),
                "{err}"
            );
        }
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
