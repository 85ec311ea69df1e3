//! This process's place in a data-parallel `mpirun -n P curvscope train|analyze …` job
//! (feature `mpi`): which rank it is, the collective its objective sums over, rank 0's
//! decisions shared with the others, and how a failure on one rank stops them all. Without the
//! feature, or under P = 1, every process is a job of one.

use std::sync::{Arc, OnceLock};

use anyhow::Result;
use curvscope_metrics::KrylovBasis;
use curvscope_model::{ArchSpec, Collective, Dataset, Distributed, Objective, Precision};
use sha2::Digest;

use crate::network::{objective, Device};

/// The ranks of one job. Rank 0 leads: it alone reads and writes the output folder and shows
/// progress.
pub struct Job {
    #[cfg(feature = "mpi")]
    mpi: Option<Arc<mpi_world::World>>,
}

/// The process's job, joined once: MPI may be initialized only once per process, and `demo`
/// runs `train` and `analyze` in one.
static JOB: OnceLock<Result<Job, String>> = OnceLock::new();

impl Job {
    /// The MPI job this process was started in, joined at the first call (a job of one when
    /// not under `mpirun`, or without the `mpi` feature).
    pub fn current() -> Result<&'static Job> {
        JOB.get_or_init(|| Job::start().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    fn start() -> Result<Job> {
        #[cfg(feature = "mpi")]
        {
            let world = mpi_world::World::init()?;
            let several = world.size() > 1;
            if several {
                world.abort_on_panic();
            }
            // A job of one finalizes MPI here, when `world` is dropped.
            Ok(Job {
                mpi: several.then(|| Arc::new(world)),
            })
        }
        #[cfg(not(feature = "mpi"))]
        {
            // Under mpirun each copy of a build without MPI would do the whole job alone, and
            // all would write the same files. CURVSCOPE_ONE_PROCESS=1 says each copy is meant
            // to run alone (e.g. `srun -n 4 … --shard $SLURM_PROCID/4`).
            let ranks = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
                .iter()
                .find_map(|var| std::env::var(var).ok()?.parse::<usize>().ok());
            let alone = std::env::var_os("CURVSCOPE_ONE_PROCESS").is_some_and(|v| v == "1");
            if let Some(ranks) = ranks.filter(|&r| r > 1 && !alone) {
                anyhow::bail!(
                    "this curvscope was built without MPI, but runs as one of {ranks} processes \
                     under mpirun: each would do the whole job and write the same files. Build \
                     with `--features mpi` (README, docs/SCALE.md), run one process, or set \
                     CURVSCOPE_ONE_PROCESS=1 if each process is meant to work alone (--shard)"
                );
            }
            Ok(Job {})
        }
    }

    /// The collective of a job of several processes; `None` for one.
    pub fn collective(&self) -> Option<Arc<dyn Collective>> {
        #[cfg(feature = "mpi")]
        if let Some(world) = &self.mpi {
            return Some(world.clone());
        }
        None
    }

    /// Whether this process writes the files and shows progress (rank 0, or a job of one).
    pub fn leads(&self) -> bool {
        self.collective().is_none_or(|c| c.rank() == 0)
    }

    /// Rank 0's `decision`, on every rank (e.g. reuse a record rank 0 found; the other ranks
    /// need not see the output folder).
    pub fn leaders(&self, decision: bool) -> bool {
        self.leaders_numbers(vec![f64::from(u8::from(decision))])[0] > 0.0
    }

    /// Rank 0's `values`, bit for bit, on every rank (the others' are ignored): a resumed
    /// `train`'s step and θ, which rank 0 alone reads from the run folder. Integers up to 2⁵³
    /// travel exactly.
    pub fn leaders_numbers(&self, values: Vec<f64>) -> Vec<f64> {
        match self.collective() {
            None => values,
            // Gathering rank 0's values and nothing from the others is a broadcast.
            Some(c) => c.gather(if c.rank() == 0 { &values } else { &[] }),
        }
    }

    /// The smallest of the ranks' `value`s, on every rank (a job of one: `value`). For what
    /// each rank reads from its own node, such as the memory available: ranks planning other
    /// chunk sizes would make other numbers of collective calls, and wait forever.
    pub fn smallest(&self, value: u64) -> u64 {
        match self.collective() {
            None => value,
            Some(c) => c
                .gather(&[value as f64])
                .into_iter()
                .fold(value, |m, v| m.min(v as u64)),
        }
    }

    /// An error, on every rank alike, unless every rank sees `what` as rank 0 does, compared by
    /// `fingerprint` (e.g. a SHA-256 in hex). Ranks reading other files (a snapshot written
    /// during the analysis, a network file system's stale cache) would sum one θ's numbers with
    /// another's without a word, or wait in a collective another rank never calls.
    pub fn agree(&self, what: &str, fingerprint: &str) -> Result<()> {
        let Some(c) = self.collective() else {
            return Ok(());
        };
        // 48 bits of the fingerprint travel exactly in an f64.
        let hash = sha2::Sha256::digest(fingerprint.as_bytes());
        let short = hash[..6].iter().fold(0u64, |n, &b| n << 8 | u64::from(b)) as f64;
        let all = c.gather(&[short]);
        let differ: Vec<String> = (1..all.len())
            .filter(|&r| all[r] != all[0])
            .map(|r| r.to_string())
            .collect();
        anyhow::ensure!(
            differ.is_empty(),
            "rank(s) {} of {} see {what} otherwise than rank 0 does (other files on their \
             node?); every rank must read the same",
            differ.join(", "),
            all.len()
        );
        Ok(())
    }

    /// `result` where every rank's succeeded or every rank's failed (a job of one: `result`):
    /// for a step every rank takes alike before any collective, such as loading a checkpoint
    /// they have all checked they read the same bytes of, whose failure the job can then record
    /// and go past. Where it failed on some ranks only (a file or memory of one node), the job
    /// is aborted: a failing rank names its error; the others give it a few seconds to be
    /// printed before aborting too.
    pub fn unanimous<T>(&self, result: Result<T>) -> Result<T> {
        let Some(c) = self.collective() else {
            return result;
        };
        let all = c.gather(&[f64::from(u8::from(result.is_ok()))]);
        if all.iter().all(|&ok| ok == all[0]) {
            return result;
        }
        let failed: Vec<String> = (0..all.len())
            .filter(|&r| all[r] == 0.0)
            .map(|r| r.to_string())
            .collect();
        let err = match result {
            Err(err) => err,
            Ok(_) => {
                std::thread::sleep(std::time::Duration::from_secs(5));
                anyhow::anyhow!(
                    "rank(s) {} failed where this one did not (their error is above)",
                    failed.join(", ")
                )
            }
        };
        self.abort_if_several(&err);
        Err(err)
    }

    /// An error, on every rank alike, unless every rank runs this build of curvscope (its
    /// file's SHA-256) with the `settings` rank 0 has: ranks of other options or another build
    /// would sum other computations into one record, or call other collectives and crash or
    /// wait forever. Pass every setting that shapes the computation or its collective calls,
    /// with paths that may differ between nodes left out; what they name is compared by
    /// content elsewhere.
    pub fn agree_on_settings(&self, what: &str, settings: &serde_json::Value) -> Result<()> {
        if self.collective().is_none() {
            return Ok(());
        }
        self.agree(
            &format!("{what} (or run another build of curvscope)"),
            &format!("{} {settings}", build_fingerprint()),
        )
    }

    /// Where Lanczos will keep the Hessian's Krylov basis, for the memory plans: where `device`
    /// keeps it ([`Device::krylov_basis`]) in a job of one; on the host in a job of several,
    /// whatever the device (`Distributed::basis_store`).
    pub fn krylov_basis(&self, device: Device) -> KrylovBasis {
        match self.collective() {
            None => device.krylov_basis(),
            Some(_) => KrylovBasis::Host,
        }
    }

    /// The objective on all of `data`: built on this rank's share of it and summed over the
    /// job's ranks when there are several.
    pub fn objective(
        &self,
        arch: &ArchSpec,
        data: &Dataset,
        precision: Precision,
        device: Device,
    ) -> Result<Box<dyn Objective>> {
        let Some(collective) = self.collective() else {
            return objective(arch, data, precision, device);
        };
        self.can_share(data.len())?;
        let (n, ranks) = (data.len(), collective.size());
        let info = data.info();
        self.agree(
            &format!("the data '{}'", info.name),
            &serde_json::to_string(info).expect("plain JSON"),
        )?;
        let local = objective(
            arch,
            &data.slice(curvscope_model::distributed::share(
                n,
                ranks,
                collective.rank(),
            )),
            precision,
            device,
        )?;
        Ok(Box::new(Distributed::new(local, collective, n)))
    }

    /// An error where `n` samples cannot be shared by the job's ranks, one at least to each.
    pub fn can_share(&self, n: usize) -> Result<()> {
        let ranks = self.collective().map_or(1, |c| c.size());
        anyhow::ensure!(
            n >= ranks,
            "{n} samples cannot be shared by {ranks} ranks (use fewer)"
        );
        Ok(())
    }

    /// What this rank has sent through the collectives so far, in words (`None` in a job of
    /// one): the communication volume of data parallelism, counted rather than estimated.
    pub fn traffic(&self) -> Option<String> {
        #[cfg(feature = "mpi")]
        if let Some(world) = &self.mpi {
            return Some(world.traffic());
        }
        None
    }

    /// In a job of several ranks, an error on one cannot be skipped (the others would wait in
    /// its collectives forever): prints it with the rank named and aborts the whole job. In a
    /// job of one, returns (the caller reports the error).
    pub fn abort_if_several(&self, err: &anyhow::Error) {
        #[cfg(feature = "mpi")]
        if let Some(world) = &self.mpi {
            world.abort(&format!("{err:#}"));
        }
        #[cfg(not(feature = "mpi"))]
        let _ = err;
    }

    /// `result`, after [`Job::abort_if_several`] on its error.
    pub fn or_abort<T>(&self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        if let Err(err) = &result {
            self.abort_if_several(err);
        }
        result
    }
}

/// SHA-256 of this program's file, read once (a build of one version differs from another in
/// it, where the version number does not); the version where the file cannot be read.
fn build_fingerprint() -> &'static str {
    static BUILD: OnceLock<String> = OnceLock::new();
    BUILD.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| crate::ledger::file_sha256(&exe))
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
    })
}

/// Leaves the MPI job, if this process joined one of several ranks (MPI_Finalize, which
/// mpirun expects of every rank): at the end of `main`, after the last collective.
pub fn finish() {
    #[cfg(feature = "mpi")]
    if let Some(Ok(Job { mpi: Some(world) })) = JOB.get() {
        world.finalize();
    }
}

#[cfg(feature = "mpi")]
mod mpi_world {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    use anyhow::{ensure, Context};
    use curvscope_model::Collective;
    use mpi::collective::{CommunicatorCollectives, SystemOperation};
    use mpi::datatype::PartitionMut;
    use mpi::environment::Universe;
    use mpi::topology::{Communicator, SimpleCommunicator};
    use mpi::Threading;

    /// MPI_COMM_WORLD, entered at MPI_THREAD_SERIALIZED: calls may come from any thread, one
    /// at a time (the mutex); the universe finalizes MPI when dropped ([`World::finalize`]).
    pub struct World {
        world: Mutex<SimpleCommunicator>,
        rank: usize,
        size: usize,
        /// All-reduce calls and the bytes this rank contributed to them.
        sums: AtomicU64,
        summed_bytes: AtomicU64,
        /// All-gather calls and the bytes this rank contributed to them.
        gathers: AtomicU64,
        gathered_bytes: AtomicU64,
        universe: Mutex<Option<Universe>>,
    }

    // SAFETY: the communicator is only used under the mutex, so at most one thread calls MPI at
    // a time, which MPI_THREAD_SERIALIZED (checked in `init`) allows from any thread.
    unsafe impl Send for World {}
    unsafe impl Sync for World {}

    impl std::fmt::Debug for World {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "MPI rank {} of {}", self.rank, self.size)
        }
    }

    impl World {
        pub fn init() -> anyhow::Result<World> {
            let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized)
                .context("MPI was already initialized")?;
            ensure!(
                threading >= Threading::Serialized,
                "the MPI library offers thread level {threading:?}; curvscope needs Serialized"
            );
            let world = universe.world();
            Ok(World {
                rank: world.rank() as usize,
                size: world.size() as usize,
                world: Mutex::new(world),
                sums: AtomicU64::new(0),
                summed_bytes: AtomicU64::new(0),
                gathers: AtomicU64::new(0),
                gathered_bytes: AtomicU64::new(0),
                universe: Mutex::new(Some(universe)),
            })
        }

        /// MPI_Finalize: drops the universe (the job lives in a static, which is never dropped).
        pub fn finalize(&self) {
            drop(self.universe.lock().expect("no MPI call panicked").take());
        }

        /// Prints `message` with this rank named, then MPI_Abort: mpirun stops every rank.
        pub fn abort(&self, message: &str) -> ! {
            print_whole(format!(
                "error: rank {} of {}: {message}",
                self.rank, self.size
            ));
            // A panicking thread may hold the lock: abort through a fresh handle then.
            match self.world.try_lock() {
                Ok(world) => world.abort(1),
                Err(_) => SimpleCommunicator::world().abort(1),
            }
        }

        /// A panic on this rank (e.g. a tensor of the wrong shape) aborts the job with the rank
        /// named, instead of leaving the other ranks waiting in a collective.
        pub fn abort_on_panic(&self) {
            let (rank, size) = (self.rank, self.size);
            let default = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                default(info);
                print_whole(format!(
                    "error: rank {rank} of {size} panicked; aborting the job"
                ));
                SimpleCommunicator::world().abort(101);
            }));
        }

        pub fn traffic(&self) -> String {
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            format!(
                "rank {} of {} all-reduced {} vectors ({} bytes) and all-gathered {} ({} bytes)",
                self.rank,
                self.size,
                load(&self.sums),
                load(&self.summed_bytes),
                load(&self.gathers),
                load(&self.gathered_bytes)
            )
        }

        fn world(&self) -> std::sync::MutexGuard<'_, SimpleCommunicator> {
            self.world.lock().expect("no MPI call panicked")
        }
    }

    /// `line` and a newline on stderr in one write. Rust's stderr is unbuffered, so `eprintln!`
    /// writes each piece of its format on its own, and mpirun, which forwards a rank's stderr as
    /// it reads it, once printed its MPI_ABORT banner between "error: rank " and "1 of 2: …"
    /// (CI, 2026-12-06, `a_failing_rank_stops_the_job_and_is_named`).
    fn print_whole(line: String) {
        use std::io::Write;
        // Nothing is left to do with an error writing to stderr: the job is being aborted.
        let _ = std::io::stderr().write_all(format!("{line}\n").as_bytes());
    }

    impl Collective for World {
        fn rank(&self) -> usize {
            self.rank
        }

        fn size(&self) -> usize {
            self.size
        }

        fn sum(&self, values: &mut [f64]) {
            self.sums.fetch_add(1, Ordering::Relaxed);
            self.summed_bytes
                .fetch_add(8 * values.len() as u64, Ordering::Relaxed);
            let local = values.to_vec();
            self.world()
                .all_reduce_into(&local[..], values, SystemOperation::sum());
        }

        fn gather(&self, local: &[f64]) -> Vec<f64> {
            self.gathers.fetch_add(1, Ordering::Relaxed);
            self.gathered_bytes
                .fetch_add(8 * local.len() as u64, Ordering::Relaxed);
            let world = self.world();
            let mut counts = vec![0 as mpi::Count; self.size];
            world.all_gather_into(&(local.len() as mpi::Count), &mut counts[..]);
            let displs: Vec<mpi::Count> = counts
                .iter()
                .scan(0, |at, &c| {
                    let start = *at;
                    *at += c;
                    Some(start)
                })
                .collect();
            let mut all = vec![0.0; counts.iter().map(|&c| c as usize).sum()];
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(local, &mut partition);
            all
        }
    }
}
