//! The GPU backend (feature `wgpu`) computes the same objective as the CPU: loss, gradient,
//! exact HVP and per-sample gradients of LeNet on real images agree with burn-flex to single
//! precision, with one block or many. f32 only: on an NVIDIA H100 the Vulkan driver failed to
//! compile burn-wgpu's f64 kernels ("NVVM compilation failed" on `unary_float_f_f64`). Run where
//! a Vulkan GPU is present:
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

fn agree(precision: Precision, samples_per_block: usize, tolerance: f64) {
    let data = fashion_corrupted(&default_data_dir(), 100, 20, 0).expect("bundled data");
    let arch = ArchSpec::Lenet;
    let theta = arch.init(Init::PyTorch, 3);
    let v: Vec<f64> = arch.init(Init::Normal { std: 1.0 }, 4);
    let cpu = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), precision)
        .expect("lenet fits");
    let gpu = BurnObjective::<Gpu>::new(arch, &data, &Default::default(), precision)
        .expect("lenet fits")
        .with_samples_per_block(samples_per_block);
    let loss = (gpu.loss(&theta) - cpu.loss(&theta)).abs() / cpu.loss(&theta);
    let grad = rel_err(&gpu.grad(&theta), &cpu.grad(&theta));
    let hvp = rel_err(&gpu.hvp(&theta, &v), &cpu.hvp(&theta, &v));
    let per_sample = rel_err(
        &gpu.per_sample_grads_range(&theta, 0, 4),
        &cpu.per_sample_grads_range(&theta, 0, 4),
    );
    eprintln!(
        "{precision}: loss {loss:e}, gradient {grad:e}, HVP {hvp:e}, per-sample {per_sample:e}"
    );
    for (what, err) in [
        ("loss", loss),
        ("gradient", grad),
        ("HVP", hvp),
        ("per-sample", per_sample),
    ] {
        assert!(
            err < tolerance,
            "{precision} {what}: GPU vs CPU rel. err {err:e}"
        );
    }
}

#[test]
fn gpu_matches_cpu_in_one_block() {
    agree(Precision::F32, usize::MAX, 1e-4);
}

#[test]
fn gpu_matches_cpu_in_blocks() {
    agree(Precision::F32, 50, 1e-4);
}
