//! Scratch: host cost of noise_statistics per row at VGG-11's D (kept here as a record; not built).
use curvscope_metrics::noise_statistics;
use curvscope_model::Objective;
use std::time::Instant;

struct Fake {
    d: usize,
    n: usize,
    rows: Vec<f64>,
}
impl Objective for Fake {
    fn dim(&self) -> usize {
        self.d
    }
    fn n_samples(&self) -> usize {
        self.n
    }
    fn per_sample_losses(&self, _: &[f64]) -> Vec<f64> {
        vec![0.0; self.n]
    }
    fn weighted_grad(&self, _: &[f64], _: &[f64]) -> Vec<f64> {
        vec![0.5; self.d]
    }
    fn hvp(&self, _: &[f64], v: &[f64]) -> Vec<f64> {
        v.to_vec()
    }
    fn per_sample_grads_range(&self, _: &[f64], _start: usize, len: usize) -> Vec<f64> {
        self.rows[..len * self.d].to_vec()
    }
}

fn main() {
    let d: usize = std::env::var("D")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9_225_610);
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let chunk: usize = std::env::var("CHUNK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let k: usize = std::env::var("K")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let rows: Vec<f64> = (0..chunk * d)
        .map(|i| ((i * 2654435761) % 1000) as f64 * 1e-3)
        .collect();
    let f = Fake { d, n, rows };
    let dirs: Vec<Vec<f64>> = (0..k)
        .map(|j| (0..d).map(|i| ((i + j) % 7) as f64).collect())
        .collect();
    let theta = vec![0.0; d];
    // copy cost alone
    let t = Instant::now();
    let mut s = 0.0;
    for start in (0..n).step_by(chunk) {
        s += f.per_sample_grads_range(&theta, start, chunk.min(n - start))[0];
    }
    let copy = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let st = noise_statistics(&f, &theta, &dirs, chunk);
    let all = t.elapsed().as_secs_f64();
    println!("d={d} n={n} chunk={chunk} k={k} copy {:.3}s stats {:.3}s  per row {:.1} ms (minus copy {:.1} ms) {s} {}", copy, all, all / n as f64 * 1e3, (all - copy) / n as f64 * 1e3, st.trace.value);
}
