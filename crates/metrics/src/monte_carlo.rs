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

/// `f(probe_rng(seed, i))` for i in 0..m, evaluated in parallel and returned in index order.
pub(crate) fn monte_carlo<T, F>(m: usize, seed: u64, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(&mut ChaCha8Rng) -> T + Sync,
{
    (0..m)
        .into_par_iter()
        .map(|i| f(&mut probe_rng(seed, i)))
        .collect()
}
