//! The seeded Monte-Carlo loop behind every stochastic estimate of this crate.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The random stream of probe `index`: ChaCha8 keyed by `seed` on stream `index`, so a probe
/// draws the same numbers whatever the thread count, scheduling or total number of probes.
pub(crate) fn probe_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// `f(probe_rng(seed, i))` for i in 0..m, returned in index order: evaluated in parallel when
/// `parallel`, else in order, as `f`s that make collective calls (a data-parallel objective,
/// [`curvscope_model::Objective::collective`]) must be, so every process makes them in step.
pub(crate) fn monte_carlo<T, F>(m: usize, seed: u64, parallel: bool, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(&mut ChaCha8Rng) -> T + Sync,
{
    let probe = |i| f(&mut probe_rng(seed, i));
    if parallel {
        (0..m).into_par_iter().map(probe).collect()
    } else {
        (0..m).map(probe).collect()
    }
}
