//! `cargo bench -p curvscope --bench vgg11`: gradient and exact HVP of the `vgg11` preset
//! (D = 9,225,610) on N CIFAR-shaped random images (`CURVSCOPE_VGG_N`, default 100), f32,
//! PyTorch initialisation, then all per-sample gradients and Σ's exact statistics on
//! `CURVSCOPE_VGG_PER_SAMPLE` images (default 16). `bench/vgg11_pytorch.py` times the gradient
//! and HVP in PyTorch on the same cores; docs/PERFORMANCE.md records both. With `CURVSCOPE_VGG_PROFILE=1` it times each distinct
//! layer of the net instead ([`profile`]). Results also go to target/bench/vgg11.json.

use curvscope_metrics::noise_statistics;
use curvscope_model::sequential::{Op, Sequential, Shape};
use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Init, Objective, Precision};
use rand::{Rng, SeedableRng};

#[path = "common/images.rs"]
mod images;
use images::images;
#[path = "common/env.rs"]
mod env;
use env::env_count;
#[path = "common/timing.rs"]
mod timing;
use serde_json::{json, Value};
use timing::{median_and_min, write_result};

#[path = "../src/allocator.rs"]
mod allocator;

/// Timed runs per operation, after one warm-up run.
const REPS: usize = 3;

/// Median and minimum seconds of `REPS` runs of `f` after a warm-up.
fn time(mut f: impl FnMut()) -> (f64, f64) {
    f();
    median_and_min(REPS, f)
}

/// Median seconds of the loss, gradient and HVP of `arch` on `data` (f32, PyTorch init).
fn timings(arch: ArchSpec, data: &Dataset) -> [(f64, f64); 3] {
    let theta = arch.init(Init::PyTorch, 0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let v: Vec<f64> = (0..theta.len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let obj =
        BurnObjective::<Cpu>::new(arch, data, &Default::default(), Precision::F32).expect("fits");
    [
        time(|| {
            obj.loss(&theta);
        }),
        time(|| {
            obj.grad(&theta);
        }),
        time(|| {
            obj.hvp(&theta, &v);
        }),
    ]
}

/// `name`'s count ([`env_count`]); 0 stops the bench naming the variable (no images to time).
fn positive_count(name: &str, default: usize) -> usize {
    let count = env_count(name, default);
    assert!(count > 0, "{name}=0: at least one image");
    count
}

/// Per-sample gradients per chunk of [`per_sample_timings`]' Σ statistics.
const STATISTICS_CHUNK: usize = 8;

/// Median and minimum seconds of all `m` per-sample gradients of VGG-11 on `m` images (one
/// call, `m` rows of 74 MB on the host), and of Σ's exact statistics (Tr(Σ), diag(Σ) and uᵀΣu
/// along one direction, [`noise_statistics`]) streamed in chunks of [`STATISTICS_CHUNK`]:
/// the host's share of them at a D of millions is what a GPU leaves.
fn per_sample_timings(m: usize) -> [(f64, f64); 2] {
    let arch = ArchSpec::named("vgg11").expect("a preset");
    let theta = arch.init(Init::PyTorch, 0);
    let data = images(m, [3, 32, 32], 0);
    let obj =
        BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F32).expect("fits");
    let direction = obj.grad(&theta);
    [
        time(|| drop(obj.per_sample_grads(&theta))),
        time(|| {
            noise_statistics(
                &obj,
                &theta,
                std::slice::from_ref(&direction),
                STATISTICS_CHUNK,
            );
        }),
    ]
}

/// A sequential net on `[c, h, w]` inputs of `layers` (JSON values).
fn net(input: [usize; 3], layers: Vec<Value>) -> ArchSpec {
    let spec = json!({"name": "sequential", "input": input, "layers": layers});
    serde_json::from_value(spec).expect("a valid spec")
}

/// Each distinct (operation, input shape) of VGG-11 timed alone: the net batch norm → layer →
/// flatten → linear(10) minus the same net without the layer. The batch norm in front makes
/// the layer's input depend on θ, so the gradient includes the layer's input gradient and the
/// HVP its double backward, as inside VGG-11.
fn profile(n: usize) -> Vec<Value> {
    let layers = Sequential::vgg11().resolve().expect("the preset resolves");
    let mut seen = Vec::new();
    let mut rows = Vec::new();
    println!("layer (input)                         loss      gradient  HVP   (s, minus the head)");
    for layer in layers {
        let Shape::Maps { c, h, w } = layer.input else {
            continue;
        };
        let key = (layer.op.clone(), layer.input);
        if seen.contains(&key) || matches!(layer.op, Op::Flatten) {
            continue;
        }
        seen.push(key);
        let data = images(n, [c, h, w], 0);
        let bn = json!({"type": "batchnorm2d"});
        let head = [
            json!({"type": "flatten"}),
            json!({"type": "linear", "out": 10}),
        ];
        let op = serde_json::to_value(&layer.op).expect("an op serialises");
        let with: Vec<Value> = [bn.clone(), op].into_iter().chain(head.clone()).collect();
        let without: Vec<Value> = [bn].into_iter().chain(head).collect();
        let full = timings(net([c, h, w], with), &data);
        let base = timings(net([c, h, w], without), &data);
        let [loss, grad, hvp] = [0, 1, 2].map(|i| full[i].0 - base[i].0);
        let name = format!("{} {}", op_type(&layer.op), layer.input);
        println!("{name:<36} {loss:>8.4}  {grad:>8.4}  {hvp:>8.4}");
        rows.push(json!({"layer": name, "loss_s": loss, "gradient_s": grad, "hvp_s": hvp}));
    }
    rows
}

/// The op's JSON `type`.
fn op_type(op: &Op) -> String {
    let value = serde_json::to_value(op).expect("an op serialises");
    value["type"].as_str().expect("ops are tagged").to_string()
}

fn main() {
    allocator::purge_lazily();
    let n = positive_count("CURVSCOPE_VGG_N", 100);
    let threads = rayon::current_num_threads();
    println!("vgg11, N = {n}, f32, {threads} rayon threads ({REPS} runs after a warm-up)");
    let report = if std::env::var("CURVSCOPE_VGG_PROFILE").is_ok_and(|v| v == "1") {
        json!({"n": n, "threads": threads, "layers": profile(n)})
    } else {
        let arch = ArchSpec::named("vgg11").expect("a preset");
        let [_, grad, hvp] = timings(arch, &images(n, [3, 32, 32], 0));
        println!("gradient  median {:.3} s  min {:.3} s", grad.0, grad.1);
        println!("HVP       median {:.3} s  min {:.3} s", hvp.0, hvp.1);
        let m = positive_count("CURVSCOPE_VGG_PER_SAMPLE", 16);
        let [rows, stats] = per_sample_timings(m);
        println!(
            "{m} per-sample gradients     median {:.3} s  min {:.3} s",
            rows.0, rows.1
        );
        println!(
            "Σ's statistics, chunks of {} median {:.3} s  min {:.3} s",
            STATISTICS_CHUNK, stats.0, stats.1
        );
        json!({"n": n, "threads": threads, "gradient_s": grad.0, "hvp_s": hvp.0,
               "per_sample_n": m, "per_sample_s": rows.0, "noise_statistics_s": stats.0,
               "noise_statistics_chunk": STATISTICS_CHUNK})
    };
    println!("wrote {}", write_result("vgg11.json", &report).display());
}
