//! `cargo bench -p curvscope --features wgpu,cuda --bench gpu -- NET BACKENDS`: issue 17's
//! GPU-versus-CPU table for one net, every backend back to back in one process, f32.
//!
//! NET is `lenet` (× 1,200 Fashion-MNIST samples, the θ of the `curvature` bench) or `vgg11`
//! (× 1,000 CIFAR-shaped random images, PyTorch initialisation). BACKENDS is a comma list of
//! `wgpu` (burn-wgpu on Vulkan, with burn-fusion), `wgpu-unfused` (the same without fusion:
//! one kernel per op), `cuda` (burn's CUDA backend, with burn-fusion), `cpu` (burn-flex on every
//! core) and `cpu64` (the same in f64: the reference that shows what f32 itself loses);
//! `cpu:basic` times only the first calls, gradient and HVP (VGG-11's top-20 Lanczos on a
//! CPU takes tens of minutes); `cpu:trace` those, Tr(HΣ) and the per-sample gradients, without
//! Lanczos. `wgpu:profile` (or `wgpu-unfused:profile`, `cuda:profile`),
//! run with `CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=FILE`, makes the first calls and
//! then one gradient and one HVP, each between waits for the device, so that CubeCL's log of
//! every kernel's time falls into sections bench/kernel_profile.py reads; it writes no JSON
//! line.
//! Otherwise, for each backend, one JSON line on stdout (and appended to `CURVSCOPE_GPU_OUT`
//! if set):
//! - the first loss, gradient and HVP, timed alone: shader compilation and autotuning show
//!   here and nowhere else;
//! - host↔device copies per gradient and per HVP (`curvscope_model::transfers`), at the θ the
//!   first calls have kept on the device (since 2026-12-06: θ is not uploaded again);
//! - gradient and HVP: median and min of `CURVSCOPE_GPU_REPS` (5) runs, and every run's time in
//!   the order they ran (`gradient_s`, `hvp_s`: on 2026-12-04 burn-wgpu's LeNet gradient had a
//!   median 3.5× its minimum, which the two figures alone could not explain);
//! - top-20 Lanczos (tol 1e-6, as the `curvature` bench) with its HVP count and top-5 values,
//!   its basis where the objective keeps it (on a GPU, on the device; `CURVSCOPE_GPU_BASIS=device`,
//!   the default), or on the host in f64 with `CURVSCOPE_GPU_BASIS=host` (the JSON's
//!   `lanczos_basis` says which; any other value stops the bench); `CURVSCOPE_GPU_RESTARTS`
//!   (0) thick restarts once its 140 vectors (2k + 100) are full (VGG-11's clustered spectrum at
//!   initialisation leaves the top 20 unconverged there; on this machine's CPU 3 restarts
//!   converged them in 370 HVPs, docs/PERFORMANCE.md);
//! - stochastic Tr(HΣ) with `CURVSCOPE_GPU_PROBES` (10) probes: value ± standard error;
//! - per-sample gradients (LeNet: all N; VGG-11: 16 samples), the first call and the next,
//!   with its host↔device copies;
//! - the rows per group of the GPU's split weight-gradient products
//!   (`CURVSCOPE_GPU_ROWS_PER_GROUP`, default 4,096, set with
//!   `curvscope_model::net::set_gpu_rows_per_group`; null on the CPU, which takes each product
//!   whole);
//! - agreement with the reference backend: ‖a − b‖/‖b‖ of the gradient and HVP, and the
//!   largest relative difference of the top-5 eigenvalues. The reference is the first backend
//!   measured: the first one listed, or, with `CURVSCOPE_GPU_REFERENCE=FILE`, the one an earlier
//!   process saved to FILE (so each backend can run in its own process, under its own time limit).
//!
//! bench/gpu.sh runs it with PyTorch CUDA's peer (bench/gpu_pytorch.py) on a lent GPU.

use std::io::Write;

use curvscope_hessian::{extreme_eigenpairs, LanczosOptions, LinearOperator, Which};
use curvscope_metrics::{trace_h_sigma_stochastic, KnownTerms};
use curvscope_model::{
    default_data_dir, fashion_corrupted, transfers, ArchSpec, BurnObjective, Cpu, Dataset,
    HessianOperator, Init, Objective, Precision,
};
use rand::{Rng, SeedableRng};
use serde_json::json;

mod common;
#[path = "common/env.rs"]
mod env;
#[path = "common/images.rs"]
mod images;
use env::env_count;
#[path = "common/timing.rs"]
mod timing;
use timing::{least, median, run_times, timed};

#[path = "../src/allocator.rs"]
mod allocator;

/// An operator's products with its Krylov basis on the host (it offers no
/// [`LinearOperator::basis_store`]): the peer of the device basis.
struct OnHost<O>(O);

impl<O: LinearOperator> LinearOperator for OnHost<O> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        self.0.apply(x)
    }
}

/// How many per-sample gradients are timed: LeNet's all N, VGG-11's first 16 (its N rows
/// would take 74 GB on the host, where they are f64).
fn per_sample_rows(net: &str, n: usize) -> usize {
    match net {
        "lenet" => n,
        _ => n.min(16),
    }
}

/// The objective of `arch` on `data` in f32 on `backend`, on a GPU in as few blocks as its
/// largest buffer allows (one for both nets here).
fn objective(backend: &str, arch: &ArchSpec, data: &Dataset) -> Box<dyn Objective> {
    let (arch, f32) = (arch.clone(), Precision::F32);
    match backend {
        "cpu" => BurnObjective::<Cpu>::new(arch, data, &Default::default(), f32)
            .unwrap()
            .boxed(),
        "cpu64" => BurnObjective::<Cpu>::new(arch, data, &Default::default(), Precision::F64)
            .unwrap()
            .boxed(),
        #[cfg(feature = "wgpu")]
        "wgpu" => whole_batch::<curvscope_model::Gpu>(arch, data, wgpu_largest_buffer()),
        #[cfg(feature = "wgpu")]
        "wgpu-unfused" => {
            whole_batch::<curvscope_model::GpuUnfused>(arch, data, wgpu_largest_buffer())
        }
        // burn does not name the CUDA runtime, whose largest buffer this would read; the H200's
        // is far larger than any tensor here.
        #[cfg(feature = "cuda")]
        "cuda" => whole_batch::<curvscope_model::Cuda>(arch, data, usize::MAX),
        other => panic!(
            "backend {other}: not built in (cpu, cpu64; wgpu, wgpu-unfused, cuda with their features)"
        ),
    }
}

/// The f32 objective on GPU backend `B`'s default device, every sample in one block if no
/// tensor then outgrows `largest_buffer` bytes (as `--device gpu`).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn whole_batch<B: burn::tensor::backend::Backend>(
    arch: ArchSpec,
    data: &Dataset,
    largest_buffer: usize,
) -> Box<dyn Objective> {
    Box::new(
        BurnObjective::<B>::new_within(
            arch,
            data,
            &Default::default(),
            Precision::F32,
            largest_buffer,
        )
        .unwrap()
        .with_samples_per_block(usize::MAX)
        .with_per_sample_copy_bytes(curvscope_model::GPU_PER_SAMPLE_COPY_BYTES),
    )
}

/// The largest buffer of the first GPU through wgpu.
#[cfg(feature = "wgpu")]
fn wgpu_largest_buffer() -> usize {
    curvscope_model::gpu_largest_buffer(&Default::default())
}

/// One gradient and one HVP, each between waits for the device: CubeCL's profiler writes a
/// summary at every wait, which bench/kernel_profile.py takes as the end of a section.
fn profile_one_gradient_and_hvp(backend: &str, obj: &dyn Objective, theta: &[f64], v: &[f64]) {
    assert!(
        std::env::var_os("CUBECL_DEBUG_OPTION").is_some()
            && std::env::var_os("CUBECL_DEBUG_LOG").is_some(),
        "the profile mode needs CUBECL_DEBUG_OPTION=profile and CUBECL_DEBUG_LOG=FILE"
    );
    let wait = || wait_for(backend);
    wait();
    let (gradient_s, _) = timed(|| obj.grad(theta));
    wait();
    let (hvp_s, _) = timed(|| obj.hvp(theta, v));
    wait();
    // CubeCL's logger writes from a thread of its own, which the process's exit would cut
    // short; bench/kernel_profile.py refuses a log whose HVP lacks its closing summary.
    std::thread::sleep(std::time::Duration::from_secs(2));
    eprintln!("  profiled: gradient {gradient_s:.4} s, HVP {hvp_s:.4} s (each kernel timed)");
}

/// [`curvscope_model::wait_for_device`] for the named GPU backend.
fn wait_for(backend: &str) {
    match backend {
        #[cfg(feature = "wgpu")]
        "wgpu" => curvscope_model::wait_for_device::<curvscope_model::Gpu>(),
        #[cfg(feature = "wgpu")]
        "wgpu-unfused" => curvscope_model::wait_for_device::<curvscope_model::GpuUnfused>(),
        #[cfg(feature = "cuda")]
        "cuda" => curvscope_model::wait_for_device::<curvscope_model::Cuda>(),
        other => {
            panic!("{other}: the profile mode is for the GPU backends (built with their features)")
        }
    }
}

fn relative_error(a: &[f64], b: &[f64]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    (diff / norm).sqrt()
}

/// What the first backend computed, for the agreement columns of the others.
#[derive(serde::Serialize, serde::Deserialize)]
struct Reference {
    backend: String,
    grad: Vec<f64>,
    hvp: Vec<f64>,
    top5: Option<Vec<f64>>,
}

impl Reference {
    /// A reference saved by [`Reference::save`], if `path` holds one.
    fn load(path: &std::path::Path) -> Option<Reference> {
        let bytes = std::fs::read(path).ok()?;
        let (header, floats) = bytes.split_at(bytes.iter().position(|&b| b == b'\n')? + 1);
        let (backend, top5): (String, Option<Vec<f64>>) = serde_json::from_slice(header).ok()?;
        let floats: Vec<f64> = floats
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let (grad, hvp) = floats.split_at(floats.len() / 2);
        Some(Reference {
            backend,
            grad: grad.to_vec(),
            hvp: hvp.to_vec(),
            top5,
        })
    }

    /// A JSON header line, then the gradient and HVP as little-endian f64 (JSON would take
    /// minutes for VGG-11's 2 × 9.2 M numbers).
    fn save(&self, path: &std::path::Path) {
        let mut bytes = serde_json::to_vec(&(&self.backend, &self.top5)).expect("json");
        bytes.push(b'\n');
        for x in self.grad.iter().chain(&self.hvp) {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(path, bytes).expect("CURVSCOPE_GPU_REFERENCE is writable");
    }
}

fn main() {
    allocator::purge_lazily();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let [net, backends] = [0, 1].map(|i| args.get(i).cloned().expect("usage: gpu NET BACKENDS"));
    let reps = env_count("CURVSCOPE_GPU_REPS", 5);
    let probes = env_count("CURVSCOPE_GPU_PROBES", 10);
    let restarts = env_count("CURVSCOPE_GPU_RESTARTS", 0);
    let rows_per_group = env_count(
        "CURVSCOPE_GPU_ROWS_PER_GROUP",
        curvscope_model::net::DEFAULT_GPU_ROWS_PER_GROUP,
    );
    assert!(
        rows_per_group > 0,
        "CURVSCOPE_GPU_ROWS_PER_GROUP is 0: a group holds at least one row"
    );
    curvscope_model::net::set_gpu_rows_per_group(rows_per_group);
    assert!(
        probes > 0,
        "CURVSCOPE_GPU_PROBES is 0: Tr(HΣ) needs a probe"
    );
    let (arch, data, theta) = match net.as_str() {
        "lenet" => {
            let data = fashion_corrupted(&default_data_dir(), 1000, 200, 0).expect("bundled");
            let cpu = BurnObjective::<Cpu>::new(
                ArchSpec::Lenet,
                &data,
                &Default::default(),
                Precision::F32,
            )
            .expect("fits");
            let theta = common::trained_theta(&cpu, 10);
            (ArchSpec::Lenet, data, theta)
        }
        "vgg11" => {
            let arch = ArchSpec::named("vgg11").expect("a preset");
            let theta = arch.init(Init::PyTorch, 0);
            (arch, images::images(1000, [3, 32, 32], 0), theta)
        }
        other => panic!("net {other}: lenet or vgg11"),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let v: Vec<f64> = (0..theta.len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut out = std::env::var_os("CURVSCOPE_GPU_OUT").map(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("CURVSCOPE_GPU_OUT is writable")
    });
    let reference_file = std::env::var_os("CURVSCOPE_GPU_REFERENCE").map(std::path::PathBuf::from);
    assert!(
        reference_file.is_none()
            || reference_file.as_deref().map(|p| p.as_os_str())
                != std::env::var_os("CURVSCOPE_GPU_OUT").as_deref(),
        "CURVSCOPE_GPU_REFERENCE and CURVSCOPE_GPU_OUT name the same file: the JSON rows \
         would be appended to the saved reference"
    );
    // A reference of another net (a stale file) would compare vectors of different lengths.
    let mut reference = reference_file
        .as_deref()
        .and_then(Reference::load)
        .filter(|r| r.grad.len() == theta.len());
    for spec in backends.split(',') {
        let (backend, mode) = spec.split_once(':').unwrap_or((spec, "full"));
        let (run_lanczos, run_trace) = match mode {
            "full" | "profile" => (true, true),
            "basic" => (false, false),
            "trace" => (false, true),
            other => panic!("{spec}: mode {other} (basic, trace or profile)"),
        };
        eprintln!("{net} on {backend} ({mode})");
        let (build_s, obj) = timed(|| objective(backend, &arch, &data));
        let (first_loss_s, _) = timed(|| obj.loss(&theta));
        let (first_grad_s, _) = timed(|| obj.grad(&theta));
        let (first_hvp_s, _) = timed(|| obj.hvp(&theta, &v));
        if mode == "profile" {
            profile_one_gradient_and_hvp(backend, obj.as_ref(), &theta, &v);
            continue;
        }
        let before = transfers();
        let grad = obj.grad(&theta);
        let per_grad = transfers() - before;
        let before = transfers();
        let hvp = obj.hvp(&theta, &v);
        let per_hvp = transfers() - before;
        let gradient_s = run_times(reps, || obj.grad(&theta));
        let hvp_s = run_times(reps, || obj.hvp(&theta, &v));
        let mut row = json!({
            "net": net, "backend": backend, "n": obj.n_samples(), "dim": obj.dim(),
            "threads": rayon::current_num_threads(), "reps": reps,
            "rows_per_group": (!backend.starts_with("cpu")).then_some(rows_per_group),
            "build_s": build_s,
            "first_loss_s": first_loss_s, "first_gradient_s": first_grad_s,
            "first_hvp_s": first_hvp_s,
            "gradient_transfers": [per_grad.to_device, per_grad.to_host],
            "hvp_transfers": [per_hvp.to_device, per_hvp.to_host],
            "gradient_median_s": median(&gradient_s), "gradient_min_s": least(&gradient_s),
            "hvp_median_s": median(&hvp_s), "hvp_min_s": least(&hvp_s),
            "gradient_s": gradient_s, "hvp_s": hvp_s,
        });
        eprintln!("  {row}");
        let mut add = |extra: serde_json::Value| {
            let extra = extra.as_object().expect("an object").clone();
            row.as_object_mut().expect("an object").extend(extra);
        };
        let mut top5 = None;
        if run_lanczos {
            let lanczos = LanczosOptions {
                k: 20,
                which: Which::Largest,
                tol: 1e-6,
                restarts,
                ..LanczosOptions::default()
            };
            let op = HessianOperator::new(obj.as_ref(), &theta);
            let on_host = match std::env::var("CURVSCOPE_GPU_BASIS").as_deref() {
                Ok("host") => true,
                Ok("device") | Err(_) => false,
                Ok(other) => panic!("CURVSCOPE_GPU_BASIS is `host` or `device`, not `{other}`"),
            };
            let (lanczos_s, pairs) = match on_host {
                true => timed(|| extreme_eigenpairs(&OnHost(&op), &lanczos)),
                false => timed(|| extreme_eigenpairs(&op, &lanczos)),
            };
            let lanczos_basis = match (on_host, op.basis_store().is_some()) {
                (false, true) => "device",
                _ => "host",
            };
            top5 = Some(pairs.eigenvalues[..5].to_vec());
            add(json!({
                "lanczos_s": lanczos_s, "lanczos_hvps": pairs.n_applications,
                "lanczos_basis": lanczos_basis,
                "lanczos_converged": pairs.converged, "lanczos_restarts": restarts,
                "top5": top5,
            }));
        }
        if run_trace {
            let (trace_s, trace) = timed(|| {
                trace_h_sigma_stochastic(obj.as_ref(), &theta, probes, 0, KnownTerms::default())
            });
            add(json!({
                "trace_h_sigma_s": trace_s, "trace_h_sigma_probes": probes,
                "trace_h_sigma": trace.value, "trace_h_sigma_stderr": trace.stderr,
            }));
            let rows = per_sample_rows(&net, obj.n_samples());
            let (first_per_sample_s, _) = timed(|| obj.per_sample_grads_range(&theta, 0, rows));
            let before = transfers();
            let (per_sample_s, _) = timed(|| obj.per_sample_grads_range(&theta, 0, rows));
            let per_sample = transfers() - before;
            add(json!({
                "per_sample": rows, "first_per_sample_s": first_per_sample_s,
                "per_sample_s": per_sample_s,
                "per_sample_transfers": [per_sample.to_device, per_sample.to_host],
            }));
        }
        if let Some(r) = &reference {
            let eig = match (&top5, &r.top5) {
                (Some(a), Some(b)) => a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| ((a - b) / b).abs())
                    .fold(0.0, f64::max),
                _ => f64::NAN,
            };
            let agreement = json!({
                "versus": r.backend, "gradient_rel_err": relative_error(&grad, &r.grad),
                "hvp_rel_err": relative_error(&hvp, &r.hvp), "top5_max_rel_diff": eig,
            });
            row["agreement"] = agreement;
        } else {
            let first = Reference {
                backend: backend.to_string(),
                grad,
                hvp,
                top5,
            };
            if let Some(path) = &reference_file {
                first.save(path);
            }
            reference = Some(first);
        }
        println!("{row}");
        if let Some(file) = &mut out {
            writeln!(file, "{row}").expect("CURVSCOPE_GPU_OUT is writable");
        }
    }
}
