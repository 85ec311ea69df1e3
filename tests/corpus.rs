//! A corpus of bad inputs, generated here (no binaries checked in), run through
//! `curvscope info` and `curvscope analyze`: each bad one exits non-zero with a message that
//! names the file and the tensor or field at fault, none panics, the good ones succeed, and
//! no file outside the output folder changes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use curvscope_model::checkpoint::{META_FILE, MODEL_FILE};
use curvscope_model::{save_checkpoint, ArchSpec, CheckpointMeta, Dtype};

/// A fixed-output net (D = 18) on 20 half-space points: every command on it takes moments.
const ARCH: ArchSpec = ArchSpec::FixedOutput {
    input: 2,
    hidden: 6,
};
const DATA: &str = "halfspace:20";

/// What a case must do.
enum Expect {
    /// Exit 0.
    Succeeds,
    /// Exit non-zero, with every one of these in stderr (file paths, tensor or field names).
    Fails(Vec<String>),
}

/// One input: a checkpoint folder (or not), extra arguments, environment, and the verdict.
struct Case {
    name: &'static str,
    checkpoint: PathBuf,
    args: Vec<String>,
    env: Vec<(&'static str, PathBuf)>,
    expect: Expect,
}

fn fails(fragments: &[&str]) -> Expect {
    Expect::Fails(fragments.iter().map(|s| s.to_string()).collect())
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

/// `model.safetensors` bytes holding exactly `tensors` (name, dtype, shape, data), written
/// by hand so a case can hold what curvscope would never write.
fn safetensors(tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, dtype, shape, data) in tensors {
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + data.len()]}),
        );
        offset += data.len();
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    for (.., data) in tensors {
        out.extend(data);
    }
    out
}

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A valid checkpoint of [`ARCH`] recording [`DATA`], in a new folder `root/name`.
fn good_checkpoint(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let mut meta = CheckpointMeta {
        step: Some(10),
        seed: Some(1),
        batch_size: Some(5),
        ..CheckpointMeta::new(ARCH)
    };
    meta.extra.insert("data".into(), DATA.into());
    let theta: Vec<f64> = (0..ARCH.dim())
        .map(|i| (i as f64 * 0.9).sin() * 0.5)
        .collect();
    save_checkpoint(&dir, &meta, &theta, Dtype::F32).unwrap();
    dir
}

/// A checkpoint of [`ARCH`] whose weights file holds `tensors`.
fn raw_checkpoint(root: &Path, name: &str, tensors: &[(&str, &str, &[usize], Vec<u8>)]) -> PathBuf {
    let dir = good_checkpoint(root, name);
    std::fs::write(dir.join(MODEL_FILE), safetensors(tensors)).unwrap();
    dir
}

/// A checkpoint whose `checkpoint.json` is `json` (weights of [`ARCH`]).
fn json_checkpoint(root: &Path, name: &str, json: &str) -> PathBuf {
    let dir = good_checkpoint(root, name);
    std::fs::write(dir.join(META_FILE), json).unwrap();
    dir
}

/// A valid checkpoint of `arch` evaluated on the `.npz` at `data` (by absolute path).
fn npz_checkpoint(root: &Path, name: &str, arch: &ArchSpec, data: &Path) -> PathBuf {
    let dir = root.join(name);
    let mut meta = CheckpointMeta::new(arch.clone());
    meta.extra.insert("data".into(), show(data).into());
    let theta: Vec<f64> = (0..arch.dim()).map(|i| (i as f64).cos() * 0.3).collect();
    save_checkpoint(&dir, &meta, &theta, Dtype::F64).unwrap();
    dir
}

/// An `.npz` with `x` (float32, `n` samples of 2 values) and `y` (int64 labels).
fn npz(path: &Path, labels: &[i64]) {
    let x: Vec<f32> = (0..2 * labels.len()).map(|i| i as f32 * 0.25).collect();
    common::write_npz(path, &x, &[labels.len() as u64, 2], labels);
}

/// A gzipped IDX file: big-endian `magic`, `dims`, then `payload`.
fn idx(path: &Path, magic: u32, dims: &[u32], payload: &[u8]) {
    use std::io::Write;
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(payload);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}

fn case(name: &'static str, checkpoint: PathBuf, args: &[&str], expect: Expect) -> Case {
    Case {
        name,
        checkpoint,
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        expect,
    }
}

/// Every case, generated under `root`.
fn corpus(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let model_of = |dir: &Path| show(&dir.join(MODEL_FILE));
    let meta_of = |dir: &Path| show(&dir.join(META_FILE));

    let dir = good_checkpoint(root, "good");
    cases.push(case("good", dir, &[], Expect::Succeeds));

    let dir = good_checkpoint(root, "truncated");
    let bytes = std::fs::read(dir.join(MODEL_FILE)).unwrap();
    std::fs::write(dir.join(MODEL_FILE), &bytes[..bytes.len() - 3]).unwrap();
    let file = model_of(&dir);
    cases.push(case(
        "truncated",
        dir,
        &[],
        fails(&[&file, "tensor `hidden.", "truncated"]),
    ));

    let dir = good_checkpoint(root, "zero-length");
    std::fs::write(dir.join(MODEL_FILE), b"").unwrap();
    let file = model_of(&dir);
    cases.push(case(
        "zero-length",
        dir,
        &[],
        fails(&[&file, "not a valid safetensors file"]),
    ));

    let dir = good_checkpoint(root, "torch-save");
    std::fs::write(
        dir.join(MODEL_FILE),
        b"PK\x03\x04 this is a zip, not weights",
    )
    .unwrap();
    let file = model_of(&dir);
    cases.push(case(
        "torch-save",
        dir,
        &[],
        fails(&[&file, "a PyTorch torch.save file", "save_file"]),
    ));

    let dir = good_checkpoint(root, "header-past-eof");
    let mut bytes = std::fs::read(dir.join(MODEL_FILE)).unwrap();
    let past_eof = (bytes.len() as u64).to_le_bytes();
    bytes[..8].copy_from_slice(&past_eof);
    std::fs::write(dir.join(MODEL_FILE), bytes).unwrap();
    let file = model_of(&dir);
    cases.push(case(
        "header-past-eof",
        dir,
        &[],
        fails(&[&file, "invalid header length"]),
    ));

    let bias = ("hidden.bias", "F32", &[6][..], f32s(&[0.1; 6]));
    let weight = ("hidden.weight", "F32", &[6, 2][..], f32s(&[0.2; 12]));
    let dir = raw_checkpoint(
        root,
        "wrong-dtype",
        &[("hidden.weight", "I32", &[6, 2], vec![0; 48]), bias.clone()],
    );
    let file = model_of(&dir);
    cases.push(case(
        "wrong-dtype",
        dir,
        &[],
        fails(&[&file, "tensor `hidden.weight`", "dtype I32"]),
    ));

    let dir = raw_checkpoint(root, "missing-tensor", std::slice::from_ref(&weight));
    let file = model_of(&dir);
    cases.push(case(
        "missing-tensor",
        dir,
        &[],
        fails(&[&file, "missing tensor `hidden.bias`"]),
    ));

    let extra = ("hidden.scale", "F32", &[1][..], f32s(&[1.0]));
    let dir = raw_checkpoint(root, "extra-tensor", &[weight.clone(), bias.clone(), extra]);
    let file = model_of(&dir);
    cases.push(case(
        "extra-tensor",
        dir,
        &[],
        fails(&[&file, "unexpected tensor `hidden.scale`"]),
    ));

    for (name, bad, shown) in [("nan", f32::NAN, "NaN"), ("inf", f32::INFINITY, "inf")] {
        let mut values = [0.1f32; 6];
        values[4] = bad;
        let nan_bias = ("hidden.bias", "F32", &[6][..], f32s(&values));
        let dir = raw_checkpoint(root, name, &[weight.clone(), nan_bias]);
        let file = model_of(&dir);
        cases.push(case(
            name,
            dir,
            &[],
            fails(&[&file, "tensor `hidden.bias`", shown, "flat index 4"]),
        ));
    }

    let dir = json_checkpoint(
        root,
        "malformed-json",
        r#"{"arch": {"name": "fixed-output""#,
    );
    let file = meta_of(&dir);
    cases.push(case("malformed-json", dir, &[], fails(&[&file, "EOF"])));

    let dir = json_checkpoint(
        root,
        "wrong-field-type",
        r#"{"arch":{"name":"fixed-output","input":2,"hidden":6},"seed":"one"}"#,
    );
    let file = meta_of(&dir);
    cases.push(case(
        "wrong-field-type",
        dir,
        &[],
        fails(&[&file, "field `seed`"]),
    ));

    let huge = r#"{"arch":{"name":"mlp","input":784,"hidden":[100000000],"classes":10,"activation":"relu"}}"#;
    let dir = json_checkpoint(root, "huge-arch", huge);
    let file = meta_of(&dir);
    cases.push(case("huge-arch", dir, &[], fails(&[&file, "636.0 GB"])));

    let zero = r#"{"arch":{"name":"mlp","input":2,"hidden":[0],"classes":2,"activation":"relu"}}"#;
    let dir = json_checkpoint(root, "zero-width", zero);
    let file = meta_of(&dir);
    cases.push(case(
        "zero-width",
        dir,
        &[],
        fails(&[&file, "`hidden[0]` is 0"]),
    ));

    let text = format!(
        r#"{{"arch":{{"name":"fixed-output","input":2,"hidden":6}},"dataset":"CIFAR-10 train","data":"{DATA}"}}"#
    );
    let dir = json_checkpoint(root, "free-text-dataset", &text);
    cases.push(case("free-text-dataset", dir, &[], Expect::Succeeds));

    let bad_npz = root.join("bad.npz");
    std::fs::write(&bad_npz, b"not a zip archive").unwrap();
    let mlp2 = ArchSpec::Mlp {
        input: 2,
        hidden: vec![3],
        classes: 10,
        activation: curvscope_model::Activation::Tanh,
    };
    let dir = npz_checkpoint(root, "bad-npz", &mlp2, &bad_npz);
    cases.push(case(
        "bad-npz",
        dir,
        &[],
        fails(&[&show(&bad_npz), "not an npz (zip) archive"]),
    ));

    for n in [1, 2] {
        let data = root.join(format!("samples-{n}.npz"));
        npz(&data, &[1, 0][..n]);
        let name = if n == 1 {
            "mlp-on-1-sample"
        } else {
            "mlp-on-2-samples"
        };
        let dir = npz_checkpoint(root, name, &mlp2, &data);
        cases.push(case(name, dir, &[], Expect::Succeeds));
    }

    let mlp784 = ArchSpec::Mlp {
        input: 784,
        hidden: vec![],
        classes: 10,
        activation: curvscope_model::Activation::Relu,
    };
    let dir = npz_checkpoint(root, "empty-dataset", &mlp784, &bad_npz);
    cases.push(case(
        "empty-dataset",
        dir,
        &["--data", "fashion-test:0"],
        fails(&["fashion-mnist-test[0..0]", "no samples"]),
    ));

    // Bundled data replaced through CURVSCOPE_DATA_DIR: a bad IDX magic, and labels that do
    // not match the images.
    for (name, images_magic, n_labels) in [("bad-idx-magic", 2049, 2), ("label-count", 2051, 1)] {
        let data_dir = root.join(format!("{name}-data"));
        let fashion = data_dir.join("fashion-mnist");
        let images = fashion.join("t10k-images-idx3-ubyte.gz");
        idx(&images, images_magic, &[2, 28, 28], &[7; 2 * 784]);
        let labels = fashion.join("t10k-labels-idx1-ubyte.gz");
        idx(&labels, 2049, &[n_labels], &vec![3; n_labels as usize]);
        let dir = npz_checkpoint(root, name, &mlp784, &bad_npz);
        let expect = if name == "bad-idx-magic" {
            fails(&[&show(&images), "IDX magic number 2049, expected 2051"])
        } else {
            fails(&[&show(&images), &show(&labels), "2 images", "1 labels"])
        };
        cases.push(case(name, dir, &["--data", "fashion-test:2"], expect));
        cases
            .last_mut()
            .unwrap()
            .env
            .push(("CURVSCOPE_DATA_DIR", data_dir));
    }

    let dir = root.join("empty-folder");
    std::fs::create_dir(&dir).unwrap();
    cases.push(Case {
        name: "empty-folder",
        checkpoint: dir.clone(),
        args: Vec::new(),
        env: Vec::new(),
        // `info` reads the folder as a checkpoint; `analyze` as a run with none in it.
        expect: fails(&[&show(&dir)]),
    });
    cases
}

fn run(case: &Case, cwd: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_curvscope"))
        .args(args)
        .args(&case.args)
        .envs(case.env.iter().map(|(k, v)| (*k, v)))
        .env_remove("RUST_BACKTRACE")
        .current_dir(cwd)
        .output()
        .expect("the binary runs")
}

fn judge(case: &Case, command: &str, output: &Output, problems: &mut Vec<String>) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let name = case.name;
    if stderr.contains("panicked") || output.status.code().is_none() {
        problems.push(format!("{name} ({command}): crashed: {stderr}"));
        return;
    }
    match &case.expect {
        Expect::Succeeds if !output.status.success() => {
            problems.push(format!("{name} ({command}): failed: {stderr}"))
        }
        Expect::Succeeds => {}
        Expect::Fails(_) if output.status.success() => {
            problems.push(format!("{name} ({command}): exit code 0"))
        }
        Expect::Fails(fragments) => {
            for f in fragments {
                if !stderr.contains(f.as_str()) {
                    problems.push(format!("{name} ({command}): no `{f}` in: {stderr}"));
                }
            }
        }
    }
}

#[test]
fn bad_inputs_fail_clearly_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, outputs, cwd) = (
        tmp.path().join("inputs"),
        tmp.path().join("outputs"),
        tmp.path().join("cwd"),
    );
    for dir in [&inputs, &outputs, &cwd] {
        std::fs::create_dir(dir).unwrap();
    }
    let cases = corpus(&inputs);
    let before = common::files(&inputs);
    let mut problems = Vec::new();
    for case in &cases {
        let ckpt = show(&case.checkpoint);
        let info = run(case, &cwd, &["info".into(), ckpt.clone()]);
        judge(case, "info", &info, &mut problems);
        let out = show(&outputs.join(case.name));
        let analyze: Vec<String> = [
            "analyze",
            &ckpt,
            "--out",
            &out,
            "-k",
            "2",
            "--samples",
            "10",
            "--quiet",
        ]
        .map(String::from)
        .to_vec();
        let analyze = run(case, &cwd, &analyze);
        judge(case, "analyze", &analyze, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert_eq!(common::files(&inputs), before, "an input file changed");
    assert!(
        common::files(&cwd).is_empty(),
        "files written to the working directory"
    );
    assert!(cases.len() >= 20, "{} cases", cases.len());
}
