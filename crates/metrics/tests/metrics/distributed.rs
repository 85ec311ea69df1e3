//! Data parallelism: every number of a report, and θ after a few steps of every training
//! dynamic, computed by P processes (threads standing in for MPI ranks, uneven shares
//! included) equals the one-process result to 1e-12 relative, and all processes hold the same
//! numbers bit for bit (they run the same iterations).

use std::sync::Arc;

use curvscope_hessian::SlqOptions;
use curvscope_metrics::{
    analyze_checkpoint, AdaptiveAverageOptions, AdaptiveWorstOptions, AscentOptions,
    CurvatureOptions, Descent, DescentOptions, Dynamic, EpsilonSharpnessOptions, MinibatchGrad,
    ReportOptions, SharpnessOptions, TraceHSigmaMethod,
};
use curvscope_model::distributed::{minibatch_grad, share};
use curvscope_model::{
    ArchSpec, BurnObjective, Collective, Cpu, Dataset, Distributed, Objective, Precision, Targets,
    ThreadGroup,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// N = 23 random points in R⁵ with 3 random classes (23 splits unevenly over 2 and 3).
pub(crate) fn data() -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = 23;
    let x = (0..n * 5).map(|_| rng.random_range(-1.0..1.0)).collect();
    let labels = (0..n).map(|_| rng.random_range(0..3)).collect();
    let targets = Targets::Classes {
        labels,
        n_classes: 3,
    };
    Dataset::new("random", x, vec![5], targets, None).unwrap()
}

/// A ReLU MLP 5 → 6 → 3 (D = 57): piecewise linear, so the report has the exact diagonal and
/// per-layer columns too.
fn arch() -> ArchSpec {
    serde_json::from_str(r#"{"name":"mlp","input":5,"hidden":[6],"classes":3,"activation":"relu"}"#)
        .unwrap()
}

pub(crate) fn objective(data: &Dataset) -> Box<dyn Objective> {
    BurnObjective::<Cpu>::new(arch(), data, &Default::default(), Precision::F64)
        .unwrap()
        .boxed()
}

/// Every estimate of the report switched on, with small sample counts.
pub(crate) fn options(trace_h_sigma: TraceHSigmaMethod) -> ReportOptions {
    let ascent = AscentOptions {
        iterations: 3,
        ..AscentOptions::default()
    };
    let worst = AdaptiveWorstOptions {
        rho: 0.05,
        ascent: ascent.clone(),
    };
    ReportOptions {
        chunk: 5,
        trace_h_sigma,
        sigma_top_k: 3,
        sharpness: Some(SharpnessOptions {
            sigma: 0.01,
            samples: 8,
            seed: 1,
        }),
        epsilon_sharpness: Some(EpsilonSharpnessOptions {
            ascent,
            ..EpsilonSharpnessOptions::default()
        }),
        adaptive_sharpness_average: Some(AdaptiveAverageOptions {
            rho: 0.05,
            samples: 8,
            seed: 2,
        }),
        adaptive_sharpness_l2: Some(worst.clone()),
        adaptive_sharpness_linf: Some(worst),
        batch_size: Some(4),
        curvature: CurvatureOptions {
            top_k: 3,
            density: Some(SlqOptions {
                n_probes: 3,
                ..SlqOptions::default()
            }),
            ..CurvatureOptions::default()
        },
    }
}

/// The report of each of `size` processes, each holding its [`share`] of the data.
fn distributed_reports(size: usize, theta: &[f64], options: &ReportOptions) -> Vec<Value> {
    let data = data();
    std::thread::scope(|s| {
        let ranks: Vec<_> = ThreadGroup::new(size)
            .into_iter()
            .map(|member| {
                let data = &data;
                s.spawn(move || {
                    let local = objective(&data.slice(share(data.len(), size, member.rank())));
                    let whole = Distributed::new(local, Arc::new(member), data.len());
                    serde_json::to_value(analyze_checkpoint(&whole, theta, options)).unwrap()
                })
            })
            .collect();
        ranks.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

/// Walks two JSON trees of the same shape; numbers must agree to `rtol` relative to the larger
/// of them, or of the largest number in the same array (`scale`): an array is one column of
/// values on one scale, like the density's grid, whose points near 0 are differences
/// a + i·h that carry the grid's absolute rounding, not their own.
fn assert_close(got: &Value, want: &Value, rtol: f64, scale: f64, path: &str) -> usize {
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!(
                (a - b).abs() <= rtol * a.abs().max(b.abs()).max(scale),
                "{path}: {a} vs one process' {b}"
            );
            1
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: lengths");
            let scale = b
                .iter()
                .filter_map(Value::as_f64)
                .fold(0.0, |m, x| x.abs().max(m));
            a.iter()
                .zip(b)
                .enumerate()
                .map(|(i, (x, y))| assert_close(x, y, rtol, scale, &format!("{path}[{i}]")))
                .sum()
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{path}: fields"
            );
            a.iter()
                .map(|(k, x)| assert_close(x, &b[k], rtol, 0.0, &format!("{path}.{k}")))
                .sum()
        }
        _ => {
            assert_eq!(got, want, "{path}");
            0
        }
    }
}

/// A seeded θ of `dim` entries in [−0.7, 0.7).
pub(crate) fn theta(dim: usize) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    (0..dim).map(|_| rng.random_range(-0.7..0.7)).collect()
}

fn check(trace_h_sigma: TraceHSigmaMethod) {
    let data = data();
    let single = objective(&data);
    let theta = theta(single.dim());
    let options = options(trace_h_sigma);
    let want = serde_json::to_value(analyze_checkpoint(&*single, &theta, &options)).unwrap();
    for size in [2, 3] {
        let reports = distributed_reports(size, &theta, &options);
        let compared = assert_close(&reports[0], &want, 1e-12, 0.0, &format!("P={size}"));
        assert!(compared > 100, "only {compared} numbers compared");
        assert!(
            reports.iter().all(|r| r == &reports[0]),
            "P={size}: ranks differ"
        );
    }
}

#[test]
fn every_number_of_a_report_equals_one_process() {
    check(TraceHSigmaMethod::Exact);
}

#[test]
fn stochastic_trace_h_sigma_equals_one_process() {
    check(TraceHSigmaMethod::Stochastic {
        probes: 4,
        seed: 7,
        known_top_terms: true,
    });
}

/// θ after `steps` steps of `dynamic` from `theta`, on `objective`, with SGD's minibatches from
/// `minibatch`.
fn descend(
    dynamic: Dynamic,
    objective: &dyn Objective,
    theta: &[f64],
    minibatch: &MinibatchGrad<'_>,
) -> Vec<f64> {
    let mut descent = Descent::new(DescentOptions {
        refresh_every: 2,
        rank: 2,
        ..DescentOptions::new(dynamic, 4)
    });
    let mut theta = theta.to_vec();
    for step in 0..4 {
        assert!(descent.step(objective, &mut theta, 0.1, Precision::F64, step, minibatch));
    }
    theta
}

/// Every dynamic (its noise structures, minibatches and sample weights) run by P = 2 and 3
/// processes, each evaluating only its own samples, ends where one process ends to 1e-12
/// relative to max|θ|, and all processes hold the same θ bit for bit.
#[test]
fn every_dynamic_descends_as_one_process() {
    let data = data();
    let n = data.len();
    let single = objective(&data);
    let theta = arch().init(curvscope_model::Init::PyTorch, 4);
    for dynamic in Dynamic::ALL {
        let whole_batch = |t: &[f64], idx: &[usize]| objective(&data.subset(idx)).grad(t);
        let want = descend(dynamic, &*single, &theta, &whole_batch);
        let scale = want.iter().fold(0.0, |m: f64, x| m.max(x.abs()));
        for size in [2, 3] {
            let thetas: Vec<Vec<f64>> = std::thread::scope(|s| {
                let ranks: Vec<_> = ThreadGroup::new(size)
                    .into_iter()
                    .map(|member| {
                        let (data, theta) = (&data, &theta);
                        s.spawn(move || {
                            let member = Arc::new(member);
                            let local = objective(&data.slice(share(n, size, member.rank())));
                            let dim = local.dim();
                            let whole = Distributed::new(local, member.clone(), n);
                            let held_batch = |t: &[f64], idx: &[usize]| {
                                let held_sum = |held: &[usize]| {
                                    let ones = vec![1.0; held.len()];
                                    objective(&data.subset(held)).weighted_grad(t, &ones)
                                };
                                minibatch_grad(&*member, n, dim, idx, &held_sum)
                            };
                            descend(dynamic, &whole, theta, &held_batch)
                        })
                    })
                    .collect();
                ranks.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert!(
                thetas.iter().all(|t| t == &thetas[0]),
                "{dynamic}, P={size}: ranks differ"
            );
            let worst = thetas[0]
                .iter()
                .zip(&want)
                .fold(0.0, |m: f64, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 1e-12 * scale,
                "{dynamic}, P={size}: θ differs from one process by {worst:e} (max|θ| {scale})"
            );
            assert_ne!(want, theta, "{dynamic} moved θ");
        }
    }
}
