//! Synthetic 2-D datasets: the half-space set of the fixed-output network and the paper's
//! toy data.

use rand::Rng;

use crate::dataset::{DataStream, Dataset, Targets};

/// `n` points uniform in `[−2, 2]²` labelled `1[x₁ ≥ x₂]` (2 classes; [`Dataset::targets_f64`]
/// gives 0/1 targets for a squared loss). The label is computed from the stored `f32` values,
/// so it is exact for the data as seen by a model. Used with the fixed-output network.
///
/// ```
/// let ds = curvscope_model::two_d_halfspace(1000, 0);
/// let p = ds.sample(0);
/// assert_eq!(ds.labels().unwrap()[0], (p[0] >= p[1]) as i64);
/// ```
pub fn two_d_halfspace(n: usize, seed: u64) -> Dataset {
    two_d_halfspace_on(n, seed, DataStream::Own)
}

/// [`two_d_halfspace`] with its points drawn on `stream`.
pub fn two_d_halfspace_on(n: usize, seed: u64, stream: DataStream) -> Dataset {
    let mut rng = stream.rng(seed);
    let x: Vec<f32> = (0..2 * n)
        .map(|_| rng.random_range(-2.0f32..=2.0))
        .collect();
    let labels = x.chunks(2).map(|p| (p[0] >= p[1]) as i64).collect();
    Dataset::new(
        "two-d-halfspace",
        x,
        vec![2],
        Targets::Classes {
            labels,
            n_classes: 2,
        },
        Some(seed),
    )
    .expect("labels are 0 or 1")
}

/// The rotation by π/4 used by [`toy2d`], as rows: `K = [[c, −s], [s, c]]` with c = s = 1/√2.
pub const TOY2D_ROTATION: [[f64; 2]; 2] = [
    [
        std::f64::consts::FRAC_1_SQRT_2,
        -std::f64::consts::FRAC_1_SQRT_2,
    ],
    [
        std::f64::consts::FRAC_1_SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
    ],
];

/// The paper's 2-D toy data (it uses `n = 100`): x = 10⁻² · (z ⊙ (√10, 1)) · K with
/// z ~ N(0, I₂) and K = [`TOY2D_ROTATION`]. Row-vector convention: the row (a, b) times K is
/// (a·c + b·s, −a·s + b·c). So Cov(x) = 10⁻⁴ Kᵀ diag(10, 1) K, an ellipse with its long axis
/// along (1, −1)/√2 and variance ratio 10. No targets.
///
/// ```
/// let ds = curvscope_model::toy2d(100, 1);
/// assert_eq!((ds.len(), ds.sample_shape()), (100, &[2][..]));
/// ```
pub fn toy2d(n: usize, seed: u64) -> Dataset {
    toy2d_on(n, seed, DataStream::Own)
}

/// [`toy2d`] with its points drawn on `stream`.
pub fn toy2d_on(n: usize, seed: u64, stream: DataStream) -> Dataset {
    let mut rng = stream.rng(seed);
    let k = TOY2D_ROTATION;
    let scale = [1e-2 * 10f64.sqrt(), 1e-2];
    let mut x = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let a = scale[0] * rng.sample::<f64, _>(rand_distr::StandardNormal);
        let b = scale[1] * rng.sample::<f64, _>(rand_distr::StandardNormal);
        x.push((a * k[0][0] + b * k[1][0]) as f32);
        x.push((a * k[0][1] + b * k[1][1]) as f32);
    }
    Dataset::new("toy2d", x, vec![2], Targets::None, Some(seed)).expect("whole samples")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halfspace_labels_follow_stored_points_and_split_evenly() {
        let n = 10_000;
        let ds = two_d_halfspace(n, 3);
        assert_eq!(
            (ds.len(), ds.sample_shape(), ds.n_classes()),
            (n, &[2][..], Some(2))
        );
        assert!(ds.x().iter().all(|v| (-2.0..=2.0).contains(v)));
        for i in 0..n {
            let p = ds.sample(i);
            assert_eq!(ds.labels().unwrap()[i], (p[0] >= p[1]) as i64);
        }
        // P(x₁ ≥ x₂) = 1/2 for a uniform square; stderr of the fraction is 0.5/√n.
        let frac = ds.labels().unwrap().iter().sum::<i64>() as f64 / n as f64;
        assert!((frac - 0.5).abs() < 4.0 * 0.5 / (n as f64).sqrt(), "{frac}");
        // Each coordinate has mean 0 and variance 4/3: stderr of the mean is √(4/3)/√n.
        for c in 0..2 {
            let mean = ds
                .x()
                .iter()
                .skip(c)
                .step_by(2)
                .map(|&v| v as f64)
                .sum::<f64>()
                / n as f64;
            assert!(
                mean.abs() < 4.0 * (4.0f64 / 3.0).sqrt() / (n as f64).sqrt(),
                "{mean}"
            );
        }
        assert_eq!(two_d_halfspace(n, 3), ds);
        assert_ne!(two_d_halfspace(n, 4).x(), ds.x());
    }

    #[test]
    fn toy2d_covariance_is_the_rotated_ellipse() {
        let n = 20_000;
        let ds = toy2d(n, 5);
        assert_eq!((ds.len(), ds.targets()), (n, &Targets::None));
        // Cov = 1e-4 · Kᵀ diag(10, 1) K with K = [[c, −s], [s, c]], c = s = 1/√2:
        // [[5.5, −4.5], [−4.5, 5.5]] · 1e-4 (long axis along (1, −1)).
        let expected = [[5.5e-4, -4.5e-4], [-4.5e-4, 5.5e-4]];
        let x = ds.x_f64();
        for (a, row) in expected.iter().enumerate() {
            for (b, &want) in row.iter().enumerate() {
                // Mean is zero by construction, so E[x_a x_b] is the covariance; its stderr is
                // the sample standard deviation of the products over √n.
                let prods: Vec<f64> = x.chunks(2).map(|p| p[a] * p[b]).collect();
                let mean = prods.iter().sum::<f64>() / n as f64;
                let var = prods.iter().map(|q| (q - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                let stderr = (var / n as f64).sqrt();
                assert!(
                    (mean - want).abs() < 4.0 * stderr,
                    "cov[{a}][{b}] = {mean}, want {want} ± {stderr}"
                );
            }
        }
        assert_eq!(toy2d(100, 5), toy2d(100, 5));
        assert_eq!(toy2d(100, 5).len(), 100);
    }
}
