//! `cargo bench -p curvscope --bench vgg11`: gradient and exact HVP of the `vgg11` preset
//! (D = 9,225,610) on N CIFAR-shaped random images (`CURVSCOPE_VGG_N`, default 100), f32,
//! PyTorch initialisation. `bench/vgg11_pytorch.py` times the same in PyTorch on the same cores;
//! docs/PERFORMANCE.md records both.

use std::time::Instant;

use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Init, Objective, Precision, Targets};
use rand::{Rng, SeedableRng};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Timed runs per operation, after one warm-up run.
const REPS: usize = 3;

/// Median and minimum seconds of `REPS` runs of `f` after a warm-up.
fn time(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut times: Vec<f64> = (0..REPS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[REPS / 2], times[0])
}

fn main() {
    let n: usize = std::env::var("CURVSCOPE_VGG_N").map_or(100, |v| v.parse().expect("a count"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..n * 3 * 32 * 32)
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    let targets = Targets::Classes {
        labels,
        n_classes: 10,
    };
    let data = Dataset::new("cifar-shaped", x, vec![3, 32, 32], targets, Some(0)).expect("valid");
    let arch = ArchSpec::named("vgg11").expect("a preset");
    let theta = arch.init(Init::PyTorch, 0);
    let v: Vec<f64> = (0..theta.len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let obj =
        BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F32).expect("fits");
    let threads = rayon::current_num_threads();
    println!("vgg11, N = {n}, f32, {threads} rayon threads ({REPS} runs after a warm-up)");
    let (median, min) = time(|| {
        obj.grad(&theta);
    });
    println!("gradient  median {median:.3} s  min {min:.3} s");
    let (median, min) = time(|| {
        obj.hvp(&theta, &v);
    });
    println!("HVP       median {median:.3} s  min {min:.3} s");
}
