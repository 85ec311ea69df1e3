//! `cargo bench -p curvscope --bench full_spectrum`: the whole Hessian spectrum of LeNet ×
//! 1,200 Fashion-MNIST samples in f64 (D = 11,330), at the θ of the curvature bench: the
//! Hessian build (D columns of the lower triangle, each from its parameter tensor's trailing
//! block, in batched passes), faer's eigendecomposition, and the agreement of its top 20 with
//! Lanczos. Printed and written to target/bench/full_spectrum.json. Its peer is
//! bench/full_spectrum_pytorch.py.
//!
//! `CURVSCOPE_BENCH=quick` times the first `CURVSCOPE_BENCH_COLUMNS` (default one pass) columns
//! of each trailing block and extrapolates to the block, and times the eigendecomposition on a
//! random symmetric D×D matrix (no Lanczos comparison); the default (`full`) builds the real
//! Hessian and decomposes it.

use std::time::Instant;

use curvscope_hessian::{
    dense_eigenvalues, extreme_eigenpairs, DenseSpectrum, LanczosOptions, LinearOperator, Which,
};
use curvscope_metrics::HESSIAN_COLUMNS_PER_PASS;
use curvscope_model::{
    default_data_dir, fashion_corrupted, ArchSpec, BurnObjective, Cpu, HessianOperator, Objective,
    Precision,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::trained_theta;
#[path = "common/timing.rs"]
mod timing;
use timing::{timed, write_result};

#[path = "../src/allocator.rs"]
mod allocator;

/// The build time of all D columns estimated from the first `n` of each trailing block (one
/// pass of `dense_eigenvalues`' size when `n` is that): each block's columns cost alike.
fn estimated_build(h: &dyn LinearOperator, n: usize) -> f64 {
    let d = h.dim();
    let starts = h.block_starts();
    let ends = starts.iter().skip(1).copied().chain([d]);
    let mut total = 0.0;
    for (start, end) in starts.iter().copied().zip(ends) {
        let columns = n.min(end - start);
        let units: Vec<Vec<f64>> = (0..columns)
            .map(|j| {
                let mut e = vec![0.0; d - start];
                e[j] = 1.0;
                e
            })
            .collect();
        let (s, ()) = timed(|| {
            std::hint::black_box(h.apply_trailing(start, &units));
        });
        eprintln!("block at {start}: {:.4} s/column", s / columns as f64);
        total += s / columns as f64 * (end - start) as f64;
    }
    total
}

fn main() {
    allocator::purge_lazily();
    let quick = std::env::var("CURVSCOPE_BENCH").is_ok_and(|m| m == "quick");
    let threads = rayon::current_num_threads();
    let data = fashion_corrupted(&default_data_dir(), 1000, 200, 0).expect("bundled Fashion-MNIST");
    let theta = {
        let obj =
            BurnObjective::<Cpu>::new(ArchSpec::Lenet, &data, &Default::default(), Precision::F32)
                .expect("fits");
        trained_theta(&obj, 10)
    };
    let obj =
        BurnObjective::<Cpu>::new(ArchSpec::Lenet, &data, &Default::default(), Precision::F64)
            .expect("fits");
    let h = HessianOperator::new(&obj, &theta);
    let d = obj.dim();
    eprintln!(
        "full_spectrum bench ({}), D = {d}, {threads} rayon threads",
        if quick { "quick" } else { "full" }
    );
    let result = if quick {
        let n: usize = std::env::var("CURVSCOPE_BENCH_COLUMNS")
            .map_or(HESSIAN_COLUMNS_PER_PASS, |c| {
                c.parse().expect("a column count")
            });
        assert!(
            n > 0,
            "CURVSCOPE_BENCH_COLUMNS is 0: time at least one column per block"
        );
        let build = estimated_build(&h, n);
        eprintln!("build, estimated from {n} columns per block: {build:.1} s");
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let a = faer::Mat::<f64>::from_fn(d, d, |_, _| rng.random_range(-1.0..1.0));
        let (eigh, spectrum) = timed(|| DenseSpectrum::of_matrix(a));
        eprintln!("eigenvalues of a random symmetric D×D: {eigh:.1} s");
        serde_json::json!({
            "mode": "quick",
            "columns_timed_per_block": n,
            "build_s": build,
            "eigh_s": eigh,
            "eigh_matrix": "random symmetric",
            "lambda_1": spectrum.eigenvalues[0],
        })
    } else {
        let built = std::cell::Cell::new(0.0);
        let start = Instant::now();
        let (total, dense) = timed(|| {
            eprintln!("building all {d} columns");
            dense_eigenvalues(&h, HESSIAN_COLUMNS_PER_PASS, u64::MAX, &|j| {
                if j % 1000 == 0 || j == d {
                    eprintln!("{j} of {d} columns, {:.1} s", start.elapsed().as_secs_f64());
                    built.set(start.elapsed().as_secs_f64());
                }
            })
            .expect("finite")
        });
        let top = extreme_eigenpairs(
            &h,
            &LanczosOptions {
                k: 20,
                which: Which::Largest,
                tol: 1e-10,
                seed: 0,
                ..Default::default()
            },
        );
        let rel: Vec<f64> = dense.eigenvalues[..20]
            .iter()
            .zip(&top.eigenvalues)
            .map(|(a, b)| (a - b).abs() / a.abs())
            .collect();
        serde_json::json!({
            "mode": "full",
            "build_and_eigh_s": total,
            "build_s": built.get(),
            "eigh_s": total - built.get(),
            "asymmetry": dense.asymmetry,
            "top20_dense": &dense.eigenvalues[..20],
            "top20_lanczos": top.eigenvalues,
            "top20_max_rel_diff": rel.iter().fold(0.0f64, |m, r| m.max(*r)),
            "lanczos_converged": top.converged,
            "negative_below_1e-6": dense.count_negative(1e-6),
            "zero_within_1e-6": dense.count_near_zero(1e-6),
        })
    };
    let result = serde_json::json!({ "dim": d, "threads": threads, "result": result });
    println!(
        "{}",
        serde_json::to_string_pretty(&result).expect("plain JSON")
    );
    write_result("full_spectrum.json", &result);
}
