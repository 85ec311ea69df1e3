//! The PyTorch LeNet fixture (tests/data/lenet-pytorch) read through our loaders.

use std::path::{Path, PathBuf};

use curvscope_model::{
    default_data_dir, fashion_test, load_checkpoint, load_npz, ArchSpec, BurnObjective, Cpu, Dtype,
    Objective, Precision,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lenet-pytorch")
}

/// A float64 array from `expected.npz`, read independently of our loaders.
fn expected(name: &str) -> (Vec<u64>, Vec<f64>) {
    let mut npz = npyz::npz::NpzArchive::open(fixture().join("expected.npz")).unwrap();
    let arr = npz.by_name(name).unwrap().unwrap();
    (arr.shape().to_vec(), arr.into_vec::<f64>().unwrap())
}

#[test]
fn checkpoint_theta_equals_pytorch_state_dict_exactly() {
    let ckpt = load_checkpoint(&fixture()).unwrap();
    assert_eq!(ckpt.meta.arch, ArchSpec::Lenet);
    assert_eq!((ckpt.meta.step, ckpt.meta.seed), (Some(0), Some(123)));
    assert!(
        ckpt.meta.extra.contains_key("note"),
        "unknown fields are kept"
    );
    assert_eq!(ckpt.dtype, Dtype::F32);
    let (shape, theta) = expected("theta");
    assert_eq!(shape, [11_330]);
    // f32 → f64 widening is exact, so the comparison is exact.
    assert_eq!(ckpt.theta, theta);
}

#[test]
fn data_npz_is_the_first_16_test_images_of_our_bundled_data() {
    let ds = load_npz(&fixture().join("data.npz"), Some(10)).unwrap();
    assert_eq!(
        (ds.len(), ds.sample_shape(), ds.n_classes()),
        (16, &[1, 28, 28][..], Some(10))
    );
    assert_eq!(ds.x().len(), 16 * 784);
    // PyTorch divided the same bytes by 255 in f32: our Fashion-MNIST loader agrees bit for bit.
    let ours = fashion_test(&default_data_dir(), 16).unwrap();
    assert_eq!(ds.x(), ours.x());
    assert_eq!(ds.labels(), ours.labels());
}

fn rel_err(ours: &[f64], reference: &[f64]) -> f64 {
    let diff: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    diff / reference.iter().map(|b| b * b).sum::<f64>().sqrt()
}

/// Logits, loss, gradient and exact H·v of our burn LeNet (f64) against PyTorch's float64
/// values on the same weights and images.
#[test]
fn lenet_matches_pytorch_float64_reference() {
    let ckpt = load_checkpoint(&fixture()).unwrap();
    let data = load_npz(&fixture().join("data.npz"), Some(10)).unwrap();
    let obj = BurnObjective::<Cpu>::new(ckpt.meta.arch, &data, &Default::default(), Precision::F64)
        .unwrap();
    let theta = &ckpt.theta;
    let checks = [
        ("logits", obj.logits(theta)),
        ("loss", vec![obj.loss(theta)]),
        ("grad", obj.grad(theta)),
        ("hvp", obj.hvp(theta, &expected("v").1)),
    ];
    for (name, ours) in checks {
        let err = rel_err(&ours, &expected(name).1);
        assert!(err < 1e-10, "{name}: rel. err {err:e} against PyTorch");
    }
}
