//! `Distributed` against the same objective in one process: each method on P = 2 and 3
//! thread-ranks (N = 23, uneven shares) equals the whole objective's, and an HVP all-reduces
//! exactly D·8 bytes per rank.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use curvscope_model::distributed::share;
use curvscope_model::{
    ArchSpec, BurnObjective, Collective, Cpu, Dataset, Distributed, Objective, Precision, Targets,
    ThreadGroup,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 23;

fn data() -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = (0..N * 4).map(|_| rng.random_range(-1.0..1.0)).collect();
    let labels = (0..N).map(|_| rng.random_range(0..3)).collect();
    let targets = Targets::Classes {
        labels,
        n_classes: 3,
    };
    Dataset::new("random", x, vec![4], targets, None).unwrap()
}

fn objective(data: &Dataset) -> Box<dyn Objective> {
    let arch: ArchSpec = serde_json::from_str(
        r#"{"name":"mlp","input":4,"hidden":[5],"classes":3,"activation":"relu"}"#,
    )
    .unwrap();
    BurnObjective::<Cpu>::new(arch, data, &Default::default(), Precision::F64)
        .unwrap()
        .boxed()
}

/// A [`ThreadGroup`] member that counts the bytes it contributes to all-reduces.
#[derive(Debug)]
struct Counting {
    inner: ThreadGroup,
    summed_bytes: AtomicUsize,
}

impl Collective for Counting {
    fn rank(&self) -> usize {
        self.inner.rank()
    }
    fn size(&self) -> usize {
        self.inner.size()
    }
    fn sum(&self, values: &mut [f64]) {
        self.summed_bytes
            .fetch_add(8 * values.len(), Ordering::Relaxed);
        self.inner.sum(values)
    }
    fn gather(&self, local: &[f64]) -> Vec<f64> {
        self.inner.gather(local)
    }
}

/// `f(rank's distributed objective, its counter)` on every rank of a group of `size`.
fn on_ranks<T: Send>(size: usize, f: impl Fn(&Distributed, &Counting) -> T + Sync) -> Vec<T> {
    let data = data();
    std::thread::scope(|s| {
        let ranks: Vec<_> = ThreadGroup::new(size)
            .into_iter()
            .map(|inner| {
                let (data, f) = (&data, &f);
                s.spawn(move || {
                    let counting = Arc::new(Counting {
                        inner,
                        summed_bytes: AtomicUsize::new(0),
                    });
                    let local = objective(&data.slice(share(N, size, counting.rank())));
                    let whole = Distributed::new(local, counting.clone(), N);
                    f(&whole, &counting)
                })
            })
            .collect();
        ranks.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-12 * scale, "{what}[{i}]: {g} vs {w}");
    }
}

fn random(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-0.8..0.8)).collect()
}

/// Every method whose result is the same on all ranks, as one flat vector.
fn all_methods(o: &dyn Objective, theta: &[f64]) -> Vec<Vec<f64>> {
    let d = o.dim();
    let (v, u, w) = (random(d, 3), random(d, 4), random(N, 5));
    vec![
        o.per_sample_losses(theta),
        vec![o.loss(theta)],
        o.grad(theta),
        o.weighted_grad(theta, &w),
        o.hvp(theta, &v),
        o.hvps(theta, &[v.clone(), u.clone()]).concat(),
        o.trailing_hvps(theta, 7, &[v[7..].to_vec(), u[7..].to_vec()])
            .concat(),
        o.per_sample_grads_range(theta, 5, 15),
        o.hessian_diagonal(theta).unwrap(),
        vec![o.accuracy(theta).unwrap()],
        {
            let (loss, accuracy) = o.loss_and_accuracy(theta);
            vec![loss, accuracy.unwrap()]
        },
    ]
}

#[test]
fn every_method_equals_one_process() {
    let data = data();
    let single = objective(&data);
    let theta = random(single.dim(), 2);
    let want = all_methods(&*single, &theta);
    let names = [
        "losses",
        "loss",
        "grad",
        "weighted",
        "hvp",
        "hvps",
        "trailing",
        "rows",
        "diagonal",
        "accuracy",
        "loss & accuracy",
    ];
    for size in [2, 3] {
        let got = on_ranks(size, |o, _| all_methods(o, &theta));
        for rank in &got {
            for ((g, w), name) in rank.iter().zip(&want).zip(names) {
                assert_close(g, w, &format!("P={size} {name}"));
            }
        }
        assert!(got.iter().all(|r| r == &got[0]), "P={size}: ranks differ");
    }
}

#[test]
fn streamed_rows_and_quadratic_forms_cover_each_sample_once() {
    let data = data();
    let single = objective(&data);
    let theta = random(single.dim(), 2);
    let d = single.dim();
    let rows = single.per_sample_grads(&theta);
    let forms = single.hessian_quadratic_forms(
        &theta,
        &rows.chunks(d).map(<[f64]>::to_vec).collect::<Vec<_>>(),
    );
    for size in [2, 3] {
        // Each rank streams its own rows (global starts) and forms their vᵀHv with the whole H.
        let per_rank = on_ranks(size, |o, _| {
            let mut seen = Vec::new();
            o.for_each_grad_chunk(&theta, 4, &mut |start, chunk| {
                let vs: Vec<Vec<f64>> = chunk.chunks(d).map(<[f64]>::to_vec).collect();
                let f = o.hessian_quadratic_forms(&theta, &vs);
                seen.push((start, chunk, f));
            });
            seen
        });
        let rounds = share(N, size, 0).len().div_ceil(4);
        let (mut all_rows, mut all_forms) = (Vec::new(), Vec::new());
        for (rank, seen) in per_rank.into_iter().enumerate() {
            assert_eq!(seen.len(), rounds, "rank {rank}: every rank the same calls");
            assert_eq!(seen[0].0, share(N, size, rank).start);
            for (_, chunk, f) in seen {
                all_rows.extend(chunk);
                all_forms.extend(f);
            }
        }
        assert_close(&all_rows, &rows, &format!("P={size} rows"));
        assert_close(&all_forms, &forms, &format!("P={size} forms"));
    }
}

#[test]
fn an_hvp_all_reduces_d_doubles_per_rank() {
    let dim = objective(&data()).dim();
    let theta = random(dim, 2);
    let v = random(dim, 3);
    for size in [2, 3] {
        let bytes = on_ranks(size, |o, counter| {
            o.hvp(&theta, &v);
            counter.summed_bytes.load(Ordering::Relaxed)
        });
        assert_eq!(bytes, vec![8 * dim; size]);
    }
}
