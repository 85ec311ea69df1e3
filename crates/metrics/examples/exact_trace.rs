//! Exact Tr(H) (the Gauss–Newton diagonal of a piecewise-linear net) against the stochastic
//! estimators it replaces, on a checkpoint trained on the paper's corrupted FashionMNIST set
//! (1,000 clean + 200 random labels, data seed 0). Prints values and timings; asserts nothing.
//!
//! ```sh
//! curvscope train --arch lenet --data fashion-corrupted --dynamic gd --lr 0.1 --steps 200 \
//!     --snapshot-every 200 --precision f64 --out /tmp/lenet-gd
//! cargo run --release -p curvscope-metrics --example exact_trace -- /tmp/lenet-gd/step-000200 400
//! ```
//! The last argument is the number of plain-Hutchinson probes of the cross-check (default 400).

use std::error::Error;
use std::time::Instant;

use curvscope_hessian::{
    deflated_hutchinson, extreme_eigenpairs, hutchinson, LanczosOptions, Probes, TraceEstimate,
};
use curvscope_metrics::{
    covariance_diagonal, layer_traces, noise_statistics, projection_coefficient, CurvatureOptions,
};
use curvscope_model::{
    default_data_dir, fashion_corrupted, load_checkpoint, BurnObjective, Cpu, HessianOperator,
    Precision,
};

/// `f()` and the seconds it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed().as_secs_f64())
}

/// `f()` and the least of the seconds three runs took (a shared machine's noise is additive).
fn fastest_of_three<T>(f: impl Fn() -> T) -> (T, f64) {
    let (value, first) = timed(&f);
    let least = (0..2).map(|_| timed(&f).1).fold(first, f64::min);
    (value, least)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: exact_trace CHECKPOINT_DIR [PROBES]")?;
    let probes: usize = args.next().map_or(Ok(400), |p| p.parse())?;
    let checkpoint = load_checkpoint(dir.as_ref())?;
    let theta = &checkpoint.theta;
    let data = fashion_corrupted(&default_data_dir(), 1000, 200, 0)?;
    let objective = |precision| {
        BurnObjective::<Cpu>::new(
            checkpoint.meta.arch.clone(),
            &data,
            &Default::default(),
            precision,
        )
        .map(BurnObjective::boxed)
    };
    let (f64_objective, f32_objective) = (objective(Precision::F64)?, objective(Precision::F32)?);
    println!(
        "{dir}: D = {}, N = {}",
        f64_objective.dim(),
        f64_objective.n_samples()
    );

    let mut exact_traces = Vec::new();
    for (name, obj) in [("f64", &*f64_objective), ("f32", &*f32_objective)] {
        let (_, pass) = fastest_of_three(|| obj.for_each_grad_chunk(theta, 64, &mut |_, _| {}));
        let (diagonal, exact) =
            fastest_of_three(|| obj.hessian_diagonal(theta).expect("a piecewise-linear net"));
        exact_traces.push(diagonal.iter().sum::<f64>());
        println!(
            "{name}: exact Tr(H) = {:.17e} in {exact:.2} s ({:.1} per-sample-gradient passes of {pass:.2} s; fastest of 3)",
            exact_traces.last().unwrap(),
            exact / pass
        );
    }
    println!(
        "f32 vs f64 exact Tr(H): relative difference {:.1e}",
        (exact_traces[1] - exact_traces[0]).abs() / exact_traces[0]
    );

    let options = CurvatureOptions::default();
    let report_stochastic = |name: &str, t: &TraceEstimate, seconds: f64| {
        println!(
            "{name}: Tr(H) = {:.6} ± {:.6} ({} probes, {} HVPs, {seconds:.1} s)",
            t.trace.value, t.trace.stderr, t.trace.probes, t.n_applications
        )
    };
    for (name, obj) in [("f64", &*f64_objective), ("f32", &*f32_objective)] {
        let h = HessianOperator::new(obj, theta);
        let lanczos = LanczosOptions {
            k: options.top_k,
            tol: options.tol,
            seed: options.seed,
            ..LanczosOptions::default()
        };
        let (top, lanczos_s) = timed(|| extreme_eigenpairs(&h, &lanczos));
        let (deflated, deflated_s) = timed(|| {
            deflated_hutchinson(&h, &top.eigenvectors, options.trace_probes, options.seed)
        });
        println!(
            "{name}: top-{} Lanczos {lanczos_s:.1} s, λ₁ = {:.17e}",
            options.top_k, top.eigenvalues[0]
        );
        report_stochastic(
            &format!("{name}: deflated Hutchinson (the default)"),
            &deflated,
            deflated_s,
        );
        if name != "f64" {
            continue;
        }
        let exact: Vec<f64> = obj.hessian_diagonal(theta).expect("a piecewise-linear net");
        let trace_h: f64 = exact.iter().sum();
        let noise = noise_statistics(obj, theta, &top.eigenvectors[..1], 64);
        let a_hat = |trace| {
            projection_coefficient(
                noise.quadratic_forms[0],
                trace,
                top.eigenvalues[0],
                noise.trace.value,
            )
            .expect("Tr(H), λ₁ and Tr(Σ) are positive at a trained LeNet")
        };
        println!(
            "f64: Tr(Σ) = {:.17e}, u₁ᵀΣu₁ = {:.17e}",
            noise.trace.value, noise.quadratic_forms[0]
        );
        println!("f64: â (exact Tr(H)) = {:.17e}", a_hat(trace_h));
        println!(
            "f64: â (deflated Hutchinson Tr(H)) = {:.17e}",
            a_hat(deflated.trace.value)
        );
        let sigma = covariance_diagonal(obj, theta);
        for layer in layer_traces(&obj.parameter_tensors(), &exact, &sigma) {
            println!(
                "  {:14} {:6} Tr(H)_T = {:12.6} mean H_jj = {:10.3e} Tr(Σ)_T = {:12.6}",
                layer.tensor, layer.n_params, layer.trace_h, layer.mean_diag_h, layer.trace_sigma
            );
        }
        let (plain, plain_s) = timed(|| hutchinson(&h, Probes::Fixed(probes), 1));
        report_stochastic("f64: plain Hutchinson (cross-check)", &plain, plain_s);
        println!(
            "f64: exact − plain Hutchinson = {:.3} stderr; exact − deflated = {:.3} stderr",
            (trace_h - plain.trace.value) / plain.trace.stderr,
            (trace_h - deflated.trace.value) / deflated.trace.stderr
        );
    }
    Ok(())
}
