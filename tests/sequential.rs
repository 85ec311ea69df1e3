//! `sequential` networks end to end: the PyTorch-exported fixture and the vgg11 preset through
//! `curvscope analyze` and `info`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use curvscope_model::cifar::{load_cifar10_bin, load_cifar10_python};
use curvscope_model::svhn::load_svhn_mat;
use curvscope_model::{
    save_checkpoint, ArchSpec, BurnObjective, CheckpointMeta, Cpu, Dataset, Dtype, Init, Normalize,
    Precision,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;

fn curvscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn succeed(args: &[&str]) -> String {
    let out = curvscope(args);
    assert!(
        out.status.success(),
        "curvscope {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// The one row of `metrics.csv` in `analysis`, as (column, value).
fn metrics(analysis: &Path) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_path(analysis.join("metrics.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "one checkpoint analyzed");
    header
        .into_iter()
        .zip(rows[0].iter().map(String::from))
        .collect()
}

fn value(metrics: &[(String, String)], column: &str) -> f64 {
    let (_, v) = metrics
        .iter()
        .find(|(c, _)| c == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    v.parse()
        .unwrap_or_else(|_| panic!("{column} = {v} is not a number"))
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/data/sequential-pytorch")
}

/// The checkpoint tools/export_pytorch.py wrote (every layer kind, batch norm included) is
/// analyzed like a built-in one, and its loss is PyTorch's.
#[test]
fn analyze_reads_a_pytorch_exported_sequential_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = fixture().join("data.npz");
    let out = tmp.path().join("analysis");
    let before = common::files(&fixture());
    succeed(&[
        "analyze",
        path(&fixture()),
        "--data",
        path(&data),
        "-k",
        "3",
        "--samples",
        "20",
        "--out",
        path(&out),
        "--quiet",
    ]);
    assert!(
        common::files(&fixture()) == before,
        "the committed fixture was written to"
    );
    let m = metrics(&out);
    assert_eq!(value(&m, "n_params"), 760.0);
    // PyTorch's float64 loss on these weights and images (tools/make_sequential_fixture.py).
    let loss = value(&m, "loss");
    assert!((loss - 1.867836).abs() < 1e-6, "loss {loss}");
    assert!(value(&m, "lambda_1") > 0.0);
    let info = succeed(&["info", path(&fixture()), "--data", path(&data)]);
    assert!(info.contains("sequential [3, 16, 16]"), "{info}");
}

/// VGG-11 (no batch norm, D = 9,225,610) on a few CIFAR-shaped images: `analyze` runs end to
/// end with top-k, exact Tr(H), stochastic Tr(HΣ) and sharpness. Tiny N and loose Lanczos
/// settings keep it a test of the plumbing at this size; the values are checked for sanity.
#[test]
fn vgg11_preset_is_analyzed_on_cifar_shaped_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, classes) = (3, 10);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x: Vec<f32> = (0..n * 3 * 32 * 32)
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let y: Vec<i64> = (0..n).map(|_| rng.random_range(0..classes)).collect();
    let data = tmp.path().join("cifar-shaped.npz");
    common::write_npz(&data, &x, &[n as u64, 3, 32, 32], &y);
    let arch = ArchSpec::named("vgg11").unwrap();
    assert_eq!(arch.dim(), 9_225_610);
    let ckpt = tmp.path().join("vgg11");
    let theta = arch.init(Init::PyTorch, 0);
    save_checkpoint(&ckpt, &CheckpointMeta::new(arch), &theta, Dtype::F32).unwrap();
    let out = tmp.path().join("analysis");
    succeed(&[
        "analyze",
        path(&ckpt),
        "--data",
        path(&data),
        "--precision",
        "f32",
        "-k",
        "1",
        "--max-krylov",
        "4",
        "--tol",
        "0.5",
        "--no-lambda-min",
        "--trace-h-sigma-probes",
        "2",
        "--samples",
        "2",
        "--out",
        path(&out),
        "--quiet",
    ]);
    let m = metrics(&out);
    assert_eq!(value(&m, "n_params"), 9_225_610.0);
    for column in [
        "loss",
        "lambda_1",
        "trace_h",
        "trace_sigma",
        "trace_h_sigma",
    ] {
        let v = value(&m, column);
        assert!(v.is_finite(), "{column} = {v}");
    }
    // Near PyTorch's initialisation the 10 classes are nearly equally likely.
    let loss = value(&m, "loss");
    assert!((loss - (classes as f64).ln()).abs() < 0.1, "loss {loss}");
    assert!(value(&m, "trace_h") >= value(&m, "lambda_1"));
}

/// A CIFAR-10 binary batch file is read by `--data` (a small conv net on 3×32×32, `info`'s loss
/// equal to the library's on the same records).
#[test]
fn cifar10_binary_batches_are_data() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("data_batch_1.bin");
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let records: Vec<u8> = (0..4)
        .flat_map(|_| {
            let label = rng.random_range(0..10u8);
            let pixels: Vec<u8> = (0..3072).map(|_| rng.random()).collect();
            std::iter::once(label).chain(pixels)
        })
        .collect();
    std::fs::write(&file, records).unwrap();
    let (ckpt, arch, theta) = small_conv_net(tmp.path(), None);
    let data = load_cifar10_bin(&file).unwrap();
    assert_info_loss_is_the_librarys(&ckpt, &file, &arch, &theta, &data);
}

/// CIFAR-10 python batches and SVHN .mat files (the fixtures of tools/make_data_fixtures.py)
/// are data too, and checkpoint.json's `normalize` reaches the network: `info`'s loss is the
/// library's on the normalised images, not the raw ones.
#[test]
fn python_batches_svhn_files_and_normalisation_reach_the_network() {
    let tmp = tempfile::tempdir().unwrap();
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/data/datasets");
    let norm = Normalize {
        mean: vec![0.4914, 0.4822, 0.4465],
        std: vec![0.2470, 0.2435, 0.2616],
    };
    let (ckpt, arch, theta) = small_conv_net(tmp.path(), Some(norm.clone()));
    let cifar = datasets.join("cifar10_py2_batch");
    let raw = load_cifar10_python(&cifar).unwrap();
    let loss = assert_info_loss_is_the_librarys(
        &ckpt,
        &cifar,
        &arch,
        &theta,
        &raw.clone().normalized(&norm).unwrap(),
    );
    let unnormalised =
        BurnObjective::<Cpu>::new(arch.clone(), &raw, &Default::default(), Precision::F64)
            .unwrap()
            .boxed()
            .loss(&theta);
    assert_ne!(loss, unnormalised);
    // The same images stored flat, [N, 3072]: channels are the model's [3, 32, 32] first.
    let labels = raw.labels().unwrap().to_vec();
    let flat = tmp.path().join("flat.npz");
    let n = raw.len() as u64;
    common::write_npz(&flat, raw.x(), &[n, 3 * 32 * 32], &labels);
    let normalised = raw.clone().normalized(&norm).unwrap();
    assert_eq!(
        assert_info_loss_is_the_librarys(&ckpt, &flat, &arch, &theta, &normalised),
        loss
    );
    // Channels-last images are refused as such, not blamed on `normalize`.
    let last = tmp.path().join("channels-last.npz");
    common::write_npz(&last, raw.x(), &[n, 32, 32, 3], &labels);
    let out = curvscope(&["info", path(&ckpt), "--data", path(&last)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("samples are [32, 32, 3], the model takes [3, 32, 32]")
            && !stderr.contains("normalize"),
        "{stderr}"
    );
    let svhn = datasets.join("svhn_32x32.mat");
    let data = load_svhn_mat(&svhn).unwrap().normalized(&norm).unwrap();
    assert_info_loss_is_the_librarys(&ckpt, &svhn, &arch, &theta, &data);
    // `train` does not normalise: starting from such a checkpoint is refused, not silently raw.
    let out = curvscope(&[
        "train",
        "--init-from",
        path(&ckpt),
        "--data",
        path(&svhn),
        "--dynamic",
        "gd",
        "--lr",
        "0.1",
        "--batch",
        "4",
        "--steps",
        "1",
        "--out",
        path(&tmp.path().join("run")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("has a `normalize` field, which `train` does not apply"),
        "{stderr}"
    );

    // Two means for three channels: refused, naming the field.
    let (bad, ..) = small_conv_net(
        &tmp.path().join("bad"),
        Some(Normalize {
            mean: vec![0.5, 0.5],
            std: vec![0.5, 0.5],
        }),
    );
    let out = curvscope(&["info", path(&bad), "--data", path(&cifar)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("checkpoint.json's normalize")
            && stderr.contains("2 means and 2 stds for samples of shape [3, 32, 32]"),
        "{stderr}"
    );
}

/// A checkpoint in `dir`/ckpt of a small conv net on 3×32×32 images, with `normalize`.
fn small_conv_net(dir: &Path, normalize: Option<Normalize>) -> (PathBuf, ArchSpec, Vec<f64>) {
    let arch: ArchSpec = serde_json::from_str(
        r#"{"name":"sequential","input":[3,32,32],"layers":[
            {"type":"conv2d","out":2,"kernel":4,"stride":4},{"type":"relu"},
            {"type":"flatten"},{"type":"linear","out":10}]}"#,
    )
    .unwrap();
    let theta = arch.init(Init::PyTorch, 1);
    let ckpt = dir.join("ckpt");
    let meta = CheckpointMeta {
        normalize,
        ..CheckpointMeta::new(arch.clone())
    };
    save_checkpoint(&ckpt, &meta, &theta, Dtype::F64).unwrap();
    (ckpt, arch, theta)
}

/// `info --data file` on `ckpt` gives exactly the library's loss on `data`; returns it.
fn assert_info_loss_is_the_librarys(
    ckpt: &Path,
    file: &Path,
    arch: &ArchSpec,
    theta: &[f64],
    data: &Dataset,
) -> f64 {
    let info = succeed(&["info", path(ckpt), "--data", path(file), "--json"]);
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    let obj = BurnObjective::<Cpu>::new(arch.clone(), data, &Default::default(), Precision::F64)
        .unwrap()
        .boxed();
    let loss = obj.loss(theta);
    assert_eq!(info["evaluation"]["loss"].as_f64(), Some(loss), "{info}");
    assert_eq!(info["evaluation"]["dataset"]["n"], data.len(), "{info}");
    loss
}

/// `train` on a sequential net with batch norm: `--arch` as a .json file agrees with the
/// `--init-from` checkpoint although only the checkpoint holds running statistics, and every
/// snapshot keeps them (eval mode; stored in the run's precision, f64 here) while θ moves.
#[test]
fn train_keeps_batch_norm_statistics_of_the_init_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let start = curvscope_model::load_checkpoint(&fixture()).unwrap();
    let spec = tmp.path().join("spec.json");
    std::fs::write(&spec, serde_json::to_string(&start.meta.arch).unwrap()).unwrap();
    let run = tmp.path().join("run");
    let data = fixture().join("data.npz");
    succeed(&[
        "train",
        "--arch",
        path(&spec),
        "--init-from",
        path(&fixture()),
        "--data",
        path(&data),
        "--dynamic",
        "gd",
        "--lr",
        "0.1",
        "--batch",
        "8",
        "--precision",
        "f64",
        "--steps",
        "2",
        "--snapshot-every",
        "1",
        "--out",
        path(&run),
        "--quiet",
    ]);
    let last = curvscope_model::load_checkpoint(&run.join("step-000002")).unwrap();
    let (ArchSpec::Sequential(trained), ArchSpec::Sequential(given)) =
        (&last.meta.arch, &start.meta.arch)
    else {
        panic!("not sequential")
    };
    assert_eq!(trained.buffer_values, given.buffer_values);
    assert!(!given.buffer_values.is_empty());
    assert_ne!(last.theta, start.theta, "GD moved θ");
}

/// Batch norm with `eps` 0 over a variance of 1e-100 scales by 1/√var = 1e50: finite in f64,
/// beyond f32's range. `info` in f32 refuses it naming the tensor (it used to give a NaN loss
/// unexplained), and in f64 evaluates it.
#[test]
fn a_batch_norm_scale_beyond_f32_is_refused_in_f32() {
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = tmp.path().join("tiny-variance");
    std::fs::create_dir(&checkpoint).unwrap();
    let json = std::fs::read_to_string(fixture().join("checkpoint.json")).unwrap();
    let no_eps = json.replacen(r#""eps": 1e-05"#, r#""eps": 0.0"#, 1);
    assert_ne!(no_eps, json);
    std::fs::write(checkpoint.join("checkpoint.json"), no_eps).unwrap();
    let mut bytes = std::fs::read(fixture().join("model.safetensors")).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let variance = &header["features.1.running_var"];
    assert_eq!(variance["dtype"], "F64");
    let at = 8 + header_len + variance["data_offsets"][0].as_u64().unwrap() as usize + 2 * 8;
    bytes[at..at + 8].copy_from_slice(&1e-100f64.to_le_bytes());
    std::fs::write(checkpoint.join("model.safetensors"), bytes).unwrap();
    let data = fixture().join("data.npz");
    let info = ["info", path(&checkpoint), "--data", path(&data)];
    let output = curvscope(&[&info[..], &["--precision", "f32"]].concat());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        err.contains("tensor `features.1.running_var` holds 1e-100 at flat index 2")
            && err.contains("beyond f32's range"),
        "{err}"
    );
    succeed(&[&info[..], &["--precision", "f64"]].concat());
}
