//! Checks of command-line values shared by every subcommand: numeric flags are refused at
//! parse time (clap names the flag and the value in its message), so no NaN, negative or zero
//! value reaches a computation that would panic or print a wrong number; output folders are
//! checked before anything is written into them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::builder::{OsStringValueParser, TypedValueParser};
use curvscope_model::files;

/// The flags bounding Lanczos' memory, shared by `analyze` (the top k and λ_min) and
/// `landscape --directions hessian` (k = 1 on a line, 2 on a plane).
#[derive(clap::Args, Clone, Debug)]
pub struct KrylovArgs {
    /// Largest Krylov subspace Lanczos may build (its basis holds M vectors of D values), at
    /// least k + 1 or D (all of R^D, exact) [default: min(D, 2k + 100)]. In landscape only with
    /// --directions hessian, where k is 1 on a line and 2 on a plane.
    #[arg(long, value_name = "M", value_parser = count2)]
    pub max_krylov: Option<usize>,
    /// Thick restarts Lanczos may make where its subspace reaches --max-krylov unconverged:
    /// each keeps the wanted Ritz vectors and the next ones, k + (M − k)/2 in all, and goes on
    /// in the same memory, for about (M − k)/2 more Hessian-vector products. In analyze for
    /// top-k and λ_min alike; in landscape only with --directions hessian. 0 stops at
    /// --max-krylov unconverged (analyze records hessian_converged = false, landscape warns).
    #[arg(long, value_name = "R", default_value_t = 0, value_parser = count_or_zero)]
    pub restarts: usize,
}

/// Refuses a --max-krylov too small to isolate the top `k` eigenvalues (k + 1 Lanczos steps) on
/// a `dim` it does not span: a Krylov space of all of R^D gives them exactly, whatever k.
/// `k_flags` says which flags set k.
pub fn check_max_krylov(
    max_krylov: Option<usize>,
    k: usize,
    dim: usize,
    k_flags: &str,
) -> Result<()> {
    let k = k.min(dim);
    match max_krylov {
        Some(m) if m <= k && m < dim => bail!(
            "--max-krylov {m} is too small for the top {k} eigenvalues ({k_flags}) of D = {dim} \
             parameters: Lanczos needs at least k + 1 = {} steps, or D",
            k + 1
        ),
        _ => Ok(()),
    }
}

/// A finite number > 0 (learning rates, standard deviations, radii).
pub fn positive(s: &str) -> Result<f64, String> {
    number(s, |x| x > 0.0, "a finite number greater than 0")
}

/// A Lanczos `--tol`: a finite number in (0, 1). The test ‖Hu − λu‖ ≤ tol·|λ|max passes any unit
/// vector u once tol ≥ 1 (‖Hu − λu‖ ≤ ‖H‖ for its Rayleigh quotient λ), so such a run stopped at
/// k steps and called unconverged pairs converged.
pub fn tolerance(s: &str) -> Result<f64, String> {
    number(
        s,
        |x| x > 0.0 && x < 1.0,
        "a finite number greater than 0 and less than 1",
    )
}

/// `landscape --span`: a finite number in (0, 10⁶]. The grid's coordinates reach ±S and their
/// differences 2S; 1e308 overflowed them to ±∞ and wrote NaN losses over a finished slice.
pub fn span(s: &str) -> Result<f64, String> {
    number(
        s,
        |x| x > 0.0 && x <= MAX_SPAN,
        "a finite number greater than 0, at most 1e6",
    )
}

/// The largest landscape `--span`: a grid beyond it overflowed to ∞.
pub const MAX_SPAN: f64 = 1e6;

/// The most landscape grid points per axis (`--points`).
pub const MAX_GRID_POINTS: usize = 10_000;

/// A finite number ≥ 0 (a noise level that may be switched off).
pub fn non_negative(s: &str) -> Result<f64, String> {
    number(s, |x| x >= 0.0, "a finite number, 0 or greater")
}

/// `s` as a finite number for which `ok` holds, else why not.
fn number(s: &str, ok: fn(f64) -> bool, rule: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && ok(x) => Ok(x),
        Ok(_) => Err(format!("must be {rule}")),
        Err(e) => Err(format!("not a number ({e})")),
    }
}

/// A path given as valid UTF-8, and so is its absolute form, for the paths curvscope writes
/// into its JSON (a checkpoint's, an analyzed run's absolute path, `--init-from`) or hands on as
/// command-line text (`demo`, `reproduce`): refused at parse time (clap's message names the
/// argument and shows the path), before any work; serde could not record it after.
pub fn utf8_path() -> impl TypedValueParser<Value = PathBuf> {
    OsStringValueParser::new().try_map(|given| {
        let path = PathBuf::from(
            given
                .into_string()
                .map_err(|_| not_utf8("the path", "rename it"))?,
        );
        match std::path::absolute(&path) {
            Ok(absolute) if absolute.to_str().is_none() => Err(not_utf8(
                format!("its absolute path {}", absolute.display()),
                "run from a folder whose path is valid UTF-8, or give an absolute path",
            )),
            _ => Ok(path),
        }
    })
}

/// Why a path curvscope must record as text is refused: `subject` (the path as the user meets
/// it) is not valid UTF-8; `remedy` says what to do.
pub fn not_utf8(subject: impl std::fmt::Display, remedy: &str) -> String {
    format!(
        "{subject} is not valid UTF-8 (where shown as �), and curvscope records it as text: \
         {remedy}"
    )
}

/// The most any count flag takes: far beyond any analysis that finishes, and small enough that
/// no size computed from it (a count times D, K + 1, a plane's N²) overflows or asks for an
/// allocation Rust refuses with a panic.
pub const MAX_COUNT: usize = 1_000_000_000;

/// A count in `MIN..=MAX`.
fn between<const MIN: usize, const MAX: usize>(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (MIN..=MAX).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from {MIN} to {MAX}")),
    }
}

/// A count ≥ 1 (sizes, steps, probes).
pub fn count(s: &str) -> Result<usize, String> {
    between::<1, MAX_COUNT>(s)
}

/// A count ≥ 0 (an optional number of things, 0 for none).
pub fn count_or_zero(s: &str) -> Result<usize, String> {
    between::<0, MAX_COUNT>(s)
}

/// A count ≥ 2 (Monte-Carlo samples and probes, which need a standard error).
pub fn count2(s: &str) -> Result<usize, String> {
    between::<2, MAX_COUNT>(s)
}

/// `--threads`: 1 to 1,024 (each thread has a stack, and results do not depend on how many).
pub fn threads(s: &str) -> Result<usize, String> {
    between::<1, 1024>(s)
}

/// `landscape --points`: 2 to 10,000 per axis (a plane of 10⁸ loss evaluations).
pub fn grid_points(s: &str) -> Result<usize, String> {
    between::<2, MAX_GRID_POINTS>(s)
}

/// A step count ≥ 1 (`--snapshot-every`, `--refresh-every`).
pub fn every(s: &str) -> Result<u64, String> {
    count(s).map(|n| n as u64)
}

/// A memory size of at least one byte: `8GB`, `1.5GB`, `512MiB`, or bytes (`1000000`); kB, MB,
/// GB, TB are powers of 1000, KiB, MiB, GiB, TiB powers of 1024.
pub fn memory_size(s: &str) -> Result<u64, String> {
    match s.parse::<bytesize::ByteSize>() {
        Ok(size) if size.as_u64() > 0 => Ok(size.as_u64()),
        Ok(_) => Err("must be more than 0 bytes".into()),
        Err(e) => Err(format!("not a memory size like 8GB or 512MiB ({e})")),
    }
}

/// The default memory budget: three quarters of the memory available now, leaving the rest to
/// the data, the network's activations and other programs; no limit where it is unknown.
pub fn default_memory_budget() -> u64 {
    let mut system = sysinfo::System::new();
    system.refresh_memory();
    match system.available_memory() {
        0 => u64::MAX,
        available => available / 4 * 3,
    }
}

/// Creates the output folder `dir` given by `flag`, naming both when `dir` is a file or
/// cannot be made (the OS error alone names neither), and checks that a file can be written
/// in it: a read-only folder is refused now, not after the work whose results it would hold.
pub fn output_dir(dir: &Path, flag: &str) -> Result<()> {
    created(dir, flag)?;
    writable(dir, flag)
}

/// `dir` made if absent, or refused where it is a file.
fn created(dir: &Path, flag: &str) -> Result<()> {
    refuse_non_folder(dir, flag)?;
    std::fs::create_dir_all(dir).with_context(|| format!("{flag} {}: cannot create", dir.display()))
}

/// A file can be made in `dir` ([`files::probe_writable`]).
fn writable(dir: &Path, flag: &str) -> Result<()> {
    files::probe_writable(dir)
        .with_context(|| format!("{flag} {}: cannot write in it", dir.display()))
}

/// Creates the output folder `dir` (given by `flag`) as [`output_dir`] does, and holds a lock
/// on it while the returned [`OutputLock`] lives: a second curvscope writing the same folder
/// (two `analyze --out X` at once) stops here, before writing, instead of interleaving its
/// records and CSVs with the first's. `shared` locks coexist with each other (the `--shard`
/// jobs of one analysis write one folder at once) but not with an exclusive one. The lock is
/// `flock` on the folder itself: it leaves no file behind, and the system releases it when the
/// process ends, killed or not. Where the file system cannot lock (some network file systems)
/// the run goes on unguarded rather than not at all. The folder is checked to be writable once
/// the lock is held.
pub fn lock_output(dir: &Path, flag: &str, shared: bool) -> Result<OutputLock> {
    let made_here = !dir.exists();
    created(dir, flag)?;
    let handle = std::fs::File::open(dir)
        .with_context(|| format!("{flag} {}: cannot open", dir.display()))?;
    let locked = match shared {
        true => handle.try_lock_shared(),
        false => handle.try_lock(),
    };
    let handle = match locked {
        Ok(()) => Some(handle),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{flag} {}: another curvscope is writing this folder now; wait for it to end, or \
             name another folder",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(_)) => None,
    };
    // Only a folder no other run can be writing: an exclusive lock held on one made here.
    let alone = !shared && handle.is_some();
    let lock = OutputLock {
        made: (made_here && alone).then(|| dir.to_path_buf()),
        alone,
        _handle: handle,
    };
    writable(dir, flag)?;
    Ok(lock)
}

/// The lock [`lock_output`] holds on an output folder. A folder this run made is removed
/// again if it is still empty when the lock ends, so a run refused after making it
/// (`landscape --to` a checkpoint with the same θ) leaves no empty folder behind.
pub struct OutputLock {
    /// The folder, where this run made it and holds it alone.
    made: Option<PathBuf>,
    /// Whether this run holds the folder alone (an exclusive lock the file system granted).
    alone: bool,
    /// The locked folder; `None` where the file system cannot lock.
    _handle: Option<std::fs::File>,
}

impl OutputLock {
    /// Removes what killed runs left in `dirs` (the locked folder and folders in it) where this
    /// run holds it alone ([`files::remove_leftovers`]): elsewhere, another's write may be
    /// under way.
    pub fn remove_leftovers(&self, dirs: &[&Path]) -> Result<()> {
        if self.alone {
            for dir in dirs {
                files::remove_leftovers(dir).with_context(|| {
                    format!("removing what a killed run left in {}", dir.display())
                })?;
            }
        }
        Ok(())
    }
}

impl Drop for OutputLock {
    /// Runs before the fields drop, so the folder goes while the lock is still held.
    fn drop(&mut self) {
        if let Some(dir) = &self.made {
            // Fails, as it should, on a folder that holds anything.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Refuses an output folder `dir` (given by `flag`) that exists as something else, before
/// anything is written.
pub fn refuse_non_folder(dir: &Path, flag: &str) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!("{flag} {}: exists and is not a folder", dir.display());
    }
    Ok(())
}

/// `--threads N`: the global rayon pool of N threads (every parallel loop uses it); `None`
/// keeps rayon's default of one per core.
pub fn thread_pool(threads: Option<usize>) -> Result<()> {
    if let Some(threads) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global()
            .context("starting the thread pool")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mounted /proc is a folder in which nothing can be written, not even by root (which
    /// a read-only permission would not stop); the check leaves nothing in a folder it passes.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_that_cannot_be_written_is_refused_before_any_work() {
        if Path::new("/proc/self").exists() {
            let err = output_dir(Path::new("/proc"), "--out").unwrap_err();
            assert_eq!(err.to_string(), "--out /proc: cannot write in it");
        }
        let dir = tempfile::tempdir().unwrap();
        output_dir(dir.path(), "--out").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn numbers_outside_their_range_are_refused() {
        for bad in ["nan", "NaN", "inf", "-inf", "-1", "0", "x", ""] {
            assert!(positive(bad).is_err(), "{bad}");
        }
        assert_eq!(positive("1e-6"), Ok(1e-6));
        assert!(non_negative("-0.5").is_err() && non_negative("nan").is_err());
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(span("1e308").is_err() && span("0").is_err() && span("1e6").is_ok());
        assert!(count("0").is_err() && count("-1").is_err() && count2("1").is_err());
        assert_eq!((count("1"), count2("2"), every("5")), (Ok(1), Ok(2), Ok(5)));
        let huge = ["18446744073709551615", "18446744073709551616", "1000000001"];
        assert!(huge.iter().all(|n| count(n).is_err() && count2(n).is_err()));
        assert_eq!(count("1000000000"), Ok(MAX_COUNT));
        assert!(threads("1025").is_err() && grid_points("10001").is_err());
        assert_eq!((threads("1024"), grid_points("2")), (Ok(1024), Ok(2)));
    }

    #[test]
    fn memory_sizes_take_decimal_and_binary_units() {
        assert_eq!(memory_size("8GB"), Ok(8_000_000_000));
        assert_eq!(memory_size("1.5GB"), Ok(1_500_000_000));
        assert_eq!(memory_size("512MiB"), Ok(512 << 20));
        assert_eq!(memory_size("1MB"), Ok(1_000_000));
        assert_eq!(memory_size("4096"), Ok(4096));
        for bad in ["0", "0GB", "-1GB", "8 apples", "", "GB"] {
            assert!(memory_size(bad).is_err(), "{bad}");
        }
        assert!(default_memory_budget() > 0);
    }
}
