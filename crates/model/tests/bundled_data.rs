//! The bundled data in the workspace's data/ folder: integrity, the copies compiled into the
//! binary, and the loaders built on them.

use std::io::Read;
use std::path::{Path, PathBuf};

use curvscope_model::{
    default_data_dir, digits, fashion_corrupted, fashion_test, fashion_train, labels_sha256,
    DataDir, DataError,
};
use sha2::{Digest, Sha256};

/// The workspace's data/ folder, the source of the embedded copies.
fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

fn decompressed_sha256(rel: &str) -> String {
    let raw = std::fs::read(source_dir().join(rel)).unwrap();
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut bytes)
        .unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn bundled_idx_files_match_the_hashes_in_data_readme() {
    // The t10k hashes are also those of the upstream release (data/fashion-mnist/README.md).
    let expected = [
        (
            "train-6k-images-idx3-ubyte.gz",
            "6dded81672539b5d148c1a85358069d1808c316dc6f6c0abfd12ba3ced5dd394",
        ),
        (
            "train-6k-labels-idx1-ubyte.gz",
            "d7c464914ae4b919728c5c99c3cdde5a0259febf1e99ddc6927a15768731d7dc",
        ),
        (
            "t10k-images-idx3-ubyte.gz",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        (
            "t10k-labels-idx1-ubyte.gz",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    ];
    let readme = std::fs::read_to_string(source_dir().join("fashion-mnist/README.md")).unwrap();
    for (file, hash) in expected {
        assert!(readme.contains(hash), "README lists {file}");
        assert_eq!(
            decompressed_sha256(&format!("fashion-mnist/{file}")),
            hash,
            "{file}"
        );
    }
}

#[test]
fn fashion_loaders_give_the_upstream_first_labels_and_scaled_pixels() {
    let dir = default_data_dir();
    let train = fashion_train(&dir, 6000).unwrap();
    let test = fashion_test(&dir, 10_000).unwrap();
    // First labels as listed by the upstream README.
    assert_eq!(
        train.labels().unwrap()[..10],
        [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    );
    assert_eq!(test.labels().unwrap()[..10], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    // Test set: exactly 1,000 per class.
    for c in 0..10 {
        assert_eq!(
            test.labels().unwrap().iter().filter(|&&l| l == c).count(),
            1000
        );
    }
    for ds in [&train, &test] {
        assert_eq!(
            (ds.sample_shape(), ds.n_classes()),
            (&[1, 28, 28][..], Some(10))
        );
        assert!(ds.x().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(ds.x().contains(&1.0) && ds.x().contains(&0.0));
    }
    let head = fashion_train(&dir, 50).unwrap();
    assert_eq!(
        (head.x(), head.labels()),
        (train.slice(0..50).x(), train.slice(0..50).labels())
    );
    assert_eq!(head.info().name, "fashion-mnist-train[0..50]");
}

#[test]
fn asking_for_more_than_bundled_or_a_wrong_folder_is_an_error() {
    let err = fashion_train(&default_data_dir(), 6001).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::NotEnough {
                requested: 6001,
                available: 6000,
                ..
            }
        ),
        "{err}"
    );
    let err = fashion_test(&DataDir::Folder("/nonexistent".into()), 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/fashion-mnist/t10k-images-idx3-ubyte.gz"),
        "{err}"
    );
    let err = digits(&DataDir::Folder("/nonexistent".into())).unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/digits/digits.csv.gz"),
        "{err}"
    );
}

/// The datasets compiled into the binary are those read from data/, value for value, so a
/// copied binary and `$CURVSCOPE_DATA_DIR` give the same numbers.
#[test]
fn embedded_data_is_the_data_folder() {
    let (embedded, folder) = (DataDir::Embedded, DataDir::Folder(source_dir()));
    assert_eq!(
        fashion_train(&embedded, 6000).unwrap(),
        fashion_train(&folder, 6000).unwrap()
    );
    assert_eq!(
        fashion_test(&embedded, 10_000).unwrap(),
        fashion_test(&folder, 10_000).unwrap()
    );
    assert_eq!(digits(&embedded).unwrap(), digits(&folder).unwrap());
    let err = fashion_train(&embedded, 6001).unwrap_err().to_string();
    assert!(
        err.contains("<built-in data>/fashion-mnist/train-6k-images-idx3-ubyte.gz"),
        "{err}"
    );
}

/// θ₀ (`ArchSpec::init`) draws on stream 0 of its seed: with `--seed` = `--data-seed` (the
/// default) the random labels were those same numbers binned into 0..10. They now draw on the
/// data's own stream, and 200 labels agree with the stream-0 binning only by chance (≈ 20).
#[test]
fn random_labels_are_not_the_numbers_theta0_draws() {
    use rand::{Rng, SeedableRng};
    let ds = fashion_corrupted(&default_data_dir(), 1000, 200, 0).unwrap();
    let mut init_stream = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let same = ds.labels().unwrap()[1000..]
        .iter()
        .filter(|&&l| l == init_stream.random_range(0..10))
        .count();
    // Binomial(200, 0.1): mean 20, standard deviation √18.
    assert!(
        (same as f64 - 20.0).abs() < 4.0 * 18f64.sqrt(),
        "{same} of 200 agree"
    );
}

#[test]
fn corrupted_set_keeps_images_and_first_labels_and_randomises_the_rest() {
    let dir = default_data_dir();
    let clean = fashion_train(&dir, 1200).unwrap();
    let ds = fashion_corrupted(&dir, 1000, 200, 11).unwrap();
    let (labels, truth) = (ds.labels().unwrap(), clean.labels().unwrap());
    assert_eq!((ds.len(), ds.x()), (1200, clean.x()));
    assert_eq!(labels[..1000], truth[..1000]);
    assert!(labels[1000..].iter().all(|l| (0..10).contains(l)));
    // A uniform label equals the true one with probability 1/10: the number that differ is
    // Binomial(200, 0.9), mean 180, standard deviation √18.
    let changed = (1000..1200).filter(|&i| labels[i] != truth[i]).count() as f64;
    assert!(
        (changed - 180.0).abs() < 4.0 * 18f64.sqrt(),
        "{changed} labels changed"
    );
    // Every class shows up among 200 uniform draws (P(a class is absent) ≈ 10·0.9²⁰⁰ ≈ 7e-9).
    assert!((0..10).all(|c| labels[1000..].contains(&c)));
    let info = ds.info();
    assert_eq!((info.seed, info.n), (Some(11), 1200));
    assert_eq!(
        info.labels_sha256.as_deref(),
        Some(labels_sha256(labels).as_str())
    );
    assert_eq!(fashion_corrupted(&dir, 1000, 200, 11).unwrap(), ds);
    let other = fashion_corrupted(&dir, 1000, 200, 12).unwrap();
    assert_ne!(other.info().labels_sha256, info.labels_sha256);
    let json = serde_json::to_string(info).unwrap();
    assert_eq!(
        &serde_json::from_str::<curvscope_model::DatasetInfo>(&json).unwrap(),
        info
    );
}

#[test]
fn digits_match_the_documented_class_counts() {
    let ds = digits(&default_data_dir()).unwrap();
    assert_eq!(
        (ds.len(), ds.sample_shape(), ds.n_classes()),
        (1797, &[1, 8, 8][..], Some(10))
    );
    let counts: Vec<usize> = (0..10)
        .map(|c| ds.labels().unwrap().iter().filter(|&&l| l == c).count())
        .collect();
    // From data/digits/README.md.
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    assert!(ds.x().iter().all(|v| (0.0..=1.0).contains(v)) && ds.x().contains(&1.0));
}
