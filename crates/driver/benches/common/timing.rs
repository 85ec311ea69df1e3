//! Wall-clock timing and result files the benches share (included with `#[path]` where used).
#![allow(dead_code)] // each bench uses a subset

use std::time::Instant;

/// Seconds `f` took, and its result.
pub fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64(), out)
}

/// Median and minimum seconds of `reps` (at least one) runs of `f`, no warm-up.
pub fn median_and_min<T>(reps: usize, f: impl FnMut() -> T) -> (f64, f64) {
    let times = run_times(reps, f);
    (median(&times), least(&times))
}

/// Seconds of each of `reps` (at least one) runs of `f`, in the order they ran, no warm-up:
/// a slow run that a median hides (a kernel compiled on the third call) shows where it fell.
pub fn run_times<T>(reps: usize, mut f: impl FnMut() -> T) -> Vec<f64> {
    (0..reps.max(1)).map(|_| timed(&mut f).0).collect()
}

/// The least of `times`.
pub fn least(times: &[f64]) -> f64 {
    times.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The median of `times` (not empty): the middle one, the upper of the two for an even count.
pub fn median(times: &[f64]) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Writes `value` as pretty JSON to the workspace's target/bench/`name`; returns the path.
pub fn write_result(name: &str, value: &serde_json::Value) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench is writable");
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(value).expect("plain JSON");
    std::fs::write(&path, text).expect("target/bench is writable");
    path
}
