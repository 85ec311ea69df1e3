//! Checkpoint error messages as the binary prints them: every cause once, the field at fault
//! named, and descriptive fields that never block loading.

mod common;

use common::chain;
use curvscope_model::checkpoint::{META_FILE, MODEL_FILE};
use curvscope_model::{
    load_checkpoint, save_checkpoint, ArchSpec, CheckpointError, CheckpointMeta, Dtype,
};

#[test]
fn causes_are_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(MODEL_FILE);
    std::fs::write(dir.path().join(META_FILE), r#"{"arch":{"name":"toy2d"}}"#).unwrap();
    std::fs::write(&path, u64::MAX.to_le_bytes()).unwrap();
    let msg = chain(&load_checkpoint(dir.path()).unwrap_err());
    assert_eq!(msg.matches("header too large").count(), 1, "{msg}");
    assert!(msg.starts_with(&*path.to_string_lossy()), "{msg}");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap(); // a folder where the file should be
    let msg = chain(&load_checkpoint(dir.path()).unwrap_err());
    assert_eq!(msg.matches("(os error").count(), 1, "{msg}");
}

#[test]
fn json_errors_name_the_field_and_free_text_dataset_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    save_checkpoint(
        dir.path(),
        &CheckpointMeta::new(ArchSpec::Toy2d),
        &[1.0, 2.0],
        Dtype::F64,
    )
    .unwrap();
    let meta_path = dir.path().join(META_FILE);
    for (json, field) in [
        (r#"{"arch":{"name":"toy2d"},"seed":-1}"#, "field `seed`"),
        (
            r#"{"arch":{"name":"toy2d"},"batch_size":"20"}"#,
            "field `batch_size`",
        ),
        (
            r#"{"arch":{"name":"mlp","input":2,"hidden":[0],"classes":2,"activation":"relu"}}"#,
            "`hidden[0]` is 0",
        ),
        (r#"{"step":3}"#, "missing field `arch`"),
        // curvscope's record of the data, malformed: not free text (its labels check skipped).
        (
            r#"{"arch":{"name":"toy2d"},"dataset":{"name":"d","n":5,"seed":"5"}}"#,
            "field `dataset.seed`: invalid type: string \"5\"",
        ),
        (
            r#"{"arch":{"name":"toy2d"},"dataset":{"name":"d","n":50.0}}"#,
            "field `dataset.n`",
        ),
    ] {
        std::fs::write(&meta_path, json).unwrap();
        let err = load_checkpoint(dir.path()).unwrap_err();
        let msg = chain(&err);
        assert!(
            matches!(err, CheckpointError::Json { .. }) && msg.contains(field),
            "{msg}"
        );
    }
    let json = r#"{"arch":{"name":"toy2d"},"dataset":"CIFAR-10 train","data":"d.npz"}"#;
    std::fs::write(&meta_path, json).unwrap();
    let ckpt = load_checkpoint(dir.path()).unwrap();
    assert_eq!(
        (ckpt.meta.dataset.as_ref(), &ckpt.theta[..]),
        (None, &[1.0, 2.0][..])
    );
    assert_eq!(ckpt.meta.extra["dataset"], "CIFAR-10 train");
    // Written back unchanged.
    save_checkpoint(dir.path(), &ckpt.meta, &ckpt.theta, Dtype::F64).unwrap();
    let again: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    assert_eq!(
        again,
        serde_json::from_str::<serde_json::Value>(json).unwrap()
    );
    assert_eq!(load_checkpoint(dir.path()).unwrap().meta, ckpt.meta);
}
