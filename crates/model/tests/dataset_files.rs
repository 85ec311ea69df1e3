//! The dataset readers on files in the exact formats of CIFAR-10's python batches and SVHN's
//! `.mat` files (tests/data/datasets, made by tools/make_data_fixtures.py with numpy and
//! scipy), checked value by value against what torchvision reads from the same files.

use std::path::{Path, PathBuf};

use curvscope_model::cifar::{load_cifar10_python, load_cifar10_python_dir};
use curvscope_model::svhn::load_svhn_mat;
use curvscope_model::{Dataset, Normalize};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/datasets")
        .join(name)
}

/// Array `name` of expected.npz, read independently of our loaders.
fn expected<T: npyz::Deserialize>(name: &str) -> Vec<T> {
    let mut npz = npyz::npz::NpzArchive::open(fixture("expected.npz")).unwrap();
    npz.by_name(name).unwrap().unwrap().into_vec().unwrap()
}

/// torchvision's `ToTensor` of uint8 pixels, in f32.
fn to_tensor(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&p| p as f32 / 255.0).collect()
}

fn assert_matches(data: &Dataset, x: &str, y: &str) {
    assert_eq!(data.sample_shape(), [3, 32, 32]);
    assert_eq!(data.x(), to_tensor(&expected::<u8>(x)));
    assert_eq!(data.labels().unwrap(), expected::<i64>(y));
    assert_eq!(data.n_classes(), Some(10));
}

#[test]
fn cifar10_python_batches_read_like_torchvision() {
    for file in ["cifar10_py2_batch", "cifar10_py3_batch"] {
        let data = load_cifar10_python(&fixture(file)).unwrap();
        assert_matches(&data, "cifar_x", "cifar_y");
        assert_eq!(data.info().name, format!("CIFAR-10 {file}"));
    }
}

#[test]
fn a_cifar10_batches_py_folder_is_its_data_batches_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_cifar10_python_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("no data_batch_* files"), "{err}");
    // Batch 2 is the Python 3 re-pickle, batch 1 the Python 2 file; test_batch is not training data.
    for (file, name) in [
        ("cifar10_py3_batch", "data_batch_2"),
        ("cifar10_py2_batch", "data_batch_1"),
        ("cifar10_py2_batch", "test_batch"),
    ] {
        std::fs::copy(fixture(file), dir.path().join(name)).unwrap();
    }
    let data = load_cifar10_python_dir(dir.path()).unwrap();
    let one = load_cifar10_python(&fixture("cifar10_py2_batch")).unwrap();
    assert_eq!(data.len(), 8);
    assert_eq!(data.x(), [one.x(), one.x()].concat());
    assert_eq!(data.labels().unwrap(), [3, 9, 0, 7, 3, 9, 0, 7]);
}

/// A batch whose `data` claims 2⁵⁴ + 4 rows of 3072 bytes and holds 4: N·3072 wraps around
/// to the 12,288 bytes there are, and must be refused, not read as 4 images.
#[test]
fn a_cifar10_shape_whose_size_overflows_is_refused_naming_the_file() {
    let bytes = std::fs::read(fixture("cifar10_py2_batch")).unwrap();
    // Protocol 2's shape (4, 3072): BININT1 4, BININT2 3072, TUPLE2.
    let shape = b"K\x04M\x00\x0c\x86";
    let at = bytes.windows(shape.len()).position(|w| w == shape).unwrap();
    let rows: i64 = 4 + (1 << 54);
    assert_eq!(rows.wrapping_mul(3072), 4 * 3072);
    let long1 = [&[0x8a, 8][..], &rows.to_le_bytes()].concat();
    let forged = [&bytes[..at], &long1, &bytes[at + 2..]].concat();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data_batch_1");
    std::fs::write(&file, forged).unwrap();
    let err = load_cifar10_python(&file).unwrap_err().to_string();
    assert!(
        err.contains("data_batch_1")
            && err.contains("shape [18014398509481988, 3072] but 12288 bytes"),
        "{err}"
    );
}

/// An SVHN file whose 'y' has dimensions [−1, −4]: matfile checks their i32 product (4, the
/// labels there are) and hands them on sign-extended, whose usize product wraps to 4 too.
#[test]
fn an_svhn_label_size_that_overflows_is_refused_naming_the_file() {
    let bytes = std::fs::read(fixture("svhn_plain.mat")).unwrap();
    // 'y''s dimensions subelement: miINT32, 8 bytes, [4, 1].
    let dims = |d: [i32; 2]| [5, 8, d[0], d[1]].map(i32::to_le_bytes).concat();
    let at = bytes.windows(16).position(|w| w == dims([4, 1])).unwrap();
    let forged = [&bytes[..at], &dims([-1, -4]), &bytes[at + 16..]].concat();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("forged.mat");
    std::fs::write(&file, forged).unwrap();
    let err = load_svhn_mat(&file).unwrap_err().to_string();
    assert!(
        err.contains("forged.mat") && err.contains("'X' holds 4 images but 'y' has size"),
        "{err}"
    );
}

#[test]
fn svhn_mat_files_read_like_torchvision_with_10_as_digit_0() {
    for file in ["svhn_32x32.mat", "svhn_plain.mat"] {
        let data = load_svhn_mat(&fixture(file)).unwrap();
        assert_matches(&data, "svhn_x", "svhn_y");
        assert_eq!(data.labels().unwrap(), [0, 1, 9, 0]);
    }
}

#[test]
fn normalisation_equals_torchvision_normalize_bit_for_bit() {
    // tools/make_data_fixtures.py's NORM_MEAN and NORM_STD.
    let norm = Normalize {
        mean: vec![0.4914, 0.4822, 0.4465],
        std: vec![0.2470, 0.2435, 0.2616],
    };
    let data = load_cifar10_python(&fixture("cifar10_py2_batch"))
        .unwrap()
        .slice(0..2)
        .normalized(&norm)
        .unwrap();
    assert_eq!(data.x(), expected::<f32>("cifar_x_normalized"));
    assert_eq!(data.labels().unwrap(), &expected::<i64>("cifar_y")[..2]);
}

/// `file` in a temporary folder holding `bytes`.
fn write(dir: &tempfile::TempDir, file: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(file);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn damaged_or_foreign_files_are_refused_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let batch = std::fs::read(fixture("cifar10_py2_batch")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "cut_batch",
            batch[..batch.len() / 2].to_vec(),
            "not a pickled CIFAR-10 python batch",
        ),
        (
            "text_batch",
            b"label,pixels\n".to_vec(),
            "not a pickled CIFAR-10 python batch",
        ),
        // The key b'labels' renamed b'labelz': a batch of another data set.
        (
            "renamed",
            replace(&batch, b"labels", b"labelz"),
            "no 'labels' entry",
        ),
        // A label byte of BININT1 3 changed to 12.
        (
            "label_12",
            replace(&batch, b"K\x03K\x09", b"K\x0cK\x09"),
            "'labels'[0] = 12 is not a CIFAR-10 class",
        ),
        // The array's column count 3072 (BININT2 00 0c) changed to 3071.
        (
            "cols",
            replace(&batch, b"M\x00\x0c", b"M\xff\x0b"),
            "shape [4, 3071]",
        ),
    ];
    for (name, bytes, message) in cases {
        let err = load_cifar10_python(&write(&dir, name, &bytes))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(message), "{err}");
    }
    let mat = std::fs::read(fixture("svhn_plain.mat")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "cut.mat",
            mat[..mat.len() / 2].to_vec(),
            "truncated or damaged",
        ),
        ("text.mat", b"X,y\n".to_vec(), "not a MATLAB v5 .mat file"),
        (
            "hdf5.mat",
            b"MATLAB 7.3 MAT-file, Platform: GLNXA64".to_vec(),
            "MATLAB v7.3 (HDF5)",
        ),
        // Array names are stored padded to 8 bytes: "X\0\0\0" → "Z\0\0\0".
        (
            "noX.mat",
            replace(&mat, b"X\0\0\0", b"Z\0\0\0"),
            "no numeric array 'X'",
        ),
        // The double label 9.0 (0x4022000000000000) changed to 11.0 (0x4026…).
        (
            "label11.mat",
            replace(&mat, &9f64.to_le_bytes(), &11f64.to_le_bytes()),
            "label 11 of sample 2",
        ),
    ];
    for (name, bytes, message) in cases {
        let err = load_svhn_mat(&write(&dir, name, &bytes))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(message), "{err}");
    }
    // Well-formed files (scipy wrote them) that hold no SVHN set.
    for (name, message) in [
        (
            "svhn_no_channels.mat",
            "'X' of size [32, 32, 0, 4] holds 0 values",
        ),
        ("svhn_complex_y.mat", "'y': complex double, expected real"),
    ] {
        let err = load_svhn_mat(&fixture(name)).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(message), "{err}");
    }
}

/// `bytes` with the first occurrence of `from` replaced by `to` (of the same length).
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}
