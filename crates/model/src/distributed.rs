//! Data parallelism: one [`Objective`] whose N samples are split over P processes.
//!
//! Every process holds a contiguous share of the samples ([`share`]) in an ordinary local
//! objective; [`Distributed`] wraps it in the same [`Objective`] trait, so every algorithm runs
//! unchanged (the design of curvlinops' linear operators: the data loop hides behind the
//! product). Full-batch quantities (loss, gradient, weighted gradient, H·v) are sums over
//! samples, so each process computes its share's sum and a [`Collective`] adds them up.
//!
//! Everything else runs redundantly: each process drives the same Lanczos, Hutchinson and
//! sharpness loops from the same seeds on the same all-reduced numbers, so all hold the same
//! iterates bit for bit and no eigenvector or random vector is ever shipped. Per product that
//! costs one D-vector all-reduce (D·8 bytes per process), against shipping each Lanczos basis
//! vector from a master; the redundant work is O(D) per product, small beside an HVP's pass
//! over the data. The price is that every process must make the same collective calls in the
//! same order: algorithms call the objective from one thread at a time when
//! [`Objective::collective`] is set.

use std::fmt::Debug;
use std::ops::Range;
use std::sync::{Arc, Barrier, Mutex};

use crate::Objective;

/// How the P processes of a data-parallel run combine their numbers (MPI in the `curvscope`
/// binary's `mpi` build, [`ThreadGroup`] in tests). Every process calls each method together
/// with all the others, in the same order.
pub trait Collective: Send + Sync + Debug {
    /// This process's index, 0..size.
    fn rank(&self) -> usize;
    /// Number of processes P.
    fn size(&self) -> usize;
    /// Element-wise sum over all processes, in place: every process receives the same total.
    fn sum(&self, values: &mut [f64]);
    /// Every process's `local`, concatenated in rank order (lengths may differ).
    fn gather(&self, local: &[f64]) -> Vec<f64>;
}

/// The contiguous samples of process `rank` out of `size` for N = `n`: the first n mod size
/// processes take one more sample than the rest.
///
/// ```
/// use curvscope_model::distributed::share;
/// assert_eq!((0..3).map(|r| share(10, 3, r)).collect::<Vec<_>>(), vec![0..4, 4..7, 7..10]);
/// ```
pub fn share(n: usize, size: usize, rank: usize) -> Range<usize> {
    let (base, extra) = (n / size, n % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// SGD's minibatch gradient (1/b) Σ_j g_{i_j} over P processes: `indices` are b global sample
/// indices (repeats counted), drawn alike on every process from the same seed, so no index is
/// shipped. Each process evaluates only the selected samples of its [`share`] of the `n`:
/// `held_sum(held)` is the summed gradient of `held` (global indices, repeats kept, never
/// empty), in R^`dim`; one all-reduce adds the processes' sums. A minibatch thus costs each
/// process about b/P samples and one D-vector all-reduce.
///
/// ```
/// use curvscope_model::distributed::minibatch_grad;
/// use curvscope_model::{Collective, ThreadGroup};
/// // g_i = (i, 1): the minibatch [4, 0, 4] of 5 samples has mean gradient (8/3, 1).
/// let sum = |held: &[usize]| vec![held.iter().sum::<usize>() as f64, held.len() as f64];
/// let means: Vec<Vec<f64>> = std::thread::scope(|s| {
///     let handles: Vec<_> = ThreadGroup::new(2).into_iter().map(|member| {
///         s.spawn(move || minibatch_grad(&member, 5, 2, &[4, 0, 4], &sum))
///     }).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(means, vec![vec![8.0 / 3.0, 1.0]; 2]);
/// ```
pub fn minibatch_grad(
    collective: &dyn Collective,
    n: usize,
    dim: usize,
    indices: &[usize],
    held_sum: &dyn Fn(&[usize]) -> Vec<f64>,
) -> Vec<f64> {
    let mine = share(n, collective.size(), collective.rank());
    let held: Vec<usize> = indices
        .iter()
        .copied()
        .filter(|i| mine.contains(i))
        .collect();
    let mut sum = match held.is_empty() {
        true => vec![0.0; dim],
        false => held_sum(&held),
    };
    collective.sum(&mut sum);
    sum.iter_mut().for_each(|s| *s /= indices.len() as f64);
    sum
}

/// An [`Objective`] over all N samples, computed by P processes that each hold a share.
///
/// ```
/// use std::sync::Arc;
/// use curvscope_model::{ArchSpec, BurnObjective, Cpu, Dataset, Distributed, Objective};
/// use curvscope_model::{Collective, Precision, Targets, ThreadGroup};
/// use curvscope_model::distributed::share;
///
/// // The paper's 2-D loss on three samples, split over two "processes" (threads).
/// let arch = ArchSpec::Toy2d;
/// let data = Dataset::new("pts", vec![0.0, 0.0, 0.1, 0.2, 0.3, -0.1], vec![2], Targets::None, None)?;
/// let theta = [1.0, 0.5];
/// let whole = BurnObjective::<Cpu>::new(arch.clone(), &data, &Default::default(), Precision::F64)?;
/// let losses: Vec<f64> = std::thread::scope(|s| {
///     let handles: Vec<_> = ThreadGroup::new(2).into_iter().map(|member| {
///         let (arch, data) = (arch.clone(), &data);
///         s.spawn(move || {
///             let part = data.slice(share(3, 2, member.rank()));
///             let local = BurnObjective::<Cpu>::new(arch, &part, &Default::default(), Precision::F64).unwrap();
///             Distributed::new(Box::new(local), Arc::new(member), 3).loss(&theta)
///         })
///     }).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).collect()
/// });
/// assert_eq!(losses, vec![whole.loss(&theta); 2]);
/// # Ok::<(), curvscope_model::DataError>(())
/// ```
pub struct Distributed {
    local: Box<dyn Objective>,
    collective: Arc<dyn Collective>,
    samples: Range<usize>,
    n: usize,
}

impl Distributed {
    /// Wraps `local`, the objective on this process's [`share`] of `n` samples.
    ///
    /// # Panics
    /// If `local` does not hold exactly that share.
    pub fn new(local: Box<dyn Objective>, collective: Arc<dyn Collective>, n: usize) -> Self {
        let samples = share(n, collective.size(), collective.rank());
        assert_eq!(
            local.n_samples(),
            samples.len(),
            "process {} of {} must hold samples {samples:?} of {n}",
            collective.rank(),
            collective.size()
        );
        Self {
            local,
            collective,
            samples,
            n,
        }
    }

    /// The samples this process holds, as indices into all N.
    pub fn local_samples(&self) -> Range<usize> {
        self.samples.clone()
    }

    /// A local mean over this process's samples as its part of the global mean: × n_local/N.
    fn part_of_mean(&self, mut local_mean: Vec<f64>) -> Vec<f64> {
        let weight = self.samples.len() as f64 / self.n as f64;
        local_mean.iter_mut().for_each(|x| *x *= weight);
        local_mean
    }

    /// Element-wise sum over the processes, returned.
    fn summed(&self, mut values: Vec<f64>) -> Vec<f64> {
        self.collective.sum(&mut values);
        values
    }

    /// Local products of the local mean (equal lengths), weighted and summed over the
    /// processes in one all-reduce.
    fn summed_products(&self, local: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
        let len = local.first().map_or(0, Vec::len);
        if len == 0 {
            return local;
        }
        self.summed(self.part_of_mean(local.concat()))
            .chunks(len)
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// Most samples any process holds (process 0's share).
    fn largest_share(&self) -> usize {
        share(self.n, self.collective.size(), 0).len()
    }
}

impl Objective for Distributed {
    fn dim(&self) -> usize {
        self.local.dim()
    }

    fn n_samples(&self) -> usize {
        self.n
    }

    fn local_n_samples(&self) -> usize {
        self.samples.len()
    }

    /// None, whatever the local objective offers: a basis on each rank's GPU sums in f32 there,
    /// and ranks whose sums differed could take other numbers of Lanczos steps and wait forever
    /// in a collective. The host's f64 basis gives every rank the same bits.
    fn basis_store(&self) -> Option<Box<dyn curvscope_hessian::BasisStore>> {
        None
    }

    /// Every process's losses, gathered: N numbers.
    fn per_sample_losses(&self, theta: &[f64]) -> Vec<f64> {
        self.collective.gather(&self.local.per_sample_losses(theta))
    }

    fn weighted_grad(&self, theta: &[f64], w: &[f64]) -> Vec<f64> {
        assert_eq!(w.len(), self.n, "one weight per sample");
        self.summed(self.local.weighted_grad(theta, &w[self.samples.clone()]))
    }

    /// Σ_i ∇ℓ_i summed over processes, then divided by N (as one process forms the mean).
    fn grad(&self, theta: &[f64]) -> Vec<f64> {
        let ones = vec![1.0; self.samples.len()];
        let mut sum = self.summed(self.local.weighted_grad(theta, &ones));
        sum.iter_mut().for_each(|x| *x /= self.n as f64);
        sum
    }

    fn hvp(&self, theta: &[f64], v: &[f64]) -> Vec<f64> {
        self.summed(self.part_of_mean(self.local.hvp(theta, v)))
    }

    /// The local HVPs, then one all-reduce of all of them together.
    fn hvps(&self, theta: &[f64], vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        self.summed_products(self.local.hvps(theta, vs))
    }

    /// The local trailing products, then one all-reduce of all of them together.
    fn trailing_hvps(&self, theta: &[f64], start: usize, vs: &[Vec<f64>]) -> Vec<Vec<f64>> {
        self.summed_products(self.local.trailing_hvps(theta, start, vs))
    }

    /// The rows of `start..start + len` each process holds, gathered (N·D traffic when the
    /// range is everything: streaming statistics use [`Objective::for_each_grad_chunk`]).
    fn per_sample_grads_range(&self, theta: &[f64], start: usize, len: usize) -> Vec<f64> {
        let from = start.max(self.samples.start);
        let to = (start + len).min(self.samples.end).max(from);
        let rows = if to > from {
            self.local
                .per_sample_grads_range(theta, from - self.samples.start, to - from)
        } else {
            Vec::new()
        };
        self.collective.gather(&rows)
    }

    /// This process's samples only, in as many calls as the largest share needs (empty rows
    /// once this share is done), so that sinks making collective calls stay in step.
    fn for_each_grad_chunk(
        &self,
        theta: &[f64],
        chunk: usize,
        sink: &mut dyn FnMut(usize, Vec<f64>),
    ) {
        let chunk = chunk.max(1);
        let offset = self.samples.start;
        let n_local = self.samples.len();
        for round in 0..self.largest_share().div_ceil(chunk) {
            let start = (round * chunk).min(n_local);
            let len = chunk.min(n_local - start);
            let rows = if len > 0 {
                self.local.per_sample_grads_range(theta, start, len)
            } else {
                Vec::new()
            };
            sink(offset + start, rows);
        }
    }

    /// Each process's vectors in turn are sent to all, each process applies its share of the
    /// Hessian to them, and the forms are summed: the per-sample HVPs of exact Tr(HΣ) spread
    /// evenly. One process's vectors at a time: gathering all P at once held P chunks twice on
    /// every process, beyond the memory plan.
    fn hessian_quadratic_forms(&self, theta: &[f64], vs: &[Vec<f64>]) -> Vec<f64> {
        let d = self.dim().max(1);
        let rank = self.collective.rank();
        let weight = self.samples.len() as f64 / self.n as f64;
        let mut mine = Vec::new();
        for from in 0..self.collective.size() {
            let sent = if from == rank {
                vs.concat()
            } else {
                Vec::new()
            };
            let theirs: Vec<Vec<f64>> = self
                .collective
                .gather(&sent)
                .chunks(d)
                .map(<[f64]>::to_vec)
                .collect();
            drop(sent);
            let forms: Vec<f64> = self
                .local
                .hessian_quadratic_forms(theta, &theirs)
                .into_iter()
                .map(|f| f * weight)
                .collect();
            let forms = self.summed(forms);
            if from == rank {
                mine = forms;
            }
        }
        mine
    }

    fn collective(&self) -> Option<Arc<dyn Collective>> {
        Some(self.collective.clone())
    }

    fn hessian_diagonal(&self, theta: &[f64]) -> Option<Vec<f64>> {
        let local = self.local.hessian_diagonal(theta)?;
        Some(self.summed(self.part_of_mean(local)))
    }

    fn parameter_tensors(&self) -> Vec<(String, Vec<usize>)> {
        self.local.parameter_tensors()
    }

    /// Correct counts summed over processes, over N.
    fn accuracy(&self, theta: &[f64]) -> Option<f64> {
        let correct = self.local.accuracy(theta)? * self.samples.len() as f64;
        Some(self.summed(vec![correct.round()])[0] / self.n as f64)
    }
}

/// P "processes" as threads of one process, for tests of data-parallel code without MPI:
/// [`ThreadGroup::new`] gives one member per thread; sums are taken in rank order.
#[derive(Debug)]
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Exchange>,
}

#[derive(Debug)]
struct Exchange {
    size: usize,
    slots: Mutex<Vec<Vec<f64>>>,
    barrier: Barrier,
}

impl ThreadGroup {
    /// `size` members, rank 0..size; move each into its own thread.
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        let shared = Arc::new(Exchange {
            size,
            slots: Mutex::new(vec![Vec::new(); size]),
            barrier: Barrier::new(size),
        });
        (0..size)
            .map(|rank| ThreadGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Every member's `local`, in rank order.
    fn exchange(&self, local: &[f64]) -> Vec<Vec<f64>> {
        self.shared.slots.lock().expect("no member panicked")[self.rank] = local.to_vec();
        self.shared.barrier.wait();
        let all = self
            .shared
            .slots
            .lock()
            .expect("no member panicked")
            .clone();
        // Nobody overwrites a slot before everyone has read this round.
        self.shared.barrier.wait();
        all
    }
}

impl Collective for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn sum(&self, values: &mut [f64]) {
        let all = self.exchange(values);
        values.fill(0.0);
        for part in &all {
            values.iter_mut().zip(part).for_each(|(v, p)| *v += p);
        }
    }

    fn gather(&self, local: &[f64]) -> Vec<f64> {
        self.exchange(local).concat()
    }
}
