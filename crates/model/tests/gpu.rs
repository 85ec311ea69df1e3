//! The GPU backend (feature `wgpu`) computes the same objective as the CPU: loss, gradient and
//! exact HVP of LeNet on real images agree with burn-flex to f64 rounding (f64) and to single
//! precision (f32). Run where a Vulkan GPU is present:
//! `cargo test --release -p curvscope-model --features wgpu --test gpu`.
#![cfg(feature = "wgpu")]

use curvscope_model::{
    default_data_dir, fashion_corrupted, ArchSpec, BurnObjective, Cpu, Gpu, Init, Objective,
    Precision,
};

fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let diff = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
    let norm = b.iter().map(|y| y * y).sum::<f64>();
    (diff / norm).sqrt()
}

fn agree(precision: Precision, tolerance: f64) {
    let data = fashion_corrupted(&default_data_dir(), 100, 20, 0).expect("bundled data");
    let arch = ArchSpec::Lenet;
    let theta = arch.init(Init::PyTorch, 3);
    let v: Vec<f64> = arch.init(Init::Normal { std: 1.0 }, 4);
    let cpu = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), precision)
        .expect("lenet fits");
    let gpu = BurnObjective::<Gpu>::new(arch, &data, &Default::default(), precision)
        .expect("lenet fits");
    let loss = (gpu.loss(&theta) - cpu.loss(&theta)).abs() / cpu.loss(&theta);
    let grad = rel_err(&gpu.grad(&theta), &cpu.grad(&theta));
    let hvp = rel_err(&gpu.hvp(&theta, &v), &cpu.hvp(&theta, &v));
    let per_sample = rel_err(
        &gpu.per_sample_grads_range(&theta, 0, 4),
        &cpu.per_sample_grads_range(&theta, 0, 4),
    );
    eprintln!("{precision}: loss {loss:e}, gradient {grad:e}, HVP {hvp:e}, per-sample {per_sample:e}");
    for (what, err) in [("loss", loss), ("gradient", grad), ("HVP", hvp), ("per-sample", per_sample)] {
        assert!(err < tolerance, "{precision} {what}: GPU vs CPU rel. err {err:e}");
    }
}

#[test]
fn gpu_matches_cpu_in_f64() {
    agree(Precision::F64, 1e-10);
}

#[test]
fn gpu_matches_cpu_in_f32() {
    agree(Precision::F32, 1e-4);
}
