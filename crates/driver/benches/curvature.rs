//! `cargo bench -p curvscope --bench curvature`: the cost of every curvature primitive on LeNet ×
//! 1,200 Fashion-MNIST samples (1,000 clean + 200 random labels), f32 and f64, written to
//! target/bench/curvature.json and printed as a table. docs/PERFORMANCE.md compares it with
//! PyTorch (bench/peer.sh).
//!
//! `CURVSCOPE_BENCH=quick` runs the cheap rows only and times the expensive ones on a subset,
//! extrapolating linearly (marked in the `extrapolated_from` column); the default (`full`) runs
//! everything, a full `analyze_checkpoint` included (tens of minutes on 2 cores). Built with
//! `--features wgpu`, it also times loss, gradient, HVP and per-sample gradients on the GPU.

use std::time::Instant;

use curvscope_hessian::{extreme_eigenpairs, true_residuals, LanczosOptions, Which};
use curvscope_metrics::{
    analyze_checkpoint, expected_sharpness, trace_h_sigma_exact, ReportOptions, SharpnessOptions,
};
use curvscope_model::{
    default_data_dir, fashion_corrupted, ArchSpec, BurnObjective, Cpu, Dataset, HessianOperator,
    NdArray, Objective, Precision,
};
use serde::Serialize;

mod common;
use common::trained_theta;
#[path = "common/timing.rs"]
mod timing;
use timing::write_result;

#[path = "../src/allocator.rs"]
mod allocator;

/// Timed runs per row (after a warm-up), as the PyTorch peer; the rows that take from seconds
/// to minutes each (Lanczos, exact Tr(HΣ), expected sharpness, `analyze_checkpoint`) run once
/// on both sides, where five runs would stretch a full run from one hour to about four and a half.
const REPS: usize = 5;

/// One measured operation.
#[derive(Serialize)]
struct Row {
    op: String,
    backend: &'static str,
    precision: Precision,
    /// Repetitions timed after one warm-up run (none for single-shot rows).
    reps: usize,
    median_s: f64,
    min_s: f64,
    /// "k of n": the operation ran k times and the time is scaled by n/k.
    extrapolated_from: Option<String>,
    /// Peak resident memory during the operation (VmHWM after resetting it), MiB.
    peak_rss_mib: f64,
    note: String,
}

/// Resets the process' peak-RSS counter (Linux `clear_refs` 5), so VmHWM measures one operation.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, MiB (VmHWM, the same number getrusage's maxrss
/// reports for the whole process).
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

struct Bench {
    rows: Vec<Row>,
}

impl Bench {
    /// Times `f` `reps` times after `warmup` untimed runs; `scale` extrapolates a subset
    /// (k of n) to the whole. Returns the last result for checks.
    #[allow(clippy::too_many_arguments)]
    fn time<T>(
        &mut self,
        op: &str,
        backend: &'static str,
        precision: Precision,
        warmup: usize,
        reps: usize,
        subset: Option<(usize, usize)>,
        mut f: impl FnMut() -> T,
    ) -> T {
        for _ in 0..warmup {
            std::hint::black_box(f());
        }
        reset_peak();
        let mut times = Vec::with_capacity(reps);
        let mut last = None;
        for _ in 0..reps.max(1) {
            let start = Instant::now();
            last = Some(std::hint::black_box(f()));
            times.push(start.elapsed().as_secs_f64());
        }
        let scale = subset.map_or(1.0, |(k, n)| n as f64 / k as f64);
        let row = Row {
            op: op.into(),
            backend,
            precision,
            reps: times.len(),
            median_s: median(times.clone()) * scale,
            min_s: times.iter().copied().fold(f64::INFINITY, f64::min) * scale,
            extrapolated_from: subset.map(|(k, n)| format!("{k} of {n}")),
            peak_rss_mib: peak_mib(),
            note: String::new(),
        };
        eprintln!(
            "  {:<34} {:>5} {:>10.4} s",
            row.op, row.precision, row.median_s
        );
        self.rows.push(row);
        last.expect("at least one run")
    }

    fn note(&mut self, note: String) {
        eprintln!("    {note}");
        self.rows.last_mut().expect("a row").note = note;
    }
}

fn unit(dim: usize) -> Vec<f64> {
    let v: Vec<f64> = (0..dim)
        .map(|i| ((i * 7919 % 1000) as f64 / 1000.0) - 0.5)
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// Loss, gradient and HVP of any backend: the rows shared by burn-flex and burn-ndarray.
fn first_and_second_order(
    bench: &mut Bench,
    obj: &dyn Objective,
    theta: &[f64],
    backend: &'static str,
    precision: Precision,
    reps: usize,
) {
    let v = unit(obj.dim());
    bench.time("loss", backend, precision, 1, reps, None, || {
        obj.loss(theta)
    });
    bench.time("gradient", backend, precision, 1, reps, None, || {
        obj.grad(theta)
    });
    bench.time("hvp", backend, precision, 1, reps, None, || {
        obj.hvp(theta, &v)
    });
}

fn run_precision(
    bench: &mut Bench,
    data: &Dataset,
    theta: &[f64],
    precision: Precision,
    quick: bool,
) {
    let obj = BurnObjective::<Cpu>::new(ArchSpec::Lenet, data, &Default::default(), precision)
        .expect("lenet fits");
    let n = obj.n_samples();
    first_and_second_order(bench, &obj, theta, "burn-flex", precision, REPS);
    let v = unit(obj.dim());
    let batch: Vec<Vec<f64>> = (0..8).map(|_| v.clone()).collect();
    bench.time(
        "hvps (8, rayon)",
        "burn-flex",
        precision,
        0,
        REPS,
        Some((8, 1)),
        || obj.hvps(theta, &batch),
    );
    bench.note("per HVP, 8 HVPs in parallel on the rayon pool".into());
    bench.time(
        "per-sample grads (all N)",
        "burn-flex",
        precision,
        1,
        REPS,
        None,
        || obj.per_sample_grads(theta),
    );
    bench.time(
        "Gauss–Newton diagonal (exact Tr(H))",
        "burn-flex",
        precision,
        1,
        REPS,
        None,
        || {
            obj.hessian_diagonal(theta)
                .expect("LeNet is piecewise linear")
        },
    );

    let lanczos = LanczosOptions {
        k: 20,
        which: Which::Largest,
        tol: 1e-6,
        ..LanczosOptions::default()
    };
    if !quick {
        let h = HessianOperator::new(&obj, theta);
        let pairs = bench.time("top-20 Lanczos", "burn-flex", precision, 0, 1, None, || {
            extreme_eigenpairs(&h, &lanczos)
        });
        let lambda1 = pairs.eigenvalues[0].abs();
        let worst = true_residuals(&h, &pairs).into_iter().fold(0.0, f64::max);
        bench.note(format!(
            "{} HVPs, converged: {}, λ₁ = {:.4}, max true residual = {:.2e}·|λ₁|",
            pairs.n_applications,
            pairs.converged,
            pairs.eigenvalues[0],
            worst / lambda1
        ));
    }

    // Exact Tr(HΣ) is one gradient, N per-sample gradients and N + 1 HVPs over all N samples; in
    // quick mode only the first k per-sample gradients and their k HVPs (the same batched path,
    // `Objective::hvps`) are timed and scaled by N/k, its cost being linear in that count.
    if quick {
        let k = 16;
        let d = obj.dim();
        bench.time(
            "Tr(HΣ) exact",
            "burn-flex",
            precision,
            0,
            1,
            Some((k, n)),
            || {
                let rows = obj.per_sample_grads_range(theta, 0, k);
                let vs: Vec<Vec<f64>> = rows.chunks(d).map(<[f64]>::to_vec).collect();
                obj.hvps(theta, &vs)
            },
        );
        bench.note(format!(
            "{k} per-sample gradients + {k} HVPs (batched) timed, scaled by N/{k}"
        ));
    } else {
        bench.time("Tr(HΣ) exact", "burn-flex", precision, 0, 1, None, || {
            trace_h_sigma_exact(&obj, theta, 64)
        });
    }

    let m = if quick { 50 } else { 1000 };
    let sharp = SharpnessOptions {
        sigma: 0.01,
        samples: m,
        seed: 0,
    };
    let subset = (m < 1000).then_some((m, 1000));
    bench.time(
        "expected sharpness (M=1000)",
        "burn-flex",
        precision,
        0,
        1,
        subset,
        || expected_sharpness(&obj, theta, &sharp),
    );

    if !quick {
        let report = bench.time(
            "analyze_checkpoint (defaults)",
            "burn-flex",
            precision,
            0,
            1,
            None,
            || analyze_checkpoint(&obj, theta, &ReportOptions::default()),
        );
        bench.note(format!(
            "{} HVPs for top-20, converged: {}, Tr(HΣ) = {:.4e}",
            report.hessian_applications, report.hessian_converged, report.trace_h_sigma.value
        ));
    }
}

fn main() {
    allocator::purge_lazily();
    let quick = std::env::var("CURVSCOPE_BENCH").is_ok_and(|m| m == "quick");
    let threads = rayon::current_num_threads();
    eprintln!(
        "curvature bench ({}), {threads} rayon threads",
        if quick { "quick" } else { "full" }
    );
    let data = fashion_corrupted(&default_data_dir(), 1000, 200, 0).expect("bundled Fashion-MNIST");
    let train_steps = 10;
    let theta = {
        let obj =
            BurnObjective::<Cpu>::new(ArchSpec::Lenet, &data, &Default::default(), Precision::F32)
                .expect("fits");
        trained_theta(&obj, train_steps)
    };
    let mut bench = Bench { rows: Vec::new() };
    // CURVSCOPE_BENCH_PRECISION=f32 (or f64) restricts the run to one precision.
    let only: Option<Precision> = std::env::var("CURVSCOPE_BENCH_PRECISION")
        .ok()
        .map(|p| p.parse().expect("f32 or f64"));
    let precisions: Vec<Precision> = [Precision::F32, Precision::F64]
        .into_iter()
        .filter(|p| only.is_none_or(|o| o == *p))
        .collect();
    for &precision in &precisions {
        run_precision(&mut bench, &data, &theta, precision, quick);
    }
    // The GPU rows (f32 only: burn-wgpu's f64 kernels did not compile on Vulkan), whole-batch
    // where the GPU's largest buffer allows (as `--device gpu`).
    #[cfg(feature = "wgpu")]
    if precisions.contains(&Precision::F32) {
        let precision = Precision::F32;
        let device = Default::default();
        let largest = curvscope_model::gpu_largest_buffer(&device);
        let gpu = BurnObjective::<curvscope_model::Gpu>::new_within(
            ArchSpec::Lenet,
            &data,
            &device,
            precision,
            largest,
        )
        .expect("fits")
        .with_samples_per_block(usize::MAX);
        first_and_second_order(&mut bench, &gpu, &theta, "burn-wgpu", precision, REPS);
        bench.time(
            "per-sample grads (all N)",
            "burn-wgpu",
            precision,
            1,
            1,
            None,
            || gpu.per_sample_grads(&theta),
        );
    }
    for &precision in &precisions {
        let ndarray =
            BurnObjective::<NdArray>::new(ArchSpec::Lenet, &data, &Default::default(), precision)
                .expect("fits");
        first_and_second_order(
            &mut bench,
            &ndarray,
            &theta,
            "burn-ndarray",
            precision,
            REPS,
        );
    }

    println!(
        "\n{:<32} {:<13} {:>4} {:>4} {:>11} {:>11} {:>9} {:>10}  note",
        "operation", "backend", "prec", "reps", "median s", "min s", "peak MiB", "subset"
    );
    for r in &bench.rows {
        println!(
            "{:<32} {:<13} {:>4} {:>4} {:>11.4} {:>11.4} {:>9.0} {:>10}  {}",
            r.op,
            r.backend,
            r.precision,
            r.reps,
            r.median_s,
            r.min_s,
            r.peak_rss_mib,
            r.extrapolated_from.as_deref().unwrap_or("-"),
            r.note
        );
    }
    let out = serde_json::json!({
        "mode": if quick { "quick" } else { "full" },
        "model": "lenet",
        "data": "fashion_corrupted(1000 clean, 200 random labels, seed 0)",
        "n_samples": data.len(),
        "dim": ArchSpec::Lenet.dim(),
        "theta": format!("PyTorch init (seed 0) + {train_steps} full-batch GD steps, lr 0.1"),
        "rayon_threads": threads,
        "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "rows": bench.rows,
    });
    eprintln!("wrote {}", write_result("curvature.json", &out).display());
}
