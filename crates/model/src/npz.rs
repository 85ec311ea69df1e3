//! User datasets from NumPy `.npz` files: `np.savez(path, x=x, y=y)`.
//!
//! `x` is float32 or float64 with shape `[N, …]` (the rest is the sample shape); `y` holds
//! integers of any width, signed or not, with shape `[N]` or `[N, 1]`: class indices. Everything that could make a run
//! silently wrong (dtype, counts, label range, NaN) is checked up front.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use npyz::npz::NpzArchive;
use npyz::zip::result::ZipError;
use npyz::{DType, NpyFile, Order, TypeChar};

use crate::dataset::{Dataset, Targets};

/// Why an `.npz` dataset was rejected; every variant names the file (and array).
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    /// The file could not be opened, is not a zip archive, or an array could not be decoded.
    #[error("{path}: {what}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// What was being read.
        what: String,
        /// What the operating system or the decoder said.
        source: std::io::Error,
    },
    /// An array's `.npy` header says it is longer than the array's entry in the archive.
    #[error("{path}: array `{array}` claims a {claimed}-byte header, but its entry holds only {available} bytes")]
    Truncated {
        /// The file at fault.
        path: PathBuf,
        /// The array, by its name in the archive.
        array: &'static str,
        /// Header end, by the header's length field.
        claimed: u64,
        /// Length of the entry.
        available: u64,
    },
    /// A required array is absent.
    #[error(
        "{path}: no array `{array}` (expected `x` and `y`, as written by np.savez(path, x=x, y=y))"
    )]
    MissingArray {
        /// The file at fault.
        path: PathBuf,
        /// The array missing.
        array: &'static str,
    },
    /// An array has an unsupported dtype.
    #[error("{path}: array `{array}` has dtype {found}, expected {expected}")]
    Dtype {
        /// The file at fault.
        path: PathBuf,
        /// The array, by its name in the archive.
        array: &'static str,
        /// The dtype found, in NumPy notation.
        found: String,
        /// The dtypes accepted.
        expected: &'static str,
    },
    /// An array has the wrong number of dimensions, no samples, or is stored in Fortran order.
    #[error("{path}: array `{array}` has shape {found:?}{fortran}, expected {expected}", fortran = if *fortran_order { " (Fortran order)" } else { "" })]
    Shape {
        /// The file at fault.
        path: PathBuf,
        /// The array, by its name in the archive.
        array: &'static str,
        /// Its shape.
        found: Vec<u64>,
        /// Whether it is stored column-major.
        fortran_order: bool,
        /// What is accepted.
        expected: &'static str,
    },
    /// `x` and `y` disagree on N.
    #[error("{path}: `x` has {n_x} samples but `y` has {n_y}")]
    CountMismatch {
        /// The file at fault.
        path: PathBuf,
        /// First dimension of `x`.
        n_x: u64,
        /// Length of `y`.
        n_y: u64,
    },
    /// A label is negative: labels are class indices counted from 0 (an ignore index such as
    /// PyTorch's −100 has no meaning for the curvature of a mean loss).
    #[error("{path}: `y[{index}]` = {label} is negative; labels are class indices 0, 1, 2, …")]
    NegativeLabel {
        /// The file at fault.
        path: PathBuf,
        /// Sample index.
        index: usize,
        /// The label found there.
        label: i64,
    },
    /// A uint64 label past int64's range: no class index, whatever the net.
    #[error("{path}: `y[{index}]` = {label} is past any class index (labels are class indices 0, 1, 2, …)")]
    HugeLabel {
        /// The file at fault.
        path: PathBuf,
        /// Sample index.
        index: usize,
        /// The label found there.
        label: u64,
    },
    /// A label is not below the number of classes.
    #[error("{path}: `y[{index}]` = {label} is not a class in 0..{n_classes}")]
    Label {
        /// The file at fault.
        path: PathBuf,
        /// Sample index.
        index: usize,
        /// The label found there.
        label: i64,
        /// Number of classes.
        n_classes: usize,
    },
    /// `x` holds a NaN or an infinity.
    #[error("{path}: `x` has non-finite value {value} at flat index {index}")]
    NonFinite {
        /// The file at fault.
        path: PathBuf,
        /// First bad flat (row-major) index.
        index: usize,
        /// The value found there.
        value: f64,
    },
}

/// Loads `x` and `y` from an `.npz` file as a classification [`Dataset`] named after the
/// file. `n_classes` defaults to `max(y) + 1`; a given one is checked against the labels.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("d.npz");
/// # {
/// #     use npyz::WriterBuilder;
/// #     let mut npz = npyz::npz::NpzWriter::create(&path)?;
/// #     npz.array("x", Default::default())?.default_dtype().shape(&[2, 3]).begin_nd()?
/// #         .extend([0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0])?;
/// #     npz.array("y", Default::default())?.default_dtype().shape(&[2]).begin_nd()?
/// #         .extend([1i64, 0])?;
/// # }
/// // Written in Python by np.savez(path, x=np.arange(6, dtype=np.float32).reshape(2, 3), y=[1, 0])
/// let ds = curvscope_model::load_npz(&path, None)?;
/// assert_eq!((ds.len(), ds.sample_shape(), ds.n_classes()), (2, &[3][..], Some(2)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_npz(path: &Path, n_classes: Option<usize>) -> Result<Dataset, NpzError> {
    let p = || path.to_path_buf();
    let io = |what: &str| {
        let what = what.to_string();
        move |source| NpzError::Io {
            path: p(),
            what,
            source,
        }
    };
    let mut npz = NpzArchive::new(BufReader::new(
        std::fs::File::open(path).map_err(io("cannot open"))?,
    ))
    .map_err(io("not an npz (zip) archive"))?;

    let x_arr = array(&mut npz, path, "x")?;
    let x_shape = x_arr.shape().to_vec();
    check_layout(
        path,
        &x_arr,
        "x",
        !x_shape.is_empty(),
        "[N, …] with every dimension ≥ 1, C order",
    )?;
    // float32 stays f32 (as every image source); float64 keeps its own values for f64 analyses.
    let x: Inputs = match plain_kind(&x_arr.dtype()) {
        Some((TypeChar::Float, 4)) => x_arr.into_vec::<f32>().map(Inputs::F32),
        Some((TypeChar::Float, 8)) => x_arr.into_vec::<f64>().map(Inputs::F64),
        _ => return Err(dtype_err(path, "x", &x_arr, "float32 or float64")),
    }
    .map_err(io("cannot decode array `x`"))?;
    // Checked as f32 too, what an f32 analysis sees: a finite f64 beyond f32's range is an error.
    let non_finite = |v: f64| !(v as f32).is_finite();
    let bad = match &x {
        Inputs::F32(x) => x
            .iter()
            .position(|&v| non_finite(v.into()))
            .map(|i| (i, x[i].into())),
        Inputs::F64(x) => x.iter().position(|&v| non_finite(v)).map(|i| (i, x[i])),
    };
    if let Some((index, value)) = bad {
        return Err(NpzError::NonFinite {
            path: p(),
            index,
            value,
        });
    }

    let y_arr = array(&mut npz, path, "y")?;
    let y_shape = y_arr.shape().to_vec();
    // [N, 1] too: a column of labels (scikit-learn's, SVHN's `y`) is one label per sample.
    check_layout(
        path,
        &y_arr,
        "y",
        y_shape.len() == 1 || (y_shape.len() == 2 && y_shape[1] == 1),
        "[N] or [N, 1] with N ≥ 1, C order",
    )?;
    if y_shape[0] != x_shape[0] {
        return Err(NpzError::CountMismatch {
            path: p(),
            n_x: x_shape[0],
            n_y: y_shape[0],
        });
    }
    const LABEL_DTYPES: &str = "integers: int8 … int64 or uint8 … uint64";
    let y: Vec<i64> = match plain_kind(&y_arr.dtype()) {
        Some((TypeChar::Int, 1)) => y_arr.into_vec::<i8>().map(widened),
        Some((TypeChar::Int, 2)) => y_arr.into_vec::<i16>().map(widened),
        Some((TypeChar::Int, 4)) => y_arr.into_vec::<i32>().map(widened),
        Some((TypeChar::Int, 8)) => y_arr.into_vec::<i64>(),
        Some((TypeChar::Uint, 1)) => y_arr.into_vec::<u8>().map(widened),
        Some((TypeChar::Uint, 2)) => y_arr.into_vec::<u16>().map(widened),
        Some((TypeChar::Uint, 4)) => y_arr.into_vec::<u32>().map(widened),
        Some((TypeChar::Uint, 8)) => {
            let labels = y_arr
                .into_vec::<u64>()
                .map_err(io("cannot decode array `y`"))?;
            if let Some(index) = labels.iter().position(|&l| i64::try_from(l).is_err()) {
                return Err(NpzError::HugeLabel {
                    path: p(),
                    index,
                    label: labels[index],
                });
            }
            Ok(labels.into_iter().map(|l| l as i64).collect())
        }
        _ => return Err(dtype_err(path, "y", &y_arr, LABEL_DTYPES)),
    }
    .map_err(io("cannot decode array `y`"))?;

    if let Some(index) = y.iter().position(|&l| l < 0) {
        return Err(NpzError::NegativeLabel {
            path: p(),
            index,
            label: y[index],
        });
    }
    let max = y.iter().copied().max().unwrap_or(0);
    let n_classes = n_classes.unwrap_or(max as usize + 1);
    if let Some(index) = y.iter().position(|&l| l as u64 >= n_classes as u64) {
        return Err(NpzError::Label {
            path: p(),
            index,
            label: y[index],
            n_classes,
        });
    }
    let name = path
        .file_stem()
        .map_or_else(|| "npz".into(), |s| s.to_string_lossy().into_owned());
    let sample_shape = x_shape[1..].iter().map(|&d| d as usize).collect();
    let targets = Targets::Classes {
        labels: y,
        n_classes,
    };
    let data = match x {
        Inputs::F32(x) => Dataset::new(name, x, sample_shape, targets, None),
        Inputs::F64(x) => Dataset::from_f64(name, x, sample_shape, targets, None),
    };
    Ok(data.expect("shapes and labels were checked"))
}

/// Labels of a narrower integer dtype as i64.
fn widened<T: Into<i64>>(labels: Vec<T>) -> Vec<i64> {
    labels.into_iter().map(Into::into).collect()
}

/// `x` as the file stores it.
enum Inputs {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// The array `name`, its `.npy` entry read whole first: npyz allocates the header length
/// the file claims (up to 4 GB) before reading it, so a claim longer than the entry is
/// refused here. The entry's bytes are what the data decompress to, never what a header says.
fn array<R: Read + std::io::Seek>(
    npz: &mut NpzArchive<R>,
    path: &Path,
    name: &'static str,
) -> Result<NpyFile<std::io::Cursor<Vec<u8>>>, NpzError> {
    let io = |source| NpzError::Io {
        path: path.to_path_buf(),
        what: format!("cannot read array `{name}`"),
        source,
    };
    let mut bytes = Vec::new();
    match npz.zip_archive().by_name(&format!("{name}.npy")) {
        Ok(mut entry) => entry.read_to_end(&mut bytes).map_err(io)?,
        Err(ZipError::FileNotFound) => {
            return Err(NpzError::MissingArray {
                path: path.to_path_buf(),
                array: name,
            })
        }
        Err(e) => return Err(io(e.into())),
    };
    if let Some(claimed) = npy_header_end(&bytes).filter(|&end| end > bytes.len() as u64) {
        return Err(NpzError::Truncated {
            path: path.to_path_buf(),
            array: name,
            claimed,
            available: bytes.len() as u64,
        });
    }
    NpyFile::new(std::io::Cursor::new(bytes)).map_err(io)
}

/// Where the header of the `.npy` file `bytes` ends by its own length field (format 1.0:
/// a `u16` after 8 bytes; 2.0 and 3.0: a `u32`), if it has one to read.
fn npy_header_end(bytes: &[u8]) -> Option<u64> {
    let field = |len: usize| bytes.get(8..8 + len);
    match bytes.get(6)? {
        1 => field(2).map(|b| 10 + u64::from(u16::from_le_bytes([b[0], b[1]]))),
        2 | 3 => field(4).map(|b| 12 + u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        _ => None,
    }
}

fn check_layout<R: Read>(
    path: &Path,
    a: &NpyFile<R>,
    name: &'static str,
    ok: bool,
    expected: &'static str,
) -> Result<(), NpzError> {
    let fortran_order = a.order() == Order::Fortran;
    // A shape whose product overflows would make npyz count its values modulo 2⁶⁴.
    let fits = a
        .shape()
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .is_some_and(|n| usize::try_from(n).is_ok());
    if ok && fits && !fortran_order && a.shape().iter().all(|&d| d > 0) {
        return Ok(());
    }
    Err(NpzError::Shape {
        path: path.to_path_buf(),
        array: name,
        found: a.shape().to_vec(),
        fortran_order,
        expected,
    })
}

/// Scalar kind and byte size of a plain (non-record) dtype.
fn plain_kind(dtype: &DType) -> Option<(TypeChar, u64)> {
    match dtype {
        DType::Plain(t) => Some((t.type_char(), t.size_field())),
        _ => None,
    }
}

fn dtype_err<R: Read>(
    path: &Path,
    name: &'static str,
    a: &NpyFile<R>,
    expected: &'static str,
) -> NpzError {
    NpzError::Dtype {
        path: path.to_path_buf(),
        array: name,
        found: a.dtype().descr(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::npz::NpzWriter;
    use npyz::WriterBuilder;

    /// One array to put in a test `.npz`.
    enum A {
        F32(Vec<u64>, Vec<f32>),
        F64(Vec<u64>, Vec<f64>),
        I64(Vec<u64>, Vec<i64>),
        I32(Vec<u64>, Vec<i32>),
        U8(Vec<u64>, Vec<u8>),
        I8(Vec<u64>, Vec<i8>),
        I16(Vec<u64>, Vec<i16>),
        U16(Vec<u64>, Vec<u16>),
        U32(Vec<u64>, Vec<u32>),
        U64(Vec<u64>, Vec<u64>),
        FortranF32(Vec<u64>, Vec<f32>),
    }

    fn put<T: npyz::AutoSerialize + Copy, W: std::io::Write + std::io::Seek>(
        npz: &mut NpzWriter<W>,
        name: &str,
        shape: &[u64],
        data: &[T],
        order: Order,
    ) {
        let mut w = npz
            .array(name, Default::default())
            .unwrap()
            .default_dtype()
            .shape(shape)
            .order(order)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }

    fn write(dir: &Path, arrays: &[(&str, A)]) -> PathBuf {
        let path = dir.join("set.npz");
        let mut npz = NpzWriter::create(&path).unwrap();
        for (name, a) in arrays {
            match a {
                A::F32(s, d) => put(&mut npz, name, s, d, Order::C),
                A::F64(s, d) => put(&mut npz, name, s, d, Order::C),
                A::I64(s, d) => put(&mut npz, name, s, d, Order::C),
                A::I32(s, d) => put(&mut npz, name, s, d, Order::C),
                A::U8(s, d) => put(&mut npz, name, s, d, Order::C),
                A::I8(s, d) => put(&mut npz, name, s, d, Order::C),
                A::I16(s, d) => put(&mut npz, name, s, d, Order::C),
                A::U16(s, d) => put(&mut npz, name, s, d, Order::C),
                A::U32(s, d) => put(&mut npz, name, s, d, Order::C),
                A::U64(s, d) => put(&mut npz, name, s, d, Order::C),
                A::FortranF32(s, d) => put(&mut npz, name, s, d, Order::Fortran),
            }
        }
        drop(npz);
        path
    }

    fn x4() -> A {
        A::F32(vec![4, 1, 2], vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    }

    fn y4() -> A {
        A::I64(vec![4], vec![2, 0, 1, 2])
    }

    fn load(arrays: &[(&str, A)], n_classes: Option<usize>) -> Result<Dataset, NpzError> {
        let dir = tempfile::tempdir().unwrap();
        load_npz(&write(dir.path(), arrays), n_classes)
    }

    #[test]
    fn loads_every_accepted_dtype() {
        let ds = load(&[("x", x4()), ("y", y4())], None).unwrap();
        assert_eq!(
            (ds.len(), ds.sample_shape(), ds.n_classes()),
            (4, &[1, 2][..], Some(3))
        );
        assert_eq!(ds.x()[..3], [0.0, 0.5, 1.0]);
        assert_eq!(ds.labels(), Some(&[2, 0, 1, 2][..]));
        assert_eq!(ds.info().name, "set");
        let ys = [
            A::I32(vec![4], vec![2, 0, 1, 2]),
            A::U8(vec![4], vec![2, 0, 1, 2]),
            A::I8(vec![4], vec![2, 0, 1, 2]),
            A::I16(vec![4], vec![2, 0, 1, 2]),
            A::U16(vec![4], vec![2, 0, 1, 2]),
            A::U32(vec![4], vec![2, 0, 1, 2]),
            A::U64(vec![4], vec![2, 0, 1, 2]),
            A::I64(vec![4, 1], vec![2, 0, 1, 2]),
        ];
        for y in ys {
            let x = A::F64(vec![4, 2], vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]);
            let other = load(&[("y", y), ("x", x)], Some(5)).unwrap();
            assert_eq!((other.x(), other.labels()), (ds.x(), ds.labels()));
            assert_eq!(
                (other.sample_shape(), other.n_classes()),
                (&[2][..], Some(5))
            );
        }
    }

    #[test]
    fn missing_arrays_are_named() {
        let err = load(&[("y", y4())], None).unwrap_err();
        assert!(
            matches!(err, NpzError::MissingArray { array: "x", .. }),
            "{err}"
        );
        let err = load(&[("x", x4()), ("labels", y4())], None).unwrap_err();
        assert!(
            matches!(err, NpzError::MissingArray { array: "y", .. }),
            "{err}"
        );
    }

    #[test]
    fn wrong_dtypes_are_named() {
        let err = load(&[("x", A::I64(vec![4, 2], vec![0; 8])), ("y", y4())], None).unwrap_err();
        assert!(
            matches!(&err, NpzError::Dtype { array: "x", found, .. } if found == "'<i8'"),
            "{err}"
        );
        let err = load(&[("x", x4()), ("y", A::F32(vec![4], vec![0.0; 4]))], None).unwrap_err();
        assert!(matches!(err, NpzError::Dtype { array: "y", .. }), "{err}");
    }

    #[test]
    fn wrong_shapes_and_counts_are_errors() {
        let err = load(&[("x", x4()), ("y", A::I64(vec![2, 2], vec![0; 4]))], None).unwrap_err();
        assert!(
            matches!(&err, NpzError::Shape { array: "y", found, .. } if found == &[2, 2]),
            "{err}"
        );
        let err = load(&[("x", x4()), ("y", A::I64(vec![3], vec![0; 3]))], None).unwrap_err();
        assert!(
            matches!(err, NpzError::CountMismatch { n_x: 4, n_y: 3, .. }),
            "{err}"
        );
        let err = load(
            &[
                ("x", A::F32(vec![0, 2], vec![])),
                ("y", A::I64(vec![0], vec![])),
            ],
            None,
        )
        .unwrap_err();
        assert!(matches!(err, NpzError::Shape { array: "x", .. }), "{err}");
        let err = load(&[("x", A::F32(vec![], vec![1.0])), ("y", y4())], None).unwrap_err();
        assert!(matches!(err, NpzError::Shape { array: "x", .. }), "{err}");
        let err = load(
            &[("x", A::FortranF32(vec![4, 2], vec![0.0; 8])), ("y", y4())],
            None,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                NpzError::Shape {
                    array: "x",
                    fortran_order: true,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn labels_outside_the_classes_are_errors() {
        let err = load(
            &[("x", x4()), ("y", A::I64(vec![4], vec![0, 1, -1, 2]))],
            None,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                NpzError::NegativeLabel {
                    index: 2,
                    label: -1,
                    ..
                }
            ),
            "{err}"
        );
        let err = load(&[("x", x4()), ("y", y4())], Some(2)).unwrap_err();
        assert!(
            matches!(
                err,
                NpzError::Label {
                    index: 0,
                    label: 2,
                    n_classes: 2,
                    ..
                }
            ),
            "{err}"
        );
        let huge = A::U64(vec![4], vec![0, 1, u64::MAX, 2]);
        let err = load(&[("x", x4()), ("y", huge)], None).unwrap_err();
        assert!(
            matches!(
                err,
                NpzError::HugeLabel {
                    index: 2,
                    label: u64::MAX,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("18446744073709551615"), "{err}");
        for y in [A::I64(vec![4, 2], vec![0; 8]), A::I64(vec![], vec![1])] {
            let err = load(&[("x", x4()), ("y", y)], None).unwrap_err();
            assert!(matches!(err, NpzError::Shape { array: "y", .. }), "{err}");
        }
    }

    #[test]
    fn non_finite_inputs_are_errors() {
        for bad in [f64::NAN, f64::INFINITY, 1e300] {
            let mut x = vec![0.0; 8];
            x[5] = bad;
            let err = load(&[("x", A::F64(vec![4, 2], x)), ("y", y4())], None).unwrap_err();
            assert!(matches!(err, NpzError::NonFinite { index: 5, .. }), "{err}");
        }
    }

    #[test]
    fn missing_and_foreign_files_are_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_npz(&dir.path().join("absent.npz"), None).unwrap_err();
        assert!(
            matches!(err, NpzError::Io { .. }) && err.to_string().contains("absent.npz"),
            "{err}"
        );
        let path = dir.path().join("text.npz");
        std::fs::write(&path, "x,y\n1,2\n").unwrap();
        assert!(matches!(load_npz(&path, None), Err(NpzError::Io { .. })));
        let good = write(dir.path(), &[("x", x4()), ("y", y4())]);
        let bytes = std::fs::read(&good).unwrap();
        std::fs::write(&good, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(load_npz(&good, None), Err(NpzError::Io { .. })));
    }

    /// A `.npy` file: format 1.0 header for `descr` and `shape` (Python tuple syntax), then
    /// `data`, whatever its length.
    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.bytes());
        out.extend(data);
        out
    }

    #[test]
    fn data_shorter_than_its_header_names_the_array() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.npz");
        let mut zip = npyz::zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        // x claims 5 samples of 2 values but holds 4; y is whole.
        let y: Vec<u8> = [0i64, 1, 0, 1, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        for (name, descr, shape, data) in [
            ("x.npy", "<f4", "(5, 2)", vec![0u8; 32]),
            ("y.npy", "<i8", "(5,)", y),
        ] {
            zip.start_file(name, Default::default()).unwrap();
            zip.write_all(&npy(descr, shape, &data)).unwrap();
        }
        zip.finish().unwrap();
        let err = load_npz(&path, None).unwrap_err();
        let source = std::error::Error::source(&err).map(|e| e.to_string());
        assert!(
            matches!(&err, NpzError::Io { what, .. } if what.contains("array `x`"))
                && err.to_string().contains("short.npz"),
            "{err}: {source:?}"
        );
    }

    #[test]
    fn a_header_longer_than_its_entry_is_refused_before_allocating() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.npz");
        let mut zip = npyz::zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        // Format 3.0: a u32 header length, here 662 MB, on an entry of 20 bytes.
        let mut npy = b"\x93NUMPY\x03\x00".to_vec();
        npy.extend(662_372_470u32.to_le_bytes());
        npy.extend(b"{'descr'");
        zip.start_file("x.npy", Default::default()).unwrap();
        zip.write_all(&npy).unwrap();
        zip.finish().unwrap();
        let err = load_npz(&path, None).unwrap_err();
        assert!(
            matches!(
                err,
                NpzError::Truncated {
                    array: "x",
                    claimed: 662_372_482,
                    available: 20,
                    ..
                }
            ),
            "{err}"
        );
    }
}
