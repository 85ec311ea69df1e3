//! `cargo bench -p curvscope --bench lanczos [-- D]`: what a top-20 `extreme_eigenpairs` costs
//! on the host besides the operator's products, at dimension D (default 1,000,000; VGG-11 has
//! 9,225,610). That cost is full reorthogonalization, sweeps of the whole basis every step,
//! O(m²·D) over m steps: on a GPU it runs between the HVPs, and for VGG-11 it was as slow as
//! they are. The operator is diagonal with eigenvalues 1/√(i + 1) (a bulk without gaps, so
//! Lanczos needs many steps) and costs one pass over D. Two cases: to convergence (tol 1e-6),
//! and the whole 140-vector basis (tol 0: the budget of a run that does not converge early).
//! Medians of 3, printed and written to target/bench/lanczos.json. Its peer is scipy's ARPACK
//! (bench/lanczos_scipy.py, the same operator and tolerance).

use std::sync::Mutex;

use curvscope_hessian::{extreme_eigenpairs, LanczosOptions, LinearOperator};

#[path = "common/timing.rs"]
mod timing;
use timing::{timed, write_result};

#[path = "../src/allocator.rs"]
mod allocator;

/// diag(1/√(i + 1)), keeping the seconds spent in its products so the host's share is the rest.
struct Bulk {
    diagonal: Vec<f64>,
    product_s: Mutex<f64>,
}

impl LinearOperator for Bulk {
    fn dim(&self) -> usize {
        self.diagonal.len()
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let (s, y) = timed(|| x.iter().zip(&self.diagonal).map(|(a, b)| a * b).collect());
        *self.product_s.lock().expect("timer") += s;
        y
    }
}

/// D from the command line, 1,000,000 when none is given (`cargo bench` adds `--bench`, which is
/// skipped); anything but one positive integer is an error that names it.
fn dimension() -> Result<usize, String> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.as_slice() {
        [] => Ok(1_000_000),
        [d] => d
            .parse()
            .ok()
            .filter(|&d: &usize| d > 0)
            .ok_or_else(|| format!("D must be a positive integer, not {d:?}")),
        _ => Err(format!("expected one argument, D; got {args:?}")),
    }
}

fn main() {
    allocator::purge_lazily();
    let d = dimension().unwrap_or_else(|e| {
        eprintln!("lanczos bench: {e}");
        std::process::exit(2)
    });
    let op = Bulk {
        diagonal: (0..d).map(|i| 1.0 / (i as f64 + 1.0).sqrt()).collect(),
        product_s: Mutex::new(0.0),
    };
    let mut rows = Vec::new();
    for (case, tol) in [("converged", 1e-6), ("whole basis", 0.0)] {
        let opts = LanczosOptions {
            k: 20,
            tol,
            ..LanczosOptions::default()
        };
        let mut runs = Vec::new();
        for _ in 0..3 {
            *op.product_s.lock().expect("timer") = 0.0;
            let (total, pairs) = timed(|| extreme_eigenpairs(&op, &opts));
            let product = *op.product_s.lock().expect("timer");
            let top_error = (pairs.eigenvalues[0] - 1.0).abs();
            runs.push((total - product, total, pairs.n_applications, top_error));
        }
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (host_s, total_s, steps, top_error) = runs[1];
        eprintln!(
            "{case:>12}: {steps} steps, host {host_s:.2} s (total {total_s:.2} s), λ₁ error {top_error:.1e}"
        );
        rows.push(serde_json::json!({
            "case": case, "tol": tol, "steps": steps, "host_s": host_s, "total_s": total_s,
            "top_eigenvalue_error": top_error,
        }));
    }
    let out = serde_json::json!({
        "dim": d, "k": 20, "reps": 3, "statistic": "median of host seconds",
        "rayon_threads": rayon::current_num_threads(), "rows": rows,
    });
    eprintln!("wrote {}", write_result("lanczos.json", &out).display());
}
