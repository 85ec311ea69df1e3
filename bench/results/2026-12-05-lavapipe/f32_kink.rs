//! Where the f32 gradient at the `gpu` bench's LeNet θ leaves the f64 one (2026-12-05).
//! Not part of the build: copy it to crates/driver/examples/ and run
//! `cargo run --release -p curvscope --example f32_kink`.
use curvscope_model::{
    default_data_dir, fashion_corrupted, ArchSpec, BurnObjective, Cpu, Init, Objective, Precision,
};

fn relative(a: &[f64], b: &[f64]) -> f64 {
    let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    d / b.iter().map(|y| y * y).sum::<f64>().sqrt()
}

fn main() {
    let data = fashion_corrupted(&default_data_dir(), 1000, 200, 0).unwrap();
    let at = |p| BurnObjective::<Cpu>::new(ArchSpec::Lenet, &data, &Default::default(), p).unwrap();
    let (f32_, f64_) = (at(Precision::F32), at(Precision::F64));
    // benches/common::trained_theta: PyTorch init, 10 steps of lr 0.1 on the f32 gradient.
    let mut theta = ArchSpec::Lenet.init(Init::PyTorch, 0);
    for step in 0..=10 {
        let (g32, g64) = (f32_.grad(&theta), f64_.grad(&theta));
        println!("step {step}: f32 gradient {:.2e} off f64", relative(&g32, &g64));
        if step < 10 {
            theta.iter_mut().zip(&g32).for_each(|(t, g)| *t -= 0.1 * g);
        }
    }
    let (n, d) = (f32_.n_samples(), theta.len());
    let p32 = f32_.per_sample_grads_range(&theta, 0, n);
    let p64 = f64_.per_sample_grads_range(&theta, 0, n);
    let mut errors: Vec<(f64, usize)> = (0..n)
        .map(|i| (relative(&p32[i * d..(i + 1) * d], &p64[i * d..(i + 1) * d]), i))
        .collect();
    errors.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("largest per-sample errors (error, sample): {:?}", &errors[..4]);
    println!("median per-sample error: {:.2e}", errors[n / 2].0);
}
