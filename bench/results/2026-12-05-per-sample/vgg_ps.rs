//! Scratch: VGG-11 per-sample gradients and Σ statistics on the CPU (kept here as a record; not built).
use curvscope_metrics::noise_statistics;
use curvscope_model::sequential::Sequential;
use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Init, Precision, Targets};
use std::time::Instant;

#[global_allocator]
static A: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let shape = [3usize, 32, 32];
    let x: Vec<f32> = (0..n * 3072)
        .map(|i| ((i * 2654435761) % 1000) as f32 * 1e-3)
        .collect();
    let targets = Targets::Classes {
        labels: (0..n).map(|i| (i % 10) as i64).collect(),
        n_classes: 10,
    };
    let data = Dataset::new("c", x, shape.to_vec(), targets, Some(0)).unwrap();
    let arch = ArchSpec::Sequential(Sequential::vgg11());
    let theta = arch.init(Init::PyTorch, 0);
    let obj = BurnObjective::<Cpu>::new(arch, &data, &Default::default(), Precision::F32)
        .unwrap()
        .boxed();
    obj.grad(&theta);
    let chunk: usize = std::env::var("CHUNK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n);
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let g = obj.grad(&theta);
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (mut ps, mut st) = (vec![], vec![]);
    let mut tr = 0.0;
    for _ in 0..reps {
        let t = Instant::now();
        let rows = obj.per_sample_grads_range(&theta, 0, n);
        ps.push(t.elapsed().as_secs_f64());
        drop(rows);
        let t = Instant::now();
        let s = noise_statistics(&*obj, &theta, &[g.clone()], chunk);
        st.push(t.elapsed().as_secs_f64());
        tr = s.trace.value;
    }
    println!("n={n} chunk={chunk} per-sample median {:.3}s ({:.1} ms/row) stats median {:.3}s ({:.1} ms/row) all ps {:?} st {:?} tr {tr}", med(ps.clone()), med(ps.clone()) / n as f64 * 1e3, med(st.clone()), med(st.clone()) / n as f64 * 1e3, ps.iter().map(|x| (x * 100.0).round() / 100.0).collect::<Vec<_>>(), st.iter().map(|x| (x * 100.0).round() / 100.0).collect::<Vec<_>>());
}
